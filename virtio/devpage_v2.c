/* Device page v2 (2.6.25-3.19, docs/abi.md §H1.7): a record per device,
 *
 *	[type][num_vq][feature_len][config_len][status]
 *	num_vq x struct lguest_vqconfig {num, irq, pfn}
 *	feature_len bytes of host features, then feature_len bytes the guest
 *	writes to acknowledge them, then config_len bytes of config struct.
 *
 * Feature bits are virtio's own (VIRTIO_BLK_F_SEG_MAX, VIRTIO_NET_F_MAC...).
 * A record's length depends on everything in it, so the page is written once,
 * when every device is known (vbus_finish).  We offer only what we do: in
 * particular none of the transport features (24 NOTIFY_ON_EMPTY, 28
 * INDIRECT_DESC, 29 EVENT_IDX), so the guest never relies on them. */
#include <string.h>

#include "src/le.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/transport.h"
#include "virtio/ring.h"

#define HDR_LEN	    5
#define FEATURE_LEN 4 /* 32 feature bits: all any device here offers */

static int v2_add_device(struct vm *vm, struct vdev *dev)
{
	(void)vm;
	(void)dev;
	return 0;
}

static int v2_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			 unsigned offset, uint8_t len, const void *val)
{
	(void)vm;
	(void)v1_type;
	return vbus_config_struct(dev, feature, offset, len, val);
}

static int v2_add_queue(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	return devpage_alloc_ring(vm, dev, q);
}

static int v2_finish(struct vm *vm)
{
	struct vbus *bus = &vm->bus;

	bus->page_used = 0;
	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];
		unsigned len = HDR_LEN + VQCONFIG_LEN * dev->nq + 2 * FEATURE_LEN + dev->config_len;
		/* Keep a zero type byte after the last record: it ends the scan. */
		uint8_t *rec = bus->page_used + len < VBUS_PAGE_SIZE
				       ? vbus_area_ptr(vm, bus->page_gpa + bus->page_used, len)
				       : NULL;
		if (!rec) {
			log_msg("too many devices for the device page (adding %s)", dev->name);
			return -1;
		}
		dev->desc_off = bus->page_used;
		rec[0] = dev->type;
		rec[1] = (uint8_t)dev->nq;
		rec[2] = FEATURE_LEN;
		rec[3] = dev->config_len;
		rec[4] = 0; /* status */
		uint8_t *p = rec + HDR_LEN;
		for (unsigned q = 0; q < dev->nq; q++, p += VQCONFIG_LEN) {
			le16_put(p, dev->q[q]->num);
			le16_put(p + 2, dev->q[q]->irq);
			le32_put(p + 4, dev->q[q]->gpa / VBUS_PAGE_SIZE);
		}
		le32_put(p, dev->features);
		memset(p + FEATURE_LEN, 0, FEATURE_LEN); /* the guest's acks */
		memcpy(p + 2 * FEATURE_LEN, dev->config, dev->config_len);
		bus->page_used += len;
	}
	return 0;
}

static uint8_t v2_status(const struct vm *vm, const struct vdev *dev)
{
	return devpage_status(vm, dev, 4);
}

/* A device record's address (2.6.25+): the guest wrote its status byte and
 * tells us.  Zero is a reset: the driver gave the device up (or is about to
 * start afresh), and its rings start over from index 0.  Any other status
 * needs nothing: queues run from their first kick, and we never wait for
 * DRIVER_OK (3.1+ guests kick before they set it). */
bool devpage_v2_status_notify(struct vm *vm, uint32_t gpa)
{
	struct vbus *bus = &vm->bus;

	if (gpa < bus->page_gpa || gpa >= bus->page_gpa + VBUS_PAGE_SIZE)
		return false;
	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];
		if (gpa != bus->page_gpa + dev->desc_off)
			continue;
		if (v2_status(vm, dev) != 0)
			return true;
		for (unsigned n = 0; n < dev->nq; n++) {
			struct vqueue *q = dev->q[n];
			uint64_t bytes = ((uint64_t)vring_size(q->num) + VBUS_PAGE_SIZE - 1) &
					 ~(uint64_t)(VBUS_PAGE_SIZE - 1);
			uint8_t *ring = vbus_area_ptr(vm, q->gpa, bytes);
			/* The ring stays where it is (the host's, in the device
			 * area) and stays live: new generation, zeroed. */
			vring_reset(q);
			vring_lock(q);
			if (ring)
				memset(ring, 0, bytes);
			atomic_store_explicit(&q->ready, true, memory_order_release);
			vring_unlock(q);
		}
		LOG_DEBUG(vm, "%s: reset by the guest", dev->name);
		return true;
	}
	return false;
}

const struct vtransport devpage_v2 = {
	.name = "device page v2",
	.add_device = v2_add_device,
	.add_config = v2_add_config,
	.add_queue = v2_add_queue,
	.finish = v2_finish,
	.status = v2_status,
	.interrupt = devpage_interrupt,
	.limit = devpage_limit,
};
