/* PCI configuration cycles and a virtio 1.0 PCI driver for the 4.0+ guests:
 * see pci.h.  Compiled into every guest library, used only from G8 on. */
#include "guest.h"
#if GEN_PCI
#include "pci.h"

#define CAP_WALK_MAX 48 /* (256 - 64) / 4: more than that is a loop */
#define RESET_POLLS  1000

uint32_t pci_conf_read(uint32_t latch, unsigned off, unsigned width)
{
	uint16_t port = (uint16_t)(PCI_CONF_DATA + (off & 3));

	outl(PCI_CONF_ADDR, latch);
	switch (width) {
	case 1:
		return inb(port);
	case 2:
		return inw(port);
	default:
		return inl(port);
	}
}

void pci_conf_write(uint32_t latch, unsigned off, unsigned width, uint32_t v)
{
	uint16_t port = (uint16_t)(PCI_CONF_DATA + (off & 3));

	outl(PCI_CONF_ADDR, latch);
	switch (width) {
	case 1:
		outb(port, (uint8_t)v);
		break;
	case 2:
		outw(port, (uint16_t)v);
		break;
	default:
		outl(port, v);
	}
}

unsigned pci_find_vcap(unsigned slot, uint8_t cfg_type)
{
	if (!(pci_read(slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	unsigned at = pci_read(slot, PCI_CAP_PTR, 1) & ~3u;
	/* The standard header ends at 0x40; a pointer into it ends the list. */
	for (unsigned n = 0; n < CAP_WALK_MAX && at >= 0x40; n++) {
		if (pci_read(slot, at, 1) == PCI_CAP_ID_VNDR &&
		    pci_read(slot, at + VCAP_TYPE, 1) == cfg_type)
			return at;
		at = pci_read(slot, at + VCAP_NEXT, 1) & ~3u;
	}
	return 0;
}

void pci_read_vcap(unsigned slot, unsigned at, struct vcap *c)
{
	c->at = (uint8_t)at;
	c->bar = (uint8_t)pci_read(slot, at + VCAP_BAR, 1);
	c->offset = pci_read(slot, at + VCAP_OFFSET, 4);
	c->length = pci_read(slot, at + VCAP_LENGTH, 4);
}

void pci_map_identity(uint32_t gpa, uint32_t len)
{
	for (uint32_t p = gpa & ~0xFFFu; p < gpa + len; p += PAGE_SIZE)
		pt_map(pt_dir, p, p, PTE_P | PTE_W);
}

/* The register pointers follow BAR0 and the capabilities. */
static void point(struct vpci *d)
{
	volatile uint8_t *bar = gpa_ptr(d->bar);

	d->common =
		(volatile struct virtio_pci_common *)(bar + d->cap[VIRTIO_PCI_CAP_COMMON].offset);
	d->notify_base = bar + d->cap[VIRTIO_PCI_CAP_NOTIFY].offset;
	d->isr = bar + d->cap[VIRTIO_PCI_CAP_ISR].offset;
	d->devcfg = bar + d->cap[VIRTIO_PCI_CAP_DEVICE].offset;
	if (d->irq < LGUEST_IRQS)
		virtio_isr[d->irq] = d->isr;
}

int vpci_probe(unsigned slot, struct vpci *d)
{
	uint32_t id = pci_read(slot, PCI_VENDOR_ID, 4);

	memset(d, 0, sizeof(*d));
	if ((id & 0xFFFF) != VIRTIO_PCI_VENDOR || (id >> 16) < 0x1040 || (id >> 16) > 0x107F)
		return 0;
	d->slot = slot;
	d->device_id = (uint16_t)(id >> 16);
	for (uint8_t t = VIRTIO_PCI_CAP_COMMON; t < VIRTIO_PCI_CAP_TYPES; t++) {
		unsigned at = pci_find_vcap(slot, t);

		CHECK(at, "00:%02x.0 has no virtio capability of type %u", slot, t);
		pci_read_vcap(slot, at, &d->cap[t]);
		/* Every structure we use is in BAR0, the only BAR (PCI_CFG's own
		 * bar field is the window's and says nothing). */
		CHECK(t == VIRTIO_PCI_CAP_PCI_CFG || d->cap[t].bar == 0,
		      "00:%02x.0 capability type %u is on BAR%u", slot, t, d->cap[t].bar);
		CHECK(t == VIRTIO_PCI_CAP_PCI_CFG ||
			      d->cap[t].offset + d->cap[t].length <= PAGE_SIZE,
		      "00:%02x.0 capability type %u: %x+%x is past BAR0's 4 KiB", slot, t,
		      d->cap[t].offset, d->cap[t].length);
	}
	d->notify_mult = pci_read(slot, d->cap[VIRTIO_PCI_CAP_NOTIFY].at + VCAP_NOTIFY_MULT, 4);
	d->irq = (uint8_t)pci_read(slot, PCI_INTERRUPT_LINE, 1);
	CHECK(d->irq >= 1 && d->irq < LGUEST_IRQS, "00:%02x.0 interrupt line %u", slot, d->irq);
	d->bar = pci_read(slot, PCI_BAR0, 4) & ~0xFu;
	pci_map_identity(d->bar, PAGE_SIZE);
	uint16_t cmd = (uint16_t)pci_read(slot, PCI_COMMAND, 2);
	pci_write(slot, PCI_COMMAND, 2,
		  (cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER) & ~PCI_CMD_INTX_DISABLE);
	point(d);
	return 1;
}

unsigned vpci_find(uint8_t type, unsigned nth, struct vpci *d)
{
	for (unsigned slot = 1; slot < 32; slot++)
		if (vpci_probe(slot, d) && d->device_id == VIRTIO_PCI_DEVICE(type) && nth-- == 0)
			return slot;
	fail("no virtio device of type %u on PCI bus 0", type);
}

void vpci_move_bar(struct vpci *d, uint32_t gpa)
{
	pci_write(d->slot, PCI_BAR0, 4, gpa);
	d->bar = gpa;
	point(d);
}

void vpci_status(struct vpci *d, uint8_t bits)
{
	d->common->device_status = (uint8_t)(d->common->device_status | bits);
}

uint64_t vpci_device_features(struct vpci *d)
{
	d->common->device_feature_select = 1;
	uint32_t hi = d->common->device_feature;
	d->common->device_feature_select = 0;
	return (uint64_t)hi << 32 | d->common->device_feature;
}

uint64_t vpci_start(struct vpci *d, uint64_t want)
{
	unsigned n;

	d->common->device_status = 0;
	for (n = 0; n < RESET_POLLS && d->common->device_status; n++)
		;
	CHECK(n < RESET_POLLS, "00:%02x.0: status %x after reset", d->slot,
	      d->common->device_status);
	vpci_status(d, VIRTIO_STATUS_ACK);
	vpci_status(d, VIRTIO_STATUS_DRIVER);
	uint64_t have = vpci_device_features(d);
	CHECK(have >> VIRTIO_F_VERSION_1 & 1, "00:%02x.0 does not offer VERSION_1", d->slot);
	uint64_t take = (want | 1ull << VIRTIO_F_VERSION_1) & have;
	d->common->driver_feature_select = 0;
	d->common->driver_feature = (uint32_t)take;
	d->common->driver_feature_select = 1;
	d->common->driver_feature = (uint32_t)(take >> 32);
	vpci_status(d, VIRTIO_STATUS_FEATURES_OK);
	CHECK(d->common->device_status & VIRTIO_STATUS_FEATURES_OK,
	      "00:%02x.0 refused features %x:%x (status %x)", d->slot, (uint32_t)(take >> 32),
	      (uint32_t)take, d->common->device_status);
	return have;
}

static uint32_t align4(uint32_t v)
{
	return (v + 3) & ~3u;
}

uint32_t vring_size(uint16_t num)
{
	/* desc[num]; avail {flags, idx, ring[num], used_event}; used {flags,
	 * idx, ring[num] of 8 bytes, avail_event} at 4-byte alignment. */
	return align4(16u * num + 6 + 2u * num) + 6 + 8u * num;
}

void vpci_queue_raw(struct vpci *d, unsigned index, uint16_t num, uint64_t desc, uint64_t avail,
		    uint64_t used)
{
	volatile struct virtio_pci_common *c = d->common;

	c->queue_select = (uint16_t)index;
	if (num)
		c->queue_size = num;
	c->queue_desc_lo = (uint32_t)desc;
	c->queue_desc_hi = (uint32_t)(desc >> 32);
	c->queue_avail_lo = (uint32_t)avail;
	c->queue_avail_hi = (uint32_t)(avail >> 32);
	c->queue_used_lo = (uint32_t)used;
	c->queue_used_hi = (uint32_t)(used >> 32);
	c->queue_enable = 1;
}

void vpci_queue(struct vpci *d, unsigned index, struct vq *q, uint16_t num, void *mem)
{
	volatile struct virtio_pci_common *c = d->common;
	uint8_t *m = mem;

	CHECK(!((uint32_t)m & 15), "ring memory %p is not 16-aligned", mem);
	c->queue_select = (uint16_t)index;
	uint16_t max = c->queue_size;
	CHECK(max, "00:%02x.0 has no queue %u", d->slot, index);
	if (!num)
		num = max;
	CHECK(num <= max && !(num & (num - 1)), "queue %u: %u entries asked, device has %u", index,
	      num, max);
	memset(m, 0, vring_size(num));
	uint8_t *avail = m + 16u * num, *used = m + align4(16u * num + 6 + 2u * num);
	vpci_queue_raw(d, index, num, (uint32_t)m, (uint32_t)avail, (uint32_t)used);
	CHECK(c->queue_enable == 1, "queue %u: queue_enable reads %u", index, c->queue_enable);
	CHECK(c->queue_size == num, "queue %u: queue_size reads %u after writing %u", index,
	      c->queue_size, num);
	q->cfg.num = num;
	q->cfg.irq = d->irq;
	q->cfg.pfn = 0;
	vq_layout(q, m, avail, used);
	q->doorbell = (volatile uint16_t *)(d->notify_base +
					    (uint32_t)c->queue_notify_off * d->notify_mult);
	q->index = (uint16_t)index;
}

uint64_t vpci_cfg64(struct vpci *d, unsigned off)
{
	for (;;) {
		uint8_t gen = d->common->config_generation;
		uint32_t lo = vpci_cfg32(d, off), hi = vpci_cfg32(d, off + 4);
		if (gen == d->common->config_generation)
			return (uint64_t)hi << 32 | lo;
	}
}
#endif
