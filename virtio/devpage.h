/* The device page's two formats, behind one interface (docs/abi.md §9 and
 * §H1.7).  virtio/lguest_bus.c owns the page and the rings; these say how a
 * device's record is spelled.
 *
 *   v1 (2.6.24):        [type][config_len][status] then TLV fields, one of
 *                       which describes each virtqueue.
 *   v2 (2.6.25-3.19):   [type][num_vq][feature_len][config_len][status], the
 *                       virtqueues, the host's feature bytes, the guest's ack
 *                       bytes, then a plain config struct.
 */
#ifndef LGKVM_DEVPAGE_H
#define LGKVM_DEVPAGE_H

#include <stdint.h>

#include "virtio/bus.h"

struct devpage_ops {
	const char *name;
	unsigned status_off; /* where a record keeps its status byte */
	/* A new device (the last on the bus): start its record, if this
	 * format writes as it goes. */
	int (*add_device)(struct vm *vm, struct vdev *dev);
	int (*add_config)(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			  unsigned offset, uint8_t len, const void *val);
	int (*add_queue)(struct vm *vm, struct vdev *dev, struct vqueue *q);
	/* Every device is in: write what is written at the end. */
	int (*finish)(struct vm *vm);
};

extern const struct devpage_ops devpage_v1, devpage_v2;

/* For the formats: a host pointer into the device area, or NULL. */
uint8_t *vbus_area_ptr(const struct vm *vm, uint64_t gpa, uint64_t len);
void vbus_put_le16(uint8_t *p, uint16_t v);
void vbus_put_le32(uint8_t *p, uint32_t v);

#define VBUS_PAGE_SIZE 4096u
#define VQCONFIG_LEN   8 /* struct lguest_vqconfig: num u16, irq u16, pfn u32 */

#endif
