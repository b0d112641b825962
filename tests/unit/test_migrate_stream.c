/* A migration's stream (src/migrate_stream.c) over a real socket pair: what
 * the source sends arrives page for page; a stream cut short anywhere is
 * refused with a sentence that says where; a source that goes quiet frees
 * the destination (its socket's receive limit) and is named as quiet.  And
 * the listening unix socket (src/unix_listen.c): there only once it answers,
 * owner-only, never over an existing file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/migrate_stream.h"
#include "src/snapshot_format.h"
#include "src/unix_listen.h"
#include "virtio/bus.h"

#define RAM	 (16u << 20)
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)

struct pair {
	int src, dst, mem_fd;
	uint64_t size, pages;
	void *state;
	size_t state_len;
	char err[256];
};

/* A socket pair with room for a small stream, and the destination's memory
 * file. */
static void pair_open(struct pair *p)
{
	int sv[2];
	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	p->src = sv[0];
	p->dst = sv[1];
	p->mem_fd = memfd_create("test-mig", MFD_CLOEXEC);
	assert_true(p->mem_fd >= 0);
}

/* The destination's builder, as a test sees it: what it was given, and
 * whether it refuses. */
struct builder {
	unsigned calls;
	size_t len;
	char first[64];
	bool refuse;
};

static int build(void *ctx, const void *tree, size_t len, char *err, size_t errlen)
{
	struct builder *b = ctx;
	b->calls++;
	b->len = len;
	snprintf(b->first, sizeof(b->first), "%s", (const char *)tree);
	if (b->refuse) {
		snprintf(err, errlen, "the builder refused");
		return -1;
	}
	return 0;
}

static int pair_receive_to(struct pair *p, struct builder *b)
{
	return mig_receive(p->dst, p->mem_fd, b ? build : NULL, b, &p->size, &p->state,
			   &p->state_len, &p->pages, p->err, sizeof(p->err));
}

static int pair_receive(struct pair *p)
{
	return pair_receive_to(p, NULL);
}

static void pair_close(struct pair *p)
{
	if (p->src >= 0)
		close(p->src);
	close(p->dst);
	close(p->mem_fd);
	free(p->state);
}

static uint8_t page_of(uint64_t page, unsigned i)
{
	return (uint8_t)(page * 7 + i);
}

static const char machine[48] = "the machine, as the migration began";

/* Two runs of pages (100..102 and 103..107) and a state, as a source sends
 * them from its guest memory; with_machine: the machine record first. */
static void send_machine_and_some(int fd, bool with_machine, bool with_state)
{
	static uint8_t mem[108 * MIG_PAGE];
	for (uint64_t pg = 100; pg < 108; pg++)
		for (unsigned i = 0; i < MIG_PAGE; i++)
			mem[pg * MIG_PAGE + i] = page_of(pg, i);
	static const char tree[64] = "a state tree, opaque to the stream";
	assert_int_equal(mig_send_header(fd, MEM_SIZE), 0);
	if (with_machine)
		assert_int_equal(mig_send_machine(fd, machine, sizeof(machine)), 0);
	assert_int_equal(mig_send_pages(fd, mem, 100, 3), 0);
	assert_int_equal(mig_send_pages(fd, mem, 103, 5), 0);
	if (with_state)
		assert_int_equal(mig_send_state(fd, tree, sizeof(tree)), 0);
}

static void send_some(int fd, bool with_state)
{
	send_machine_and_some(fd, false, with_state);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	send_some(p.src, true);
	assert_int_equal(pair_receive(&p), 0);
	assert_int_equal(p.size, MEM_SIZE);
	assert_int_equal(p.pages, 8);
	assert_int_equal(p.state_len, 64);
	assert_string_equal((char *)p.state, "a state tree, opaque to the stream");
	uint8_t got[MIG_PAGE];
	for (uint64_t pg = 100; pg < 108; pg++) {
		assert_int_equal(pread(p.mem_fd, got, sizeof(got), SNAP_MEM_HDR + pg * MIG_PAGE),
				 sizeof(got));
		for (unsigned i = 0; i < MIG_PAGE; i += 511)
			assert_int_equal(got[i], page_of(pg, i));
	}
	/* The memory file is the memory's size; what was not sent is zero. */
	struct stat st;
	assert_int_equal(fstat(p.mem_fd, &st), 0);
	assert_int_equal(st.st_size, SNAP_MEM_HDR + MEM_SIZE);
	assert_int_equal(pread(p.mem_fd, got, sizeof(got), SNAP_MEM_HDR + 99 * MIG_PAGE),
			 sizeof(got));
	assert_int_equal(got[0] | got[MIG_PAGE - 1], 0);
	pair_close(&p);
}

/* The whole stream, cut after every length: each is refused, none hangs
 * (the source's end is closed), and the sentence says what was cut. */
static void test_every_cut(void **state)
{
	(void)state;
	struct pair whole;
	pair_open(&whole);
	send_some(whole.src, true);
	close(whole.src);
	whole.src = -1;
	static uint8_t buf[64 << 10];
	ssize_t len = read(whole.dst, buf, sizeof(buf));
	assert_true(len > (ssize_t)(MIG_HEADER_LEN + 8 * MIG_PAGE));
	pair_close(&whole);
	for (ssize_t cut = 0; cut < len; cut += cut < 64 ? 1 : 997) {
		struct pair p;
		pair_open(&p);
		assert_int_equal(write(p.src, buf, (size_t)cut), cut);
		close(p.src);
		p.src = -1;
		assert_int_equal(pair_receive(&p), -1);
		assert_non_null(strstr(p.err, "migration stream: "));
		assert_non_null(strstr(p.err, cut < (ssize_t)MIG_HEADER_LEN ? "before its header"
									    : "ended"));
		assert_null(strstr(p.err, "sent nothing"));
		assert_null(p.state);
		pair_close(&p);
	}
}

/* A source that stops sending, the connection still open: with a receive
 * limit on the socket (migrate_accept sets MIG_QUIET_S; 1 s here), the
 * destination gives up and says the source went quiet. */
static void test_quiet_source(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	struct timeval tv = {.tv_sec = 1};
	assert_int_equal(setsockopt(p.dst, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	send_some(p.src, false); /* no state: the stream stops mid-way */
	assert_int_equal(pair_receive(&p), -1);
	assert_non_null(strstr(p.err, "ended before the machine's state"));
	assert_non_null(strstr(p.err, "the source sent nothing for"));
	assert_int_equal(p.pages, 8); /* what came, came */
	pair_close(&p);
}

/* The machine record: before the pages, once, handed to the builder; the
 * rest arrives as without it.  The builder's refusal ends the stream there;
 * a second record, or one after pages, is refused before it sees it. */
static void test_machine_record(void **state)
{
	(void)state;
	struct pair p;
	struct builder b = {0};
	pair_open(&p);
	send_machine_and_some(p.src, true, true);
	assert_int_equal(pair_receive_to(&p, &b), 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.len, sizeof(machine));
	assert_string_equal(b.first, machine);
	assert_int_equal(p.pages, 8);
	assert_int_equal(p.state_len, 64);
	pair_close(&p);

	/* No builder: read and dropped. */
	pair_open(&p);
	send_machine_and_some(p.src, true, true);
	assert_int_equal(pair_receive(&p), 0);
	assert_int_equal(p.pages, 8);
	pair_close(&p);

	pair_open(&p);
	memset(&b, 0, sizeof(b));
	b.refuse = true;
	send_machine_and_some(p.src, true, true);
	assert_int_equal(pair_receive_to(&p, &b), -1);
	assert_string_equal(p.err, "the builder refused");
	assert_int_equal(p.pages, 0);
	assert_null(p.state);
	pair_close(&p);

	static uint8_t mem[MIG_PAGE];
	for (int after_pages = 0; after_pages < 2; after_pages++) {
		pair_open(&p);
		memset(&b, 0, sizeof(b));
		assert_int_equal(mig_send_header(p.src, MEM_SIZE), 0);
		if (after_pages)
			assert_int_equal(mig_send_pages(p.src, mem, 0, 1), 0);
		else
			assert_int_equal(mig_send_machine(p.src, machine, sizeof(machine)), 0);
		assert_int_equal(mig_send_machine(p.src, machine, sizeof(machine)), 0);
		assert_int_equal(pair_receive_to(&p, &b), -1);
		assert_non_null(strstr(p.err, "a second machine record, or one after pages"));
		assert_int_equal(b.calls, after_pages ? 0 : 1);
		pair_close(&p);
	}
}

static void test_unix_listen(void **state)
{
	(void)state;
	char path[64], err[200];
	snprintf(path, sizeof(path), "/tmp/lgkvm-test-listen.%d", (int)getpid());
	unlink(path);
	int fd = unix_listen(path, 1, 0, err, sizeof(err));
	assert_true(fd >= 0);
	/* There, owner-only, and answering: a connect made the moment the
	 * file exists is never refused. */
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(c);
	/* The private name it was bound under is gone. */
	char tmp[96];
	snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int)getpid());
	assert_int_equal(access(tmp, F_OK), -1);
	/* A second one at the same path: refused, the first untouched. */
	assert_int_equal(unix_listen(path, 1, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	assert_int_equal(lstat(path, &st), 0);
	close(fd);
	unlink(path);
	/* A path with no room for the private name: refused, said so. */
	char longp[120];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[106] = '\0'; /* 106 bytes, and the private name longer than 107 */
	assert_int_equal(unix_listen(longp, 1, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	/* A directory that is not there: the system's reason. */
	assert_int_equal(unix_listen("/nonexistent/x.sock", 1, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_every_cut),
		cmocka_unit_test(test_quiet_source), cmocka_unit_test(test_machine_record),
		cmocka_unit_test(test_unix_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
