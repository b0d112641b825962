/* What kind of lguest kernel is this?  (docs/abi.md §H3)
 *
 * Before a guest runs a single instruction we must know its ABI generation:
 * which registers its hypercalls use, where its lguest_data fields are, which
 * page tables it expects, which device page it reads.  The image tells us, if
 * we read it closely enough: its format, its version string, and -- decisive
 * -- the bytes of its lguest_entry, which differ in every era.  Those bytes
 * live in the compressed kernel inside a bzImage, so we decompress it (zlib,
 * libbz2, liblzma: the formats lguest-era kernels used).
 *
 * Like the loader, this is a pure function over bytes: the image is hostile,
 * every offset and size in it is checked, and decompression is bounded. */
#ifndef LGKVM_INSPECT_H
#define LGKVM_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvabi/abi.h"

/* No lguest-era kernel decompresses to more than this. */
#define INSPECT_MAX_KERNEL (128u << 20)

struct image_info {
	bool bzimage;		 /* else an ELF vmlinux */
	uint16_t protocol;	 /* bzImage boot protocol, e.g. 0x020a */
	const char *compression; /* "gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "none" */
	char version[80];	 /* the release string, e.g. "2.6.32", or "" */
	unsigned vmaj, vmin, vpatch;
	bool has_version;

	/* The lguest_entry fingerprint (docs/abi.md §H3.1 item 4). */
	bool fp_searched; /* we could look (the kernel was readable) */
	bool fp_found;
	enum lg_gen fp_first, fp_last; /* the class: generations it fits */
	uint32_t lguest_data_pa;       /* the immediate in lguest_entry */
	uint32_t entry_pa;	       /* where lguest_entry's bytes sit (if known) */

	enum lg_gen gen; /* the verdict; GEN_COUNT when none */
	bool pae, pae_known;
	const char *pae_how; /* "IKCONFIG", "boot page table", "--pae", ... */

	/* The kernel we will actually load: NULL = the file as it is; else a
	 * decompressed ELF vmlinux (owned, free with image_info_free). */
	uint8_t *elf;
	size_t elf_len;
	unsigned vmcall_sites; /* rewritten to `int $0x1f; nop` in elf */
	bool boots_elf;	       /* lgkvm boots the decompressed kernel, not the file */

	char note[160];	  /* a remark worth printing (e.g. version disagrees) */
	char reason[256]; /* why lgkvm cannot boot it, when it cannot */
};

/* Inspect `img`.  `force` (may be NULL) overrides the generation, as --abi
 * does.  Returns 0 when lgkvm can boot it, -1 with info->reason set when not.
 * When the generation hypercalls with `vmcall`, the returned info carries a
 * decompressed, rewritten ELF to boot instead of the file; `want_elf` asks
 * for the decompressed ELF whenever the bzImage's payload is one (lgkvm then
 * never runs the guest's own decompressor). */
int image_inspect(const uint8_t *img, size_t len, const struct lguest_abi *force, int force_pae,
		  bool want_elf, struct image_info *info);
void image_info_free(struct image_info *info);

/* Decompress a whole buffer in one of the kernel formats we read; returns a
 * malloc()ed buffer or NULL with a sentence in err.  At most `max` bytes. */
uint8_t *inspect_decompress(const char *format, const uint8_t *in, size_t len, size_t max,
			    size_t *out_len, char *err, size_t errlen);

/* Rewrite every `vmcall` (0F 01 C1) found by disassembling the executable
 * parts of ELF image `elf` to `int $0x1f; nop` (CD 1F 90).  Returns the count. */
unsigned vmcall_rewrite_elf(uint8_t *elf, size_t len);

#endif
