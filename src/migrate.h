/* Live migration: the source's side (`migrate` on the API socket) and the
 * address both sides name (src/migrate.c, docs/DESIGN.md §15). */
#ifndef LGKVM_MIGRATE_H
#define LGKVM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/migrate_stream.h"

struct vm;

struct migrate_result {
	unsigned rounds;      /* pre-copy rounds, the full copy included */
	uint64_t pages;	      /* pages sent */
	uint64_t total_ms;    /* from connecting to the destination's word */
	uint64_t downtime_ms; /* from the final pause to the destination's word */
};

/* "unix:PATH" or "tcp:ADDRESS:PORT" (IPv4 numbers, or localhost) as a socket
 * address.  0, or -1 with one sentence in err. */
int mig_addr(const char *addr, struct sockaddr_storage *sa, socklen_t *len, char *err,
	     size_t errlen);

/* The API thread: move the guest to `to`.  0 when the destination runs it
 * (the guest here has ended, EXIT_MIGRATED); -1 with err when it does not,
 * the guest here running on as before. */
int migrate_source(struct vm *vm, const char *to, unsigned max_downtime_ms,
		   struct migrate_result *res, char *err, size_t errlen);

/* The destination: listen at `addr` (a unix path must not exist; it is
 * made owner-only and removed again), say so on stderr if `say`, wait for
 * one source (at most timeout_s, 0 = no limit).  The connection, or -1 with
 * err. */
int migrate_accept(const char *addr, unsigned timeout_s, bool say, char *err, size_t errlen);

/* Read the stream from `fd`: guest memory into a new memory file (*mem_fd,
 * a memfd with the header `restore` expects) and the state into *s,
 * checked; the state's tree also to `state_out` if it is not -1; the
 * machine record, if the source sent one, to `machine` (the VM built early,
 * src/main.c).  EXIT_POWEROFF (0), or the exit status with err (a refusal
 * of `machine`'s: EXIT_BAD_SNAPSHOT; it keeps its own). */
struct snap;
int migrate_receive(int fd, struct snap *s, int *mem_fd, int state_out, mig_machine_fn machine,
		    void *ctx, char *err, size_t errlen);

#endif
