/* Unit tests for src/files.c: opening and checking a run's files.
 *
 * tests/unit/test_cli.c runs the refusals through the real binary; here we
 * call files_open() directly for what a process exit cannot show: what is
 * let through (the kernel as its own initrd, a read-only disk twice), when
 * the console log is created or emptied, and the state of the descriptors
 * handed out.  Everything happens in a fresh directory under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/files.h"

static char dir[64];

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static off_t size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_files.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	spit("kernel", "a kernel\n");
	spit("disk", "a disk\n");
	spit("log", "an old log\n");
	assert_int_equal(symlink("kernel", "kernel-sym"), 0);
	assert_int_equal(link("disk", "disk-hard"), 0);
	assert_int_equal(mkfifo("fifo", 0600), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	assert_int_equal(chdir("/"), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct options opts(const char *kernel)
{
	struct options o;

	memset(&o, 0, sizeof(o));
	o.kernel = kernel;
	return o;
}

static void disk(struct options *o, const char *path, bool ro)
{
	o->devices[o->ndevices++] =
		(struct opt_device){.type = DEV_DISK, .path = path, .readonly = ro};
}

static void opens(const struct options *o)
{
	struct run_files f;
	char err[256] = "";

	if (files_open(&f, o, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	files_close(&f);
}

static void refused(const struct options *o, const char *needle)
{
	struct run_files f;
	char err[256] = "";

	assert_int_equal(files_open(&f, o, err, sizeof(err)), -1);
	if (!strstr(err, needle) || strchr(err, '\n'))
		fail_msg("error \"%s\" does not say \"%s\"", err, needle);
	/* Nothing left open: files_close() after a refusal is harmless. */
	files_close(&f);
}

/* Harmless doubles are let through; the same data in a writable role is not. */
static void test_harmless_doubles(void **state)
{
	struct options o = opts("kernel");

	(void)state;
	o.initrd = "kernel-sym";
	opens(&o);

	o = opts("kernel");
	disk(&o, "disk", true);
	disk(&o, "disk-hard", true);
	opens(&o);

	disk(&o, "disk", false);
	refused(&o, "--disk disk is the same file as --disk disk");

	o = opts("kernel");
	disk(&o, "kernel-sym", true);
	refused(&o, "--disk kernel-sym is the same file as kernel kernel");

	o = opts("kernel");
	o.console_log = "kernel-sym";
	refused(&o, "--console-log kernel-sym is the same file as kernel kernel");
	assert_int_equal(size_of("kernel"), 9);
}

/* The log is emptied, or created, by files_log_ready() only. */
static void test_log_timing(void **state)
{
	struct options o = opts("kernel");
	struct run_files f;
	char err[256];
	int fd;

	(void)state;
	o.console_log = "log";
	assert_int_equal(files_open(&f, &o, err, sizeof(err)), 0);
	assert_int_equal(size_of("log"), 11);
	assert_int_equal(files_log_ready(&f, false, err, sizeof(err)), 0);
	assert_int_equal(size_of("log"), 0);
	fd = files_take(&f.log);
	assert_true(fd >= 0);
	assert_int_equal(f.log.fd, -1);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE), O_WRONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	files_close(&f);

	o.console_log = "new-log";
	assert_int_equal(files_open(&f, &o, err, sizeof(err)), 0);
	assert_int_equal(access("new-log", F_OK), -1);
	assert_int_equal(files_log_ready(&f, false, err, sizeof(err)), 0);
	assert_int_equal(size_of("new-log"), 0);
	files_close(&f);

	/* A file that appears in between was never checked: not used. */
	o.console_log = "late-log";
	assert_int_equal(files_open(&f, &o, err, sizeof(err)), 0);
	spit("late-log", "somebody's\n");
	assert_int_equal(files_log_ready(&f, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "it appeared while lgkvm was starting"));
	assert_int_equal(size_of("late-log"), 11);
	files_close(&f);

	/* Without a log there is nothing to do. */
	o.console_log = NULL;
	assert_int_equal(files_open(&f, &o, err, sizeof(err)), 0);
	assert_int_equal(files_log_ready(&f, false, err, sizeof(err)), 0);
	files_close(&f);
}

/* A FIFO is refused without an open() that would wait for a writer, in
 * every role (the alarm turns a hang into a failure). */
static void test_fifo_never_blocks(void **state)
{
	struct options o;

	(void)state;
	alarm(5);
	o = opts("fifo");
	refused(&o, "kernel fifo: is a FIFO");
	o = opts("kernel");
	o.initrd = "fifo";
	refused(&o, "--initrd fifo: is a FIFO");
	o = opts("kernel");
	disk(&o, "fifo", false);
	refused(&o, "--disk fifo: is a FIFO");
	o = opts("kernel");
	o.console_log = "fifo";
	refused(&o, "--console-log fifo: is a FIFO");
	alarm(0);
}

/* Descriptors handed to the devices are blocking (io_uring would fail an
 * O_NONBLOCK block device's reads with EAGAIN) and close on exec. */
static void test_descriptors(void **state)
{
	struct options o = opts("kernel");
	struct run_files f;
	char err[256];
	size_t len = 0;
	uint8_t *buf;

	(void)state;
	disk(&o, "disk", false);
	disk(&o, "log", true);
	assert_int_equal(files_open(&f, &o, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 2; i++) {
		int fl = fcntl(f.disk[i].fd, F_GETFL);

		assert_int_equal(fl & O_NONBLOCK, 0);
		assert_int_equal(fl & O_ACCMODE, i == 0 ? O_RDWR : O_RDONLY);
		assert_true(fcntl(f.disk[i].fd, F_GETFD) & FD_CLOEXEC);
	}
	assert_int_equal(f.disk[2].fd, -1);
	buf = files_read(&f.kernel, 1024, &len, err, sizeof(err));
	assert_non_null(buf);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "a kernel\n", 9);
	free(buf);
	assert_null(files_read(&f.kernel, 8, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "kernel kernel: is too big (9 bytes; at most 8)"));
	files_close(&f);
}

/* The standalone openers the unit tests of the devices use. */
static void test_standalone(void **state)
{
	char err[256];
	int fd;

	(void)state;
	fd = files_open_disk("disk", true, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(files_open_disk("fifo", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--disk fifo: is a FIFO"));
	assert_int_equal(files_open_disk("nope", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--disk nope: cannot open it: No such file or directory"));

	spit("log2", "old\n");
	fd = files_open_log("log2", err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(size_of("log2"), 0);
	close(fd);
	assert_int_equal(files_open_log("fifo", err, sizeof(err)), -1);
	assert_int_equal(files_open_log(".", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--console-log .: is a directory"));
}

/* Closed standard descriptors are reopened, so nothing we open lands on 1. */
static void test_reserve_stdio(void **state)
{
	int saved = dup(STDOUT_FILENO), fd;

	(void)state;
	fflush(stdout);
	close(STDOUT_FILENO);
	files_reserve_stdio();
	fd = open("disk", O_RDONLY);
	assert_true(fd > STDERR_FILENO);
	close(fd);
	/* Read-only: a write to it fails, and the console reports it. */
	assert_int_equal(write(STDOUT_FILENO, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	dup2(saved, STDOUT_FILENO);
	close(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harmless_doubles),  cmocka_unit_test(test_log_timing),
		cmocka_unit_test(test_fifo_never_blocks), cmocka_unit_test(test_descriptors),
		cmocka_unit_test(test_standalone),	  cmocka_unit_test(test_reserve_stdio),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
