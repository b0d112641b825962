/* virtio_blk: the block device, driven the way 2.6.24's virtio_blk.c does
 * it (§9.11), on the disk image the build makes (blk-test.img: 2048 sectors
 * of blk_pattern(), plus 100 bytes that must stay invisible).
 *
 * Each request is a chain: a 24-byte header (type, ioprio, sector), the
 * data, and a 1-byte status the host writes.  We check the config (capacity,
 * SEG_MAX), read the pattern back through scattered buffers, write fresh
 * data (plain, with the barrier bit, then a FLUSH) and read it back, put 16
 * requests in flight at once, and check the refusals: sectors past the end
 * -> 1 (IOERR), a SCSI command or an unknown type -> 2 (UNSUPP).  Requests
 * complete asynchronously, from the host's I/O thread: we sleep in HALT
 * until the queue's interrupt.
 *
 * Only sectors >= 1024 are ever written, so the pattern in the first half
 * survives any number of runs on the same image.
 *
 * Command-line words: "ro" (the disk was given with ,ro: writes must fail),
 * "bad-header" (send a 16-byte header: the host must kill us). */
#include "guest.h"
#include "virtio.h"

#include "blk_pattern.h"

const char test_name[] = "virtio_blk";

#define T_IN	  0u
#define T_OUT	  1u
#define T_SCSI	  2u
#define T_FLUSH	  4u
#define T_GET_ID  8u
#define T_BARRIER 0x80000000u
#define S_OK	  0
#define S_IOERR	  1
#define S_UNSUPP  2

#define WAIT_MS 10000u
#define SLOTS	16u

static struct vq q;
static struct blk_hdr hdrs[SLOTS];
static volatile uint8_t status[SLOTS];
static uint16_t heads[SLOTS];
static uint8_t buf[SLOTS][4096] __attribute__((aligned(4096)));
static uint8_t big[2][8192] __attribute__((aligned(4096)));
static uint64_t capacity;

/* Queue request `slot` (not yet kicked). */
static void submit(unsigned slot, uint32_t type, uint64_t sector, const struct vbuf *data,
		   unsigned n)
{
	struct vbuf b[8];

	CHECK(n + 2 <= 8, "too many segments");
	hdrs[slot] = (struct blk_hdr){.type = type, .sector = sector};
	status[slot] = 0xEE;
	b[0] = (struct vbuf){&hdrs[slot], sizeof(hdrs[slot]), 0};
	for (unsigned i = 0; i < n; i++)
		b[1 + i] = data[i];
	b[n + 1] = (struct vbuf){&status[slot], 1, 1};
	heads[slot] = vq_add(&q, b, n + 2);
}

/* Wait for `count` completions of slots [0, count), in any order. */
static void wait_slots(unsigned count, uint32_t lens[])
{
	for (unsigned done = 0; done < count; done++) {
		uint32_t id, len;
		unsigned s;

		CHECK(vq_wait(&q, &id, &len, WAIT_MS), "request never completed (%u of %u done)",
		      done, count);
		for (s = 0; s < count && heads[s] != id; s++)
			;
		CHECK(s < count, "used ring returned id %u, not one of ours", id);
		lens[s] = len;
	}
}

/* One request, to the end: its status and used length must be as given. */
static void expect(uint32_t type, uint64_t sector, const struct vbuf *data, unsigned n,
		   uint8_t want, uint32_t want_len, const char *what)
{
	uint32_t lens[1];

	submit(0, type, sector, data, n);
	vq_kick(&q);
	wait_slots(1, lens);
	CHECK(status[0] == want, "%s: status %u, want %u", what, status[0], want);
	CHECK(lens[0] == want_len, "%s: used length %u, want %u", what, lens[0], want_len);
}

/* The same check for a request already completed in slot s. */
static void expect_slot(unsigned s, uint32_t len, uint8_t want, uint32_t want_len, const char *what)
{
	CHECK(status[s] == want, "%s %u: status %u, want %u", what, s, status[s], want);
	CHECK(len == want_len, "%s %u: used length %u, want %u", what, s, len, want_len);
}

static uint8_t fresh(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed + i * 31 + (i >> 9) * 5);
}

/* The first 8 sectors through three buffers of 1, 2 and 1 KiB. */
static void test_read_pattern(void)
{
	struct vbuf d[3] = {
		{big[0], 1024, 1},
		{big[0] + 1024, 2048, 1},
		{big[0] + 3072, 1024, 1},
	};

	memset(big[0], 0xEE, 4096);
	expect(T_IN, 0, d, 3, S_OK, 1 + 4096, "read sectors 0-7");
	for (uint32_t i = 0; i < 4096; i++)
		CHECK(big[0][i] == blk_pattern(i), "byte %u reads %x, want %x", i, big[0][i],
		      blk_pattern(i));
	/* And the last sector of the half nobody writes. */
	d[0] = (struct vbuf){big[1], 512, 1};
	expect(T_IN, 1023, d, 1, S_OK, 513, "read sector 1023");
	for (uint32_t i = 0; i < 512; i++)
		CHECK(big[1][i] == blk_pattern(1023 * 512 + i), "sector 1023 byte %u", i);
	printf("virtio_blk: pattern reads back ok\n");
}

/* Write 8 sectors (3 buffers), 8 more with the barrier bit, FLUSH, then
 * read all 16 back in one request. */
static void test_write_flush_read(uint32_t seed)
{
	struct vbuf w[3] = {
		{big[0], 512, 0},
		{big[0] + 512, 3072, 0},
		{big[0] + 3584, 512, 0},
	};
	struct vbuf r[2] = {{big[1], 4096, 1}, {big[1] + 4096, 4096, 1}};

	for (uint32_t i = 0; i < 8192; i++)
		big[0][i] = fresh(seed, i);
	expect(T_OUT, 1024, w, 3, S_OK, 1, "write sectors 1024-1031");
	w[0] = (struct vbuf){big[0] + 4096, 4096, 0};
	expect(T_OUT | T_BARRIER, 1032, w, 1, S_OK, 1, "barrier write sectors 1032-1039");
	expect(T_FLUSH, 0, 0, 0, S_OK, 1, "flush");
	memset(big[1], 0xEE, 8192);
	expect(T_IN, 1024, r, 2, S_OK, 1 + 8192, "read sectors 1024-1039");
	for (uint32_t i = 0; i < 8192; i++)
		CHECK(big[1][i] == big[0][i], "sector %u byte %u reads %x, wrote %x",
		      1024 + i / 512, i % 512, big[1][i], big[0][i]);
	printf("virtio_blk: write, barrier write, flush, read back ok\n");
}

/* SLOTS writes in flight at once, then SLOTS reads. */
static void test_in_flight(uint32_t seed)
{
	uint32_t lens[SLOTS];

	for (unsigned s = 0; s < SLOTS; s++) {
		struct vbuf d = {buf[s], 4096, 0};

		for (uint32_t i = 0; i < 4096; i++)
			buf[s][i] = fresh(seed + s, i);
		submit(s, T_OUT, 1100 + 8 * s, &d, 1);
	}
	vq_kick(&q);
	wait_slots(SLOTS, lens);
	for (unsigned s = 0; s < SLOTS; s++)
		expect_slot(s, lens[s], S_OK, 1, "concurrent write");
	for (unsigned s = 0; s < SLOTS; s++) {
		struct vbuf d = {buf[s], 4096, 1};

		memset(buf[s], 0xEE, 4096);
		submit(s, T_IN, 1100 + 8 * s, &d, 1);
	}
	vq_kick(&q);
	wait_slots(SLOTS, lens);
	for (unsigned s = 0; s < SLOTS; s++) {
		expect_slot(s, lens[s], S_OK, 1 + 4096, "concurrent read");
		for (uint32_t i = 0; i < 4096; i++)
			CHECK(buf[s][i] == fresh(seed + s, i), "request %u byte %u", s, i);
	}
	printf("virtio_blk: %u requests in flight ok\n", SLOTS);
}

static void test_refusals(void)
{
	struct vbuf r1 = {big[0], 512, 1}, r2 = {big[0], 1024, 1}, w2 = {big[0], 1024, 0};

	expect(T_IN, capacity, &r1, 1, S_IOERR, 1, "read past the end");
	expect(T_IN, capacity - 1, &r2, 1, S_IOERR, 1, "read across the end");
	expect(T_OUT, capacity - 1, &w2, 1, S_IOERR, 1, "write across the end");
	expect(T_IN, 0xFFFFFFFF00000000ull, &r1, 1, S_IOERR, 1, "read at a huge sector");
	expect(T_SCSI, 0, 0, 0, S_UNSUPP, 1, "SCSI command");
	expect(T_GET_ID, 0, &r1, 1, S_UNSUPP, 1, "GET_ID");
	printf("virtio_blk: past the end -> IOERR, SCSI -> UNSUPP ok\n");
}

static void test_readonly(void)
{
	struct vbuf w = {big[0], 512, 0}, r = {big[1], 512, 1};

	memset(big[0], 0x11, 512);
	expect(T_OUT, 1500, &w, 1, S_IOERR, 1, "write to a read-only disk");
	expect(T_OUT | T_BARRIER, 1500, &w, 1, S_IOERR, 1, "barrier write to a read-only disk");
	expect(T_FLUSH, 0, 0, 0, S_OK, 1, "flush of a read-only disk");
	expect(T_IN, 5, &r, 1, S_OK, 513, "read of a read-only disk");
	for (uint32_t i = 0; i < 512; i++)
		CHECK(big[1][i] == blk_pattern(5 * 512 + i), "sector 5 byte %u", i);
	printf("virtio_blk: read-only: writes fail, reads work ok\n");
}

static void test_bad_header(void)
{
	struct vbuf b[3] = {
		{&hdrs[0], 12, 0},
		{big[0], 512, 1},
		{&status[0], 1, 1},
	};
	uint32_t id, len;

	hdrs[0] = (struct blk_hdr){.type = T_IN};
	vq_add(&q, b, 3);
	printf("virtio_blk: sending a 12-byte header\n");
	vq_kick(&q);
	vq_wait(&q, &id, &len, 2000);
	fail("the host accepted a 12-byte request header");
}

void test_main(void)
{
	struct vdev dev;
	uint32_t seg_max = 0, seed;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_BLOCK, 0, &dev);
	vq_find(&dev, &q, "request");
	CHECK(virtio_config(&dev, 0x41, &capacity, 8) == 8, "no 8-byte capacity field");
	CHECK(capacity == BLK_TEST_SECTORS,
	      "capacity %u sectors, want %u (the tail of %u bytes "
	      "must not count)",
	      (uint32_t)capacity, BLK_TEST_SECTORS, BLK_TEST_TAIL);
	CHECK(virtio_config(&dev, 0x43, &seg_max, 4) == 4, "no 4-byte SEG_MAX field");
	CHECK(seg_max == 126, "SEG_MAX %u, want 126", seg_max);
	CHECK(q.cfg.num == 128, "queue of %u entries, want 128", q.cfg.num);
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
	printf("virtio_blk: %u sectors, SEG_MAX %u, queue irq %u\n", (uint32_t)capacity, seg_max,
	       q.cfg.irq);

	if (cmdline_has("bad-header"))
		test_bad_header();
	seed = (uint32_t)rdtsc();
	test_read_pattern();
	if (cmdline_has("ro")) {
		test_readonly();
	} else {
		test_write_flush_read(seed);
		test_in_flight(seed);
	}
	test_refusals();
	/* Completions we found by looking may still have their interrupt
	 * pending (vq_wait leaves interrupts off when it needs no sleep):
	 * enable them and let the host deliver at the next exit. */
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(virtio_irq_count[q.cfg.irq], "no interrupt on IRQ %u", q.cfg.irq);
	printf("virtio_blk: %u interrupts on IRQ %u\n", virtio_irq_count[q.cfg.irq], q.cfg.irq);
	/* The disk's NOTIFYs never stopped the vCPU: the monitor rang its
	 * eventfd (struct mon_shared's handled_nr[LHCALL_NOTIFY], word 6 + 17
	 * of the monitor's data page; docs/DESIGN.md §2.9). */
	uint32_t rung = MON_HANDLED_NR(LHCALL_NOTIFY);
	CHECK(rung > 0, "no NOTIFY went through the monitor's doorbell");
	printf("virtio_blk: %u NOTIFYs rang the disk's doorbell inside the VM ok\n", rung);
	pass();
}
