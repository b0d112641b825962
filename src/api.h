/* The control channel of a running guest: `lgkvm run --api-sock PATH`
 * (src/api.c, docs/DESIGN.md §3.7).  A Unix stream socket, owner-only; one
 * JSON request per line, one JSON reply per line. */
#ifndef LGKVM_API_H
#define LGKVM_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/snapshot.h"

struct vm;

#define API_LINE_MAX 4096 /* a longer request is refused and the connection closed */

struct api {
	int listen_fd;	       /* -1: no API */
	int stop_efd;	       /* wakes the API thread to end */
	int ack_efd;	       /* vCPU -> API: "paused" */
	int resume_efd;	       /* API -> vCPU: "go on" */
	atomic_bool pause_req; /* the API wants the vCPU held */
	atomic_bool paused;    /* the vCPU is held */
	atomic_uint pause_seq; /* times it has come to be held */
	uint64_t paused_ns;    /* time spent held (not the guest's) */
	pthread_t thread;
	bool started;
	char path[108];
	/* Work the API thread hands the vCPU thread (a snapshot, a migration's
	 * rounds), done at the pause point, its result in job_status and
	 * job_err.  `job` is JOB_NONE, or JOB_WAITING (set by the API thread),
	 * JOB_RUNNING (claimed by the vCPU thread), JOB_DONE.  Either side
	 * moves it from WAITING only by compare-and-swap: a job the API thread
	 * took back (it gave up waiting) is never run, and one the vCPU thread
	 * claimed is always waited for -- its argument lives on the API
	 * thread's stack. */
	atomic_int job;
	int (*job_fn)(struct vm *vm, void *arg, char *err, size_t errlen);
	void *job_arg;
	int job_status; /* job_fn's: 0 or -1 */
	char job_err[256];
	/* A migration's source side (src/migrate.c): /proc/self/pagemap and
	 * clear_refs, opened before the sandbox; -1 when not. */
	int pagemap_fd, clear_refs_fd;
};

/* Run fn(vm, arg) on the vCPU thread, held at its pause point (pausing it
 * first, and letting it run again after, if it was running).  fn's result,
 * or -1 with err if the vCPU did not get to it in `wait_ms`. */
int api_on_vcpu(struct vm *vm, int (*fn)(struct vm *vm, void *arg, char *err, size_t errlen),
		void *arg, unsigned wait_ms, char *err, size_t errlen);

/* Before the sandbox: create the socket at `path` (which must not exist) and
 * the thread's eventfds.  0, or -1 with one sentence in err. */
int api_open(struct vm *vm, const char *path, char *err, size_t errlen);
/* Start serving (a thread).  0 or -1 with err. */
int api_start(struct vm *vm, char *err, size_t errlen);
/* Stop the thread, close everything (the parent process removes the socket
 * file: src/main.c).  Safe to call twice and on a VM that never had an API. */
void api_close(struct vm *vm);

/* One request line in, one reply line out (no newline), as the thread does:
 * the whole protocol, for tests and the fuzzer.  Returns the reply's
 * length. */
size_t api_handle(struct vm *vm, const char *line, size_t len, char *reply, size_t size);

/* The vCPU thread, between exits: if the API asked for a pause, hold here
 * until it asks to resume (or the guest ends).  true if it held: time has
 * passed, and the kick timer's signal may have been taken by the wait, so
 * the caller looks at time and the timer again (and at `dead`). */
bool api_pause_point(struct vm *vm);

/* One request to the lgkvm at `sock`, its reply line into reply: 0 (ok),
 * 1 (refused), -1 (nobody there, or no reply within wait_s seconds -- 0: no
 * limit; err says). */
int api_request(const char *sock, const char *json, unsigned wait_s, char *reply, size_t size,
		char *err, size_t errlen);

/* `lgkvm api PATH JSON`: send one request to a running lgkvm, print the
 * reply.  Exit status 0 (ok), 1 (the request failed), 2 (usage, no lgkvm
 * there). */
int api_client_main(int argc, char **argv);

enum { JOB_NONE, JOB_WAITING, JOB_RUNNING, JOB_DONE };

#endif
