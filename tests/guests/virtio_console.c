/* virtio_console: the lguest device bus and a 2.6.24 vring, driven the way
 * lguest_device.c and virtio_console.c do it (§9).
 *
 * The device page sits at GPA = RAM size, above the RAM the boot tables map,
 * so we build our own tables and map it (and later the ring pages) into a
 * window at 0x80000000, like ioremap.  Then: walk the [type][config_len]
 * [status][config...] records to the console (type 3), take its two
 * virtqueue fields (input, output; marking each used with 0x80 as the guest
 * does), set the status bits, lay out both rings at their pfns, post an
 * input buffer, put "virtio console says hi" on the output ring, kick it
 * with LHCALL_NOTIFY(pfn * 4096) and wait for the used ring to return it.
 * Then, with NO_INTERRUPT cleared on the output ring, a second write must
 * also raise the queue's IRQ (vector 32 + irq) on completion (§9.8). */
#include "guest.h"

const char test_name[] = "virtio_console";

#define WINDOW	     0x80000000u
#define WINDOW_PAGES 1024u /* one page table */

static uint32_t dev_gpa;

static void *map_dev(uint32_t gpa, uint32_t pages)
{
	uint32_t idx = (gpa - dev_gpa) / PAGE_SIZE;

	CHECK(gpa >= dev_gpa && !(gpa & 0xFFF) && idx + pages <= WINDOW_PAGES,
	      "device memory %x (%u pages) outside our window", gpa, pages);
	for (uint32_t i = 0; i < pages; i++)
		pt_map(pt_dir, WINDOW + (idx + i) * PAGE_SIZE, gpa + i * PAGE_SIZE, PTE_P | PTE_W);
	return (void *)(WINDOW + idx * PAGE_SIZE);
}

struct vq {
	struct lguest_vqconfig cfg;
	volatile struct vring_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[num] */
	volatile uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[num] */
};

static uint32_t vring_used_offset(uint32_t num)
{
	return (16 * num + 4 + 2 * num + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

static void vq_setup(struct vq *q, const char *what)
{
	uint32_t num = q->cfg.num;

	CHECK(num && !(num & (num - 1)) && num <= 1024, "%s queue size %u", what, num);
	CHECK(q->cfg.irq >= 1 && q->cfg.irq < LGUEST_IRQS, "%s queue irq %u", what, q->cfg.irq);
	uint32_t size = vring_used_offset(num) + 4 + 8 * num;
	uint8_t *ring = map_dev(q->cfg.pfn * PAGE_SIZE, (size + PAGE_SIZE - 1) / PAGE_SIZE);
	q->desc = (volatile struct vring_desc *)ring;
	q->avail = (volatile uint16_t *)(ring + 16 * num);
	q->used = (volatile uint16_t *)(ring + vring_used_offset(num));
	/* The console's queues have no callback: no interrupts, please. */
	q->avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
	printf("virtio_console: %s queue: %u entries, irq %u, pfn %x\n", what, num, q->cfg.irq,
	       q->cfg.pfn);
}

/* add_buf + kick: one descriptor, chain head 0. */
static void vq_add_one(struct vq *q, const void *buf, uint32_t len, uint16_t flags)
{
	uint16_t idx = q->avail[1];

	q->desc[0].addr = (uint32_t)buf; /* identity map: address = GPA */
	q->desc[0].len = len;
	q->desc[0].flags = flags;
	q->desc[0].next = 0;
	q->avail[2 + idx % q->cfg.num] = 0;
	__asm__ volatile("" ::: "memory"); /* ring entry before idx (x86 keeps store order) */
	q->avail[1] = idx + 1;
	__asm__ volatile("lock; addl $0, (%%esp)" ::: "memory"); /* idx before reading flags */
	if (!(q->used[0] & VRING_USED_F_NO_NOTIFY))
		hcall(LHCALL_NOTIFY, q->cfg.pfn * PAGE_SIZE, 0, 0);
}

/* Find the console's record and its two virtqueue fields. */
static volatile uint8_t *find_console(volatile uint8_t *page, struct vq *in, struct vq *out)
{
	uint32_t off = 0;

	while (off + 3 <= PAGE_SIZE && page[off]) {
		uint8_t type = page[off], clen = page[off + 1];
		CHECK(off + 3 + clen <= PAGE_SIZE, "device record at %u overruns the page", off);
		if (type == VIRTIO_ID_CONSOLE) {
			volatile uint8_t *cfg = page + off + 3;
			struct vq *want[2] = {in, out};
			unsigned found = 0;
			for (uint32_t i = 0; i + 2 <= clen && found < 2; i += 2 + cfg[i + 1]) {
				if (cfg[i] != VIRTIO_CONFIG_F_VIRTQUEUE)
					continue;
				CHECK(cfg[i + 1] == sizeof(struct lguest_vqconfig),
				      "virtqueue field of length %u", cfg[i + 1]);
				memcpy(&want[found]->cfg, (const void *)(cfg + i + 2), 8);
				cfg[i] |= 0x80; /* used, as lg_find does */
				found++;
			}
			CHECK(found == 2, "console has %u virtqueue fields, want 2", found);
			return page + off;
		}
		off += 3 + clen;
	}
	fail("no console (type 3) on the device page");
}

static const char msg[] = "virtio console says hi\n";
static const char msg2[] = "virtio console with interrupts\n";
static volatile uint32_t vq_irqs;

static void vq_irq_handler(struct trap_frame *f)
{
	(void)f;
	vq_irqs++;
}

/* Wait (polling, as the driver does) for used.idx to reach `want`. */
static void wait_used(struct vq *q, uint16_t want)
{
	uint64_t t0 = rdtsc();
	uint32_t spins = 0;

	while (q->used[1] != want) {
		spins++;
		if (lguest_data.tsc_khz ? rdtsc() - t0 > 5000ull * lguest_data.tsc_khz
					: spins > 200000000u)
			fail("buffer %u never came back in the used ring", want);
	}
	if (spins)
		printf("virtio_console: note: buffer %u completed %u polls after NOTIFY\n", want,
		       spins);
}
static char inbuf[256];

/* `-- input`, with console input that comes a second after boot: HALT with
 * no clock event armed, so nothing but that input can wake us.  With the
 * monitor sleeping our HALTs inside the VM, only lgkvm's input watcher
 * (src/poller.c) notices the keystroke. */
static void test_input(struct vq *in)
{
	uint32_t halts = 0;

	set_trap_handler(32 + in->cfg.irq, vq_irq_handler);
	in->avail[0] = 0; /* interrupts welcome */
	printf("virtio_console: halting until console input\n");
	while (in->used[1] == 0) {
		halts++;
		CHECK(halts < 100000, "woken %u times with no input", halts);
		lguest_data.irq_enabled = 0;
		hcall(LHCALL_HALT, 0, 0, 0);
	}
	volatile uint32_t *used_elem = (volatile uint32_t *)(in->used + 2);
	uint32_t len = used_elem[1];
	CHECK(len > 0 && len < sizeof(inbuf), "input of %u bytes", len);
	inbuf[len] = 0;
	printf("virtio_console: %u halts, then\n", halts);
	printf("virtio_console: input: %s", inbuf);
	if (MON_CLOCK_IN_VM)
		CHECK(MON_WAKEUPS > 0, "no halt ended inside the VM");
}

void test_main(void)
{
	struct vq in, out;

	guest_init();
	int want_input = cmdline_has("input"); /* before our own page tables */
	dev_gpa = ram_size();
	pt_build_identity();
	pt_activate(pt_dir);
	volatile uint8_t *page = map_dev(dev_gpa, 1);
	volatile uint8_t *rec = find_console(page, &in, &out);

	rec[2] |= VIRTIO_STATUS_ACK;
	rec[2] |= VIRTIO_STATUS_DRIVER;
	vq_setup(&in, "input");
	vq_setup(&out, "output");
	CHECK(in.cfg.pfn != out.cfg.pfn, "both queues at pfn %x", in.cfg.pfn);
	rec[2] |= VIRTIO_STATUS_DRIVER_OK;

	/* Like the driver: keep one writable buffer posted for input. */
	vq_add_one(&in, inbuf, sizeof(inbuf), VRING_DESC_F_WRITE);

	vq_add_one(&out, msg, sizeof(msg) - 1, 0);
	/* The host should have consumed it before resuming us (§9.8); like
	 * the driver we poll, but give up after a few seconds. */
	wait_used(&out, 1);
	volatile uint32_t *used_elem = (volatile uint32_t *)(out.used + 2);
	CHECK(used_elem[0] == 0, "used ring: id %u, want 0", used_elem[0]);

	idt_init_linux();
	set_trap_handler(32 + out.cfg.irq, vq_irq_handler);
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	out.avail[0] = 0; /* interrupts welcome now */
	vq_add_one(&out, msg2, sizeof(msg2) - 1, 0);
	wait_used(&out, 2);
	CHECK(used_elem[2] == 0, "used ring: id %u, want 0", used_elem[2]);
	for (uint32_t i = 0; i < 100000 && !vq_irqs; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(vq_irqs == 1, "%u interrupts on IRQ %u for one completed buffer, want 1", vq_irqs,
	      out.cfg.irq);
	if (want_input)
		test_input(&in);
	lguest_data.irq_enabled = 0;
	pass();
}
