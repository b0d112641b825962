/* bench_blk: 4 KiB block I/O through the virtio block device, sequential
 * and at random offsets, timed with the TSC (a benchmark, not a test:
 * tests/bench/blk.sh runs it).
 *
 * Over the first `mib=N` MiB of the disk (default 16, at most its size):
 *   write  one 4 KiB request at a time (queue depth 1), then a FLUSH;
 *   read   one at a time;
 *   read   32 requests in flight at once (the driver's batching);
 * then the same number of requests at random 4 KiB-aligned offsets within
 * that area (an LCG in the guest, so every run asks for the same ones):
 *   write rand qd1, read rand qd1, read rand qd32, then 128 KiB requests
 *   (an ext2-style workload): write 128k qd1, read 128k qd1, read 128k qd8.
 * Each line reads "bench: blk <what> ... kib_per_s=N": KiB per second of
 * guest time (tsc_khz from the host).  Every request waits in HALT for the
 * queue's interrupt, the way the kernel's idle loop would. */
#include "guest.h"
#include "virtio.h"

const char test_name[] = "bench_blk";

#define T_IN	0u
#define T_OUT	1u
#define T_FLUSH 4u
#define DEPTH	32u
#define BLOCK	4096u

static struct vq q;
static struct blk_hdr hdrs[DEPTH];
static volatile uint8_t status[DEPTH];
static uint8_t data[DEPTH][BLOCK] __attribute__((aligned(4096)));

/* An ext2-style workload: 128 KiB requests, each one buffer (what a driver
 * sends once the block layer has merged 32 pages), one or 8 at a time. */
#define BIG	  (128u * 1024)
#define BIG_DEPTH 8u
static uint8_t big[BIG_DEPTH][BIG] __attribute__((aligned(4096)));

static void submit(unsigned slot, uint32_t type, uint64_t sector, int with_data)
{
	struct vbuf b[3];
	unsigned n = 0;

	hdrs[slot] = (struct blk_hdr){.type = type, .sector = sector};
	status[slot] = 0xEE;
	b[n++] = (struct vbuf){&hdrs[slot], sizeof(hdrs[slot]), 0};
	if (with_data)
		b[n++] = (struct vbuf){data[slot], BLOCK, type == T_IN};
	b[n++] = (struct vbuf){&status[slot], 1, 1};
	vq_add(&q, b, n);
}

static void wait_n(unsigned n)
{
	uint32_t id, len;

	for (unsigned i = 0; i < n; i++)
		CHECK(vq_wait(&q, &id, &len, 20000), "request never completed");
	for (unsigned s = 0; s < n; s++)
		CHECK(status[s] == 0, "request %u: status %u", s, status[s]);
}

static uint64_t run_big(uint32_t type, uint32_t bytes_total, unsigned depth)
{
	uint32_t reqs = bytes_total / BIG;
	uint64_t t0 = rdtsc();

	for (uint32_t r = 0; r < reqs; r += depth) {
		unsigned n = reqs - r < depth ? reqs - r : depth;
		for (unsigned s = 0; s < n; s++) {
			struct vbuf b[3];
			hdrs[s] = (struct blk_hdr){.type = type,
						   .sector = (uint64_t)(r + s) * (BIG / 512)};
			status[s] = 0xEE;
			b[0] = (struct vbuf){&hdrs[s], sizeof(hdrs[s]), 0};
			b[1] = (struct vbuf){big[s], BIG, type == T_IN};
			b[2] = (struct vbuf){&status[s], 1, 1};
			vq_add(&q, b, 3);
		}
		vq_kick(&q);
		wait_n(n);
	}
	return rdtsc() - t0;
}

/* Random block numbers: a fixed-seed LCG (Numerical Recipes' constants),
 * its high bits (the low ones of a power-of-two LCG cycle quickly).  Not
 * a permutation: a block can come twice, as in any random-I/O benchmark. */
static uint32_t lcg = 12345;

static uint32_t rand_block(uint32_t blocks)
{
	lcg = lcg * 1664525u + 1013904223u;
	return (uint32_t)(((uint64_t)(lcg >> 8) * blocks) >> 24);
}

/* `blocks` requests of `type`, `depth` at a time, in order or (`random`)
 * anywhere among the first `blocks` blocks; returns TSC cycles. */
static uint64_t run(uint32_t type, uint32_t blocks, unsigned depth, int random)
{
	uint64_t t0 = rdtsc();

	lcg = 12345;
	for (uint32_t b = 0; b < blocks; b += depth) {
		unsigned n = blocks - b < depth ? blocks - b : depth;

		for (unsigned s = 0; s < n; s++) {
			uint32_t blk = random ? rand_block(blocks) : b + s;

			submit(s, type, (uint64_t)blk * (BLOCK / 512), 1);
		}
		vq_kick(&q);
		wait_n(n);
	}
	return rdtsc() - t0;
}

static void report(const char *what, uint32_t blocks, uint64_t cycles)
{
	uint32_t khz = tsc_rate_khz();
	uint64_t kib = (uint64_t)blocks * (BLOCK / 1024);
	uint32_t us = khz ? (uint32_t)(cycles * 1000 / khz) : 0;
	uint32_t rate = us ? (uint32_t)(kib * 1000000 / us) : 0;

	printf("bench: blk %s: %u KiB in %u us, %u us per request, kib_per_s=%u\n", what,
	       (uint32_t)kib, us, blocks ? us / blocks : 0, rate);
}

/* The host gives no TSC rate (tsc_khz 0: an emulated machine): measure it
 * against the clock event, which runs on the host's monotonic clock. */
static void calibrate(void)
{
	unsigned before = virtio_irq_count[0];
	uint64_t t0 = rdtsc();

	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 200 * 1000000u, 0, 0);
	while (virtio_irq_count[0] == before)
		hcall(LHCALL_HALT, 0, 0, 0);
	tsc_khz_estimate = (uint32_t)((rdtsc() - t0) / 200);
	printf("bench: blk note: no tsc_khz from the host; measured %u kHz\n", tsc_khz_estimate);
}

static uint32_t arg_mib(void)
{
	static const char *sizes[] = {"mib=1", "mib=4", "mib=16", "mib=64", "mib=256"};
	static const uint32_t mib[] = {1, 4, 16, 64, 256};

	for (unsigned i = 0; i < 5; i++)
		if (cmdline_has(sizes[i]))
			return mib[i];
	return 16;
}

void test_main(void)
{
	struct vdev dev;
	uint64_t capacity = 0, c;
	uint32_t blocks;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_BLOCK, 0, &dev);
	vq_find(&dev, &q, "request");
	CHECK(virtio_config(&dev, 0x41, &capacity, 8) == 8, "no capacity field");
	virtio_status(&dev, VIRTIO_STATUS_DRIVER_OK);
	blocks = arg_mib() * (1024 * 1024 / BLOCK);
	if ((uint64_t)blocks * (BLOCK / 512) > capacity)
		blocks = (uint32_t)(capacity / (BLOCK / 512));
	CHECK(blocks, "the disk is smaller than one block");
	if (!tsc_rate_khz())
		calibrate();

	for (unsigned s = 0; s < DEPTH; s++)
		memset(data[s], (int)(0x40 + s), BLOCK);
	c = run(T_OUT, blocks, 1, 0);
	report("write qd1", blocks, c);
	uint64_t t0 = rdtsc();
	submit(0, T_FLUSH, 0, 0);
	vq_kick(&q);
	wait_n(1);
	printf("bench: blk flush: %u us\n", (uint32_t)((rdtsc() - t0) * 1000 / tsc_rate_khz()));
	c = run(T_IN, blocks, 1, 0);
	report("read qd1", blocks, c);
	c = run(T_IN, blocks, DEPTH, 0);
	report("read qd32", blocks, c);
	/* Random offsets: the image is in the host's page cache by now, so
	 * this measures lgkvm's per-request path with scattered offsets
	 * rather than a disk's seeks (blk.sh says so too). */
	c = run(T_OUT, blocks, 1, 1);
	report("write rand qd1", blocks, c);
	c = run(T_IN, blocks, 1, 1);
	report("read rand qd1", blocks, c);
	c = run(T_IN, blocks, DEPTH, 1);
	report("read rand qd32", blocks, c);
	/* 128 KiB requests over the same bytes (blocks counted in 4 KiB). */
	uint32_t bytes = blocks / (BIG / BLOCK) * BIG;
	if (bytes) {
		c = run_big(T_OUT, bytes, 1);
		report("write 128k qd1", bytes / BLOCK, c);
		c = run_big(T_IN, bytes, 1);
		report("read 128k qd1", bytes / BLOCK, c);
		c = run_big(T_IN, bytes, BIG_DEPTH);
		report("read 128k qd8", bytes / BLOCK, c);
	}
	pass();
}
