/* Booting 2.6.23 (see pvabi/boot_g0.h).
 *
 * The 2.6.23 Launcher (Documentation/lguest/lguest.c of that release):
 *  - a vmlinux: loaded by p_paddr, PAGE_OFFSET = p_vaddr - p_paddr;
 *  - a bzImage: the first gzip member whose OS byte (offset 9) is 3, unpacked
 *    to 1 MiB; PAGE_OFFSET guessed from the unpacked bytes ("mov addr, %eax"
 *    opcodes A1 whose address's top byte repeats);
 *  - either way, EIP = the byte after "GenuineLguest" + PAGE_OFFSET, and
 *    page tables mapping RAM at PAGE_OFFSET only.
 * We read PAGE_OFFSET from the instructions right after the marker instead,
 * which say it outright (`addl $__PAGE_OFFSET, %eax`), and keep the
 * Launcher's guess for an image where they do not. */
#include "pvabi/boot_g0.h"

#include <elf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/elf32.h"
#include "pvabi/inspect.h"
#include "src/le.h"

#define PAGE_SIZE   4096u
#define PDE_SPAN    (4u << 20)
#define PDE_MONITOR 1023u
#define MARKER_LEN  (sizeof(G0_MARKER) - 1)
/* The unpacked kernel has no BSS in the file; keep this much RAM after it
 * clear of the initrd and the boot tables (2.6.23's BSS is a few hundred
 * KiB; the kernel zeroes it itself). */
#define RAW_BSS_SLACK (1u << 20)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A PAGE_OFFSET we can map: a whole number of page-directory slots, with
 * room for at least one of them below the monitor's. */
static bool page_offset_ok(uint32_t po)
{
	return po && po % PDE_SPAN == 0 && po < 0xFFC00000u;
}

/* lguest_asm.S, after the marker: movl $stack, %esp (BC imm32); movl %esi,
 * %eax (89 F0); addl $__PAGE_OFFSET, %eax (05 imm32). */
static bool page_offset_from_entry(const uint8_t *k, size_t len, size_t after, uint32_t *po)
{
	if (after > len || len - after < 12)
		return false;
	const uint8_t *p = k + after;
	if (p[0] != 0xBC || p[5] != 0x89 || p[6] != 0xF0 || p[7] != 0x05)
		return false;
	*po = le32_get(p + 8);
	return true;
}

/* The Launcher's guess: the top byte of `mov moffs32, %eax` operands, once
 * one value has been seen four times. */
static bool page_offset_guess(const uint8_t *k, size_t len, uint32_t *po)
{
	unsigned seen[256] = {0};
	for (size_t i = 0; i + 4 < len; i++)
		if (k[i] == 0xA1 && ++seen[k[i + 4]] > 3) {
			*po = (uint32_t)k[i + 4] << 24;
			return true;
		}
	return false;
}

/* A vmlinux: PAGE_OFFSET from its first loadable segment, the marker's
 * physical address from the segment that holds it. */
static int from_elf(const uint8_t *e, size_t len, struct g0_kernel *out, char *err, size_t errlen)
{
	if (len < sizeof(Elf32_Ehdr) || e[EI_CLASS] != ELFCLASS32)
		return fail(err, errlen, "not a 32-bit ELF vmlinux");
	unsigned phnum = elf32_phnum(e);
	const uint8_t *m = memmem(e, len, G0_MARKER, MARKER_LEN);
	bool have_po = false;

	if (!m)
		return fail(err, errlen, "no %s marker in this 2.6.23 kernel", G0_MARKER);
	size_t moff = (size_t)(m - e);
	for (unsigned i = 0; i < phnum && i < 2048; i++) {
		struct elf32_seg s;
		if (!elf32_phdr(e, len, i, &s))
			return fail(err, errlen,
				    "ELF program headers run past the end of the file");
		if (s.type != PT_LOAD || !s.filesz)
			continue;
		if (!have_po) {
			out->page_offset = s.vaddr - s.paddr;
			have_po = true;
		}
		if (moff >= s.off && moff - s.off < s.filesz &&
		    s.filesz - (moff - s.off) > MARKER_LEN)
			out->entry_pa = s.paddr + (uint32_t)(moff - s.off + MARKER_LEN);
	}
	if (!have_po || !out->entry_pa)
		return fail(err, errlen,
			    "the %s marker is not in a loadable segment of this vmlinux",
			    G0_MARKER);
	return 0;
}

/* The unpacked kernel of a bzImage, wrapped in an ELF the loader takes: one
 * segment, physical 1 MiB, virtual PAGE_OFFSET + 1 MiB. */
static int wrap_raw(uint8_t *raw, size_t rlen, struct g0_kernel *out, char *err, size_t errlen)
{
	const size_t hdr = PAGE_SIZE;
	if (rlen > 0x7FFFFFFFu - hdr - RAW_BSS_SLACK)
		return fail(err, errlen, "the unpacked kernel is too big (%zu bytes)", rlen);
	uint8_t *e = calloc(1, hdr + rlen);
	if (!e)
		return fail(err, errlen, "out of memory for the unpacked kernel");
	memcpy(e + hdr, raw, rlen);
	memcpy(e, ELFMAG, SELFMAG);
	e[EI_CLASS] = ELFCLASS32;
	e[EI_DATA] = ELFDATA2LSB;
	e[EI_VERSION] = EV_CURRENT;
	le16_put(e + offsetof(Elf32_Ehdr, e_type), ET_EXEC);
	le16_put(e + offsetof(Elf32_Ehdr, e_machine), EM_386);
	le32_put(e + offsetof(Elf32_Ehdr, e_version), EV_CURRENT);
	le32_put(e + offsetof(Elf32_Ehdr, e_entry), out->entry_pa);
	le32_put(e + offsetof(Elf32_Ehdr, e_phoff), sizeof(Elf32_Ehdr));
	le16_put(e + offsetof(Elf32_Ehdr, e_ehsize), sizeof(Elf32_Ehdr));
	le16_put(e + offsetof(Elf32_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
	le16_put(e + offsetof(Elf32_Ehdr, e_phnum), 1);
	uint8_t *ph = e + sizeof(Elf32_Ehdr);
	le32_put(ph + offsetof(Elf32_Phdr, p_type), PT_LOAD);
	le32_put(ph + offsetof(Elf32_Phdr, p_offset), hdr);
	le32_put(ph + offsetof(Elf32_Phdr, p_vaddr), out->page_offset + BOOT_KERNEL_LOAD);
	le32_put(ph + offsetof(Elf32_Phdr, p_paddr), BOOT_KERNEL_LOAD);
	le32_put(ph + offsetof(Elf32_Phdr, p_filesz), (uint32_t)rlen);
	le32_put(ph + offsetof(Elf32_Phdr, p_memsz), (uint32_t)(rlen + RAW_BSS_SLACK));
	le32_put(ph + offsetof(Elf32_Phdr, p_flags), PF_R | PF_W | PF_X);
	le32_put(ph + offsetof(Elf32_Phdr, p_align), PAGE_SIZE);
	out->elf = e;
	out->elf_len = hdr + rlen;
	return 0;
}

/* A bzImage: the first gzip member after the setup code that the Launcher
 * would have taken (OS byte 3) and that really inflates. */
static int from_bzimage(const uint8_t *img, size_t len, struct g0_kernel *out, char *err,
			size_t errlen)
{
	unsigned sects = img[0x1F1] ? img[0x1F1] : 4;
	size_t pm = (size_t)(sects + 1) * 512;
	static const uint8_t gz[3] = {0x1F, 0x8B, 0x08};
	uint8_t *raw = NULL;
	size_t rlen = 0;
	char why[160] = "no gzip member";

	if (pm >= len)
		return fail(err, errlen, "bzImage setup runs past the end of the file");
	const uint8_t *at = img + pm;
	for (unsigned tries = 0; tries < 64 && !raw; tries++) {
		at = memmem(at, len - (size_t)(at - img), gz, sizeof(gz));
		if (!at)
			break;
		if (len - (size_t)(at - img) > 10 && at[9] == 0x03)
			raw = inspect_decompress("gzip", at, len - (size_t)(at - img),
						 INSPECT_MAX_KERNEL, &rlen, why, sizeof(why));
		at++;
	}
	if (!raw)
		return fail(err, errlen, "cannot find the kernel in this 2.6.23 bzImage (%s)", why);
	if (rlen >= SELFMAG && memcmp(raw, ELFMAG, SELFMAG) == 0) {
		/* Not what 2.6.23's build made (a flat binary), but an ELF
		 * inside is a vmlinux: load that. */
		int r = from_elf(raw, rlen, out, err, errlen);
		if (r == 0) {
			out->elf = raw;
			out->elf_len = rlen;
		} else {
			free(raw);
		}
		return r;
	}
	const uint8_t *m = memmem(raw, rlen, G0_MARKER, MARKER_LEN);
	if (!m) {
		free(raw);
		return fail(err, errlen, "no %s marker in the unpacked kernel", G0_MARKER);
	}
	size_t after = (size_t)(m - raw) + MARKER_LEN;
	if (!page_offset_from_entry(raw, rlen, after, &out->page_offset) &&
	    !page_offset_guess(raw, rlen, &out->page_offset)) {
		free(raw);
		return fail(err, errlen, "cannot tell this 2.6.23 kernel's PAGE_OFFSET");
	}
	out->entry_pa = BOOT_KERNEL_LOAD + (uint32_t)after;
	int r = wrap_raw(raw, rlen, out, err, errlen);
	free(raw);
	return r;
}

int boot_g0_prepare(const uint8_t *img, size_t len, struct g0_kernel *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	int r;
	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		r = from_elf(img, len, out, err, errlen);
	else if (len > 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
		r = from_bzimage(img, len, out, err, errlen);
	else
		r = fail(err, errlen, "not a vmlinux or a bzImage");
	if (r == 0 && !page_offset_ok(out->page_offset)) {
		r = fail(err, errlen, "PAGE_OFFSET %#x is not one lgkvm can map", out->page_offset);
	}
	if (r < 0) {
		free(out->elf);
		out->elf = NULL;
	}
	return r;
}

int boot_g0_map(uint8_t *ram, uint64_t mem, const struct g0_kernel *g0, struct boot_layout *bl,
		char *err, size_t errlen)
{
	uint64_t npt = (mem + PDE_SPAN - 1) / PDE_SPAN;
	unsigned base = g0->page_offset / PDE_SPAN;
	uint8_t pdes[PDE_MONITOR * 4];

	if (!page_offset_ok(g0->page_offset))
		return fail(err, errlen, "PAGE_OFFSET %#x is not one lgkvm can map",
			    g0->page_offset);
	/* As the Launcher: RAM from 0 up, as much as fits between PAGE_OFFSET
	 * and the top of the address space (here: the monitor's slot); the
	 * guest maps the rest of its low memory itself at paging_init.  The
	 * identity slots are read out first and cleared, then written at
	 * PAGE_OFFSET, so the two ranges may overlap (a low PAGE_OFFSET and a
	 * lot of RAM). */
	uint64_t n = npt < PDE_MONITOR - base ? npt : PDE_MONITOR - base;
	uint8_t *pgdir = ram + bl->pgdir_gpa;
	memcpy(pdes, pgdir, n * 4);
	memset(pgdir, 0, npt * 4);
	memcpy(pgdir + base * 4, pdes, n * 4);
	bl->entry = g0->entry_pa + g0->page_offset;
	return 0;
}
