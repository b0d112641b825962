/* virtio_net: the network device, driven the way 2.6.24's virtio_net.c does
 * it (§9.12), against the host's own IP stack on the other end of the tap.
 *
 * Run with --net tap --net-ip 10.77.0.1/24.  We are 10.77.0.2, with the MAC
 * the config gives us.  Like the driver we post receive buffers of an 8-byte
 * header plus 1514 bytes, and send each frame as header + frame.  Then we
 * ask for 10.77.0.1's MAC (ARP), answer the host's ARP requests for us, send
 * an ICMP echo request and wait for the host's echo reply.  Every received
 * header must be all zeroes and every frame at most 1514 bytes.  Lost frames
 * are sent again, once a second, for up to 15 seconds. */
#include "guest.h"
#include "virtio.h"

const char test_name[] = "virtio_net";

#define RX_BUFS	  16u
#define FRAME_MAX 1514u
#define HDR_LEN	  8u

static const uint8_t my_ip[4] = {10, 77, 0, 2};
static const uint8_t host_ip[4] = {10, 77, 0, 1};
static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct vq rxq, txq;
static uint8_t my_mac[6], host_mac[6];
static int host_mac_known;
static uint8_t rx_hdr[RX_BUFS][HDR_LEN];
static uint8_t rx_frame[RX_BUFS][FRAME_MAX];
static uint16_t rx_head[RX_BUFS];
static uint8_t tx_hdr[HDR_LEN];
static uint8_t tx_frame[FRAME_MAX];
static unsigned arps_answered, frames_seen;

#define ICMP_ID	     0x4c47
#define PING_PAYLOAD 32u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum (RFC 1071). */
static uint16_t csum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Send tx_frame[0, len): header + frame, completed before NOTIFY returns. */
static void send(uint32_t len)
{
	struct vbuf b[2] = {{tx_hdr, HDR_LEN, 0}, {tx_frame, len, 0}};
	uint32_t id, ulen;
	uint16_t head;

	if (len < 60) { /* the minimum Ethernet frame, as a card would pad */
		memset(tx_frame + len, 0, 60 - len);
		len = 60;
		b[1].len = len;
	}
	memset(tx_hdr, 0, HDR_LEN);
	head = vq_add(&txq, b, 2);
	vq_kick(&txq);
	CHECK(vq_used(&txq, &id, &ulen), "transmit buffer not back when NOTIFY returned");
	CHECK(id == head, "transmit used id %u, want %u", id, head);
}

static uint8_t *eth(const uint8_t *dst, uint16_t type)
{
	memcpy(tx_frame, dst, 6);
	memcpy(tx_frame + 6, my_mac, 6);
	put16(tx_frame + 12, type);
	return tx_frame + 14;
}

static void send_arp(uint16_t op, const uint8_t *dst_mac, const uint8_t *target_mac,
		     const uint8_t *target_ip)
{
	uint8_t *a = eth(dst_mac, 0x0806);

	put16(a, 1);	      /* Ethernet */
	put16(a + 2, 0x0800); /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, my_mac, 6);
	memcpy(a + 14, my_ip, 4);
	memcpy(a + 18, target_mac, 6);
	memcpy(a + 24, target_ip, 4);
	send(14 + 28);
}

static void send_ping(uint16_t seq)
{
	uint8_t *ip = eth(host_mac, 0x0800), *icmp = ip + 20;
	uint16_t total = 20 + 8 + PING_PAYLOAD;

	memset(ip, 0, total);
	ip[0] = 0x45;
	put16(ip + 2, total);
	put16(ip + 4, seq);
	ip[8] = 64; /* TTL */
	ip[9] = 1;  /* ICMP */
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	put16(ip + 10, csum(ip, 20));
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, ICMP_ID);
	put16(icmp + 6, seq);
	for (uint32_t i = 0; i < PING_PAYLOAD; i++)
		icmp[8 + i] = (uint8_t)('a' + i % 26);
	put16(icmp + 2, csum(icmp, 8 + PING_PAYLOAD));
	send(14 + total);
}

/* One received frame.  Returns 1 if it is our echo reply. */
static int handle(const uint8_t *f, uint32_t len, uint16_t seq)
{
	frames_seen++;
	if (len < 14)
		return 0;
	if (memcmp(f, my_mac, 6) && memcmp(f, broadcast, 6))
		return 0; /* IPv6 multicast chatter and the like */
	if (get16(f + 12) == 0x0806 && len >= 14 + 28) {
		const uint8_t *a = f + 14;

		if (get16(a + 6) == 2 && !memcmp(a + 14, host_ip, 4)) {
			memcpy(host_mac, a + 8, 6);
			if (!host_mac_known)
				printf("virtio_net: 10.77.0.1 is at %x:%x:%x:%x:%x:%x\n",
				       host_mac[0], host_mac[1], host_mac[2], host_mac[3],
				       host_mac[4], host_mac[5]);
			host_mac_known = 1;
		} else if (get16(a + 6) == 1 && !memcmp(a + 24, my_ip, 4)) {
			send_arp(2, a + 8, a + 8, a + 14);
			arps_answered++;
		}
		return 0;
	}
	if (get16(f + 12) == 0x0800 && len >= 14 + 20 + 8) {
		const uint8_t *ip = f + 14, *icmp = ip + (ip[0] & 0xf) * 4;

		if (ip[9] != 1 || memcmp(ip + 12, host_ip, 4) || memcmp(ip + 16, my_ip, 4))
			return 0;
		CHECK(csum(ip, (ip[0] & 0xf) * 4) == 0, "echo reply with a bad IP checksum");
		if (icmp[0] != 0 || get16(icmp + 4) != ICMP_ID || get16(icmp + 6) != seq)
			return 0;
		for (uint32_t i = 0; i < PING_PAYLOAD; i++)
			CHECK(icmp[8 + i] == (uint8_t)('a' + i % 26), "echo reply payload differs");
		return 1;
	}
	return 0;
}

/* Which of our receive buffers the used ring handed back. */
static unsigned rx_index(uint32_t id)
{
	for (unsigned i = 0; i < RX_BUFS; i++)
		if (rx_head[i] == id)
			return i;
	fail("receive used id %u is not one of our buffers", id);
}

/* Take every received frame; repost its buffer.  1 if the reply came. */
static int receive(uint32_t ms, uint16_t seq)
{
	uint32_t id, len;
	int got = 0;

	if (!vq_wait(&rxq, &id, &len, ms))
		return 0;
	do {
		unsigned i = rx_index(id);

		CHECK(len >= HDR_LEN && len <= HDR_LEN + FRAME_MAX, "receive used length %u", len);
		for (unsigned b = 0; b < HDR_LEN; b++)
			CHECK(rx_hdr[i][b] == 0, "receive header byte %u is %x, want 0", b,
			      rx_hdr[i][b]);
		got |= handle(rx_frame[i], len - HDR_LEN, seq);
		memset(rx_hdr[i], 0xEE, HDR_LEN);
		vq_repost(&rxq, rx_head[i]);
	} while (vq_used(&rxq, &id, &len));
	vq_kick(&rxq);
	return got;
}

void test_main(void)
{
	struct vdev dev;
	uint16_t seq = 1;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_NET, 0, &dev);
	vq_find(&dev, &rxq, "receive");
	vq_find(&dev, &txq, "transmit");
	CHECK(virtio_config(&dev, 0x41, my_mac, 6) == 6, "no 6-byte MAC field");
	CHECK(!(my_mac[0] & 1), "MAC %x:... is a multicast address", my_mac[0]);
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
	printf("virtio_net: MAC %x:%x:%x:%x:%x:%x, irqs %u/%u\n", my_mac[0], my_mac[1], my_mac[2],
	       my_mac[3], my_mac[4], my_mac[5], rxq.cfg.irq, txq.cfg.irq);

	for (unsigned i = 0; i < RX_BUFS; i++) {
		struct vbuf b[2] = {{rx_hdr[i], HDR_LEN, 1}, {rx_frame[i], FRAME_MAX, 1}};

		memset(rx_hdr[i], 0xEE, HDR_LEN);
		rx_head[i] = vq_add(&rxq, b, 2);
	}
	vq_kick(&rxq);

	for (unsigned tries = 0; tries < 15; tries++, seq++) {
		int pinged = host_mac_known;

		if (pinged)
			send_ping(seq);
		else
			send_arp(1, broadcast, (const uint8_t[6]){0}, host_ip);
		/* A second for the answer, frame by frame. */
		for (unsigned t = 0; t < 10; t++) {
			if (receive(100, seq)) {
				printf("virtio_net: echo reply from 10.77.0.1 (seq %u); %u frames "
				       "received, %u ARP requests answered\n",
				       seq, frames_seen, arps_answered);
				/* Frames that came while we were awake left the
				 * receive IRQ pending: let it in. */
				lguest_data.irq_enabled = X86_EFLAGS_IF;
				for (unsigned i = 0; i < 1000 && !virtio_irq_count[rxq.cfg.irq];
				     i++)
					hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
				CHECK(virtio_irq_count[rxq.cfg.irq], "no receive interrupt");
				pass();
			}
			if (!pinged && host_mac_known)
				break; /* the ARP answer is in: ping at once */
		}
	}
	fail("no echo reply from 10.77.0.1 (%u frames received, host MAC %s)", frames_seen,
	     host_mac_known ? "known" : "unknown");
}
