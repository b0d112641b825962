/* `lgkvm batch` end to end, on jobs that never reach KVM, so the same on any
 * host: kernels that do not exist or are not kernels end with lgkvm run's
 * exit 2 before KVM is opened, and a job may expect exactly that.  (The
 * guests themselves are run through batch by tests/testhost/batch-test.)
 *
 * Checked here: the exit statuses (0, 9 some job unmet, 10 bad manifest, 2
 * bad usage), one record per job in results.jsonl, junit.xml, the summary,
 * disks copied and removed with the original untouched, --resume, --shard
 * (also from SLURM's variables) and --merge.
 *
 * The binary is the build's own: build/unit/test_batch_cli -> build/lgkvm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char lgkvm[PATH_MAX], dir[64];

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Run `lgkvm ARGS` in the work directory (through sh, with stdout and
 * stderr to files out and err); its exit status. */
static int lg(const char *fmt, ...)
{
	char args[1024], cmd[PATH_MAX + 1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd %s && timeout 60 %s %s >out 2>err", dir, lgkvm, args);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Four jobs: three end as expected (exit 2, bad kernel), one does not. */
static const char manifest[] =
	"{\"defaults\": {\"expect\": \"usage\", \"timeout\": 5, \"tags\": [\"t\"]},\n"
	" \"jobs\": [\n"
	"  {\"name\": \"missing\", \"kernel\": \"no-such.elf\"},\n"
	"  {\"name\": \"junk\", \"kernel\": \"junk.elf\", \"disks\": [\"disk.img\"]},\n"
	"  {\"name\": \"wrong\", \"kernel\": \"junk.elf\", \"expect\": 0},\n"
	"  {\"name\": \"ro\", \"kernel\": \"junk.elf\", \"disks\": [\"disk.img,ro\"]}]}\n";

static int setup(void **state)
{
	(void)state;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	snprintf(lgkvm, sizeof(lgkvm), "%s/lgkvm", dirname(dirname(self)));
	snprintf(dir, sizeof(dir), "/tmp/test_batch_cli.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	spit("m.json", manifest);
	spit("junk.elf", "not a kernel\n");
	spit("disk.img", "the original disk\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_bad_manifest_and_usage(void **state)
{
	(void)state;
	spit("bad.json", "{\"jobs\": [{\"kernel\": \"k\", \"timout\": 2}]}");
	assert_int_equal(lg("batch bad.json"), 10);
	assert_string_equal(slurp("err"), "lgkvm: bad.json: $.jobs[0].timout: unknown key (see "
					  "\"Farms\" in README.md)\n");
	assert_int_equal(lg("batch no-such.json"), 10);
	assert_int_equal(count(slurp("err"), "\n"), 1);
	/* A FIFO must not hang the batch (the 60 s guard would fail the test). */
	assert_int_equal(system("mkfifo fifo.json"), 0);
	assert_int_equal(lg("batch fifo.json"), 10);
	assert_string_equal(slurp("err"), "lgkvm: fifo.json: not a regular file\n");
	static const char *const usage[] = {
		"batch",
		"batch --jobs 0 m.json",
		"batch --shard 2/2 m.json",
		"batch --merge",
		"batch --frob m.json",
		"batch m.json m.json",
		"batch --merge --shard 0/2 o",
	};
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		int st = lg("%s", usage[i]);
		const char *err = slurp("err");
		if (st != 2 || count(err, "\n") != 1 || strncmp(err, "lgkvm: ", 7))
			fail_msg("'%s': exit %d, stderr \"%s\"", usage[i], st, err);
	}
}

static void test_run_and_resume(void **state)
{
	(void)state;
	assert_int_equal(lg("batch -j 2 --out o m.json"), 9);
	const char *res = slurp("o/results.jsonl");
	assert_int_equal(count(res, "\n"), 4);
	assert_int_equal(count(res, "\"status\":\"met\""), 3);
	assert_non_null(strstr(res,
			       "{\"name\":\"wrong\",\"index\":2,\"status\":\"unmet\",\"exit\":2,"
			       "\"meaning\":\"bad usage, file or image\",\"expected\":0,"
			       "\"problem\":\"exit 2 (bad usage, file or image), expected 0 "
			       "(guest powered off)\",\"reason\":\"junk.elf: "));
	assert_non_null(strstr(res, "\"reason\":\"kernel no-such.elf: cannot open it"));
	assert_non_null(strstr(res, "\"tags\":[\"t\"]"));
	const char *out = slurp("out");
	assert_non_null(strstr(out, "4 jobs: 3 met, 1 unmet\n"));
	assert_non_null(strstr(slurp("o/junit.xml"), "tests=\"4\" failures=\"1\""));
	/* The disk was copied for "junk" and removed; the original is as it was. */
	assert_string_equal(slurp("disk.img"), "the original disk\n");
	DIR *d = opendir("o/tmp");
	assert_non_null(d);
	unsigned entries = 0;
	while (readdir(d))
		entries++;
	closedir(d);
	assert_int_equal(entries, 2); /* . and .. */

	/* --resume: everything is done, nothing runs again, nothing is lost. */
	assert_int_equal(lg("batch --resume --out o m.json"), 9);
	assert_non_null(strstr(slurp("err"), "resuming: 4 of 4 jobs already have results"));
	assert_int_equal(count(slurp("o/results.jsonl"), "\n"), 4);
	/* A torn last line (a batch killed mid-write) is cut, the job rerun. */
	(void)!system(
		"cd o && head -n 3 results.jsonl >r && printf '{\"name\":\"ro\",\"sta' >>r && "
		"mv r results.jsonl");
	assert_int_equal(lg("batch --resume --out o m.json"), 9);
	res = slurp("o/results.jsonl");
	assert_int_equal(count(res, "\n"), 4);
	assert_int_equal(count(res, "\"name\":\"ro\""), 1);
	/* Without --resume the batch starts afresh. */
	spit("ok.json", "{\"jobs\": [{\"kernel\": \"junk.elf\", \"expect\": 2}]}");
	assert_int_equal(lg("batch --out o ok.json"), 0);
	assert_int_equal(count(slurp("o/results.jsonl"), "\n"), 1);
	assert_non_null(strstr(slurp("out"), "1 jobs: 1 met, 0 unmet\n"));
}

static void test_shards_and_merge(void **state)
{
	(void)state;
	/* Shard 0 of 2: jobs 0 and 2 ("wrong", unmet). */
	assert_int_equal(lg("batch --shard 0/2 --out s0 m.json"), 9);
	const char *res = slurp("s0/results.jsonl");
	assert_int_equal(count(res, "\n"), 2);
	assert_non_null(strstr(res, "\"index\":0,"));
	assert_non_null(strstr(res, "\"index\":2,"));
	/* Shard 1 of 2 from Slurm's array variables (tasks numbered from 1):
	 * jobs 1 and 3, both met. */
	setenv("SLURM_ARRAY_TASK_ID", "2", 1);
	setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
	setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
	int st = lg("batch --out s1 m.json");
	int bad = lg("batch --shard 0/3 --out s2 m.json"); /* --shard wins */
	setenv("SLURM_ARRAY_TASK_ID", "3", 1);
	int over = lg("batch --out s3 m.json");
	unsetenv("SLURM_ARRAY_TASK_ID");
	unsetenv("SLURM_ARRAY_TASK_MIN");
	unsetenv("SLURM_ARRAY_TASK_COUNT");
	assert_int_equal(over, 2);
	assert_int_equal(bad, 0); /* jobs 0 and 3 */
	assert_int_equal(count(slurp("s2/results.jsonl"), "\n"), 2);
	res = slurp("s1/results.jsonl");
	assert_int_equal(st, 0);
	assert_int_equal(count(res, "\n"), 2);
	assert_non_null(strstr(res, "\"index\":1,"));
	assert_non_null(strstr(res, "\"index\":3,"));

	/* Every job in exactly one shard: the merge has all four, in order. */
	assert_int_equal(lg("batch --merge --out all s0 s1/results.jsonl"), 9);
	res = slurp("all/results.jsonl");
	assert_int_equal(count(res, "\n"), 4);
	const char *i0 = strstr(res, "\"index\":0,"), *i1 = strstr(res, "\"index\":1,");
	const char *i2 = strstr(res, "\"index\":2,"), *i3 = strstr(res, "\"index\":3,");
	assert_true(i0 && i1 && i2 && i3 && i0 < i1 && i1 < i2 && i2 < i3);
	assert_non_null(strstr(slurp("out"), "4 jobs: 3 met, 1 unmet\n"));
	assert_non_null(strstr(slurp("all/junit.xml"), "tests=\"4\" failures=\"1\""));
	/* A file that is not results: exit 10. */
	assert_int_equal(lg("batch --merge --out all m.json"), 10);
	assert_int_equal(count(slurp("err"), "\n"), 1);
}

/* A disk that cannot be copied: the job ends unstarted, as lgkvm run would
 * end on a bad file (exit 2), and says which disk. */
static void test_disk_not_copied(void **state)
{
	(void)state;
	spit("nodisk.json", "{\"jobs\": [{\"name\": \"n\", \"kernel\": \"junk.elf\", "
			    "\"disks\": [\"no-such.img\"]}]}");
	assert_int_equal(lg("batch --out nd nodisk.json"), 9);
	const char *res = slurp("nd/results.jsonl");
	assert_non_null(strstr(res, "\"status\":\"unmet\",\"exit\":2,"));
	assert_non_null(strstr(res, "\"problem\":\"not started: disk no-such.img: cannot open it"));
}

/* On a terminal, stderr shows the progress line (script(1) gives it one). */
static void test_progress_on_a_tty(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && script -qec '%s batch -j 1 --out p m.json' /dev/null >tty.out 2>&1", dir,
		 lgkvm);
	if (system(cmd) == -1 || access("tty.out", F_OK) != 0)
		skip(); /* no script(1) */
	const char *out = slurp("tty.out");
	assert_non_null(strstr(out, "\rlgkvm batch: 0/4 done, 1 running, 0 failed; "));
	assert_non_null(strstr(out, "jobs/s, ETA "));
	assert_non_null(strstr(out, "\r\033[K")); /* cleared before the table */
	assert_non_null(strstr(out, "4 jobs: 3 met, 1 unmet"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_manifest_and_usage),
		cmocka_unit_test(test_run_and_resume),
		cmocka_unit_test(test_shards_and_merge),
		cmocka_unit_test(test_disk_not_copied),
		cmocka_unit_test(test_progress_on_a_tty),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
