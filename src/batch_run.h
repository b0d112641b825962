/* `lgkvm batch`: running a manifest's jobs, N at a time.
 *
 * Each job is its own `lgkvm run` process (this binary, /proc/self/exe, run
 * again with the job's arguments), so a guest that crashes, hangs or is
 * killed takes nothing else with it, and its exit status means exactly what
 * README.md's table says.  Its console goes to a capped log, its stderr to a
 * file whose last "lgkvm:" line is the job's reason, and its writable disks
 * are private copies (src/batch_overlay.c) removed when it ends.  Each job's
 * record is appended to results.jsonl as it ends (src/batch_results.c). */
#ifndef LGKVM_BATCH_RUN_H
#define LGKVM_BATCH_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "src/batch_manifest.h"

struct batch_config {
	const char *out;	 /* --out DIR */
	const char *exe;	 /* what to run as `lgkvm run` (normally /proc/self/exe) */
	unsigned jobs;		 /* --jobs: at most this many guests at once */
	uint64_t mem_budget;	 /* bytes the running guests may use together */
	uint64_t console_max;	 /* --console-log-max for each job */
	bool resume;		 /* --resume: skip jobs results.jsonl already has */
	unsigned shard, nshards; /* this shard of how many (nshards 0: all) */
	bool progress;		 /* the live progress line on stderr */
};

/* Run the jobs of m that are in this shard (and not done, with resume), then
 * write junit.xml and print the summary.  Returns lgkvm batch's exit status:
 * EXIT_POWEROFF (every job met its expectation), EXIT_BATCH_UNMET,
 * EXIT_INTERRUPTED (a stop signal: finished jobs are kept), EXIT_USAGE (the
 * output directory cannot be used) or EXIT_INTERNAL. */
int batch_run(const struct batch_manifest *m, const struct batch_config *cfg);

/* The reports for a set of results.jsonl files (or directories holding one):
 * merged results.jsonl and junit.xml in out, the summary on stdout. */
int batch_merge(const char *out, char *const *inputs, int ninputs);

#endif
