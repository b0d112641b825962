/* Unit tests for the vring walker (virtio/ring.c), the device page
 * (virtio/lguest_bus.c) and the console (virtio/console.c).
 *
 * Guest memory here is a plain heap buffer of exactly the size we claim, so
 * under ASan any access the walker makes outside it is caught: the hostile
 * rings below must kill the guest without touching a byte they should not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/console.h"
#include "virtio/ring.h"
#include "tests/unit/fake_vm.h"

/* vm_stop() and vm_raise_irq() are the real ones (src/vm.c): they record
 * dead, exit_code, exit_reason and the pending IRQ bits, and with no vCPU
 * thread their kick is a no-op. */

#define RAM	 (1u << 20)
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)
#define RING_GPA 0x10000u
#define NUM	 8u

struct fx {
	struct vm *vm;
	struct vqueue q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* Saved stdin/stdout and what we put in their place. */
	int saved_in, saved_out, saved_err;
	int in_pipe[2];
	char out_path[64], log_path[64];
};

static uint8_t *mem(struct fx *f, uint64_t gpa)
{
	return f->vm->mem.base + gpa;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->vm = fake_vm_new(RAM, MEM_SIZE);
	f->vm->opt.console_log_max = 16u << 20;

	f->q = (struct vqueue){.num = NUM, .irq = 5, .id = 7};
	vring_place(&f->q, RING_GPA);
	f->desc = (struct vring_desc *)mem(f, RING_GPA);
	f->avail = (struct vring_avail *)mem(f, RING_GPA + vring_avail_off(NUM));
	f->used = (struct vring_used *)mem(f, RING_GPA + vring_used_off(NUM));

	/* stdin: a pipe we control.  stdout: a file we can read back. */
	fflush(stdout);
	f->saved_in = dup(0);
	f->saved_out = dup(1);
	f->saved_err = dup(2);
	assert_int_equal(pipe(f->in_pipe), 0);
	dup2(f->in_pipe[0], 0);
	strcpy(f->out_path, "/tmp/test_vring_out.XXXXXX");
	int out = mkstemp(f->out_path);
	dup2(out, 1);
	close(out);
	f->log_path[0] = 0;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	vbus_teardown(f->vm);
	dup2(f->saved_in, 0);
	dup2(f->saved_out, 1);
	dup2(f->saved_err, 2);
	close(f->saved_in);
	close(f->saved_out);
	close(f->saved_err);
	close(f->in_pipe[0]);
	if (f->in_pipe[1] >= 0)
		close(f->in_pipe[1]);
	unlink(f->out_path);
	if (f->log_path[0])
		unlink(f->log_path);
	fake_vm_free(f->vm);
	free(f);
	return 0;
}

static void set_desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	f->desc[i] = (struct vring_desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

static void offer(struct fx *f, uint16_t head)
{
	f->avail->ring[f->avail->idx % NUM] = head;
	f->avail->idx++;
}

static void assert_killed(struct fx *f, const char *why)
{
	assert_true(f->vm->dead);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	if (!strstr(f->vm->exit_reason, why))
		fail_msg("reason \"%s\" lacks \"%s\"", f->vm->exit_reason, why);
}

/* Pop must kill with `why`, return -1, and leave the consumer index alone. */
static void pop_kills(struct fx *f, const char *why)
{
	struct vchain c;
	uint16_t before = f->q.last_avail;

	assert_int_equal(vring_pop(f->vm, &f->q, &c), -1);
	assert_int_equal(f->q.last_avail, before);
	assert_killed(f, why);
}

static char *read_file(const char *path, size_t *len)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

/*
 * The walker on good rings.
 */

static void test_empty_ring(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	assert_int_equal(vring_pop(f->vm, &f->q, &c), 0);
	assert_false(f->vm->dead);
}

static void test_read_only_chain(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	memcpy(mem(f, 0x2000), "hello", 5);
	set_desc(f, 3, 0x2000, 5, 0, 0);
	offer(f, 3);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.nread, 1);
	assert_int_equal(c.nwrite, 0);
	assert_int_equal(c.read_len, 5);
	assert_ptr_equal(c.iov[0].iov_base, mem(f, 0x2000));
	assert_int_equal(c.iov[0].iov_len, 5);
	assert_int_equal(f->q.last_avail, 1);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 0);
}

static void test_write_only_chain(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	set_desc(f, 0, 0x3000, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
	set_desc(f, 5, 0x4000, 28, VRING_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.nread, 0);
	assert_int_equal(c.nwrite, 2);
	assert_int_equal(c.write_len, 128);
	assert_ptr_equal(c.iov[1].iov_base, mem(f, 0x4000));

	char src[128];
	memset(src, 'x', sizeof(src));
	assert_int_equal(vchain_scatter(&c, src, 110), 110);
	assert_int_equal(mem(f, 0x3000)[99], 'x');
	assert_int_equal(mem(f, 0x4000)[9], 'x');
	assert_int_equal(mem(f, 0x4000)[10], 0);
}

/* A block request: header and data readable, status writable. */
static void test_mixed_chain(void **state)
{
	struct fx *f = *state;
	struct vchain c;
	char got[40];

	memset(mem(f, 0x5000), 'h', 24);
	memset(mem(f, 0x6000), 'd', 512);
	set_desc(f, 1, 0x5000, 24, VRING_DESC_F_NEXT, 2);
	set_desc(f, 2, 0x6000, 512, VRING_DESC_F_NEXT, 4);
	set_desc(f, 4, 0x7000, 1, VRING_DESC_F_WRITE, 0);
	offer(f, 1);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.head, 1);
	assert_int_equal(c.nread, 2);
	assert_int_equal(c.nwrite, 1);
	assert_int_equal(c.read_len, 536);
	assert_int_equal(c.write_len, 1);
	assert_ptr_equal(c.iov[2].iov_base, mem(f, 0x7000));
	assert_int_equal(vchain_gather(&c, got, sizeof(got)), sizeof(got));
	assert_int_equal(got[23], 'h');
	assert_int_equal(got[24], 'd');
}

/* A chain may use every descriptor once: num links is fine. */
static void test_chain_of_num(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	for (unsigned i = 0; i < NUM; i++)
		set_desc(f, i, 0x8000 + i * 16, 16, i + 1 < NUM ? VRING_DESC_F_NEXT : 0, i + 1);
	offer(f, 0);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.nread, NUM);
	assert_false(f->vm->dead);
}

/* Zero-length buffers, and a buffer ending exactly at the limit. */
static void test_edges_accepted(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	set_desc(f, 0, 0x1000, 0, VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, MEM_SIZE - 16, 16, 0, 0);
	offer(f, 0);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.read_len, 16);
	assert_false(f->vm->dead);
}

static void test_push(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	set_desc(f, 6, 0x2000, 4, VRING_DESC_F_WRITE, 0);
	offer(f, 6);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	vring_push(f->vm, &f->q, c.head, 3);
	assert_int_equal(f->used->idx, 1);
	assert_int_equal(f->used->ring[0].id, 6);
	assert_int_equal(f->used->ring[0].len, 3);
}

/* A reset while a device thread holds a chain: handing it back later writes
 * nothing into the ring that was, giving it back untaken moves no index, and
 * the ring of the new generation starts from zero. */
static void test_reset_drops_old_chains(void **state)
{
	struct fx *f = *state;
	struct vchain c, d;

	set_desc(f, 6, 0x2000, 4, VRING_DESC_F_WRITE, 0);
	offer(f, 6);
	set_desc(f, 5, 0x2000, 4, VRING_DESC_F_WRITE, 0);
	offer(f, 5);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(vring_pop(f->vm, &f->q, &d), 1);
	vring_reset(&f->q);
	assert_false(vring_push_gen(f->vm, &f->q, c.gen, c.head, 3));
	vring_unpop(&f->q, &d);
	assert_int_equal(f->used->idx, 0);
	assert_int_equal(f->q.last_avail, 0);
	assert_int_equal(f->q.last_used, 0);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 0); /* not ready */
	/* The driver sets the queue up again: a fresh ring. */
	memset(f->avail, 0, sizeof(*f->avail));
	atomic_store(&f->q.ready, true);
	set_desc(f, 2, 0x2000, 4, VRING_DESC_F_WRITE, 0);
	offer(f, 2);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.head, 2);
	assert_true(vring_push_gen(f->vm, &f->q, c.gen, c.head, 3));
	assert_int_equal(f->used->idx, 1);
	assert_int_equal(f->used->ring[0].id, 2);
}

/* The indices are free-running u16s: everything must work across 0xFFFF. */
static void test_wraparound(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	f->avail->idx = 0xFFFE;
	f->q.last_avail = 0xFFFE;
	f->q.last_used = 0xFFFE;
	f->used->idx = 0xFFFE;
	for (unsigned i = 0; i < 4; i++) {
		set_desc(f, i, 0x2000 + i, 1, 0, 0);
		offer(f, (uint16_t)i);
	}
	assert_int_equal(f->avail->idx, 0x0002);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
		assert_int_equal(c.head, i);
		vring_push(f->vm, &f->q, c.head, 10 + i);
	}
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 0);
	assert_int_equal(f->q.last_avail, 2);
	assert_int_equal(f->used->idx, 2);
	/* 0xFFFE % 8 = 6: the entries went to 6, 7, 0, 1. */
	assert_int_equal(f->used->ring[6].id, 0);
	assert_int_equal(f->used->ring[7].id, 1);
	assert_int_equal(f->used->ring[0].id, 2);
	assert_int_equal(f->used->ring[1].id, 3);
	assert_int_equal(f->used->ring[1].len, 13);
	assert_false(f->vm->dead);
}

/* The guest scribbling on used.idx does not move where we write. */
static void test_used_idx_is_ours(void **state)
{
	struct fx *f = *state;

	f->used->idx = 0x1234;
	vring_push(f->vm, &f->q, 2, 1);
	assert_int_equal(f->used->idx, 1);
	assert_int_equal(f->used->ring[0].id, 2);
}

static void test_unpop(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	set_desc(f, 2, 0x2000, 4, VRING_DESC_F_WRITE, 0);
	offer(f, 2);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	vring_unpop(&f->q, &c);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 1);
	assert_int_equal(c.head, 2);
	assert_int_equal(vring_pop(f->vm, &f->q, &c), 0);
}

static void test_interrupt_suppression(void **state)
{
	struct fx *f = *state;

	f->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(vring_wants_irq(f->vm, &f->q));
	vring_complete(f->vm, &f->q, 0, 0);
	assert_int_equal(atomic_load(lg_pending(f->vm)), 0);

	f->avail->flags = 0;
	assert_true(vring_wants_irq(f->vm, &f->q));
	vring_complete(f->vm, &f->q, 1, 0);
	assert_int_equal(atomic_load(lg_pending(f->vm)), 1u << 5);
	assert_int_equal(f->used->idx, 2);
}

/*
 * The walker on hostile rings: each must kill, with a reason.
 */

static void test_loop_in_next(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x2000, 1, VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, 0x2000, 1, VRING_DESC_F_NEXT, 0);
	offer(f, 0);
	pop_kills(f, "loops");
	assert_non_null(strstr(f->vm->exit_reason, "virtqueue 7"));
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;

	set_desc(f, 3, 0x2000, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	offer(f, 3);
	pop_kills(f, "loops");
}

/* Every descriptor chained in a circle: longer than num. */
static void test_chain_longer_than_num(void **state)
{
	struct fx *f = *state;

	for (unsigned i = 0; i < NUM; i++)
		set_desc(f, i, 0x2000, 1, VRING_DESC_F_NEXT, (i + 1) % NUM);
	offer(f, 4);
	pop_kills(f, "longer than the ring");
}

static void test_next_beyond_ring(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x2000, 1, VRING_DESC_F_NEXT, NUM);
	offer(f, 0);
	pop_kills(f, "next 8 is beyond the ring");
}

static void test_next_huge(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x2000, 1, VRING_DESC_F_NEXT, 0xFFFF);
	offer(f, 0);
	pop_kills(f, "beyond the ring");
}

static void test_head_beyond_ring(void **state)
{
	struct fx *f = *state;

	offer(f, NUM);
	pop_kills(f, "names descriptor 8");
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;

	f->avail->idx = NUM + 1;
	pop_kills(f, "available index moved from 0 to 9");
}

static void test_avail_idx_jump_backwards(void **state)
{
	struct fx *f = *state;

	/* One behind us is 0xFFFF ahead. */
	f->q.last_avail = 5;
	f->avail->idx = 4;
	pop_kills(f, "available index moved");
}

static void test_addr_beyond_limit(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, MEM_SIZE, 1, 0, 0);
	offer(f, 0);
	pop_kills(f, "outside guest memory");
}

static void test_addr_straddles_limit(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, MEM_SIZE - 1, 2, VRING_DESC_F_WRITE, 0);
	offer(f, 0);
	pop_kills(f, "descriptor 0: buffer");
}

/* Mapped memory above the limit is still off limits. */
static void test_addr_mapped_but_beyond_limit(void **state)
{
	struct fx *f = *state;

	f->vm->mem.limit = RAM;
	set_desc(f, 0, RAM, 16, 0, 0);
	offer(f, 0);
	pop_kills(f, "outside guest memory");
}

static void test_addr_len_wraps(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0xFFFFFFFFFFFFFF00ull, 0x200, 0, 0);
	offer(f, 0);
	pop_kills(f, "outside guest memory");
}

static void test_addr_len_wraps_32(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0xFFFFF000u, 0x2000, 0, 0);
	offer(f, 0);
	pop_kills(f, "outside guest memory");
}

static void test_len_2g(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x1000, 0x80000000u, VRING_DESC_F_WRITE, 0);
	offer(f, 0);
	pop_kills(f, "outside guest memory");
}

/* A bad descriptor deep in a chain is caught too. */
static void test_bad_addr_mid_chain(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x2000, 1, VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, 0x2000, 1, VRING_DESC_F_NEXT, 2);
	set_desc(f, 2, 0x1FFFFFFFFull, 1, 0, 0);
	offer(f, 0);
	pop_kills(f, "descriptor 2");
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;

	set_desc(f, 0, 0x2000, 1, VRING_DESC_F_NEXT, 1);
	set_desc(f, 1, 0x3000, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(f, 2, 0x4000, 1, 0, 0);
	offer(f, 0);
	pop_kills(f, "device-readable buffer after a device-writable one");
}

/* The first reason wins: a second kill does not overwrite it. */
static void test_first_reason_wins(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	offer(f, NUM);
	pop_kills(f, "names descriptor");
	f->avail->idx = 100;
	assert_int_equal(vring_pop(f->vm, &f->q, &c), -1);
	assert_non_null(strstr(f->vm->exit_reason, "names descriptor"));
}

/* Our own mistakes stop the VM as an internal error, never overrun. */
static void test_host_ring_guards(void **state)
{
	struct fx *f = *state;
	struct vchain c;

	f->q.num = 0;
	assert_int_equal(vring_pop(f->vm, &f->q, &c), -1);
	assert_int_equal(f->vm->exit_code, EXIT_INTERNAL);
	f->vm->dead = false;
	f->q.num = 2 * VRING_NUM_MAX;
	assert_int_equal(vring_pop(f->vm, &f->q, &c), -1);
	f->vm->dead = false;
	f->q.num = NUM;
	f->vm->mem.limit = RING_GPA + 4096; /* below the used ring */
	assert_int_equal(vring_pop(f->vm, &f->q, &c), -1);
	assert_non_null(strstr(f->vm->exit_reason, "above the memory limit"));
	vring_push(f->vm, &f->q, 0, 0);
	assert_int_equal(f->used->idx, 0);
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64: reproducible, no libc state. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random garbage, biased towards almost-valid rings so the walker gets deep:
 * whatever the guest writes, vring_pop either hands back chains that lie
 * inside guest memory or kills the guest, and it always returns. */
static void test_random_rings(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	uint8_t *lo = f->vm->mem.base;
	struct vchain c;

	for (unsigned round = 0; round < 20000; round++) {
		f->vm->dead = false;
		f->q.last_avail = (uint16_t)rnd(&seed);
		f->q.last_used = (uint16_t)rnd(&seed);
		f->avail->idx = (uint16_t)(f->q.last_avail + rnd(&seed) % (NUM + 3));
		for (unsigned i = 0; i < NUM; i++) {
			uint64_t r = rnd(&seed);

			f->avail->ring[i] = (uint16_t)(r % 10 ? r % NUM : r);
			r = rnd(&seed);
			f->desc[i].addr = r % 32 ? r % MEM_SIZE : (r % 2 ? MEM_SIZE - r % 64 : r);
			r = rnd(&seed);
			f->desc[i].len = (uint32_t)(r % 32 ? r % 8192 : r);
			/* Mostly chained, mostly readable: long chains, some mixes. */
			r = rnd(&seed);
			f->desc[i].flags = (uint16_t)((r % 8 ? VRING_DESC_F_NEXT : 0) |
						      (r % 5 ? 0 : VRING_DESC_F_WRITE) |
						      (r % 97 ? 0 : r >> 48));
			r = rnd(&seed);
			f->desc[i].next = (uint16_t)(r % 64 ? r % NUM : r);
		}
		for (unsigned n = 0; n <= NUM + 1; n++) {
			int ret = vring_pop(f->vm, &f->q, &c);

			if (ret <= 0) {
				assert_int_equal(ret < 0, f->vm->dead);
				break;
			}
			assert_true(c.head < NUM);
			assert_true(c.nread + c.nwrite <= NUM);
			for (unsigned i = 0; i < c.nread + c.nwrite; i++) {
				uint8_t *p = c.iov[i].iov_base;

				assert_true(p >= lo && c.iov[i].iov_len <= MEM_SIZE &&
					    (size_t)(p - lo) <= MEM_SIZE - c.iov[i].iov_len);
			}
			vring_push(f->vm, &f->q, c.head, (uint32_t)c.write_len);
		}
	}
}

/*
 * The device page.
 */

static struct vdev *console_dev(struct fx *f)
{
	assert_int_equal(vbus_init(f->vm), 0);
	assert_int_equal(vbus_add_console(f->vm), 0);
	f->vm->mem.limit = vbus_limit(f->vm);
	return &f->vm->bus.devs[0];
}

static void test_console_record(void **state)
{
	struct fx *f = *state;
	struct vdev *dev = console_dev(f);
	const uint8_t *page = mem(f, RAM);
	const uint8_t want[] = {
		3, 20, 0,			       /* console, 20 config bytes */
		2, 8,  128, 0, 1, 0, 0x01, 0x01, 0, 0, /* vq: num 128, irq 1, pfn 0x101 */
		2, 8,  128, 0, 2, 0, 0x03, 0x01, 0, 0, /* vq: num 128, irq 2, pfn 0x103 */
		0,				       /* end of the list */
	};

	assert_memory_equal(page, want, sizeof(want));
	for (unsigned i = sizeof(want); i < 4096; i++)
		assert_int_equal(page[i], 0);
	assert_int_equal(dev->type, 3);
	assert_int_equal(dev->nq, 2);
	assert_int_equal(dev->q[0]->irq, 1);
	assert_int_equal(dev->q[1]->irq, 2);
	assert_int_equal(dev->q[0]->gpa, RAM + 0x1000);
	assert_int_equal(dev->q[1]->gpa, RAM + 0x3000);
	assert_int_equal(vbus_limit(f->vm), RAM + 4096 + 2 * 8192);
	assert_int_equal(f->vm->bus.nqueues, 2);
}

/* The guest marks fields used and writes status: we must not care. */
static void test_notify_ignores_page(void **state)
{
	struct fx *f = *state;
	struct vdev *dev = console_dev(f);
	uint8_t *page = mem(f, RAM);

	page[3] |= 0x80;
	page[13] |= 0x80;
	page[5] = 0xFF; /* even a rewritten num */
	page[2] = 7;
	assert_int_equal(vbus_status(f->vm, dev), 7);
	assert_true(vbus_notify(f->vm, RAM + 0x3000));
	assert_true(vbus_notify(f->vm, RAM + 0x1000));
	/* Same page frame as a ring, as the reference compares pfns. */
	assert_true(vbus_notify(f->vm, RAM + 0x3010));
	/* The second page of a ring, RAM and the device page are not rings. */
	assert_false(vbus_notify(f->vm, RAM + 0x2000));
	assert_false(vbus_notify(f->vm, 0x1000));
	assert_false(vbus_notify(f->vm, RAM));
	assert_false(f->vm->dead);
}

static void test_device_page_full(void **state)
{
	struct fx *f = *state;
	uint8_t big[200] = {0};
	struct vdev *dev, *net = NULL;
	unsigned queues = 0;
	int devnull = open("/dev/null", O_WRONLY);

	/* The failures below each print one sentence; keep the test output
	 * clean (the fixture puts stderr back, even if an assertion fails). */
	dup2(devnull, 2);
	close(devnull);
	assert_int_equal(vbus_init(f->vm), 0);
	dev = vbus_add_device(f->vm, 2, "block");
	assert_non_null(dev);
	/* 255 config bytes at most per device. */
	assert_int_equal(vbus_add_config(f->vm, dev, 0x41, -1, 0, 200, big), 0);
	assert_int_equal(vbus_add_config(f->vm, dev, 0x42, -1, 0, 60, big), -1);
	/* Queues until the interrupt lines run out: 31 of them (0 is the timer). */
	for (unsigned d = 0; d < 10; d++) {
		net = vbus_add_device(f->vm, 1, "net");
		assert_non_null(net);
		for (unsigned i = 0; i < 4 && vbus_add_queue(f->vm, net, 128); i++)
			queues++;
	}
	assert_int_equal(queues, 31);
	assert_int_equal(f->vm->bus.queues[30].irq, 31);
	assert_int_equal(vbus_limit(f->vm), RAM + 4096 + 31 * 8192);
	/* Fields and queues only go on the last device; sizes are powers of two. */
	assert_int_equal(vbus_add_config(f->vm, dev, 0x41, -1, 0, 1, big), -1);
	assert_null(vbus_add_queue(f->vm, net, 100));
}

/*
 * The console.
 */

static struct vqueue *outq(struct fx *f)
{
	return f->vm->bus.devs[0].q[1];
}

static struct vqueue *inq(struct fx *f)
{
	return f->vm->bus.devs[0].q[0];
}

/* Pointers into the console's rings, as the guest sees them. */
static struct vring_desc *qdesc(struct fx *f, struct vqueue *q)
{
	return (struct vring_desc *)mem(f, q->gpa);
}

static struct vring_avail *qavail(struct fx *f, struct vqueue *q)
{
	return (struct vring_avail *)mem(f, q->gpa + vring_avail_off(q->num));
}

static struct vring_used *qused(struct fx *f, struct vqueue *q)
{
	return (struct vring_used *)mem(f, q->gpa + vring_used_off(q->num));
}

static void qoffer(struct fx *f, struct vqueue *q, uint16_t head, uint64_t addr, uint32_t len,
		   uint16_t flags)
{
	struct vring_avail *a = qavail(f, q);

	qdesc(f, q)[head] = (struct vring_desc){.addr = addr, .len = len, .flags = flags};
	a->ring[a->idx % q->num] = head;
	a->idx++;
}

static const char *captured(struct fx *f)
{
	size_t len;

	return read_file(f->out_path, &len);
}

static void test_console_output(void **state)
{
	struct fx *f = *state;
	struct vqueue *q;

	console_dev(f);
	q = outq(f);
	qavail(f, q)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	memcpy(mem(f, 0x2000), "hello, ", 7);
	memcpy(mem(f, 0x3000), "world\r\n", 7);
	qoffer(f, q, 0, 0x2000, 7, 0);
	qoffer(f, q, 1, 0x3000, 7, 0);
	assert_true(vbus_notify(f->vm, q->gpa));
	assert_string_equal(captured(f), "hello, world\r\n");
	assert_int_equal(qused(f, q)->idx, 2);
	assert_int_equal(qused(f, q)->ring[1].id, 1);
	assert_int_equal(qused(f, q)->ring[1].len, 7); /* bytes consumed, as the reference */
	assert_int_equal(atomic_load(lg_pending(f->vm)), 0);

	/* Without NO_INTERRUPT, the queue's IRQ (2). */
	qavail(f, q)->flags = 0;
	qoffer(f, q, 2, 0x2000, 5, 0);
	assert_true(vbus_notify(f->vm, q->gpa));
	assert_string_equal(captured(f), "hello, world\r\nhello");
	assert_int_equal(atomic_load(lg_pending(f->vm)), 1u << 2);
	assert_false(f->vm->dead);
}

static void test_console_output_writable_kills(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	qoffer(f, outq(f), 0, 0x2000, 4, VRING_DESC_F_WRITE);
	vbus_notify(f->vm, outq(f)->gpa);
	assert_killed(f, "console: output buffer 0 has a device-writable descriptor");
}

static void test_console_output_hostile_ring(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	qoffer(f, outq(f), 0, RAM + 0x100000, 4, 0);
	vbus_notify(f->vm, outq(f)->gpa);
	assert_killed(f, "virtqueue 1: descriptor 0");
}

static void test_console_log_cap(void **state)
{
	struct fx *f = *state;
	size_t len;
	const char *log;
	int fd;

	strcpy(f->log_path, "/tmp/test_vring_log.XXXXXX");
	fd = mkstemp(f->log_path);
	close(fd);
	f->vm->opt.console_log = f->log_path;
	f->vm->opt.console_log_max = 8;
	console_dev(f);
	console_out(f->vm, "0123", 4);
	console_out(f->vm, "456789\n", 7);
	console_out(f->vm, "more\n", 5);
	log = read_file(f->log_path, &len);
	assert_string_equal(log, "01234567\n[lgkvm: console log truncated at 8 bytes]\n");
	assert_string_equal(captured(f), "0123456789\nmore\n");
}

static void test_console_log_cap_at_line_end(void **state)
{
	struct fx *f = *state;
	size_t len;
	int fd;

	strcpy(f->log_path, "/tmp/test_vring_log.XXXXXX");
	fd = mkstemp(f->log_path);
	close(fd);
	f->vm->opt.console_log = f->log_path;
	f->vm->opt.console_log_max = 4;
	console_dev(f);
	console_out(f->vm, "abc\nxyz", 7);
	assert_string_equal(read_file(f->log_path, &len),
			    "abc\n[lgkvm: console log truncated at 4 bytes]\n");
}

/* stdout that cannot be written (a pipe whose reader left, a full disk): one
 * message on stderr, the first time, and the log goes on. */
static void stdout_fails(struct fx *f, int out_fd, const char *why)
{
	char err_path[] = "/tmp/test_vring_err.XXXXXX";
	int err = mkstemp(err_path), fd;
	const char *text;
	size_t len;

	strcpy(f->log_path, "/tmp/test_vring_log.XXXXXX");
	fd = mkstemp(f->log_path);
	close(fd);
	f->vm->opt.console_log = f->log_path;
	console_dev(f);
	/* As lgkvm's main() does: a closed pipe is EPIPE, not death. */
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	int out = dup(1);
	dup2(out_fd, 1);
	dup2(err, 2);
	console_out(f->vm, "one\n", 4);
	console_out(f->vm, "two\n", 4);
	dup2(out, 1);
	close(out);
	dup2(f->saved_err, 2);
	signal(SIGPIPE, old_pipe);
	text = read_file(err_path, &len);
	if (strcmp(text, why) != 0)
		fail_msg("stderr was \"%s\", not \"%s\"", text, why);
	assert_string_equal(read_file(f->log_path, &len), "one\ntwo\n");
	assert_false(f->vm->dead);
	close(err);
	unlink(err_path);
}

static void test_console_stdout_closed_pipe(void **state)
{
	struct fx *f = *state;
	int p[2];

	assert_int_equal(pipe(p), 0);
	close(p[0]);
	stdout_fails(f, p[1],
		     "lgkvm: cannot write the guest's console to stdout (Broken pipe); dropping "
		     "its output from now on (--console-log still has it)\n");
	close(p[1]);
}

static void test_console_stdout_full(void **state)
{
	struct fx *f = *state;
	int full = open("/dev/full", O_WRONLY);

	if (full < 0)
		skip();
	stdout_fails(f, full,
		     "lgkvm: cannot write the guest's console to stdout (No space left on "
		     "device); dropping its output from now on (--console-log still has it)\n");
	close(full);
}

static void test_console_early(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	memcpy(mem(f, 0x9000), "early\r\n", 8);
	console_early(f->vm, 0x9000);
	assert_string_equal(captured(f), "early\r\n");

	/* No NUL for 300 bytes: print 256 and go on. */
	memset(mem(f, 0xA000), 'z', 300);
	console_early(f->vm, 0xA000);
	assert_int_equal(strlen(captured(f)), 7 + 256);
	assert_false(f->vm->dead);
}

static void test_console_early_runs_off_memory(void **state)
{
	struct fx *f = *state;
	uint64_t limit;

	console_dev(f);
	limit = f->vm->mem.limit;
	memset(mem(f, limit - 4), 'x', 4);
	console_early(f->vm, (uint32_t)(limit - 4));
	assert_killed(f, "runs off the end of guest memory");
	assert_string_equal(captured(f), "");
}

static void test_console_early_outside(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	console_early(f->vm, 0xFFFFFFF0u);
	assert_killed(f, "outside guest memory");
}

static void type_in(struct fx *f, const char *s, size_t len)
{
	assert_int_equal(write(f->in_pipe[1], s, len), (ssize_t)len);
}

static void test_console_input(void **state)
{
	struct fx *f = *state;
	struct pollfd fds[4];
	struct vqueue *q;

	console_dev(f);
	q = inq(f);
	/* The driver posts a buffer and kicks; nothing is typed yet. */
	qoffer(f, q, 0, 0x2000, 64, VRING_DESC_F_WRITE);
	assert_true(vbus_notify(f->vm, q->gpa));
	assert_int_equal(qused(f, q)->idx, 0);
	assert_int_equal(vbus_pollfds(f->vm, fds, 4), 1);
	assert_int_equal(fds[0].fd, 0);

	type_in(f, "ls\r", 3);
	vbus_poll(f->vm);
	assert_int_equal(qused(f, q)->idx, 1);
	assert_int_equal(qused(f, q)->ring[0].id, 0);
	assert_int_equal(qused(f, q)->ring[0].len, 3);
	assert_memory_equal(mem(f, 0x2000), "ls\r", 3);
	assert_int_equal(atomic_load(lg_pending(f->vm)), 1u << 1);

	/* Typed with no buffer posted: we stop watching stdin... */
	type_in(f, "x", 1);
	vbus_poll(f->vm);
	assert_int_equal(vbus_pollfds(f->vm, fds, 4), 0);
	/* ...until the guest posts one, which gets the waiting byte. */
	qoffer(f, q, 1, 0x3000, 64, VRING_DESC_F_WRITE);
	assert_true(vbus_notify(f->vm, q->gpa));
	assert_int_equal(qused(f, q)->idx, 2);
	assert_int_equal(qused(f, q)->ring[1].len, 1);
	assert_int_equal(mem(f, 0x3000)[0], 'x');
	assert_int_equal(vbus_pollfds(f->vm, fds, 4), 1);
	assert_false(f->vm->dead);
}

static void test_console_input_eof(void **state)
{
	struct fx *f = *state;
	struct pollfd fds[4];
	struct vqueue *q;

	console_dev(f);
	q = inq(f);
	close(f->in_pipe[1]);
	f->in_pipe[1] = -1;
	qoffer(f, q, 0, 0x2000, 64, VRING_DESC_F_WRITE);
	assert_true(vbus_notify(f->vm, q->gpa));
	vbus_poll(f->vm);
	/* The buffer stays posted, and stdin is never watched again. */
	assert_int_equal(qused(f, q)->idx, 0);
	assert_int_equal(vbus_pollfds(f->vm, fds, 4), 0);
	assert_true(vbus_notify(f->vm, q->gpa));
	assert_int_equal(vbus_pollfds(f->vm, fds, 4), 0);
	assert_false(f->vm->dead);
}

static void test_console_input_readable_kills(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	type_in(f, "a", 1);
	qoffer(f, inq(f), 0, 0x2000, 64, 0);
	vbus_notify(f->vm, inq(f)->gpa);
	assert_killed(f, "console: input buffer 0 has a device-readable descriptor");
}

static void test_console_three_ctrl_c(void **state)
{
	struct fx *f = *state;
	struct vqueue *q;

	console_dev(f);
	q = inq(f);
	qoffer(f, q, 0, 0x2000, 64, VRING_DESC_F_WRITE);
	type_in(f, "\x03\x03", 2);
	vbus_notify(f->vm, q->gpa);
	assert_false(f->vm->dead);
	qoffer(f, q, 1, 0x3000, 64, VRING_DESC_F_WRITE);
	type_in(f, "\x03", 1);
	vbus_notify(f->vm, q->gpa);
	assert_true(f->vm->dead);
	assert_int_equal(f->vm->exit_code, EXIT_INTERRUPTED);
	assert_string_equal(f->vm->exit_reason, "three Ctrl-C on the console");
	/* The guest got them all first. */
	assert_int_equal(qused(f, q)->idx, 2);
}

static void test_console_ctrl_c_reset(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	qoffer(f, inq(f), 0, 0x2000, 64, VRING_DESC_F_WRITE);
	type_in(f, "\x03\x03q\x03", 4);
	vbus_notify(f->vm, inq(f)->gpa);
	assert_false(f->vm->dead);
	assert_int_equal(qused(f, inq(f))->ring[0].len, 4);
}

static void test_teardown_twice(void **state)
{
	struct fx *f = *state;

	console_dev(f);
	vbus_teardown(f->vm);
	assert_null(f->vm->bus.console);
	vbus_teardown(f->vm);
	console_term_restore();
	/* After teardown, output still reaches stdout, and kicks are harmless. */
	console_out(f->vm, "ok", 2);
	assert_true(vbus_notify(f->vm, outq(f)->gpa));
	assert_string_equal(captured(f), "ok");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_ring),
		T(test_read_only_chain),
		T(test_write_only_chain),
		T(test_mixed_chain),
		T(test_chain_of_num),
		T(test_edges_accepted),
		T(test_push),
		T(test_reset_drops_old_chains),
		T(test_wraparound),
		T(test_used_idx_is_ours),
		T(test_unpop),
		T(test_interrupt_suppression),
		T(test_loop_in_next),
		T(test_self_loop),
		T(test_chain_longer_than_num),
		T(test_next_beyond_ring),
		T(test_next_huge),
		T(test_head_beyond_ring),
		T(test_avail_idx_jump),
		T(test_avail_idx_jump_backwards),
		T(test_addr_beyond_limit),
		T(test_addr_straddles_limit),
		T(test_addr_mapped_but_beyond_limit),
		T(test_addr_len_wraps),
		T(test_addr_len_wraps_32),
		T(test_len_2g),
		T(test_bad_addr_mid_chain),
		T(test_readable_after_writable),
		T(test_first_reason_wins),
		T(test_host_ring_guards),
		T(test_random_rings),
		T(test_console_record),
		T(test_notify_ignores_page),
		T(test_device_page_full),
		T(test_console_output),
		T(test_console_output_writable_kills),
		T(test_console_output_hostile_ring),
		T(test_console_log_cap),
		T(test_console_log_cap_at_line_end),
		T(test_console_stdout_closed_pipe),
		T(test_console_stdout_full),
		T(test_console_early),
		T(test_console_early_runs_off_memory),
		T(test_console_early_outside),
		T(test_console_input),
		T(test_console_input_eof),
		T(test_console_input_readable_kills),
		T(test_console_three_ctrl_c),
		T(test_console_ctrl_c_reset),
		T(test_teardown_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
