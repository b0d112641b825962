/* virtio_net: the network device, driven the way 2.6.24's virtio_net.c does
 * it (§9.12), against the host's own IP stack on the other end of the tap
 * (the ARP/ICMP side is lib/netping.c, shared with the PCI guest).
 *
 * Run with --net tap --net-ip 10.77.0.1/24.  We are 10.77.0.2, with the MAC
 * the config gives us.  Like the driver we post receive buffers of an 8-byte
 * header plus 1514 bytes, and send each frame as header + frame.  Then we
 * ask for 10.77.0.1's MAC (ARP), answer the host's ARP requests for us, send
 * an ICMP echo request and wait for the host's echo reply.  Every received
 * header must be all zeroes and every frame at most 1514 bytes.  Lost frames
 * are sent again, once a second, for up to 15 seconds.  With "long", 100 more
 * pings follow, 30 ms apart: traffic that keeps flowing while the guest is
 * moved (lgkvm run --migrate-every, tests/testhost/snapshot-check.sh). */
#include "guest.h"
#include "netping.h"
#include "virtio.h"

const char test_name[] = "virtio_net";

#define RX_BUFS	  16u
#define FRAME_MAX NET_FRAME_MAX
#define HDR_LEN	  8u

static struct vq rxq, txq;
static uint8_t rx_hdr[RX_BUFS][HDR_LEN];
static uint8_t rx_frame[RX_BUFS][FRAME_MAX];
static uint16_t rx_head[RX_BUFS];
static uint8_t tx_hdr[HDR_LEN];

/* Send header + frame, completed before NOTIFY returns. */
static void xmit(const uint8_t *frame, uint32_t len)
{
	struct vbuf b[2] = {{tx_hdr, HDR_LEN, 0}, {frame, len, 0}};
	uint32_t id, ulen;
	uint16_t head;

	memset(tx_hdr, 0, HDR_LEN);
	head = vq_add(&txq, b, 2);
	vq_kick(&txq);
	CHECK(vq_used(&txq, &id, &ulen), "transmit buffer not back when NOTIFY returned");
	CHECK(id == head, "transmit used id %u, want %u", id, head);
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
		got |= net_handle(rx_frame[i], len - HDR_LEN, seq);
		memset(rx_hdr[i], 0xEE, HDR_LEN);
		vq_repost(&rxq, rx_head[i]);
	} while (vq_used(&rxq, &id, &len));
	vq_kick(&rxq);
	return got;
}

void test_main(void)
{
	struct vdev dev;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_NET, 0, &dev);
	vq_find(&dev, &rxq, "receive");
	vq_find(&dev, &txq, "transmit");
	CHECK(virtio_config(&dev, 0x41, net.my_mac, 6) == 6, "no 6-byte MAC field");
	CHECK(!(net.my_mac[0] & 1), "MAC %x:... is a multicast address", net.my_mac[0]);
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
	printf("virtio_net: MAC %x:%x:%x:%x:%x:%x, irqs %u/%u\n", net.my_mac[0], net.my_mac[1],
	       net.my_mac[2], net.my_mac[3], net.my_mac[4], net.my_mac[5], rxq.cfg.irq,
	       txq.cfg.irq);

	for (unsigned i = 0; i < RX_BUFS; i++) {
		struct vbuf b[2] = {{rx_hdr[i], HDR_LEN, 1}, {rx_frame[i], FRAME_MAX, 1}};

		memset(rx_hdr[i], 0xEE, HDR_LEN);
		rx_head[i] = vq_add(&rxq, b, 2);
	}
	vq_kick(&rxq);

	net.xmit = xmit;
	net.receive = receive;
	net_ping_host();
	for (unsigned i = 0; cmdline_has("long") && i < 100; i++) {
		spin_ms(30, 1);
		net_ping_host();
	}
	/* Frames that came while we were awake left the receive IRQ pending:
	 * let it in. */
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	for (unsigned i = 0; i < 1000 && !virtio_irq_count[rxq.cfg.irq]; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(virtio_irq_count[rxq.cfg.irq], "no receive interrupt");
	pass();
}
