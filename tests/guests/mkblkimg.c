/* mkblkimg OUT BYTES: the block test's disk image, blk_pattern() in every
 * byte.  A host tool, built with the host compiler. */
#include <stdio.h>
#include <stdlib.h>

#include "blk_pattern.h"

int main(int argc, char **argv)
{
	char *end;
	unsigned long n;
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: mkblkimg OUT BYTES\n");
		return 2;
	}
	n = strtoul(argv[2], &end, 0);
	if (*end || n > 0xFFFFFFFFul) {
		fprintf(stderr, "mkblkimg: bad size '%s'\n", argv[2]);
		return 2;
	}
	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	for (unsigned long i = 0; i < n; i++)
		putc(blk_pattern((uint32_t)i), f);
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
