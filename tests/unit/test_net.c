/* Unit tests for the network device (virtio/net.c), on a socketpair.
 *
 * vbus_add_net_fd() takes any descriptor that carries one frame per read and
 * write; a SOCK_SEQPACKET socketpair does, and its other end is the "wire" we
 * test from: what the guest sends we recv() there, what we send() there the
 * guest should receive.  The receive thread is the real one, so we wait for
 * the used ring to move, with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/net.h"
#include "virtio/ring.h"
#include "tests/unit/fake_vm.h"

#define RAM	 (1u << 20)
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)
#define BUF_GPA	 0x20000u
#define WAIT_NS	 (5ull * 1000000000ull)

static const uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

struct ring {
	struct vqueue *q;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next_desc;
};

struct fx {
	struct vm *vm;
	struct vdev *dev;
	struct ring rx, tx;
	int wire; /* our end of the socketpair */
	uint32_t next_buf;
};

static uint8_t *mem(struct fx *f, uint64_t gpa)
{
	return f->vm->mem.base + gpa;
}

static void ring_init(struct fx *f, struct ring *r, struct vqueue *q)
{
	r->q = q;
	r->desc = (struct vring_desc *)mem(f, q->gpa);
	r->avail = (struct vring_avail *)mem(f, q->gpa + vring_avail_off(q->num));
	r->used = (struct vring_used *)mem(f, q->gpa + vring_used_off(q->num));
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int sv[2];

	f->vm = fake_vm_new(RAM, MEM_SIZE);
	f->vm->opt.quiet = true;
	f->next_buf = BUF_GPA;
	assert_int_equal(vbus_init(f->vm), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->wire = sv[1];
	assert_int_equal(vbus_add_net_fd(f->vm, sv[0], mac, "test"), 0);
	f->vm->mem.limit = vbus_limit(f->vm);
	f->dev = &f->vm->bus.devs[0];
	ring_init(f, &f->rx, f->dev->q[0]);
	ring_init(f, &f->tx, f->dev->q[1]);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	vbus_teardown(f->vm);
	close(f->wire);
	fake_vm_free(f->vm);
	free(f);
	return 0;
}

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

static uint16_t add_chain(struct ring *r, const struct seg *segs, unsigned n)
{
	uint16_t head = r->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((r->next_desc + i) % r->q->num);

		r->desc[d] = (struct vring_desc){
			.addr = segs[i].gpa,
			.len = segs[i].len,
			.flags = (uint16_t)((segs[i].writable ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = (uint16_t)((d + 1) % r->q->num),
		};
	}
	r->next_desc = (uint16_t)((r->next_desc + n) % r->q->num);
	r->avail->ring[r->avail->idx % r->q->num] = head;
	__atomic_store_n(&r->avail->idx, (uint16_t)(r->avail->idx + 1), __ATOMIC_RELEASE);
	return head;
}

static void kick(struct fx *f, struct ring *r)
{
	assert_true(vbus_notify(f->vm, r->q->gpa));
}

static void wait_used(struct ring *r, uint16_t n)
{
	uint64_t end = now_ns() + WAIT_NS;

	while (__atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE) != n) {
		if (now_ns() > end)
			fail_msg("used.idx is %u after 5 s, want %u", r->used->idx, n);
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

static void assert_reason(struct fx *f, const char *why)
{
	assert_true(f->vm->dead);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	if (!strstr(f->vm->exit_reason, why))
		fail_msg("reason \"%s\" lacks \"%s\"", f->vm->exit_reason, why);
}

/* A receive buffer the way 2.6.24 posts them: header, then room for 1514
 * bytes (or `room`).  Both preset to 0xEE so we see what was written. */
struct rxbuf {
	uint16_t head;
	uint32_t hdr, data;
};

static struct rxbuf post_rx(struct fx *f, uint32_t room)
{
	struct rxbuf b;

	b.hdr = alloc_buf(f, 8);
	b.data = alloc_buf(f, room);
	memset(mem(f, b.hdr), 0xEE, 8);
	memset(mem(f, b.data), 0xEE, room);
	b.head = add_chain(&f->rx, (struct seg[]){{b.hdr, 8, true}, {b.data, room, true}}, 2);
	return b;
}

static void frame(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 3);
}

static void wire_send(struct fx *f, size_t len, uint8_t seed)
{
	static uint8_t buf[65536];

	frame(buf, len, seed);
	assert_int_equal(send(f->wire, buf, len, 0), (ssize_t)len);
}

static void assert_delivered(struct fx *f, uint16_t used_i, struct rxbuf b, size_t len,
			     uint8_t seed)
{
	static uint8_t want[2048];
	struct vring_used_elem *e = &f->rx.used->ring[used_i % f->rx.q->num];
	static const uint8_t zero[8];

	assert_int_equal(e->id, b.head);
	assert_int_equal(e->len, 8 + len);
	assert_memory_equal(mem(f, b.hdr), zero, 8);
	frame(want, len, seed);
	assert_memory_equal(mem(f, b.data), want, len);
}

/*
 * The device record.
 */

static void test_record(void **state)
{
	struct fx *f = *state;
	const uint8_t *rec = mem(f, f->vm->bus.page_gpa);

	assert_int_equal(rec[0], 1); /* network */
	assert_int_equal(rec[1], 10 + 10 + 8);
	assert_int_equal(rec[3], 2);  /* receive queue */
	assert_int_equal(rec[13], 2); /* transmit queue */
	assert_int_equal(rec[23], 0x41);
	assert_int_equal(rec[24], 6);
	assert_memory_equal(rec + 25, mac, 6);
	assert_int_equal(rec[31], 0);
	assert_int_equal(f->rx.q->num, 128);
	assert_int_equal(f->tx.q->num, 128);
	assert_int_not_equal(f->rx.q->irq, f->tx.q->irq);
}

/*
 * Transmit.
 */

/* Header + a frame in two pieces: one datagram on the wire, completed before
 * NOTIFY returns, with an interrupt. */
static void test_tx(void **state)
{
	struct fx *f = *state;
	uint32_t hdr = alloc_buf(f, 8), a = alloc_buf(f, 40), b = alloc_buf(f, 60);
	uint8_t got[200];

	memset(mem(f, hdr), 0, 8);
	frame(mem(f, a), 40, 1);
	frame(mem(f, b), 60, 41);
	uint16_t head = add_chain(
		&f->tx, (struct seg[]){{hdr, 8, false}, {a, 40, false}, {b, 60, false}}, 3);
	kick(f, &f->tx);
	assert_int_equal(f->tx.used->idx, 1); /* synchronous under NOTIFY */
	assert_int_equal(f->tx.used->ring[0].id, head);
	assert_int_equal(f->tx.used->ring[0].len, 100);
	/* The interrupt follows the batch it announces. */
	for (int i = 0; i < 5000 && !(atomic_load(lg_pending(f->vm)) & (1u << f->tx.q->irq)); i++)
		usleep(1000);
	assert_true(*lg_pending(f->vm) & (1u << f->tx.q->irq));
	assert_int_equal(recv(f->wire, got, sizeof(got), 0), 100);
	assert_memory_equal(got, mem(f, a), 40);
	assert_memory_equal(got + 40, mem(f, b), 60);
	assert_int_equal(net_counters(f->dev).tx_frames, 1);
}

/* Several frames queued before one kick all go, in order. */
static void test_tx_batch(void **state)
{
	struct fx *f = *state;
	uint8_t got[200];

	for (unsigned i = 0; i < 10; i++) {
		uint32_t hdr = alloc_buf(f, 8), d = alloc_buf(f, 64);

		frame(mem(f, d), 64, (uint8_t)i);
		add_chain(&f->tx, (struct seg[]){{hdr, 8, false}, {d, 64, false}}, 2);
	}
	kick(f, &f->tx);
	wait_used(&f->tx, 10);
	for (unsigned i = 0; i < 10; i++) {
		uint8_t want[64];

		frame(want, 64, (uint8_t)i);
		assert_int_equal(recv(f->wire, got, sizeof(got), 0), 64);
		assert_memory_equal(got, want, 64);
	}
}

/* The wire refuses (the peer's queue is full): the frame is dropped and
 * counted, and the buffer still comes back. */
static void test_tx_refused(void **state)
{
	struct fx *f = *state;
	uint32_t hdr = alloc_buf(f, 8), d = alloc_buf(f, 1000);
	unsigned sent = 0;

	/* Nobody reads the wire: sooner or later it is full. */
	for (unsigned i = 0; i < 5000; i++) {
		uint16_t before = f->tx.used->idx;

		add_chain(&f->tx, (struct seg[]){{hdr, 8, false}, {d, 1000, false}}, 2);
		kick(f, &f->tx);
		wait_used(&f->tx, (uint16_t)(before + 1));
		if (net_counters(f->dev).tx_dropped)
			break;
		sent++;
	}
	assert_int_equal(net_counters(f->dev).tx_dropped, 1);
	assert_int_equal(net_counters(f->dev).tx_frames, sent);
	assert_false(f->vm->dead);
}

static void test_tx_bad_header_kills(void **state)
{
	struct fx *f = *state;
	uint32_t hdr = alloc_buf(f, 10), d = alloc_buf(f, 64);

	add_chain(&f->tx, (struct seg[]){{hdr, 10, false}, {d, 64, false}}, 2);
	kick(f, &f->tx);
	wait_dead(f);
	assert_reason(f, "net: transmit buffer 0: header is 10 bytes, not 8");
	assert_int_equal(f->tx.used->idx, 0);
}

static void test_tx_writable_kills(void **state)
{
	struct fx *f = *state;
	uint32_t hdr = alloc_buf(f, 8), d = alloc_buf(f, 64);

	add_chain(&f->tx, (struct seg[]){{hdr, 8, false}, {d, 64, true}}, 2);
	kick(f, &f->tx);
	wait_dead(f);
	assert_reason(f, "device-writable");
}

/*
 * Receive.
 */

static void test_rx(void **state)
{
	struct fx *f = *state;
	struct rxbuf b[4];

	for (unsigned i = 0; i < 4; i++)
		b[i] = post_rx(f, 1514);
	kick(f, &f->rx);
	wire_send(f, 60, 7);
	wire_send(f, 1514, 9); /* the largest there is */
	wait_used(&f->rx, 2);
	assert_delivered(f, 0, b[0], 60, 7);
	assert_delivered(f, 1, b[1], 1514, 9);
	assert_true(*lg_pending(f->vm) & (1u << f->rx.q->irq));
	assert_int_equal(net_counters(f->dev).rx_frames, 2);
}

/* Frames too long for the 2.6.24 driver never reach it; the one after
 * them does, in the buffer they would have used. */
static void test_rx_too_long(void **state)
{
	struct fx *f = *state;
	struct rxbuf b[2];

	b[0] = post_rx(f, 1514);
	b[1] = post_rx(f, 1514);
	kick(f, &f->rx);
	wire_send(f, 1515, 1);
	wire_send(f, 9000, 2);
	wire_send(f, 100, 3);
	wait_used(&f->rx, 1);
	assert_delivered(f, 0, b[0], 100, 3);
	assert_int_equal(net_counters(f->dev).rx_dropped, 2);
	assert_int_equal(net_counters(f->dev).rx_frames, 1);
}

/* Larger buffers do not make a long frame acceptable: the driver's limit
 * is its own, whatever the buffer. */
static void test_rx_big_buffer_still_1514(void **state)
{
	struct fx *f = *state;
	struct rxbuf b = post_rx(f, 4000);

	kick(f, &f->rx);
	wire_send(f, 2000, 1);
	wire_send(f, 64, 2);
	wait_used(&f->rx, 1);
	assert_delivered(f, 0, b, 64, 2);
	assert_int_equal(net_counters(f->dev).rx_dropped, 1);
}

/* A frame that does not fit the buffer the guest gave is dropped too. */
static void test_rx_small_buffer(void **state)
{
	struct fx *f = *state;
	struct rxbuf b = post_rx(f, 64);

	kick(f, &f->rx);
	wire_send(f, 65, 1);
	wire_send(f, 64, 2);
	wait_used(&f->rx, 1);
	assert_delivered(f, 0, b, 64, 2);
	assert_int_equal(net_counters(f->dev).rx_dropped, 1);
}

/* No buffers, no reading: frames wait on the wire (nothing is dropped)
 * until the guest posts buffers and kicks, then arrive in order. */
static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	struct rxbuf b[3];

	b[0] = post_rx(f, 1514);
	kick(f, &f->rx);
	for (unsigned i = 0; i < 3; i++)
		wire_send(f, 100 + i, (uint8_t)i);
	wait_used(&f->rx, 1);
	usleep(50000);
	assert_int_equal(f->rx.used->idx, 1);
	assert_int_equal(net_counters(f->dev).rx_dropped, 0);
	b[1] = post_rx(f, 1514);
	b[2] = post_rx(f, 1514);
	kick(f, &f->rx);
	wait_used(&f->rx, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_delivered(f, (uint16_t)i, b[i], 100 + i, (uint8_t)i);
}

/* Before the driver's first kick the ring is not set up: nothing is taken,
 * even with frames waiting. */
static void test_rx_nothing_before_notify(void **state)
{
	struct fx *f = *state;
	struct rxbuf b = post_rx(f, 1514);

	wire_send(f, 80, 5);
	usleep(50000);
	assert_int_equal(f->rx.used->idx, 0);
	kick(f, &f->rx);
	wait_used(&f->rx, 1);
	assert_delivered(f, 0, b, 80, 5);
}

/* The guest asked for no interrupts (NAPI polling): none is raised. */
static void test_rx_no_interrupt(void **state)
{
	struct fx *f = *state;
	struct rxbuf b = post_rx(f, 1514);

	f->rx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	kick(f, &f->rx);
	wire_send(f, 80, 5);
	wait_used(&f->rx, 1);
	assert_delivered(f, 0, b, 80, 5);
	assert_false(*lg_pending(f->vm) & (1u << f->rx.q->irq));
}

/* A guest left with NO_INTERRUPT set and frames it was never told about
 * (the 2.6.24 open race, see net.c) gets one interrupt after a while. */
static void test_rx_nudge(void **state)
{
	struct fx *f = *state;

	post_rx(f, 1514);
	post_rx(f, 1514);
	f->rx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	kick(f, &f->rx);
	wire_send(f, 80, 5);
	wait_used(&f->rx, 1);
	assert_false(*lg_pending(f->vm) & (1u << f->rx.q->irq));
	usleep(400000);
	assert_true(*lg_pending(f->vm) & (1u << f->rx.q->irq));
	/* Once per episode: taken, and not raised again. */
	atomic_fetch_and(lg_pending(f->vm), ~(1u << f->rx.q->irq));
	usleep(400000);
	assert_false(*lg_pending(f->vm) & (1u << f->rx.q->irq));
}

/* When the receive queue comes to life, delivery waits a moment (the
 * driver enables NAPI only after its kick). */
static void test_rx_hold_after_kick(void **state)
{
	struct fx *f = *state;
	struct timespec a, b;

	post_rx(f, 1514);
	wire_send(f, 80, 5);
	clock_gettime(CLOCK_MONOTONIC, &a);
	kick(f, &f->rx);
	wait_used(&f->rx, 1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec) >= 9000000);
}

static void test_rx_readable_kills(void **state)
{
	struct fx *f = *state;
	uint32_t hdr = alloc_buf(f, 8), d = alloc_buf(f, 1514);

	add_chain(&f->rx, (struct seg[]){{hdr, 8, false}, {d, 1514, true}}, 2);
	kick(f, &f->rx);
	wire_send(f, 60, 1);
	wait_dead(f);
	assert_reason(f, "net: receive buffer 0 has a device-readable descriptor");
}

static void test_rx_bad_header_kills(void **state)
{
	struct fx *f = *state;
	uint32_t d = alloc_buf(f, 1514);

	add_chain(&f->rx, (struct seg[]){{d, 1514, true}}, 1);
	kick(f, &f->rx);
	wire_send(f, 60, 1);
	wait_dead(f);
	assert_reason(f, "header is 1514 bytes, not 8");
}

/* The wire goes away: the guest lives on, it just receives nothing. */
static void test_rx_wire_closed(void **state)
{
	struct fx *f = *state;

	post_rx(f, 1514);
	shutdown(f->wire, SHUT_RDWR);
	kick(f, &f->rx);
	usleep(50000);
	assert_false(f->vm->dead);
	assert_int_equal(f->rx.used->idx, 0);
}

/*
 * Setting up.
 */

static void test_bad_net_ip(void **state)
{
	static const char *bad[] = {"10.0.0", "10.0.0.1/33", "10.0.0.1/",  "::1",
				    "x",      "10.0.0.1/8x", "10.0.0.1/-1"};
	(void)state;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm *vm = fake_vm_new(RAM, MEM_SIZE);

		assert_int_equal(vbus_init(vm), 0);
		assert_int_equal(vbus_add_net(vm, NULL, bad[i]), -1);
		assert_int_equal(vm->exit_code, EXIT_USAGE);
		assert_non_null(strstr(vm->exit_reason, "--net-ip"));
		assert_int_equal(vm->bus.ndevs, 0);
		fake_vm_free(vm);
	}
}

/* A tap name already taken by an interface of another kind (the loopback):
 * the user's mistake, exit 2, not "no usable host" (7).  Needs /dev/net/tun
 * and CAP_NET_ADMIN; skipped without them. */
static void test_tap_name_taken(void **state)
{
	struct vm *vm = fake_vm_new(RAM, MEM_SIZE);

	(void)state;
	assert_int_equal(vbus_init(vm), 0);
	assert_int_equal(vbus_add_net(vm, "lo", NULL), -1);
	bool can = vm->exit_code != EXIT_HOST;
	if (can) {
		assert_int_equal(vm->exit_code, EXIT_USAGE);
		assert_non_null(
			strstr(vm->exit_reason, "--net tap=lo: the kernel refuses that name"));
	}
	fake_vm_free(vm);
	if (!can)
		skip();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_record),
		T(test_tx),
		T(test_tx_batch),
		T(test_tx_refused),
		T(test_tx_bad_header_kills),
		T(test_tx_writable_kills),
		T(test_rx),
		T(test_rx_too_long),
		T(test_rx_big_buffer_still_1514),
		T(test_rx_small_buffer),
		T(test_rx_backpressure),
		T(test_rx_nothing_before_notify),
		T(test_rx_no_interrupt),
		T(test_rx_nudge),
		T(test_rx_hold_after_kick),
		T(test_rx_readable_kills),
		T(test_rx_bad_header_kills),
		T(test_rx_wire_closed),
		cmocka_unit_test(test_bad_net_ip),
		cmocka_unit_test(test_tap_name_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
