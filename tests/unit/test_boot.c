/* Unit tests for the kernel loader, pvabi/boot.c.
 *
 * We build tiny kernels in memory, an i386 vmlinux with whatever program
 * headers a test wants or a bzImage with a setup header and a payload, hand them
 * to boot_load() with a freshly mapped RAM, and look at what landed where.
 *
 * RAM comes from mmap(MAP_NORESERVE): the kernel gives us zero pages on demand,
 * so a 4 GiB guest costs only the pages the loader writes.  It also lets us
 * prove that a refused boot wrote nothing at all: mincore() says whether any
 * page of the mapping was ever touched.
 *
 * The zero-page offsets below are written out again from docs/abi.md §2.3
 * rather than shared with boot.c, so that a typo there is caught here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvabi/boot.h"

#define KiB  1024ull
#define MiB  (1024ull * 1024ull)
#define PAGE 4096ull

#define MEM_MAX 0xFFB00000ull /* 0xFFC00000 - 1 MiB */

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
#define ZP_E820_MAP	    0x2D0
/* Setup-header fields of a bzImage file (Documentation/x86/boot.txt). */
#define ZP_SYSSIZE	  0x1F4
#define ZP_PAYLOAD_OFFSET 0x248
#define ZP_PAYLOAD_LENGTH 0x24C
#define ZP_INIT_SIZE	  0x260

#define PT_NULL_ 0
#define PT_LOAD_ 1
#define PT_NOTE_ 4

/* A top_pde that no real page table would be confused with. */
#define TOP_PDE 0x7FEED063u

/*
 * Little helpers: byte order, RAM, error messages.
 */

static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t r16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)r16(p) | (uint32_t)r16(p + 2) << 16;
}

static uint64_t r64(const uint8_t *p)
{
	return (uint64_t)r32(p) | (uint64_t)r32(p + 4) << 32;
}

static uint8_t *ram_new(uint64_t mem)
{
	void *p = mmap(NULL, mem, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void ram_free(uint8_t *ram, uint64_t mem)
{
	munmap(ram, mem);
}

/* Has any page of this fresh mapping been read or written? */
static size_t pages_touched(uint8_t *ram, uint64_t mem)
{
	size_t n = (mem + PAGE - 1) / PAGE, i, touched = 0;
	unsigned char *vec = malloc(n);

	assert_non_null(vec);
	assert_int_equal(mincore(ram, mem, vec), 0);
	for (i = 0; i < n; i++)
		touched += vec[i] & 1;
	free(vec);
	return touched;
}

static void assert_err_has(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* Pull N out of "... needs N MiB of RAM ...". */
static uint64_t needs_mib(const char *err)
{
	const char *p = strstr(err, "needs ");
	unsigned long long n;

	if (!p || sscanf(p, "needs %llu MiB of RAM", &n) != 1)
		fail_msg("error \"%s\" does not say how much RAM is needed", err);
	return n;
}

/*
 * Building kernels.
 */

struct image {
	uint8_t *buf;
	size_t len;
};

static void image_free(struct image *img)
{
	free(img->buf);
	img->buf = NULL;
}

/* Recognisable file contents: byte j of segment s. */
static uint8_t pattern(unsigned s, size_t j)
{
	return (uint8_t)(s * 31 + j * 7 + 1);
}

struct seg {
	uint32_t type, paddr, filesz, memsz;
};

#define EHDR_SIZE 52
#define PHDR_SIZE 32

/* A minimal i386 vmlinux: the ELF header, the program headers, then each
 * segment's file bytes, one after the other. */
static struct image elf_new(uint32_t entry, const struct seg *segs, unsigned n)
{
	size_t off = EHDR_SIZE + (size_t)PHDR_SIZE * n, len = off;
	struct image img;
	unsigned i;

	for (i = 0; i < n; i++)
		len += segs[i].filesz;
	img.len = len;
	img.buf = calloc(1, len);
	assert_non_null(img.buf);

	memcpy(img.buf, "\177ELF", 4);
	img.buf[4] = 1;	      /* ELFCLASS32 */
	img.buf[5] = 1;	      /* ELFDATA2LSB */
	img.buf[6] = 1;	      /* EV_CURRENT */
	w16(img.buf + 16, 2); /* e_type = ET_EXEC */
	w16(img.buf + 18, 3); /* e_machine = EM_386 */
	w32(img.buf + 20, 1); /* e_version */
	w32(img.buf + 24, entry);
	w32(img.buf + 28, EHDR_SIZE); /* e_phoff */
	w16(img.buf + 40, EHDR_SIZE); /* e_ehsize */
	w16(img.buf + 42, PHDR_SIZE);
	w16(img.buf + 44, (uint16_t)n);
	w16(img.buf + 46, 40); /* e_shentsize; no sections */

	for (i = 0; i < n; i++) {
		uint8_t *ph = img.buf + EHDR_SIZE + PHDR_SIZE * i;
		size_t j;

		w32(ph + 0, segs[i].type);
		w32(ph + 4, (uint32_t)off);
		w32(ph + 8, segs[i].paddr + 0xC0000000u); /* p_vaddr: must be ignored */
		w32(ph + 12, segs[i].paddr);
		w32(ph + 16, segs[i].filesz);
		w32(ph + 20, segs[i].memsz);
		w32(ph + 24, 7);
		w32(ph + 28, 0x1000);
		for (j = 0; j < segs[i].filesz; j++)
			img.buf[off + j] = pattern(i, j);
		off += segs[i].filesz;
	}
	return img;
}

static uint8_t *phdr(struct image *img, unsigned i)
{
	return img->buf + EHDR_SIZE + PHDR_SIZE * i;
}

/* The usual shape: one segment at 1 MiB with some BSS, entry at its start. */
static struct image elf_simple(void)
{
	const struct seg s[] = {{PT_LOAD_, 0x100000, 0x3000, 0x5000}};

	return elf_new(0x100000, s, 1);
}

/* A bzImage: boot sector and setup_sects sectors of setup code (which we fill
 * with a setup header only), then the protected-mode payload. */
static struct image bz_new(unsigned setup_sects, size_t payload_len, uint32_t code32_start)
{
	size_t off = ((setup_sects ? setup_sects : 4) + 1) * 512u, j;
	struct image img;

	img.len = off + payload_len;
	img.buf = calloc(1, img.len);
	assert_non_null(img.buf);

	img.buf[ZP_SETUP_SECTS] = (uint8_t)setup_sects;
	w32(img.buf + ZP_SYSSIZE, (uint32_t)((payload_len + 15) / 16));
	w16(img.buf + 0x1FE, 0xAA55);
	img.buf[0x200] = 0xEB; /* jmp over the header, to 0x202 + 0x66 */
	img.buf[0x201] = 0x66;
	memcpy(img.buf + ZP_HEADER, "HdrS", 4);
	w16(img.buf + ZP_VERSION, 0x020A);
	img.buf[ZP_TYPE_OF_LOADER] = 0x33;
	img.buf[ZP_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	w32(img.buf + ZP_CODE32_START, code32_start);
	w32(img.buf + 0x230, 0x100000); /* kernel_alignment */
	img.buf[0x234] = 1;		/* relocatable_kernel */
	w32(img.buf + 0x238, 2047);	/* cmdline_size */
	for (j = 0; j < payload_len; j++)
		img.buf[off + j] = pattern(9, j);
	return img;
}

/*
 * Running the loader.
 */

struct boot {
	uint8_t *ram;
	uint64_t mem;
	struct boot_layout out;
	char err[512];
};

static int boot(struct boot *b, uint64_t mem, const struct image *k, const uint8_t *initrd,
		size_t initrd_len, const char *cmdline, uint32_t top_pde)
{
	int rc;

	b->mem = mem;
	b->ram = ram_new(mem);
	memset(&b->out, 0xAA, sizeof(b->out));
	memset(b->err, 'X', sizeof(b->err));
	rc = boot_load(b->ram, mem, k ? k->buf : NULL, k ? k->len : 0, initrd, initrd_len, cmdline,
		       top_pde, &b->out, b->err, sizeof(b->err));
	if (rc == 0 && b->err[0] != '\0')
		fail_msg("boot_load succeeded but left a message");
	return rc;
}

static void boot_ok(struct boot *b, uint64_t mem, const struct image *k, const uint8_t *initrd,
		    size_t initrd_len, const char *cmdline, uint32_t top_pde)
{
	if (boot(b, mem, k, initrd, initrd_len, cmdline, top_pde) != 0)
		fail_msg("boot_load refused: %s", b->err);
}

static void boot_end(struct boot *b)
{
	ram_free(b->ram, b->mem);
}

/* A refusal: -1, one sentence naming the problem, nothing written to RAM, an
 * empty layout.  Leaves the message in b->err for the caller to inspect. */
static void boot_refused(struct boot *b, uint64_t mem, const struct image *k, const uint8_t *initrd,
			 size_t initrd_len, const char *cmdline, const char *needle)
{
	static const struct boot_layout zero;

	assert_int_equal(boot(b, mem, k, initrd, initrd_len, cmdline, TOP_PDE), -1);
	assert_err_has(b->err, needle);
	assert_null(strchr(b->err, '\n'));
	assert_true(strlen(b->err) > 20);
	assert_int_equal(pages_touched(b->ram, b->mem), 0);
	assert_memory_equal(&b->out, &zero, sizeof(zero));
}

/* Most refusals need nothing but the message. */
static void refused(uint64_t mem, const struct image *k, const char *needle)
{
	struct boot b;

	boot_refused(&b, mem, k, NULL, 0, "", needle);
	boot_end(&b);
}

static void refused_with_initrd(uint64_t mem, const struct image *k, const uint8_t *initrd,
				size_t initrd_len, const char *needle)
{
	struct boot b;

	boot_refused(&b, mem, k, initrd, initrd_len, "", needle);
	boot_end(&b);
}

/* The error said "needs N MiB": check that N MiB works and N-1 does not. */
static void check_remedy(const char *err, const struct image *k, const uint8_t *initrd,
			 size_t initrd_len)
{
	uint64_t need = needs_mib(err) * MiB;
	struct boot b;

	boot_ok(&b, need, k, initrd, initrd_len, "", 0);
	boot_end(&b);
	assert_int_equal(boot(&b, need - MiB, k, initrd, initrd_len, "", 0), -1);
	boot_end(&b);
}

static uint32_t pde(const struct boot *b, unsigned k)
{
	return r32(b->ram + b->out.pgdir_gpa + 4 * k);
}

static uint32_t pte(const struct boot *b, uint64_t i)
{
	return r32(b->ram + b->out.pt_lo + 4 * i);
}

/*
 * ELF vmlinux.
 */

static void test_elf_loads_segments_at_paddr(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x100000, 0x3000, 0x5000},
		{PT_NOTE_, 0x300000, 0x40, 0x40},
		{PT_LOAD_, 0x200000, 0x800, 0x800},
	};
	struct image k = elf_new(0x100010, s, 3);
	struct boot b;

	(void)state;
	boot_ok(&b, 16 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.format, BOOT_ELF);
	assert_int_equal(b.out.entry, 0x100010);
	assert_int_equal(b.out.kernel_lo, 0x100000);
	assert_int_equal(b.out.kernel_hi, 0x200800);

	/* File bytes at p_paddr (not p_vaddr), BSS zero, the note not loaded. */
	assert_memory_equal(b.ram + 0x100000, k.buf + r32(phdr(&k, 0) + 4), 0x3000);
	assert_memory_equal(b.ram + 0x200000, k.buf + r32(phdr(&k, 2) + 4), 0x800);
	assert_int_equal(b.ram[0x103000], 0);
	assert_int_equal(b.ram[0x104FFF], 0);
	assert_int_equal(b.ram[0x300000], 0);
	assert_int_equal(b.ram[0xFFFFF], 0);
	boot_end(&b);
	image_free(&k);
}

static void test_elf_entry_in_later_segment(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x100000, 0x1000, 0x1000},
		{PT_LOAD_, 0x400000, 0x1000, 0x2000},
	};
	struct image k = elf_new(0x401FFF, s, 2); /* last byte of the BSS */
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.entry, 0x401FFF);
	assert_int_equal(b.out.kernel_lo, 0x100000);
	assert_int_equal(b.out.kernel_hi, 0x402000);
	boot_end(&b);
	image_free(&k);
}

/* Segments that occupy no memory are nothing to place, wherever they claim to
 * be; a pure-BSS segment needs no file bytes, whatever its offset. */
static void test_elf_empty_and_bss_only_segments(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x0, 0, 0},
		{PT_LOAD_, 0x100000, 0x100, 0x100},
		{PT_LOAD_, 0x180000, 0, 0x4000},
		{PT_NULL_, 0xFFFFF000, 0, 0x100000},
	};
	struct image k = elf_new(0x100000, s, 4);
	struct boot b;

	(void)state;
	w32(phdr(&k, 2) + 4, 0xFFFFFFF0); /* p_offset of the BSS-only segment */
	boot_ok(&b, 4 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.kernel_lo, 0x100000);
	assert_int_equal(b.out.kernel_hi, 0x184000);
	assert_memory_equal(b.ram + 0x100000, k.buf + r32(phdr(&k, 1) + 4), 0x100);
	boot_end(&b);
	image_free(&k);
}

/* Above 768 MiB, with an initrd, the RAM above the initrd is free. */
static void test_elf_above_capped_initrd(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 0x30100000, 0x1000, 0x1000}};
	struct image k = elf_new(0x30100000, s, 1);
	uint8_t initrd[100] = {1};
	struct boot b;

	(void)state;
	boot_ok(&b, 1024 * MiB, &k, initrd, sizeof(initrd), "", 0);
	assert_int_equal(b.out.initrd_gpa, 0x30000000 - PAGE);
	assert_memory_equal(b.ram + 0x30100000, k.buf + r32(phdr(&k, 0) + 4), 0x1000);
	boot_end(&b);
	image_free(&k);
}

/*
 * bzImage.
 */

static void test_bzimage_payload_at_1mib(void **state)
{
	struct image k = bz_new(3, 0x2345, 0x100000);
	struct boot b;

	(void)state;
	boot_ok(&b, 16 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.format, BOOT_BZIMAGE);
	assert_int_equal(b.out.entry, 0x100000);
	assert_int_equal(b.out.kernel_lo, 0x100000);
	assert_int_equal(b.out.kernel_hi, 0x100000 + 0x2345);
	assert_memory_equal(b.ram + 0x100000, k.buf + 4 * 512, 0x2345);
	assert_int_equal(b.ram[0x100000 + 0x2345], 0);
	assert_int_equal(b.ram[0xFFFFF], 0);
	boot_end(&b);
	image_free(&k);
}

/* The boot protocol: setup_sects == 0 means 4.  The reference Launcher would
 * have loaded the setup code itself as the kernel. */
static void test_bzimage_setup_sects_zero_means_four(void **state)
{
	struct image k = bz_new(0, 0x1000, 0x100800);
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(k.len, 5 * 512 + 0x1000);
	assert_memory_equal(b.ram + 0x100000, k.buf + 5 * 512, 0x1000);
	assert_int_equal(b.out.entry, 0x100800);
	boot_end(&b);
	image_free(&k);
}

/* The file's own setup header is copied into the guest's zero page, as a real
 * boot loader copies it (4.9+ images expect their init_size there), and the
 * loader's own fields are then written over it (docs/abi.md §2.3). */
static void test_bzimage_header_copied(void **state)
{
	struct image k = bz_new(2, 0x1000, 0x100000);
	struct boot b;

	(void)state;
	w32(k.buf + ZP_INIT_SIZE, 0x5000);
	w32(k.buf + ZP_CMD_LINE_PTR, 0xDEAD);
	w32(k.buf + 0x270, 0x12345678); /* past the header's end (0x268): not copied */
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_memory_equal(b.ram + ZP_HEADER, "HdrS", 4);
	assert_int_equal(b.ram[ZP_SETUP_SECTS], 2);
	assert_int_equal(r16(b.ram + ZP_VERSION), 0x020A); /* the kernel's, newer than 2.07 */
	assert_int_equal(r32(b.ram + 0x230), 0x100000);	   /* kernel_alignment */
	assert_int_equal(r32(b.ram + 0x238), 2047);	   /* cmdline_size */
	assert_int_equal(r32(b.ram + ZP_INIT_SIZE), 0x5000);
	assert_int_equal(r32(b.ram + 0x270), 0);
	/* The loader's fields are ours. */
	assert_int_equal(b.ram[ZP_LOADFLAGS], 0x41);
	assert_int_equal(b.ram[ZP_TYPE_OF_LOADER], 0);
	assert_int_equal(r32(b.ram + ZP_CMD_LINE_PTR), 0x1000);
	assert_int_equal(r32(b.ram + ZP_HARDWARE_SUBARCH), 1);
	assert_int_equal(b.ram[ZP_E820_ENTRIES], 1);
	boot_end(&b);
	image_free(&k);
}

/*
 * The zero page and the command line.
 */

/* The whole 4096-byte zero page we expect, built from the ABI document. */
static void expected_zero_page(uint8_t *zp, uint64_t mem, uint32_t initrd_gpa, uint32_t initrd_size)
{
	memset(zp, 0, PAGE);
	zp[ZP_E820_ENTRIES] = 1;
	w16(zp + ZP_VERSION, 0x0207);
	zp[ZP_LOADFLAGS] = 0x40;
	w32(zp + ZP_CMD_LINE_PTR, 0x1000);
	w32(zp + ZP_HARDWARE_SUBARCH, 1);
	w32(zp + ZP_E820_MAP + 8, (uint32_t)mem);
	w32(zp + ZP_E820_MAP + 12, (uint32_t)(mem >> 32));
	w32(zp + ZP_E820_MAP + 16, 1);
	if (initrd_size) {
		zp[ZP_TYPE_OF_LOADER] = 0xFF;
		w32(zp + ZP_RAMDISK_IMAGE, initrd_gpa);
		w32(zp + ZP_RAMDISK_SIZE, initrd_size);
	}
}

static void test_zero_page_without_initrd(void **state)
{
	struct image k = elf_simple();
	uint8_t want[PAGE];
	struct boot b;

	(void)state;
	boot_ok(&b, 64 * MiB, &k, NULL, 0, "quiet", 0);
	expected_zero_page(want, 64 * MiB, 0, 0);
	assert_memory_equal(b.ram, want, PAGE);

	/* And field by field, for a readable failure. */
	assert_int_equal(r16(b.ram + 0x206), 0x0207);
	assert_int_equal(b.ram[0x211], 0x40);
	assert_int_equal(r32(b.ram + 0x23C), 1);
	assert_int_equal(r32(b.ram + 0x228), 0x1000);
	assert_int_equal(b.ram[0x1E8], 1);
	assert_int_equal(r64(b.ram + 0x2D0), 0);
	assert_int_equal(r64(b.ram + 0x2D8), 64 * MiB);
	assert_int_equal(r32(b.ram + 0x2E0), 1);
	assert_int_equal(b.ram[0x210], 0);
	assert_int_equal(r32(b.ram + 0x218), 0);
	assert_int_equal(r32(b.ram + 0x21C), 0);
	assert_int_equal(b.out.initrd_gpa, 0);
	assert_int_equal(b.out.initrd_size, 0);
	boot_end(&b);
	image_free(&k);
}

static void test_zero_page_with_initrd(void **state)
{
	struct image k = elf_simple();
	uint8_t want[PAGE], initrd[5000];
	struct boot b;

	(void)state;
	memset(initrd, 0x5A, sizeof(initrd));
	boot_ok(&b, 32 * MiB, &k, initrd, sizeof(initrd), "", 0);
	expected_zero_page(want, 32 * MiB, 32 * MiB - 8192, 8192);
	assert_memory_equal(b.ram, want, PAGE);
	assert_int_equal(b.ram[0x210], 0xFF);
	assert_int_equal(r32(b.ram + 0x218), 32 * MiB - 8192);
	assert_int_equal(r32(b.ram + 0x21C), 8192);
	boot_end(&b);
	image_free(&k);
}

/* RAM should arrive zeroed, but the zero page must be exactly right even if it
 * did not. */
static void test_zero_page_overwrites_garbage(void **state)
{
	struct image k = elf_simple();
	uint8_t want[PAGE];
	struct boot b;

	(void)state;
	b.mem = 8 * MiB;
	b.ram = ram_new(b.mem);
	memset(b.ram, 0xEE, 0x2000);
	assert_int_equal(boot_load(b.ram, b.mem, k.buf, k.len, NULL, 0, "x", 0, &b.out, b.err,
				   sizeof(b.err)),
			 0);
	expected_zero_page(want, 8 * MiB, 0, 0);
	assert_memory_equal(b.ram, want, PAGE);
	assert_string_equal((char *)b.ram + 0x1000, "x");
	assert_int_equal(b.ram[0x1002], 0);
	boot_end(&b);
	image_free(&k);
}

static void test_cmdline_copied(void **state)
{
	static const char cmd[] = "root=/dev/vda rw init=/bin/sh ";
	struct image k = elf_simple();
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, NULL, 0, cmd, 0);
	assert_memory_equal(b.ram + 0x1000, cmd, sizeof(cmd)); /* with its NUL */
	assert_int_equal(r32(b.ram + ZP_CMD_LINE_PTR), 0x1000);
	boot_end(&b);
	image_free(&k);
}

static void test_cmdline_empty_or_null(void **state)
{
	struct image k = elf_simple();
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.ram[0x1000], 0);
	assert_int_equal(r32(b.ram + ZP_CMD_LINE_PTR), 0x1000);
	boot_end(&b);

	boot_ok(&b, 8 * MiB, &k, NULL, 0, NULL, 0);
	assert_int_equal(b.ram[0x1000], 0);
	assert_int_equal(r32(b.ram + ZP_CMD_LINE_PTR), 0x1000);
	boot_end(&b);
	image_free(&k);
}

/* The guest copies 2048 bytes: 2047 characters and the NUL is the most. */
static void test_cmdline_length_limit(void **state)
{
	struct image k = elf_simple();
	char cmd[2049];
	struct boot b;

	(void)state;
	memset(cmd, 'a', sizeof(cmd));
	cmd[2047] = '\0';
	boot_ok(&b, 8 * MiB, &k, NULL, 0, cmd, 0);
	assert_int_equal(strlen((char *)b.ram + 0x1000), 2047);
	assert_int_equal(b.ram[0x1000 + 2047], 0);
	boot_end(&b);

	cmd[2047] = 'a';
	cmd[2048] = '\0';
	boot_refused(&b, 8 * MiB, &k, NULL, 0, cmd,
		     "command line is 2048 bytes; the guest copies at most 2047");
	boot_end(&b);
	image_free(&k);
}

/*
 * The initrd.
 */

static void test_initrd_at_top_of_small_ram(void **state)
{
	struct image k = elf_simple();
	uint8_t initrd[5000];
	struct boot b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(initrd); i++)
		initrd[i] = pattern(5, i);
	b.mem = 32 * MiB;
	b.ram = ram_new(b.mem);
	/* The tail of the last page must be zero even if RAM was not. */
	memset(b.ram + 32 * MiB - PAGE, 0xEE, PAGE);
	assert_int_equal(boot_load(b.ram, b.mem, k.buf, k.len, initrd, sizeof(initrd), "", 0,
				   &b.out, b.err, sizeof(b.err)),
			 0);
	assert_int_equal(b.out.initrd_gpa, 32 * MiB - 8192);
	assert_int_equal(b.out.initrd_size, 8192);
	assert_memory_equal(b.ram + b.out.initrd_gpa, initrd, sizeof(initrd));
	for (i = sizeof(initrd); i < 8192; i++)
		assert_int_equal(b.ram[b.out.initrd_gpa + i], 0);
	/* The boot tables sit right below: directory, then 8 PTE pages. */
	assert_int_equal(b.out.pgdir_gpa, 32 * MiB - 8192 - PAGE);
	assert_int_equal(b.out.pt_lo, b.out.pgdir_gpa - 8 * PAGE);
	boot_end(&b);
	image_free(&k);
}

static void test_initrd_page_multiple(void **state)
{
	struct image k = elf_simple();
	static uint8_t initrd[3 * PAGE];
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, initrd, sizeof(initrd), "", 0);
	assert_int_equal(b.out.initrd_size, 3 * PAGE);
	assert_int_equal(b.out.initrd_gpa, 8 * MiB - 3 * PAGE);
	assert_int_equal(r32(b.ram + ZP_RAMDISK_SIZE), 3 * PAGE);
	boot_end(&b);
	image_free(&k);
}

/* Appendix B: a guest with highmem drops an initrd at the very top of RAM, so
 * above 768 MiB the initrd (and the tables below it) end at 768 MiB. */
static void test_initrd_capped_above_768mib(void **state)
{
	struct image k = elf_simple();
	uint8_t initrd[3 * PAGE + 1];
	struct boot b;

	(void)state;
	memset(initrd, 0x77, sizeof(initrd));
	boot_ok(&b, 1024 * MiB, &k, initrd, sizeof(initrd), "", TOP_PDE);
	assert_int_equal(b.out.initrd_size, 4 * PAGE);
	assert_int_equal(b.out.initrd_gpa, 0x30000000 - 4 * PAGE);
	assert_memory_equal(b.ram + b.out.initrd_gpa, initrd, sizeof(initrd));
	assert_int_equal(r32(b.ram + ZP_RAMDISK_IMAGE), 0x30000000 - 4 * PAGE);
	assert_int_equal(b.ram[ZP_TYPE_OF_LOADER], 0xFF);
	/* The e820 map still says all of RAM, and the tables still map it all. */
	assert_int_equal(r64(b.ram + ZP_E820_MAP + 8), 1024 * MiB);
	assert_int_equal(b.out.pgdir_gpa, 0x30000000 - 5 * PAGE);
	assert_int_equal(b.out.pt_lo, b.out.pgdir_gpa - 256 * PAGE);
	assert_int_equal(pde(&b, 255), (b.out.pt_lo + 255 * PAGE) | 7);
	assert_int_equal(pde(&b, 256), 0);
	assert_int_equal(pte(&b, 1024 * MiB / PAGE - 1), (1024 * MiB - PAGE) | 7);
	assert_int_equal(pde(&b, 1023), TOP_PDE);
	/* Nothing at the real top of RAM. */
	assert_int_equal(b.ram[1024 * MiB - 1], 0);
	boot_end(&b);
	image_free(&k);
}

static void test_initrd_768mib_boundary(void **state)
{
	struct image k = elf_simple();
	uint8_t initrd[PAGE] = {9};
	struct boot b;

	(void)state;
	/* At exactly 768 MiB the two rules agree. */
	boot_ok(&b, 768 * MiB, &k, initrd, sizeof(initrd), "", 0);
	assert_int_equal(b.out.initrd_gpa, 768 * MiB - PAGE);
	boot_end(&b);

	/* One 4 MiB step more, and the top of RAM is no longer where it goes. */
	boot_ok(&b, 772 * MiB, &k, initrd, sizeof(initrd), "", 0);
	assert_int_equal(b.out.initrd_gpa, 768 * MiB - PAGE);
	assert_int_equal(b.out.pgdir_gpa, 768 * MiB - 2 * PAGE);
	assert_int_equal(b.out.pt_lo, b.out.pgdir_gpa - 193 * PAGE);
	boot_end(&b);

	/* Without an initrd the tables stay at the top, as in the reference. */
	boot_ok(&b, 1024 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.pgdir_gpa, 1024 * MiB - PAGE);
	boot_end(&b);
	image_free(&k);
}

/*
 * Boot page tables.
 */

static void test_page_tables_identity_16mib(void **state)
{
	struct image k = elf_simple();
	struct boot b;
	unsigned i;

	(void)state;
	boot_ok(&b, 16 * MiB, &k, NULL, 0, "", TOP_PDE);
	assert_int_equal(b.out.pgdir_gpa, 16 * MiB - PAGE);
	assert_int_equal(b.out.pt_lo, 16 * MiB - 5 * PAGE);
	for (i = 0; i < 4; i++)
		assert_int_equal(pde(&b, i), (16 * MiB - 5 * PAGE + i * PAGE) | 7);
	for (i = 4; i < 1023; i++)
		assert_int_equal(pde(&b, i), 0);
	assert_int_equal(pde(&b, 1023), TOP_PDE);
	for (i = 0; i < 4096; i++)
		assert_int_equal(pte(&b, i), i * PAGE | 7);
	assert_int_equal(pte(&b, 0), 0x7);
	assert_int_equal(pte(&b, 4095), 0xFFF007);
	boot_end(&b);
	image_free(&k);
}

static void test_page_tables_without_top_pde(void **state)
{
	struct image k = elf_simple();
	struct boot b;

	(void)state;
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(pde(&b, 1023), 0);
	assert_int_equal(pde(&b, 1), (b.out.pt_lo + PAGE) | 7);
	assert_int_equal(pde(&b, 2), 0);
	boot_end(&b);
	image_free(&k);
}

/* RAM that is not a multiple of 4 MiB: the last PTE page is partly empty,
 * even if the memory under it was not. */
static void test_page_tables_partial_last_page(void **state)
{
	struct image k = elf_simple();
	struct boot b;
	unsigned i;

	(void)state;
	b.mem = 6 * MiB;
	b.ram = ram_new(b.mem);
	memset(b.ram + 6 * MiB - 3 * PAGE, 0xEE, 3 * PAGE);
	assert_int_equal(boot_load(b.ram, b.mem, k.buf, k.len, NULL, 0, "", TOP_PDE, &b.out, b.err,
				   sizeof(b.err)),
			 0);
	assert_int_equal(b.out.pt_lo, 6 * MiB - 3 * PAGE);
	assert_int_equal(pte(&b, 1535), (6 * MiB - PAGE) | 7);
	for (i = 1536; i < 2048; i++)
		assert_int_equal(pte(&b, i), 0);
	assert_int_equal(pde(&b, 1), (6 * MiB - 2 * PAGE) | 7);
	for (i = 2; i < 1023; i++)
		assert_int_equal(pde(&b, i), 0);
	assert_int_equal(pde(&b, 1023), TOP_PDE);
	boot_end(&b);
	image_free(&k);
}

/* The biggest guest: 1023 PTE pages, and slot 1023 still the monitor's. */
static void test_page_tables_largest_mem(void **state)
{
	struct image k = elf_simple();
	struct boot b;
	const uint64_t npte = MEM_MAX / PAGE;

	(void)state;
	boot_ok(&b, MEM_MAX, &k, NULL, 0, "", TOP_PDE);
	assert_int_equal(b.out.pgdir_gpa, MEM_MAX - PAGE);
	assert_int_equal(b.out.pt_lo, MEM_MAX - 1024 * PAGE);
	assert_int_equal(pde(&b, 1022), (b.out.pt_lo + 1022 * PAGE) | 7);
	assert_int_equal(pde(&b, 1023), TOP_PDE);
	assert_int_equal(pte(&b, npte - 1), (MEM_MAX - PAGE) | 7);
	assert_int_equal(pte(&b, npte), 0);
	assert_int_equal(pte(&b, 1023 * 1024 - 1), 0);
	assert_int_equal(r64(b.ram + ZP_E820_MAP + 8), MEM_MAX);
	boot_end(&b);
	image_free(&k);
}

/*
 * Refusals: what is not a kernel.
 */

static void test_reject_not_a_kernel(void **state)
{
	static uint8_t junk[4096];
	struct image k = {junk, 0};

	(void)state;
	refused(8 * MiB, NULL, "neither an ELF vmlinux nor a bzImage");
	refused(8 * MiB, &k, "neither an ELF vmlinux nor a bzImage");
	k.len = 3;
	memcpy(junk, "\177EL", 3);
	refused(8 * MiB, &k, "neither an ELF vmlinux nor a bzImage");
	k.len = sizeof(junk);
	memset(junk, 0x90, sizeof(junk));
	refused(8 * MiB, &k, "no ELF magic, no HdrS signature");
}

static void test_reject_elf_header(void **state)
{
	struct image k = elf_simple();
	struct image short_k = {k.buf, 40};

	(void)state;
	refused(8 * MiB, &short_k, "too short for an ELF header");

	k.buf[4] = 2; /* ELFCLASS64 */
	refused(8 * MiB, &k, "not a 32-bit ELF");
	k.buf[4] = 1;

	k.buf[5] = 2; /* big-endian */
	refused(8 * MiB, &k, "little-endian");
	k.buf[5] = 1;

	w16(k.buf + 18, 62); /* EM_X86_64 */
	refused(8 * MiB, &k, "machine 62, not i386");
	w16(k.buf + 18, 3);

	w16(k.buf + 16, 3); /* ET_DYN */
	refused(8 * MiB, &k, "type is 3, not an executable");
	w16(k.buf + 16, 1); /* ET_REL */
	refused(8 * MiB, &k, "type is 1");
	w16(k.buf + 16, 2);

	w16(k.buf + 42, 56);
	refused(8 * MiB, &k, "program headers are 56 bytes");
	w16(k.buf + 42, 32);

	w16(k.buf + 44, 0);
	refused(8 * MiB, &k, "0 program headers");
	w16(k.buf + 44, 2049);
	refused(8 * MiB, &k, "2049 program headers");
	w16(k.buf + 44, 1);

	/* Still good after all that? */
	{
		struct boot b;

		boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
		boot_end(&b);
	}
	image_free(&k);
}

static void test_reject_elf_phdrs_past_eof(void **state)
{
	struct image k = elf_simple();

	(void)state;
	w32(k.buf + 28, (uint32_t)k.len - 16); /* e_phoff: table runs off the end */
	refused(8 * MiB, &k, "run past the end");
	w32(k.buf + 28, 0xFFFFFFF0); /* and would wrap a 32-bit sum */
	refused(8 * MiB, &k, "run past the end");
	w32(k.buf + 28, EHDR_SIZE);
	w16(k.buf + 44, 2000); /* more headers than the file holds */
	refused(8 * MiB, &k, "run past the end");
	image_free(&k);
}

static void test_reject_elf_segment_file_range(void **state)
{
	struct image k = elf_simple();
	uint8_t *ph = phdr(&k, 0);

	(void)state;
	w32(ph + 16, 0x6000); /* p_filesz > p_memsz */
	refused(8 * MiB, &k, "more file bytes (24576) than memory bytes (20480)");
	w32(ph + 16, 0x3000);

	w32(ph + 4, (uint32_t)k.len); /* offset at EOF, with bytes to read */
	refused(8 * MiB, &k, "runs past the end");
	w32(ph + 4, (uint32_t)k.len + 1);
	refused(8 * MiB, &k, "runs past the end");
	w32(ph + 4, 0xFFFFFFF0); /* offset + size wraps in 32 bits */
	w32(ph + 16, 0x20);
	refused(8 * MiB, &k, "runs past the end");
	w32(ph + 4, 0x100);
	w32(ph + 16, 0xFFFFFFFF);
	w32(ph + 20, 0xFFFFFFFF);
	refused(8 * MiB, &k, "runs past the end");
	image_free(&k);
}

static void test_reject_elf_entry(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x100000, 0x1000, 0x2000},
		{PT_NOTE_, 0x300000, 0x10, 0x10},
	};
	struct image k = elf_new(0x102000, s, 2); /* one past the segment */

	(void)state;
	refused(8 * MiB, &k, "entry point 0x102000 is not inside any loaded segment");
	w32(k.buf + 24, 0x300000); /* inside the note: not loaded */
	refused(8 * MiB, &k, "entry point 0x300000");
	w32(k.buf + 24, 0xFFFFF);
	refused(8 * MiB, &k, "entry point 0xfffff");
	image_free(&k);
}

static void test_reject_elf_nothing_to_load(void **state)
{
	const struct seg s[] = {
		{PT_NOTE_, 0x100000, 0x10, 0x10},
		{PT_LOAD_, 0x200000, 0, 0},
	};
	struct image k = elf_new(0x100000, s, 2);

	(void)state;
	refused(8 * MiB, &k, "no loadable segment");
	image_free(&k);
}

/*
 * Refusals: pieces that do not fit.
 */

static void test_reject_elf_low_memory(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 0x1000, 0x100, 0x100}};
	struct image k = elf_new(0x1000, s, 1);

	(void)state;
	refused(8 * MiB, &k, "overlaps the zero page and command line");
	refused(8 * MiB, &k, "at or above 0x2000");
	/* A segment that only reaches into the command line is as bad. */
	w32(phdr(&k, 0) + 12, 0x1F00);
	w32(k.buf + 24, 0x1F00);
	refused(8 * MiB, &k, "0x1f00-0x1fff overlaps the zero page");
	/* And 0x2000 itself is fine. */
	w32(phdr(&k, 0) + 12, 0x2000);
	w32(k.buf + 24, 0x2000);
	{
		struct boot b;

		boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
		assert_memory_equal(b.ram + 0x2000, k.buf + r32(phdr(&k, 0) + 4), 0x100);
		boot_end(&b);
	}
	image_free(&k);
}

static void test_reject_elf_beyond_ram(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x100000, 0x1000, 0x1000},
		{PT_LOAD_, 0x1F00000, 0x1000, 0x200000},
	};
	struct image k = elf_new(0x100000, s, 2);
	struct boot b;

	(void)state;
	boot_refused(&b, 16 * MiB, &k, NULL, 0, "",
		     "segment 1 at 0x1f00000-0x20fffff lies beyond RAM");
	assert_err_has(b.err, "needs 34 MiB of RAM; --mem is 16 MiB");
	check_remedy(b.err, &k, NULL, 0);
	boot_end(&b);
	image_free(&k);
}

/* p_paddr + p_memsz past 4 GiB: no 32-bit wrap may bring it back into RAM. */
static void test_reject_elf_address_wrap(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 0xFFFFF000, 0x10, 0x2000}};
	struct image k = elf_new(0xFFFFF000, s, 1);

	(void)state;
	refused(8 * MiB, &k, "0xfffff000-0x100000fff lies beyond RAM");
	refused(8 * MiB, &k, "no RAM size");
	w32(phdr(&k, 0) + 20, 0xFFFFFFFF);
	refused(8 * MiB, &k, "lies beyond RAM");
	image_free(&k);
}

static void test_reject_elf_overlapping_page_tables(void **state)
{
	/* 8 MiB: 2 PTE pages and the directory at 0x7FD000-0x7FFFFF. */
	const struct seg s[] = {{PT_LOAD_, 0x100000, 0x1000, 0x6FE000}};
	struct image k = elf_new(0x100000, s, 1);
	struct boot b;

	(void)state;
	boot_refused(&b, 8 * MiB, &k, NULL, 0, "",
		     "overlaps the boot page tables at 0x7fd000-0x7fffff");
	assert_err_has(b.err, "needs 9 MiB of RAM; --mem is 8 MiB");
	check_remedy(b.err, &k, NULL, 0);
	boot_end(&b);

	/* One page less and it just fits. */
	w32(phdr(&k, 0) + 20, 0x6FD000);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.kernel_hi, b.out.pt_lo);
	boot_end(&b);
	image_free(&k);
}

static void test_reject_elf_overlapping_initrd(void **state)
{
	const struct seg s[] = {
		{PT_LOAD_, 0x100000, 0x1000, 0x1000},
		{PT_LOAD_, 0xF80000, 0x1000, 0x1000},
	};
	struct image k = elf_new(0x100000, s, 2);
	static uint8_t initrd[MiB];
	struct boot b;

	(void)state;
	boot_refused(&b, 16 * MiB, &k, initrd, sizeof(initrd), "",
		     "segment 1 at 0xf80000-0xf80fff overlaps the initrd at 0xf00000-0xffffff");
	assert_err_has(b.err, "needs 17 MiB of RAM; --mem is 16 MiB");
	check_remedy(b.err, &k, initrd, sizeof(initrd));
	boot_end(&b);
	image_free(&k);
}

/* The directory alone (with an initrd above it, so the top of RAM is not what
 * stops the kernel). */
static void test_reject_elf_overlapping_page_directory(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 0xEFF000, 0x1000, 0x1000}};
	struct image k = elf_new(0xEFF000, s, 1);
	static uint8_t initrd[MiB];

	(void)state;
	refused_with_initrd(16 * MiB, &k, initrd, sizeof(initrd),
			    "0xeff000-0xefffff overlaps the boot page tables at 0xefb000-0xefffff");
	image_free(&k);
}

/* Above 768 MiB the RAM over a capped initrd is free: a kernel may go there,
 * up to the last byte of RAM but not one byte further. */
static void test_elf_at_top_of_ram_above_capped_initrd(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 772 * MiB - 0x2000, 0x2000, 0x2000}};
	struct image k = elf_new(772 * MiB - 0x2000, s, 1);
	uint8_t initrd[64] = {1};
	struct boot b;

	(void)state;
	boot_ok(&b, 772 * MiB, &k, initrd, sizeof(initrd), "", 0);
	assert_int_equal(b.out.kernel_hi, 772 * MiB);
	assert_memory_equal(b.ram + 772 * MiB - 0x2000, k.buf + r32(phdr(&k, 0) + 4), 0x2000);
	boot_end(&b);

	w32(phdr(&k, 0) + 20, 0x2001);
	refused_with_initrd(772 * MiB, &k, initrd, sizeof(initrd),
			    "0x303fe000-0x30400000 lies beyond RAM: needs 773 MiB of RAM");
	w32(phdr(&k, 0) + 20, 0x3000);
	refused_with_initrd(772 * MiB, &k, initrd, sizeof(initrd), "lies beyond RAM");
	image_free(&k);
}

/* Above 768 MiB more RAM cannot help a kernel that sits on the initrd. */
static void test_reject_elf_overlapping_capped_initrd(void **state)
{
	const struct seg s[] = {{PT_LOAD_, 0x2FFFF000, 0x1000, 0x1000}};
	struct image k = elf_new(0x2FFFF000, s, 1);
	uint8_t initrd[16] = {1};
	struct boot b;

	(void)state;
	boot_refused(&b, 1024 * MiB, &k, initrd, sizeof(initrd), "", "overlaps the initrd");
	assert_err_has(b.err, "no RAM size");
	boot_end(&b);
	image_free(&k);
}

static void test_reject_bzimage_header(void **state)
{
	struct image k = bz_new(3, 0x1000, 0x100000);
	struct image short_k = {k.buf, ZP_HEADER + 8};

	(void)state;
	refused(8 * MiB, &short_k, "too short for its setup header");
	short_k.len = ZP_HEADER + 3;
	refused(8 * MiB, &short_k, "neither an ELF vmlinux nor a bzImage");

	memcpy(k.buf + ZP_HEADER, "HdrT", 4);
	refused(8 * MiB, &k, "no HdrS signature");
	image_free(&k);
}

static void test_reject_bzimage_setup_past_eof(void **state)
{
	struct image k = bz_new(3, 0x1000, 0x100000);

	(void)state;
	k.buf[ZP_SETUP_SECTS] = 20;
	refused(8 * MiB, &k, "has 20 setup sectors");
	/* Setup code but not one byte of payload. */
	k.buf[ZP_SETUP_SECTS] = 3;
	k.len = 4 * 512;
	refused(8 * MiB, &k, "the file is only 2048 bytes");
	k.buf[ZP_SETUP_SECTS] = 255;
	refused(8 * MiB, &k, "would start at byte 131072");
	image_free(&k);
}

static void test_reject_bzimage_entry(void **state)
{
	struct image k = bz_new(1, 0x1000, 0x10000);

	(void)state;
	refused(8 * MiB, &k, "code32_start) 0x10000 is outside its payload at 0x100000-0x100fff");
	w32(k.buf + ZP_CODE32_START, 0x101000);
	refused(8 * MiB, &k, "0x101000 is outside");
	w32(k.buf + ZP_CODE32_START, 0x100FFF);
	{
		struct boot b;

		boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
		boot_end(&b);
	}
	image_free(&k);
}

static void test_reject_bzimage_too_big(void **state)
{
	struct image k = bz_new(1, 4 * MiB, 0x100000);
	struct boot b;

	(void)state;
	boot_refused(&b, 4 * MiB, &k, NULL, 0, "", "payload at 0x100000-0x4fffff lies beyond RAM");
	assert_err_has(b.err, "needs 6 MiB of RAM; --mem is 4 MiB");
	check_remedy(b.err, &k, NULL, 0);
	boot_end(&b);

	k.len = 1024 + 3 * MiB;
	w32(k.buf + ZP_SYSSIZE, 3 * MiB / 16);
	refused(4 * MiB, &k, "payload at 0x100000-0x3fffff overlaps the boot page tables");
	image_free(&k);
}

/* syssize, the size of the 32-bit part in 16-byte paragraphs, against the
 * file: a truncated image is the user's problem, not a guest that dies. */
static void test_reject_bzimage_truncated(void **state)
{
	struct image k = bz_new(4, 0x3000, 0x100000);
	struct image cut = {k.buf, 0};
	struct boot b;

	(void)state;
	/* Half of it: the header still promises 0x3000 bytes. */
	cut.len = 5 * 512 + 0x1800;
	refused(8 * MiB, &cut, "is truncated or its header is damaged");
	refused(8 * MiB, &cut,
		"12288 bytes of 32-bit code follow its 4 setup sectors, but the "
		"file has only 6144");
	/* 2.6-era build tools rounded syssize up without padding the file: up
	 * to 15 missing bytes are fine, 16 are not. */
	cut.len = k.len - 15;
	boot_ok(&b, 8 * MiB, &cut, NULL, 0, "", 0);
	boot_end(&b);
	cut.len = k.len - 16;
	refused(8 * MiB, &cut, "but the file has only 12272");
	/* An inflated header says the same. */
	w32(k.buf + ZP_SYSSIZE, 0x10000000);
	refused(8 * MiB, &k, "the header says 4294967296 bytes");
	w32(k.buf + ZP_SYSSIZE, 0);
	refused(8 * MiB, &k, "syssize is 0");
	/* Before protocol 2.04 syssize was 16 bits and no measure of a big
	 * kernel: not checked. */
	w16(k.buf + ZP_VERSION, 0x0203);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	boot_end(&b);
	image_free(&k);
}

/* setup_sects moves the start of the 32-bit part: too many of them leave too
 * little file for syssize. */
static void test_reject_bzimage_setup_sects_inflated(void **state)
{
	struct image k = bz_new(4, 0x8000, 0x100000);

	(void)state;
	k.buf[ZP_SETUP_SECTS] = 40;
	refused(8 * MiB, &k,
		"the header says 32768 bytes of 32-bit code follow its 40 setup "
		"sectors, but the file has only 14336");
	k.buf[ZP_SETUP_SECTS] = 255;
	refused(8 * MiB, &k, "has 255 setup sectors");
	image_free(&k);
}

/* Protocol 2.08: the compressed kernel's place in the 32-bit part. */
static void test_reject_bzimage_payload_fields(void **state)
{
	struct image k = bz_new(2, 0x4000, 0x100000);
	struct boot b;

	(void)state;
	w32(k.buf + ZP_PAYLOAD_OFFSET, 0x100);
	w32(k.buf + ZP_PAYLOAD_LENGTH, 0x3F00);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	boot_end(&b);
	w32(k.buf + ZP_PAYLOAD_LENGTH, 0x3F01);
	refused(8 * MiB, &k, "payload_offset 256, payload_length 16129) runs past the 16384 bytes");
	w32(k.buf + ZP_PAYLOAD_OFFSET, 0xFFFFFFFF);
	w32(k.buf + ZP_PAYLOAD_LENGTH, 0xFFFFFFFF);
	refused(8 * MiB, &k, "payload_offset 4294967295, payload_length 4294967295");
	/* Protocol 2.07 has no such fields: whatever is there is not read. */
	w16(k.buf + ZP_VERSION, 0x0207);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	boot_end(&b);
	image_free(&k);
}

/* Protocol 2.10: init_size, the memory the kernel needs from its start while
 * it decompresses itself.  It occupies RAM like the payload does. */
static void test_bzimage_init_size(void **state)
{
	struct image k = bz_new(2, 0x4000, 0x100000);
	struct boot b;

	(void)state;
	w32(k.buf + ZP_INIT_SIZE, 0x200000);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.kernel_lo, 0x100000);
	assert_int_equal(b.out.kernel_hi, 0x300000);
	assert_memory_equal(b.ram + 0x100000, k.buf + 3 * 512, 0x4000);
	boot_end(&b);

	/* Smaller than the file: the file's size counts. */
	w32(k.buf + ZP_INIT_SIZE, 0x1000);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.kernel_hi, 0x104000);
	boot_end(&b);

	w32(k.buf + ZP_INIT_SIZE, 0x800000);
	boot_refused(&b, 8 * MiB, &k, NULL, 0, "",
		     "kernel bzImage with its init_size at 0x100000-0x8fffff");
	assert_err_has(b.err, "needs 10 MiB of RAM; --mem is 8 MiB");
	check_remedy(b.err, &k, NULL, 0);
	boot_end(&b);
	w32(k.buf + ZP_INIT_SIZE, 0xFFFFFFFF);
	refused(8 * MiB, &k, "no RAM size up to");

	/* Protocol 2.09 has no init_size. */
	w16(k.buf + ZP_VERSION, 0x0209);
	boot_ok(&b, 8 * MiB, &k, NULL, 0, "", 0);
	assert_int_equal(b.out.kernel_hi, 0x104000);
	boot_end(&b);
	image_free(&k);
}

/* ram NULL: the same verdict, nothing written (lgkvm checks an image before
 * it opens KVM). */
static void test_check_only(void **state)
{
	struct image k = bz_new(2, 0x4000, 0x100000);
	struct image e = elf_simple();
	char err[256];

	(void)state;
	assert_int_equal(
		boot_load(NULL, 8 * MiB, k.buf, k.len, NULL, 0, "", 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(
		boot_load(NULL, 8 * MiB, e.buf, e.len, NULL, 0, "", 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(boot_load(NULL, 8 * MiB, k.buf, k.len - 0x2000, NULL, 0, "", 0, NULL, err,
				   sizeof(err)),
			 -1);
	assert_err_has(err, "is truncated");
	assert_int_equal(
		boot_load(NULL, 8 * MiB, e.buf, e.len - 1, NULL, 0, "", 0, NULL, err, sizeof(err)),
		-1);
	assert_err_has(err, "runs past the end");
	image_free(&k);
	image_free(&e);
}

/*
 * Refusals: RAM size, initrd.
 */

static void test_reject_mem(void **state)
{
	struct image k = elf_simple();

	(void)state;
	refused(16 * MiB + PAGE / 2, &k, "not a whole number of 4 KiB pages");
	refused(4 * MiB - PAGE, &k, "too small");
	refused(MEM_MAX + PAGE, &k, "too big");
	refused(4ull << 30, &k, "at most 4091 MiB");
	image_free(&k);
}

static void test_reject_initrd_size(void **state)
{
	struct image k = elf_simple();
	static uint8_t initrd[8 * MiB + PAGE];
	struct boot b;

	(void)state;
	boot_refused(&b, 8 * MiB, &k, initrd, 0, "", "initrd is empty");
	boot_end(&b);

	/* Lengths the loader must refuse before reading a byte. */
	boot_refused(&b, 8 * MiB, &k, initrd, SIZE_MAX, "", "more than any guest's RAM");
	boot_end(&b);
	boot_refused(&b, 1024 * MiB, &k, initrd, 768 * MiB, "", "do not fit in RAM");
	assert_err_has(b.err, "no RAM size");
	boot_end(&b);

	/* Bigger than RAM altogether. */
	boot_refused(&b, 8 * MiB, &k, initrd, 8 * MiB + 1, "", "do not fit in RAM");
	boot_end(&b);

	/* An 8 MiB initrd in 8 MiB: it fits in 10 (the kernel needs the 2nd). */
	boot_refused(&b, 8 * MiB, &k, initrd, 8 * MiB, "",
		     "initrd of 8192 KiB and the boot page tables do not fit in RAM");
	assert_err_has(b.err, "needs 10 MiB of RAM; --mem is 8 MiB");
	check_remedy(b.err, &k, initrd, 8 * MiB);
	boot_end(&b);
	image_free(&k);
}

/* Error buffers: none, or too small for the sentence. */
static void test_error_buffer(void **state)
{
	struct boot_layout out;
	uint8_t *ram = ram_new(8 * MiB);
	char err[8];

	(void)state;
	assert_int_equal(boot_load(ram, 8 * MiB, NULL, 0, NULL, 0, "", 0, &out, NULL, 0), -1);
	assert_int_equal(boot_load(ram, 8 * MiB, NULL, 0, NULL, 0, "", 0, NULL, err, sizeof(err)),
			 -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(pages_touched(ram, 8 * MiB), 0);
	ram_free(ram, 8 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_loads_segments_at_paddr),
		cmocka_unit_test(test_elf_entry_in_later_segment),
		cmocka_unit_test(test_elf_empty_and_bss_only_segments),
		cmocka_unit_test(test_elf_above_capped_initrd),
		cmocka_unit_test(test_bzimage_payload_at_1mib),
		cmocka_unit_test(test_bzimage_setup_sects_zero_means_four),
		cmocka_unit_test(test_bzimage_header_copied),
		cmocka_unit_test(test_zero_page_without_initrd),
		cmocka_unit_test(test_zero_page_with_initrd),
		cmocka_unit_test(test_zero_page_overwrites_garbage),
		cmocka_unit_test(test_cmdline_copied),
		cmocka_unit_test(test_cmdline_empty_or_null),
		cmocka_unit_test(test_cmdline_length_limit),
		cmocka_unit_test(test_initrd_at_top_of_small_ram),
		cmocka_unit_test(test_initrd_page_multiple),
		cmocka_unit_test(test_initrd_capped_above_768mib),
		cmocka_unit_test(test_initrd_768mib_boundary),
		cmocka_unit_test(test_page_tables_identity_16mib),
		cmocka_unit_test(test_page_tables_without_top_pde),
		cmocka_unit_test(test_page_tables_partial_last_page),
		cmocka_unit_test(test_page_tables_largest_mem),
		cmocka_unit_test(test_reject_not_a_kernel),
		cmocka_unit_test(test_reject_elf_header),
		cmocka_unit_test(test_reject_elf_phdrs_past_eof),
		cmocka_unit_test(test_reject_elf_segment_file_range),
		cmocka_unit_test(test_reject_elf_entry),
		cmocka_unit_test(test_reject_elf_nothing_to_load),
		cmocka_unit_test(test_reject_elf_low_memory),
		cmocka_unit_test(test_reject_elf_beyond_ram),
		cmocka_unit_test(test_reject_elf_address_wrap),
		cmocka_unit_test(test_reject_elf_overlapping_page_tables),
		cmocka_unit_test(test_reject_elf_overlapping_initrd),
		cmocka_unit_test(test_reject_elf_overlapping_page_directory),
		cmocka_unit_test(test_elf_at_top_of_ram_above_capped_initrd),
		cmocka_unit_test(test_reject_elf_overlapping_capped_initrd),
		cmocka_unit_test(test_reject_bzimage_header),
		cmocka_unit_test(test_reject_bzimage_setup_past_eof),
		cmocka_unit_test(test_reject_bzimage_entry),
		cmocka_unit_test(test_reject_bzimage_too_big),
		cmocka_unit_test(test_reject_bzimage_truncated),
		cmocka_unit_test(test_reject_bzimage_setup_sects_inflated),
		cmocka_unit_test(test_reject_bzimage_payload_fields),
		cmocka_unit_test(test_bzimage_init_size),
		cmocka_unit_test(test_check_only),
		cmocka_unit_test(test_reject_mem),
		cmocka_unit_test(test_reject_initrd_size),
		cmocka_unit_test(test_error_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
