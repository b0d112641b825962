/* libFuzzer harness for the migration stream's reader, src/migrate_stream.c.
 *
 * One input is what a source sent.  Besides "no crash, no leak", each run
 * checks the reader's promises: a refusal is one sentence; an accepted stream
 * announced a memory size lgkvm gives a guest (plus the device area), wrote
 * nothing past it into the memory file, and ends in a state of a size a state
 * file may have.  (What the state says is the state file's parser's:
 * tests/fuzz/fuzz_state.c.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/migrate_stream.h"
#include "src/snapshot_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A MACHINE record reaches the destination's builder only with a size a
 * state file may have; the builder may refuse it (every other one, here). */
static int fuzz_machine(void *ctx, const void *tree, size_t len, char *err, size_t errlen)
{
	(void)ctx;
	if (!tree || len < 40 || len > SNAP_STATE_MAX)
		abort();
	if (((const uint8_t *)tree)[0] & 1) {
		snprintf(err, errlen, "the builder refused it");
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The stream comes from a file here, a socket in lgkvm: read() either way. */
	int in = memfd_create("stream", MFD_CLOEXEC), mem = memfd_create("mem", MFD_CLOEXEC);
	if (in < 0 || mem < 0 || write(in, data, size) != (ssize_t)size ||
	    lseek(in, 0, SEEK_SET) != 0)
		abort();
	uint64_t mem_size = 0, pages = 0;
	void *state = NULL;
	size_t len = 0;
	char err[512];
	err[0] = '\0';
	struct stat st;
	if (mig_receive(in, mem, fuzz_machine, NULL, &mem_size, &state, &len, &pages, err,
			sizeof(err)) < 0) {
		if (!err[0] || strchr(err, '\n') || state)
			abort();
	} else if (!state || len < 40 || len > SNAP_STATE_MAX || mem_size < VBUS_AREA_SIZE ||
		   fstat(mem, &st) < 0 || (uint64_t)st.st_size != SNAP_MEM_HDR + mem_size ||
		   pages > mem_size / MIG_PAGE * 1000) {
		abort();
	}
	free(state);
	close(in);
	close(mem);
	return 0;
}
