/* Device page v1 (2.6.24, docs/abi.md §9.1-§9.3): a record per device,
 * [type][config_len][status], followed by config fields [type][len][value]
 * -- one of type 2 (VIRTIO_CONFIG_F_VIRTQUEUE) per virtqueue.  The guest
 * ORs 0x80 into a field's type once it has read it.  Records are written as
 * the devices are built, so only the last device can still grow. */
#include <string.h>

#include "src/le.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/transport.h"
#include "virtio/ring.h"

#define VIRTIO_CONFIG_F_VIRTQUEUE 2

static bool is_last_device(const struct vbus *bus, const struct vdev *dev)
{
	return bus->ndevs && dev == &bus->devs[bus->ndevs - 1];
}

/* Room for `len` more record bytes, always keeping the zero byte after the
 * last record that ends the guest's scan. */
static bool page_has_room(const struct vbus *bus, unsigned len)
{
	return bus->page_used + len < VBUS_PAGE_SIZE;
}

static int v1_add_device(struct vm *vm, struct vdev *dev)
{
	struct vbus *bus = &vm->bus;
	uint8_t *rec;

	if (!page_has_room(bus, 3) ||
	    !(rec = vbus_area_ptr(vm, bus->page_gpa + bus->page_used, 3))) {
		log_msg("too many devices for the device page (adding %s)", dev->name);
		return -1;
	}
	dev->desc_off = bus->page_used;
	/* [type][config_len][status]: the fields follow and grow config_len. */
	rec[0] = dev->type;
	rec[1] = 0;
	rec[2] = 0;
	bus->page_used += 3;
	return 0;
}

static int v1_add_field(struct vm *vm, struct vdev *dev, uint8_t type, uint8_t len, const void *val)
{
	struct vbus *bus = &vm->bus;
	/* The device is the last one, so its config runs to page_used. */
	unsigned config_len = bus->page_used - dev->desc_off - 3;
	uint8_t *rec, *field;

	if (!is_last_device(bus, dev)) {
		log_msg("%s: config fields can only be added to the last device", dev->name);
		return -1;
	}
	if (config_len + 2u + len > UINT8_MAX || !page_has_room(bus, 2u + len)) {
		log_msg("%s: no room for another config field", dev->name);
		return -1;
	}
	rec = vbus_area_ptr(vm, bus->page_gpa + dev->desc_off, 3);
	field = vbus_area_ptr(vm, bus->page_gpa + bus->page_used, 2u + len);
	if (!rec || !field) {
		log_msg("the device page is not mapped");
		return -1;
	}
	field[0] = type;
	field[1] = len;
	memcpy(field + 2, val, len);
	rec[1] = (uint8_t)(config_len + 2u + len);
	bus->page_used += 2u + len;
	return 0;
}

static int v1_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			 unsigned offset, uint8_t len, const void *val)
{
	(void)feature;
	(void)offset;
	return v1_add_field(vm, dev, v1_type, len, val);
}

static int v1_add_queue(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	uint8_t cfg[VQCONFIG_LEN];
	if (devpage_alloc_ring(vm, dev, q) < 0)
		return -1;
	le16_put(cfg, q->num);
	le16_put(cfg + 2, q->irq);
	le32_put(cfg + 4, q->gpa / VBUS_PAGE_SIZE);
	return v1_add_field(vm, dev, VIRTIO_CONFIG_F_VIRTQUEUE, VQCONFIG_LEN, cfg);
}

static int v1_finish(struct vm *vm)
{
	(void)vm;
	return 0;
}

static uint8_t v1_status(const struct vm *vm, const struct vdev *dev)
{
	return devpage_status(vm, dev, 2);
}

const struct vtransport devpage_v1 = {
	.name = "device page v1",
	.add_device = v1_add_device,
	.add_config = v1_add_config,
	.add_queue = v1_add_queue,
	.finish = v1_finish,
	.status = v1_status,
	.interrupt = devpage_interrupt,
	.limit = devpage_limit,
};
