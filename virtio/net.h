/* The network device's inner door (virtio/net.c).
 *
 * vbus_add_net() (virtio/bus.h) opens a tap interface and hands its file
 * descriptor to vbus_add_net_fd().  The device needs nothing tap-specific
 * from that descriptor: each read() must return one whole Ethernet frame and
 * each write() must send one, which a SOCK_DGRAM or SOCK_SEQPACKET socket
 * does as well.  That is how the unit tests drive it, and how another
 * backend could. */
#ifndef LGKVM_NET_H
#define LGKVM_NET_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/bus.h"

/* The largest frame the 2.6.24 driver can take: ETH_HLEN + ETH_DATA_LEN.
 * Anything longer hits a BUG_ON in the guest, so we never pass it. */
#define NET_FRAME_MAX 1514u
/* struct virtio_net_hdr in 2.6.24: flags, gso_type, gso_size, csum_start,
 * csum_offset; no hdr_len yet. */
#define NET_HDR_LEN 8u

/* What the device did, for -v and the tests. */
struct net_counters {
	uint64_t rx_frames;  /* delivered to the guest */
	uint64_t rx_dropped; /* longer than NET_FRAME_MAX or than the guest's buffer */
	uint64_t tx_frames;  /* written to the fd */
	uint64_t tx_dropped; /* the fd refused them */
};

/* A network device on `fd` (non-blocking, one frame per read and write),
 * with MAC address `mac`.  The device owns fd from then on and closes it at
 * teardown, or here if setting up fails.  `what` names it in messages. */
int vbus_add_net_fd(struct vm *vm, int fd, const uint8_t mac[6], const char *what);

/* The host end of --net: tap interface `tap` (NULL: the kernel picks a
 * name, returned in `name`), addressed `ip` if this is the first network
 * device, and a random locally administered MAC for the guest.  Returns the
 * non-blocking fd, or -1 after vm_stop() with the reason.  (vbus_add_net()
 * is this plus vbus_add_net_fd(); the 2.6.23 DMA bus uses it alone.) */
int net_tap_open(struct vm *vm, const char *tap, const char *ip, uint8_t mac[6],
		 char name[IFNAMSIZ]);

/* --net-ip's ADDR[/PREFIX] (prefix 24 if none); false if it is not one.
 * (src/options.c checks it with this too, before anything is set up.) */
bool net_parse_ip(const char *arg, struct in_addr *addr, struct in_addr *mask);

/* The counters of network device `dev` (zero for any other device). */
struct net_counters net_counters(const struct vdev *dev);

#endif
