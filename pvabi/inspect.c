/* Telling lguest kernels apart (docs/abi.md §H3).
 *
 * The rule, in order of trust:
 *  1. the lguest_entry fingerprint: the first bytes lguest_entry executes
 *     changed with every change of the boot contract, so they put the image
 *     in a class of one or two generations, whatever its version string says
 *     (vendors backport);
 *  2. the version string picks the generation within the class;
 *  3. with no fingerprint to be had (a payload we do not decompress), the
 *     version string alone;
 *  4. `--abi GEN` overrides all of it, for vendor kernels whose version lies.
 * An image in which we could look and found no lguest_entry was not built
 * with CONFIG_LGUEST_GUEST: refused up front, not at its first hypercall. */
#include "pvabi/inspect.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/elf32.h"
#include "src/le.h"

#define BZ_SETUP_SECTS	  0x1F1
#define BZ_HEADER	  0x202
#define BZ_VERSION	  0x206
#define BZ_KERNEL_VERSION 0x20E
#define BZ_PAYLOAD_OFFSET 0x248
#define BZ_PAYLOAD_LENGTH 0x24C

/* Compression formats by their magic numbers (the boot protocol's own rule
 * for the payload). */
static const char *compression_of(const uint8_t *p, size_t len)
{
	static const struct {
		const char *name;
		uint8_t magic[6];
		unsigned n;
	} magics[] = {
		{"gzip", {0x1F, 0x8B}, 2},	   {"bzip2", {'B', 'Z', 'h'}, 3},
		{"lzma", {0x5D, 0x00, 0x00}, 3},   {"xz", {0xFD, '7', 'z', 'X', 'Z', 0x00}, 6},
		{"lzo", {0x89, 'L', 'Z', 'O'}, 4}, {"lz4", {0x02, 0x21, 0x4C, 0x18}, 4},
	};
	if (len >= SELFMAG && memcmp(p, ELFMAG, SELFMAG) == 0)
		return "none";
	for (unsigned i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (len >= magics[i].n && memcmp(p, magics[i].magic, magics[i].n) == 0)
			return magics[i].name;
	return NULL;
}

/* "2.6.32-foo (user@host) #1 ..." -> 2, 6, 32 and the release word. */
static void parse_version(struct image_info *in, const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && n + 1 < sizeof(in->version) && s[n] && s[n] != ' ' &&
	       (unsigned char)s[n] >= 0x21 && (unsigned char)s[n] < 0x7F)
		n++;
	memcpy(in->version, s, n);
	in->version[n] = '\0';
	unsigned v[3] = {0, 0, 0}, k = 0;
	const char *p = in->version;
	while (k < 3 && *p >= '0' && *p <= '9') {
		unsigned x = 0;
		while (*p >= '0' && *p <= '9' && x < 100000)
			x = x * 10 + (unsigned)(*p++ - '0');
		v[k++] = x;
		if (*p != '.')
			break;
		p++;
	}
	in->has_version = k >= 2;
	in->vmaj = v[0];
	in->vmin = v[1];
	in->vpatch = v[2];
}

/* The banner a vmlinux carries: "Linux version 2.6.32 (...)". */
static void find_banner(struct image_info *in, const uint8_t *k, size_t len)
{
	static const char banner[] = "Linux version ";
	const uint8_t *p = memmem(k, len, banner, sizeof(banner) - 1);
	if (p) {
		size_t off = (size_t)(p - k) + sizeof(banner) - 1;
		parse_version(in, (const char *)k + off, len - off);
	}
}

/* The lguest_entry patterns: a byte string with 0x100 meaning "any byte". */
#define ANY 0x100
struct fingerprint {
	enum lg_gen first, last;
	unsigned n;
	uint16_t bytes[24];
	unsigned imm; /* offset of pa(lguest_data) */
};
static const struct fingerprint fingerprints[] = {
	/* 3.1+: INIT then NEW_PGTABLE(initial_page_table), both int $0x1f. */
	{GEN_G7,
	 GEN_G10,
	 19,
	 {0xB8, 1, 0, 0, 0, 0xBB, ANY, ANY, ANY, ANY, 0xCD, 0x1F, 0xB8, 4, 0, 0, 0, 0xBB},
	 6},
	/* 2.6.34-3.0: EBX, int $0x1f, then the stack. */
	{GEN_G6, GEN_G6, 13, {0xB8, 1, 0, 0, 0, 0xBB, ANY, ANY, ANY, ANY, 0xCD, 0x1F, 0xBC}, 6},
	/* 2.6.30-2.6.33: EBX, vmcall. */
	{GEN_G4, GEN_G5, 13, {0xB8, 1, 0, 0, 0, 0xBB, ANY, ANY, ANY, ANY, 0x0F, 0x01, 0xC1}, 6},
	/* 2.6.29: EDX, int $0x1f, then the stack (the host premaps). */
	{GEN_G3, GEN_G3, 13, {0xB8, 1, 0, 0, 0, 0xBA, ANY, ANY, ANY, ANY, 0xCD, 0x1F, 0xBC}, 6},
	/* 2.6.24-2.6.28: EDX, int $0x1f, then `mov pgdir, %esi` to copy PDEs. */
	{GEN_G1,
	 GEN_G2,
	 14,
	 {0xB8, 1, 0, 0, 0, 0xBA, ANY, ANY, ANY, ANY, 0xCD, 0x1F, 0x8B, 0x35},
	 6},
};

static bool match_at(const uint8_t *p, const struct fingerprint *f)
{
	for (unsigned i = 0; i < f->n && i < 24; i++)
		if (f->bytes[i] != ANY && p[i] != f->bytes[i])
			return false;
	return true;
}

static void find_fingerprint(struct image_info *in, const uint8_t *k, size_t len)
{
	static const char g0[] = "GenuineLguest";
	in->fp_searched = true;
	if (memmem(k, len, g0, sizeof(g0) - 1)) {
		in->fp_found = true;
		in->fp_first = in->fp_last = GEN_G0;
		return;
	}
	/* Every pattern starts `mov $1, %eax`: find those, then compare. */
	static const uint8_t start[5] = {0xB8, 1, 0, 0, 0};
	const uint8_t *p = k, *end = k + len;
	while ((p = memmem(p, (size_t)(end - p), start, sizeof(start))) != NULL) {
		for (unsigned i = 0; i < sizeof(fingerprints) / sizeof(fingerprints[0]); i++) {
			const struct fingerprint *f = &fingerprints[i];
			if ((size_t)(end - p) < f->n || !match_at(p, f))
				continue;
			/* Where the image says pa(lguest_data) is. */
			in->fp_found = true;
			in->fp_first = f->first;
			in->fp_last = f->last;
			in->lguest_data_pa = le32_get(p + f->imm);
			in->entry_pa = (uint32_t)(p - k);
			return;
		}
		p++;
	}
}

/* --- PAE -------------------------------------------------------------- */

/* CONFIG_X86_PAE from an embedded .config (CONFIG_IKCONFIG). */
static bool ikconfig_pae(const uint8_t *k, size_t len, bool *pae)
{
	static const char st[] = "IKCFG_ST";
	const uint8_t *p = memmem(k, len, st, sizeof(st) - 1);
	if (!p)
		return false;
	size_t off = (size_t)(p - k) + sizeof(st) - 1, clen = 0;
	char err[128];
	uint8_t *cfg =
		inspect_decompress("gzip", k + off, len - off, 4u << 20, &clen, err, sizeof(err));
	if (!cfg)
		return false;
	static const char yes[] = "\nCONFIG_X86_PAE=y\n";
	*pae = memmem(cfg, clen, yes, sizeof(yes) - 1) != NULL;
	free(cfg);
	return true;
}

/* A PAE kernel carries its first page-directory-pointer table already filled
 * in (head_32.S: swapper_pg_dir before 2.6.38, initial_page_table after):
 * a page-aligned page whose first entry is pa(pmd) | 0x001 with a zero high
 * word, whose other three entries are zero or alike, and whose remaining
 * 4064 bytes are zero.  A non-PAE kernel's directory is all zeros in the
 * file.  Looked for in the ELF's loadable segments, at page-aligned
 * physical addresses. */
static bool looks_like_pdpt(const uint8_t *pg, uint32_t lo, uint32_t hi)
{
	for (unsigned e = 0; e < 4; e++) {
		uint32_t low = le32_get(pg + e * 8), high = le32_get(pg + e * 8 + 4);
		if (high)
			return false;
		if (e == 0 && !low)
			return false;
		if (low &&
		    ((low & 0xFFF) != 0x001 || (low & ~0xFFFu) < lo || (low & ~0xFFFu) >= hi))
			return false;
	}
	for (unsigned i = 32; i < 4096; i += 4)
		if (le32_get(pg + i))
			return false;
	return true;
}

static bool elf_has_pdpt(const uint8_t *e, size_t len)
{
	if (len < sizeof(Elf32_Ehdr))
		return false;
	unsigned phnum = elf32_phnum(e);
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < phnum && i < 64; i++) {
			struct elf32_seg s;
			if (!elf32_phdr(e, len, i, &s))
				return false;
			if (s.type != PT_LOAD)
				continue;
			uint32_t off = s.off, fsz = s.filesz, msz = s.memsz, pa = s.paddr;
			if (pass == 0) {
				if (pa < lo)
					lo = pa;
				if (pa + (uint64_t)msz > hi)
					hi = pa + msz;
				continue;
			}
			if (off > len || fsz > len - off)
				continue;
			/* The first page-aligned physical address in the segment. */
			uint32_t skip = (4096 - (pa & 0xFFF)) & 0xFFF;
			for (uint64_t o = skip; o + 4096 <= fsz; o += 4096)
				if (looks_like_pdpt(e + off + o, lo, hi))
					return true;
		}
	}
	return false;
}

static void find_pae(struct image_info *in, const uint8_t *k, size_t len, bool is_elf)
{
	bool pae;
	if (ikconfig_pae(k, len, &pae)) {
		in->pae = pae;
		in->pae_known = true;
		in->pae_how = "the embedded .config";
		return;
	}
	if (is_elf) {
		in->pae = elf_has_pdpt(k, len);
		in->pae_known = true;
		in->pae_how = "its boot page tables";
	}
}

/* --- the verdict ------------------------------------------------------- */

static int refuse(struct image_info *in, const char *fmt, const char *a, const char *b)
{
	snprintf(in->reason, sizeof(in->reason), fmt, a, b);
	return -1;
}

static int decide(struct image_info *in, const struct lguest_abi *force)
{
	enum lg_gen vgen =
		in->has_version ? abi_gen_for_version(in->vmaj, in->vmin, in->vpatch) : GEN_COUNT;
	if (force) {
		in->gen = force->gen;
		if (in->fp_found && (force->gen < in->fp_first || force->gen > in->fp_last))
			snprintf(in->note, sizeof(in->note),
				 "--abi %s overrides what lguest_entry says (%s-%s)", force->name,
				 abi_get(in->fp_first)->name, abi_get(in->fp_last)->name);
	} else if (in->fp_found) {
		in->gen = (vgen >= in->fp_first && vgen <= in->fp_last) ? vgen : in->fp_last;
		if (vgen != GEN_COUNT && vgen != in->gen)
			snprintf(in->note, sizeof(in->note),
				 "version %s suggests %s, but its lguest_entry is %s-era: "
				 "going by lguest_entry",
				 in->version, abi_get(vgen)->name, abi_get(in->gen)->name);
	} else if (in->fp_searched) {
		in->gen = GEN_COUNT;
		return refuse(in,
			      "no lguest_entry in this kernel: it was built without "
			      "CONFIG_LGUEST_GUEST%s%s",
			      "", "");
	} else if (vgen != GEN_COUNT) {
		in->gen = vgen;
		snprintf(in->note, sizeof(in->note),
			 "lguest_entry not checked (%s payload): going by the version alone",
			 in->compression ? in->compression : "unknown");
	} else {
		in->gen = GEN_COUNT;
		return refuse(in,
			      "cannot tell its lguest generation: no readable kernel inside and no "
			      "version string%s%s; --abi GEN names it",
			      "", "");
	}
	const struct lguest_abi *abi = abi_get(in->gen);
	if (!abi->supported)
		return refuse(in, "generation %s (Linux %s) is not supported by this lgkvm yet",
			      abi->name, abi->kernels);
	if (in->pae && !abi->can_pae)
		return refuse(in, "a PAE kernel of generation %s%s cannot be an lguest guest",
			      abi->name, "");
	return 0;
}

int image_inspect(const uint8_t *img, size_t len, const struct lguest_abi *force, int force_pae,
		  bool want_elf, struct image_info *in)
{
	memset(in, 0, sizeof(*in));
	in->gen = GEN_COUNT;
	const uint8_t *k = NULL; /* the kernel proper, decompressed */
	size_t klen = 0;
	uint8_t *owned = NULL;
	bool is_elf = false;
	char err[160];

	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0) {
		in->compression = "none";
		k = img;
		klen = len;
		is_elf = true;
	} else if (len >= BZ_PAYLOAD_LENGTH + 4 && memcmp(img + BZ_HEADER, "HdrS", 4) == 0) {
		in->bzimage = true;
		in->protocol = le16_get(img + BZ_VERSION);
		unsigned sects = img[BZ_SETUP_SECTS] ? img[BZ_SETUP_SECTS] : 4;
		size_t pm = (size_t)(sects + 1) * 512;
		uint16_t kv = le16_get(img + BZ_KERNEL_VERSION);
		if (kv && (size_t)kv + 0x200 < len)
			parse_version(in, (const char *)img + 0x200 + kv, len - 0x200 - kv);
		if (pm >= len)
			return refuse(in, "bzImage setup (%s) runs past the end of the file%s",
				      "setup_sects", "");
		const uint8_t *pay = NULL;
		size_t plen = 0;
		bool gz_magic = false; /* protocol < 2.08: a gzip magic after the setup code */
		if (in->protocol >= 0x0208) {
			uint32_t po = le32_get(img + BZ_PAYLOAD_OFFSET);
			uint32_t pl = le32_get(img + BZ_PAYLOAD_LENGTH);
			if (po > len - pm || pl > len - pm - po)
				return refuse(
					in,
					"bzImage payload (payload_offset/payload_length) lies "
					"outside the file%s%s",
					"", "");
			pay = img + pm + po;
			plen = pl;
		} else {
			/* Before 2.08 the payload is not described: the kernel is
			 * the first gzip member after the setup code that really
			 * inflates (the decompressor's own code could hold the
			 * three magic bytes; the 2.6.23 Launcher scanned the same
			 * way).  None: go by the version string alone. */
			static const uint8_t gz[3] = {0x1F, 0x8B, 0x08};
			const uint8_t *at = img + pm;
			for (unsigned tries = 0; tries < 64 && !owned; tries++) {
				at = memmem(at, len - (size_t)(at - img), gz, sizeof(gz));
				if (!at)
					break;
				gz_magic = true;
				owned = inspect_decompress("gzip", at, len - (size_t)(at - img),
							   INSPECT_MAX_KERNEL, &klen, err,
							   sizeof(err));
				at++;
			}
			if (owned) {
				in->compression = "gzip";
				k = owned;
				is_elf = klen >= SELFMAG && memcmp(owned, ELFMAG, SELFMAG) == 0;
			}
			pay = owned ? img + pm : NULL; /* found (or not) */
			plen = 0;
		}
		if (k) {
			/* a gzip member, inflated above */
		} else if (!pay && in->protocol < 0x0208 && !gz_magic) {
			/* No compressed member at all: an uncompressed kernel
			 * right after the setup code (as our test guests are). */
			pay = img + pm;
			plen = len - pm;
			in->compression = "none";
			k = pay;
			klen = plen;
		} else if (pay) {
			in->compression = compression_of(pay, plen);
		}
		if (k || !pay) {
			/* the kernel is in hand, or there is none we can open */
		} else if (in->compression && strcmp(in->compression, "none") == 0) {
			k = pay;
			klen = plen;
			is_elf = true;
		} else if (in->compression) {
			owned = inspect_decompress(in->compression, pay, plen, INSPECT_MAX_KERNEL,
						   &klen, err, sizeof(err));
			if (!owned)
				return refuse(in, "bzImage kernel: %s%s", err, "");
			k = owned;
			is_elf = owned && klen >= SELFMAG && memcmp(owned, ELFMAG, SELFMAG) == 0;
		}
	} else {
		return refuse(in, "not a Linux kernel: neither an ELF vmlinux nor a bzImage%s%s",
			      "", "");
	}

	if (k) {
		if (!in->has_version)
			find_banner(in, k, klen);
		find_fingerprint(in, k, klen);
		find_pae(in, k, klen, is_elf);
	}
	if (force_pae >= 0) {
		in->pae = force_pae;
		in->pae_known = true;
		in->pae_how = "--pae";
	}
	int r = decide(in, force);
	const struct lguest_abi *abi = in->gen < GEN_COUNT ? abi_get(in->gen) : NULL;
	if (r == 0 && abi && abi->vmcall && in->bzimage && !is_elf) {
		free(owned);
		return refuse(in,
			      "generation %s needs its kernel rewritten before boot, and "
			      "this bzImage's payload is not an ELF lgkvm can open%s",
			      abi->name, "");
	}
	if (r == 0 && abi && (abi->vmcall || want_elf) && in->bzimage && is_elf) {
		if (!owned) { /* an uncompressed ELF payload: copy it to rewrite */
			owned = malloc(klen);
			if (!owned)
				return refuse(in, "out of memory%s%s", "", "");
			memcpy(owned, k, klen);
		}
		in->elf = owned;
		in->elf_len = klen;
		owned = NULL;
	} else if (r == 0 && abi && abi->vmcall && !in->bzimage) {
		in->elf = malloc(len);
		if (!in->elf)
			return refuse(in, "out of memory%s%s", "", "");
		memcpy(in->elf, img, len);
		in->elf_len = len;
	}
	free(owned);
	if (r == 0 && abi && abi->vmcall && in->elf)
		in->vmcall_sites = vmcall_rewrite_elf(in->elf, in->elf_len);
	in->boots_elf = in->elf != NULL;
	return r;
}

void image_info_free(struct image_info *in)
{
	free(in->elf);
	in->elf = NULL;
}
