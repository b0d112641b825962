/* Unit tests for src/batch_results.c: results.jsonl records, reading them
 * back (torn last line, bad lines, a job recorded twice), merging shards,
 * and the JUnit and summary reports made from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/batch_results.h"

static char dir[64], a[96], b[96], out[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_batch_results.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.jsonl", dir);
	snprintf(b, sizeof(b), "%s/b.jsonl", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(a);
	unlink(b);
	unlink(out);
	rmdir(dir);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void append(const char *path, const struct batch_outcome *o)
{
	char err[256] = "";
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	assert_true(fd >= 0);
	if (batch_results_append(fd, o, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	close(fd);
}

static const char *const tags[] = {"smoke", "g7"};

static void test_records(void **state)
{
	(void)state;
	char err[256] = "";
	unlink(a);
	append(a, &(struct batch_outcome){.name = "demo",
					  .index = 0,
					  .met = true,
					  .exit_code = 0,
					  .reason = "guest powered off",
					  .wall_s = 0.8126,
					  .log = "o/logs/00000-demo.console",
					  .tags = tags,
					  .ntags = 2});
	append(a, &(struct batch_outcome){.name = "crash \"<x>\"",
					  .index = 1,
					  .exit_code = 0,
					  .expected = 4,
					  .problem = "exit 0, expected 4",
					  .wall_s = 1.5,
					  .retries = 2});
	const char *text = slurp(a);
	assert_non_null(strstr(text, "{\"name\":\"demo\",\"index\":0,\"status\":\"met\",\"exit\":0,"
				     "\"meaning\":\"guest powered off\",\"expected\":0,"));
	assert_non_null(strstr(text, "\"wall_s\":0.813,"));
	assert_non_null(strstr(text, "\"log\":\"o/logs/00000-demo.console\""));
	assert_non_null(strstr(text, "\"tags\":[\"smoke\",\"g7\"]}\n"));
	assert_non_null(strstr(text, "\"status\":\"unmet\""));
	assert_non_null(strstr(text, "\"problem\":\"exit 0, expected 4\""));
	assert_non_null(strstr(text, "\"retries\":2"));

	struct batch_results r = {0};
	assert_int_equal(batch_results_load(&r, a, false, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	assert_true(batch_results_has(&r, "demo"));
	assert_true(batch_results_has(&r, "crash \"<x>\""));
	assert_false(batch_results_has(&r, "dem"));
	assert_int_equal(batch_results_unmet(&r), 1);

	assert_int_equal(batch_results_junit(&r, out, err, sizeof(err)), 0);
	text = slurp(out);
	assert_non_null(strstr(text, "<testsuite name=\"lgkvm-batch\" tests=\"2\" failures=\"1\""));
	assert_non_null(strstr(text, "<testcase classname=\"lgkvm.batch\" name=\"demo\" "
				     "time=\"0.813\">"));
	assert_non_null(strstr(text, "name=\"crash &quot;&lt;x&gt;&quot;\""));
	assert_non_null(strstr(text, "<failure type=\"unmet\" message=\"exit 0, expected 4\">"));

	FILE *f = fopen(out, "w");
	batch_results_summary(&r, f);
	fclose(f);
	text = slurp(out);
	assert_non_null(strstr(text, "UNMET"));
	assert_non_null(strstr(text, "0 guest powered off -- exit 0, expected 4\n"));
	assert_non_null(strstr(text, "2 jobs: 1 met, 1 unmet\n"));
	batch_results_free(&r);
}

static void test_missing_torn_bad(void **state)
{
	(void)state;
	char err[256] = "";
	struct batch_results r = {0};
	unlink(a);
	assert_int_equal(batch_results_load(&r, a, true, err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
	assert_false(batch_results_has(&r, "x"));
	assert_int_equal(batch_results_load(&r, a, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open it"));

	/* A writer killed mid-record: the torn last line is no record. */
	append(a, &(struct batch_outcome){.name = "one", .met = true});
	int fd = open(a, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "{\"name\":\"two\",\"sta", 18), 18);
	close(fd);
	assert_int_equal(batch_results_load(&r, a, false, err, sizeof(err)), 0);
	assert_int_equal(r.n, 1);
	assert_false(batch_results_has(&r, "two"));
	batch_results_free(&r);

	/* A complete line that is not a record is an error, with its line (so
	 * --resume cuts a torn line off before it appends). */
	fd = open(a, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "\n{\"name\":\"x\",\"status\":\"maybe\",\"exit\":0}\n", 40), 40);
	close(fd);
	assert_int_equal(batch_results_load(&r, a, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a.jsonl: line 2 is not a batch result record"));
	batch_results_free(&r);
}

/* Two shards' files merge into one; a job in both keeps its later record. */
static void test_merge(void **state)
{
	(void)state;
	char err[256] = "";
	unlink(a);
	unlink(b);
	append(a, &(struct batch_outcome){.name = "j0", .met = true});
	append(a, &(struct batch_outcome){.name = "j2", .exit_code = 6, .problem = "p"});
	append(b, &(struct batch_outcome){.name = "j1", .met = true});
	append(b, &(struct batch_outcome){
			  .name = "j2", .met = true, .exit_code = 6, .expected = 6, .retries = 1});
	struct batch_results r = {0};
	assert_int_equal(batch_results_load(&r, a, false, err, sizeof(err)), 0);
	assert_int_equal(batch_results_load(&r, b, false, err, sizeof(err)), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(batch_results_unmet(&r), 0);
	assert_int_equal(batch_results_write(&r, out, err, sizeof(err)), 0);
	batch_results_free(&r);
	assert_int_equal(batch_results_load(&r, out, false, err, sizeof(err)), 0);
	assert_int_equal(r.n, 3);
	assert_true(batch_results_has(&r, "j0") && batch_results_has(&r, "j1") &&
		    batch_results_has(&r, "j2"));
	const char *text = slurp(out);
	/* File order: j0, then j1, then j2 from b (its later record). */
	char *p0 = strstr(text, "\"j0\""), *p1 = strstr(text, "\"j1\""),
	     *p2 = strstr(text, "\"j2\"");
	assert_true(p0 && p1 && p2 && p0 < p1 && p1 < p2);
	assert_non_null(strstr(p2, "\"status\":\"met\""));
	batch_results_free(&r);
}

static void test_meanings(void **state)
{
	(void)state;
	assert_string_equal(batch_exit_meaning(0), "guest powered off");
	assert_string_equal(batch_exit_meaning(4), "guest crashed or panicked");
	assert_string_equal(batch_exit_meaning(6), "timeout expired");
	assert_string_equal(batch_exit_meaning(137), "lgkvm died of a signal");
	assert_string_equal(batch_exit_meaning(42), "unknown exit status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_missing_torn_bad),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_meanings),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
