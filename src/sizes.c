/* Sizes: kept apart from src/options.c so that the batch manifest parser
 * (and its fuzzer) can use them without the rest of the command line. */
#include "src/sizes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIB	(1024u * 1024u)
#define MEM_MIN (4u * MIB)
#define MEM_MAX (3072ull * MIB)

int size_parse(const char *s, uint64_t *out, uint64_t bare_unit)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	uint64_t unit = bare_unit;
	if (*end) {
		switch (*end) {
		case 'k':
		case 'K':
			unit = 1024;
			break;
		case 'm':
		case 'M':
			unit = MIB;
			break;
		case 'g':
		case 'G':
			unit = 1024ull * MIB;
			break;
		default:
			return -1;
		}
		if (end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
			return -1;
	}
	if (v > UINT64_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

bool size_mem_ok(uint64_t mem)
{
	return mem >= MEM_MIN && mem <= MEM_MAX && !(mem & 0xFFF);
}
