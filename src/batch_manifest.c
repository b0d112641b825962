/* The batch manifest: JSON in, a flat list of checked jobs out.
 *
 * json-c does the JSON (strictly: no comments, no trailing commas, nothing
 * after the value); this file does the meaning.  Each field has one checker,
 * and each checker names the JSON path of what it refuses, so an error in a
 * thousand-job manifest points at the value to fix. */
#include "src/batch_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/exitcodes.h"
#include "src/sizes.h"

#define NAME_MAX_LEN	200
#define CMDLINE_MAX	2047 /* what lgkvm run accepts (src/options.c) */
#define TIMEOUT_MAX	31536000
#define RETRIES_MAX	100
#define MANIFEST_MAX	(64u << 20)
#define JSON_DEPTH	32
#define MAX_DEVICES	8 /* OPT_MAX_DEVICES: disks and nets together */
#define DEFAULT_TIMEOUT 300

struct ctx {
	struct batch_manifest *m;
	const char *source;
	const char *base;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s: %s", c->source, path, msg);
	/* Keys and values are quoted as written: a newline in one must not
	 * split the one-line message. */
	for (char *p = c->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	return -1;
}

/* Everything the parser allocates is remembered here and freed with the
 * manifest: jobs of a matrix share strings and lists, so per-job ownership
 * would only mean reference counts. */
static void *keep(struct ctx *c, void *p)
{
	struct batch_manifest *m = c->m;

	if (!p)
		return NULL;
	if (m->nowned == m->owned_cap) {
		size_t cap = m->owned_cap ? m->owned_cap * 2 : 64;
		char **n = realloc(m->owned, cap * sizeof(*n));
		if (!n) {
			free(p);
			return NULL;
		}
		m->owned = n;
		m->owned_cap = cap;
	}
	m->owned[m->nowned++] = p;
	return p;
}

static void *alloc(struct ctx *c, size_t n)
{
	return keep(c, calloc(1, n ? n : 1));
}

static int oom(struct ctx *c, const char *path)
{
	return fail(c, path, "out of memory");
}

/* A JSON path one step deeper: PATH.key or PATH[i].  A path too long for
 * the buffer (a key of hundreds of characters) ends in "...". */
static void sub(char *out, size_t len, const char *path, const char *key, int i)
{
	int n = key ? snprintf(out, len, "%s.%s", path, key)
		    : snprintf(out, len, "%s[%d]", path, i);
	if (n >= (int)len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

static const char *type_name(const json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fractional number";
	case json_type_int:
		return "a number";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

/* A non-empty string without NUL or control characters (names and patterns
 * end up in file names, logs and XML). */
static int get_string(struct ctx *c, json_object *v, const char *path, const char **out)
{
	if (!json_object_is_type(v, json_type_string))
		return fail(c, path, "expected a string, found %s", type_name(v));
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n == 0)
		return fail(c, path, "must not be empty");
	if (strlen(s) != n)
		return fail(c, path, "contains a NUL character");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			return fail(c, path, "contains a control character");
	*out = s;
	return 0;
}

static int get_int(struct ctx *c, json_object *v, const char *path, int64_t lo, int64_t hi,
		   const char *what, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return fail(c, path, "expected %s, found %s", what, type_name(v));
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (errno || x < lo || x > hi)
		return fail(c, path, "%s must be %s", json_object_to_json_string(v), what);
	*out = x;
	return 0;
}

/* A file named by the manifest, relative to the manifest's directory. */
static int resolve(struct ctx *c, const char *s, const char *path, const char **out)
{
	if (s[0] == '/' || !c->base) {
		*out = s;
		return 0;
	}
	size_t n = strlen(c->base) + strlen(s) + 2;
	char *p = alloc(c, n);
	if (!p)
		return oom(c, path);
	snprintf(p, n, "%s/%s", c->base, s);
	*out = p;
	return 0;
}

static int get_path(struct ctx *c, json_object *v, const char *path, const char **out)
{
	const char *s;
	return get_string(c, v, path, &s) < 0 ? -1 : resolve(c, s, path, out);
}

/* An array of strings (a bare string counts as one), at most BATCH_MAX_LIST. */
static int get_strings(struct ctx *c, json_object *v, const char *path, bool allow_bare,
		       const char ***out, unsigned *n)
{
	if (allow_bare && json_object_is_type(v, json_type_string)) {
		const char **l = alloc(c, sizeof(*l));
		if (!l)
			return oom(c, path);
		*out = l;
		*n = 1;
		return get_string(c, v, path, &l[0]);
	}
	if (!json_object_is_type(v, json_type_array))
		return fail(c, path, "expected an array of strings, found %s", type_name(v));
	size_t len = json_object_array_length(v);
	if (len > BATCH_MAX_LIST)
		return fail(c, path, "has %zu entries, at most %d are allowed", len,
			    BATCH_MAX_LIST);
	const char **l = alloc(c, len * sizeof(*l));
	if (!l)
		return oom(c, path);
	for (size_t i = 0; i < len; i++) {
		char p[256];
		sub(p, sizeof(p), path, NULL, (int)i);
		if (get_string(c, json_object_array_get_idx(v, i), p, &l[i]) < 0)
			return -1;
	}
	*out = l;
	*n = (unsigned)len;
	return 0;
}

static int check_cmdline(struct ctx *c, const char *path, const char **args, unsigned n)
{
	size_t len = 0;
	for (unsigned i = 0; i < n; i++)
		len += strlen(args[i]) + 1;
	if (len > CMDLINE_MAX)
		return fail(c, path, "makes a guest command line of %zu bytes, longer than %d", len,
			    CMDLINE_MAX);
	return 0;
}

/* The statuses of src/exitcodes.h, by the names README.md uses. */
static const char *const exit_names[] = {
	[EXIT_POWEROFF] = "poweroff",
	[EXIT_INTERNAL] = "internal",
	[EXIT_USAGE] = "usage",
	[EXIT_RESTART] = "restart",
	[EXIT_GUEST_CRASH] = "crash",
	[EXIT_GUEST_KILLED] = "killed",
	[EXIT_TIMEOUT] = "timeout",
	[EXIT_HOST] = "host",
	[EXIT_INTERRUPTED] = "interrupted",
};

static int get_expect(struct ctx *c, json_object *v, const char *path, int *out)
{
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		for (size_t i = 0; i < sizeof(exit_names) / sizeof(exit_names[0]); i++)
			if (!strcmp(s, exit_names[i])) {
				*out = (int)i;
				return 0;
			}
		return fail(c, path,
			    "'%.40s' is not an exit status name (poweroff, internal, usage, "
			    "restart, crash, killed, timeout, host, interrupted)",
			    s);
	}
	int64_t x;
	if (get_int(c, v, path, 0, 255, "an exit status from 0 to 255", &x) < 0)
		return -1;
	*out = (int)x;
	return 0;
}

static int get_mem(struct ctx *c, json_object *v, const char *path, struct batch_job *j)
{
	const char *s;
	char buf[32];
	if (json_object_is_type(v, json_type_int)) {
		snprintf(buf, sizeof(buf), "%" PRId64 "M", json_object_get_int64(v));
		s = buf;
	} else if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
	} else {
		return fail(c, path, "expected a size such as \"64M\", found %s", type_name(v));
	}
	uint64_t bytes;
	if (size_parse(s, &bytes, 1024 * 1024) < 0 || !size_mem_ok(bytes))
		return fail(c, path, "'%.40s' must be a whole number of pages between 4M and 3G",
			    s);
	char *copy = keep(c, strdup(s));
	if (!copy)
		return oom(c, path);
	j->mem = copy;
	j->mem_bytes = bytes;
	return 0;
}

/* "disks": ["a.img", "b.img,ro", {"path": "c.img", "ro": true}] */
static int get_disks(struct ctx *c, json_object *v, const char *path, struct batch_job *j)
{
	if (!json_object_is_type(v, json_type_array))
		return fail(c, path, "expected an array of disks, found %s", type_name(v));
	size_t len = json_object_array_length(v);
	if (len > MAX_DEVICES)
		return fail(c, path, "has %zu disks, at most %d are allowed", len, MAX_DEVICES);
	struct batch_disk *d = alloc(c, len * sizeof(*d));
	if (!d)
		return oom(c, path);
	for (size_t i = 0; i < len; i++) {
		char p[256], pp[256];
		json_object *e = json_object_array_get_idx(v, i), *f;
		sub(p, sizeof(p), path, NULL, (int)i);
		if (json_object_is_type(e, json_type_object)) {
			json_object_object_foreach(e, key, val)
			{
				(void)val;
				if (strcmp(key, "path") && strcmp(key, "ro")) {
					sub(pp, sizeof(pp), p, key, 0);
					return fail(c, pp, "unknown key (a disk has path and ro)");
				}
			}
			sub(pp, sizeof(pp), p, "path", 0);
			if (!json_object_object_get_ex(e, "path", &f))
				return fail(c, pp, "missing: a disk needs its image file");
			if (get_path(c, f, pp, &d[i].path) < 0)
				return -1;
			if (json_object_object_get_ex(e, "ro", &f)) {
				sub(pp, sizeof(pp), p, "ro", 0);
				if (!json_object_is_type(f, json_type_boolean))
					return fail(c, pp, "expected true or false, found %s",
						    type_name(f));
				d[i].readonly = json_object_get_boolean(f);
			}
			continue;
		}
		const char *s;
		if (get_string(c, e, p, &s) < 0)
			return -1;
		size_t n = strlen(s);
		if (n > 3 && (!strcmp(s + n - 3, ",ro") || !strcmp(s + n - 3, ",rw"))) {
			d[i].readonly = s[n - 1] == 'o';
			char *cut = keep(c, strndup(s, n - 3));
			if (!cut)
				return oom(c, p);
			if (resolve(c, cut, p, &d[i].path) < 0)
				return -1;
		} else if (get_path(c, e, p, &d[i].path) < 0) {
			return -1;
		}
	}
	j->disks = d;
	j->ndisks = (unsigned)len;
	return 0;
}

static int get_console(struct ctx *c, json_object *v, const char *path, struct batch_job *j)
{
	if (!json_object_is_type(v, json_type_object))
		return fail(c, path, "expected an object with match and/or absent, found %s",
			    type_name(v));
	json_object_object_foreach(v, key, val)
	{
		char p[256];
		sub(p, sizeof(p), path, key, 0);
		if (!strcmp(key, "match")) {
			if (get_strings(c, val, p, true, &j->match, &j->nmatch) < 0)
				return -1;
		} else if (!strcmp(key, "absent")) {
			if (get_strings(c, val, p, true, &j->absent, &j->nabsent) < 0)
				return -1;
		} else {
			return fail(c, p, "unknown key (console has match and absent)");
		}
	}
	return 0;
}

/* Which keys may appear where. */
enum where { IN_DEFAULTS, IN_JOB };

/* One job object's fields (or the defaults'), over what `j` already holds. */
static int get_fields(struct ctx *c, json_object *obj, const char *path, enum where where,
		      struct batch_job *j, json_object **matrix)
{
	if (!json_object_is_type(obj, json_type_object))
		return fail(c, path, "expected an object, found %s", type_name(obj));
	json_object_object_foreach(obj, key, v)
	{
		char p[256];
		int64_t x;
		sub(p, sizeof(p), path, key, 0);
		int r = 0;
		if (!strcmp(key, "name") && where == IN_JOB) {
			r = get_string(c, v, p, &j->name);
			if (!r && strlen(j->name) > NAME_MAX_LEN)
				r = fail(c, p, "longer than %d characters", NAME_MAX_LEN);
		} else if (!strcmp(key, "kernel") && where == IN_JOB) {
			r = get_path(c, v, p, &j->kernel);
		} else if (!strcmp(key, "matrix") && where == IN_JOB) {
			*matrix = v;
		} else if (!strcmp(key, "initrd")) {
			j->initrd = NULL;
			if (!json_object_is_type(v, json_type_null))
				r = get_path(c, v, p, &j->initrd);
		} else if (!strcmp(key, "args")) {
			r = get_strings(c, v, p, false, &j->args, &j->nargs);
			if (!r)
				r = check_cmdline(c, p, j->args, j->nargs);
		} else if (!strcmp(key, "mem")) {
			r = get_mem(c, v, p, j);
		} else if (!strcmp(key, "disks")) {
			r = get_disks(c, v, p, j);
		} else if (!strcmp(key, "net")) {
			r = get_strings(c, v, p, false, &j->nets, &j->nnets);
			for (unsigned i = 0; !r && i < j->nnets; i++)
				if (strcmp(j->nets[i], "tap") && strncmp(j->nets[i], "tap=", 4)) {
					char q[256];
					sub(q, sizeof(q), p, NULL, (int)i);
					r = fail(c, q, "expected \"tap\" or \"tap=NAME\"");
				}
		} else if (!strcmp(key, "net_ip")) {
			r = get_string(c, v, p, &j->net_ip);
		} else if (!strcmp(key, "timeout")) {
			r = get_int(c, v, p, 0, TIMEOUT_MAX, "0 (none) to 31536000 seconds", &x);
			j->timeout_s = (unsigned)x;
		} else if (!strcmp(key, "expect")) {
			r = get_expect(c, v, p, &j->expect);
		} else if (!strcmp(key, "console")) {
			r = get_console(c, v, p, j);
		} else if (!strcmp(key, "retries")) {
			r = get_int(c, v, p, 0, RETRIES_MAX, "0 to 100 retries", &x);
			j->retries = (unsigned)x;
		} else if (!strcmp(key, "tags")) {
			r = get_strings(c, v, p, false, &j->tags, &j->ntags);
		} else if (where == IN_DEFAULTS &&
			   (!strcmp(key, "name") || !strcmp(key, "kernel") ||
			    !strcmp(key, "matrix"))) {
			r = fail(c, p, "belongs to a job, not to the defaults");
		} else {
			r = fail(c, p, "unknown key (see \"Farms\" in README.md)");
		}
		if (r < 0)
			return -1;
	}
	if (j->ndisks + j->nnets > MAX_DEVICES)
		return fail(c, path, "has %u disks and networks, at most %d are allowed",
			    j->ndisks + j->nnets, MAX_DEVICES);
	if (j->net_ip && !j->nnets)
		return fail(c, path, "net_ip needs a net");
	return 0;
}

static int add_job(struct ctx *c, const struct batch_job *j, const char *path)
{
	struct batch_manifest *m = c->m;
	if (m->njobs >= BATCH_MAX_JOBS)
		return fail(c, path, "more than %d jobs", BATCH_MAX_JOBS);
	if ((m->njobs & (m->njobs - 1)) == 0) {
		size_t cap = m->njobs ? m->njobs * 2 : 16;
		struct batch_job *n = realloc(m->jobs, cap * sizeof(*n));
		if (!n)
			return oom(c, path);
		m->jobs = n;
	}
	m->jobs[m->njobs] = *j;
	m->jobs[m->njobs].index = (unsigned)m->njobs;
	m->njobs++;
	return 0;
}

/* The file name a default job name is made of; a path that ends in '/'
 * (a directory, refused when the job runs) keeps the whole path, so no
 * job is ever nameless (a fuzz find: "kernel": "/"). */
static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s[1] ? s + 1 : p;
}

/* Append to a job name being built from its matrix; false once it no
 * longer fits (snprintf's return is what it *would* have written, so the
 * offset must not simply add it up: a fuzz find, a kernel path of 700
 * characters). */
static bool __attribute__((format(printf, 4, 5)))
name_add(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	if (*n >= len)
		return false;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= len - *n) {
		*n = len;
		return false;
	}
	*n += (size_t)w;
	return true;
}

/* One value of a matrix dimension: the values it takes, or NULL if the
 * dimension is absent (the job's own field then applies). */
static json_object *dimension(struct ctx *c, json_object *mx, const char *key, const char *path,
			      size_t *n, int *bad)
{
	json_object *v;
	char p[256];
	*n = 1;
	if (!json_object_object_get_ex(mx, key, &v))
		return NULL;
	sub(p, sizeof(p), path, key, 0);
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
		*bad = fail(c, p, "expected a non-empty array, found %s",
			    json_object_is_type(v, json_type_array) ? "an empty one"
								    : type_name(v));
		return NULL;
	}
	*n = json_object_array_length(v);
	return v;
}

/* kernels x initrds x args: one job per combination, named
 * NAME:KERNEL-BASENAME:INITRD-BASENAME:aN for the dimensions present, in
 * that order (kernels outermost), so a matrix expands the same way on every
 * shard. */
static int expand_matrix(struct ctx *c, json_object *mx, const char *path, struct batch_job *t,
			 const char *prefix)
{
	if (!json_object_is_type(mx, json_type_object))
		return fail(c, path,
			    "expected an object with kernels, initrds and/or args, found %s",
			    type_name(mx));
	json_object_object_foreach(mx, key, val)
	{
		(void)val;
		if (strcmp(key, "kernels") && strcmp(key, "initrds") && strcmp(key, "args")) {
			char p[256];
			sub(p, sizeof(p), path, key, 0);
			return fail(c, p, "unknown key (a matrix has kernels, initrds and args)");
		}
	}
	int bad = 0;
	size_t nk, ni, na;
	json_object *ks = dimension(c, mx, "kernels", path, &nk, &bad);
	json_object *is = bad ? NULL : dimension(c, mx, "initrds", path, &ni, &bad);
	json_object *as = bad ? NULL : dimension(c, mx, "args", path, &na, &bad);
	if (bad)
		return -1;
	if (ks && t->kernel)
		return fail(c, path, "kernels given twice: in the job and in its matrix");
	if (!ks && !t->kernel)
		return fail(c, path, "no kernel: the job or its matrix must name one");
	if (nk * ni > BATCH_MAX_JOBS || nk * ni * na > BATCH_MAX_JOBS - c->m->njobs)
		return fail(c, path, "expands to %zu jobs, more than the %d a manifest may have",
			    nk * ni * na, BATCH_MAX_JOBS);
	char kp[256], ip[256], ap[256], ep[256];
	sub(kp, sizeof(kp), path, "kernels", 0);
	sub(ip, sizeof(ip), path, "initrds", 0);
	sub(ap, sizeof(ap), path, "args", 0);
	/* Check every value once, before the product multiplies them. */
	const char **kernels = alloc(c, nk * sizeof(char *)),
		   **initrds = alloc(c, ni * sizeof(char *));
	const char ***argv = alloc(c, na * sizeof(char **));
	unsigned *argc = alloc(c, na * sizeof(unsigned));
	if (!kernels || !initrds || !argv || !argc)
		return oom(c, path);
	for (size_t k = 0; ks && k < nk; k++) {
		sub(ep, sizeof(ep), kp, NULL, (int)k);
		if (get_path(c, json_object_array_get_idx(ks, k), ep, &kernels[k]) < 0)
			return -1;
	}
	for (size_t i = 0; is && i < ni; i++) {
		json_object *e = json_object_array_get_idx(is, i);
		sub(ep, sizeof(ep), ip, NULL, (int)i);
		if (!json_object_is_type(e, json_type_null) && get_path(c, e, ep, &initrds[i]) < 0)
			return -1;
	}
	for (size_t a = 0; as && a < na; a++) {
		sub(ep, sizeof(ep), ap, NULL, (int)a);
		if (get_strings(c, json_object_array_get_idx(as, a), ep, true, &argv[a], &argc[a]) <
			    0 ||
		    check_cmdline(c, ep, argv[a], argc[a]) < 0)
			return -1;
	}
	for (size_t k = 0; k < nk; k++)
		for (size_t i = 0; i < ni; i++)
			for (size_t a = 0; a < na; a++) {
				struct batch_job j = *t;
				char name[NAME_MAX_LEN * 3 + 64];
				size_t n = 0;
				bool fits = name_add(name, sizeof(name), &n, "%s", prefix);
				if (ks) {
					j.kernel = kernels[k];
					fits &= name_add(
						name, sizeof(name), &n, ":%s",
						base_name(json_object_get_string(
							json_object_array_get_idx(ks, k))));
				}
				if (is) {
					j.initrd = initrds[i];
					fits &= name_add(name, sizeof(name), &n, ":%s",
							 initrds[i] ? base_name(initrds[i])
								    : "none");
				}
				if (as) {
					j.args = argv[a];
					j.nargs = argc[a];
					fits &= name_add(name, sizeof(name), &n, ":a%zu", a);
				}
				if (!fits)
					return fail(c, path,
						    "a job name made from its matrix is longer "
						    "than %zu "
						    "characters; give the job a shorter \"name\"",
						    sizeof(name) - 1);
				if (!(j.name = keep(c, strdup(name))))
					return oom(c, path);
				if (add_job(c, &j, path) < 0)
					return -1;
			}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(const struct batch_job *const *)a)->name,
		      (*(const struct batch_job *const *)b)->name);
}

/* Names key the results (--resume, --merge): two jobs may not share one. */
static int check_unique(struct ctx *c)
{
	struct batch_manifest *m = c->m;
	if (m->njobs < 2)
		return 0;
	const struct batch_job **v = malloc(m->njobs * sizeof(*v));
	if (!v)
		return oom(c, "$.jobs");
	for (size_t i = 0; i < m->njobs; i++)
		v[i] = &m->jobs[i];
	qsort(v, m->njobs, sizeof(*v), cmp_name);
	int r = 0;
	for (size_t i = 1; i < m->njobs && !r; i++)
		if (!strcmp(v[i - 1]->name, v[i]->name)) {
			size_t a = v[i - 1]->index < v[i]->index ? v[i - 1]->index : v[i]->index;
			size_t b = v[i - 1]->index < v[i]->index ? v[i]->index : v[i - 1]->index;
			r = fail(c, "$.jobs",
				 "jobs %zu and %zu (after matrix expansion) are both named '%s'; "
				 "names must be unique",
				 a, b, v[i]->name);
		}
	free(v);
	return r;
}

/* Line and column of byte `off` in text, for json-c's syntax errors. */
static void line_col(const char *text, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

static int parse_json(struct ctx *c, const char *text, size_t len, json_object **root)
{
	unsigned line, col;
	if (len > MANIFEST_MAX)
		return fail(c, "$", "the manifest is %zu bytes, more than the %u allowed", len,
			    MANIFEST_MAX);
	if (memchr(text, '\0', len))
		return fail(c, "$", "the manifest contains a NUL byte: it is not JSON text");
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return oom(c, "$");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!*root && e == json_tokener_continue)
		return fail(c, "$", "the JSON text ends before its value is complete");
	if (!*root || e != json_tokener_success) {
		line_col(text, end < len ? end : len, &line, &col);
		json_object_put(*root);
		*root = NULL;
		return fail(c, "$", "not valid JSON at line %u, column %u: %s", line, col,
			    json_tokener_error_desc(e));
	}
	for (size_t i = end; i < len; i++)
		if (!strchr(" \t\r\n", text[i])) {
			line_col(text, i, &line, &col);
			return fail(c, "$",
				    "unexpected text after the JSON value at line %u, "
				    "column %u",
				    line, col);
		}
	return 0;
}

int batch_manifest_parse(struct batch_manifest *m, const char *text, size_t len, const char *source,
			 const char *base_dir, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	struct ctx c = {m, source ? source : "manifest", base_dir, err, errlen};
	json_object *root = NULL, *v;
	if (parse_json(&c, text, len, &root) < 0)
		goto fail;
	m->json = root;
	if (!json_object_is_type(root, json_type_object)) {
		fail(&c, "$", "expected an object with \"jobs\", found %s", type_name(root));
		goto fail;
	}
	json_object_object_foreach(root, key, val)
	{
		(void)val;
		if (strcmp(key, "jobs") && strcmp(key, "defaults")) {
			char p[256];
			sub(p, sizeof(p), "$", key, 0);
			fail(&c, p, "unknown key (a manifest has jobs and defaults)");
			goto fail;
		}
	}
	struct batch_job defaults = {.mem = "64M",
				     .mem_bytes = 64u << 20,
				     .timeout_s = DEFAULT_TIMEOUT,
				     .expect = EXIT_POWEROFF};
	json_object *mx = NULL;
	if (json_object_object_get_ex(root, "defaults", &v) &&
	    get_fields(&c, v, "$.defaults", IN_DEFAULTS, &defaults, &mx) < 0)
		goto fail;
	if (!json_object_object_get_ex(root, "jobs", &v)) {
		fail(&c, "$.jobs", "missing: a manifest lists its jobs");
		goto fail;
	}
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
		fail(&c, "$.jobs", "expected a non-empty array of jobs, found %s",
		     json_object_is_type(v, json_type_array) ? "an empty one" : type_name(v));
		goto fail;
	}
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		char p[64];
		struct batch_job j = defaults;
		mx = NULL;
		snprintf(p, sizeof(p), "$.jobs[%zu]", i);
		if (get_fields(&c, json_object_array_get_idx(v, i), p, IN_JOB, &j, &mx) < 0)
			goto fail;
		if (mx) {
			if (expand_matrix(&c, mx, p, &j, j.name ? j.name : p + 2) < 0)
				goto fail;
			continue;
		}
		if (!j.kernel) {
			fail(&c, p, "no kernel: a job needs one (or a matrix of kernels)");
			goto fail;
		}
		if (!j.name)
			j.name = base_name(j.kernel);
		if (add_job(&c, &j, p) < 0)
			goto fail;
	}
	if (check_unique(&c) < 0)
		goto fail;
	return 0;
fail:
	batch_manifest_free(m);
	return -1;
}

int batch_manifest_load(struct batch_manifest *m, const char *path, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	/* Without blocking, and only a regular file: a FIFO named as the
	 * manifest must not hang the batch (as lgkvm run treats its files). */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: cannot open it: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open it: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			char *n = cap <= MANIFEST_MAX * 2u ? realloc(text, cap) : NULL;
			if (!n)
				break;
			text = n;
		}
		size_t got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int rerr = ferror(f) || len == cap;
	fclose(f);
	if (rerr || !text) {
		snprintf(err, errlen, "%s: cannot read it (or larger than %u bytes)", path,
			 MANIFEST_MAX);
		free(text);
		return -1;
	}
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	int r = batch_manifest_parse(m, text, len, path, slash ? dir : NULL, err, errlen);
	free(text);
	free(dir); /* resolved paths are copies */
	return r;
}

void batch_manifest_free(struct batch_manifest *m)
{
	for (size_t i = 0; i < m->nowned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->jobs);
	json_object_put(m->json);
	memset(m, 0, sizeof(*m));
}

bool batch_in_shard(size_t index, unsigned i, unsigned n)
{
	return n == 0 || index % n == i;
}

int batch_parse_shard(const char *s, unsigned *i, unsigned *n)
{
	char *end;
	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	unsigned long a = strtoul(s, &end, 10);
	if (errno || *end != '/' || end[1] < '0' || end[1] > '9')
		return -1;
	unsigned long b = strtoul(end + 1, &end, 10);
	if (errno || *end || b == 0 || b > BATCH_MAX_JOBS || a >= b)
		return -1;
	*i = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}
