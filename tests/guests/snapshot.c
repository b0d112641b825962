/* snapshot: a guest that keeps working, to be snapshotted and restored at
 * any moment (src/snapshot.c; tests/testhost/snapshot-check.sh).
 *
 * Each round it
 *   - checks that a 1 MiB area still holds the previous round's pattern and
 *     fills it with this round's (guest RAM survives, page for page);
 *   - with "disk", sends a write of one sector naming the round (sector
 *     1024 + round) and does not wait for it yet (a request in flight);
 *   - arms a 20 ms clock event and HALTs until it fires (a timer armed, a
 *     halted vCPU);
 *   - waits for the write, and checks its status;
 *   - checks that the TSC and lguest_data.time never went backwards.
 * At the end it reads every sector back (nothing written was lost or lands
 * twice) and checks that exactly one tick came per round (no tick lost, none
 * repeated).  60 rounds, or 200 with "long".  Progress is printed every 10
 * rounds, so a test can snapshot it mid-way. */
#include "guest.h"
#include "virtio.h"
#if GEN_PCI
#include "pci.h"
#endif

const char test_name[] = "snapshot";

#define MS	   1000000u
#define AREA_WORDS (256u * 1024)
#define TICK_EVENT (20 * MS)
#define SECTOR0	   1024u
#define REC_MAGIC  0x534e4150u /* "SNAP" */
#define ROUNDS	   60u
#define MAX_ROUNDS 200u
#define T_IN	   0u
#define T_OUT	   1u
#define WAIT_MS	   10000u

static uint32_t area[AREA_WORDS] __attribute__((aligned(4096)));
static volatile uint32_t ticks; /* without a disk: our own timer handler's */
static int disk;

static uint32_t sector_buf[128] __attribute__((aligned(512)));
#if !GEN_DMA
static struct vq q;
static struct blk_hdr hdr;
static volatile uint8_t status;
#endif
#if GEN_PCI
static struct vpci blk;
static uint8_t ring[3 * 4096] __attribute__((aligned(4096)));
#endif

static uint32_t mix(uint32_t round, uint32_t i)
{
	uint32_t x = round * 0x9E3779B1u ^ i * 0x85EBCA77u;
	return x ^ (x >> 15);
}

static void tick_handler(struct trap_frame *f)
{
	(void)f;
	ticks++;
}

#if GEN_DMA
/* 2.6.23 has no virtio: no disk here (tests/guests/dma_bus.c covers it). */
static uint32_t tick_count(void)
{
	return ticks;
}

static void disk_setup(void)
{
	fail("no virtio disk in generation 0");
}

static uint16_t send(uint32_t type, uint32_t sector)
{
	(void)type;
	(void)sector;
	return 0;
}

static void finish(uint16_t head, const char *what, uint32_t sector)
{
	(void)head;
	(void)what;
	(void)sector;
}
#else
static uint32_t tick_count(void)
{
	return disk ? virtio_irq_count[0] : ticks;
}

static void disk_setup(void)
{
	virtio_init();
#if GEN_PCI
	vpci_find(VIRTIO_ID_BLOCK, 0, &blk);
	vpci_start(&blk, 0);
	vpci_queue(&blk, 0, &q, 0, ring);
	vpci_status(&blk, VIRTIO_STATUS_DRIVER_OK);
#else
	struct vdev dev;
	virtio_find(VIRTIO_ID_BLOCK, 0, &dev);
	vq_find(&dev, &q, "request");
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
#endif
}

/* One request of one sector, sent (not waited for). */
static uint16_t send(uint32_t type, uint32_t sector)
{
	hdr = (struct blk_hdr){.type = type, .sector = sector};
	status = 0xEE;
	struct vbuf b[3] = {
		{&hdr, sizeof(hdr), 0},
		{sector_buf, 512, type == T_IN},
		{&status, 1, 1},
	};
	uint16_t head = vq_add(&q, b, 3);
	vq_kick(&q);
	return head;
}

static void finish(uint16_t head, const char *what, uint32_t sector)
{
	uint32_t id, len;
	CHECK(vq_wait(&q, &id, &len, WAIT_MS), "%s of sector %u never completed", what, sector);
	CHECK(id == head, "%s of sector %u: the used ring returned %u, not %u", what, sector, id,
	      head);
	CHECK(status == 0, "%s of sector %u: status %u", what, sector, status);
}

#endif

/* Sleep until the next tick: safe_halt, as Linux's idle loop does. */
static void wait_tick(void)
{
	uint32_t before = tick_count();
	hcall(LHCALL_SET_CLOCKEVENT, TICK_EVENT, 0, 0);
	while (tick_count() == before) {
		lguest_data.irq_enabled = 0;
		if (tick_count() != before)
			break;
		hcall(LHCALL_HALT, 0, 0, 0);
	}
	lguest_data.irq_enabled = X86_EFLAGS_IF;
}

void test_main(void)
{
	guest_init();
	disk = cmdline_has("disk");
	unsigned rounds = cmdline_has("long") ? MAX_ROUNDS : ROUNDS;
	if (disk) {
		disk_setup();
	} else {
		idt_init_linux();
		set_trap_handler(32, tick_handler);
		lguest_data.blocked_interrupts = 0;
	}
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	for (uint32_t i = 0; i < AREA_WORDS; i++)
		area[i] = mix(0, i);
	uint64_t tsc = rdtsc();
	int32_t sec = lguest_data.time.tv_sec, nsec = lguest_data.time.tv_nsec;
	printf("snapshot: %u rounds%s\n", rounds, disk ? ", a disk write in each" : "");
	for (uint32_t r = 1; r <= rounds; r++) {
		for (uint32_t i = 0; i < AREA_WORDS; i++) {
			CHECK(area[i] == mix(r - 1, i),
			      "round %u: RAM word %u is %x, want %x (memory lost or changed)", r, i,
			      area[i], mix(r - 1, i));
			area[i] = mix(r, i);
		}
		uint16_t head = 0;
		if (disk) {
			for (unsigned i = 0; i < 128; i++)
				sector_buf[i] = i == 0 ? REC_MAGIC : i == 1 ? r : mix(r, i);
			head = send(T_OUT, SECTOR0 + r);
		}
		wait_tick();
		if (disk)
			finish(head, "write", SECTOR0 + r);
		uint64_t now = rdtsc();
		CHECK(now > tsc, "round %u: the TSC went backwards", r);
		tsc = now;
		CHECK(lguest_data.time.tv_sec > sec ||
			      (lguest_data.time.tv_sec == sec && lguest_data.time.tv_nsec >= nsec),
		      "round %u: lguest_data.time went backwards", r);
		sec = lguest_data.time.tv_sec;
		nsec = lguest_data.time.tv_nsec;
		if (r % 10 == 0)
			printf("snapshot: round %u, %u ticks\n", r, tick_count());
	}
	CHECK(tick_count() == rounds, "%u ticks in %u rounds: one per round, no more, no fewer",
	      tick_count(), rounds);
	if (disk) {
		for (uint32_t r = 1; r <= rounds; r++) {
			memset(sector_buf, 0, sizeof(sector_buf));
			finish(send(T_IN, SECTOR0 + r), "read", SECTOR0 + r);
			CHECK(sector_buf[0] == REC_MAGIC && sector_buf[1] == r &&
				      sector_buf[127] == mix(r, 127),
			      "sector %u holds round %u's record, not round %u's", SECTOR0 + r,
			      sector_buf[0] == REC_MAGIC ? sector_buf[1] : 0, r);
		}
		printf("snapshot: %u records on the disk ok\n", rounds);
	}
	pass();
}
