/* The device bus in a snapshot: what each device, its rings and its
 * transport hold outside guest memory, out and back in (src/snapshot.c).
 *
 * Most of a device's state is in guest memory, which the memory file
 * carries: the rings themselves, the device page with its status bytes and
 * (G1-G7) the device config the guest reads.  Outside it the host keeps its
 * private ring indices, the virtio-PCI function (config space, common
 * config), 2.6.23's DMA bindings and the config a device offers (a network
 * device's MAC).  A restore rebuilds the bus from the same devices in the
 * same order, so everything derived from that order -- slots, IRQs, where
 * the device-page rings are -- must come out the same, and is compared, not
 * taken; what the guest chose goes back through the checks the guest's own
 * choice met. */
#include <stdio.h>
#include <string.h>

#include "src/snapshot_format.h"
#include "src/vm.h"
#include "virtio/ring.h"
#include "virtio/transport.h"

void vbus_state_save(struct vm *vm, struct snap *s)
{
	struct vbus *bus = &vm->bus;
	s->pci_latch = bus->pci.bus.addr;
	s->dma_guestid = bus->dma.guestid;
	s->ndma = DMA_MAX_BINDINGS;
	for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++) {
		const struct dma_binding *b = &bus->dma.bind[i];
		s->dma[i] = (struct snap_dma_binding){.key = b->key,
						      .dmas = b->dmas,
						      .num = b->num,
						      .next = b->next,
						      .irq = b->irq};
	}
	s->ndevs = bus->ndevs;
	for (unsigned i = 0; i < bus->ndevs; i++) {
		const struct vdev *dev = &bus->devs[i];
		struct snap_dev *d = &s->dev[i];
		d->type = dev->type;
		d->features = dev->features;
		d->config_len = dev->config_len;
		memcpy(d->config, dev->config, dev->config_len);
		d->nq = dev->nq;
		for (unsigned n = 0; n < dev->nq; n++) {
			struct vqueue *q = dev->q[n];
			vring_lock(q);
			d->q[n] = (struct snap_queue){
				.num = q->num,
				.irq = q->irq,
				.ready = atomic_load(&q->ready),
				.gpa = q->gpa,
				.desc = q->desc,
				.avail = q->avail,
				.used = q->used,
				.last_avail = q->last_avail,
				.last_used = q->last_used,
			};
			vring_unlock(q);
		}
		d->has_pci = bus->tp == &virtio_pci;
		if (d->has_pci)
			vpci_state_save(vm, dev, &d->pci);
	}
}

static int differs(char *err, size_t errlen, unsigned i, const struct vdev *dev, const char *what)
{
	snprintf(err, errlen,
		 "the snapshot's device %u (%s) differs from the one given: %s (restore with the "
		 "devices of the run that took it, in its order)",
		 i, dev->name, what);
	return -1;
}

int vbus_state_load(struct vm *vm, const struct snap *s, char *err, size_t errlen)
{
	struct vbus *bus = &vm->bus;
	if (s->ndevs != bus->ndevs) {
		snprintf(err, errlen,
			 "the snapshot has %u devices (the console included) and this restore %u",
			 s->ndevs, bus->ndevs);
		return -1;
	}
	bool pci = bus->tp == &virtio_pci;
	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];
		const struct snap_dev *d = &s->dev[i];
		if (d->type != dev->type)
			return differs(err, errlen, i, dev, "another kind of device");
		if (d->nq != dev->nq || d->features != dev->features ||
		    d->config_len != dev->config_len || d->has_pci != pci)
			return differs(err, errlen, i, dev, "its queues, features or config");
		for (unsigned n = 0; n < dev->nq; n++) {
			const struct snap_queue *sq = &d->q[n];
			struct vqueue *q = dev->q[n];
			if (!pci &&
			    (sq->num != q->num || sq->gpa != q->gpa || sq->irq != q->irq ||
			     sq->desc != q->desc || sq->avail != q->avail || sq->used != q->used))
				return differs(err, errlen, i, dev, "where its rings are");
		}
		/* A network device's MAC (the device page's copy is in guest
		 * memory already). */
		memcpy(dev->config, d->config, d->config_len);
		if (pci) {
			vpci_state_load(vm, dev, &d->pci);
			if (vm->dead) {
				snprintf(err, errlen, "the snapshot's device %u: %s", i,
					 vm->exit_reason);
				return -1;
			}
		}
		for (unsigned n = 0; n < dev->nq; n++) {
			struct vqueue *q = dev->q[n];
			vring_lock(q);
			q->last_avail = d->q[n].last_avail;
			q->last_used = d->q[n].last_used;
			if (!pci)
				atomic_store_explicit(&q->ready, d->q[n].ready,
						      memory_order_release);
			vring_unlock(q);
		}
	}
	bus->pci.bus.addr = s->pci_latch;
	if (bus->tp == &dma_bus) {
		bus->dma.guestid = s->dma_guestid;
		for (unsigned i = 0; i < s->ndma && i < DMA_MAX_BINDINGS; i++) {
			const struct snap_dma_binding *b = &s->dma[i];
			bus->dma.bind[i] = (struct dma_binding){.key = b->key,
								.dmas = b->dmas,
								.num = b->num,
								.next = b->next,
								.irq = b->irq};
		}
	}
	return 0;
}

void vbus_kick_all(struct vm *vm)
{
	struct vbus *bus = &vm->bus;
	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];
		for (unsigned n = 0; n < dev->nq && dev->notify; n++)
			if (atomic_load_explicit(&dev->q[n]->ready, memory_order_acquire))
				dev->notify(vm, dev, dev->q[n]);
	}
}
