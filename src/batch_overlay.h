/* A batch job's private copy of a disk image.
 *
 * Jobs of a batch may share an image, and a guest writes to its disks: each
 * job gets its own copy, so no job sees another's writes and the manifest's
 * images never change.  The copy costs what the filesystem makes it cost: a
 * reflink (FICLONE: btrfs, XFS, bcachefs share the blocks until written)
 * where it can, else a sparse copy that writes only the blocks holding
 * something other than zeros (holes found with SEEK_DATA/SEEK_HOLE, zero
 * blocks inside the data by looking). */
#ifndef LGKVM_BATCH_OVERLAY_H
#define LGKVM_BATCH_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>

enum overlay_how { OVERLAY_REFLINK = 1, OVERLAY_SPARSE = 2 };

/* Make dst (which must not exist; created 0600) a copy of the regular file
 * src.  allow_reflink false forces the sparse copy (for tests).  Returns how
 * it was done, or -1 with one sentence in err and no dst left behind. */
int batch_overlay_copy(const char *src, const char *dst, bool allow_reflink, char *err,
		       size_t errlen);

#endif
