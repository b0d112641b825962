/* Unit tests for src/batch_manifest.c: the `lgkvm batch` manifest.
 *
 * What a good manifest becomes (fields, defaults, paths relative to the
 * manifest, matrix expansion in a fixed order), what a bad one is told (one
 * sentence with the JSON path of the culprit), and sharding: every job in
 * exactly one shard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "src/batch_manifest.h"

static int parse(struct batch_manifest *m, const char *text, char *err, size_t errlen)
{
	return batch_manifest_parse(m, text, strlen(text), "m.json", "/farm", err, errlen);
}

static void test_single_jobs(void **state)
{
	(void)state;
	struct batch_manifest m;
	char err[512] = "";
	const char *text =
		"{\"defaults\": {\"mem\": \"32M\", \"timeout\": 20, \"tags\": [\"smoke\"]},\n"
		" \"jobs\": [\n"
		"  {\"name\": \"demo\", \"kernel\": \"guests/demo.elf\",\n"
		"   \"console\": {\"match\": \"Hello\", \"absent\": [\"FAIL\", \"panic\"]}},\n"
		"  {\"kernel\": \"/abs/crash.elf\", \"expect\": \"crash\", \"mem\": 128,\n"
		"   \"initrd\": \"i.cpio\", \"args\": [\"a=1\", \"b\"], \"retries\": 2,\n"
		"   \"disks\": [\"d.img\", \"e.img,ro\", {\"path\": \"/f.img\", \"ro\": true}],\n"
		"   \"net\": [\"tap\"], \"net_ip\": \"10.0.0.1/24\", \"timeout\": 0}]}\n";
	assert_int_equal(parse(&m, text, err, sizeof(err)), 0);
	assert_int_equal(m.njobs, 2);
	const struct batch_job *a = &m.jobs[0], *b = &m.jobs[1];
	assert_string_equal(a->name, "demo");
	assert_string_equal(a->kernel, "/farm/guests/demo.elf");
	assert_null(a->initrd);
	assert_string_equal(a->mem, "32M");
	assert_int_equal(a->mem_bytes, 32u << 20);
	assert_int_equal(a->timeout_s, 20);
	assert_int_equal(a->expect, 0);
	assert_int_equal(a->nmatch, 1);
	assert_string_equal(a->match[0], "Hello");
	assert_int_equal(a->nabsent, 2);
	assert_string_equal(a->absent[1], "panic");
	assert_int_equal(a->ntags, 1);
	assert_string_equal(a->tags[0], "smoke");
	assert_int_equal(a->retries, 0);

	assert_string_equal(b->name, "crash.elf"); /* the kernel's base name */
	assert_string_equal(b->kernel, "/abs/crash.elf");
	assert_string_equal(b->initrd, "/farm/i.cpio");
	assert_int_equal(b->expect, 4);
	assert_int_equal(b->mem_bytes, 128u << 20);
	assert_string_equal(b->mem, "128M");
	assert_int_equal(b->nargs, 2);
	assert_string_equal(b->args[1], "b");
	assert_int_equal(b->retries, 2);
	assert_int_equal(b->timeout_s, 0);
	assert_int_equal(b->ndisks, 3);
	assert_string_equal(b->disks[0].path, "/farm/d.img");
	assert_false(b->disks[0].readonly);
	assert_string_equal(b->disks[1].path, "/farm/e.img");
	assert_true(b->disks[1].readonly);
	assert_string_equal(b->disks[2].path, "/f.img");
	assert_true(b->disks[2].readonly);
	assert_int_equal(b->nnets, 1);
	assert_string_equal(b->net_ip, "10.0.0.1/24");
	assert_int_equal(b->index, 1);
	batch_manifest_free(&m);
}

static void test_defaults_without_any(void **state)
{
	(void)state;
	struct batch_manifest m;
	char err[512] = "";
	assert_int_equal(parse(&m, "{\"jobs\": [{\"kernel\": \"k\"}]}", err, sizeof(err)), 0);
	assert_int_equal(m.jobs[0].timeout_s, 300);
	assert_int_equal(m.jobs[0].mem_bytes, 64u << 20);
	assert_int_equal(m.jobs[0].expect, 0);
	batch_manifest_free(&m);
}

static void test_matrix(void **state)
{
	(void)state;
	struct batch_manifest m;
	char err[512] = "";
	const char *text = "{\"jobs\": [{\"name\": \"one\", \"kernel\": \"x\"},\n"
			   " {\"name\": \"boot\", \"expect\": 6, \"matrix\": {\n"
			   "   \"kernels\": [\"k/a.elf\", \"b.elf\"],\n"
			   "   \"initrds\": [null, \"r.cpio\"],\n"
			   "   \"args\": [[\"quiet\"], \"debug\", [\"x\", \"y\"]]}},\n"
			   " {\"matrix\": {\"args\": [[\"p\"]]}, \"kernel\": \"z\"}]}";
	assert_int_equal(parse(&m, text, err, sizeof(err)), 0);
	assert_int_equal(m.njobs, 1 + 2 * 2 * 3 + 1);
	/* Kernels outermost, then initrds, then args. */
	assert_string_equal(m.jobs[1].name, "boot:a.elf:none:a0");
	assert_string_equal(m.jobs[1].kernel, "/farm/k/a.elf");
	assert_null(m.jobs[1].initrd);
	assert_string_equal(m.jobs[2].name, "boot:a.elf:none:a1");
	assert_string_equal(m.jobs[2].args[0], "debug");
	assert_string_equal(m.jobs[3].name, "boot:a.elf:none:a2");
	assert_int_equal(m.jobs[3].nargs, 2);
	assert_string_equal(m.jobs[4].name, "boot:a.elf:r.cpio:a0");
	assert_string_equal(m.jobs[4].initrd, "/farm/r.cpio");
	assert_string_equal(m.jobs[12].name, "boot:b.elf:r.cpio:a2");
	assert_string_equal(m.jobs[12].kernel, "/farm/b.elf");
	for (size_t i = 1; i <= 12; i++) {
		assert_int_equal(m.jobs[i].expect, 6);
		assert_int_equal(m.jobs[i].index, i);
	}
	/* No name: the path of the entry names its jobs. */
	assert_string_equal(m.jobs[13].name, "jobs[2]:a0");
	assert_string_equal(m.jobs[13].kernel, "/farm/z");
	batch_manifest_free(&m);
}

/* Each bad manifest and the error it must get: the JSON path, then why. */
static const struct {
	const char *text, *err;
} bad[] = {
	{"", "m.json: $: the JSON text ends before its value is complete"},
	{"{\"jobs\": [}", "m.json: $: not valid JSON at line 1, column 11"},
	{"{\"jobs\": [{\"kernel\": \"k\"}]}\n x", "not valid JSON at line 2, column 2"},
	{"{\"jobs\": [{\"kernel\": \"k\",}]}", "not valid JSON at line 1"},
	{"[1]", "m.json: $: expected an object with \"jobs\", found an array"},
	{"{}", "m.json: $.jobs: missing"},
	/* A key is quoted as written, minus what would split the line. */
	{"{\"jobs\": [], \"a\\nb\": 1}", "m.json: $.a?b: unknown key"},
	{"{\"jobs\": []}", "$.jobs: expected a non-empty array of jobs, found an empty one"},
	{"{\"jobs\": [], \"job\": 1}", "m.json: $.job: unknown key"},
	{"{\"jobs\": [{}]}", "m.json: $.jobs[0]: no kernel"},
	{"{\"jobs\": [3]}", "$.jobs[0]: expected an object, found a number"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"timout\": 2}]}", "$.jobs[0].timout: unknown key"},
	{"{\"jobs\": [{\"kernel\": \"k\"}, {\"kernel\": \"k\", \"timeout\": -1}]}",
	 "m.json: $.jobs[1].timeout: -1 must be 0 (none) to 31536000 seconds"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"timeout\": 1.5}]}",
	 "$.jobs[0].timeout: expected 0 (none) to 31536000 seconds, found a fractional number"},
	{"{\"jobs\": [{\"kernel\": 7}]}", "$.jobs[0].kernel: expected a string, found a number"},
	{"{\"jobs\": [{\"kernel\": \"\"}]}", "$.jobs[0].kernel: must not be empty"},
	{"{\"jobs\": [{\"kernel\": \"a\\u0000b\"}]}", "$.jobs[0].kernel: contains a NUL character"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"mem\": \"2M\"}]}",
	 "$.jobs[0].mem: '2M' must be a whole number of pages between 4M and 3G"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"expect\": \"boom\"}]}",
	 "$.jobs[0].expect: 'boom' is not an exit status name"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"expect\": 256}]}", "$.jobs[0].expect: 256 must be"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"args\": [\"a\", 2]}]}",
	 "$.jobs[0].args[1]: expected a string, found a number"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"console\": {\"matches\": \"x\"}}]}",
	 "$.jobs[0].console.matches: unknown key"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"disks\": [{\"ro\": true}]}]}",
	 "$.jobs[0].disks[0].path: missing"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"net\": [\"bridge\"]}]}",
	 "$.jobs[0].net[0]: expected \"tap\" or \"tap=NAME\""},
	{"{\"jobs\": [{\"kernel\": \"k\", \"net_ip\": \"1.2.3.4\"}]}",
	 "$.jobs[0]: net_ip needs a net"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"retries\": 101}]}", "$.jobs[0].retries: 101 must be"},
	{"{\"defaults\": {\"kernel\": \"k\"}, \"jobs\": [{\"kernel\": \"k\"}]}",
	 "$.defaults.kernel: belongs to a job, not to the defaults"},
	{"{\"jobs\": [{\"kernel\": \"a/k\"}, {\"kernel\": \"b/k\"}]}",
	 "m.json: $.jobs: jobs 0 and 1 (after matrix expansion) are both named 'k'"},
	{"{\"jobs\": [{\"matrix\": {\"kernels\": []}}]}",
	 "$.jobs[0].kernels: expected a non-empty array, found an empty one"},
	{"{\"jobs\": [{\"kernel\": \"k\", \"matrix\": {\"kernels\": [\"a\"]}}]}",
	 "$.jobs[0]: kernels given twice"},
	{"{\"jobs\": [{\"matrix\": {\"args\": [[\"a\"]]}}]}", "$.jobs[0]: no kernel"},
	{"{\"jobs\": [{\"matrix\": {\"kernels\": [\"a\", 1]}}]}",
	 "$.jobs[0].kernels[1]: expected a string, found a number"},
	{"{\"jobs\": [{\"matrix\": {\"kernel\": [\"a\"]}}]}", "$.jobs[0].kernel: unknown key"},
	{"{\"jobs\": [{\"name\": \"m\", \"matrix\": {\"kernels\": [\"a\", \"x/a\"]}}]}",
	 "both named 'm:a'"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct batch_manifest m;
		char err[512] = "";
		int r = parse(&m, bad[i].text, err, sizeof(err));
		if (r != -1 || !strstr(err, bad[i].err) || strchr(err, '\n'))
			fail_msg("manifest %zu (%s): got %d \"%s\", wanted \"%s\"", i, bad[i].text,
				 r, err, bad[i].err);
		assert_null(m.jobs); /* freed on failure */
	}
}

/* A matrix may not multiply into millions of jobs. */
static void test_matrix_too_big(void **state)
{
	(void)state;
	char text[65536];
	int n = snprintf(text, sizeof(text), "{\"jobs\": [{\"matrix\": {\"kernels\": [");
	for (int i = 0; i < 1000; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\"k%d\"", i ? "," : "", i);
	n += snprintf(text + n, sizeof(text) - (size_t)n, "], \"args\": [");
	for (int i = 0; i < 1000; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\"a%d\"", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - (size_t)n, "]}}]}");
	struct batch_manifest m;
	char err[512] = "";
	assert_int_equal(parse(&m, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "$.jobs[0]: expands to 1000000 jobs"));
}

/* A matrix name is the job's name plus a file name per dimension; a file
 * name of 700 characters once walked the builder off its buffer (a fuzz
 * find).  It is refused with a sentence instead. */
static void test_matrix_long_name(void **state)
{
	(void)state;
	char text[4096];
	int n = snprintf(text, sizeof(text), "{\"jobs\": [{\"matrix\": {\"kernels\": [\"");
	for (int i = 0; i < 700; i++)
		text[n++] = 'k';
	snprintf(text + n, sizeof(text) - (size_t)n, "\"], \"initrds\": [\"i\"]}}]}");
	struct batch_manifest m;
	char err[512] = "";
	assert_int_equal(parse(&m, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "$.jobs[0]: a job name made from its matrix is longer than"));
	assert_null(m.jobs);
}

static void test_shards(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 7; n++)
		for (size_t j = 0; j < 50; j++) {
			unsigned in = 0;
			for (unsigned i = 0; i < n; i++)
				in += batch_in_shard(j, i, n);
			assert_int_equal(in, 1);
		}
	unsigned i, n;
	assert_int_equal(batch_parse_shard("0/1", &i, &n), 0);
	assert_int_equal(batch_parse_shard("3/4", &i, &n), 0);
	assert_int_equal(i, 3);
	assert_int_equal(n, 4);
	static const char *const no[] = {"4/4", "1/0",	"-1/3", "1",   "/3",
					 "1/",	"1/3x", " 1/3", "a/b", "1/+3"};
	for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++)
		assert_int_equal(batch_parse_shard(no[k], &i, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_jobs),    cmocka_unit_test(test_defaults_without_any),
		cmocka_unit_test(test_matrix),	       cmocka_unit_test(test_errors),
		cmocka_unit_test(test_matrix_too_big), cmocka_unit_test(test_matrix_long_name),
		cmocka_unit_test(test_shards),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
