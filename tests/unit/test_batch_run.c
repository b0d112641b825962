/* Unit tests for src/batch_run.c with a stand-in for `lgkvm run`: a shell
 * script (cfg.exe) that writes its arguments to the console log it is given,
 * notes how many of its kind run at once (each lives 0.6 s, long enough to
 * overlap even on a loaded machine), and exits with the status its
 * "kernel" file holds.  So, without KVM: the arguments a job is run with, the
 * --jobs limit and the memory bound really holding (and being reached), the
 * reason taken from stderr, console patterns, retries, and a stop signal
 * ending a batch with exit 8 and no record for the job it stopped. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/batch_manifest.h"
#include "src/batch_run.h"
#include "src/exitcodes.h"
#include "src/signals.h"

static char dir[64], out[128], exe[128];

static const char fake[] =
	"#!/bin/sh\n"
	"# argv: run --console-log LOG ... KERNEL -- ARGS\n"
	"log=$3 kernel=\n"
	"prev=\n"
	"for a in \"$@\"; do [ \"$a\" = -- ] && { kernel=$prev; break; }; prev=$a; done\n"
	"echo \"$*\" >\"$log\"\n"
	"d=$(dirname \"$0\")/running\n"
	"touch \"$d/$$\"\n"
	"ls \"$d\" | wc -l >>\"$(dirname \"$0\")/concurrency\"\n"
	"trap 'rm -f \"$d/$$\"; echo \"lgkvm: stopped\" >&2; exit 8' TERM\n"
	"sleep 0.6 & wait\n"
	"rm -f \"$d/$$\"\n"
	"case $(cat \"$kernel\") in slow) exec sleep 30 ;; esac\n"
	"echo \"guest says: $(cat \"$kernel\")\" >>\"$log\"\n"
	"echo \"lgkvm: not the last line\" >&2\n"
	"echo \"lgkvm: the reason for $(basename \"$kernel\")\" >&2\n"
	"exit $(cat \"$kernel\")\n";

static void spit(const char *name, const char *text)
{
	char p[192];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *name)
{
	static char buf[1 << 16];
	char p[192];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "r");
	buf[0] = '\0';
	if (!f && !strcmp(name, "out/results.jsonl"))
		return buf; /* not written yet */
	if (!f)
		fail_msg("cannot open %s", p);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_batch_run.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(exe, sizeof(exe), "%s/fake-lgkvm", dir);
	spit("fake-lgkvm", fake);
	assert_int_equal(chmod(exe, 0755), 0);
	char p[128];
	snprintf(p, sizeof(p), "%s/running", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	spit("ok", "0\n");
	spit("crash", "4\n");
	spit("slow", "slow\n");
	spit("disk.img", "original\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static unsigned max_concurrency(void)
{
	unsigned max = 0, n;
	char p[128];
	snprintf(p, sizeof(p), "%s/concurrency", dir);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	while (fscanf(f, "%u", &n) == 1)
		max = n > max ? n : max;
	fclose(f);
	unlink(p);
	return max;
}

static void load(struct batch_manifest *m, const char *text)
{
	char err[512];
	if (batch_manifest_parse(m, text, strlen(text), "m.json", dir, err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

static struct batch_config config(unsigned jobs, uint64_t budget)
{
	return (struct batch_config){
		.out = out, .exe = exe, .jobs = jobs, .mem_budget = budget, .console_max = 1 << 20};
}

static void test_arguments_reason_patterns_retries(void **state)
{
	(void)state;
	struct batch_manifest m;
	load(&m, "{\"jobs\": [\n"
		 " {\"name\": \"a\", \"kernel\": \"ok\", \"mem\": \"32M\", \"timeout\": 7,\n"
		 "  \"initrd\": \"crash\", \"args\": [\"x=1\", \"y\"], \"disks\": [\"disk.img\", "
		 "\"disk.img,ro\"],\n"
		 "  \"console\": {\"match\": \"guest says: 0\", \"absent\": \"guest says: 4\"}},\n"
		 " {\"name\": \"b\", \"kernel\": \"crash\", \"expect\": 4, \"timeout\": 0},\n"
		 " {\"name\": \"c\", \"kernel\": \"crash\", \"retries\": 1},\n"
		 " {\"name\": \"d\", \"kernel\": \"ok\", \"console\": {\"match\": \"nope\"}}]}");
	struct batch_config cfg = config(2, UINT64_MAX);
	fflush(NULL);
	assert_int_equal(batch_run(&m, &cfg), EXIT_BATCH_UNMET);
	/* The arguments of job a, as lgkvm run got them. */
	char expect[1024];
	snprintf(expect, sizeof(expect),
		 "run --console-log %s/logs/00000-a.console --console-log-max 1048576 --mem 32M "
		 "--timeout 7 --initrd %s/crash --disk %s/tmp/00000.0/disk0.img --disk "
		 "%s/disk.img,ro %s/ok -- x=1 y\nguest says: 0\n",
		 out, dir, out, dir, dir);
	assert_string_equal(slurp("out/logs/00000-a.console"), expect);
	/* b: no --timeout at all. */
	assert_null(strstr(slurp("out/logs/00001-b.console"), "--timeout"));
	const char *res = slurp("out/results.jsonl");
	assert_non_null(strstr(res, "{\"name\":\"a\",\"index\":0,\"status\":\"met\",\"exit\":0,"));
	assert_non_null(strstr(res, "\"reason\":\"the reason for ok\""));
	assert_non_null(strstr(res, "{\"name\":\"b\",\"index\":1,\"status\":\"met\",\"exit\":4,"));
	assert_non_null(
		strstr(res, "{\"name\":\"c\",\"index\":2,\"status\":\"unmet\",\"exit\":4,"));
	assert_non_null(strstr(res, "\"retries\":1,"));
	assert_non_null(strstr(res, "\"problem\":\"console lacks 'nope'\""));
	/* The disk copy is gone, the original as it was. */
	assert_string_equal(slurp("disk.img"), "original\n");
	char p[160];
	snprintf(p, sizeof(p), "%s/tmp/00000.0", out);
	assert_int_equal(access(p, F_OK), -1);
	assert_true(max_concurrency() <= 2);
	batch_manifest_free(&m);
}

/* Six jobs, --jobs 6, but memory for only two (each 64M + 32M overhead). */
static void test_limits(void **state)
{
	(void)state;
	struct batch_manifest m;
	load(&m, "{\"jobs\": [{\"kernel\": \"ok\", \"name\": \"1\"}, {\"kernel\": \"ok\", "
		 "\"name\": \"2\"}, {\"kernel\": \"ok\", \"name\": \"3\"}, {\"kernel\": \"ok\", "
		 "\"name\": \"4\"}, {\"kernel\": \"ok\", \"name\": \"5\"}, {\"kernel\": \"ok\", "
		 "\"name\": \"6\"}]}");
	struct batch_config cfg = config(6, 2 * (96ull << 20));
	fflush(NULL);
	assert_int_equal(batch_run(&m, &cfg), EXIT_POWEROFF);
	assert_int_equal(max_concurrency(), 2);
	/* Memory for all: --jobs 3 is the limit, and is reached. */
	cfg = config(3, UINT64_MAX);
	assert_int_equal(batch_run(&m, &cfg), EXIT_POWEROFF);
	assert_int_equal(max_concurrency(), 3);
	/* One job bigger than the budget still runs, alone. */
	cfg = config(3, 1);
	assert_int_equal(batch_run(&m, &cfg), EXIT_POWEROFF);
	assert_int_equal(max_concurrency(), 1);
	batch_manifest_free(&m);
}

/* SIGTERM to the batch: the running job is stopped, what finished is kept. */
static void test_stop_signal(void **state)
{
	(void)state;
	struct batch_manifest m;
	load(&m, "{\"jobs\": [{\"kernel\": \"ok\"}, {\"kernel\": \"slow\"}, {\"kernel\": "
		 "\"crash\", \"expect\": 4}]}");
	struct batch_config cfg = config(2, UINT64_MAX);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signals_install();
		_exit(batch_run(&m, &cfg));
	}
	/* Wait for "ok" to be recorded, then stop the batch. */
	for (int i = 0; i < 100 && !strstr(slurp("out/results.jsonl"), "\"ok\""); i++)
		usleep(50000);
	usleep(300000);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(pid, SIGTERM);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EXIT_INTERRUPTED);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	const char *res = slurp("out/results.jsonl");
	assert_non_null(strstr(res, "\"name\":\"ok\""));
	assert_null(strstr(res, "\"name\":\"slow\""));
	/* No stand-in left running, no copy left behind. */
	char p[512];
	snprintf(p, sizeof(p), "find %s/running %s/tmp -mindepth 1 | grep -q .", dir, out);
	assert_int_not_equal(system(p), 0);
	max_concurrency();
	batch_manifest_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arguments_reason_patterns_retries),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_stop_signal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
