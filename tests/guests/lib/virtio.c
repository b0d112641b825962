/* A very small virtio driver for the lguest bus (§9): see virtio.h. */
#include "virtio.h"

#define WINDOW	     0x80000000u
#define WINDOW_PAGES 1024u    /* one page table's worth */
#define MS	     1000000u /* SET_CLOCKEVENT takes nanoseconds */
#define TICK_MS	     10u

volatile unsigned virtio_irq_count[LGUEST_IRQS];

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

static void irq_handler(struct trap_frame *f)
{
	virtio_irq_count[(f->vector - 32) & (LGUEST_IRQS - 1)]++;
}

void virtio_init(void)
{
	dev_gpa = ram_size();
	pt_build_identity();
	pt_activate(pt_dir);
	map_dev(dev_gpa, 1);
	idt_init_linux();
	for (unsigned irq = 0; irq < LGUEST_IRQS; irq++)
		set_trap_handler(32 + irq, irq_handler);
	lguest_data.blocked_interrupts = 0; /* the timer too: vq_wait uses it */
}

void virtio_find(uint8_t type, unsigned nth, struct vdev *d)
{
	volatile uint8_t *page = (volatile uint8_t *)WINDOW;
	uint32_t off = 0;

	while (off + 3 <= PAGE_SIZE && page[off]) {
		uint8_t clen = page[off + 1];

		CHECK(off + 3 + clen <= PAGE_SIZE, "device record at %u overruns the page", off);
		if (page[off] == type && nth-- == 0) {
			d->rec = page + off;
			virtio_status(d, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
			return;
		}
		off += 3 + clen;
	}
	fail("no device of type %u on the device page", type);
}

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

void virtio_status(struct vdev *d, uint8_t bits)
{
	d->rec[2] |= bits;
}

static uint32_t used_offset(uint32_t num)
{
	return (16 * num + 4 + 2 * num + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

void vq_find(struct vdev *d, struct vq *q, const char *what)
{
	int len = virtio_config(d, VIRTIO_CONFIG_F_VIRTQUEUE, &q->cfg, sizeof(q->cfg));
	uint32_t num = q->cfg.num;

	CHECK(len == sizeof(q->cfg), "%s queue: field of length %d", what, len);
	CHECK(num && !(num & (num - 1)) && num <= 1024, "%s queue size %u", what, num);
	CHECK(q->cfg.irq >= 1 && q->cfg.irq < LGUEST_IRQS, "%s queue irq %u", what, q->cfg.irq);
	uint32_t size = used_offset(num) + 4 + 8 * num;
	uint8_t *ring = map_dev(q->cfg.pfn * PAGE_SIZE, (size + PAGE_SIZE - 1) / PAGE_SIZE);
	q->desc = (volatile struct vring_desc *)ring;
	q->avail = (volatile uint16_t *)(ring + 16 * num);
	q->used = (volatile uint16_t *)(ring + used_offset(num));
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
	if (!(q->used[0] & VRING_USED_F_NO_NOTIFY))
		hcall(LHCALL_NOTIFY, q->cfg.pfn * PAGE_SIZE, 0, 0);
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
