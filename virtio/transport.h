/* How the guest finds its devices and talks to them: the transports, behind
 * one interface (docs/DESIGN.md §7, docs/abi.md §9 and §H1.7).  A device
 * (virtio/console.c, blk.c, net.c) is written once against struct vdev and
 * struct vqueue; the transport says how the guest learns about it.
 *
 *   devpage_v1 (2.6.24):      the lguest device page, records of TLV fields,
 *                             one of which describes each virtqueue.
 *   devpage_v2 (2.6.25-3.19): the device page with feature bytes, ack bytes
 *                             and a plain config struct.
 *   virtio_pci (4.0-4.13):    PCI bus 0 through configuration mechanism #1,
 *                             virtio 1.0 modern devices on an MMIO BAR, rings
 *                             in guest memory (virtio/virtio_pci.c).
 *
 * The device page transports own the rings (pages above RAM, announced by
 * their page frame); virtio-PCI rings are the guest's, announced by address
 * through the common config.  Either way vqueue.desc/avail/used say where the
 * three parts are, and vqueue.ready whether they may be walked. */
#ifndef LGKVM_TRANSPORT_H
#define LGKVM_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/bus.h"

struct vtransport {
	const char *name;
	/* A new device (the last on the bus): start its record, give it a
	 * slot or an interrupt line, as the transport does. */
	int (*add_device)(struct vm *vm, struct vdev *dev);
	/* One item of device config (see vbus_add_config). */
	int (*add_config)(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			  unsigned offset, uint8_t len, const void *val);
	/* A new virtqueue of q->num entries: its ring and its interrupt. */
	int (*add_queue)(struct vm *vm, struct vdev *dev, struct vqueue *q);
	/* Every device is in: write what is written at the end. */
	int (*finish)(struct vm *vm);
	/* The status byte the guest last wrote for dev. */
	uint8_t (*status)(const struct vm *vm, const struct vdev *dev);
	/* q has new used entries and the guest wants to hear: interrupt it.
	 * Called from any thread. */
	void (*interrupt)(struct vm *vm, struct vqueue *q);
	/* One past the last guest-physical byte the guest may name. */
	uint64_t (*limit)(const struct vm *vm);
};

extern const struct vtransport devpage_v1, devpage_v2, virtio_pci;

/* For the device page formats: a host pointer into the device area, or NULL. */
uint8_t *vbus_area_ptr(const struct vm *vm, uint64_t gpa, uint64_t len);
/* Ring pages for q (q->num entries) from the device area, and the next
 * interrupt line: what both device page formats do for a new queue. */
int devpage_alloc_ring(struct vm *vm, struct vdev *dev, struct vqueue *q);
/* One item of a plain config struct, and the feature bit announcing it
 * (negative: none): what device page v2 and virtio-PCI both keep in
 * dev->config/config_len/features.  -1 after one sentence if it does not
 * fit. */
int vbus_config_struct(struct vdev *dev, int feature, unsigned offset, uint8_t len,
		       const void *val);
/* virtio-PCI: bus 0 with its host bridge (vbus_init). */
void vpci_init(struct vm *vm);
uint64_t devpage_limit(const struct vm *vm);
/* NOTIFY of a v2 device record's address: a status change (reset). */
bool devpage_v2_status_notify(struct vm *vm, uint32_t gpa);
uint8_t devpage_status(const struct vm *vm, const struct vdev *dev, unsigned status_off);
void devpage_interrupt(struct vm *vm, struct vqueue *q);

#define VBUS_PAGE_SIZE 4096u
#define VQCONFIG_LEN   8 /* struct lguest_vqconfig: num u16, irq u16, pfn u32 */

#endif
