/* Unit tests for the block device (virtio/blk.c), and for vm_stop() from
 * many threads (src/vm.c), which the block device's I/O thread relies on.
 *
 * The guest here is us: a heap buffer stands in for guest memory, we write
 * request chains into the device's real ring (where vbus_add_queue() put it)
 * and ring its doorbell with vbus_notify(), exactly as the vCPU thread would.
 * The I/O thread and its io_uring are the real ones, so every request really
 * reaches a file, and completions arrive from another thread: we wait for
 * used.idx to move, with a deadline so that a lost completion fails the test
 * instead of hanging it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/ring.h"
#include "tests/unit/fake_vm.h"

#define RAM	 (1u << 20)
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)

/* The disk: 64 KiB and a ragged tail the guest must never see. */
#define SECTORS	    128u
#define TAIL	    100u
#define DISK_BYTES  (SECTORS * 512u + TAIL)
#define BUF_GPA	    0x20000u /* our "guest" buffers: headers, data, status bytes */
#define T_IN	    0u
#define T_OUT	    1u
#define T_SCSI	    2u
#define T_FLUSH	    4u
#define T_GET_ID    8u
#define T_BARRIER   0x80000000u
#define S_OK	    0
#define S_IOERR	    1
#define S_UNSUPP    2
#define S_UNTOUCHED 0xEE
#define WAIT_NS	    (5ull * 1000000000ull)

struct fx {
	struct vm *vm;
	struct vqueue *q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	char path[64];
	uint16_t next_desc; /* descriptors are handed out round-robin */
	uint32_t next_buf;  /* bump allocator for buffers above BUF_GPA */
};

static uint8_t *mem(struct fx *f, uint64_t gpa)
{
	return f->vm->mem.base + gpa;
}

static uint8_t pattern(uint64_t byte)
{
	return (uint8_t)(byte * 7 + (byte >> 9));
}

/* A fresh disk file with a known pattern in every byte. */
static void make_disk(struct fx *f, unsigned bytes)
{
	uint8_t *buf = malloc(bytes);
	int fd;

	strcpy(f->path, "/tmp/test_blk.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < bytes; i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, bytes), (ssize_t)bytes);
	close(fd);
	free(buf);
}

static struct vm *vm_new(void)
{
	struct vm *vm = fake_vm_new(RAM, MEM_SIZE);

	vm->opt.quiet = true;
	assert_int_equal(vbus_init(vm), 0);
	return vm;
}

/* Add the disk and point the fixture at its one queue. */
static void attach(struct fx *f, bool readonly)
{
	assert_int_equal(vbus_add_disk(f->vm, f->path, readonly), 0);
	f->vm->mem.limit = vbus_limit(f->vm);
	f->q = f->vm->bus.devs[f->vm->bus.ndevs - 1].q[0];
	f->desc = (struct vring_desc *)mem(f, f->q->gpa);
	f->avail = (struct vring_avail *)mem(f, f->q->gpa + vring_avail_off(f->q->num));
	f->used = (struct vring_used *)mem(f, f->q->gpa + vring_used_off(f->q->num));
}

static int setup_common(void **state, bool readonly)
{
	struct fx *f = calloc(1, sizeof(*f));

	unsetenv("LGKVM_NO_IO_URING");
	f->vm = vm_new();
	f->next_buf = BUF_GPA;
	make_disk(f, DISK_BYTES);
	attach(f, readonly);
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return setup_common(state, false);
}

static int fx_setup_ro(void **state)
{
	return setup_common(state, true);
}

static int fx_setup_sync(void **state)
{
	int r = setup_common(state, false);
	struct fx *f = *state;

	/* Start over on the synchronous backend. */
	vbus_teardown(f->vm);
	assert_int_equal(vbus_init(f->vm), 0);
	f->vm->mem.limit = MEM_SIZE;
	setenv("LGKVM_NO_IO_URING", "1", 1);
	attach(f, false);
	unsetenv("LGKVM_NO_IO_URING");
	return r;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	vbus_teardown(f->vm);
	unlink(f->path);
	fake_vm_free(f->vm);
	free(f);
	return 0;
}

/*
 * Being the guest.
 */

static uint32_t alloc_buf(struct fx *f, uint32_t len)
{
	uint32_t gpa = f->next_buf;

	f->next_buf += (len + 15) & ~15u;
	assert_true(f->next_buf < RAM);
	return gpa;
}

struct seg {
	uint32_t gpa, len;
	bool writable;
};

/* One request: the header, the data segments, the status byte.  Returns the
 * GPA of the status byte (preset to S_UNTOUCHED). */
struct req {
	uint16_t head;
	uint32_t status;
};

static struct req add_chain(struct fx *f, const struct seg *segs, unsigned n)
{
	struct req r = {.head = f->next_desc};

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((f->next_desc + i) % f->q->num);

		f->desc[d] = (struct vring_desc){
			.addr = segs[i].gpa,
			.len = segs[i].len,
			.flags = (uint16_t)((segs[i].writable ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((d + 1) % f->q->num),
		};
	}
	f->next_desc = (uint16_t)((f->next_desc + n) % f->q->num);
	f->avail->ring[f->avail->idx % f->q->num] = r.head;
	__atomic_store_n(&f->avail->idx, (uint16_t)(f->avail->idx + 1), __ATOMIC_RELEASE);
	return r;
}

static uint32_t header(struct fx *f, uint32_t type, uint64_t sector)
{
	uint32_t gpa = alloc_buf(f, 24);
	uint8_t *h = mem(f, gpa);

	memset(h, 0, 24);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	return gpa;
}

static uint32_t status_byte(struct fx *f)
{
	uint32_t gpa = alloc_buf(f, 1);

	*mem(f, gpa) = S_UNTOUCHED;
	return gpa;
}

/* A read or write of `nseg` equal segments of `seglen` bytes at `sector`;
 * the data buffers are consecutive, starting at *data. */
static struct req rw(struct fx *f, uint32_t type, uint64_t sector, unsigned nseg, uint32_t seglen,
		     uint32_t *data)
{
	struct seg segs[16];
	bool in = (type & ~T_BARRIER) == T_IN;
	unsigned n = 0;

	assert_true(nseg + 2 <= 16);
	*data = alloc_buf(f, nseg * seglen);
	segs[n++] = (struct seg){header(f, type, sector), 24, false};
	for (unsigned i = 0; i < nseg; i++)
		segs[n++] = (struct seg){*data + i * seglen, seglen, in};
	uint32_t st = status_byte(f);
	segs[n++] = (struct seg){st, 1, true};
	struct req r = add_chain(f, segs, n);
	r.status = st;
	return r;
}

/* A request with no data: header and status byte only. */
static struct req bare(struct fx *f, uint32_t type, uint64_t sector)
{
	uint32_t h = header(f, type, sector), st = status_byte(f);
	struct req r = add_chain(f, (struct seg[]){{h, 24, false}, {st, 1, true}}, 2);

	r.status = st;
	return r;
}

static void kick(struct fx *f)
{
	assert_true(vbus_notify(f->vm, f->q->gpa));
}

/* Wait until the device has handed back `n` chains in all. */
static void wait_used(struct fx *f, uint16_t n)
{
	uint64_t end = now_ns() + WAIT_NS;

	while (__atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE) != n) {
		if (now_ns() > end)
			fail_msg("used.idx is %u after 5 s, want %u", f->used->idx, n);
		usleep(200);
	}
}

static void wait_dead(struct fx *f)
{
	uint64_t end = now_ns() + WAIT_NS;

	while (!f->vm->dead) {
		if (now_ns() > end)
			fail_msg("the guest is still alive after 5 s");
		usleep(200);
	}
}

/* The used element for chain `head`: the latest one, wherever it landed. */
static uint32_t used_len(struct fx *f, uint16_t head)
{
	uint16_t idx = f->used->idx;

	for (uint16_t n = 0; n < idx && n < f->q->num; n++) {
		struct vring_used_elem *e = &f->used->ring[(uint16_t)(idx - 1 - n) % f->q->num];

		if (e->id == head)
			return e->len;
	}
	fail_msg("chain %u is not in the used ring", head);
	return 0;
}

static void assert_status(struct fx *f, struct req r, uint8_t want, uint32_t want_len)
{
	assert_int_equal(*mem(f, r.status), want);
	assert_int_equal(used_len(f, r.head), want_len);
}

static void file_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static off_t file_size(struct fx *f)
{
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	return st.st_size;
}

/*
 * The tests.
 */

/* The record the guest's virtio_blk probes: one queue, capacity, SEG_MAX. */
static void test_config(void **state)
{
	struct fx *f = *state;
	const uint8_t *rec = mem(f, f->vm->bus.page_gpa);
	uint64_t cap;
	uint32_t seg;

	assert_int_equal(rec[0], 2); /* block */
	assert_int_equal(rec[1], 10 + 10 + 6);
	assert_int_equal(rec[3], 2); /* the virtqueue comes first, like the reference */
	assert_int_equal(rec[4], 8);
	assert_int_equal(rec[13], 0x41);
	assert_int_equal(rec[14], 8);
	memcpy(&cap, rec + 15, 8);
	assert_int_equal(cap, SECTORS); /* the ragged tail is not exposed */
	assert_int_equal(rec[23], 0x43);
	assert_int_equal(rec[24], 4);
	memcpy(&seg, rec + 25, 4);
	assert_int_equal(seg, 126);
	assert_int_equal(rec[29], 0); /* end of the device list */
	assert_int_equal(f->q->num, 128);
}

/* A write, acknowledged, then the host powers the guest off: the file must
 * hold the data.  A read gives it back, scattered over three buffers. */
static void test_write_read_poweroff(void **state)
{
	struct fx *f = *state;
	uint32_t wdata, rdata;
	uint8_t back[1536];

	struct req w = rw(f, T_OUT, 5, 2, 768, &wdata);
	for (unsigned i = 0; i < 1536; i++)
		mem(f, wdata)[i] = (uint8_t)(i ^ 0x5A);
	kick(f);
	wait_used(f, 1);
	assert_status(f, w, S_OK, 1);
	assert_true(*lg_pending(f->vm) & (1u << f->q->irq));

	struct req r = rw(f, T_IN, 5, 3, 512, &rdata);
	kick(f);
	wait_used(f, 2);
	assert_status(f, r, S_OK, 1 + 1536);
	assert_memory_equal(mem(f, rdata), mem(f, wdata), 1536);

	/* Power off: the teardown joins the I/O thread; the data is there. */
	vbus_teardown(f->vm);
	file_read(f, 5 * 512, back, sizeof(back));
	assert_memory_equal(back, mem(f, wdata), 1536);
	/* Around it, the old pattern. */
	file_read(f, 4 * 512, back, 512);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(back[i], pattern(4 * 512 + i));
	assert_false(f->vm->dead);
}

/* The pattern reads back from every sector, through many requests in
 * flight at once (42 chains of 3 fill the 128 descriptors). */
static void test_many_reads_in_flight(void **state)
{
	struct fx *f = *state;
	struct req r[42];
	uint32_t data[42];

	for (unsigned i = 0; i < 42; i++)
		r[i] = rw(f, T_IN, 3 * i, 1, 1024, &data[i]);
	kick(f);
	wait_used(f, 42);
	for (unsigned i = 0; i < 42; i++) {
		assert_status(f, r[i], S_OK, 1 + 1024);
		for (unsigned b = 0; b < 1024; b++)
			assert_int_equal(mem(f, data[i])[b], pattern(3 * i * 512 + b));
	}
	/* The interrupt came (once per batch, but it came), and once idle the
	 * device wants kicks again: used.flags NO_NOTIFY is off. */
	assert_true(atomic_load(lg_pending(f->vm)) & (1u << f->q->irq));
	uint64_t end = now_ns() + WAIT_NS;
	while (__atomic_load_n(&f->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY) {
		if (now_ns() > end)
			fail_msg("used.flags still says NO_NOTIFY with nothing in flight");
		usleep(200);
	}
	/* A request offered after that is served on its kick. */
	struct req last = rw(f, T_IN, 0, 1, 512, &data[0]);
	kick(f);
	wait_used(f, 43);
	assert_status(f, last, S_OK, 1 + 512);
}

/* A barrier orders: a write, a barrier write, a write, all to one sector
 * and offered together, land in that order.  A flush answers OK. */
static void test_barrier_and_flush(void **state)
{
	struct fx *f = *state;
	uint32_t d[3], rd;
	uint8_t back[512];

	for (unsigned round = 0; round < 20; round++) {
		uint16_t base = f->used->idx;
		struct req w[3];

		f->next_buf = BUF_GPA;
		w[0] = rw(f, T_OUT, 9, 1, 512, &d[0]);
		w[1] = rw(f, T_OUT | T_BARRIER, 9, 1, 512, &d[1]);
		w[2] = rw(f, T_OUT, 9, 1, 512, &d[2]);
		for (unsigned i = 0; i < 3; i++)
			memset(mem(f, d[i]), 'A' + (int)i, 512);
		struct req fl = bare(f, T_FLUSH, 0);
		kick(f);
		wait_used(f, (uint16_t)(base + 4));
		for (unsigned i = 0; i < 3; i++)
			assert_status(f, w[i], S_OK, 1);
		assert_status(f, fl, S_OK, 1);
		/* w[2] cannot have gone before the barrier, nor w[0] after it:
		 * C is on the disk. */
		struct req r = rw(f, T_IN, 9, 1, 512, &rd);
		kick(f);
		wait_used(f, (uint16_t)(base + 5));
		assert_status(f, r, S_OK, 513);
		assert_memory_equal(mem(f, rd), mem(f, d[2]), 512);
	}
	file_read(f, 9 * 512, back, 512);
	assert_memory_equal(back, mem(f, d[2]), 512);
}

/* Anything that touches a sector past the end fails with IOERR, the file
 * does not grow, and the guest lives on. */
static void test_out_of_range(void **state)
{
	struct fx *f = *state;
	uint32_t d;
	struct req r[6];

	r[0] = rw(f, T_IN, SECTORS, 1, 512, &d);      /* just past the end */
	r[1] = rw(f, T_IN, SECTORS - 1, 1, 1024, &d); /* straddles it */
	r[2] = rw(f, T_OUT, SECTORS - 1, 2, 512, &d); /* a write that would grow the file */
	r[3] = rw(f, T_OUT, 1ull << 63, 1, 512, &d);  /* sector * 512 would wrap */
	r[4] = rw(f, T_IN, UINT64_MAX, 1, 512, &d);   /* so would sector + 1 */
	r[5] = rw(f, T_IN, SECTORS - 1, 1, 512, &d);  /* the last sector is fine */
	kick(f);
	wait_used(f, 6);
	for (unsigned i = 0; i < 5; i++)
		assert_status(f, r[i], S_IOERR, 1);
	assert_status(f, r[5], S_OK, 513);
	assert_int_equal(file_size(f), DISK_BYTES);
	assert_false(f->vm->dead);
}

/* The file shrinks under a running guest: a read of what was there fails
 * (IOERR), it does not hang or report stale data as good. */
static void test_short_read_at_eof(void **state)
{
	struct fx *f = *state;
	uint32_t d;

	assert_int_equal(truncate(f->path, 10 * 512), 0);
	struct req r = rw(f, T_IN, 20, 1, 512, &d);
	struct req half = rw(f, T_IN, 9, 2, 512, &d); /* half there, half gone */
	kick(f);
	wait_used(f, 2);
	assert_status(f, r, S_IOERR, 1);
	assert_status(f, half, S_IOERR, 1);
}

static void test_readonly(void **state)
{
	struct fx *f = *state;
	uint32_t d;
	uint8_t back[512];

	struct req w = rw(f, T_OUT, 3, 1, 512, &d);
	memset(mem(f, d), 0xAB, 512);
	struct req wb = rw(f, T_OUT | T_BARRIER, 3, 1, 512, &d);
	memset(mem(f, d), 0xAB, 512);
	struct req r = rw(f, T_IN, 3, 1, 512, &d);
	struct req fl = bare(f, T_FLUSH, 0);
	kick(f);
	wait_used(f, 4);
	assert_status(f, w, S_IOERR, 1);
	assert_status(f, wb, S_IOERR, 1);
	assert_status(f, r, S_OK, 513);
	assert_status(f, fl, S_OK, 1);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(mem(f, d)[i], pattern(3 * 512 + i));
	vbus_teardown(f->vm);
	file_read(f, 3 * 512, back, 512);
	assert_memory_equal(back, mem(f, d), 512);
}

/* SCSI pass-through (2.6.24's ioctls) and anything newer: UNSUPP. */
static void test_unsupported(void **state)
{
	struct fx *f = *state;
	uint32_t types[] = {T_SCSI, T_SCSI | T_OUT, T_GET_ID, T_SCSI | T_BARRIER, 77};
	struct req r[5];
	uint32_t d;

	r[0] = bare(f, T_SCSI, 0);
	for (unsigned i = 1; i < 5; i++)
		r[i] = rw(f, types[i], 0, 1, 512, &d);
	kick(f);
	wait_used(f, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_status(f, r[i], S_UNSUPP, 1);
	assert_false(f->vm->dead);
}

/* Data in the wrong direction is a failed request, not a dead guest. */
static void test_wrong_direction(void **state)
{
	struct fx *f = *state;
	uint32_t d = alloc_buf(f, 512);
	struct req r[2];

	for (unsigned i = 0; i < 2; i++) {
		/* A read whose data the device would read; a write whose data
		 * the device would write. */
		uint32_t h = header(f, i ? T_OUT : T_IN, 0), st = status_byte(f);

		r[i] = add_chain(f, (struct seg[]){{h, 24, false}, {d, 512, i}, {st, 1, true}}, 3);
		r[i].status = st;
	}
	kick(f);
	wait_used(f, 2);
	assert_status(f, r[0], S_IOERR, 1);
	assert_status(f, r[1], S_IOERR, 1);
	assert_false(f->vm->dead);
}

/* An empty read is a successful one. */
static void test_zero_length(void **state)
{
	struct fx *f = *state;
	struct req r = bare(f, T_IN, SECTORS);

	kick(f);
	wait_used(f, 1);
	assert_status(f, r, S_OK, 1);
}

static void malformed_kills(struct fx *f, const struct seg *segs, unsigned n, const char *why)
{
	add_chain(f, segs, n);
	kick(f);
	wait_dead(f);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	if (!strstr(f->vm->exit_reason, why))
		fail_msg("reason \"%s\" lacks \"%s\"", f->vm->exit_reason, why);
	assert_int_equal(f->used->idx, 0);
}

static void test_no_status_kills(void **state)
{
	struct fx *f = *state;

	malformed_kills(f, (struct seg[]){{header(f, T_OUT, 0), 24, false}, {BUF_GPA, 512, false}},
			2, "0 device-writable");
}

static void test_no_header_kills(void **state)
{
	struct fx *f = *state;

	malformed_kills(f, (struct seg[]){{BUF_GPA, 512, true}, {status_byte(f), 1, true}}, 2,
			"0 device-readable");
}

static void test_short_header_kills(void **state)
{
	struct fx *f = *state;

	malformed_kills(f,
			(struct seg[]){{header(f, T_IN, 0), 16, false}, {status_byte(f), 1, true}},
			2, "header is 16 bytes, not 24");
}

static void test_long_status_kills(void **state)
{
	struct fx *f = *state;

	malformed_kills(f,
			(struct seg[]){{header(f, T_IN, 0), 24, false},
				       {BUF_GPA + 0x1000, 512, true},
				       {status_byte(f), 2, true}},
			3, "status buffer is 2 bytes, not 1");
}

/* A hostile ring (the walker's own checks) kills from the I/O thread too. */
static void test_hostile_ring_kills(void **state)
{
	struct fx *f = *state;

	f->avail->ring[0] = 500;
	__atomic_store_n(&f->avail->idx, 1, __ATOMIC_RELEASE);
	kick(f);
	wait_dead(f);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	assert_non_null(strstr(f->vm->exit_reason, "names descriptor 500"));
}

/* Stopping with requests still offered: the teardown returns, and whatever
 * was taken was completed. */
static void test_teardown_in_flight(void **state)
{
	struct fx *f = *state;
	uint32_t d;

	for (unsigned i = 0; i < 42; i++)
		rw(f, i & 1 ? T_OUT : T_IN, i, 1, 512, &d);
	kick(f);
	vbus_teardown(f->vm);
	vbus_teardown(f->vm); /* twice is fine */
	assert_true(f->used->idx <= 42);
}

/* No request is taken before the first NOTIFY: until then the ring is not
 * the guest's yet. */
static void test_nothing_before_notify(void **state)
{
	struct fx *f = *state;
	uint32_t d;

	rw(f, T_IN, 0, 1, 512, &d);
	usleep(20000);
	assert_int_equal(f->used->idx, 0);
	kick(f);
	wait_used(f, 1);
}

/* How many io_urings this process has open; the last one's fd. */
static int io_urings(int *last)
{
	char path[64], target[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t len = readlink(path, target, sizeof(target) - 1);

		if (len < 0)
			continue;
		target[len] = 0;
		if (strstr(target, "io_uring")) {
			n++;
			*last = fd;
		}
	}
	return n;
}

/* The default backend really is io_uring (on a host that has it), and the
 * teardown closes it and lets go of the disk at once: the same file can be
 * added again straight away. */
static void test_uses_io_uring(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(io_urings(&fd), 1);
	vbus_teardown(f->vm);
	assert_int_equal(io_urings(&fd), 0);
	assert_int_equal(vbus_init(f->vm), 0);
	f->vm->mem.limit = MEM_SIZE;
	attach(f, false);
	assert_int_equal(io_urings(&fd), 1);
}

/*
 * Setting up, and what the user is told when it fails.
 */

static void add_fails(const char *path, bool ro, enum lgkvm_exit code, const char *why)
{
	struct vm *vm = vm_new();

	assert_int_equal(vbus_add_disk(vm, path, ro), -1);
	assert_true(vm->dead);
	assert_int_equal(vm->exit_code, code);
	assert_non_null(strstr(vm->exit_reason, "--disk "));
	if (!strstr(vm->exit_reason, why))
		fail_msg("reason \"%s\" lacks \"%s\"", vm->exit_reason, why);
	assert_int_equal(vm->bus.ndevs, 0);
	vbus_teardown(vm);
	fake_vm_free(vm);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	char small[] = "/tmp/test_blk_small.XXXXXX";
	int fd = mkstemp(small);

	add_fails("/nonexistent/disk.img", false, EXIT_USAGE, "No such file");
	add_fails("/tmp", false, EXIT_USAGE, "is a directory");
	add_fails("/tmp", true, EXIT_USAGE, "not a regular file");
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	add_fails(small, false, EXIT_USAGE, "smaller than one 512-byte sector");
	unlink(small);
	/* The fixture's VM holds the file: a second user is refused. */
	add_fails(f->path, false, EXIT_USAGE, "another program is using it");
	add_fails(f->path, true, EXIT_USAGE, "another program is using it");
}

/*
 * vm_stop() from many threads at once: one reason, whole, and `dead` set
 * for every caller when it returns.
 */

struct racer {
	struct vm *vm;
	int n;
	pthread_barrier_t *go;
	bool saw_dead;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	vm_stop(r->vm, (enum lgkvm_exit)(10 + r->n), "reason %d %.100s", r->n,
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	r->saw_dead = r->vm->dead;
	return NULL;
}

static void test_vm_stop_threads(void **state)
{
	(void)state;
	for (int round = 0; round < 200; round++) {
		struct vm *vm = calloc(1, sizeof(*vm));
		pthread_barrier_t go;
		pthread_t t[8];
		struct racer r[8];
		char want[256];
		int winner;

		pthread_barrier_init(&go, NULL, 8);
		for (int i = 0; i < 8; i++) {
			r[i] = (struct racer){vm, i, &go, false};
			pthread_create(&t[i], NULL, race, &r[i]);
		}
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		assert_true(vm->dead);
		winner = (int)vm->exit_code - 10;
		assert_true(winner >= 0 && winner < 8);
		snprintf(want, sizeof(want), "reason %d %.100s", winner,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			 "xxx"
			 "xxxx");
		assert_string_equal(vm->exit_reason, want);
		for (int i = 0; i < 8; i++)
			assert_true(r[i].saw_dead);
		free(vm);
	}
}

#define T(fn)	   cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
#define T_RO(fn)   cmocka_unit_test_setup_teardown(fn, fx_setup_ro, fx_teardown)
#define T_SYNC(fn) cmocka_unit_test_setup_teardown(fn, fx_setup_sync, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config),
		T(test_uses_io_uring),
		T(test_write_read_poweroff),
		T(test_many_reads_in_flight),
		T(test_barrier_and_flush),
		T(test_out_of_range),
		T(test_short_read_at_eof),
		T_RO(test_readonly),
		T(test_unsupported),
		T(test_wrong_direction),
		T(test_zero_length),
		T(test_no_status_kills),
		T(test_no_header_kills),
		T(test_short_header_kills),
		T(test_long_status_kills),
		T(test_hostile_ring_kills),
		T(test_teardown_in_flight),
		T(test_nothing_before_notify),
		T(test_open_errors),
		/* The synchronous backend must behave the same. */
		T_SYNC(test_write_read_poweroff),
		T_SYNC(test_many_reads_in_flight),
		T_SYNC(test_barrier_and_flush),
		T_SYNC(test_out_of_range),
		T_SYNC(test_short_read_at_eof),
		T_SYNC(test_unsupported),
		T_SYNC(test_long_status_kills),
		T_SYNC(test_teardown_in_flight),
		cmocka_unit_test(test_vm_stop_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
