/* bench_net: the network device timed with the TSC (a benchmark, not a test:
 * tests/bench/net.sh runs it).
 *
 * Run with --net tap --net-ip 10.77.0.1/24; we are 10.77.0.2.  The frame
 * handling is virtio_net.c's (8-byte header + frame, 1514-byte receive
 * buffers, ARP both ways), and then:
 *   ping  `pings=N` ICMP echo requests (default 1000, 56 bytes of payload as
 *         ping(8) sends), one at a time: each waits in HALT for the reply,
 *         the way a kernel's idle loop would.  Reports the mean round trip.
 *   udp   `frames=N` UDP datagrams of 1472 bytes (a full 1514-byte Ethernet
 *         frame) to 10.77.0.1:5001, back to back; each send is one NOTIFY,
 *         complete when the hypercall returns (lgkvm writes the tap inside
 *         it), so the time is the guest's own cost of pushing that volume.
 *         net.sh counts what the host actually received.
 * Lines read "bench: net <what> ... key=N".  The guest sends and times; the
 * host's side needs no clock of its own. */
#include "guest.h"
#include "netping.h"
#include "virtio.h"

const char test_name[] = "bench_net";

#define RX_BUFS	    16u
#define FRAME_MAX   1514u
#define HDR_LEN	    8u
#define ICMP_ID	    0x4c48
#define PING_DATA   56u
#define UDP_PAYLOAD 1472u
#define UDP_PORT    5001u

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

/* Send tx_frame[0, len): header + frame, completed before NOTIFY returns. */
static void send(uint32_t len)
{
	struct vbuf b[2] = {{tx_hdr, HDR_LEN, 0}, {tx_frame, len, 0}};
	uint32_t id, ulen;

	if (len < 60) {
		memset(tx_frame + len, 0, 60 - len);
		b[1].len = len = 60;
	}
	memset(tx_hdr, 0, HDR_LEN);
	vq_add(&txq, b, 2);
	vq_kick(&txq);
	CHECK(vq_used(&txq, &id, &ulen), "transmit buffer not back when NOTIFY returned");
}

static uint8_t *eth(const uint8_t *dst, uint16_t type)
{
	memcpy(tx_frame, dst, 6);
	memcpy(tx_frame + 6, my_mac, 6);
	net_put16(tx_frame + 12, type);
	return tx_frame + 14;
}

static void send_arp(uint16_t op, const uint8_t *dst_mac, const uint8_t *target_mac,
		     const uint8_t *target_ip)
{
	uint8_t *a = eth(dst_mac, 0x0806);

	net_put16(a, 1);
	net_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	net_put16(a + 6, op);
	memcpy(a + 8, my_mac, 6);
	memcpy(a + 14, my_ip, 4);
	memcpy(a + 18, target_mac, 6);
	memcpy(a + 24, target_ip, 4);
	send(14 + 28);
}

/* An IPv4 header to the host, `proto`, `payload` bytes after it. */
static uint8_t *ip_hdr(uint8_t proto, uint16_t payload, uint16_t id)
{
	uint8_t *ip = eth(host_mac, 0x0800);

	memset(ip, 0, 20);
	ip[0] = 0x45;
	net_put16(ip + 2, (uint16_t)(20 + payload));
	net_put16(ip + 4, id);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	net_put16(ip + 10, net_csum(ip, 20));
	return ip + 20;
}

static void send_ping(uint16_t seq)
{
	uint8_t *icmp = ip_hdr(1, 8 + PING_DATA, seq);

	memset(icmp, 0, 8);
	icmp[0] = 8;
	net_put16(icmp + 4, ICMP_ID);
	net_put16(icmp + 6, seq);
	for (uint32_t i = 0; i < PING_DATA; i++)
		icmp[8 + i] = (uint8_t)i;
	net_put16(icmp + 2, net_csum(icmp, 8 + PING_DATA));
	send(14 + 20 + 8 + PING_DATA);
}

/* The UDP frame is built once; only the IP id (and so its checksum) changes.
 * UDP checksum 0: "none", legal over IPv4, as a NIC with offload would. */
static void build_udp(void)
{
	uint8_t *u = ip_hdr(17, 8 + UDP_PAYLOAD, 0);

	net_put16(u, UDP_PORT);
	net_put16(u + 2, UDP_PORT);
	net_put16(u + 4, 8 + UDP_PAYLOAD);
	net_put16(u + 6, 0);
	for (uint32_t i = 0; i < UDP_PAYLOAD; i++)
		u[8 + i] = (uint8_t)('A' + i % 26);
}

static void send_udp(uint16_t id)
{
	uint8_t *ip = tx_frame + 14;

	net_put16(ip + 4, id);
	net_put16(ip + 10, 0);
	net_put16(ip + 10, net_csum(ip, 20));
	send(14 + 20 + 8 + UDP_PAYLOAD);
}

/* One received frame: learn the host's MAC, answer ARP.  1 if it is the
 * echo reply for `seq`. */
static int handle(const uint8_t *f, uint32_t len, uint16_t seq)
{
	if (len < 14 || (memcmp(f, my_mac, 6) && memcmp(f, broadcast, 6)))
		return 0;
	if (net_get16(f + 12) == 0x0806 && len >= 14 + 28) {
		const uint8_t *a = f + 14;

		if (net_get16(a + 6) == 2 && !memcmp(a + 14, host_ip, 4)) {
			memcpy(host_mac, a + 8, 6);
			host_mac_known = 1;
		} else if (net_get16(a + 6) == 1 && !memcmp(a + 24, my_ip, 4)) {
			/* Answering clobbers tx_frame: the UDP blast
			 * rebuilds its frame after looking (below). */
			send_arp(2, a + 8, a + 8, a + 14);
		}
		return 0;
	}
	if (net_get16(f + 12) == 0x0800 && len >= 14 + 20 + 8) {
		const uint8_t *ip = f + 14, *icmp = ip + (ip[0] & 0xf) * 4;

		return ip[9] == 1 && !memcmp(ip + 12, host_ip, 4) && icmp[0] == 0 &&
		       net_get16(icmp + 4) == ICMP_ID && net_get16(icmp + 6) == seq;
	}
	return 0;
}

static unsigned rx_index(uint32_t id)
{
	for (unsigned i = 0; i < RX_BUFS; i++)
		if (rx_head[i] == id)
			return i;
	fail("receive used id %u is not one of our buffers", id);
}

/* Take every received frame (waiting up to `ms` for the first; 0: only
 * what is there), repost its buffer.  1 if the echo reply for seq came. */
static int receive(uint32_t ms, uint16_t seq)
{
	uint32_t id, len;
	int got = 0;

	if (ms ? !vq_wait(&rxq, &id, &len, ms) : !vq_used(&rxq, &id, &len))
		return 0;
	do {
		unsigned i = rx_index(id);

		if (len >= HDR_LEN)
			got |= handle(rx_frame[i], len - HDR_LEN, seq);
		vq_repost(&rxq, rx_head[i]);
	} while (vq_used(&rxq, &id, &len));
	vq_kick(&rxq);
	return got;
}

/* The host gives no TSC rate (an emulated machine): measure it against the
 * clock event, which runs on the host's monotonic clock (as bench_blk). */
static void calibrate(void)
{
	unsigned before = virtio_irq_count[0];
	uint64_t t0 = rdtsc();

	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 200 * 1000000u, 0, 0);
	while (virtio_irq_count[0] == before)
		hcall(LHCALL_HALT, 0, 0, 0);
	tsc_khz_estimate = (uint32_t)((rdtsc() - t0) / 200);
	printf("bench: net note: no tsc_khz from the host; measured %u kHz\n", tsc_khz_estimate);
}

/* "key=N" on the command line, N one of a few fixed sizes (cmdline_has
 * matches whole words; there is no atoi in lib). */
static uint32_t arg(const char *key, uint32_t dflt)
{
	static const uint32_t v[] = {10, 100, 1000, 5000, 10000, 20000, 50000, 100000};
	char w[32];

	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(w, sizeof(w), "%s=%u", key, v[i]);
		if (cmdline_has(w))
			return v[i];
	}
	return dflt;
}

static uint32_t us_of(uint64_t cycles)
{
	return (uint32_t)(cycles * 1000 / tsc_rate_khz());
}

void test_main(void)
{
	struct vdev dev;
	uint32_t pings = arg("pings", 1000), frames = arg("frames", 20000);
	uint32_t lost = 0, seq = 1;
	uint64_t t0, c;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_NET, 0, &dev);
	vq_find(&dev, &rxq, "receive");
	vq_find(&dev, &txq, "transmit");
	CHECK(virtio_config(&dev, 0x41, my_mac, 6) == 6, "no 6-byte MAC field");
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < RX_BUFS; i++) {
		struct vbuf b[2] = {{rx_hdr[i], HDR_LEN, 1}, {rx_frame[i], FRAME_MAX, 1}};

		rx_head[i] = vq_add(&rxq, b, 2);
	}
	vq_kick(&rxq);
	if (!tsc_rate_khz())
		calibrate();

	for (unsigned tries = 0; !host_mac_known; tries++) {
		CHECK(tries < 15, "no ARP answer from 10.77.0.1");
		send_arp(1, broadcast, (const uint8_t[6]){0}, host_ip);
		for (unsigned t = 0; t < 10 && !host_mac_known; t++)
			receive(100, 0);
	}
	/* One unmeasured ping: the host's neighbour entry for us, and anything
	 * lazy on either side, are set up before the clock starts. */
	for (unsigned tries = 0;; tries++, seq++) {
		CHECK(tries < 15, "no echo reply from 10.77.0.1");
		send_ping((uint16_t)seq);
		if (receive(1000, (uint16_t)seq))
			break;
	}

	t0 = rdtsc();
	for (uint32_t i = 0; i < pings; i++) {
		seq++;
		send_ping((uint16_t)seq);
		/* A reply lost: send again (counted), a second later. */
		while (!receive(1000, (uint16_t)seq)) {
			CHECK(++lost < 20, "echo replies keep getting lost");
			send_ping((uint16_t)seq);
		}
	}
	c = rdtsc() - t0;
	printf("bench: net ping: %u round trips (%u bytes of ICMP data) in %u us, resent %u, "
	       "rtt_ns=%u\n",
	       pings, PING_DATA, us_of(c), lost, (uint32_t)(c * 1000000 / tsc_rate_khz() / pings));

	build_udp();
	t0 = rdtsc();
	for (uint32_t i = 0; i < frames; i++) {
		send_udp((uint16_t)i);
		/* Keep the receive ring from filling (ICMP port unreachable,
		 * ARP) without waiting: a cheap look every 64 frames. */
		if ((i & 63) == 63) {
			receive(0, 0);
			build_udp(); /* an ARP answer may have overwritten it */
		}
	}
	c = rdtsc() - t0;
	{
		uint64_t kib = (uint64_t)frames * UDP_PAYLOAD / 1024;
		uint32_t us = us_of(c);

		printf("bench: net udp: %u datagrams of %u bytes (%u KiB) in %u us, "
		       "%u ns per frame, kib_per_s=%u\n",
		       frames, UDP_PAYLOAD, (uint32_t)kib, us,
		       (uint32_t)(c * 1000000 / tsc_rate_khz() / frames),
		       us ? (uint32_t)(kib * 1000000 / us) : 0);
	}
	pass();
}
