/* A very small virtio driver for the lguest bus (§9): see virtio.h. */
#include "virtio.h"

/* 2.6.23 had no virtio (its devices are on the DMA bus: dma_bus.c). */
#if !GEN_DMA

#define WINDOW	     0x80000000u
#define WINDOW_PAGES 1024u    /* one page table's worth */
#define MS	     1000000u /* SET_CLOCKEVENT takes nanoseconds */
#define TICK_MS	     10u

volatile unsigned virtio_irq_count[LGUEST_IRQS];
volatile uint8_t *virtio_isr[LGUEST_IRQS];
volatile uint8_t virtio_isr_seen[LGUEST_IRQS];

#if !GEN_PCI
static uint32_t dev_gpa;

/* Map `pages` pages of the device area at `gpa` into the window. */
static void *map_dev(uint32_t gpa, uint32_t pages)
{
	uint32_t idx = (gpa - dev_gpa) / PAGE_SIZE;

	CHECK(gpa >= dev_gpa && !(gpa & 0xFFF) && idx + pages <= WINDOW_PAGES,
	      "device memory %x (%u pages) outside our window", gpa, pages);
	for (uint32_t i = 0; i < pages; i++)
		pt_map(pt_dir, WINDOW + (idx + i) * PAGE_SIZE, gpa + i * PAGE_SIZE, PTE_P | PTE_W);
	return (void *)(WINDOW + idx * PAGE_SIZE);
}

#endif

static void irq_handler(struct trap_frame *f)
{
	unsigned irq = (f->vector - 32) & (LGUEST_IRQS - 1);

	virtio_irq_count[irq]++;
	if (virtio_isr[irq])
		virtio_isr_seen[irq] |= *virtio_isr[irq]; /* reading acknowledges */
}

void virtio_init(void)
{
	pt_build_identity();
	uint32_t switched = MON_HANDLED_NR(LHCALL_NEW_PGTABLE);
	pt_activate(pt_dir);
	/* The monitor switched directories itself (PAE too). */
	if (MON_TRAPS_IN_VM)
		CHECK(MON_HANDLED_NR(LHCALL_NEW_PGTABLE) == switched + 1,
		      "NEW_PGTABLE went through lgkvm, not the monitor");
#if !GEN_PCI
	dev_gpa = ram_size();
	map_dev(dev_gpa, 1);
#endif
	idt_init_linux();
	for (unsigned irq = 0; irq < LGUEST_IRQS; irq++)
		set_trap_handler(32 + irq, irq_handler);
	lguest_data.blocked_interrupts = 0; /* the timer too: vq_wait uses it */
}

#if !GEN_PCI
#if GEN_DEVPAGE_V2
#define REC_HDR	   5
#define REC_STATUS 4
static uint32_t rec_len(volatile uint8_t *r)
{
	return REC_HDR + 8u * r[1] + 2u * r[2] + r[3];
}
#else
#define REC_HDR	   3
#define REC_STATUS 2
static uint32_t rec_len(volatile uint8_t *r)
{
	return REC_HDR + r[1];
}
#endif

void virtio_find(uint8_t type, unsigned nth, struct vdev *d)
{
	volatile uint8_t *page = (volatile uint8_t *)WINDOW;
	uint32_t off = 0;

	while (off + REC_HDR <= PAGE_SIZE && page[off]) {
		uint32_t len = rec_len(page + off);

		CHECK(off + len <= PAGE_SIZE, "device record at %u overruns the page", off);
		if (page[off] == type && nth-- == 0) {
			d->rec = page + off;
			d->gpa = dev_gpa + off;
			d->next_vq = 0;
#if GEN_DEVPAGE_V2
			/* As register_virtio_device: reset first (status 0 and a
			 * NOTIFY of the record, §H4 item 2), then acknowledge. */
			d->rec[REC_STATUS] = 0;
			hcall(LHCALL_NOTIFY, d->gpa, 0, 0);
#endif
			virtio_status(d, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
			return;
		}
		off += len;
	}
	fail("no device of type %u on the device page", type);
}

#if GEN_DEVPAGE_V2
int virtio_config(struct vdev *d, uint8_t type, void *val, uint8_t len)
{
	/* The 2.6.24 TLV types, as feature bit and config offset (§H1.7). */
	int feature = -1, flen = 0;
	unsigned off = 0;
	switch (d->rec[0] << 8 | type) {
	case VIRTIO_ID_BLOCK << 8 | 0x41: /* capacity: always there */
		flen = 8;
		break;
	case VIRTIO_ID_BLOCK << 8 | 0x43: /* SEG_MAX */
		feature = 2, off = 12, flen = 4;
		break;
	case VIRTIO_ID_NET << 8 | 0x41: /* MAC */
		feature = 5, off = 0, flen = 6;
		break;
	default:
		return -1;
	}
	volatile uint8_t *feat = d->rec + REC_HDR + 8u * d->rec[1];
	unsigned fbytes = d->rec[2];
	volatile uint8_t *cfg = feat + 2 * fbytes;
	if (feature >= 0) {
		if ((unsigned)feature / 8 >= fbytes || !(feat[feature / 8] & (1u << (feature % 8))))
			return -1;
		feat[fbytes + feature / 8] |= (uint8_t)(1u << (feature % 8)); /* ack */
	}
	CHECK(off + flen <= d->rec[3], "config item at %u overruns the record", off);
	for (int j = 0; j < flen && j < len; j++)
		((uint8_t *)val)[j] = cfg[off + j];
	return flen;
}
#else
int virtio_config(struct vdev *d, uint8_t type, void *val, uint8_t len)
{
	volatile uint8_t *cfg = d->rec + 3;
	uint8_t clen = d->rec[1];

	for (uint32_t i = 0; i + 2 <= clen; i += 2u + cfg[i + 1]) {
		uint8_t flen = cfg[i + 1];

		if (cfg[i] != type)
			continue;
		CHECK(i + 2u + flen <= clen, "config field %x overruns its record", type);
		for (uint32_t j = 0; j < flen && j < len; j++)
			((uint8_t *)val)[j] = cfg[i + 2 + j];
		cfg[i] |= 0x80; /* used, as lg_find does */
		return flen;
	}
	return -1;
}
#endif

void virtio_status(struct vdev *d, uint8_t bits)
{
	d->rec[REC_STATUS] |= bits;
#if GEN_DEVPAGE_V2
	/* 2.6.26+ tell the host about every status change (§H1.7). */
	hcall(LHCALL_NOTIFY, d->gpa, 0, 0);
#endif
}

static uint32_t used_offset(uint32_t num)
{
	return (16 * num + 4 + 2 * num + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

void vq_find(struct vdev *d, struct vq *q, const char *what)
{
#if GEN_DEVPAGE_V2
	CHECK(d->next_vq < d->rec[1], "%s queue: the device has only %u", what, d->rec[1]);
	volatile uint8_t *c = d->rec + REC_HDR + 8u * d->next_vq++;
	q->cfg.num = (uint16_t)(c[0] | c[1] << 8);
	q->cfg.irq = (uint16_t)(c[2] | c[3] << 8);
	q->cfg.pfn =
		(uint32_t)c[4] | (uint32_t)c[5] << 8 | (uint32_t)c[6] << 16 | (uint32_t)c[7] << 24;
	int len = 8;
#else
	int len = virtio_config(d, VIRTIO_CONFIG_F_VIRTQUEUE, &q->cfg, sizeof(q->cfg));
#endif
	uint32_t num = q->cfg.num;

	CHECK(len == sizeof(q->cfg), "%s queue: field of length %d", what, len);
	CHECK(num && !(num & (num - 1)) && num <= 1024, "%s queue size %u", what, num);
	CHECK(q->cfg.irq >= 1 && q->cfg.irq < LGUEST_IRQS, "%s queue irq %u", what, q->cfg.irq);
	uint32_t size = used_offset(num) + 4 + 8 * num;
	uint8_t *ring = map_dev(q->cfg.pfn * PAGE_SIZE, (size + PAGE_SIZE - 1) / PAGE_SIZE);
	vq_layout(q, ring, ring + 16 * num, ring + used_offset(num));
}
#endif /* !GEN_PCI */

void vq_layout(struct vq *q, void *desc, void *avail, void *used)
{
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	q->last_used = q->used[1];
	q->next_desc = 0;
}

static void publish(struct vq *q, uint16_t head)
{
	uint16_t idx = q->avail[1];

	q->avail[2 + idx % q->cfg.num] = head;
	__asm__ volatile("" ::: "memory"); /* the entry before idx (x86 keeps store order) */
	q->avail[1] = idx + 1;
}

uint16_t vq_add(struct vq *q, const struct vbuf *bufs, unsigned n)
{
	uint16_t head = q->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((q->next_desc + i) % q->cfg.num);

		q->desc[d].addr = (uint32_t)bufs[i].addr; /* identity map: address = GPA */
		q->desc[d].len = bufs[i].len;
		q->desc[d].flags = (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) |
					      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		q->desc[d].next = (uint16_t)((d + 1) % q->cfg.num);
	}
	q->next_desc = (uint16_t)((q->next_desc + n) % q->cfg.num);
	publish(q, head);
	return head;
}

void vq_repost(struct vq *q, uint16_t head)
{
	publish(q, head);
}

void vq_kick(struct vq *q)
{
	__asm__ volatile("lock; addl $0, (%%esp)" ::: "memory"); /* idx before flags */
	if (q->used[0] & VRING_USED_F_NO_NOTIFY)
		return;
#if GEN_PCI
	*q->doorbell = q->index;
#else
	hcall(LHCALL_NOTIFY, q->cfg.pfn * PAGE_SIZE, 0, 0);
#endif
}

int vq_used(struct vq *q, uint32_t *id, uint32_t *len)
{
	if (q->used[1] == q->last_used)
		return 0;
	__asm__ volatile("" ::: "memory"); /* idx before the element */
	volatile uint32_t *e = (volatile uint32_t *)(q->used + 2) + 2 * (q->last_used % q->cfg.num);
	*id = e[0];
	*len = e[1];
	q->last_used++;
	return 1;
}

int vq_wait(struct vq *q, uint32_t *id, uint32_t *len, uint32_t ms)
{
	unsigned ticks = 0;

	for (;;) {
		if (vq_used(q, id, len))
			return 1;
		if (ticks * TICK_MS >= ms)
			return 0;
		/* safe_halt: interrupts off, look once more, then sleep until
		 * an interrupt (the device's, or the timer's as a timeout). */
		lguest_data.irq_enabled = 0;
		if (q->used[1] != q->last_used)
			continue;
		unsigned before = virtio_irq_count[0];
		hcall(LHCALL_SET_CLOCKEVENT, TICK_MS * MS, 0, 0);
		hcall(LHCALL_HALT, 0, 0, 0);
		if (virtio_irq_count[0] != before)
			ticks++;
	}
}
#endif /* !GEN_DMA */
