/* Bad command lines and bad files, as a new user or an attacker would give
 * them: a table of lgkvm invocations, each run as a real process.
 *
 * Every case must end before KVM is touched (so the table means the same on
 * any host), with the expected exit status and exactly one line on stderr
 * naming the problem.  Each runs under `timeout 10` with --timeout 2 where a
 * guest could start, so a hang (a FIFO's open(), say) fails its case rather
 * than the suite.  After every case the files it could have destroyed must be
 * exactly as they were, and a console log that did not exist must still not.
 *
 * The binary is the build's own: ../lgkvm next to this program's directory
 * (build/unit/test_cli -> build/lgkvm, build-san/... under SAN=1), and the
 * bad images are made from the built test guests in ../guests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/le.h"

#define MAX_ARGS  40
#define MAX_CASES 256

struct cli_case {
	char name[96];
	int status;
	const char *needle;    /* stderr: exactly one line, containing this */
	const char *stdout_to; /* NULL: /dev/null; else this file, appended to */
	const char *args[MAX_ARGS];
};

static struct cli_case cases[MAX_CASES];
static unsigned ncases;
static char lgkvm[PATH_MAX], guests[PATH_MAX], workdir[64];

/* Files a case must leave alone, and what they held before. */
static const char *const kept[] = {"k.elf", "k.bz", "disk.img", "disk2.img", "log.txt"};
static char *kept_data[sizeof(kept) / sizeof(kept[0])];
static size_t kept_len[sizeof(kept) / sizeof(kept[0])];

/*
 * The table.
 */

static struct cli_case *add(const char *name, int status, const char *needle, ...)
{
	struct cli_case *c;
	va_list ap;
	unsigned n = 0;

	assert_true(ncases < MAX_CASES);
	c = &cases[ncases++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->status = status;
	c->needle = needle;
	va_start(ap, needle);
	for (const char *a; (a = va_arg(ap, const char *));) {
		assert_true(n < MAX_ARGS - 1);
		c->args[n++] = a;
	}
	va_end(ap);
	c->args[n] = NULL;
	return c;
}

#define USAGE(name, needle, ...) add(name, 2, needle, __VA_ARGS__, (const char *)NULL)

static void command_lines(void)
{
	static char long_cmdline[2100];

	memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
	USAGE("no command", "missing command", (const char *)NULL);
	USAGE("unknown command", "unknown command 'frob'", "frob");
	USAGE("no kernel", "missing KERNEL", "run");
	USAGE("only --", "missing KERNEL", "run", "--");
	USAGE("unknown long option", "unknown or ambiguous option '--bogus'", "run", "--bogus",
	      "k.elf");
	USAGE("unknown long option with value", "unknown or ambiguous option '--bogus=1'", "run",
	      "--bogus=1", "k.elf");
	USAGE("unknown short option", "unknown option '-x'", "run", "-x", "k.elf");
	USAGE("unknown short option in a group", "unknown option '-x'", "run", "-vx", "k.elf");
	USAGE("flag given a value", "--quiet takes no value", "run", "--quiet=1", "k.elf");
	USAGE("missing value", "--mem needs a value", "run", "-m");
	USAGE("missing long value", "--initrd needs a value", "run", "--initrd");
	USAGE("bad --mem", "--mem '1K' must be", "run", "--mem", "1K", "k.elf");
	USAGE("huge --mem", "--mem '99999999999G' must be", "run", "--mem", "99999999999G",
	      "k.elf");
	USAGE("--mem twice", "--mem given twice", "run", "-m", "64M", "--mem", "64M", "k.elf");
	USAGE("--initrd twice", "--initrd given twice", "run", "--initrd", "k.bz", "-i", "k.bz",
	      "k.elf");
	USAGE("--console-log twice", "--console-log given twice", "run", "-l", "new.log",
	      "--console-log", "new2.log", "k.elf");
	USAGE("--console-log-max twice", "--console-log-max given twice", "run",
	      "--console-log-max", "1M", "--console-log-max=2M", "k.elf");
	USAGE("--timeout twice", "--timeout given twice", "run", "-t", "2", "--timeout", "3",
	      "k.elf");
	USAGE("--net-ip twice", "--net-ip given twice", "run", "--net", "tap", "--net-ip",
	      "10.1.0.1", "--net-ip", "10.2.0.1", "k.elf");
	USAGE("two kernels", "unexpected argument 'k.bz'", "run", "k.elf", "k.bz");
	USAGE("--timeout 0", "--timeout '0' must be", "run", "--timeout", "0", "k.elf");
	USAGE("--timeout word", "--timeout 'soon' must be", "run", "--timeout", "soon", "k.elf");
	USAGE("--timeout negative", "--timeout '-1' must be", "run", "--timeout", "-1", "k.elf");
	USAGE("--console-log-max word", "--console-log-max 'lots' is not a size", "run",
	      "--console-log-max", "lots", "k.elf");
	USAGE("--disk empty", "--disk needs a file name", "run", "--disk", "", "k.elf");
	USAGE("--disk ,ro only", "--disk needs a file name", "run", "--disk", ",ro", "k.elf");
	USAGE("nine devices", "at most 8", "run", "-d", "disk.img,ro", "-d", "disk.img,ro", "-d",
	      "disk.img,ro", "-d", "disk.img,ro", "-d", "disk.img,ro", "-d", "disk.img,ro", "-d",
	      "disk.img,ro", "-d", "disk.img,ro", "-d", "disk.img,ro", "k.elf");
	USAGE("--net bridge", "--net 'bridge': expected tap", "run", "--net", "bridge", "k.elf");
	USAGE("tap name too long", "--net 'tap=abcdefghijklmnop'", "run", "--net",
	      "tap=abcdefghijklmnop", "k.elf");
	USAGE("tap name empty", "--net 'tap='", "run", "--net", "tap=", "k.elf");
	USAGE("tap name slash", "--net 'tap=a/b'", "run", "--net", "tap=a/b", "k.elf");
	USAGE("tap name colon", "--net 'tap=a:b'", "run", "--net", "tap=a:b", "k.elf");
	USAGE("tap name blank", "--net 'tap=a b'", "run", "--net", "tap=a b", "k.elf");
	USAGE("tap name percent", "--net 'tap=tap%d'", "run", "--net", "tap=tap%d", "k.elf");
	USAGE("tap name dot-dot", "--net 'tap=..'", "run", "--net", "tap=..", "k.elf");
	USAGE("tap name newline", "--net 'tap=a?b'", "run", "--net", "tap=a\nb", "k.elf");
	USAGE("--net-ip without --net", "--net-ip needs --net", "run", "--net-ip", "10.0.0.1",
	      "k.elf");
	USAGE("--net-ip malformed", "--net-ip 10.0.0: expected an IPv4 address", "run", "--net",
	      "tap", "--net-ip", "10.0.0", "k.elf");
	USAGE("--net-ip bad prefix", "--net-ip 10.0.0.1/33", "run", "--net", "tap", "--net-ip",
	      "10.0.0.1/33", "k.elf");
	USAGE("probe with an argument", "probe takes no argument", "probe", "x");
	/* The generation options (docs/abi.md part H). */
	USAGE("--abi unknown", "--abi 'G11': expected a generation", "run", "--abi", "G11",
	      "k.elf");
	USAGE("--abi twice", "--abi given twice", "run", "--abi", "G1", "--abi", "G2", "k.elf");
	USAGE("--abi G0 on a kernel without its marker", "no GenuineLguest marker", "run", "-q",
	      "--abi", "G0", "k.elf");
	USAGE("--pae maybe", "--pae 'maybe': expected yes or no", "run", "--pae", "maybe", "k.elf");
	USAGE("--pae on a 2.6.24 kernel", "a PAE kernel of generation G1", "run", "--pae", "yes",
	      "k.elf");
	USAGE("--max-reboots negative", "--max-reboots '-1' must be 0 to 1000", "run",
	      "--max-reboots", "-1", "k.elf");
	USAGE("--max-reboots huge", "--max-reboots '1001' must be 0 to 1000", "run",
	      "--max-reboots", "1001", "k.elf");
	USAGE("inspect without a kernel", "missing KERNEL", "inspect");
	USAGE("inspect a directory", "kernel dir: is a directory", "inspect", "dir");
	USAGE("inspect a FIFO", "kernel fifo: is a FIFO", "inspect", "fifo");
	USAGE("inspect a text file", "not a Linux kernel", "inspect", "log.txt");
	USAGE("guest command line too long", "guest command line longer than 2047 bytes", "run",
	      "k.elf", "--", long_cmdline);
}

static void bad_files(void)
{
	static const char *const t[] = {"run", "--timeout", "2"};
#define RUN(...) t[0], t[1], t[2], __VA_ARGS__
	/* Kinds of file. */
	USAGE("kernel missing", "kernel no-such.elf: cannot open it: No such file",
	      RUN("no-such.elf"));
	USAGE("kernel FIFO", "kernel fifo: is a FIFO (named pipe), not a regular file",
	      RUN("fifo"));
	USAGE("kernel directory", "kernel dir: is a directory, not a regular file", RUN("dir"));
	USAGE("kernel char device", "kernel /dev/null: is a character device", RUN("/dev/null"));
	USAGE("kernel socket", "kernel sock: is a socket", RUN("sock"));
	USAGE("kernel through a dangling symlink", "kernel dangling: cannot open it",
	      RUN("dangling"));
	USAGE("kernel in a file", "kernel k.elf/x: cannot open it: Not a directory",
	      RUN("k.elf/x"));
	USAGE("initrd FIFO", "--initrd fifo: is a FIFO", RUN("--initrd", "fifo", "k.elf"));
	USAGE("initrd directory", "--initrd dir: is a directory", RUN("--initrd", "dir", "k.elf"));
	USAGE("initrd char device", "--initrd /dev/zero: is a character device",
	      RUN("--initrd", "/dev/zero", "k.elf"));
	USAGE("initrd missing", "--initrd no-such: cannot open it", RUN("-i", "no-such", "k.elf"));
	USAGE("disk FIFO",
	      "--disk fifo: is a FIFO (named pipe), not a regular file or a block "
	      "device",
	      RUN("--disk", "fifo", "k.elf"));
	USAGE("disk directory", "--disk dir: is a directory", RUN("--disk", "dir", "k.elf"));
	USAGE("disk char device", "--disk /dev/null: is a character device",
	      RUN("--disk", "/dev/null", "k.elf"));
	USAGE("disk missing", "--disk no-such.img: cannot open it",
	      RUN("--disk", "no-such.img", "k.elf"));
	USAGE("disk missing, read-only", "--disk no-such.img: cannot open it",
	      RUN("--disk", "no-such.img,ro", "k.elf"));
	USAGE("log directory", "--console-log dir: is a directory, not a regular file",
	      RUN("--console-log", "dir", "k.elf"));
	USAGE("log in a missing directory", "--console-log no-dir/new.log: cannot create it",
	      RUN("--console-log", "no-dir/new.log", "k.elf"));
	USAGE("log path ends in a slash", "--console-log new.log/: cannot create it",
	      RUN("--console-log", "new.log/", "k.elf"));
	USAGE("log FIFO without a reader", "--console-log fifo: is a FIFO",
	      RUN("--console-log", "fifo", "k.elf"));
	USAGE("log char device", "--console-log /dev/null: is a character device",
	      RUN("--console-log", "/dev/null", "k.elf"));
	USAGE("log dangling symlink",
	      "--console-log dangling: is a symbolic link to a file that "
	      "does not exist",
	      RUN("--console-log", "dangling", "k.elf"));
	/* A good log with a bad kernel: the log must not even be created. */
	USAGE("new log, missing kernel", "kernel no-such.elf: cannot open it",
	      RUN("--console-log", "new.log", "no-such.elf"));
	USAGE("existing log, truncated kernel", "is truncated",
	      RUN("--console-log", "log.txt", "half.bz"));

	/* Damaged images, made from the test guests. */
	USAGE("ELF cut in half", "kernel ELF segment 0", RUN("half.elf"));
	USAGE("ELF with 65535 program headers", "has 65535 program headers", RUN("phnum.elf"));
	USAGE("ELF program headers past the end", "program headers (offset 2147483647",
	      RUN("phoff.elf"));
	USAGE("ELF segment offset past the end", "runs past the end of the", RUN("segoff.elf"));
	USAGE("ELF segment size past the end", "runs past the end of the", RUN("segsize.elf"));
	USAGE("bzImage cut in half", "kernel bzImage is truncated or its header is damaged",
	      RUN("half.bz"));
	USAGE("bzImage cut by 16 bytes", "kernel bzImage is truncated", RUN("cut16.bz"));
	USAGE("bzImage setup_sects 255", "has 255 setup sectors", RUN("ss255.bz"));
	USAGE("bzImage setup_sects 12", "follow its 12 setup sectors", RUN("ss12.bz"));
	USAGE("bzImage syssize inflated", "the header says 268435456 bytes of 32-bit code",
	      RUN("syssize.bz"));
	USAGE("bzImage syssize 0", "syssize is 0", RUN("syssize0.bz"));
	USAGE("bzImage payload_length inflated", "payload_length 268435456", RUN("payload.bz"));
	USAGE("bzImage init_size inflated", "kernel bzImage with its init_size", RUN("init.bz"));
	USAGE("bzImage entry outside", "entry point (code32_start) 0x0 is outside",
	      RUN("entry.bz"));
	USAGE("empty kernel", "neither an ELF vmlinux nor a bzImage", RUN("empty"));
	USAGE("junk kernel", "neither an ELF vmlinux nor a bzImage", RUN("junk"));
	USAGE("empty initrd", "initrd is empty", RUN("--initrd", "empty", "k.elf"));
	USAGE("kernel too big for --mem", "needs 5 MiB of RAM; --mem is 4 MiB",
	      RUN("--mem", "4M", "--initrd", "k.elf", "big.elf"));
#undef RUN
}

/* The same file in two roles: directly, through a symlink and a hard link.
 * Only the kernel doubling as the initrd and one read-only disk twice are
 * harmless; tests/unit/test_files.c checks those are let through. */
enum role { R_KERNEL, R_INITRD, R_DISK, R_DISK_RO, R_LOG, R_N };

static const char *const role_names[] = {"kernel", "--initrd", "--disk", "--disk ,ro",
					 "--console-log"};

static unsigned push_role(const char **args, unsigned n, enum role r, const char *path)
{
	char *s;

	switch (r) {
	case R_KERNEL:
		break; /* positional: the caller puts it last */
	case R_INITRD:
		args[n++] = "--initrd";
		args[n++] = path;
		break;
	case R_DISK:
		args[n++] = "--disk";
		args[n++] = path;
		break;
	case R_DISK_RO:
		assert_true(asprintf(&s, "%s,ro", path) > 0); /* lives as long as the table */
		args[n++] = "--disk";
		args[n++] = s;
		break;
	case R_LOG:
		args[n++] = "--console-log";
		args[n++] = path;
		break;
	case R_N:
		break;
	}
	return n;
}

static void same_file_twice(void)
{
	static const char *const how[] = {"same path", "symlink", "hard link"};

	for (int a = 0; a < R_N; a++) {
		for (int b = a; b < R_N; b++) {
			bool kernelish = a <= R_INITRD || b <= R_INITRD;
			/* Duplicated options are a usage error of their own, and
			 * kernel-as-initrd or ro-disk-twice are allowed. */
			if ((a == b && a != R_DISK) || (a == R_KERNEL && b == R_INITRD))
				continue;
			if (a == R_DISK_RO && b == R_DISK_RO)
				continue;
			for (unsigned v = 0; v < 3; v++) {
				static const char *const kpaths[] = {"k.elf", "k-sym.elf",
								     "k-hard.elf"};
				static const char *const dpaths[] = {"disk.img", "disk-sym.img",
								     "disk-hard.img"};
				const char *const *paths = kernelish ? kpaths : dpaths;
				char name[96];
				struct cli_case *c;
				unsigned n = 0;

				snprintf(name, sizeof(name), "%s and %s, %s", role_names[a],
					 role_names[b], how[v]);
				c = add(name, 2, "is the same file as", (const char *)NULL);
				c->args[n++] = "run";
				c->args[n++] = "--timeout";
				c->args[n++] = "2";
				n = push_role(c->args, n, (enum role)a, paths[0]);
				n = push_role(c->args, n, (enum role)b, paths[v]);
				if (a == R_KERNEL)
					c->args[n++] = paths[0];
				else
					c->args[n++] = "k.bz";
				c->args[n] = NULL;
			}
		}
	}
	/* Our own stdout as a disk or the log: the console would write into it. */
	struct cli_case *c;
	c = USAGE("stdout is the disk", "--disk disk.img is the same file as lgkvm's stdout", "run",
		  "--timeout", "2", "--disk", "disk.img", "k.elf");
	c->stdout_to = "disk.img";
	c = USAGE("stdout is the log", "--console-log log.txt is the same file as lgkvm's stdout",
		  "run", "--timeout", "2", "--console-log", "log.txt", "k.elf");
	c->stdout_to = "log.txt";
	c = USAGE("stdout is the kernel", "kernel k.elf is the same file as lgkvm's stdout", "run",
		  "--timeout", "2", "k.elf");
	c->stdout_to = "k.elf";
}

/*
 * The files.
 */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f) {
		fail_msg("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A copy of `img` with a 32-bit field (or a byte, if byte) changed. */
static void variant(const char *name, const char *img, size_t len, size_t off, uint32_t v,
		    bool byte)
{
	char *copy = malloc(len);

	assert_non_null(copy);
	memcpy(copy, img, len);
	if (byte)
		copy[off] = (char)v;
	else
		le32_put((uint8_t *)copy + off, v);
	spit(name, copy, len);
	free(copy);
}

static int make_files(void **state)
{
	char self[PATH_MAX], *dir, path[PATH_MAX + 32];
	size_t elf_len, bz_len;
	char *elf, *bz;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	dir = dirname(dirname(self)); /* build/unit/test_cli -> build */
	snprintf(lgkvm, sizeof(lgkvm), "%s/lgkvm", dir);
	snprintf(guests, sizeof(guests), "%s/guests", dir);
	if (access(lgkvm, X_OK) != 0)
		fail_msg("no lgkvm at %s (make builds it)", lgkvm);

	snprintf(workdir, sizeof(workdir), "/tmp/test_cli.XXXXXX");
	assert_non_null(mkdtemp(workdir));
	assert_int_equal(chdir(workdir), 0);

	snprintf(path, sizeof(path), "%s/hello.elf", guests);
	elf = slurp(path, &elf_len);
	snprintf(path, sizeof(path), "%s/hello.bzimage", guests);
	bz = slurp(path, &bz_len);

	spit("k.elf", elf, elf_len);
	spit("k.bz", bz, bz_len);
	spit("half.elf", elf, elf_len / 2);
	spit("half.bz", bz, bz_len / 2);
	spit("cut16.bz", bz, bz_len - 16);
	spit("empty", "", 0);
	spit("junk", "this is not a kernel\n", 21);
	/* ELF: e_phoff at 28, e_phnum at 44; the first program header's
	 * p_offset and p_filesz at +4 and +16. */
	{
		uint32_t phoff = (uint8_t)elf[28] | (uint8_t)elf[29] << 8 |
				 (uint32_t)(uint8_t)elf[30] << 16 |
				 (uint32_t)(uint8_t)elf[31] << 24;
		char *big;

		variant("phnum.elf", elf, elf_len, 44, 0xFFFF, false);
		variant("phoff.elf", elf, elf_len, 28, 0x7FFFFFFF, false);
		variant("segoff.elf", elf, elf_len, phoff + 4, 0x7FFFFFF0, false);
		big = malloc(elf_len);
		memcpy(big, elf, elf_len);
		le32_put((uint8_t *)big + phoff + 16, 0x00F00000); /* p_filesz */
		le32_put((uint8_t *)big + phoff + 20, 0x00F00000); /* p_memsz */
		spit("segsize.elf", big, elf_len);
		free(big);
		/* A kernel that needs more RAM than --mem 4M has: its segment
		 * moved up to where the initrd and boot tables go. */
		big = malloc(elf_len);
		memcpy(big, elf, elf_len);
		le32_put((uint8_t *)big + 24, 0x3F8000);	 /* e_entry */
		le32_put((uint8_t *)big + phoff + 12, 0x3F8000); /* p_paddr */
		spit("big.elf", big, elf_len);
		free(big);
	}
	/* bzImage: setup_sects 0x1F1, syssize 0x1F4, version 0x206,
	 * code32_start 0x214, payload 0x248/0x24C, init_size 0x260. */
	variant("ss255.bz", bz, bz_len, 0x1F1, 255, true);
	variant("ss12.bz", bz, bz_len, 0x1F1, 12, true);
	variant("syssize.bz", bz, bz_len, 0x1F4, 0x01000000, false);
	variant("syssize0.bz", bz, bz_len, 0x1F4, 0, false);
	variant("entry.bz", bz, bz_len, 0x214, 0, false);
	{
		char *copy = malloc(bz_len);

		memcpy(copy, bz, bz_len);
		copy[0x206] = 0x08; /* protocol 2.08 */
		le32_put((uint8_t *)copy + 0x248, 0x100);
		le32_put((uint8_t *)copy + 0x24C, 0x10000000);
		spit("payload.bz", copy, bz_len);
		copy[0x206] = 0x0A; /* protocol 2.10 */
		le32_put((uint8_t *)copy + 0x248, 0);
		le32_put((uint8_t *)copy + 0x24C, 0);
		le32_put((uint8_t *)copy + 0x260, 0x80000000u);
		spit("init.bz", copy, bz_len);
		free(copy);
	}
	free(elf);
	free(bz);

	{
		char disk[4096];

		memset(disk, 0xD1, sizeof(disk));
		spit("disk.img", disk, sizeof(disk));
		memset(disk, 0xD2, sizeof(disk));
		spit("disk2.img", disk, sizeof(disk));
	}
	spit("log.txt", "keep me\n", 8);
	assert_int_equal(symlink("k.elf", "k-sym.elf"), 0);
	assert_int_equal(link("k.elf", "k-hard.elf"), 0);
	assert_int_equal(symlink("disk.img", "disk-sym.img"), 0);
	assert_int_equal(link("disk.img", "disk-hard.img"), 0);
	assert_int_equal(symlink("nowhere", "dangling"), 0);
	assert_int_equal(mkfifo("fifo", 0600), 0);
	assert_int_equal(mkdir("dir", 0700), 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "sock"};
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
	}
	for (unsigned i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		kept_data[i] = slurp(kept[i], &kept_len[i]);
	return 0;
}

static int remove_files(void **state)
{
	char cmd[128];

	(void)state;
	for (unsigned i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		free(kept_data[i]);
	if (chdir("/") == 0 && workdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", workdir);
	}
	return 0;
}

/*
 * Running one case.
 */

static void run_case(void **state)
{
	const struct cli_case *c = *state;
	const char *argv[MAX_ARGS + 4];
	char err[8192];
	size_t got = 0;
	int pipefd[2], status;
	unsigned n = 0;
	pid_t pid;

	argv[n++] = "timeout";
	argv[n++] = "10";
	argv[n++] = lgkvm;
	for (unsigned i = 0; c->args[i]; i++)
		argv[n++] = c->args[i];
	argv[n] = NULL;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = c->stdout_to ? open(c->stdout_to, O_WRONLY | O_APPEND)
				       : open("/dev/null", O_WRONLY);

		if (in < 0 || out < 0)
			_exit(125);
		dup2(in, 0);
		dup2(out, 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t r = read(pipefd[0], err + got, sizeof(err) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(pipefd[0]);
	err[got] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != c->status)
		fail_msg("expected exit %d, got %s %d; stderr: %s", c->status,
			 WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err);
	if (got == 0 || err[got - 1] != '\n' || memchr(err, '\n', got - 1))
		fail_msg("stderr is not exactly one line: \"%s\"", err);
	if (strncmp(err, "lgkvm: ", 7) != 0 || !strstr(err, c->needle))
		fail_msg("stderr \"%.*s\" does not say \"%s\"", (int)got - 1, err, c->needle);

	/* Nothing destroyed, nothing created. */
	for (unsigned i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		size_t len;
		char *now = slurp(kept[i], &len);

		if (len != kept_len[i] || memcmp(now, kept_data[i], len) != 0)
			fail_msg("%s changed", kept[i]);
		free(now);
	}
	if (access("new.log", F_OK) == 0 || access("new2.log", F_OK) == 0)
		fail_msg("a console log was created");
}

int main(void)
{
	static struct CMUnitTest tests[MAX_CASES];

	command_lines();
	bad_files();
	same_file_twice();
	for (unsigned i = 0; i < ncases; i++)
		tests[i] = (struct CMUnitTest){
			.name = cases[i].name,
			.test_func = run_case,
			.initial_state = &cases[i],
		};
	return _cmocka_run_group_tests("cli", tests, ncases, make_files, remove_files);
}
