/* `lgkvm batch`: the manifest, a JSON file listing guest jobs.
 *
 *	{ "defaults": { "mem": "64M", "timeout": 20 },
 *	  "jobs": [
 *	    { "name": "demo", "kernel": "demo.elf", "console": { "match": "Hello" } },
 *	    { "name": "crash", "kernel": "crash.elf", "expect": 4 },
 *	    { "name": "boot", "matrix": { "kernels": ["a.elf", "b.elf"],
 *					  "args": [["quiet"], ["debug"]] } } ] }
 *
 * A job is one object; a "matrix" (kernels x initrds x args) expands to one
 * job per combination.  Every field is checked here, before anything runs: a
 * farm should learn of a typo when it submits the batch, not two hours into it.
 * So unknown keys are errors too, and an error is one sentence naming the JSON
 * path of the value at fault ("$.jobs[2].timeout: ...").  README.md ("Farms")
 * documents the fields. */
#ifndef LGKVM_BATCH_MANIFEST_H
#define LGKVM_BATCH_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More jobs than this after expansion is a mistake in a matrix, not a batch
 * (and would let a small manifest ask for unbounded memory). */
#define BATCH_MAX_JOBS 100000
/* A job's list fields (args, disks, nets, patterns, tags) hold at most this. */
#define BATCH_MAX_LIST 64

struct batch_disk {
	const char *path; /* resolved against the manifest's directory */
	bool readonly;	  /* ",ro" or {"ro": true}: shared, never copied */
};

struct batch_job {
	unsigned index;	  /* position after expansion: sharding and file names use it */
	const char *name; /* unique within the manifest */
	const char *kernel, *initrd;
	const char **args; /* the guest command line, one argument each */
	unsigned nargs;
	const char *mem; /* as written ("64M"); mem_bytes is its value */
	uint64_t mem_bytes;
	const struct batch_disk *disks;
	unsigned ndisks;
	const char **nets; /* "tap" or "tap=NAME", as for lgkvm run --net */
	unsigned nnets;
	const char *net_ip;
	unsigned timeout_s; /* 0 = none */
	int expect;	    /* the lgkvm run exit status this job must end with */
	const char **match; /* must all appear on the console */
	unsigned nmatch;
	const char **absent; /* must not appear */
	unsigned nabsent;
	unsigned retries; /* extra attempts for a job that did not meet its expectation */
	const char **tags;
	unsigned ntags;
};

struct batch_manifest {
	struct batch_job *jobs;
	size_t njobs;
	/* Owned: the parsed JSON (job strings point into it) and what the
	 * parser allocated (resolved paths, expanded names, lists).  Jobs of
	 * one matrix share their lists: they are never changed after parsing. */
	void *json;
	char **owned;
	size_t nowned, owned_cap;
};

/* Parse a manifest from text.  Relative paths are taken relative to base_dir
 * (NULL: as they are).  0, or -1 with one sentence in err (the manifest is
 * freed either way on failure).  `source` names the text in messages. */
int batch_manifest_parse(struct batch_manifest *m, const char *text, size_t len, const char *source,
			 const char *base_dir, char *err, size_t errlen);

/* Read and parse the file PATH (paths relative to its directory). */
int batch_manifest_load(struct batch_manifest *m, const char *path, char *err, size_t errlen);

void batch_manifest_free(struct batch_manifest *m);

/* Is job `index` in shard i of n (0 <= i < n)?  Job index modulo n: every job
 * is in exactly one shard, and shards stay balanced for any manifest order. */
bool batch_in_shard(size_t index, unsigned i, unsigned n);

/* "I/N" (0 <= I < N <= 100000): 0, or -1. */
int batch_parse_shard(const char *s, unsigned *i, unsigned *n);

#endif
