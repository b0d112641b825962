/* The 4.x platform: virtio 1.0 "modern" devices on PCI bus 0 (docs/abi.md
 * §H1.7, §H1.8; docs/DESIGN.md §7.3).
 *
 * From 4.0 the lguest guest stopped reading a device page.  It probes PCI
 * through configuration mechanism #1 -- IN and OUT at ring 1, which fault and
 * reach us through pvabi/traps.c -- and finds, as under the 4.x Launcher:
 *
 *	00:00.0	 a host bridge (the guest's "is there a PCI bus?" check wants one)
 *	00:01.0	 the console, always: the early console looks for it there
 *	00:02.0	 then every --disk and --net, in command-line order
 *
 * Each virtio function has one 4 KiB memory BAR, laid out as its
 * capabilities say: the common configuration (features, status, queue
 * setup) at 0x000, one 16-bit doorbell at 0x100 shared by all its queues
 * (notify_off_multiplier 0: the guest writes the queue's index), the
 * interrupt status byte at 0x200 and the device's config struct at 0x300.
 * The BAR sits where no memslot is, so a guest access there leaves the vCPU
 * as KVM_EXIT_MMIO with the instruction already decoded by KVM: we never
 * decode an instruction, unlike the Launcher, which had to.
 *
 * The rings are the guest's: it allocates them and writes their addresses
 * into the common config, and we check them once, at queue_enable, against
 * its RAM.  Interrupts are INTx: one lguest IRQ per device, its number in
 * PCI_INTERRUPT_LINE, with the ISR byte saying why (read-to-clear).
 *
 * The console's emerg_wr register is how the 4.x early console prints,
 * one character per config write through the PCI_CFG window, before any
 * driver has mapped the BAR (virtio/pci.c does the window). */
#include "virtio/virtio_pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm-glue/monitor.h"
#include "src/le.h"
#include "src/log.h"
#include "src/snapshot_format.h"
#include "src/vm.h"
#include "virtio/console.h"
#include "virtio/ring.h"
#include "virtio/transport.h"

/* virtio 1.0 numbers (§4.1.4, §2.1, §6). */
#define CAP_COMMON	1
#define CAP_NOTIFY	2
#define CAP_ISR		3
#define CAP_DEVICE	4
#define CAP_PCI_CFG	5
#define F_VERSION_1	32
#define S_FEATURES_OK	8
#define NO_VECTOR	0xFFFF
#define VIRTIO_VENDOR	0x1AF4
#define VIRTIO_DEV_BASE 0x1040
#define VIRTIO_SUBSYS	0x0040
/* The host bridge: QEMU's vendor id, its "PCIe host bridge" device id, for
 * which no kernel has quirks; class 06/00 is what Linux's probe looks for. */
#define BRIDGE_VENDOR 0x1B36
#define BRIDGE_DEVICE 0x0008

/* Common configuration offsets (struct virtio_pci_common_cfg). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0C,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGEN = 0x15,
	CC_QSELECT = 0x16,
	CC_QSIZE = 0x18,
	CC_QMSIX = 0x1A,
	CC_QENABLE = 0x1C,
	CC_QNOTIFYOFF = 0x1E,
	CC_QDESC = 0x20,
	CC_QAVAIL = 0x28,
	CC_QUSED = 0x30,
};

static struct vpci *pci_of(struct vm *vm)
{
	return &vm->bus.pci;
}

static struct vpci_dev *vd_of(const struct vdev *dev)
{
	return dev->tp;
}

static uint64_t offered(const struct vdev *dev)
{
	return (uint64_t)dev->features | 1ull << F_VERSION_1;
}

/*
 * Doorbells as eventfds.  A queue whose device takes its kicks on an eventfd
 * (q->kick_fd: the block device's I/O thread and the network device's
 * thread wait on one) gets KVM to signal it for a doorbell write carrying
 * that queue's index, so the vCPU does not stop for the kick.  Follows BAR0
 * wherever the guest puts it.
 */
static void kick_fd_move(struct vm *vm, struct vpci_dev *vd, uint32_t to)
{
	struct vdev *dev = vd->dev;
	if (vd->kick_at == to || vm->kvm.vm_fd < 0)
		return;
	for (unsigned i = 0; i < dev->nq; i++) {
		if (dev->q[i]->kick_fd < 0)
			continue;
		struct kvm_ioeventfd e = {
			.len = VPCI_NOTIFY_LEN,
			.datamatch = i,
			.fd = dev->q[i]->kick_fd,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (vd->kick_at) {
			e.addr = vd->kick_at + VPCI_NOTIFY_OFF;
			e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
			ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &e);
			e.flags &= ~(uint32_t)KVM_IOEVENTFD_FLAG_DEASSIGN;
		}
		if (to) {
			e.addr = to + VPCI_NOTIFY_OFF;
			/* Without it the kick exits and reaches the same
			 * eventfd through dev->notify: slower, not wrong. */
			if (ioctl(vm->kvm.vm_fd, KVM_IOEVENTFD, &e) < 0)
				LOG_DEBUG(vm, "%s: no ioeventfd (%s)", dev->name, strerror(errno));
		}
	}
	vd->kick_at = to;
}

/* Command or BAR0 changed: where does the device decode now?  Only where
 * no memslot is -- above RAM and the device area, below the monitor -- and
 * not over another device; anywhere else the BAR is the guest's to park
 * (it writes all-ones to size it), and the device answers nowhere. */
static void vpci_changed(void *ctx, unsigned slot)
{
	struct vpci *p = ctx;
	struct vm *vm = p->vm;
	struct vpci_dev *vd = slot < PCI_SLOTS ? p->by_slot[slot] : NULL;
	if (!vd)
		return;
	const struct pci_fn *f = &p->bus.fn[slot];
	uint64_t at = pci_bar0_addr(f), lo = vm->opt.mem + VBUS_AREA_SIZE;
	bool ok = pci_mem_enabled(f) && at >= lo && at + VPCI_BAR_SIZE <= MON_GPA;
	for (unsigned i = 0; ok && i < vm->bus.ndevs; i++)
		if (&p->devs[i] != vd && p->devs[i].decode && p->devs[i].decode == at)
			ok = false;
	vd->decode = ok ? (uint32_t)at : 0;
	kick_fd_move(vm, vd, vd->decode);
}

/*
 * The common configuration.
 */

static void queue_defaults(struct vpci_dev *vd, unsigned i)
{
	memset(&vd->qc[i], 0, sizeof(vd->qc[i]));
	vd->qc[i].size = VBUS_QUEUE_NUM;
}

/* Status 0: the driver lets go of the device, or starts afresh.  Queues stop
 * being walked before their indices restart. */
static void device_reset(struct vpci_dev *vd)
{
	struct vdev *dev = vd->dev;
	for (unsigned i = 0; i < dev->nq; i++) {
		vring_reset(dev->q[i]);
		queue_defaults(vd, i);
	}
	vd->gfeatures[0] = vd->gfeatures[1] = 0;
	vd->dfselect = vd->gfselect = 0;
	vd->qselect = 0;
	vd->status = 0;
	atomic_store(&vd->isr, 0);
}

static bool part_ok(struct vm *vm, struct vpci_dev *vd, unsigned qi, const char *what,
		    const uint32_t addr[2], unsigned align, uint32_t bytes)
{
	const char *name = vd->dev->name;
	unsigned slot = vd->dev->slot;
	if (addr[1]) {
		guest_kill(vm,
			   "virtio-pci 00:%02x.0 (%s): queue %u: 64-bit %s ring address %#x%08x",
			   slot, name, qi, what, addr[1], addr[0]);
		return false;
	}
	if (addr[0] % align) {
		guest_kill(vm, "virtio-pci 00:%02x.0 (%s): queue %u: %s ring at %#x is misaligned",
			   slot, name, qi, what, addr[0]);
		return false;
	}
	if ((uint64_t)addr[0] + bytes > vm->opt.mem || !gm_ptr(&vm->mem, addr[0], bytes)) {
		guest_kill(vm,
			   "virtio-pci 00:%02x.0 (%s): queue %u: %s ring at %#x+%u lies outside "
			   "guest memory",
			   slot, name, qi, what, addr[0], bytes);
		return false;
	}
	return true;
}

/* queue_enable = 1 (virtio 1.0 §4.1.4.3.2: everything else is set first).
 * From here on the ring is walked where the guest said, so this is where it
 * is checked: every part inside the guest's RAM, naturally aligned, a size
 * we can walk. */
static void queue_enable(struct vm *vm, struct vpci_dev *vd, unsigned qi)
{
	struct vpci_queue *c = &vd->qc[qi];
	struct vqueue *q = vd->dev->q[qi];
	unsigned n = c->size;
	if (c->enabled)
		return;
	if (n == 0 || n > VBUS_QUEUE_NUM || (n & (n - 1))) {
		guest_kill(vm,
			   "virtio-pci 00:%02x.0 (%s): queue %u: size %u is not a power of two up "
			   "to %u",
			   vd->dev->slot, vd->dev->name, qi, n, VBUS_QUEUE_NUM);
		return;
	}
	if (!part_ok(vm, vd, qi, "descriptor", c->desc, 16, vring_desc_bytes(n)) ||
	    !part_ok(vm, vd, qi, "available", c->avail, 2, vring_avail_bytes(n)) ||
	    !part_ok(vm, vd, qi, "used", c->used, 4, vring_used_bytes(n)))
		return;
	vring_lock(q);
	__atomic_store_n(&q->num, (uint16_t)n, __ATOMIC_RELAXED);
	q->desc = c->desc[0];
	q->avail = c->avail[0];
	q->used = c->used[0];
	q->last_avail = q->last_used = 0;
	c->enabled = true;
	atomic_store_explicit(&q->ready, true, memory_order_release);
	vring_unlock(q);
}

/* The common config as the guest would read it now. */
static void common_image(const struct vpci_dev *vd, uint8_t img[VPCI_COMMON_LEN])
{
	const struct vdev *dev = vd->dev;
	memset(img, 0, VPCI_COMMON_LEN);
	le32_put(img + CC_DFSELECT, vd->dfselect);
	if (vd->dfselect < 2)
		le32_put(img + CC_DF, (uint32_t)(offered(dev) >> (32 * vd->dfselect)));
	le32_put(img + CC_GFSELECT, vd->gfselect);
	if (vd->gfselect < 2)
		le32_put(img + CC_GF, vd->gfeatures[vd->gfselect]);
	le16_put(img + CC_MSIX, NO_VECTOR);
	le16_put(img + CC_NUMQ, (uint16_t)dev->nq);
	img[CC_STATUS] = vd->status;
	img[CC_CFGGEN] = 0; /* our device config never changes under the guest */
	le16_put(img + CC_QSELECT, vd->qselect);
	if (vd->qselect < dev->nq) {
		const struct vpci_queue *c = &vd->qc[vd->qselect];
		le16_put(img + CC_QSIZE, c->size);
		le16_put(img + CC_QMSIX, NO_VECTOR);
		le16_put(img + CC_QENABLE, c->enabled);
		le16_put(img + CC_QNOTIFYOFF, 0);
		for (unsigned w = 0; w < 2; w++) {
			le32_put(img + CC_QDESC + 4 * w, c->desc[w]);
			le32_put(img + CC_QAVAIL + 4 * w, c->avail[w]);
			le32_put(img + CC_QUSED + 4 * w, c->used[w]);
		}
	}
}

/* Did a write of [off, off+len) touch the field at [field, field+size)? */
static bool touched(unsigned off, unsigned len, unsigned field, unsigned size)
{
	return off < field + size && field < off + len;
}

static void status_write(struct vpci_dev *vd, uint8_t v)
{
	if (v == 0) {
		device_reset(vd);
		return;
	}
	/* FEATURES_OK only for an acceptable set: VERSION_1, nothing we did not
	 * offer.  The driver reads the status back to learn the verdict. */
	if ((v & S_FEATURES_OK) && !(vd->status & S_FEATURES_OK)) {
		uint64_t acc = (uint64_t)vd->gfeatures[1] << 32 | vd->gfeatures[0];
		if (!(acc & 1ull << F_VERSION_1) || (acc & ~offered(vd->dev)))
			v &= (uint8_t)~S_FEATURES_OK;
	}
	vd->status = v;
}

/* A write of any width at any offset: merged into the image, then every
 * field it touched takes its new value. */
static void common_write(struct vm *vm, struct vpci_dev *vd, unsigned off, unsigned len,
			 uint32_t val)
{
	uint8_t img[VPCI_COMMON_LEN];
	common_image(vd, img);
	for (unsigned i = 0; i < len && off + i < VPCI_COMMON_LEN; i++)
		img[off + i] = (uint8_t)(val >> (8 * i));
	struct vdev *dev = vd->dev;
	unsigned qi = vd->qselect;
	struct vpci_queue *c = qi < dev->nq ? &vd->qc[qi] : NULL;

	if (touched(off, len, CC_DFSELECT, 4))
		vd->dfselect = le_get(img + CC_DFSELECT, 4);
	if (touched(off, len, CC_GFSELECT, 4))
		vd->gfselect = le_get(img + CC_GFSELECT, 4);
	if (touched(off, len, CC_GF, 4) && vd->gfselect < 2 && !(vd->status & S_FEATURES_OK))
		vd->gfeatures[vd->gfselect] = le_get(img + CC_GF, 4);
	if (touched(off, len, CC_QSELECT, 2)) {
		vd->qselect = (uint16_t)le_get(img + CC_QSELECT, 2);
		return; /* a new queue's fields are not the ones in img */
	}
	/* Queue fields are frozen once it is enabled (§4.1.4.3.2). */
	if (c && !c->enabled) {
		if (touched(off, len, CC_QSIZE, 2))
			c->size = (uint16_t)le_get(img + CC_QSIZE, 2);
		for (unsigned w = 0; w < 2; w++) {
			if (touched(off, len, CC_QDESC + 4 * w, 4))
				c->desc[w] = le_get(img + CC_QDESC + 4 * w, 4);
			if (touched(off, len, CC_QAVAIL + 4 * w, 4))
				c->avail[w] = le_get(img + CC_QAVAIL + 4 * w, 4);
			if (touched(off, len, CC_QUSED + 4 * w, 4))
				c->used[w] = le_get(img + CC_QUSED + 4 * w, 4);
		}
		if (touched(off, len, CC_QENABLE, 2) && le_get(img + CC_QENABLE, 2) == 1)
			queue_enable(vm, vd, qi);
	}
	if (touched(off, len, CC_STATUS, 1))
		status_write(vd, img[CC_STATUS]);
}

/*
 * BAR0.
 */

static uint32_t bar_read(struct vm *vm, struct vpci_dev *vd, uint32_t off, unsigned len)
{
	struct vdev *dev = vd->dev;
	(void)vm;
	if (off < VPCI_COMMON_OFF + VPCI_COMMON_LEN) {
		uint8_t img[VPCI_COMMON_LEN];
		common_image(vd, img);
		uint8_t b[4] = {0};
		for (unsigned i = 0; i < len && off + i < VPCI_COMMON_LEN; i++)
			b[i] = img[off + i];
		return le_get(b, len);
	}
	if (off == VPCI_ISR_OFF)
		return atomic_exchange(&vd->isr, 0) & 0xFF;
	if (off >= VPCI_DEVICE_OFF && off - VPCI_DEVICE_OFF < dev->config_len) {
		uint8_t b[4] = {0};
		unsigned c = off - VPCI_DEVICE_OFF;
		for (unsigned i = 0; i < len && c + i < dev->config_len; i++)
			b[i] = dev->config[c + i];
		return le_get(b, len);
	}
	return 0; /* the doorbell, and the gaps between the regions */
}

static void bar_write(struct vm *vm, struct vpci_dev *vd, uint32_t off, unsigned len, uint32_t val)
{
	struct vdev *dev = vd->dev;
	if (off < VPCI_COMMON_OFF + VPCI_COMMON_LEN) {
		common_write(vm, vd, off, len, val);
	} else if (off >= VPCI_NOTIFY_OFF && off < VPCI_NOTIFY_OFF + VPCI_NOTIFY_LEN) {
		/* The value is the queue's index; a queue that is not
		 * enabled (or not there) has nothing to look at. */
		uint32_t qi = val & 0xFFFF;
		if (vm->opt.verbose > 1)
			log_msg("pci: %s: notify queue %u%s", dev->name, qi,
				qi < dev->nq && vd->qc[qi].enabled ? "" : " (not enabled)");
		if (qi < dev->nq && vd->qc[qi].enabled && dev->notify)
			dev->notify(vm, dev, dev->q[qi]);
	} else if (off >= VPCI_DEVICE_OFF && off - VPCI_DEVICE_OFF < dev->config_len) {
		if (dev->config_write)
			dev->config_write(vm, dev, off - VPCI_DEVICE_OFF, len, val);
	}
}

/* Through the PCI_CFG window (virtio/pci.c checked offset and length). */
static uint32_t window_read(void *ctx, unsigned slot, uint32_t off, unsigned len)
{
	struct vpci *p = ctx;
	struct vpci_dev *vd = slot < PCI_SLOTS ? p->by_slot[slot] : NULL;
	return vd ? bar_read(p->vm, vd, off, len) : 0;
}

static void window_write(void *ctx, unsigned slot, uint32_t off, unsigned len, uint32_t val)
{
	struct vpci *p = ctx;
	struct vpci_dev *vd = slot < PCI_SLOTS ? p->by_slot[slot] : NULL;
	if (vd)
		bar_write(p->vm, vd, off, len, val);
}

/* For the monitor's port-write fast path (pvabi/fastpath.c): where the
 * console's PCI_CFG window is, and its state and the address latch now. */
bool vpci_console_window(struct vm *vm, unsigned *slot, unsigned *window, uint32_t *emerg_off)
{
	struct vpci *p = pci_of(vm);
	struct vpci_dev *vd = p->by_slot[1];
	if (vm->bus.tp != &virtio_pci || !vd || vd->dev->type != VIRTIO_ID_CONSOLE ||
	    !p->bus.fn[1].window)
		return false;
	*slot = 1;
	*window = p->bus.fn[1].window;
	*emerg_off = VPCI_DEVICE_OFF + CONSOLE_CFG_EMERG_WR;
	return true;
}

uint32_t vpci_present_slots(struct vm *vm)
{
	struct vpci *p = pci_of(vm);
	uint32_t bits = 0;
	if (vm->bus.tp != &virtio_pci)
		return 0;
	for (unsigned i = 0; i < PCI_SLOTS && i < 32; i++)
		bits |= p->bus.fn[i].present ? 1u << i : 0;
	return bits;
}

void vpci_console_cap(struct vm *vm, uint32_t *latch, uint8_t cap[12])
{
	struct vpci *p = pci_of(vm);
	*latch = p->bus.addr;
	memcpy(cap, p->bus.fn[1].cfg + p->bus.fn[1].window + 4, 12);
}

/*
 * The transport interface.
 */

/* Slot 1 is the console's, whenever it comes (lgkvm adds it last, after
 * the --disk and --net devices, as the device pages listed it); the others
 * take slots 2, 3... in the order they come.  A device's interrupt line is
 * its slot number: distinct, below 32, and in slot order. */
static int pci_add_device(struct vm *vm, struct vdev *dev)
{
	struct vbus *bus = &vm->bus;
	unsigned i = (unsigned)(dev - bus->devs), others = 0;
	for (unsigned j = 0; j < i; j++)
		others += bus->devs[j].type != VIRTIO_ID_CONSOLE;
	unsigned slot = dev->type == VIRTIO_ID_CONSOLE && !bus->pci.by_slot[1] ? 1 : others + 2;
	if (i >= VPCI_MAX_DEVS || slot >= PCI_SLOTS || bus->pci.by_slot[slot] || slot >= LG_IRQS) {
		log_msg("too many PCI devices (adding %s)", dev->name);
		return -1;
	}
	struct vpci_dev *vd = &bus->pci.devs[i];
	memset(vd, 0, sizeof(*vd));
	vd->dev = dev;
	dev->tp = vd;
	dev->slot = slot;
	dev->irq = (uint8_t)slot;
	bus->pci.by_slot[slot] = vd;
	return 0;
}

static int pci_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			  unsigned offset, uint8_t len, const void *val)
{
	(void)vm;
	(void)v1_type;
	return vbus_config_struct(dev, feature, offset, len, val);
}

static int pci_add_queue(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	(void)vm;
	if (q->index >= VPCI_MAX_QUEUES || q->num > VBUS_QUEUE_NUM) {
		log_msg("%s: too many virtqueues", dev->name);
		return -1;
	}
	/* Nothing to walk until the guest enables it. */
	q->irq = dev->irq;
	queue_defaults(vd_of(dev), q->index);
	return 0;
}

/* Class and subclass, as the Launcher gave them: Linux does not care, a
 * person reading lspci does. */
static uint16_t dev_class(uint8_t type)
{
	switch (type) {
	case VIRTIO_ID_NET:
		return 0x0200; /* network, Ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x0180; /* mass storage, other */
	default:
		return 0x0700; /* simple communications, serial */
	}
}

/* A virtio capability (struct virtio_pci_cap, 16 bytes, + extra). */
static uint8_t add_vcap(struct pci_fn *f, uint8_t type, uint32_t off, uint32_t len,
			const void *extra, unsigned extra_len)
{
	uint8_t c[20] = {0};
	c[2] = (uint8_t)(16 + extra_len); /* cap_len */
	c[3] = type;
	c[4] = 0; /* bar */
	le32_put(c + 8, off);
	le32_put(c + 12, len);
	if (extra_len)
		memcpy(c + 16, extra, extra_len);
	return pci_add_cap(f, PCI_CAP_ID_VNDR, c, 16 + extra_len);
}

static int build_fn(struct vm *vm, struct vdev *dev)
{
	struct vpci *p = &vm->bus.pci;
	uint32_t class24 = (uint32_t)dev_class(dev->type) << 8;
	struct pci_fn *f = pci_add_fn(&p->bus, dev->slot, VIRTIO_VENDOR,
				      (uint16_t)(VIRTIO_DEV_BASE + dev->type), 1, class24);
	uint32_t zero = 0;
	uint8_t w;
	if (!f) {
		log_msg("%s: PCI slot %u is taken", dev->name, dev->slot);
		return -1;
	}
	pci_set_subsystem(f, VIRTIO_VENDOR, VIRTIO_SUBSYS);
	/* Pin 0, as the Launcher: the 4.x guest routes by the line alone
	 * (its pcibios_enable_irq hook). */
	pci_set_irq(f, dev->irq, 0);
	pci_set_bar0(f,
		     (uint32_t)(vm->opt.mem + VBUS_AREA_SIZE +
				(uint64_t)(dev->slot - 1) * VPCI_BAR_SIZE),
		     VPCI_BAR_SIZE);
	if (!add_vcap(f, CAP_COMMON, VPCI_COMMON_OFF, VPCI_COMMON_LEN, NULL, 0) ||
	    !add_vcap(f, CAP_NOTIFY, VPCI_NOTIFY_OFF, VPCI_NOTIFY_LEN, &zero, 4) ||
	    !add_vcap(f, CAP_ISR, VPCI_ISR_OFF, 1, NULL, 0) ||
	    (dev->config_len &&
	     !add_vcap(f, CAP_DEVICE, VPCI_DEVICE_OFF, dev->config_len, NULL, 0)) ||
	    !(w = add_vcap(f, CAP_PCI_CFG, 0, 0, &zero, 4))) {
		log_msg("%s: no room for its PCI capabilities", dev->name);
		return -1;
	}
	pci_set_window(f, w);
	vpci_changed(p, dev->slot);
	LOG_DEBUG(vm, "virtio-pci 00:%02x.0: %s, IRQ %u, BAR0 %#x", dev->slot, dev->name, dev->irq,
		  pci_bar0_addr(f));
	return 0;
}

static int pci_finish(struct vm *vm)
{
	for (unsigned i = 0; i < vm->bus.ndevs; i++)
		if (build_fn(vm, &vm->bus.devs[i]) < 0)
			return -1;
	return 0;
}

static uint8_t pci_status(const struct vm *vm, const struct vdev *dev)
{
	(void)vm;
	return vd_of(dev)->status;
}

static void pci_interrupt(struct vm *vm, struct vqueue *q)
{
	atomic_fetch_or(&vd_of(q->dev)->isr, 1u);
	vm_raise_irq(vm, q->dev->irq);
}

/* The guest may name its RAM and nothing else: no device area here. */
static uint64_t pci_limit(const struct vm *vm)
{
	return vm->opt.mem;
}

const struct vtransport virtio_pci = {
	.name = "virtio-pci",
	.add_device = pci_add_device,
	.add_config = pci_add_config,
	.add_queue = pci_add_queue,
	.finish = pci_finish,
	.status = pci_status,
	.interrupt = pci_interrupt,
	.limit = pci_limit,
};

/* Bus 0 with its host bridge, before any device (vbus_init). */
void vpci_init(struct vm *vm)
{
	struct vpci *p = pci_of(vm);
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->bus.ctx = p;
	p->bus.bar_read = window_read;
	p->bus.bar_write = window_write;
	p->bus.changed = vpci_changed;
	pci_add_fn(&p->bus, 0, BRIDGE_VENDOR, BRIDGE_DEVICE, 0, 0x060000);
}

bool vbus_pio(struct vm *vm, uint16_t port, unsigned len, bool write, uint32_t *val)
{
	if (vm->bus.tp != &virtio_pci || !pci_is_port(port))
		return false;
	if (write)
		pci_port_write(&pci_of(vm)->bus, port, len, *val);
	else
		*val = pci_port_read(&pci_of(vm)->bus, port, len);
	if (vm->opt.verbose > 1)
		log_msg("pci: %s %#x/%u %#x (address %#x)", write ? "out" : "in", port, len, *val,
			pci_of(vm)->bus.addr);
	return true;
}

bool vbus_mmio(struct vm *vm, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	struct vpci *p = pci_of(vm);
	if (vm->bus.tp != &virtio_pci || len == 0 || len > 8)
		return false;
	for (unsigned i = 0; i < vm->bus.ndevs; i++) {
		struct vpci_dev *vd = &p->devs[i];
		if (!vd->decode || gpa < vd->decode ||
		    gpa + len > (uint64_t)vd->decode + VPCI_BAR_SIZE)
			continue;
		uint32_t off = (uint32_t)(gpa - vd->decode);
		/* Registers are at most 32 bits; a wider access (a guest
		 * being odd) is taken as two halves. */
		for (unsigned done = 0; done < len; done += 4) {
			unsigned n = len - done < 4 ? len - done : 4;
			if (write)
				bar_write(vm, vd, off + done, n, le_get(data + done, n));
			else {
				uint32_t v = bar_read(vm, vd, off + done, n);
				for (unsigned b = 0; b < n; b++)
					data[done + b] = (uint8_t)(v >> (8 * b));
			}
		}
		if (vm->opt.verbose > 1)
			log_msg("pci: MMIO %s 00:%02x.0+%#x/%u %#x", write ? "write" : "read",
				vd->dev->slot, off, len, le_get(data, len));
		return true;
	}
	return false;
}

/*
 * Snapshots (src/snapshot.c): a function's state out, and back in through
 * the checks a guest's own writes meet.
 */

void vpci_state_save(struct vm *vm, const struct vdev *dev, struct snap_pci *out)
{
	const struct vpci_dev *vd = vd_of(dev);
	memset(out, 0, sizeof(*out));
	memcpy(out->cfg, pci_of(vm)->bus.fn[dev->slot].cfg, sizeof(out->cfg));
	out->dfselect = vd->dfselect;
	out->gfselect = vd->gfselect;
	out->gfeatures[0] = vd->gfeatures[0];
	out->gfeatures[1] = vd->gfeatures[1];
	out->status = vd->status;
	out->qselect = vd->qselect;
	out->isr = atomic_load(&vd->isr);
	for (unsigned i = 0; i < dev->nq && i < VPCI_MAX_QUEUES; i++) {
		const struct vpci_queue *c = &vd->qc[i];
		out->qc[i].size = c->size;
		out->qc[i].enabled = c->enabled;
		memcpy(out->qc[i].desc, c->desc, sizeof(c->desc));
		memcpy(out->qc[i].avail, c->avail, sizeof(c->avail));
		memcpy(out->qc[i].used, c->used, sizeof(c->used));
	}
}

/* Config space: only the bits a guest may write come from the snapshot
 * (the rest are the device's, rebuilt); then the BAR decodes where those
 * say, exactly as after the guest's own writes.  The common config: the
 * feature set must be one FEATURES_OK would accept, and an enabled queue
 * passes queue_enable's checks or the restore fails (vm->dead says why). */
void vpci_state_load(struct vm *vm, struct vdev *dev, const struct snap_pci *in)
{
	struct vpci *p = pci_of(vm);
	struct vpci_dev *vd = vd_of(dev);
	struct pci_fn *f = &p->bus.fn[dev->slot];
	for (unsigned i = 0; i < PCI_CFG_SPACE; i++)
		f->cfg[i] = (uint8_t)((f->cfg[i] & ~f->wmask[i]) | (in->cfg[i] & f->wmask[i]));
	vpci_changed(p, dev->slot);
	vd->dfselect = in->dfselect;
	vd->gfselect = in->gfselect;
	vd->gfeatures[0] = in->gfeatures[0];
	vd->gfeatures[1] = in->gfeatures[1];
	vd->qselect = in->qselect;
	vd->status = 0;
	if (in->status)
		status_write(vd, in->status);
	if (vd->status != in->status) {
		guest_kill(vm,
			   "virtio-pci 00:%02x.0 (%s): a device status (%#x) its features "
			   "do not allow",
			   dev->slot, dev->name, in->status);
		return;
	}
	atomic_store(&vd->isr, in->isr & 3);
	for (unsigned i = 0; i < dev->nq && i < VPCI_MAX_QUEUES && !vm->dead; i++) {
		struct vpci_queue *c = &vd->qc[i];
		c->size = in->qc[i].size;
		memcpy(c->desc, in->qc[i].desc, sizeof(c->desc));
		memcpy(c->avail, in->qc[i].avail, sizeof(c->avail));
		memcpy(c->used, in->qc[i].used, sizeof(c->used));
		c->enabled = false;
		if (in->qc[i].enabled)
			queue_enable(vm, vd, i);
	}
}
