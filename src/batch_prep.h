/* Work a batch does once per kernel instead of once per job
 * (docs/DESIGN.md §3.6).
 *
 * `lgkvm run` reads its kernel, decides its generation and -- for a bzImage
 * from 2.6.26 on -- decompresses it and, in the vmcall era, disassembles it
 * to rewrite its hypercalls: 10-30 ms of every boot on hardware, 100-400 ms
 * in the emulated test host.  A batch that boots one kernel a thousand times
 * does that once: it writes the kernel lgkvm would boot (the decompressed,
 * rewritten ELF) to OUT/tmp/kernels/ and runs each job on that file with
 * the generation named (--abi, --pae), so the child only reads an ELF.
 * A kernel that cannot be prepared is left as it is: its jobs then say why
 * themselves, as they would have. */
#ifndef LGKVM_BATCH_PREP_H
#define LGKVM_BATCH_PREP_H

#include <stdbool.h>
#include <stddef.h>

struct batch_prepared {
	const char *orig; /* the manifest's path (the job's own string) */
	char *path;	  /* the file to boot instead */
	char abi[8];	  /* "G5" */
	bool pae;
};

struct batch_prep {
	struct batch_prepared *k;
	size_t n;
	char dir[4096];
};

/* Prepare `kernel` (once; later calls with the same path are no-ops). */
void batch_prep_kernel(struct batch_prep *p, const char *out, const char *kernel);
/* What to boot for `kernel`, or NULL to boot it as it is. */
const struct batch_prepared *batch_prep_find(const struct batch_prep *p, const char *kernel);
/* Remove the prepared files and free everything. */
void batch_prep_free(struct batch_prep *p);

#endif
