/* A live migration's stream (src/migrate.c, docs/DESIGN.md §15): what the
 * source sends and the destination reads, and nothing else.
 *
 *   header   "LGKVMMIG", format u32, page size u32 (4096), memory bytes u64
 *                                                                -- 24 bytes
 *   records  type u32, count u32, first page u64, then the payload:
 *              MACHINE  the state file's tree as the migration began,
 *                       `count` bytes; at most one, before any pages: the
 *                       destination builds its VM from it while the pages
 *                       come, instead of in the guest's downtime
 *              PAGES    `count` pages (1..MIG_PAGES_MAX) of guest memory
 *              STATE    the state file's tree, `count` bytes; the last record
 *   reply    the destination, once its guest is built: "ok\n", or a line
 *            saying why not
 *
 * All little-endian.  The stream is as hostile as a snapshot: every header
 * field, type, count and page range is checked before it is used, and a
 * page never lands outside the memory the header announced (which must be a
 * RAM size lgkvm gives, plus the device area).  Fuzzed:
 * tests/fuzz/fuzz_migrate.c. */
#ifndef LGKVM_MIGRATE_STREAM_H
#define LGKVM_MIGRATE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC      "LGKVMMIG"
#define MIG_HEADER_LEN 24u
#define MIG_RECORD_LEN 16u
#define MIG_PAGE       4096u
#define MIG_PAGES_MAX  256u /* 1 MiB per record */
#define MIG_T_PAGES    1u
#define MIG_T_STATE    2u
#define MIG_T_MACHINE  3u
/* Either end that hears nothing (or cannot send) for this long gives up: a
 * peer that stalls must not hold a guest, or a supervisor waiting on us,
 * for ever (SO_RCVTIMEO / SO_SNDTIMEO on the stream's socket). */
#define MIG_QUIET_S 30

/* The source's side: 0, or -1 with errno. */
int mig_send_header(int fd, uint64_t mem_size);
int mig_send_pages(int fd, const uint8_t *mem, uint64_t first_page, uint32_t count);
int mig_send_state(int fd, const void *fdt, size_t len);
int mig_send_machine(int fd, const void *fdt, size_t len);

/* What the destination does with a MACHINE record's tree (`len` bytes,
 * checked only for its size): 0 to read on, or -1 with one sentence in err
 * to stop the stream there. */
typedef int (*mig_machine_fn)(void *ctx, const void *tree, size_t len, char *err, size_t errlen);

/* The destination's side: read the header and every record from `fd` until
 * the state, writing pages into `mem_fd` (at SNAP_MEM_HDR + their offset, as
 * a memory file has them; made the right size here), and handing a MACHINE
 * record to `machine` (NULL: read and dropped).  On success 0, the memory
 * size and the state tree (malloc'd; the caller frees); else -1 with one
 * sentence in err.  *pages counts the pages received. */
int mig_receive(int fd, int mem_fd, mig_machine_fn machine, void *ctx, uint64_t *mem_size,
		void **state, size_t *state_len, uint64_t *pages, char *err, size_t errlen);

#endif
