/* libFuzzer harness for the snapshot's state file parser, src/snapshot_format.c.
 *
 * One input is one state file.  Besides "no crash, no leak, no read past the
 * end", each run checks the parser's promises: a refusal is one sentence; an
 * accepted file has its counts within bounds, its strings terminated, its
 * memory size RAM plus the device area -- and written out again it reads back
 * exactly the same (nothing the parser accepts is lost or changed by the
 * writer a snapshot uses). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/snapshot_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so AddressSanitizer sees a read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	struct snap *s = calloc(1, sizeof(*s)), *t = calloc(1, sizeof(*t));
	if (!buf || !s || !t)
		abort();
	memcpy(buf, data, size);
	char err[512];
	err[0] = '\0';
	if (snap_decode(buf, size, s, err, sizeof(err)) < 0) {
		if (!err[0] || strchr(err, '\n'))
			abort();
		goto out;
	}
	if (s->ndevs > VBUS_MAX_DEVS || s->ndma > 32 || s->mem_size != s->ram + VBUS_AREA_SIZE ||
	    memchr(s->mem_file, '\0', sizeof(s->mem_file)) == NULL || strchr(s->mem_file, '/'))
		abort();
	for (unsigned i = 0; i < s->ndevs; i++)
		if (s->dev[i].nq > VDEV_MAX_QUEUES ||
		    s->dev[i].config_len > sizeof(s->dev[i].config))
			abort();
	size_t len = 0;
	void *again = snap_encode(s, &len, err, sizeof(err));
	if (!again || snap_decode(again, len, t, err, sizeof(err)) < 0 ||
	    memcmp(s, t, sizeof(*s)) != 0)
		abort();
	free(again);
out:
	free(t);
	free(s);
	free(buf);
	return 0;
}
