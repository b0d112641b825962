/* Virtio devices on the lguest bus, from the guest's side (§9.1-§9.8), for
 * the block and network guests: a driver the size of a postcard.
 *
 * The device page and the rings sit above RAM, where the boot page tables do
 * not reach, so virtio_init() builds our own tables and maps that area into
 * a window at 0x80000000, as the kernel's ioremap would.  Data buffers stay
 * in our identity-mapped image: their addresses are their GPAs.
 *
 * 4.0+ guests (GEN_PCI) find their devices on PCI instead (lib/pci.h); what
 * is shared is here: the split rings, kicks, waiting and the IRQ handlers. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

/* One virtqueue, as lguest_device.c and virtio_ring.c would see it. */
struct vq {
	struct lguest_vqconfig cfg;
	volatile struct vring_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[num] */
	volatile uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[num] */
	uint16_t last_used;	  /* the next used entry we have not looked at */
	uint16_t next_desc;	  /* descriptors are handed out round-robin */
#if GEN_PCI
	volatile uint16_t *doorbell; /* the queue's notify address in the BAR */
	uint16_t index;		     /* what a kick writes there */
#endif
};

/* A device's record in the device page: v1 [type][config_len][status]
 * [config...] (§9.2); v2 (2.6.25+) [type][num_vq][feature_len][config_len]
 * [status], the vqconfigs, host features, guest acks, config (§H1.7). */
struct vdev {
	volatile uint8_t *rec;
	uint32_t gpa;	  /* the record's guest-physical address (v2 notifies) */
	unsigned next_vq; /* v2: the next vqconfig vq_find takes */
};

/* One buffer of a chain. */
struct vbuf {
	const volatile void *addr;
	uint32_t len;
	int writable; /* written by the device */
};

/* Page tables with the device window, the Linux IDT, and handlers for the
 * timer and every device IRQ.  After guest_init(). */
void virtio_init(void);
/* Point q at a ring of q->cfg.num entries: descriptors, available and used
 * ring at the given addresses (identity-mapped or mapped by the caller). */
void vq_layout(struct vq *q, void *desc, void *avail, void *used);

#if !GEN_PCI
/* The nth (0, 1, ...) device of `type`; fails the test if there is none. */
void virtio_find(uint8_t type, unsigned nth, struct vdev *d);
/* Config field `type`: copy up to `len` bytes of its value to `val` and
 * mark it used (type |= 0x80) as lg_find does.  Returns the field's own
 * length, or -1 if it has none.  On a v2 page the 2.6.24 field types of the
 * block and net devices are looked up as the feature bit and config offset
 * that replaced them, and the feature is acknowledged. */
int virtio_config(struct vdev *d, uint8_t type, void *val, uint8_t len);
/* OR bits into the status byte (§9.4). */
void virtio_status(struct vdev *d, uint8_t bits);
/* Take the device's next virtqueue field and map its ring. */
void vq_find(struct vdev *d, struct vq *q, const char *what);
#endif

/* Build a chain of n buffers, publish it, and return its head (no kick). */
uint16_t vq_add(struct vq *q, const struct vbuf *bufs, unsigned n);
/* Publish an already-built chain again (a receive buffer, reused). */
void vq_repost(struct vq *q, uint16_t head);
/* NOTIFY (or the PCI doorbell), unless the device said NO_NOTIFY. */
void vq_kick(struct vq *q);
/* The next used entry, if there is one: 1 and id/len filled in, else 0. */
int vq_used(struct vq *q, uint32_t *id, uint32_t *len);
/* The same, sleeping (HALT) until the device's interrupt or `ms` of timer
 * ticks have passed.  0 on timeout. */
int vq_wait(struct vq *q, uint32_t *id, uint32_t *len, uint32_t ms);

/* Interrupts counted per IRQ line by the handlers virtio_init() installs. */
extern volatile unsigned virtio_irq_count[LGUEST_IRQS];
/* A PCI device's interrupt is level-triggered: the handler of its line must
 * read (and so clear) the device's ISR byte, or the interrupt comes back at
 * once.  lib/pci.c registers each device's ISR here; the handler ORs what it
 * read into virtio_isr_seen. */
extern volatile uint8_t *virtio_isr[LGUEST_IRQS];
extern volatile uint8_t virtio_isr_seen[LGUEST_IRQS];

/* struct virtio_blk_outhdr: 2.6.24 had an `id` the host never used; 2.6.25
 * dropped it (docs/abi.md §H1.7). */
struct blk_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
#if LGUEST_GEN == 1
	uint64_t id;
#endif
} __attribute__((packed));
_Static_assert(sizeof(struct blk_hdr) == (LGUEST_GEN == 1 ? 24 : 16), "virtio_blk_outhdr");

#endif
