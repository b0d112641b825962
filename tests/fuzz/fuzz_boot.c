/* libFuzzer harness for the kernel loader, pvabi/boot.c.
 *
 * One input is one boot: a little header says how big RAM is and how to cut the
 * rest into a command line, an initrd and a kernel:
 *
 *	byte 0		flags: bit 0 pass an initrd, bit 1 set a top_pde,
 *			bit 2 big RAM (above 768 MiB, where the initrd is capped),
 *			bit 3 a RAM size boot_load() must refuse (see bad_mem()),
 *			bit 4 a big initrd: of the given length (up to 16 MiB), but
 *			only its first 64 bytes come from the input, the rest is
 *			zeros,
 *			bit 5 pass a NULL command line,
 *			bit 6 cut the kernel short (bytes 8-9 below)
 *	byte 1		RAM size: 4 MiB + n * 64 KiB (n = 0..63), or with bit 2,
 *			768 MiB + n * 4 MiB
 *	bytes 2-3	command-line length (little-endian, up to 4095)
 *	bytes 4-7	initrd length (little-endian)
 *	bytes 8-9	with bit 6 only: how many bytes to cut off the end of the
 *			kernel (little-endian), so that a header which promises
 *			more than the file holds is easy to reach
 *	then		the command line, the initrd, and the kernel: all the rest
 *
 * The kernel is the tail of libFuzzer's own buffer (NULL if empty), or an
 * exact-size copy of what is left of it after a cut; the command line and
 * initrd get exact-size copies too, so AddressSanitizer sees any read past
 * them.  (A big initrd is a sparse mapping instead, with an
 * inaccessible page after it.)  Guest RAM is a fresh mapping with an inaccessible page right
 * after it, so a write beyond RAM faults at once.
 *
 * Besides "no crash", each run checks the loader's promises: a refusal comes
 * with one sentence and leaves RAM untouched (mincore() finds no page ever
 * faulted in); a success leaves a layout that makes sense and the bytes we
 * gave it where the layout says; and a check without RAM (ram NULL) gives the
 * same verdict. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pvabi/boot.h"

#define PAGE	    4096ull
#define MIB	    (1024ull * 1024ull)
#define HEADER_LEN  8
#define CMDLINE_MAX 4095

#define F_INITRD       0x01
#define F_TOP_PDE      0x02
#define F_BIG_RAM      0x04
#define F_BAD_MEM      0x08
#define F_BIG_INITRD   0x10
#define F_NULL_CMDLINE 0x20
#define F_CUT	       0x40

#define BIG_INITRD_MAX	(16 * MIB)
#define BIG_INITRD_HEAD 64

#define TOP_PDE 0xFFFFF063u

struct input {
	uint64_t mem;
	uint32_t top_pde;
	char *cmdline;
	uint8_t *initrd; /* NULL: no initrd */
	size_t initrd_len;
	void *initrd_map; /* a big initrd is mapped, not malloc'd */
	size_t initrd_maplen;
	bool pass_null_cmdline;
	const uint8_t *kernel;
	size_t kernel_len;
	uint8_t *kernel_copy; /* a cut kernel, exactly kernel_len bytes */
};

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_boot: %s (%s)\n", what, err ? err : "");
	abort();
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* RAM sizes boot_load() must refuse: off the page grid, too small, too big.
 * (The big one is a sparse mapping, so it costs nothing.) */
static uint64_t bad_mem(uint8_t sel)
{
	switch (sel & 3) {
	case 0:
		return 8 * MIB - 1 - (sel >> 2);
	case 1:
		return 4 * MIB - PAGE * (1 + (sel >> 2));
	case 2:
		return 0xFFB00000u + PAGE * (1 + (sel >> 2));
	default:
		return 0;
	}
}

/* A zero-filled initrd of len bytes, mapped with an inaccessible page after
 * it, so that only what is read costs memory. */
static uint8_t *big_initrd(size_t len, void **map, size_t *maplen)
{
	size_t rounded = (len + PAGE - 1) / PAGE * PAGE;
	uint8_t *p;

	*maplen = rounded + PAGE;
	p = mmap(NULL, *maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die("mmap failed", NULL);
	if (rounded && mprotect(p, rounded, PROT_READ | PROT_WRITE) != 0)
		die("mprotect failed", NULL);
	*map = p;
	/* Put the end of the initrd against the guard page when we can. */
	return p + (rounded - len);
}

/* Cut the input up; false if it is too short to have a header. */
static bool split(const uint8_t *data, size_t size, struct input *in)
{
	uint8_t flags, memsel;
	size_t cmdlen, ilen, cut = 0;

	if (size < HEADER_LEN)
		return false;
	flags = data[0];
	memsel = data[1];
	cmdlen = (data[2] | (size_t)data[3] << 8) & CMDLINE_MAX;
	ilen = le32(data + 4);
	data += HEADER_LEN;
	size -= HEADER_LEN;
	if (flags & F_CUT) {
		if (size < 2)
			return false;
		cut = data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
	}

	if (flags & F_BIG_RAM)
		in->mem = 768 * MIB + (memsel & 63) * 4 * MIB;
	else
		in->mem = 4 * MIB + (memsel & 63) * 64 * 1024;
	if (flags & F_BAD_MEM)
		in->mem = bad_mem(memsel);
	in->top_pde = flags & F_TOP_PDE ? TOP_PDE : 0;

	if (cmdlen > size)
		cmdlen = size;
	in->cmdline = malloc(cmdlen + 1);
	memcpy(in->cmdline, data, cmdlen);
	in->cmdline[cmdlen] = '\0';
	data += cmdlen;
	size -= cmdlen;

	in->initrd = NULL;
	in->initrd_len = 0;
	in->initrd_maplen = 0;
	if (flags & F_BIG_INITRD) {
		in->initrd_len = ilen % (BIG_INITRD_MAX + 1);
		in->initrd = big_initrd(in->initrd_len, &in->initrd_map, &in->initrd_maplen);
		ilen = in->initrd_len < BIG_INITRD_HEAD ? in->initrd_len : BIG_INITRD_HEAD;
		if (ilen > size)
			ilen = size;
		memcpy(in->initrd, data, ilen);
	} else {
		if (ilen > size)
			ilen = size;
		if (flags & F_INITRD) {
			in->initrd = malloc(ilen ? ilen : 1);
			memcpy(in->initrd, data, ilen);
			in->initrd_len = ilen;
		}
	}
	data += ilen;
	size -= ilen;

	in->kernel = size ? data : NULL;
	in->kernel_len = size;
	in->kernel_copy = NULL;
	if (flags & F_CUT) {
		in->kernel_len = cut < size ? size - cut : 0;
		in->kernel_copy = malloc(in->kernel_len ? in->kernel_len : 1);
		memcpy(in->kernel_copy, data, in->kernel_len);
		in->kernel = in->kernel_len ? in->kernel_copy : NULL;
	}
	if (flags & F_NULL_CMDLINE)
		in->cmdline[0] = '\0'; /* what boot_load() must take NULL to mean */
	in->pass_null_cmdline = flags & F_NULL_CMDLINE;
	return true;
}

/* Guest RAM: mem bytes, zero, with a PROT_NONE page after them. */
static uint8_t *ram_map(uint64_t mem, size_t *maplen)
{
	uint64_t rounded = (mem + PAGE - 1) / PAGE * PAGE;
	uint8_t *p;

	*maplen = rounded + PAGE;
	p = mmap(NULL, *maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die("mmap failed", NULL);
	if (rounded && mprotect(p, rounded, PROT_READ | PROT_WRITE) != 0)
		die("mprotect failed", NULL);
	return p;
}

static bool ram_untouched(uint8_t *ram, size_t maplen)
{
	size_t n = maplen / PAGE, i;
	unsigned char *vec = malloc(n);
	bool clean = true;

	if (mincore(ram, maplen, vec) != 0)
		die("mincore failed", NULL);
	for (i = 0; i < n && clean; i++)
		clean = !(vec[i] & 1);
	free(vec);
	return clean;
}

static uint32_t rd32(const uint8_t *ram, uint64_t gpa)
{
	return le32(ram + gpa);
}

static bool overlaps(uint64_t lo, uint64_t hi, uint64_t olo, uint64_t ohi)
{
	return lo < ohi && olo < hi;
}

/* Every PT_LOAD segment of an accepted vmlinux: inside RAM, clear of the zero
 * page, the boot tables and the initrd.  (Read here with no checks of our own:
 * the loader accepted the file, so its headers had better be in bounds.) */
static void check_elf_segments(const struct input *in, const struct boot_layout *b)
{
	const uint8_t *k = in->kernel;
	uint32_t phoff = le32(k + 28);
	unsigned phnum = k[44] | k[45] << 8, i;
	uint64_t top_end = in->initrd ? b->initrd_gpa + (uint64_t)b->initrd_size : in->mem;

	for (i = 0; i < phnum; i++) {
		const uint8_t *ph = k + phoff + 32 * i;
		uint64_t lo = le32(ph + 12), hi = lo + le32(ph + 20);

		if (le32(ph) != 1 || lo == hi)
			continue;
		if (lo < 0x2000 || hi > in->mem)
			die("ELF segment outside RAM or over the zero page", NULL);
		if (overlaps(lo, hi, b->pt_lo, top_end))
			die("ELF segment over the boot tables or initrd", NULL);
	}
}

/* What a successful boot must look like (docs/abi.md §2). */
static void check_layout(const struct input *in, const uint8_t *ram, const struct boot_layout *b)
{
	uint64_t npt = (in->mem + 4 * MIB - 1) / (4 * MIB);
	uint64_t top = in->initrd ? b->initrd_gpa : in->mem;

	if (b->format != BOOT_ELF && b->format != BOOT_BZIMAGE)
		die("bad format", NULL);
	if (b->kernel_lo < 0x2000 || b->kernel_lo >= b->kernel_hi || b->kernel_hi > in->mem)
		die("kernel outside RAM or over the zero page", NULL);
	if (b->entry < b->kernel_lo || b->entry >= b->kernel_hi)
		die("entry outside the kernel", NULL);
	if (b->pgdir_gpa + PAGE != top || b->pt_lo + npt * PAGE != b->pgdir_gpa)
		die("page tables misplaced", NULL);
	if (b->format == BOOT_BZIMAGE) {
		/* One piece (the payload, or all of init_size when that is
		 * bigger), so it must be wholly below the tables or above the
		 * initrd; and the payload is the file after the setup sectors,
		 * which must hold what the header's syssize promises (give or
		 * take the paragraph's rounding). */
		const uint8_t *k = in->kernel;
		uint64_t off = ((uint64_t)(k[0x1F1] ? k[0x1F1] : 4) + 1) * 512, len;
		uint16_t version = k[0x206] | k[0x207] << 8;

		if (off >= in->kernel_len)
			die("bzImage accepted with no payload", NULL);
		len = in->kernel_len - off;
		if (b->kernel_hi > b->pt_lo && b->kernel_lo < top + b->initrd_size)
			die("bzImage payload over the tables or initrd", NULL);
		if (b->kernel_lo != 0x100000 || b->kernel_hi - b->kernel_lo < len ||
		    memcmp(ram + b->kernel_lo, k + off, len) != 0)
			die("bzImage payload not copied", NULL);
		if (version >= 0x0204 &&
		    (le32(k + 0x1F4) == 0 || (uint64_t)le32(k + 0x1F4) * 16 > len + 15))
			die("bzImage accepted with a syssize the file does not hold", NULL);
	}
	if (b->format == BOOT_ELF)
		check_elf_segments(in, b);
	if (in->initrd) {
		uint64_t end = b->initrd_gpa + (uint64_t)b->initrd_size;

		if (b->initrd_size != (in->initrd_len + PAGE - 1) / PAGE * PAGE || end > in->mem ||
		    end > 0x30000000u)
			die("initrd misplaced", NULL);
		if (memcmp(ram + b->initrd_gpa, in->initrd, in->initrd_len) != 0)
			die("initrd not copied", NULL);
		if (rd32(ram, 0x218) != b->initrd_gpa || ram[0x210] != 0xFF)
			die("zero page lacks the initrd", NULL);
	}
	/* A bzImage's own setup header is copied first (the kernel's protocol
	 * version stays when it is newer than 2.07, its loadflags keep their
	 * bits); then the loader's fields are ours whatever the file said. */
	uint16_t want_version = 0x0207, got_version = ram[0x206] | ram[0x207] << 8;
	uint8_t flags_from_file = 0;
	if (b->format == BOOT_BZIMAGE) {
		const uint8_t *k = in->kernel;
		size_t end = 0x202u + k[0x201];
		if (end > 0x290)
			end = 0x290;
		if (end > in->kernel_len)
			end = in->kernel_len;
		uint16_t file_version = k[0x206] | k[0x207] << 8;
		if (end >= 0x208 && file_version > want_version)
			want_version = file_version;
		if (end > 0x211)
			flags_from_file = k[0x211];
	}
	if (got_version != want_version || ram[0x211] != (flags_from_file | 0x40) ||
	    rd32(ram, 0x23C) != 1 || rd32(ram, 0x228) != 0x1000 ||
	    rd32(ram, 0x2D8) != (uint32_t)in->mem)
		die("zero page wrong", NULL);
	if (strcmp((const char *)ram + 0x1000, in->cmdline) != 0)
		die("command line not copied", NULL);
	if (rd32(ram, b->pgdir_gpa + 4 * 1023) != in->top_pde ||
	    rd32(ram, b->pgdir_gpa) != (b->pt_lo | 7) ||
	    rd32(ram, b->pt_lo + 4 * (in->mem / PAGE - 1)) != ((in->mem - PAGE) | 7))
		die("page tables wrong", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct boot_layout out;
	char err[256];
	size_t maplen;
	uint8_t *ram;
	int rc;

	if (!split(data, size, &in))
		return 0;
	ram = ram_map(in.mem, &maplen);
	rc = boot_load(ram, in.mem, in.kernel, in.kernel_len, in.initrd, in.initrd_len,
		       in.pass_null_cmdline ? NULL : in.cmdline, in.top_pde, &out, err,
		       sizeof(err));
	/* Checking alone (no RAM) must reach the same verdict. */
	char err2[256];
	int rc2 = boot_load(NULL, in.mem, in.kernel, in.kernel_len, in.initrd, in.initrd_len,
			    in.pass_null_cmdline ? NULL : in.cmdline, in.top_pde, NULL, err2,
			    sizeof(err2));
	if (rc2 != rc || (rc && strcmp(err, err2) != 0))
		die("checking without RAM gave another verdict", err2);
	if (rc == 0) {
		check_layout(&in, ram, &out);
	} else {
		if (rc != -1 || err[0] == '\0' || strchr(err, '\n'))
			die("refusal without one clear sentence", err);
		if (!ram_untouched(ram, maplen))
			die("refused boot wrote to RAM", err);
	}
	munmap(ram, maplen);
	free(in.cmdline);
	free(in.kernel_copy);
	if (in.initrd_maplen)
		munmap(in.initrd_map, in.initrd_maplen);
	else
		free(in.initrd);
	return 0;
}
