/* Generation detection (pvabi/inspect.c, docs/abi.md §H3) and the tables it
 * chooses between (pvabi/abi.c), over synthetic images of every generation:
 * a bare ELF header, the generation's lguest_entry bytes, a banner; wrapped
 * in a bzImage with each payload compression lgkvm opens. */
#include <bzlib.h>
#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "pvabi/abi.h"
#include "pvabi/inspect.h"
#include "src/le.h"

#define LDATA 0x00123440u /* pa(lguest_data) in the fingerprints */

struct img {
	uint8_t *b;
	size_t len;
};

/* lguest_entry as each era spells it. */
static size_t entry_bytes(enum lg_gen g, uint8_t *p)
{
	size_t n = 0;
	const uint8_t mov1[5] = {0xB8, 1, 0, 0, 0};
	memcpy(p, mov1, 5);
	n = 5;
	p[n++] = g <= GEN_G3 ? 0xBA : 0xBB;
	le32_put(p + n, LDATA);
	n += 4;
	if (g == GEN_G4 || g == GEN_G5) {
		p[n++] = 0x0F, p[n++] = 0x01, p[n++] = 0xC1;
	} else {
		p[n++] = 0xCD, p[n++] = 0x1F;
	}
	if (g <= GEN_G2) {
		p[n++] = 0x8B, p[n++] = 0x35;
		le32_put(p + n, LDATA + 1116);
		n += 4;
	} else if (g >= GEN_G7) {
		memcpy(p + n, mov1, 5);
		p[n + 1] = 4;
		n += 5;
		p[n++] = 0xBB;
		le32_put(p + n, 0x00456000);
		n += 4;
	} else {
		p[n++] = 0xBC;
		le32_put(p + n, 0xC0400000);
		n += 4;
	}
	return n;
}

/* A minimal ELF: header, fingerprint, banner. */
static struct img make_elf(enum lg_gen g, const char *version, bool fingerprint)
{
	struct img m = {calloc(1, 4096), 4096};
	memcpy(m.b, ELFMAG, SELFMAG);
	m.b[EI_CLASS] = ELFCLASS32;
	m.b[EI_DATA] = ELFDATA2LSB;
	if (fingerprint)
		entry_bytes(g, m.b + 0x200);
	if (version) {
		char banner[80];
		int n = snprintf(banner, sizeof(banner), "Linux version %s (test) #1", version);
		memcpy(m.b + 0x400, banner, (size_t)n + 1);
	}
	return m;
}

static uint8_t *compress_as(const char *fmt, const struct img *in, size_t *len)
{
	size_t cap = in->len * 2 + 1024;
	uint8_t *out = malloc(cap);
	if (!strcmp(fmt, "gzip")) {
		z_stream z = {0};
		assert_int_equal(
			deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			Z_OK);
		z.next_in = in->b;
		z.avail_in = (uInt)in->len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		*len = z.total_out;
		deflateEnd(&z);
	} else if (!strcmp(fmt, "lz4")) {
		/* The kernel's legacy frame: magic, {LE size, block}..., then
		 * the 4-byte total the build appends. */
		uint8_t *p = out;
		le32_put(p, 0x184C2102u);
		p += 4;
		int n = LZ4_compress_default((const char *)in->b, (char *)p + 4, (int)in->len,
					     (int)(cap - 12));
		assert_true(n > 0);
		le32_put(p, (uint32_t)n);
		p += 4 + n;
		le32_put(p, (uint32_t)in->len);
		*len = (size_t)(p + 4 - out);
	} else if (!strcmp(fmt, "lzo")) {
		/* lzop's container as lzop 1.03 writes it (version 0x1030:
		 * with a level byte and mtime_high), flags ADLER32_D|ADLER32_C,
		 * one block, the end marker. */
		static const uint8_t hdr[] = {0x89, 'L',  'Z',	'O',  0x00, 0x0D, 0x0A,
					      0x1A, 0x0A, 0x10, 0x30, 0x20, 0x60, 0x09,
					      0x40, 0x01, 0x09, 0x00, 0x00, 0x00, 0x03, /* flags */
					      0,    0,	  0,	0,    0,    0,	  0,
					      0,    0,	  0,	0,    0, /* mode, mtimes */
					      0,			 /* no name */
					      0,    0,	  0,	0};	 /* header checksum */
		static uint8_t wrk[LZO1X_1_MEM_COMPRESS];
		assert_int_equal(lzo_init(), LZO_E_OK);
		memcpy(out, hdr, sizeof(hdr));
		uint8_t *p = out + sizeof(hdr);
		lzo_uint n = cap;
		assert_int_equal(lzo1x_1_compress(in->b, in->len, p + 16, &n, wrk), LZO_E_OK);
		assert_true(n < in->len);
		p[0] = (uint8_t)(in->len >> 24), p[1] = (uint8_t)(in->len >> 16),
		p[2] = (uint8_t)(in->len >> 8), p[3] = (uint8_t)in->len;
		p[4] = (uint8_t)(n >> 24), p[5] = (uint8_t)(n >> 16), p[6] = (uint8_t)(n >> 8),
		p[7] = (uint8_t)n;
		p += 16 + n; /* two checksums, not checked */
		memset(p, 0, 4);
		*len = (size_t)(p + 4 - out);
	} else if (!strcmp(fmt, "bzip2")) {
		unsigned n = (unsigned)cap;
		assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)in->b,
							  (unsigned)in->len, 9, 0, 0),
				 BZ_OK);
		*len = n;
	} else {
		lzma_stream x = LZMA_STREAM_INIT;
		lzma_options_lzma o;
		lzma_lzma_preset(&o, 6);
		if (!strcmp(fmt, "xz"))
			assert_int_equal(lzma_easy_encoder(&x, 6, LZMA_CHECK_CRC32), LZMA_OK);
		else
			assert_int_equal(lzma_alone_encoder(&x, &o), LZMA_OK);
		x.next_in = in->b;
		x.avail_in = in->len;
		x.next_out = out;
		x.avail_out = cap;
		assert_int_equal(lzma_code(&x, LZMA_FINISH), LZMA_STREAM_END);
		*len = x.total_out;
		lzma_end(&x);
	}
	return out;
}

/* A bzImage (protocol 2.10) whose payload is `k` compressed as `fmt`. */
static struct img make_bzimage(const struct img *k, const char *fmt, const char *hdr_version)
{
	size_t plen;
	uint8_t *pay = compress_as(fmt, k, &plen);
	size_t setup = 5 * 512; /* boot sector + 4 setup sectors */
	struct img m = {calloc(1, setup + plen), setup + plen};
	m.b[0x1F1] = 4;
	memcpy(m.b + 0x202, "HdrS", 4);
	m.b[0x206] = 0x0A, m.b[0x207] = 0x02;
	if (hdr_version) {
		m.b[0x20E] = 0x00, m.b[0x20F] = 0x02; /* string at 0x200 + 0x200 */
		strcpy((char *)m.b + 0x400, hdr_version);
	}
	le32_put(m.b + 0x248, 0);
	le32_put(m.b + 0x24C, (uint32_t)plen);
	memcpy(m.b + setup, pay, plen);
	free(pay);
	return m;
}

static enum lg_gen detect(const struct img *m, int *rc, struct image_info *in)
{
	*rc = image_inspect(m->b, m->len, NULL, -1, false, in);
	return in->gen;
}

static void test_every_generation_from_elf(void **state)
{
	(void)state;
	static const struct {
		enum lg_gen g;
		const char *version;
	} cases[] = {
		{GEN_G1, "2.6.24"},   {GEN_G2, "2.6.25"},   {GEN_G2, "2.6.28.10"},
		{GEN_G3, "2.6.29"},   {GEN_G4, "2.6.30.2"}, {GEN_G5, "2.6.32"},
		{GEN_G6, "2.6.34"},   {GEN_G6, "3.0.1"},    {GEN_G7, "3.1.3"},
		{GEN_G7, "3.10.108"}, {GEN_G7, "3.19.8"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct img m = make_elf(cases[i].g, cases[i].version, true);
		struct image_info in;
		int rc;
		assert_int_equal(detect(&m, &rc, &in), cases[i].g);
		assert_int_equal(rc, 0);
		assert_true(in.fp_found);
		assert_int_equal(in.lguest_data_pa, LDATA);
		assert_false(in.bzimage);
		/* The vmcall generations come with a rewritten copy to boot. */
		assert_int_equal(in.elf != NULL, abi_get(cases[i].g)->vmcall);
		image_info_free(&in);
		free(m.b);
	}
}

static void test_every_payload_format(void **state)
{
	(void)state;
	static const char *fmts[] = {"gzip", "bzip2", "lzma", "xz", "lzo", "lz4"};
	for (unsigned i = 0; i < 6; i++) {
		struct img k = make_elf(GEN_G5, "2.6.33", true);
		struct img m = make_bzimage(&k, fmts[i], "2.6.33 (test) #1");
		struct image_info in;
		int rc;
		if (detect(&m, &rc, &in) != GEN_G5)
			fail_msg("%s: %s", fmts[i], in.reason);
		assert_int_equal(rc, 0);
		assert_true(in.bzimage);
		assert_int_equal(in.protocol, 0x020A);
		assert_string_equal(in.compression, fmts[i]);
		assert_string_equal(in.version, "2.6.33");
		/* G5 boots the decompressed ELF (with no executable section
		 * here there is nothing to rewrite: see the vmcall test). */
		assert_non_null(in.elf);
		assert_int_equal(in.elf_len, k.len);
		assert_memory_equal(in.elf, k.b, k.len);
		image_info_free(&in);
		free(k.b);
		free(m.b);
	}
}

/* Protocol 2.07 (2.6.24-2.6.25) does not say where the kernel is: the first
 * gzip member that inflates, even after a stray magic in the decompressor. */
static void test_protocol_207_gzip_scan(void **state)
{
	(void)state;
	struct img k = make_elf(GEN_G1, "2.6.24", true);
	size_t zlen;
	uint8_t *z = compress_as("gzip", &k, &zlen);
	size_t setup = 5 * 512, code = 256;
	struct img m = {calloc(1, setup + code + zlen), setup + code + zlen};
	m.b[0x1F1] = 4;
	memcpy(m.b + 0x202, "HdrS", 4);
	m.b[0x206] = 0x07, m.b[0x207] = 0x02;
	static const uint8_t stray[] = {0x1F, 0x8B, 0x08, 0x00, 0xDE, 0xAD};
	memcpy(m.b + setup + 40, stray, sizeof(stray)); /* "decompressor code" */
	memcpy(m.b + setup + code, z, zlen);
	struct image_info in;
	int rc;
	assert_int_equal(detect(&m, &rc, &in), GEN_G1);
	assert_int_equal(rc, 0);
	assert_string_equal(in.compression, "gzip");
	assert_true(in.fp_found);
	image_info_free(&in);
	/* No member inflates: the version alone decides (none here: refused). */
	memset(m.b + setup + code, 0x1F, zlen);
	detect(&m, &rc, &in);
	assert_int_equal(rc, -1);
	assert_false(in.fp_searched);
	image_info_free(&in);
	free(z);
	free(k.b);
	free(m.b);
}

/* The fingerprint outranks the version string; within its class the version
 * picks, and outside it the class's last member is taken with a note. */
static void test_fingerprint_beats_version(void **state)
{
	(void)state;
	struct image_info in;
	int rc;
	struct img m = make_elf(GEN_G1, "3.10.0", true);
	assert_int_equal(detect(&m, &rc, &in), GEN_G2);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(in.note, "going by lguest_entry"));
	image_info_free(&in);
	free(m.b);

	m = make_elf(GEN_G7, NULL, true); /* no version: the class's last */
	assert_int_equal(detect(&m, &rc, &in), GEN_G10);
	assert_int_equal(rc, 0);
	image_info_free(&in);
	free(m.b);
}

static void test_no_lguest_entry_refused(void **state)
{
	(void)state;
	struct image_info in;
	int rc;
	struct img m = make_elf(GEN_G5, "2.6.32", false);
	detect(&m, &rc, &in);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(in.reason, "CONFIG_LGUEST_GUEST"));
	image_info_free(&in);
	/* ...unless the user names the generation. */
	assert_int_equal(image_inspect(m.b, m.len, abi_get(GEN_G6), -1, false, &in), 0);
	assert_int_equal(in.gen, GEN_G6);
	image_info_free(&in);
	free(m.b);
}

static void test_garbage_refused(void **state)
{
	(void)state;
	uint8_t junk[600] = "not a kernel";
	struct image_info in;
	assert_int_equal(image_inspect(junk, sizeof(junk), NULL, -1, false, &in), -1);
	assert_non_null(strstr(in.reason, "neither an ELF vmlinux nor a bzImage"));
	image_info_free(&in);
	/* A bzImage whose payload lies outside the file. */
	struct img k = make_elf(GEN_G3, "2.6.29", true);
	struct img m = make_bzimage(&k, "gzip", NULL);
	le32_put(m.b + 0x24C, 0x7FFFFFFF);
	assert_int_equal(image_inspect(m.b, m.len, NULL, -1, false, &in), -1);
	assert_non_null(strstr(in.reason, "outside the file"));
	image_info_free(&in);
	/* A payload cut short. */
	le32_put(m.b + 0x24C, 40);
	assert_int_equal(image_inspect(m.b, 5 * 512 + 40, NULL, -1, false, &in), -1);
	assert_non_null(strstr(in.reason, "damaged or truncated"));
	image_info_free(&in);
	free(k.b);
	free(m.b);
}

static void test_decompression_is_bounded(void **state)
{
	(void)state;
	struct img big = {calloc(1, 4u << 20), 4u << 20};
	size_t len, out_len;
	char err[160];
	uint8_t *z = compress_as("gzip", &big, &len);
	assert_null(inspect_decompress("gzip", z, len, 1u << 20, &out_len, err, sizeof(err)));
	assert_non_null(strstr(err, "more than the limit"));
	uint8_t *ok = inspect_decompress("gzip", z, len, 8u << 20, &out_len, err, sizeof(err));
	assert_non_null(ok);
	assert_int_equal(out_len, big.len);
	free(ok);
	free(z);
	free(big.b);
	assert_null(inspect_decompress("lz4", (const uint8_t *)"x", 1, 100, &out_len, err,
				       sizeof(err)));
	assert_null(inspect_decompress("zstd", (const uint8_t *)"x", 1, 100, &out_len, err,
				       sizeof(err)));
}

/* An ELF with a section table, one .text section: a real vmcall, and the same
 * three bytes inside a mov's immediate, which is not an instruction. */
static void test_vmcall_rewrite_by_disassembly(void **state)
{
	(void)state;
	uint8_t *e = calloc(1, 4096);
	memcpy(e, ELFMAG, SELFMAG);
	e[EI_CLASS] = ELFCLASS32;
	e[EI_DATA] = ELFDATA2LSB;
	static const uint8_t text[] = {
		0xB8, 0x0F, 0x01, 0xC1, 0x00, /* mov $0xC1010F, %eax: 0F 01 C1 inside */
		0xBB, 0x01, 0x00, 0x00, 0x00, /* mov $1, %ebx */
		0x0F, 0x01, 0xC1,	      /* vmcall */
		0xC3,			      /* ret */
	};
	memcpy(e + 0x800, text, sizeof(text));
	Elf32_Shdr sh[2] = {{0}};
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_flags = SHF_ALLOC | SHF_EXECINSTR;
	sh[1].sh_offset = 0x800;
	sh[1].sh_size = sizeof(text);
	sh[1].sh_addr = 0xC0100000;
	memcpy(e + 0x100, sh, sizeof(sh));
	Elf32_Ehdr *h = (Elf32_Ehdr *)e;
	h->e_shoff = 0x100;
	h->e_shnum = 2;
	h->e_shentsize = sizeof(Elf32_Shdr);
	assert_int_equal(vmcall_rewrite_elf(e, 4096), 1);
	assert_memory_equal(e + 0x800, text, 10); /* the immediate untouched */
	static const uint8_t want[] = {0xCD, 0x1F, 0x90};
	assert_memory_equal(e + 0x800 + 10, want, 3);
	free(e);
}

/* The same deep inside a large section, where the sweep starts a window
 * before each candidate rather than at the section's start: 20 KiB of
 * `lea 0(%esi),%esi` (8D 76 00) and `mov $imm,%eax` containing 0F 01 C1,
 * then the real vmcall; and a candidate the window could misjudge only if
 * decoding did not resynchronise. */
static void test_vmcall_rewrite_deep(void **state)
{
	(void)state;
	size_t size = 64 * 1024, text = 0x1000, tlen = 40 * 1024;
	uint8_t *e = calloc(1, size);
	memcpy(e, ELFMAG, SELFMAG);
	e[EI_CLASS] = ELFCLASS32;
	e[EI_DATA] = ELFDATA2LSB;
	size_t at = 0;
	while (at < 20 * 1024) {
		static const uint8_t decoy[] = {0xB8, 0x0F, 0x01, 0xC1, 0x00};
		static const uint8_t lea[] = {0x8D, 0x76, 0x00};
		const uint8_t *pick = (at / 3) % 7 ? lea : decoy;
		size_t n = pick == lea ? 3 : 5;
		memcpy(e + text + at, pick, n);
		at += n;
	}
	size_t real = at;
	static const uint8_t call[] = {0xBB, 1, 0, 0, 0, 0x0F, 0x01, 0xC1, 0xC3};
	memcpy(e + text + real, call, sizeof(call));
	for (size_t i = real + sizeof(call); i < tlen; i++)
		e[text + i] = 0x90;
	Elf32_Shdr sh[2] = {{0}};
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_flags = SHF_ALLOC | SHF_EXECINSTR;
	sh[1].sh_offset = (uint32_t)text;
	sh[1].sh_size = (uint32_t)tlen;
	memcpy(e + 0x100, sh, sizeof(sh));
	Elf32_Ehdr *h = (Elf32_Ehdr *)e;
	h->e_shoff = 0x100;
	h->e_shnum = 2;
	h->e_shentsize = sizeof(Elf32_Shdr);
	uint8_t *before = malloc(size);
	memcpy(before, e, size);
	assert_int_equal(vmcall_rewrite_elf(e, size), 1);
	static const uint8_t want[] = {0xCD, 0x1F, 0x90};
	assert_memory_equal(e + text + real + 5, want, 3);
	assert_memory_equal(e, before, text + real + 5); /* every decoy untouched */
	free(before);
	free(e);
}

/* PAE from the image: a page-aligned, pre-filled directory-pointer table in
 * a loadable segment, as head_32.S leaves one. */
static void test_pae_from_boot_table(void **state)
{
	(void)state;
	for (int pae = 0; pae < 2; pae++) {
		struct img m = make_elf(GEN_G7, "3.10.0", true);
		m.b = realloc(m.b, 3 * 4096);
		memset(m.b + 4096, 0, 2 * 4096);
		m.len = 3 * 4096;
		Elf32_Ehdr *h = (Elf32_Ehdr *)m.b;
		h->e_phoff = 0x800;
		h->e_phnum = 1;
		Elf32_Phdr ph = {.p_type = PT_LOAD,
				 .p_offset = 4096,
				 .p_paddr = 0x1000000,
				 .p_filesz = 2 * 4096,
				 .p_memsz = 2 * 4096};
		memcpy(m.b + 0x800, &ph, sizeof(ph));
		if (pae) {
			le32_put(m.b + 4096, 0x1001000 + 1);
			le32_put(m.b + 4096 + 24, 0x1001000 + 1);
		}
		struct image_info in;
		int rc;
		assert_int_equal(detect(&m, &rc, &in), GEN_G7);
		assert_int_equal(rc, 0);
		assert_true(in.pae_known);
		assert_int_equal(in.pae, pae);
		image_info_free(&in);
		/* --pae overrides; a PAE G1 cannot exist. */
		assert_int_equal(image_inspect(m.b, m.len, abi_get(GEN_G1), 1, false, &in), -1);
		assert_non_null(strstr(in.reason, "PAE"));
		image_info_free(&in);
		free(m.b);
	}
}

/* The tables themselves: every served generation's offsets fit its layout,
 * and the changes happen where docs/abi.md says. */
static void test_tables_consistent(void **state)
{
	(void)state;
	for (enum lg_gen g = GEN_G1; g <= GEN_G7; g++) {
		const struct lguest_abi *a = abi_get(g);
		assert_true(a->supported);
		assert_true(a->ring_slots_off + a->ring_entries * a->ring_slot_size <= a->ld_size);
		assert_int_equal(a->ring_status_off + a->ring_entries, a->ring_slots_off);
		for (int i = 0; i < 4; i++)
			if (a->slot_arg_off[i] != LD_NONE)
				assert_true(a->slot_arg_off[i] + 4 <= a->ring_slot_size);
		assert_true(a->ld_syscall_vec + 4 == a->ld_size);
		assert_int_equal(a->hcalls & (1u << LHCALL_LOAD_GDT) ? 1 : 0, g <= GEN_G3);
		assert_int_equal(a->hcalls & (1u << LHCALL_LOAD_GDT_ENTRY) ? 1 : 0, g >= GEN_G4);
		assert_int_equal(a->hcalls & (1u << LHCALL_SEND_INTERRUPTS) ? 1 : 0, g >= GEN_G5);
		assert_int_equal(a->ld_pgdir != LD_NONE, g <= GEN_G6);
		assert_int_equal(a->ld_irq_pending != LD_NONE, g >= GEN_G5);
		assert_int_equal(a->shutdown, g >= GEN_G2);
		assert_int_equal(a->vmcall, g >= GEN_G4 && g <= GEN_G6);
		assert_int_equal(a->skip_cli, g >= GEN_G6);
		assert_int_equal(a->transport, g == GEN_G1   ? TRANSPORT_DEVPAGE_V1
					       : g >= GEN_G8 ? TRANSPORT_PCI
							     : TRANSPORT_DEVPAGE_V2);
	}
	/* G0 (2.6.23): layout L0, the DMA bus, the ring in register order. */
	const struct lguest_abi *g0 = abi_get(GEN_G0);
	assert_int_equal(g0->ring_status_off + g0->ring_entries, g0->ring_slots_off);
	assert_int_equal(g0->ring_slots_off + g0->ring_entries * g0->ring_slot_size,
			 g0->ld_reserve_mem);
	assert_int_equal(g0->slot_arg_off[0], 4);
	assert_int_equal(g0->slot_arg_off[2], 12);
	assert_int_equal(g0->arg_reg[0], REG_EDX);
	assert_int_equal(g0->ld_guestid, 1112);
	assert_int_equal(g0->ld_tsc_khz, 1116);
	assert_int_equal(g0->ld_noirq_end + 4, g0->ld_size);
	assert_int_equal(g0->ld_size, 1128);
	assert_int_equal(g0->ld_syscall_vec, LD_NONE);
	assert_int_equal(g0->ld_kernel_address, LD_NONE);
	assert_int_equal(g0->ld_pgdir, LD_NONE);
	assert_true(g0->hcalls & (1u << LHCALL_BIND_DMA));
	assert_true(g0->hcalls & (1u << LHCALL_SEND_DMA));
	assert_false(g0->hcalls & (1u << LHCALL_NOTIFY));
	assert_false(g0->shutdown);
	assert_int_equal(g0->transport, TRANSPORT_DMA);
	assert_int_equal(g0->paging, PAGING_PAGE_OFFSET);
	for (enum lg_gen g = GEN_G1; g < GEN_COUNT; g++)
		assert_int_equal(abi_get(g)->ld_guestid, LD_NONE);
	for (enum lg_gen g = GEN_G0; g < GEN_COUNT; g++)
		assert_true(abi_get(g)->supported);
	assert_ptr_equal(abi_by_name("g5"), abi_get(GEN_G5));
	assert_null(abi_by_name("G11"));
	assert_int_equal(abi_gen_for_version(2, 6, 22), GEN_COUNT);
	assert_int_equal(abi_gen_for_version(2, 6, 23), GEN_G0);
	assert_int_equal(abi_gen_for_version(3, 0, 101), GEN_G6);
	assert_int_equal(abi_gen_for_version(4, 0, 4), GEN_G8);
	assert_int_equal(abi_gen_for_version(4, 13, 0), GEN_G10);
	assert_int_equal(abi_gen_for_version(4, 14, 0), GEN_COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_generation_from_elf),
		cmocka_unit_test(test_every_payload_format),
		cmocka_unit_test(test_protocol_207_gzip_scan),
		cmocka_unit_test(test_fingerprint_beats_version),
		cmocka_unit_test(test_no_lguest_entry_refused),
		cmocka_unit_test(test_garbage_refused),
		cmocka_unit_test(test_decompression_is_bounded),
		cmocka_unit_test(test_vmcall_rewrite_by_disassembly),
		cmocka_unit_test(test_vmcall_rewrite_deep),
		cmocka_unit_test(test_pae_from_boot_table),
		cmocka_unit_test(test_tables_consistent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
