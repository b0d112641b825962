/* The compressed kernels of the lguest era, opened with the libraries that
 * made them: gzip (zlib), bzip2 (libbz2), lzma and xz (liblzma).  lzo (2.6.33+)
 * and lz4 (3.11+) payloads are recognised but not opened: an `int $0x1f`-era
 * kernel still decompresses itself and `lgkvm inspect` goes by its version
 * string alone, while a vmcall-era one (2.6.33 to 3.0) cannot be rewritten
 * and is refused with that reason.
 *
 * Every output is bounded by `max`: a hostile image that inflates without end
 * is refused, not followed. */
#include <bzlib.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pvabi/inspect.h"

/* A growing output buffer. */
struct sink {
	uint8_t *buf;
	size_t len, cap, max;
};

static bool sink_room(struct sink *s)
{
	if (s->len < s->cap)
		return true;
	if (s->cap >= s->max)
		return false;
	size_t cap = s->cap ? s->cap * 2 : (1u << 20);
	if (cap > s->max)
		cap = s->max;
	uint8_t *b = realloc(s->buf, cap);
	if (!b)
		return false;
	s->buf = b;
	s->cap = cap;
	return true;
}

static uint8_t *failed(struct sink *s, char *err, size_t errlen, const char *fmt, const char *what)
{
	free(s->buf);
	snprintf(err, errlen, fmt, what);
	return NULL;
}

static uint8_t *gunzip(struct sink *s, const uint8_t *in, size_t len, char *err, size_t errlen)
{
	z_stream z = {0};
	/* 16 + MAX_WBITS: a gzip header and trailer, not a zlib one. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return failed(s, err, errlen, "%s: cannot start the decompressor", "gzip");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	int r = Z_OK;
	while (r == Z_OK) {
		if (!sink_room(s)) {
			inflateEnd(&z);
			return failed(s, err, errlen,
				      "%s payload decompresses to more than the limit", "gzip");
		}
		z.next_out = s->buf + s->len;
		z.avail_out = (uInt)(s->cap - s->len);
		r = inflate(&z, Z_NO_FLUSH);
		s->len = s->cap - z.avail_out;
		if (r == Z_BUF_ERROR && z.avail_out == 0)
			r = Z_OK; /* only out of room: grow and go on */
	}
	inflateEnd(&z);
	if (r != Z_STREAM_END)
		return failed(s, err, errlen, "%s payload is damaged or truncated", "gzip");
	return s->buf;
}

static uint8_t *bunzip(struct sink *s, const uint8_t *in, size_t len, char *err, size_t errlen)
{
	bz_stream b = {0};
	if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK)
		return failed(s, err, errlen, "%s: cannot start the decompressor", "bzip2");
	b.next_in = (char *)(uintptr_t)in;
	b.avail_in = len > UINT32_MAX ? UINT32_MAX : (unsigned)len;
	int r = BZ_OK;
	while (r == BZ_OK) {
		if (!sink_room(s)) {
			BZ2_bzDecompressEnd(&b);
			return failed(s, err, errlen,
				      "%s payload decompresses to more than the limit", "bzip2");
		}
		b.next_out = (char *)s->buf + s->len;
		b.avail_out = (unsigned)(s->cap - s->len);
		unsigned before = b.avail_out;
		r = BZ2_bzDecompress(&b);
		s->len += before - b.avail_out;
		if (r == BZ_OK && b.avail_in == 0 && b.avail_out)
			break; /* input ended before the stream did */
	}
	BZ2_bzDecompressEnd(&b);
	if (r != BZ_STREAM_END)
		return failed(s, err, errlen, "%s payload is damaged or truncated", "bzip2");
	return s->buf;
}

static uint8_t *unxz(struct sink *s, const uint8_t *in, size_t len, bool alone, char *err,
		     size_t errlen)
{
	lzma_stream x = LZMA_STREAM_INIT;
	const char *what = alone ? "lzma" : "xz";
	/* The kernel's xz streams use CRC32 or none; a memory cap keeps a
	 * hostile dictionary size from costing us more than 256 MiB. */
	lzma_ret r =
		alone ? lzma_alone_decoder(&x, 256u << 20) : lzma_stream_decoder(&x, 256u << 20, 0);
	if (r != LZMA_OK)
		return failed(s, err, errlen, "%s: cannot start the decompressor", what);
	x.next_in = in;
	x.avail_in = len;
	while (r == LZMA_OK) {
		if (!sink_room(s)) {
			lzma_end(&x);
			return failed(s, err, errlen,
				      "%s payload decompresses to more than the limit", what);
		}
		x.next_out = s->buf + s->len;
		x.avail_out = s->cap - s->len;
		size_t before = x.avail_out;
		r = lzma_code(&x, x.avail_in ? LZMA_RUN : LZMA_FINISH);
		s->len += before - x.avail_out;
		if (r == LZMA_BUF_ERROR && x.avail_out == 0)
			r = LZMA_OK;
	}
	lzma_end(&x);
	/* The kernel's lzma streams often declare no size and end with the
	 * input: LZMA_BUF_ERROR after all output is as good as an end. */
	if (r != LZMA_STREAM_END && !(alone && r == LZMA_BUF_ERROR && s->len))
		return failed(s, err, errlen, "%s payload is damaged or truncated", what);
	return s->buf;
}

uint8_t *inspect_decompress(const char *format, const uint8_t *in, size_t len, size_t max,
			    size_t *out_len, char *err, size_t errlen)
{
	struct sink s = {.max = max};
	uint8_t *out = NULL;

	if (strcmp(format, "gzip") == 0)
		out = gunzip(&s, in, len, err, errlen);
	else if (strcmp(format, "bzip2") == 0)
		out = bunzip(&s, in, len, err, errlen);
	else if (strcmp(format, "lzma") == 0)
		out = unxz(&s, in, len, true, err, errlen);
	else if (strcmp(format, "xz") == 0)
		out = unxz(&s, in, len, false, err, errlen);
	else
		snprintf(err, errlen, "%s payloads are not decompressed by lgkvm", format);
	if (out)
		*out_len = s.len;
	return out;
}
