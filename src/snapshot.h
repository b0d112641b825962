/* Taking a snapshot of a running guest, and what a restore shares with it
 * (src/snapshot.c; docs/DESIGN.md §14). */
#ifndef LGKVM_SNAPSHOT_H
#define LGKVM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct vm;

struct snapshot_result {
	uint64_t mem_bytes; /* guest memory written (the rest is holes: zero pages) */
	uint64_t state_bytes;
	uint64_t ms; /* from holding the devices to both files on disk */
};

/* On the vCPU thread, held at a pause point: hold every device thread
 * (disks finish and flush what is in flight), write guest memory to mem_fd
 * and the machine's state to state_fd (both new, empty files), flush both,
 * let the devices go.  `mem_name` is the memory file's name beside the
 * state file.  0, or -1 with one sentence in err; the guest is unharmed
 * either way. */
int snapshot_take(struct vm *vm, int state_fd, int mem_fd, const char *mem_name,
		  struct snapshot_result *res, char *err, size_t errlen);

/* Everything but guest memory into s (the vCPU thread at a pause point,
 * the devices held): what snapshot_take writes as the state file, and a
 * migration sends last.  0, or -1 with err. */
struct snap;
int snapshot_gather(struct vm *vm, struct snap *s, const char *mem_name, char *err, size_t errlen);

/* CRC-32 of the monitor this lgkvm puts in every VM: a snapshot is restored
 * only into the same monitor. */
uint32_t snapshot_monitor_crc(void);

/* A disk's identity: its size, its modification time, and a hash of its
 * first 64 KiB.  0, or -1 with errno. */
int snapshot_disk_identity(int fd, uint64_t *size, int64_t *mtime_ns, uint64_t *head_hash);

#endif
