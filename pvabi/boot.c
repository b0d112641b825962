/* Loading an lguest kernel: the Launcher's half of the boot protocol.
 *
 * Before the guest runs a single instruction, somebody has to put its kernel in
 * memory, tell it how much memory there is and what its command line says, and
 * give it page tables so that it can run with paging on from the very first
 * instruction.  In lguest that somebody is the Launcher; in lgkvm it is this
 * file.  The picture we build in guest-physical memory is (docs/abi.md
 * section 2.1):
 *
 *	0x00000000	the "zero page": a struct boot_params, all zero but a few fields
 *	0x00001000	the kernel command line, NUL-terminated
 *	0x00100000	the kernel (ELF segments at their p_paddr, or a bzImage payload)
 *	...		free RAM
 *	pt_lo		the boot page tables: one PTE page per 4 MiB of RAM,
 *	pgdir		then the boot page directory,
 *	initrd		then the initrd, if any, ending at the top of RAM (or lower).
 *
 * Every byte of the kernel and initrd files is hostile: they come from the user,
 * but a fuzzer or a malicious image must at worst get a refusal from us, never a
 * write outside the RAM we were handed.  So we work in two passes: first we
 * check everything and decide where each piece goes, and only if it all fits do
 * we write anything.  A refused boot leaves RAM exactly as it was. */
#include "boot.h"

#include <elf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "src/le.h"

#define PAGE_SIZE 4096u
#define MIB	  (1024u * 1024u)
#define PTE_SPAN  (4u * MIB) /* what one page of 1024 PTEs maps */
#define PTE_FLAGS 0x7u	     /* present, writable, user: what the Launcher uses */
#define TOP_PDE	  1023u	     /* the slot above 0xFFC00000, owned by the monitor */
#define PAE_PMDS  4u	     /* one PMD page per 1 GiB quarter of the address space */
#define TOP_PMD	  510u	     /* PAE: PMD entry of 0xFFC00000 in the last quarter */

/* Smallest guest we bother with, and the largest: RAM plus the device page and
 * its rings (up to 1 MiB above RAM) must stay below the top 4 MiB of the
 * address space, which belongs to the monitor. */
#define MEM_MIN (4u * MIB)
#define MEM_MAX (0xFFC00000u - MIB)

/* The zero page and the command line that follows it.  Nothing may be loaded
 * here except what we write ourselves. */
#define LOW_RESERVED 0x2000u

/* The reference Launcher puts the initrd at the very top of RAM.  The guest,
 * however, only takes an initrd that lies wholly in its low memory: the part of
 * RAM it maps permanently above PAGE_OFFSET (setup_bootmem_allocator() drops it
 * with a message otherwise).  With the 3G/1G split and the 4 MiB hole the
 * hypervisor reserves, low memory ends near 892 MiB, and a "vmalloc=" on the
 * command line can push that lower still.  So a guest with more than 768 MiB
 * gets its initrd (and the boot page tables with it) ending at 768 MiB: well
 * inside low memory, and the RAM above is ordinary high memory to the guest. */
#define INITRD_CEILING 0x30000000u

/* The fields of struct boot_params we write (docs/abi.md §2.3). */
#define ZP_E820_ENTRIES	    0x1E8
#define ZP_SETUP_SECTS	    0x1F1
#define ZP_HEADER	    0x202
#define ZP_VERSION	    0x206
#define ZP_TYPE_OF_LOADER   0x210
#define ZP_LOADFLAGS	    0x211
#define ZP_CODE32_START	    0x214
#define ZP_RAMDISK_IMAGE    0x218
#define ZP_RAMDISK_SIZE	    0x21C
#define ZP_CMD_LINE_PTR	    0x228
#define ZP_HARDWARE_SUBARCH 0x23C
/* Setup-header fields we only read from a bzImage file, to check its sizes. */
#define ZP_SYSSIZE	  0x1F4 /* 32-bit part, in 16-byte paragraphs (u32 from 2.04) */
#define ZP_PAYLOAD_OFFSET 0x248 /* compressed kernel, within the 32-bit part (2.08) */
#define ZP_PAYLOAD_LENGTH 0x24C
#define ZP_INIT_SIZE	  0x260 /* memory the kernel needs from its start to boot (2.10) */
#define ZP_E820_MAP	  0x2D0

#define BOOT_PROTOCOL	 0x0207u /* needed for hardware_subarch and KEEP_SEGMENTS */
#define KEEP_SEGMENTS	 0x40u	 /* loadflags: "don't lgdt or reload segments" */
#define SUBARCH_LGUEST	 1u
#define LOADER_UNDEFINED 0xFFu /* type_of_loader: any non-zero value will do */
#define E820_RAM	 1u

/* Where the pieces at the top of RAM go, for a given RAM size. */
struct top {
	bool pae;	      /* PAE tables: PTE pages, 4 PMD pages, then the PDPT */
	uint64_t npt;	      /* L: PTE pages, one per 4 MiB of RAM (2 MiB with PAE) */
	uint64_t pt_lo;	      /* first PTE page */
	uint64_t pgdir;	      /* the page directory, right above the PTE pages */
	uint64_t initrd_lo;   /* the initrd, right above the directory */
	uint64_t initrd_size; /* page-rounded; 0 means no initrd */
};

/* Everything one call of boot_load() needs to remember. */
struct loader {
	uint64_t mem;
	const uint8_t *k; /* the kernel file */
	size_t klen;
	struct top top;
	char *err;
	size_t errlen;
};

/* What we decided about the kernel in the checking pass. */
struct kernel_plan {
	enum boot_format format;
	uint32_t entry;
	uint64_t lo, hi;    /* hull of everything the image occupies */
	size_t payload_off; /* bzImage only: where the protected-mode part starts */
	size_t payload_len;
	bool init_size; /* bzImage only: hi is where its init_size ends */
};

static int fail(struct loader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	if (l->err && l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err, l->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

static bool overlaps(uint64_t lo, uint64_t hi, uint64_t olo, uint64_t ohi)
{
	return lo < ohi && olo < hi;
}

/* --mem as a person would write it. */
static const char *mem_str(uint64_t mem, char *buf, size_t len)
{
	if (mem % MIB == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", mem / MIB);
	else
		snprintf(buf, len, "%" PRIu64 " KiB", mem / 1024);
	return buf;
}

/*
 * Part 1: the top of RAM.
 *
 * The initrd goes at the top (or ends at INITRD_CEILING, see above), and the
 * boot page tables go right below it: the directory first, then L PTE pages
 * under that.  Returns false if that does not leave the zero page and command
 * line alone.
 */
static bool plan_top(struct top *t, uint64_t mem, uint64_t initrd_size)
{
	uint64_t end = mem, tables;

	/* A PAE page table maps 2 MiB, and four PMD pages sit between the
	 * PTE pages and the directory-pointer page ("pgdir"). */
	t->npt = t->pae ? (mem + PTE_SPAN / 2 - 1) / (PTE_SPAN / 2)
			: (mem + PTE_SPAN - 1) / PTE_SPAN;
	t->initrd_size = initrd_size;
	t->initrd_lo = 0;
	tables = (t->npt + (t->pae ? PAE_PMDS : 0) + 1) * PAGE_SIZE;

	if (initrd_size) {
		if (end > INITRD_CEILING)
			end = INITRD_CEILING;
		if (initrd_size > end)
			return false;
		t->initrd_lo = end - initrd_size;
		end = t->initrd_lo;
	}
	if (tables + LOW_RESERVED > end)
		return false;
	t->pgdir = end - PAGE_SIZE;
	t->pt_lo = t->pgdir - (t->npt + (t->pae ? PAE_PMDS : 0)) * PAGE_SIZE;
	return true;
}

/* What, if anything, the kernel range [lo, hi) would collide with. */
enum clash { CLASH_NONE, CLASH_LOW, CLASH_RAM, CLASH_TABLES, CLASH_INITRD };

static enum clash clash(const struct top *t, uint64_t mem, uint64_t lo, uint64_t hi)
{
	if (lo < LOW_RESERVED)
		return CLASH_LOW;
	if (hi > mem)
		return CLASH_RAM;
	if (overlaps(lo, hi, t->pt_lo, t->pgdir + PAGE_SIZE))
		return CLASH_TABLES;
	if (t->initrd_size && overlaps(lo, hi, t->initrd_lo, t->initrd_lo + t->initrd_size))
		return CLASH_INITRD;
	return CLASH_NONE;
}

/* A refusal is more useful with a remedy.  The smallest whole number of MiB
 * above the current size at which the image [lo, hi) and the pieces at the top
 * fit together, or 0 if no size would do.
 * (Only ever called on the way to an error, so a simple walk is fine: more RAM
 * moves the tables and initrd up, except past INITRD_CEILING where they stop.) */
static uint64_t ram_needed(bool pae, uint64_t mem, uint64_t initrd_size, uint64_t lo, uint64_t hi)
{
	struct top t = {.pae = pae};
	uint64_t m;

	if (hi > MEM_MAX)
		return 0;
	if (lo < LOW_RESERVED) /* that is a different complaint (or none, if lo > hi now) */
		lo = LOW_RESERVED;
	m = round_up(hi > mem ? hi : mem + 1, MIB);
	for (; m <= MEM_MAX; m += MIB) {
		if (!plan_top(&t, m, initrd_size))
			continue;
		if (clash(&t, m, lo, hi) == CLASH_NONE)
			return m;
	}
	return 0;
}

/* "needs 12 MiB of RAM; --mem is 8 MiB", or why more RAM would not help. */
static const char *remedy(const struct loader *l, uint64_t lo, uint64_t hi, char *buf, size_t len)
{
	char have[32];
	uint64_t need = ram_needed(l->top.pae, l->mem, l->top.initrd_size, lo, hi);

	if (!need)
		snprintf(buf, len, "no RAM size up to %u MiB would make room", MEM_MAX / MIB);
	else
		snprintf(buf, len, "needs %" PRIu64 " MiB of RAM; --mem is %s", need / MIB,
			 mem_str(l->mem, have, sizeof(have)));
	return buf;
}

/* Check one piece of the kernel image, [lo, hi) in guest-physical memory,
 * against everything else we are about to put in RAM.  The remedy, if any, is
 * worked out for the whole image. */
static int check_piece(struct loader *l, const struct kernel_plan *kp, const char *what,
		       uint64_t lo, uint64_t hi)
{
	const struct top *t = &l->top;
	char fix[96];

	switch (clash(t, l->mem, lo, hi)) {
	case CLASH_NONE:
		return 0;
	case CLASH_LOW:
		return fail(l,
			    "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps the zero page and command "
			    "line: an ELF kernel must load at or above 0x%x",
			    what, lo, hi - 1, LOW_RESERVED);
	case CLASH_RAM:
		return fail(l, "%s at 0x%" PRIx64 "-0x%" PRIx64 " lies beyond RAM: %s", what, lo,
			    hi - 1, remedy(l, kp->lo, kp->hi, fix, sizeof(fix)));
	case CLASH_TABLES:
		return fail(l,
			    "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps the boot page tables at "
			    "0x%" PRIx64 "-0x%" PRIx64 ": %s",
			    what, lo, hi - 1, t->pt_lo, t->pgdir + PAGE_SIZE - 1,
			    remedy(l, kp->lo, kp->hi, fix, sizeof(fix)));
	case CLASH_INITRD:
		return fail(l,
			    "%s at 0x%" PRIx64 "-0x%" PRIx64 " overlaps the initrd at 0x%" PRIx64
			    "-0x%" PRIx64 ": %s",
			    what, lo, hi - 1, t->initrd_lo, t->initrd_lo + t->initrd_size - 1,
			    remedy(l, kp->lo, kp->hi, fix, sizeof(fix)));
	}
	return fail(l, "internal error placing %s", what);
}

/*
 * Part 2: the kernel.
 *
 * lguest takes two kinds of kernel.  A vmlinux is an ELF file that says where
 * each piece goes; we only have to believe it (or not).  A bzImage is a
 * compressed kernel behind a real-mode setup stub that we never run: we copy
 * the protected-mode part to 1 MiB and jump to its 32-bit entry, and it
 * decompresses the real kernel itself.
 */

/* Program header `i` of an ELF file whose header we have already checked. */
static const uint8_t *phdr(const struct loader *l, unsigned i)
{
	return l->k + le32_get(l->k + offsetof(Elf32_Ehdr, e_phoff)) +
	       (size_t)i * sizeof(Elf32_Phdr);
}

#define PH(p, field) le32_get((p) + offsetof(Elf32_Phdr, field))

static int elf_check_header(struct loader *l)
{
	const uint8_t *e = l->k;
	uint16_t type, machine, phentsize, phnum;
	uint32_t phoff;

	if (l->klen < sizeof(Elf32_Ehdr))
		return fail(l, "kernel is an ELF file of %zu bytes, too short for an ELF header",
			    l->klen);
	if (e[EI_CLASS] != ELFCLASS32)
		return fail(l, "kernel is not a 32-bit ELF file (class %u): lguest guests are i386",
			    e[EI_CLASS]);
	if (e[EI_DATA] != ELFDATA2LSB)
		return fail(l, "kernel is not a little-endian ELF file");

	type = le16_get(e + offsetof(Elf32_Ehdr, e_type));
	machine = le16_get(e + offsetof(Elf32_Ehdr, e_machine));
	phentsize = le16_get(e + offsetof(Elf32_Ehdr, e_phentsize));
	phnum = le16_get(e + offsetof(Elf32_Ehdr, e_phnum));
	phoff = le32_get(e + offsetof(Elf32_Ehdr, e_phoff));

	if (type != ET_EXEC)
		return fail(l,
			    "kernel ELF type is %u, not an executable (ET_EXEC): a vmlinux is "
			    "linked at fixed addresses",
			    type);
	if (machine != EM_386)
		return fail(l, "kernel is an ELF file for machine %u, not i386 (EM_386)", machine);
	if (phentsize != sizeof(Elf32_Phdr))
		return fail(l, "kernel ELF program headers are %u bytes, not %zu", phentsize,
			    sizeof(Elf32_Phdr));
	if (phnum < 1 || phnum > 2048)
		return fail(l, "kernel ELF has %u program headers; a vmlinux has 1 to 2048", phnum);
	/* 32-bit offset plus at most 64 KiB of headers: no overflow in 64 bits. */
	if ((uint64_t)phoff + (uint64_t)phnum * sizeof(Elf32_Phdr) > l->klen)
		return fail(l,
			    "kernel ELF program headers (offset %" PRIu32 ", %u of them) run "
			    "past the end of the %zu-byte file",
			    phoff, phnum, l->klen);
	return 0;
}

/* The segments that occupy memory: PT_LOAD with a non-zero p_memsz. */
static bool occupies(const uint8_t *p)
{
	return PH(p, p_type) == PT_LOAD && PH(p, p_memsz) != 0;
}

/* First look at the segments: each must be a sane slice of the file, and
 * together they give the hull of the image and must contain the entry point. */
static int elf_check_segments(struct loader *l, struct kernel_plan *kp, unsigned phnum)
{
	bool entry_ok = false;
	unsigned i;

	kp->lo = UINT64_MAX;
	kp->hi = 0;
	for (i = 0; i < phnum; i++) {
		const uint8_t *p = phdr(l, i);
		uint64_t off = PH(p, p_offset), filesz = PH(p, p_filesz), memsz = PH(p, p_memsz);
		/* Note: the physical address, p_paddr.  p_vaddr is where the kernel
		 * will run once it has set up its own mappings at PAGE_OFFSET. */
		uint64_t lo = PH(p, p_paddr), hi = lo + memsz;

		if (PH(p, p_type) != PT_LOAD)
			continue;
		if (filesz > memsz)
			return fail(l,
				    "kernel ELF segment %u has more file bytes (%" PRIu64
				    ") than memory bytes (%" PRIu64 ")",
				    i, filesz, memsz);
		if (filesz && (off > l->klen || filesz > l->klen - off))
			return fail(l,
				    "kernel ELF segment %u (file offset %" PRIu64 ", %" PRIu64
				    " bytes) runs past the end of the %zu-byte file",
				    i, off, filesz, l->klen);
		if (!occupies(p))
			continue;
		if (kp->entry >= lo && kp->entry < hi)
			entry_ok = true;
		if (lo < kp->lo)
			kp->lo = lo;
		if (hi > kp->hi)
			kp->hi = hi;
	}
	if (kp->hi == 0)
		return fail(l, "kernel ELF has no loadable segment");
	if (!entry_ok)
		return fail(l,
			    "kernel ELF entry point 0x%" PRIx32 " is not inside any loaded "
			    "segment",
			    kp->entry);
	return 0;
}

static int elf_parse(struct loader *l, struct kernel_plan *kp)
{
	if (elf_check_header(l) < 0)
		return -1;
	kp->format = BOOT_ELF;
	kp->entry = le32_get(l->k + offsetof(Elf32_Ehdr, e_entry));
	return elf_check_segments(l, kp, le16_get(l->k + offsetof(Elf32_Ehdr, e_phnum)));
}

/* See where each segment lands.  (Segment by segment rather than the hull: a
 * gap between segments is free RAM, and need not be.) */
static int elf_place(struct loader *l, const struct kernel_plan *kp)
{
	unsigned i, phnum = le16_get(l->k + offsetof(Elf32_Ehdr, e_phnum));
	char what[48];

	for (i = 0; i < phnum; i++) {
		const uint8_t *p = phdr(l, i);
		uint64_t lo = PH(p, p_paddr), hi = lo + PH(p, p_memsz);

		if (!occupies(p))
			continue;
		snprintf(what, sizeof(what), "kernel ELF segment %u", i);
		if (check_piece(l, kp, what, lo, hi) < 0)
			return -1;
	}
	return 0;
}

static void elf_load(const struct loader *l, uint8_t *ram)
{
	unsigned i, phnum = le16_get(l->k + offsetof(Elf32_Ehdr, e_phnum));

	/* Bytes between p_filesz and p_memsz (the BSS) stay as RAM came to us:
	 * zero.  The kernel clears its own BSS anyway. */
	for (i = 0; i < phnum; i++) {
		const uint8_t *p = phdr(l, i);

		if (PH(p, p_type) == PT_LOAD && PH(p, p_filesz))
			memcpy(ram + PH(p, p_paddr), l->k + PH(p, p_offset), PH(p, p_filesz));
	}
}

static uint16_t bzimage_version(const struct loader *l)
{
	return le16_get(l->k + ZP_VERSION);
}

/* The header's sizes against the file.  A truncated or damaged image must be
 * refused here, as the user's problem: loaded, it would die in the guest and
 * look like the guest's fault.  (The setup sectors are already known to lie
 * inside the file, and there is at least one byte after them.) */
static int bzimage_check_sizes(struct loader *l, const struct kernel_plan *kp, unsigned setup_sects)
{
	uint16_t version = bzimage_version(l);
	uint64_t have = kp->payload_len, need;

	/* syssize is 16 bits wide before protocol 2.04 and cannot be trusted
	 * for a big kernel; lguest kernels are all 2.07 or later. */
	if (version < 0x0204)
		return 0;
	need = (uint64_t)le32_get(l->k + ZP_SYSSIZE) * 16;
	if (need == 0)
		return fail(l, "kernel bzImage header gives no size for its 32-bit code (syssize "
			       "is 0): the header is damaged");
	/* The size is rounded up to a paragraph, and 2.6-era build tools did
	 * not pad the file to match: up to 15 bytes may be missing. */
	if (have + 15 < need)
		return fail(l,
			    "kernel bzImage is truncated or its header is damaged: the header says "
			    "%" PRIu64 " bytes of 32-bit code follow its %u setup sectors, but the "
			    "file has only %" PRIu64,
			    need, setup_sects, have);
	if (version >= 0x0208) {
		uint64_t off = le32_get(l->k + ZP_PAYLOAD_OFFSET);
		uint64_t len = le32_get(l->k + ZP_PAYLOAD_LENGTH);

		if (off + len > have)
			return fail(l,
				    "kernel bzImage is truncated or its header is damaged: its "
				    "compressed kernel (payload_offset %" PRIu64
				    ", payload_length %" PRIu64 ") runs past the %" PRIu64
				    " bytes of 32-bit code in the file",
				    off, len, have);
	}
	return 0;
}

static int bzimage_parse(struct loader *l, struct kernel_plan *kp)
{
	unsigned setup_sects;

	if (l->klen < ZP_CODE32_START + 4)
		return fail(l, "kernel is a bzImage of %zu bytes, too short for its setup header",
			    l->klen);

	/* The setup stub is setup_sects 512-byte sectors after the boot sector.
	 * Boot protocol: a zero here is an ancient convention for 4. */
	setup_sects = l->k[ZP_SETUP_SECTS];
	if (setup_sects == 0)
		setup_sects = 4;
	kp->payload_off = (size_t)(setup_sects + 1) * 512;
	if (kp->payload_off >= l->klen)
		return fail(l,
			    "kernel bzImage has %u setup sectors, so its 32-bit code would start "
			    "at byte %zu, but the file is only %zu bytes",
			    setup_sects, kp->payload_off, l->klen);
	kp->payload_len = l->klen - kp->payload_off;
	if (bzimage_check_sizes(l, kp, setup_sects) < 0)
		return -1;

	kp->format = BOOT_BZIMAGE;
	kp->entry = le32_get(l->k + ZP_CODE32_START);
	kp->lo = BOOT_KERNEL_LOAD;
	/* The payload length is a size_t; keep the sum from wrapping. */
	kp->hi = kp->payload_len > MEM_MAX ? UINT64_MAX : kp->lo + kp->payload_len;
	if (kp->entry < kp->lo || kp->entry >= kp->hi)
		return fail(l,
			    "kernel bzImage entry point (code32_start) 0x%" PRIx32 " is outside "
			    "its payload at 0x%" PRIx64 "-0x%" PRIx64,
			    kp->entry, kp->lo, kp->hi - 1);
	/* The kernel decompresses itself in place and needs init_size bytes
	 * from where it starts: they must be RAM, clear of the boot tables and
	 * the initrd, like the payload itself. */
	if (bzimage_version(l) >= 0x020A) {
		uint32_t init_size = le32_get(l->k + ZP_INIT_SIZE);

		if (kp->lo + init_size > kp->hi) {
			kp->hi = kp->lo + init_size;
			kp->init_size = true;
		}
	}
	return 0;
}

static int bzimage_place(struct loader *l, const struct kernel_plan *kp)
{
	return check_piece(l, kp,
			   kp->init_size ? "kernel bzImage with its init_size"
					 : "kernel bzImage payload",
			   kp->lo, kp->hi);
}

static void bzimage_load(const struct loader *l, const struct kernel_plan *kp, uint8_t *ram)
{
	memcpy(ram + BOOT_KERNEL_LOAD, l->k + kp->payload_off, kp->payload_len);
}

/* A bzImage's setup header, copied into the zero page as a real boot loader
 * copies it (boot protocol §"the real-mode kernel header"): the kernel's own
 * sizes and alignment (kernel_alignment from 2.10, init_size from 2.10, which
 * 4.9+ images are built to find there) come with it; write_zero_page() then
 * writes the loader's fields over it.  An ELF has no such header: nothing in
 * a decompressed kernel reads those fields (they are the decompressor's). */
#define ZP_HDR_END 0x290 /* struct setup_header ends before the e820 fields */

static void copy_setup_header(const struct loader *l, const struct kernel_plan *kp, uint8_t *ram)
{
	if (kp->format != BOOT_BZIMAGE || l->klen <= ZP_HEADER + 1)
		return;
	/* The header's length is the jump at 0x200: 0x202 + its byte. */
	size_t end = (size_t)ZP_HEADER + l->k[ZP_HEADER - 1];
	if (end > ZP_HDR_END)
		end = ZP_HDR_END;
	if (end > l->klen)
		end = l->klen;
	memcpy(ram + ZP_SETUP_SECTS, l->k + ZP_SETUP_SECTS, end - ZP_SETUP_SECTS);
	/* Fields a loader writes, not the kernel: cleared before ours go in. */
	ram[ZP_TYPE_OF_LOADER] = 0;
	le32_put(ram + ZP_RAMDISK_IMAGE, 0);
	le32_put(ram + ZP_RAMDISK_SIZE, 0);
	le32_put(ram + ZP_CMD_LINE_PTR, 0);
}

/* Which kind of kernel, where it wants to go and where it starts. */
static int kernel_parse(struct loader *l, struct kernel_plan *kp)
{
	if (l->klen >= SELFMAG && memcmp(l->k, ELFMAG, SELFMAG) == 0)
		return elf_parse(l, kp);
	if (l->klen >= ZP_HEADER + 4 && memcmp(l->k + ZP_HEADER, "HdrS", 4) == 0)
		return bzimage_parse(l, kp);
	return fail(l, "kernel is neither an ELF vmlinux nor a bzImage (no ELF magic, no HdrS "
		       "signature)");
}

/*
 * Part 3: what the guest reads before it runs.
 */

/* The zero page.  The guest's startup_32 copies it and checks only a handful of
 * fields (docs/abi.md §2.3.1); everything else stays zero, which tells
 * it there is no EFI, no APM, no EDD and no screen. */
static void write_zero_page(uint8_t *ram, uint64_t mem, const struct top *t)
{
	/* Protocol 2.07 is what makes the guest honour KEEP_SEGMENTS (it runs at
	 * ring 1, so it could not load its own GDT or segments anyway) and look at
	 * hardware_subarch, which sends it to lguest_entry.  A newer kernel's own
	 * version (copied with its header) stays. */
	if (le16_get(ram + ZP_VERSION) < BOOT_PROTOCOL)
		le16_put(ram + ZP_VERSION, BOOT_PROTOCOL);
	ram[ZP_LOADFLAGS] |= KEEP_SEGMENTS;
	le32_put(ram + ZP_HARDWARE_SUBARCH, SUBARCH_LGUEST);
	le32_put(ram + ZP_CMD_LINE_PTR, BOOT_CMDLINE_GPA);

	/* One e820 region: all of RAM.  The guest finds the device page right
	 * after the last RAM page, so this must be exactly mem. */
	ram[ZP_E820_ENTRIES] = 1;
	le64_put(ram + ZP_E820_MAP, 0);
	le64_put(ram + ZP_E820_MAP + 8, mem);
	le32_put(ram + ZP_E820_MAP + 16, E820_RAM);

	/* The guest ignores an initrd unless a boot loader claims to have put it
	 * there, so type_of_loader must be non-zero. */
	if (t->initrd_size) {
		le32_put(ram + ZP_RAMDISK_IMAGE, (uint32_t)t->initrd_lo);
		le32_put(ram + ZP_RAMDISK_SIZE, (uint32_t)t->initrd_size);
		ram[ZP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	}
}

/* The boot page tables: every page of RAM mapped at its own address, so that
 * the kernel can run at its physical addresses with paging on.  The guest adds
 * the PAGE_OFFSET alias itself (lguest_entry copies PDEs 0-31 up to 768-799). */
static void write_page_tables(uint8_t *ram, uint64_t mem, const struct top *t, uint32_t top_pde)
{
	uint64_t i;

	memset(ram + t->pt_lo, 0, (t->npt + 1) * PAGE_SIZE);
	for (i = 0; i < mem / PAGE_SIZE; i++)
		le32_put(ram + t->pt_lo + i * 4, (uint32_t)(i * PAGE_SIZE) | PTE_FLAGS);
	for (i = 0; i < t->npt; i++)
		le32_put(ram + t->pgdir + i * 4, (uint32_t)(t->pt_lo + i * PAGE_SIZE) | PTE_FLAGS);

	/* mem <= MEM_MAX means the last PTE page never reaches slot 1023: the top
	 * 4 MiB is the monitor's, from the first instruction on. */
	if (top_pde)
		le32_put(ram + t->pgdir + TOP_PDE * 4, top_pde);
}

/* The same in PAE form (2.6.31+ guests built with CONFIG_X86_PAE): 8-byte
 * entries, a PTE page per 2 MiB, four PMD pages, and a page-directory-pointer
 * table whose entries carry only the present bit (anything else is reserved
 * in a PDPTE).  All four PMD pages exist from the start, so the PAGE_OFFSET
 * alias (pvabi/pgtable.c) and the monitor's entry have somewhere to go. */
static void write_page_tables_pae(uint8_t *ram, uint64_t mem, const struct top *t, uint64_t top_pmd)
{
	uint64_t pmd = t->pt_lo + t->npt * PAGE_SIZE, i;

	memset(ram + t->pt_lo, 0, (t->npt + PAE_PMDS + 1) * PAGE_SIZE);
	for (i = 0; i < mem / PAGE_SIZE; i++)
		le64_put(ram + t->pt_lo + i * 8, i * PAGE_SIZE | PTE_FLAGS);
	for (i = 0; i < t->npt; i++)
		le64_put(ram + pmd + i * 8, (t->pt_lo + i * PAGE_SIZE) | PTE_FLAGS);
	for (i = 0; i < PAE_PMDS; i++)
		le64_put(ram + t->pgdir + i * 8, (pmd + i * PAGE_SIZE) | 0x1);
	if (top_pmd)
		le64_put(ram + pmd + 3 * PAGE_SIZE + TOP_PMD * 8, top_pmd);
}

/*
 * Part 4: putting it together.
 */

static int check_mem_and_cmdline(struct loader *l, const char *cmdline)
{
	size_t n = strlen(cmdline);

	if (l->mem % PAGE_SIZE)
		return fail(l, "--mem of %" PRIu64 " bytes is not a whole number of 4 KiB pages",
			    l->mem);
	if (l->mem < MEM_MIN)
		return fail(l,
			    "--mem of %" PRIu64 " KiB is too small: a guest needs at least %u MiB",
			    l->mem / 1024, MEM_MIN / MIB);
	if (l->mem > MEM_MAX)
		return fail(l,
			    "--mem of %" PRIu64 " MiB is too big: RAM and devices must end "
			    "below the monitor at 0xFFC00000, so at most %u MiB",
			    l->mem / MIB, MEM_MAX / MIB);
	if (n >= BOOT_CMDLINE_MAX)
		return fail(l, "command line is %zu bytes; the guest copies at most %u", n,
			    BOOT_CMDLINE_MAX - 1);
	return 0;
}

/* Size up the initrd and lay out the top of RAM.  The kernel is already parsed,
 * so a refusal can say how much RAM would hold both. */
static int plan_initrd(struct loader *l, const struct kernel_plan *kp, const uint8_t *initrd,
		       size_t initrd_len)
{
	uint64_t size = 0;
	char fix[96];

	if (initrd) {
		if (initrd_len == 0)
			return fail(l, "initrd is empty (0 bytes): leave out --initrd for none");
		if (initrd_len > MEM_MAX)
			return fail(l, "initrd is %zu bytes, more than any guest's RAM",
				    initrd_len);
		size = round_up(initrd_len, PAGE_SIZE);
	}
	if (!plan_top(&l->top, l->mem, size)) {
		return fail(l,
			    "initrd of %" PRIu64 " KiB and the boot page tables do not fit in "
			    "RAM: %s",
			    size / 1024, remedy(l, kp->lo, kp->hi, fix, sizeof(fix)));
	}
	return 0;
}

int boot_load(uint8_t *ram, uint64_t mem, const uint8_t *kernel, size_t kernel_len,
	      const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint32_t top_pde,
	      struct boot_layout *out, char *err, size_t errlen)
{
	return boot_load_paging(ram, mem, kernel, kernel_len, initrd, initrd_len, cmdline, false,
				top_pde, out, err, errlen);
}

int boot_load_paging(uint8_t *ram, uint64_t mem, const uint8_t *kernel, size_t kernel_len,
		     const uint8_t *initrd, size_t initrd_len, const char *cmdline, bool pae,
		     uint64_t top_entry, struct boot_layout *out, char *err, size_t errlen)
{
	struct loader l = {
		.mem = mem,
		.k = kernel,
		.klen = kernel_len,
		.err = err,
		.errlen = errlen,
		.top.pae = pae,
	};
	struct kernel_plan kp = {0};

	if (!cmdline)
		cmdline = "";
	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!kernel)
		kernel_len = l.klen = 0;

	/* First pass: decide where everything goes, or refuse. */
	if (check_mem_and_cmdline(&l, cmdline) < 0 || kernel_parse(&l, &kp) < 0 ||
	    plan_initrd(&l, &kp, initrd, initrd_len) < 0)
		return -1;
	if ((kp.format == BOOT_ELF ? elf_place(&l, &kp) : bzimage_place(&l, &kp)) < 0)
		return -1;
	if (!ram)
		return 0; /* only checking (lgkvm does, before it opens KVM) */

	/* Second pass: nothing below can fail. */
	if (kp.format == BOOT_ELF)
		elf_load(&l, ram);
	else
		bzimage_load(&l, &kp, ram);

	if (l.top.initrd_size) {
		uint8_t *dst = ram + l.top.initrd_lo;

		memcpy(dst, initrd, initrd_len);
		memset(dst + initrd_len, 0, l.top.initrd_size - initrd_len);
	}

	memset(ram, 0, LOW_RESERVED);
	copy_setup_header(&l, &kp, ram);
	write_zero_page(ram, mem, &l.top);
	memcpy(ram + BOOT_CMDLINE_GPA, cmdline, strlen(cmdline) + 1);
	if (pae)
		write_page_tables_pae(ram, mem, &l.top, top_entry);
	else
		write_page_tables(ram, mem, &l.top, (uint32_t)top_entry);

	if (out) {
		out->format = kp.format;
		out->entry = kp.entry;
		out->kernel_lo = (uint32_t)kp.lo;
		out->kernel_hi = (uint32_t)kp.hi;
		out->initrd_gpa = (uint32_t)l.top.initrd_lo;
		out->initrd_size = (uint32_t)l.top.initrd_size;
		out->pgdir_gpa = (uint32_t)l.top.pgdir;
		out->pt_lo = (uint32_t)l.top.pt_lo;
	}
	return 0;
}
