/* Unit tests for the 2.6.23 DMA device bus (virtio/dma_bus.c), with no KVM:
 * a VM of generation G0 built by hand, a disk in a temporary file, the
 * network on a SOCK_SEQPACKET socketpair, the console on a pipe (stdin) and a
 * temporary file (stdout).  BIND_DMA and SEND_DMA are called as the
 * hypercall dispatcher calls them; what a guest would see is read back from
 * guest memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/dma_bus.h"
#include "virtio/transport.h"
#include "src/le.h"
#include "tests/unit/fake_vm.h"

#define RAM	   (1u << 20)
#define MEM_SIZE   (RAM + VBUS_AREA_SIZE)
#define DISK_BYTES (64u * 512u + 100u) /* a ragged tail, not a sector */
#define DMA_GPA	   0x10000u	       /* our struct lguest_dma arrays */
#define BUF_GPA	   0x20000u	       /* data */

static const uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

struct fx {
	struct vm *vm;
	int wire; /* the network's other end */
	char disk_path[64], out_path[64];
	int saved_in, saved_out, in_pipe[2];
	uint32_t blk_page, net_page;
};

static uint8_t *mem(struct fx *f, uint64_t gpa)
{
	return f->vm->mem.base + gpa;
}

/* struct lguest_dma at gpa with the given sections. */
static void dma_write(struct fx *f, uint32_t gpa, const uint32_t *addr, const uint16_t *len,
		      unsigned n)
{
	uint8_t *d = mem(f, gpa);
	memset(d, 0, DMA_STRUCT_LEN);
	for (unsigned i = 0; i < n; i++) {
		le32_put(d + 4 + 4 * i, addr[i]);
		memcpy(d + 68 + 2 * i, &len[i], 2);
	}
}

static void dma1(struct fx *f, uint32_t gpa, uint32_t addr, uint16_t len)
{
	dma_write(f, gpa, &addr, &len, 1);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int sv[2];

	f->vm = fake_vm_new(RAM, MEM_SIZE);
	f->vm->opt.quiet = true;
	f->vm->opt.console_log_max = 1u << 20;
	f->vm->lg.abi = abi_get(GEN_G0);
	assert_int_equal(vbus_init(f->vm), 0);
	assert_ptr_equal(f->vm->bus.tp, &dma_bus);

	/* A disk of 64 sectors and a tail; sector n is filled with byte n. */
	strcpy(f->disk_path, "/tmp/test_dma_disk.XXXXXX");
	int fd = mkstemp(f->disk_path);
	assert_true(fd >= 0);
	for (unsigned s = 0; s < 64; s++) {
		uint8_t sec[512];
		memset(sec, (int)s, sizeof(sec));
		assert_int_equal(write(fd, sec, sizeof(sec)), 512);
	}
	assert_int_equal(write(fd, "tail-tail", 9), 9);
	assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
	assert_int_equal(dma_add_disk_fd(f->vm, f->disk_path, fd, false), 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->wire = sv[1];
	assert_int_equal(dma_add_net_fd(f->vm, sv[0], mac), 0);

	/* The console last, as lgkvm adds it: stdin a pipe, stdout a file. */
	fflush(stdout);
	f->saved_in = dup(0);
	f->saved_out = dup(1);
	assert_int_equal(pipe(f->in_pipe), 0);
	dup2(f->in_pipe[0], 0);
	strcpy(f->out_path, "/tmp/test_dma_out.XXXXXX");
	int out = mkstemp(f->out_path);
	dup2(out, 1);
	close(out);
	assert_int_equal(vbus_add_console_fd(f->vm, -1), 0);
	assert_int_equal(vbus_finish(f->vm), 0);
	f->vm->mem.limit = vbus_limit(f->vm);

	f->blk_page = RAM + 4096;
	f->net_page = RAM + 8192;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	vbus_teardown(f->vm);
	fflush(stdout);
	dup2(f->saved_in, 0);
	dup2(f->saved_out, 1);
	close(f->saved_in);
	close(f->saved_out);
	close(f->in_pipe[0]);
	if (f->in_pipe[1] >= 0)
		close(f->in_pipe[1]);
	close(f->wire);
	unlink(f->disk_path);
	unlink(f->out_path);
	fake_vm_free(f->vm);
	free(f);
	return 0;
}

static uint32_t pending(struct fx *f)
{
	return atomic_exchange(lg_pending(f->vm), 0);
}

/* ---- the descriptor page ------------------------------------------------- */

static void test_descriptors(void **state)
{
	struct fx *f = *state;
	const uint8_t *d = mem(f, RAM);
	uint16_t v[4];

	/* Block, network, console, in that order; then zeros. */
	memcpy(v, d, 8);
	assert_int_equal(v[0], DMA_T_BLOCK);
	assert_int_equal(v[1], DMA_F_RANDOMNESS);
	assert_int_equal(v[3], 1);
	assert_int_equal(le32_get(d + 8), f->blk_page / 4096);
	memcpy(v, d + 12, 8);
	assert_int_equal(v[0], DMA_T_NET);
	assert_int_equal(v[1], DMA_F_RANDOMNESS | DMA_NET_GUEST_SLOT);
	assert_int_equal(le32_get(d + 20), f->net_page / 4096);
	memcpy(v, d + 24, 8);
	assert_int_equal(v[0], DMA_T_CONSOLE);
	assert_int_equal(v[3], 0);
	assert_int_equal(le32_get(d + 32), 0);
	assert_int_equal(d[36], 0);
	/* The block page says how many whole sectors; slot 0 of the MAC page
	 * is ours, marked promiscuous. */
	assert_int_equal(le32_get(mem(f, f->blk_page) + DMA_BLK_NUM_SECTORS), 64);
	assert_int_equal(mem(f, f->net_page)[0], mac[0] | 1);
	assert_memory_equal(mem(f, f->net_page) + 1, mac + 1, 5);
	/* The guest may name RAM and the three pages, nothing more. */
	assert_int_equal(f->vm->mem.limit, RAM + 3 * 4096);
	assert_int_not_equal(f->vm->bus.dma.guestid, 0);
}

/* ---- BIND_DMA ---------------------------------------------------------- */

static void test_bind_answers(void **state)
{
	struct fx *f = *state;
	struct vm *vm = f->vm;

	assert_int_equal(dma_bind(vm, 0x100, DMA_GPA, 2 << 8 | 3), 1);
	assert_int_equal(dma_bind(vm, 0x100, DMA_GPA, 0), 1);		/* unbind */
	assert_int_equal(dma_bind(vm, 0x100, DMA_GPA, 0), 0);		/* nothing left */
	assert_int_equal(dma_bind(vm, 0x100, DMA_GPA, 1 << 8 | 32), 0); /* IRQ too big */
	for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++)
		assert_int_equal(dma_bind(vm, 0x200 + 4 * i, DMA_GPA, 1 << 8 | 3), 1);
	assert_int_equal(dma_bind(vm, 0x400, DMA_GPA, 1 << 8 | 3), 0); /* table full */
	assert_false(vm->dead);
}

static void expect_kill(struct fx *f, const char *reason)
{
	assert_true(f->vm->dead);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	if (!strstr(f->vm->exit_reason, reason))
		fail_msg("kill reason \"%s\", want \"%s\"", f->vm->exit_reason, reason);
}

static void test_bind_unaligned_key(void **state)
{
	struct fx *f = *state;
	dma_bind(f->vm, 0x102, DMA_GPA, 1 << 8 | 3);
	expect_kill(f, "bad dma key 0x102");
}

static void test_bind_key_outside(void **state)
{
	struct fx *f = *state;
	dma_bind(f->vm, RAM + 3 * 4096, DMA_GPA, 1 << 8 | 3);
	expect_kill(f, "bad dma key");
}

static void test_bind_twice(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dma_bind(f->vm, 0x100, DMA_GPA, 1 << 8 | 3), 1);
	dma_bind(f->vm, 0x100, DMA_GPA + 100, 1 << 8 | 3);
	expect_kill(f, "dma key 0x100 bound twice");
}

static void test_bind_array_outside(void **state)
{
	struct fx *f = *state;
	/* The last entry would end one byte past what the guest may name. */
	dma_bind(f->vm, 0x100, RAM + 3 * 4096 - 2 * DMA_STRUCT_LEN + 1, 2 << 8 | 3);
	expect_kill(f, "bad DMA array");
}

static void test_bind_counts(void **state)
{
	struct fx *f = *state;
	dma_bind(f->vm, 0x100, DMA_GPA, 0x10000u << 8 | 3);
	expect_kill(f, "bad DMA count 65536");
}

/* ---- struct lguest_dma checks --------------------------------------------- */

static void test_dma_read_sections(void **state)
{
	struct fx *f = *state;
	uint32_t addr[16];
	uint16_t len[16];
	struct dma_buf b;

	for (unsigned i = 0; i < 16; i++) {
		addr[i] = BUF_GPA + 4096 * i;
		len[i] = (uint16_t)(i + 1);
	}
	dma_write(f, DMA_GPA, addr, len, 16);
	assert_true(dma_buf_read(f->vm, DMA_GPA, &b));
	assert_int_equal(b.n, 16);
	assert_int_equal(b.total, 136);
	assert_ptr_equal(b.iov[15].iov_base, mem(f, BUF_GPA + 4096 * 15));
	/* A zero length ends the list, whatever follows. */
	len[3] = 0;
	dma_write(f, DMA_GPA, addr, len, 16);
	assert_true(dma_buf_read(f->vm, DMA_GPA, &b));
	assert_int_equal(b.n, 3);
	/* A full page is fine. */
	dma1(f, DMA_GPA, BUF_GPA, 4096);
	assert_true(dma_buf_read(f->vm, DMA_GPA, &b));
	assert_false(f->vm->dead);
}

static void test_dma_crossing_page(void **state)
{
	struct fx *f = *state;
	struct dma_buf b;
	dma1(f, DMA_GPA, BUF_GPA + 4000, 200);
	assert_false(dma_buf_read(f->vm, DMA_GPA, &b));
	expect_kill(f, "bad DMA entry: 200@0x20fa0");
}

static void test_dma_too_long(void **state)
{
	struct fx *f = *state;
	struct dma_buf b;
	dma1(f, DMA_GPA, BUF_GPA, 4097);
	assert_false(dma_buf_read(f->vm, DMA_GPA, &b));
	expect_kill(f, "bad DMA entry: 4097@0x20000");
}

static void test_dma_outside(void **state)
{
	struct fx *f = *state;
	struct dma_buf b;
	/* The device area beyond the pages handed out is not the guest's. */
	dma1(f, DMA_GPA, RAM + 3 * 4096, 16);
	assert_false(dma_buf_read(f->vm, DMA_GPA, &b));
	expect_kill(f, "bad DMA entry");
}

static void test_dma_struct_outside(void **state)
{
	struct fx *f = *state;
	struct dma_buf b;
	/* The struct itself straddles the end of what the guest may name. */
	assert_false(dma_buf_read(f->vm, RAM + 3 * 4096 - 50, &b));
	expect_kill(f, "bad DMA struct address");
}

/* ---- the console ---------------------------------------------------------- */

static void test_console_out(void **state)
{
	struct fx *f = *state;
	uint32_t addr[2] = {BUF_GPA, BUF_GPA + 100};
	uint16_t len[2] = {6, 7};
	char got[32] = {0};

	memcpy(mem(f, BUF_GPA), "hello ", 6);
	memcpy(mem(f, BUF_GPA + 100), "world!\n", 7);
	dma_write(f, DMA_GPA, addr, len, 2);
	dma_send(f->vm, DMA_CONSOLE_KEY, DMA_GPA);
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 13);
	fflush(stdout);
	int fd = open(f->out_path, O_RDONLY);
	assert_int_equal(read(fd, got, sizeof(got) - 1), 13);
	close(fd);
	assert_string_equal(got, "hello world!\n");
	/* A key nobody listens on takes nothing. */
	le32_put(mem(f, DMA_GPA), 0);
	dma_send(f->vm, 0x3000, DMA_GPA);
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 0);
	assert_false(f->vm->dead);
}

static void test_console_in(void **state)
{
	struct fx *f = *state;

	/* Nothing bound: the bytes are dropped, no interrupt. */
	assert_int_equal(write(f->in_pipe[1], "ab", 2), 2);
	vbus_poll(f->vm);
	assert_int_equal(pending(f), 0);
	/* A buffer bound to key 0 (IRQ 3, the console's): filled, used_len
	 * set, interrupt raised. */
	dma1(f, DMA_GPA, BUF_GPA, 64);
	assert_int_equal(dma_bind(f->vm, DMA_CONSOLE_KEY, DMA_GPA, 1 << 8 | 3), 1);
	assert_int_equal(write(f->in_pipe[1], "ls\n", 3), 3);
	vbus_poll(f->vm);
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 3);
	assert_memory_equal(mem(f, BUF_GPA), "ls\n", 3);
	assert_int_equal(pending(f), 1u << 3);
	assert_false(f->vm->dead);
}

/* ---- block ---------------------------------------------------------------- */

static void blk_request(struct fx *f, uint32_t type, uint32_t sector, uint32_t bytes)
{
	uint8_t *p = mem(f, f->blk_page);
	le32_put(p + DMA_BLK_TYPE, type);
	le32_put(p + DMA_BLK_SECTOR, sector);
	le32_put(p + DMA_BLK_BYTES, bytes);
	le32_put(p + DMA_BLK_RESULT, 0);
}

static void test_block_read_write(void **state)
{
	struct fx *f = *state;
	uint32_t reply = DMA_GPA, send = DMA_GPA + 0x1000;
	uint32_t addr[2] = {BUF_GPA, BUF_GPA + 0x1000};
	uint16_t len[2] = {100, 412};

	/* The reply buffer, in two sections. */
	dma_write(f, reply, addr, len, 2);
	assert_int_equal(dma_bind(f->vm, f->blk_page, reply, 1 << 8 | 1), 1);
	/* Read sector 5: an empty DMA sent, the reply filled. */
	blk_request(f, 0, 5, 512);
	dma_write(f, send, NULL, NULL, 0);
	dma_send(f->vm, f->blk_page, send);
	assert_false(f->vm->dead);
	assert_int_equal(le32_get(mem(f, f->blk_page) + DMA_BLK_RESULT), 1);
	assert_int_equal(le32_get(mem(f, reply)), 512);
	assert_int_equal(mem(f, BUF_GPA)[0], 5);
	assert_int_equal(mem(f, BUF_GPA + 0x1000)[411], 5);
	assert_int_equal(pending(f), 1u << 1);

	/* Write sector 7 from the sent DMA; the reply says 0. */
	le32_put(mem(f, reply), 0);
	memset(mem(f, BUF_GPA + 0x2000), 0xAB, 512);
	dma1(f, send, BUF_GPA + 0x2000, 512);
	blk_request(f, 1, 7, 512);
	dma_send(f->vm, f->blk_page, send);
	assert_int_equal(le32_get(mem(f, f->blk_page) + DMA_BLK_RESULT), 1);
	assert_int_equal(le32_get(mem(f, reply)), 0);
	uint8_t sec[512];
	int fd = open(f->disk_path, O_RDONLY);
	assert_int_equal(pread(fd, sec, 512, 7 * 512), 512);
	close(fd);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(sec[i], 0xAB);

	/* A short answer (bytes says more than was moved) is result 2. */
	blk_request(f, 0, 5, 1024);
	dma_write(f, send, NULL, NULL, 0);
	dma_send(f->vm, f->blk_page, send);
	assert_int_equal(le32_get(mem(f, f->blk_page) + DMA_BLK_RESULT), 2);
	assert_false(f->vm->dead);
}

static void test_block_past_end(void **state)
{
	struct fx *f = *state;
	dma1(f, DMA_GPA, BUF_GPA, 512);
	assert_int_equal(dma_bind(f->vm, f->blk_page, DMA_GPA, 1 << 8 | 1), 1);
	blk_request(f, 0, 64, 512); /* the tail is not a sector */
	dma_write(f, DMA_GPA + 0x1000, NULL, NULL, 0);
	dma_send(f->vm, f->blk_page, DMA_GPA + 0x1000);
	expect_kill(f, "block: sector 64 is past the end of the disk (64 sectors)");
}

static void test_block_write_past_end(void **state)
{
	struct fx *f = *state;
	dma1(f, DMA_GPA, BUF_GPA, 512);
	assert_int_equal(dma_bind(f->vm, f->blk_page, DMA_GPA, 1 << 8 | 1), 1);
	uint32_t addr[2] = {BUF_GPA, BUF_GPA + 0x1000};
	uint16_t len[2] = {512, 512};
	dma_write(f, DMA_GPA + 0x1000, addr, len, 2);
	blk_request(f, 1, 63, 1024);
	dma_send(f->vm, f->blk_page, DMA_GPA + 0x1000);
	expect_kill(f, "runs past the end");
}

static void test_block_no_reply(void **state)
{
	struct fx *f = *state;
	blk_request(f, 0, 0, 512);
	dma_write(f, DMA_GPA, NULL, NULL, 0);
	dma_send(f->vm, f->blk_page, DMA_GPA);
	expect_kill(f, "no reply buffer");
}

/* ---- network ---------------------------------------------------------- */

static void test_net_send(void **state)
{
	struct fx *f = *state;
	uint32_t addr[2] = {BUF_GPA, BUF_GPA + 0x1000};
	uint16_t len[2] = {14, 50};
	uint8_t got[128];

	memset(mem(f, BUF_GPA), 0x11, 14);
	memset(mem(f, BUF_GPA + 0x1000), 0x22, 50);
	dma_write(f, DMA_GPA, addr, len, 2);
	dma_send(f->vm, f->net_page, DMA_GPA); /* to slot 0: us */
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 64);
	assert_int_equal(recv(f->wire, got, sizeof(got), 0), 64);
	assert_int_equal(got[0], 0x11);
	assert_int_equal(got[63], 0x22);
}

static void test_net_receive(void **state)
{
	struct fx *f = *state;
	uint32_t key = f->net_page + 4 * DMA_NET_GUEST_SLOT;
	uint8_t frame[100];

	/* No buffers: the frame is dropped, no interrupt, nothing killed. */
	memset(frame, 0x33, sizeof(frame));
	assert_int_equal(send(f->wire, frame, sizeof(frame), 0), 100);
	vbus_poll(f->vm);
	assert_int_equal(pending(f), 0);
	/* Two buffers (IRQ 2): filled one after the other. */
	dma1(f, DMA_GPA, BUF_GPA, 1514);
	dma1(f, DMA_GPA + DMA_STRUCT_LEN, BUF_GPA + 0x1000, 1514);
	assert_int_equal(dma_bind(f->vm, key, DMA_GPA, 2 << 8 | 2), 1);
	assert_int_equal(send(f->wire, frame, 60, 0), 60);
	frame[0] = 0x44;
	assert_int_equal(send(f->wire, frame, 70, 0), 70);
	vbus_poll(f->vm);
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 60);
	assert_int_equal(le32_get(mem(f, DMA_GPA + DMA_STRUCT_LEN)), 70);
	assert_int_equal(mem(f, BUF_GPA + 0x1000)[0], 0x44);
	assert_int_equal(pending(f), 1u << 2);
	/* Both full: the next frame is dropped.  The guest frees the first;
	 * the search starts after the last one filled and wraps to it. */
	assert_int_equal(send(f->wire, frame, 80, 0), 80);
	vbus_poll(f->vm);
	le32_put(mem(f, DMA_GPA), 0);
	frame[0] = 0x55;
	assert_int_equal(send(f->wire, frame, 90, 0), 90);
	vbus_poll(f->vm);
	assert_int_equal(le32_get(mem(f, DMA_GPA)), 90);
	assert_int_equal(mem(f, BUF_GPA)[0], 0x55);
	assert_false(f->vm->dead);
}

static void test_net_receive_bad_buffer(void **state)
{
	struct fx *f = *state;
	uint32_t key = f->net_page + 4 * DMA_NET_GUEST_SLOT;
	uint8_t frame[60] = {0};

	/* The bound buffer's section points outside: found at delivery. */
	dma1(f, DMA_GPA, 0xF0000000u, 1514);
	assert_int_equal(dma_bind(f->vm, key, DMA_GPA, 1 << 8 | 2), 1);
	assert_int_equal(send(f->wire, frame, sizeof(frame), 0), 60);
	vbus_poll(f->vm);
	expect_kill(f, "bad DMA entry: 1514@0xf0000000");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_descriptors),
		T(test_bind_answers),
		T(test_bind_unaligned_key),
		T(test_bind_key_outside),
		T(test_bind_twice),
		T(test_bind_array_outside),
		T(test_bind_counts),
		T(test_dma_read_sections),
		T(test_dma_crossing_page),
		T(test_dma_too_long),
		T(test_dma_outside),
		T(test_dma_struct_outside),
		T(test_console_out),
		T(test_console_in),
		T(test_block_read_write),
		T(test_block_past_end),
		T(test_block_write_past_end),
		T(test_block_no_reply),
		T(test_net_send),
		T(test_net_receive),
		T(test_net_receive_bad_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
