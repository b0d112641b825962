/* A tiny ARP + ICMP echo client: see netping.h. */
#include "netping.h"

#define ICMP_ID	     0x4c47
#define PING_PAYLOAD 32u
#define TRIES	     15u

struct netping net;

static const uint8_t my_ip[4] = {10, 77, 0, 2};
static const uint8_t host_ip[4] = {10, 77, 0, 1};
static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static uint8_t tx_frame[NET_FRAME_MAX];

uint16_t net_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void net_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t net_csum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += net_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void send(uint32_t len)
{
	if (len < 60) { /* the minimum Ethernet frame, as a card would pad */
		memset(tx_frame + len, 0, 60 - len);
		len = 60;
	}
	net.xmit(tx_frame, len);
}

static uint8_t *eth(const uint8_t *dst, uint16_t type)
{
	memcpy(tx_frame, dst, 6);
	memcpy(tx_frame + 6, net.my_mac, 6);
	net_put16(tx_frame + 12, type);
	return tx_frame + 14;
}

static void send_arp(uint16_t op, const uint8_t *dst_mac, const uint8_t *target_mac,
		     const uint8_t *target_ip)
{
	uint8_t *a = eth(dst_mac, 0x0806);

	net_put16(a, 1);	  /* Ethernet */
	net_put16(a + 2, 0x0800); /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	net_put16(a + 6, op);
	memcpy(a + 8, net.my_mac, 6);
	memcpy(a + 14, my_ip, 4);
	memcpy(a + 18, target_mac, 6);
	memcpy(a + 24, target_ip, 4);
	send(14 + 28);
}

static void send_ping(uint16_t seq)
{
	uint8_t *ip = eth(net.host_mac, 0x0800), *icmp = ip + 20;
	uint16_t total = 20 + 8 + PING_PAYLOAD;

	memset(ip, 0, total);
	ip[0] = 0x45;
	net_put16(ip + 2, total);
	net_put16(ip + 4, seq);
	ip[8] = 64; /* TTL */
	ip[9] = 1;  /* ICMP */
	memcpy(ip + 12, my_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	net_put16(ip + 10, net_csum(ip, 20));
	icmp[0] = 8; /* echo request */
	net_put16(icmp + 4, ICMP_ID);
	net_put16(icmp + 6, seq);
	for (uint32_t i = 0; i < PING_PAYLOAD; i++)
		icmp[8 + i] = (uint8_t)('a' + i % 26);
	net_put16(icmp + 2, net_csum(icmp, 8 + PING_PAYLOAD));
	send(14 + total);
}

int net_handle(const uint8_t *f, uint32_t len, uint16_t seq)
{
	net.frames_seen++;
	if (len < 14)
		return 0;
	if (memcmp(f, net.my_mac, 6) && memcmp(f, broadcast, 6))
		return 0; /* IPv6 multicast chatter and the like */
	if (net_get16(f + 12) == 0x0806 && len >= 14 + 28) {
		const uint8_t *a = f + 14;

		if (net_get16(a + 6) == 2 && !memcmp(a + 14, host_ip, 4)) {
			memcpy(net.host_mac, a + 8, 6);
			if (!net.host_mac_known)
				printf("%s: 10.77.0.1 is at %x:%x:%x:%x:%x:%x\n", test_name,
				       net.host_mac[0], net.host_mac[1], net.host_mac[2],
				       net.host_mac[3], net.host_mac[4], net.host_mac[5]);
			net.host_mac_known = 1;
		} else if (net_get16(a + 6) == 1 && !memcmp(a + 24, my_ip, 4)) {
			send_arp(2, a + 8, a + 8, a + 14);
			net.arps_answered++;
		}
		return 0;
	}
	if (net_get16(f + 12) == 0x0800 && len >= 14 + 20 + 8) {
		const uint8_t *ip = f + 14, *icmp = ip + (ip[0] & 0xf) * 4;

		if (ip[9] != 1 || memcmp(ip + 12, host_ip, 4) || memcmp(ip + 16, my_ip, 4))
			return 0;
		CHECK(net_csum(ip, (ip[0] & 0xf) * 4) == 0, "echo reply with a bad IP checksum");
		if (icmp[0] != 0 || net_get16(icmp + 4) != ICMP_ID || net_get16(icmp + 6) != seq)
			return 0;
		for (uint32_t i = 0; i < PING_PAYLOAD; i++)
			CHECK(icmp[8 + i] == (uint8_t)('a' + i % 26), "echo reply payload differs");
		return 1;
	}
	return 0;
}

void net_ping_host(void)
{
	uint16_t seq = 1;

	for (unsigned tries = 0; tries < TRIES; tries++, seq++) {
		int pinged = net.host_mac_known;

		if (pinged)
			send_ping(seq);
		else
			send_arp(1, broadcast, (const uint8_t[6]){0}, host_ip);
		/* A second for the answer, frame by frame. */
		for (unsigned t = 0; t < 10; t++) {
			if (net.receive(100, seq)) {
				printf("%s: echo reply from 10.77.0.1 (seq %u); %u frames "
				       "received, %u ARP requests answered\n",
				       test_name, seq, net.frames_seen, net.arps_answered);
				return;
			}
			if (!pinged && net.host_mac_known)
				break; /* the ARP answer is in: ping at once */
		}
	}
	fail("no echo reply from 10.77.0.1 (%u frames received, host MAC %s)", net.frames_seen,
	     net.host_mac_known ? "known" : "unknown");
}
