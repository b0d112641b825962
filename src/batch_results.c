/* results.jsonl, JUnit XML and the summary table (see batch_results.h). */
#include "src/batch_results.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/exitcodes.h"
#include "src/fullio.h"

#define LINE_MAX_LEN (1u << 20)

const char *batch_exit_meaning(int code)
{
	switch (code) {
	case EXIT_POWEROFF:
		return "guest powered off";
	case EXIT_INTERNAL:
		return "lgkvm internal error";
	case EXIT_USAGE:
		return "bad usage, file or image";
	case EXIT_RESTART:
		return "guest restart not done";
	case EXIT_GUEST_CRASH:
		return "guest crashed or panicked";
	case EXIT_GUEST_KILLED:
		return "guest killed for breaking the lguest ABI";
	case EXIT_TIMEOUT:
		return "timeout expired";
	case EXIT_HOST:
		return "no usable KVM, or a tap that cannot be opened";
	case EXIT_INTERRUPTED:
		return "interrupted";
	}
	return code > 128 ? "lgkvm died of a signal" : "unknown exit status";
}

static int put_str(json_object *o, const char *key, const char *v)
{
	json_object *s = json_object_new_string(v);
	return s ? json_object_object_add(o, key, s) : -1;
}

static int put_int(json_object *o, const char *key, int64_t v)
{
	json_object *s = json_object_new_int64(v);
	return s ? json_object_object_add(o, key, s) : -1;
}

static json_object *make_record(const struct batch_outcome *o)
{
	json_object *r = json_object_new_object(), *tags = json_object_new_array();
	int bad = !r || !tags;
	bad |= !bad && put_str(r, "name", o->name);
	bad |= !bad && put_int(r, "index", o->index);
	bad |= !bad && put_str(r, "status", o->met ? "met" : "unmet");
	bad |= !bad && put_int(r, "exit", o->exit_code);
	bad |= !bad && put_str(r, "meaning", batch_exit_meaning(o->exit_code));
	bad |= !bad && put_int(r, "expected", o->expected);
	if (!bad && o->problem)
		bad |= put_str(r, "problem", o->problem);
	bad |= !bad && put_str(r, "reason", o->reason ? o->reason : "");
	/* Milliseconds are plenty, written as such (not 0.81200000000000006). */
	char ms[32];
	snprintf(ms, sizeof(ms), "%.3f", o->wall_s);
	json_object *wall = bad ? NULL : json_object_new_double_s(strtod(ms, NULL), ms);
	bad |= !wall || json_object_object_add(r, "wall_s", wall);
	bad |= !bad && put_str(r, "log", o->log ? o->log : "");
	bad |= !bad && put_int(r, "retries", o->retries);
	for (unsigned i = 0; !bad && i < o->ntags; i++) {
		json_object *t = json_object_new_string(o->tags[i]);
		bad |= !t || json_object_array_add(tags, t);
	}
	if (!bad) {
		bad |= json_object_object_add(r, "tags", tags);
		tags = NULL;
	}
	json_object_put(tags);
	if (bad) {
		json_object_put(r);
		return NULL;
	}
	return r;
}

/* One line, one write: with O_APPEND a record is never interleaved with
 * another writer's, and a kill mid-record leaves at worst a torn last line,
 * which the reader skips. */
static int write_line(int fd, json_object *rec)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!s)
		return -1;
	char *line = malloc(len + 1);
	if (!line)
		return -1;
	memcpy(line, s, len);
	line[len] = '\n';
	int r = write_full(fd, line, len + 1);
	free(line);
	return r;
}

int batch_results_append(int fd, const struct batch_outcome *o, char *err, size_t errlen)
{
	json_object *rec = make_record(o);
	if (!rec) {
		snprintf(err, errlen, "results: out of memory for the record of %s", o->name);
		return -1;
	}
	int r = write_line(fd, rec);
	json_object_put(rec);
	if (r < 0 || fdatasync(fd) < 0) {
		snprintf(err, errlen, "results: cannot write the record of %s: %s", o->name,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static const char *rec_str(void *rec, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(rec, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static int64_t rec_int(void *rec, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(rec, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static double rec_double(void *rec, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(rec, key, &v))
		return 0;
	return json_object_get_double(v);
}

static bool rec_met(void *rec)
{
	return !strcmp(rec_str(rec, "status"), "met");
}

/* Is this a record we can report on? */
static bool valid_record(json_object *o)
{
	json_object *v;
	if (!json_object_is_type(o, json_type_object))
		return false;
	if (!json_object_object_get_ex(o, "name", &v) ||
	    !json_object_is_type(v, json_type_string) || !json_object_get_string_len(v))
		return false;
	const char *st = rec_str(o, "status");
	if (strcmp(st, "met") && strcmp(st, "unmet"))
		return false;
	return json_object_object_get_ex(o, "exit", &v) && json_object_is_type(v, json_type_int);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct pos {
	const char *name;
	size_t at;
};

static int cmp_pos(const void *a, const void *b)
{
	const struct pos *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->at > y->at) - (x->at < y->at);
}

static int cmp_index(const void *a, const void *b)
{
	int64_t x = rec_int(*(void *const *)a, "index"), y = rec_int(*(void *const *)b, "index");
	if (x != y)
		return (x > y) - (x < y);
	return strcmp(rec_str(*(void *const *)a, "name"), rec_str(*(void *const *)b, "name"));
}

/* A job recorded twice keeps its last record.  Records are then put in job
 * order (they were written in the order jobs ended; shards interleave), and
 * the names sorted for batch_results_has(). */
static int reindex(struct batch_results *r)
{
	free(r->sorted);
	r->sorted = NULL;
	if (!r->n)
		return 0;
	struct pos *p = malloc(r->n * sizeof(*p));
	if (!p)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		p[i] = (struct pos){rec_str(r->recs[i], "name"), i};
	qsort(p, r->n, sizeof(*p), cmp_pos);
	for (size_t i = 0; i + 1 < r->n; i++)
		if (!strcmp(p[i].name, p[i + 1].name)) {
			json_object_put(r->recs[p[i].at]);
			r->recs[p[i].at] = NULL;
		}
	free(p);
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->recs[i])
			r->recs[k++] = r->recs[i];
	r->n = k;
	qsort(r->recs, r->n, sizeof(*r->recs), cmp_index);
	r->sorted = malloc(r->n * sizeof(*r->sorted));
	if (!r->sorted)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		r->sorted[i] = rec_str(r->recs[i], "name");
	qsort(r->sorted, r->n, sizeof(*r->sorted), cmp_str);
	return 0;
}

static int add(struct batch_results *r, json_object *o)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void **n = realloc(r->recs, cap * sizeof(*n));
		if (!n)
			return -1;
		r->recs = n;
		r->cap = cap;
	}
	r->recs[r->n++] = o;
	return 0;
}

int batch_results_load(struct batch_results *r, const char *path, bool missing_ok, char *err,
		       size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		snprintf(err, errlen, "%s: cannot open it: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int ret = 0;
	while (ret == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		bool complete = len > 0 && line[len - 1] == '\n';
		if (complete)
			line[--len] = '\0';
		if (len == 0)
			continue;
		json_object *o = NULL;
		if ((size_t)len < LINE_MAX_LEN && strlen(line) == (size_t)len) {
			json_tokener *tok = json_tokener_new();
			if (tok) {
				json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
				o = json_tokener_parse_ex(tok, line, (int)len);
				if (o && json_tokener_get_parse_end(tok) != (size_t)len) {
					json_object_put(o);
					o = NULL;
				}
				json_tokener_free(tok);
			}
		}
		if (!o || !valid_record(o)) {
			json_object_put(o);
			if (!complete)
				break; /* a torn last line: its job simply has no record */
			snprintf(err, errlen,
				 "%s: line %u is not a batch result record (JSON with name, "
				 "status and exit)",
				 path, lineno);
			ret = -1;
		} else if (add(r, o) < 0) {
			json_object_put(o);
			snprintf(err, errlen, "%s: out of memory", path);
			ret = -1;
		}
	}
	if (ret == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(errno));
		ret = -1;
	}
	free(line);
	fclose(f);
	if (ret == 0 && reindex(r) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -1;
	}
	return ret;
}

bool batch_results_has(struct batch_results *r, const char *name)
{
	return r->sorted && bsearch(&name, r->sorted, r->n, sizeof(*r->sorted), cmp_str);
}

void batch_results_free(struct batch_results *r)
{
	for (size_t i = 0; i < r->n; i++)
		json_object_put(r->recs[i]);
	free(r->recs);
	free(r->sorted);
	memset(r, 0, sizeof(*r));
}

size_t batch_results_unmet(const struct batch_results *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += !rec_met(r->recs[i]);
	return n;
}

int batch_results_write(const struct batch_results *r, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int bad = fd < 0;
	for (size_t i = 0; !bad && i < r->n; i++)
		bad = write_line(fd, r->recs[i]) < 0;
	if (fd >= 0 && (fsync(fd) < 0 || close(fd) < 0))
		bad = 1;
	if (bad)
		snprintf(err, errlen, "%s: cannot write it: %s", path, strerror(errno));
	return bad ? -1 : 0;
}

/* Text for XML: the five entities escaped, control characters (which XML
 * 1.0 cannot carry at all) as '?'. */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c == '\'')
			fputs("&apos;", f);
		else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
			fputc('?', f);
		else
			fputc(c, f);
	}
}

int batch_results_junit(const struct batch_results *r, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "we");
	if (!f) {
		snprintf(err, errlen, "%s: cannot create it: %s", path, strerror(errno));
		return -1;
	}
	double total = 0;
	for (size_t i = 0; i < r->n; i++)
		total += rec_double(r->recs[i], "wall_s");
	size_t failures = batch_results_unmet(r);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"lgkvm batch\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
		r->n, failures, total);
	fprintf(f,
		"  <testsuite name=\"lgkvm-batch\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
		"skipped=\"0\" time=\"%.3f\">\n",
		r->n, failures, total);
	for (size_t i = 0; i < r->n; i++) {
		void *rec = r->recs[i];
		fputs("    <testcase classname=\"lgkvm.batch\" name=\"", f);
		xml_text(f, rec_str(rec, "name"));
		fprintf(f, "\" time=\"%.3f\">\n", rec_double(rec, "wall_s"));
		if (!rec_met(rec)) {
			fputs("      <failure type=\"unmet\" message=\"", f);
			xml_text(f, rec_str(rec, "problem"));
			fputs("\">exit ", f);
			fprintf(f, "%lld (", (long long)rec_int(rec, "exit"));
			xml_text(f, rec_str(rec, "meaning"));
			fprintf(f,
				"), expected %lld\nreason: ", (long long)rec_int(rec, "expected"));
			xml_text(f, rec_str(rec, "reason"));
			fputs("</failure>\n", f);
		}
		fputs("      <system-out>console log: ", f);
		xml_text(f, rec_str(rec, "log"));
		fputs("\nreason: ", f);
		xml_text(f, rec_str(rec, "reason"));
		fputs("</system-out>\n    </testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
	if (ferror(f) | fclose(f)) {
		snprintf(err, errlen, "%s: cannot write it", path);
		return -1;
	}
	return 0;
}

void batch_results_summary(const struct batch_results *r, FILE *out)
{
	int w = 4;
	for (size_t i = 0; i < r->n; i++) {
		int n = (int)strlen(rec_str(r->recs[i], "name"));
		w = n > w ? (n < 48 ? n : 48) : w;
	}
	fprintf(out, "%-*s  %-6s %8s  %-7s  %s\n", w, "JOB", "RESULT", "WALL", "RETRIES", "EXIT");
	for (size_t i = 0; i < r->n; i++) {
		void *rec = r->recs[i];
		fprintf(out, "%-*.*s  %-6s %7.1fs  %-7lld  %lld %s", w, w, rec_str(rec, "name"),
			rec_met(rec) ? "met" : "UNMET", rec_double(rec, "wall_s"),
			(long long)rec_int(rec, "retries"), (long long)rec_int(rec, "exit"),
			rec_str(rec, "meaning"));
		if (!rec_met(rec))
			fprintf(out, " -- %s", rec_str(rec, "problem"));
		fputc('\n', out);
	}
	size_t unmet = batch_results_unmet(r);
	fprintf(out, "%zu jobs: %zu met, %zu unmet\n", r->n, r->n - unmet, unmet);
}
