/* The image inspector (pvabi/inspect.c) and the decompressors behind it
 * (pvabi/decompress.c): every kernel file is hostile.  Whatever the bytes,
 * image_inspect() must return 0 or -1 with a reason, never read outside the
 * buffer, never allocate without bound; a decompressor given a small limit
 * must stop there.  The first byte picks what to drive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (mode < 0xC0) {
		struct image_info in;
		/* A copy of exactly `size` bytes, so ASan sees any overread. */
		uint8_t *img = malloc(size ? size : 1);
		memcpy(img, data, size);
		int r = image_inspect(img, size, NULL, mode & 1 ? 1 : -1, mode & 2, &in);
		if (r < 0 && !in.reason[0])
			abort();
		if (r == 0 && in.gen >= GEN_COUNT)
			abort();
		image_info_free(&in);
		free(img);
		return 0;
	}
	static const char *fmts[] = {"gzip", "bzip2", "lzma", "xz", "lzo", "lz4"};
	size_t out_len = 0;
	char err[160];
	uint8_t *out = inspect_decompress(fmts[mode % 6], data, size, 1u << 20, &out_len, err,
					  sizeof(err));
	if (out && out_len > (1u << 20))
		abort();
	free(out);
	return 0;
}
