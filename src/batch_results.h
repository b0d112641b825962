/* `lgkvm batch` results: one JSON record per job in results.jsonl, and the
 * reports made from them (JUnit XML, the summary table).
 *
 * results.jsonl is the batch's memory: a record is appended and flushed to
 * disk as each job ends, so an interrupted batch loses nothing finished,
 * --resume skips the jobs it names, and --merge joins the files of several
 * shards.  The reports are always made from the file, never from memory, so
 * a resumed or merged batch reports on every job it has.  A record:
 *
 *	{"name": "crash", "index": 1, "status": "met", "exit": 4,
 *	 "meaning": "guest crashed or panicked", "expected": 4,
 *	 "reason": "guest crashed: boom from the guest", "wall_s": 0.412,
 *	 "log": "out/logs/00001-crash.console", "retries": 0, "tags": ["smoke"]}
 *
 * and, when status is "unmet", "problem": why (wrong exit status, a console
 * pattern missing or present). */
#ifndef LGKVM_BATCH_RESULTS_H
#define LGKVM_BATCH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What one job came to. */
struct batch_outcome {
	const char *name;
	unsigned index;
	bool met;
	int exit_code; /* lgkvm run's status; 128 + N if it died of signal N */
	int expected;
	const char *problem; /* NULL when met */
	const char *reason;  /* the last "lgkvm:" line of its stderr, or NULL */
	double wall_s;
	const char *log; /* its console log */
	unsigned retries;
	const char *const *tags;
	unsigned ntags;
};

/* "guest powered off", "guest crashed or panicked", ... for an exit status. */
const char *batch_exit_meaning(int code);

/* Append outcome's record to the open results file (O_APPEND): one write,
 * then fdatasync.  0, or -1 with one sentence in err. */
int batch_results_append(int fd, const struct batch_outcome *o, char *err, size_t errlen);

/* Records read back: from one results.jsonl, or several merged. */
struct batch_results {
	void **recs; /* json_object *, one per job, in job (index) order */
	size_t n, cap;
	const char **sorted; /* names, sorted, for batch_results_has() */
};

/* Add the records of the results.jsonl at path.  A missing file adds nothing
 * if missing_ok.  A later record of a job already present replaces it (a
 * shard run twice).  A torn last line (the writer was killed mid-write) is
 * skipped; any other line that is not a record is an error: -1 with one
 * sentence naming the file and line. */
int batch_results_load(struct batch_results *r, const char *path, bool missing_ok, char *err,
		       size_t errlen);
bool batch_results_has(struct batch_results *r, const char *name);
void batch_results_free(struct batch_results *r);

/* How many records are met / unmet. */
size_t batch_results_unmet(const struct batch_results *r);

/* Write every record to path, one per line (the merged results.jsonl). */
int batch_results_write(const struct batch_results *r, const char *path, char *err, size_t errlen);

/* JUnit XML for CI: one testcase per job, a failure element when unmet. */
int batch_results_junit(const struct batch_results *r, const char *path, char *err, size_t errlen);

/* The table on stdout: one line per job, then the totals. */
void batch_results_summary(const struct batch_results *r, FILE *out);

#endif
