/* The lguest bus: one page of device descriptions and the rings above it
 * (docs/abi.md §9; the page's two formats are virtio/devpage_v1.c and
 * virtio/devpage_v2.c).
 *
 * There is no PCI here.  The Launcher puts a single page just past the end of
 * the guest's RAM and writes a little record into it for every device: its
 * type, its status byte, and a list of config fields, one of which describes
 * each of its virtqueues (size, IRQ, and the page frame of the ring).  The
 * guest finds the page at max_pfn, walks the records at boot, maps the rings
 * and talks to us through them; LHCALL_NOTIFY with a ring's address is its
 * doorbell.  (docs/abi.md §2.1, 9.1-9.5.)
 *
 * The page is shared, and the guest does write to it: it ORs 0x80 into the
 * type of every field it has consumed and sets the status byte.  So we write
 * the page once, at setup, and afterwards believe only our own copy of what
 * we put there (struct vbus). */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "src/log.h"
#include "src/vm.h"
#include "virtio/transport.h"
#include "virtio/ring.h"

#define PAGE_SIZE 4096u

static const struct vtransport *fmt(const struct vbus *bus)
{
	return bus->tp ? bus->tp : &devpage_v1; /* a bus built by hand (tests) */
}

/* The generation's transport (pvabi/abi.c); v1 without a generation (unit
 * tests and fuzzers that build a bus by hand). */
static const struct vtransport *transport_for(const struct vm *vm)
{
	switch (vm->lg.abi ? vm->lg.abi->transport : TRANSPORT_DEVPAGE_V1) {
	case TRANSPORT_DEVPAGE_V2:
		return &devpage_v2;
	case TRANSPORT_PCI:
		return &virtio_pci;
	case TRANSPORT_DMA:
		return &dma_bus;
	default:
		return &devpage_v1;
	}
}

/* Setup errors (too many devices, no room) are ours, not the guest's: they
 * get one sentence through log_msg() and the caller gives up.
 *
 * A host pointer into the device area.  The guest's limit (vm->mem.limit) is
 * only raised to cover the rings once they are all allocated, so while we
 * build them we look through a view whose limit is the whole mapping, and we
 * confine ourselves to the device area. */
uint8_t *vbus_area_ptr(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct guestmem host = vm->mem;
	uint64_t start = vm->bus.page_gpa;

	if (gpa < start || gpa - start > VBUS_AREA_SIZE || len > VBUS_AREA_SIZE - (gpa - start))
		return NULL;
	host.limit = host.size;
	return gm_ptr(&host, gpa, len);
}

int vbus_init(struct vm *vm)
{
	struct vbus *bus = &vm->bus;
	uint8_t *page;

	memset(bus, 0, sizeof(*bus));
	bus->tp = transport_for(vm);
	if (bus->tp == &virtio_pci)
		vpci_init(vm);
	bus->page_gpa = vm->opt.mem;
	bus->next_gpa = vm->opt.mem + PAGE_SIZE;
	bus->next_irq = 1; /* IRQ 0 is the timer */

	/* The guest's addresses are 32 bits, and so are the ring GPAs we keep. */
	if (vm->opt.mem % PAGE_SIZE || vm->opt.mem > UINT32_MAX - VBUS_AREA_SIZE) {
		log_msg("memory size %#llx leaves no room for the device page",
			(unsigned long long)vm->opt.mem);
		return -1;
	}
	page = vbus_area_ptr(vm, bus->page_gpa, PAGE_SIZE);
	if (!page) {
		log_msg("the device page at %#llx is not mapped",
			(unsigned long long)bus->page_gpa);
		return -1;
	}
	/* A zero type ends the guest's scan, so an empty page is an empty bus. */
	memset(page, 0, PAGE_SIZE);
	return 0;
}

struct vdev *vbus_add_device(struct vm *vm, uint8_t type, const char *name)
{
	struct vbus *bus = &vm->bus;
	struct vdev *dev;

	if (bus->ndevs == VBUS_MAX_DEVS) {
		log_msg("too many devices for the device page (adding %s)", name);
		return NULL;
	}
	dev = &bus->devs[bus->ndevs++];
	memset(dev, 0, sizeof(*dev));
	dev->type = type;
	dev->name = name;
	dev->backing_fd = -1;
	if (fmt(bus)->add_device(vm, dev) < 0) {
		bus->ndevs--;
		return NULL;
	}
	return dev;
}

int vbus_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature, unsigned offset,
		    uint8_t len, const void *val)
{
	return fmt(&vm->bus)->add_config(vm, dev, v1_type, feature, offset, len, val);
}

int vbus_config_struct(struct vdev *dev, int feature, unsigned offset, uint8_t len, const void *val)
{
	if (offset + len > sizeof(dev->config) || feature >= 32) {
		log_msg("%s: config item does not fit", dev->name);
		return -1;
	}
	memcpy(dev->config + offset, val, len);
	if (offset + len > dev->config_len)
		dev->config_len = (uint8_t)(offset + len);
	if (feature >= 0)
		dev->features |= 1u << feature;
	return 0;
}

/* NOTIFY without stopping the vCPU (G1-G7, docs/DESIGN.md §2.9): for every
 * ring whose device takes its kicks on an eventfd (q->kick_fd: block, net
 * receive), KVM signals that eventfd when the monitor writes the ring's page
 * frame to MON_NOTIFY_PORT.  Registered here, before the sandbox closes;
 * the monitor learns the list at LGUEST_INIT (pvabi/fastpath.c).  A ring
 * KVM would not take keeps its NOTIFY exit: slower, not wrong. */
static void devpage_doorbells(struct vm *vm)
{
	struct vbus *bus = &vm->bus;
	for (unsigned i = 0; i < bus->nqueues && bus->ndoorbells < VBUS_MAX_DOORBELLS; i++) {
		struct vqueue *q = &bus->queues[i];
		if (q->kick_fd < 0 || !q->gpa || vm->kvm.vm_fd < 0)
			continue;
		struct kvm_ioeventfd e = {
			.datamatch = q->gpa / PAGE_SIZE,
			.addr = MON_NOTIFY_PORT,
			.len = 4,
			.fd = q->kick_fd,
			.flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &e) < 0) {
			LOG_DEBUG(vm, "%s: no doorbell in the VM (%s)", q->dev->name,
				  strerror(errno));
			continue;
		}
		bus->doorbell_pfn[bus->ndoorbells++] = q->gpa / PAGE_SIZE;
	}
}

int vbus_finish(struct vm *vm)
{
	int r = fmt(&vm->bus)->finish(vm);
	if (r == 0 && (vm->bus.tp == &devpage_v1 || vm->bus.tp == &devpage_v2) &&
	    !vm->opt.no_fast_path)
		devpage_doorbells(vm);
	return r;
}

/* The next free lguest interrupt line (1..31; 0 is the timer), or -1 after
 * one sentence. */
static int vbus_alloc_irq(struct vm *vm, const char *who)
{
	/* lguest has 32 interrupt lines and the timer has the first. */
	if (vm->bus.next_irq >= LG_IRQS) {
		log_msg("%s: out of interrupt lines", who);
		return -1;
	}
	return (int)vm->bus.next_irq++;
}

static uint64_t ring_bytes(uint16_t num)
{
	return ((uint64_t)vring_size(num) + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
}

int devpage_alloc_ring(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	struct vbus *bus = &vm->bus;
	uint64_t bytes = ring_bytes(q->num);
	uint8_t *ring = vbus_area_ptr(vm, bus->next_gpa, bytes);
	int irq;

	if (!ring) {
		log_msg("%s: not enough memory for devices (the device area is %u KiB)", dev->name,
			VBUS_AREA_SIZE / 1024);
		return -1;
	}
	if ((irq = vbus_alloc_irq(vm, dev->name)) < 0)
		return -1;
	q->irq = (uint8_t)irq;
	/* Both indices start at zero and no flags are set: a fresh ring. */
	memset(ring, 0, bytes);
	vring_place(q, (uint32_t)bus->next_gpa);
	bus->next_gpa += bytes;
	return 0;
}

struct vqueue *vbus_add_queue(struct vm *vm, struct vdev *dev, uint16_t num)
{
	struct vbus *bus = &vm->bus;
	struct vqueue *q;

	/* The guest refuses a ring whose size is not a power of two. */
	if (num == 0 || num > VRING_NUM_MAX || (num & (num - 1))) {
		log_msg("%s: bad ring size %u", dev->name, num);
		return NULL;
	}
	if (bus->nqueues == VBUS_MAX_QUEUES || dev->nq == VDEV_MAX_QUEUES) {
		log_msg("%s: too many virtqueues", dev->name);
		return NULL;
	}
	q = &bus->queues[bus->nqueues];
	memset(q, 0, sizeof(*q));
	__atomic_store_n(&q->num, num, __ATOMIC_RELAXED);
	q->kick_fd = -1;
	q->dev = dev;
	q->index = dev->nq;
	q->id = bus->nqueues;
	if (fmt(bus)->add_queue(vm, dev, q) < 0)
		return NULL;
	bus->nqueues++;
	dev->q[dev->nq++] = q;
	return q;
}

uint8_t devpage_status(const struct vm *vm, const struct vdev *dev, unsigned status_off)
{
	const uint8_t *s = gm_ptr(&vm->mem, vm->bus.page_gpa + dev->desc_off + status_off, 1);

	return s ? __atomic_load_n(s, __ATOMIC_RELAXED) : 0;
}

uint8_t vbus_status(const struct vm *vm, const struct vdev *dev)
{
	return fmt(&vm->bus)->status(vm, dev);
}

void devpage_interrupt(struct vm *vm, struct vqueue *q)
{
	vm_raise_irq(vm, q->irq);
}

void vbus_interrupt(struct vm *vm, struct vqueue *q)
{
	fmt(&vm->bus)->interrupt(vm, q);
}

uint64_t devpage_limit(const struct vm *vm)
{
	/* Rings are handed out upward from just above the device page, so the
	 * next free page is the end of the last ring: with two-page rings this
	 * is the reference's mem + 4096 + 8192 * nqueues. */
	return vm->bus.next_gpa;
}

uint64_t vbus_limit(const struct vm *vm)
{
	return fmt(&vm->bus)->limit(vm);
}

bool vbus_notify(struct vm *vm, uint32_t gpa)
{
	struct vbus *bus = &vm->bus;

	if (bus->tp == &virtio_pci)
		return false; /* NOTIFY is not a 4.x hypercall: never gets here */
	if (bus->tp == &devpage_v2 && devpage_v2_status_notify(vm, gpa))
		return true;

	/* The guest sends pfn * 4096; like the reference we compare page
	 * frames, taken from our own records, never from the page. */
	for (unsigned i = 0; i < bus->nqueues; i++) {
		struct vqueue *q = &bus->queues[i];

		if (q->gpa / PAGE_SIZE != gpa / PAGE_SIZE)
			continue;
		if (q->dev->notify)
			q->dev->notify(vm, q->dev, q);
		return true;
	}
	return false;
}

int vbus_pollfds(struct vm *vm, struct pollfd *fds, int max)
{
	struct vbus *bus = &vm->bus;
	int n = 0;

	for (unsigned i = 0; i < bus->ndevs && n < max; i++) {
		struct vdev *dev = &bus->devs[i];

		if (dev->pollfds)
			n += dev->pollfds(vm, dev, fds + n, max - n);
	}
	return n;
}

void vbus_poll(struct vm *vm)
{
	struct vbus *bus = &vm->bus;

	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];

		if (dev->poll)
			dev->poll(vm, dev);
	}
}

void vbus_teardown(struct vm *vm)
{
	struct vbus *bus = &vm->bus;

	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];

		if (dev->teardown)
			dev->teardown(vm, dev);
	}
}

bool vbus_hold(struct vm *vm, bool on)
{
	struct vbus *bus = &vm->bus;

	for (unsigned i = 0; i < bus->ndevs; i++) {
		struct vdev *dev = &bus->devs[i];

		if (dev->hold && !dev->hold(vm, dev, on)) {
			/* Let go of those already held. */
			while (i-- > 0)
				if (bus->devs[i].hold)
					bus->devs[i].hold(vm, &bus->devs[i], false);
			return false;
		}
	}
	return true;
}

bool vbus_locks(struct vm *vm, bool take)
{
	struct vbus *bus = &vm->bus;
	bool ok = true;

	for (unsigned i = 0; i < bus->ndevs; i++)
		if (bus->devs[i].lock && !bus->devs[i].lock(vm, &bus->devs[i], take))
			ok = false;
	return ok;
}
