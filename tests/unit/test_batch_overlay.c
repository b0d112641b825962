/* Unit tests for src/batch_overlay.c: a job's private copy of a disk.
 *
 * The copy must read back byte for byte as the original, must not allocate
 * blocks for holes or for blocks of zeros (a sparse copy), and writing to it
 * must leave the original as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/batch_overlay.h"

#define MIB (1024 * 1024)

static char dir[64], src[96], dst[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_batch_overlay.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/disk.img", dir);
	snprintf(dst, sizeof(dst), "%s/copy.img", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(src);
	unlink(dst);
	rmdir(dir);
	return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	unsigned char *p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* 16 MiB: data at 0, a hole, a 1 MiB run of written zeros with one byte set
 * in its middle, a hole, data in the last block but not up to the end. */
static void make_image(void)
{
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * MIB), 0);
	assert_int_equal(pwrite(fd, "boot sector", 11, 0), 11);
	unsigned char *zeros = calloc(1, MIB);
	assert_non_null(zeros);
	zeros[MIB / 2] = 0x5A;
	assert_int_equal(pwrite(fd, zeros, MIB, 4 * MIB), MIB);
	free(zeros);
	assert_int_equal(pwrite(fd, "tail", 4, 16 * MIB - 100), 4);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static void check_copy(bool allow_reflink)
{
	char err[256] = "";
	make_image();
	size_t slen, dlen;
	unsigned char *before = slurp(src, &slen);
	struct stat s0;
	assert_int_equal(stat(src, &s0), 0);

	int how = batch_overlay_copy(src, dst, allow_reflink, err, sizeof(err));
	if (how < 0)
		fail_msg("%s", err);
	if (!allow_reflink)
		assert_int_equal(how, OVERLAY_SPARSE);
	unsigned char *copy = slurp(dst, &dlen);
	assert_int_equal(dlen, slen);
	assert_memory_equal(copy, before, slen);
	struct stat sd;
	assert_int_equal(stat(dst, &sd), 0);
	assert_int_equal(sd.st_mode & 0777, 0600);
	if (how == OVERLAY_SPARSE)
		/* Three non-zero blocks (plus indirect blocks of the filesystem),
		 * not 16 MiB and not the 1 MiB of written zeros. */
		assert_true(sd.st_blocks * 512 < 256 * 1024);

	/* The job writes its copy: the original must not change. */
	int fd = open(dst, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "guest wrote this", 16, 0), 16);
	assert_int_equal(pwrite(fd, "and this", 8, 8 * MIB), 8);
	close(fd);
	unsigned char *after = slurp(src, &slen);
	assert_memory_equal(after, before, slen);
	struct stat s1;
	assert_int_equal(stat(src, &s1), 0);
	assert_int_equal(s1.st_mtim.tv_sec, s0.st_mtim.tv_sec);
	assert_int_equal(s1.st_mtim.tv_nsec, s0.st_mtim.tv_nsec);
	free(before);
	free(after);
	free(copy);
	unlink(dst);
}

static void test_sparse_copy(void **state)
{
	(void)state;
	check_copy(false);
}

static void test_reflink_or_sparse(void **state)
{
	(void)state;
	check_copy(true);
}

static void test_refusals(void **state)
{
	(void)state;
	char err[256] = "";
	make_image();
	/* The destination exists: never overwrite a file. */
	int fd = open(dst, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(batch_overlay_copy(src, dst, true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create"));
	unlink(dst);
	/* Not a regular file. */
	assert_int_equal(batch_overlay_copy(dir, dst, true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(access(dst, F_OK), -1);
	/* Missing. */
	assert_int_equal(batch_overlay_copy("/nonexistent/x.img", dst, true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open it"));
	/* An empty image copies to an empty file. */
	fd = open(src, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(batch_overlay_copy(src, dst, false, err, sizeof(err)), OVERLAY_SPARSE);
	struct stat st;
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_size, 0);
	unlink(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_copy),
		cmocka_unit_test(test_reflink_or_sparse),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
