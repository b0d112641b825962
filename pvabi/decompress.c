/* The compressed kernels of the lguest era, opened with the libraries that
 * made them: gzip (zlib), bzip2 (libbz2), lzma and xz (liblzma), lzo (liblzo2)
 * and lz4 (liblz4).  The last two come in containers the kernel build wraps
 * around the library's blocks -- lzop's file format, and lz4's "legacy"
 * frame -- which are parsed here; the blocks themselves go to the library.
 *
 * Every output is bounded by `max`: a hostile image that inflates without end
 * is refused, not followed. */
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pvabi/inspect.h"
#include "src/le.h"

/* A growing output buffer. */
struct sink {
	uint8_t *buf;
	size_t len, cap, max;
};

/* Make room for `n` more bytes at the end of the sink, or fail. */
static uint8_t *sink_take(struct sink *s, size_t n)
{
	if (n > s->max - s->len)
		return NULL;
	while (s->cap - s->len < n) {
		size_t cap = s->cap ? s->cap * 2 : (1u << 20);
		if (cap > s->max)
			cap = s->max;
		uint8_t *b = realloc(s->buf, cap);
		if (!b)
			return NULL;
		s->buf = b;
		s->cap = cap;
	}
	return s->buf + s->len;
}

/* Room for at least one more byte (the streaming decoders fill what there is). */
static bool sink_room(struct sink *s)
{
	return sink_take(s, 1) != NULL;
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

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* lzop's file format (2.6.33+ with CONFIG_KERNEL_LZO): a 9-byte magic, a
 * header whose length depends on its version and flags, then blocks of
 * {uncompressed length, compressed length (both big-endian), the checksums
 * the flags ask for, data}; a block that did not shrink is stored as is; an
 * uncompressed length of 0 ends the stream. */
#define LZOP_ADLER32_D 0x001u
#define LZOP_ADLER32_C 0x002u
#define LZOP_CRC32_D   0x100u
#define LZOP_CRC32_C   0x200u
#define LZOP_FILTER    0x800u
#define LZOP_BLOCK_MAX (64u << 20)

static uint8_t *unlzo(struct sink *s, const uint8_t *in, size_t len, char *err, size_t errlen)
{
	static const uint8_t magic[9] = {0x89, 'L', 'Z', 'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A};
	const uint8_t *p = in, *end = in + len;
#define NEED(n)                                                                             \
	do {                                                                                \
		if ((size_t)(end - p) < (size_t)(n))                                        \
			return failed(s, err, errlen, "%s payload is damaged or truncated", \
				      "lzo");                                               \
	} while (0)
	if (lzo_init() != LZO_E_OK)
		return failed(s, err, errlen, "%s: cannot start the decompressor", "lzo");
	NEED(sizeof(magic) + 7);
	if (memcmp(p, magic, sizeof(magic)) != 0)
		return failed(s, err, errlen, "%s payload is damaged or truncated", "lzo");
	p += sizeof(magic);
	unsigned version = (unsigned)(p[0] << 8 | p[1]);
	p += 6; /* version, library version, version needed */
	p += 1; /* method */
	if (version >= 0x0940) {
		NEED(1);
		p += 1; /* level */
	}
	NEED(4);
	uint32_t flags = be32(p);
	p += 4;
	NEED((flags & LZOP_FILTER ? 4 : 0) + 8 + (version >= 0x0940 ? 4 : 0) + 1);
	p += (flags & LZOP_FILTER ? 4 : 0) + 8 + (version >= 0x0940 ? 4 : 0); /* mode, mtimes */
	unsigned name = *p++;
	NEED(name + 4);
	p += name + 4; /* the name and the header's checksum */
	for (;;) {
		NEED(4);
		uint32_t dst = be32(p);
		p += 4;
		if (dst == 0)
			break;
		NEED(4);
		uint32_t src = be32(p);
		p += 4;
		if (dst > LZOP_BLOCK_MAX || src > dst)
			return failed(s, err, errlen, "%s payload is damaged or truncated", "lzo");
		unsigned sums = !!(flags & LZOP_ADLER32_D) + !!(flags & LZOP_CRC32_D);
		if (src < dst)
			sums += !!(flags & LZOP_ADLER32_C) + !!(flags & LZOP_CRC32_C);
		NEED(4u * sums + src);
		p += 4u * sums;
		uint8_t *out = sink_take(s, dst);
		if (!out)
			return failed(s, err, errlen,
				      "%s payload decompresses to more than the limit", "lzo");
		if (src == dst) {
			memcpy(out, p, dst);
		} else {
			lzo_uint got = dst;
			if (lzo1x_decompress_safe(p, src, out, &got, NULL) != LZO_E_OK ||
			    got != dst)
				return failed(s, err, errlen, "%s payload is damaged or truncated",
					      "lzo");
		}
		s->len += dst;
		p += src;
	}
#undef NEED
	return s->buf ? s->buf : malloc(1);
}

/* lz4's legacy frame (3.11+ with CONFIG_KERNEL_LZ4): a 4-byte magic, then
 * {compressed length (little-endian), block} until the input ends; each block
 * inflates to at most 8 MiB.  The kernel build appends the total size, four
 * bytes that look like the start of one more block: a tail shorter than a
 * block header plus one byte ends the stream. */
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static uint8_t *unlz4(struct sink *s, const uint8_t *in, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = in, *end = in + len;
	if (len < 4 || le32_get(p) != LZ4_LEGACY_MAGIC)
		return failed(s, err, errlen, "%s payload is damaged or truncated", "lz4");
	p += 4;
	while (end - p > 4) {
		uint32_t n = le32_get(p);
		p += 4;
		if (n == LZ4_LEGACY_MAGIC)
			continue; /* a second frame, concatenated */
		if (n > (size_t)(end - p) || n > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK))
			return failed(s, err, errlen, "%s payload is damaged or truncated", "lz4");
		uint8_t *out = sink_take(s, LZ4_LEGACY_BLOCK < s->max - s->len ? LZ4_LEGACY_BLOCK
									       : s->max - s->len);
		if (!out)
			return failed(s, err, errlen,
				      "%s payload decompresses to more than the limit", "lz4");
		int room = (int)(s->cap - s->len < LZ4_LEGACY_BLOCK ? s->cap - s->len
								    : LZ4_LEGACY_BLOCK);
		int got = LZ4_decompress_safe((const char *)p, (char *)out, (int)n, room);
		if (got < 0)
			return failed(s, err, errlen, "%s payload is damaged or truncated", "lz4");
		s->len += (size_t)got;
		p += n;
	}
	return s->buf ? s->buf : malloc(1);
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
	else if (strcmp(format, "lzo") == 0)
		out = unlzo(&s, in, len, err, errlen);
	else if (strcmp(format, "lz4") == 0)
		out = unlz4(&s, in, len, err, errlen);
	else
		snprintf(err, errlen, "%s payloads are not decompressed by lgkvm", format);
	if (out)
		*out_len = s.len;
	return out;
}
