/* libFuzzer harness for the batch manifest parser, src/batch_manifest.c.
 *
 * One input is one manifest's text.  Besides "no crash, no leak", each run
 * checks the parser's promises: a refusal is one non-empty sentence that
 * names the manifest and a JSON path ("fuzz: $..."), and leaves nothing
 * allocated; a success gives at least one job, each with a kernel, a name,
 * its own index, a RAM size lgkvm run accepts and lists within their bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/batch_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so AddressSanitizer sees a read past the end. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	struct batch_manifest m;
	char err[512];
	err[0] = '\0';
	if (batch_manifest_parse(&m, text, size, "fuzz", (size & 1) ? "base" : NULL, err,
				 sizeof(err)) < 0) {
		if (strncmp(err, "fuzz: $", 7) != 0 || strchr(err, '\n') || m.jobs || m.njobs)
			abort();
		free(text);
		return 0;
	}
	if (m.njobs == 0 || m.njobs > BATCH_MAX_JOBS)
		abort();
	for (size_t i = 0; i < m.njobs; i++) {
		const struct batch_job *j = &m.jobs[i];
		if (j->index != i || !j->kernel || !j->kernel[0] || !j->name || !j->name[0] ||
		    !j->mem || j->mem_bytes < (4u << 20) || j->nargs > BATCH_MAX_LIST ||
		    j->nmatch > BATCH_MAX_LIST || j->nabsent > BATCH_MAX_LIST ||
		    j->ntags > BATCH_MAX_LIST || j->ndisks + j->nnets > 8 || j->expect < 0 ||
		    j->expect > 255)
			abort();
		/* Every string the runner will hand to lgkvm run must be readable. */
		for (unsigned a = 0; a < j->nargs; a++)
			if (!strlen(j->args[a]))
				abort();
		for (unsigned d = 0; d < j->ndisks; d++)
			if (!strlen(j->disks[d].path))
				abort();
	}
	batch_manifest_free(&m);
	free(text);
	return 0;
}
