/* The network guests' tiny IP stack (virtio_net.c on the lguest bus,
 * virtio_pci.c on PCI): we are 10.77.0.2 on the host's tap at 10.77.0.1
 * (lgkvm --net tap --net-ip 10.77.0.1/24).  Ask for the host's MAC (ARP),
 * answer its ARP requests for us, send an ICMP echo request and wait for the
 * reply; lost frames are sent again once a second for up to 15 seconds.
 *
 * The transport is the guest's: it fills in `net` and its two callbacks. */
#ifndef GUEST_NETPING_H
#define GUEST_NETPING_H

#include "guest.h"

#define NET_FRAME_MAX 1514u /* a frame without FCS, as the tap gives it */

struct netping {
	uint8_t my_mac[6], host_mac[6];
	int host_mac_known;
	unsigned arps_answered, frames_seen;
	/* Send frame[0, len) (already padded to 60), done when it returns. */
	void (*xmit)(const uint8_t *frame, uint32_t len);
	/* Wait up to `ms` for frames and hand each to net_handle(); 1 if one
	 * of them was the echo reply with sequence `seq`. */
	int (*receive)(uint32_t ms, uint16_t seq);
};
extern struct netping net;

/* Network byte order, and the Internet checksum (RFC 1071): shared with the
 * guests that build frames of their own (bench_net.c). */
uint16_t net_get16(const uint8_t *p);
void net_put16(uint8_t *p, uint16_t v);
uint16_t net_csum(const uint8_t *p, uint32_t len);

/* One received frame: answer ARP, learn the host's MAC; 1 if it is our echo
 * reply with `seq` (checksum and payload checked). */
int net_handle(const uint8_t *f, uint32_t len, uint16_t seq);
/* ARP, then ping the host until the reply comes (returns) or 15 tries have
 * gone unanswered (fails the test).  Prints what happened, prefixed by
 * test_name. */
void net_ping_host(void);

#endif
