/* Unit tests for booting 2.6.23 (pvabi/boot_g0.c) and for telling its images
 * apart (pvabi/inspect.c): a synthetic kernel with the GenuineLguest marker
 * and the instructions 2.6.23 puts after it, as an ELF vmlinux and as a
 * protocol-2.06 bzImage whose gzip member carries OS byte 3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pvabi/boot.h"
#include "pvabi/boot_g0.h"
#include "pvabi/inspect.h"
#include "src/le.h"

#define KLEN	 0x4000u
#define MARK_OFF 0x1230u
#define PO	 0xC0000000u
#define MEM	 (16u << 20)
#define TOP_PDE	 0x12345067u

/* The flat kernel: the banner, the marker, then 2.6.23's lguest_entry:
 * movl $stack, %esp; movl %esi, %eax; addl $PAGE_OFFSET, %eax; jmp ... */
static uint8_t *raw_kernel(uint32_t page_offset, bool entry_insns)
{
	uint8_t *k = calloc(1, KLEN);
	static const char banner[] = "Linux version 2.6.23 (test)";
	memcpy(k + 0x100, banner, sizeof(banner));
	memcpy(k + MARK_OFF, G0_MARKER, strlen(G0_MARKER));
	uint8_t *p = k + MARK_OFF + strlen(G0_MARKER);
	if (entry_insns) {
		p[0] = 0xBC;
		le32_put(p + 1, page_offset + 0x00200000);
		p[5] = 0x89;
		p[6] = 0xF0;
		p[7] = 0x05;
		le32_put(p + 8, page_offset);
		p[12] = 0xE9;
	}
	return k;
}

/* A 2.6.23 bzImage: setup sectors, then the kernel gzipped with OS byte os. */
static uint8_t *bzimage(const uint8_t *k, size_t klen, int os, size_t *len)
{
	z_stream z = {0};
	gz_header h = {.os = os};
	size_t cap = compressBound(klen) + 64, hdr = 5 * 512;
	uint8_t *img = calloc(1, hdr + cap);
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	assert_int_equal(deflateSetHeader(&z, &h), Z_OK);
	z.next_in = (Bytef *)k;
	z.avail_in = (uInt)klen;
	z.next_out = img + hdr;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*len = hdr + z.total_out;
	deflateEnd(&z);
	img[0x1F1] = 4;
	le32_put(img + 0x1F4, (uint32_t)((z.total_out + 15) / 16));
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x06;
	img[0x207] = 0x02;
	le32_put(img + 0x214, 0x100000);
	return img;
}

/* A vmlinux of the raw kernel: one segment, physical 1 MiB, virtual po + 1 MiB. */
static uint8_t *vmlinux(const uint8_t *k, uint32_t page_offset, size_t *len)
{
	size_t off = 0x1000;
	uint8_t *e = calloc(1, off + KLEN);
	Elf32_Ehdr *eh = (Elf32_Ehdr *)e;
	Elf32_Phdr *ph = (Elf32_Phdr *)(e + sizeof(*eh));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_entry = 0x100000;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_offset = (uint32_t)off;
	ph->p_paddr = 0x100000;
	ph->p_vaddr = page_offset + 0x100000;
	ph->p_filesz = ph->p_memsz = KLEN;
	memcpy(e + off, k, KLEN);
	*len = off + KLEN;
	return e;
}

static void test_bzimage_prepare_and_boot(void **state)
{
	(void)state;
	size_t len;
	uint8_t *k = raw_kernel(PO, true), *img = bzimage(k, KLEN, 3, &len);
	struct g0_kernel g0;
	char err[200];

	assert_int_equal(boot_g0_prepare(img, len, &g0, err, sizeof(err)), 0);
	assert_int_equal(g0.page_offset, PO);
	assert_int_equal(g0.entry_pa, 0x100000 + MARK_OFF + strlen(G0_MARKER));
	assert_non_null(g0.elf);

	/* The made-up vmlinux loads like any other; then RAM is at PAGE_OFFSET
	 * only, the monitor keeps slot 1023, and EIP is virtual. */
	uint8_t *ram = calloc(1, MEM);
	struct boot_layout bl;
	assert_int_equal(boot_load(ram, MEM, g0.elf, g0.elf_len, NULL, 0, "console=hvc0", TOP_PDE,
				   &bl, err, sizeof(err)),
			 0);
	assert_memory_equal(ram + 0x100000 + MARK_OFF, G0_MARKER, strlen(G0_MARKER));
	assert_int_equal(boot_g0_map(ram, MEM, &g0, &bl, err, sizeof(err)), 0);
	assert_int_equal(bl.entry, PO + g0.entry_pa);
	const uint8_t *pgdir = ram + bl.pgdir_gpa;
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(le32_get(pgdir + i * 4), 0);
		uint32_t pde = le32_get(pgdir + (768 + i) * 4);
		assert_int_equal(pde & 1, 1);
		/* ... leading to the PTEs of RAM from i * 4 MiB on. */
		assert_int_equal(le32_get(ram + (pde & ~0xFFFu)), (i * 1024) * 4096 | 7);
	}
	assert_int_equal(le32_get(pgdir + 772 * 4), 0);
	assert_int_equal(le32_get(pgdir + 1023 * 4), TOP_PDE);
	free(ram);
	free(g0.elf);
	free(img);
	free(k);
}

static void test_bzimage_wrong_os_byte(void **state)
{
	(void)state;
	size_t len;
	uint8_t *k = raw_kernel(PO, true), *img = bzimage(k, KLEN, 0, &len);
	struct g0_kernel g0;
	char err[200];

	/* The 2.6.23 Launcher took only a member made on Unix. */
	assert_int_equal(boot_g0_prepare(img, len, &g0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot find the kernel"));
	assert_null(g0.elf);
	free(img);
	free(k);
}

static void test_page_offset_guessed(void **state)
{
	(void)state;
	size_t len;
	uint8_t *k = raw_kernel(PO, false);
	/* No entry instructions: the Launcher's guess, from `mov moffs32, %eax`. */
	for (unsigned i = 0; i < 4; i++) {
		k[0x2000 + 8 * i] = 0xA1;
		le32_put(k + 0x2001 + 8 * i, 0xB0001000 + i * 4);
	}
	uint8_t *img = bzimage(k, KLEN, 3, &len);
	struct g0_kernel g0;
	char err[200];
	assert_int_equal(boot_g0_prepare(img, len, &g0, err, sizeof(err)), 0);
	assert_int_equal(g0.page_offset, 0xB0000000u);
	free(g0.elf);
	free(img);
	free(k);
}

static void test_vmlinux(void **state)
{
	(void)state;
	size_t len;
	uint8_t *k = raw_kernel(0x80000000u, true), *e = vmlinux(k, 0x80000000u, &len);
	struct g0_kernel g0;
	char err[200];

	assert_int_equal(boot_g0_prepare(e, len, &g0, err, sizeof(err)), 0);
	assert_null(g0.elf); /* the file itself is loaded */
	assert_int_equal(g0.page_offset, 0x80000000u);
	assert_int_equal(g0.entry_pa, 0x100000 + MARK_OFF + strlen(G0_MARKER));
	free(e);
	/* A vmlinux linked 1:1 has no PAGE_OFFSET to map. */
	e = vmlinux(k, 0, &len);
	assert_int_equal(boot_g0_prepare(e, len, &g0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PAGE_OFFSET 0"));
	free(e);
	/* No marker, no G0. */
	memset(k + MARK_OFF, 'x', 4);
	e = vmlinux(k, PO, &len);
	assert_int_equal(boot_g0_prepare(e, len, &g0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no GenuineLguest marker"));
	free(e);
	free(k);
}

static void test_bzimage_with_elf_inside(void **state)
{
	(void)state;
	size_t elen, len;
	uint8_t *k = raw_kernel(PO, true), *e = vmlinux(k, PO, &elen);
	uint8_t *img = bzimage(e, elen, 3, &len);
	struct g0_kernel g0;
	char err[200];

	/* Not how 2.6.23 was built, but a vmlinux in the gzip member is loaded as one. */
	assert_int_equal(boot_g0_prepare(img, len, &g0, err, sizeof(err)), 0);
	assert_non_null(g0.elf);
	assert_int_equal(g0.elf_len, elen);
	assert_memory_equal(g0.elf, e, elen);
	assert_int_equal(g0.page_offset, PO);
	assert_int_equal(g0.entry_pa, 0x100000 + MARK_OFF + strlen(G0_MARKER));
	free(g0.elf);
	free(img);
	free(e);
	free(k);
}

static void test_map_overlap_and_cap(void **state)
{
	(void)state;
	uint8_t pgdir[4096];
	struct boot_layout bl = {.pgdir_gpa = 0};
	char err[200];

	/* A PAGE_OFFSET of 8 MiB over 16 MiB of RAM: the ranges overlap, and
	 * RAM still ends up at PAGE_OFFSET only. */
	for (unsigned i = 0; i < 1024; i++)
		le32_put(pgdir + i * 4, i < 4 ? 0x1000u * (i + 1) | 7 : 0);
	struct g0_kernel g0 = {.page_offset = 8u << 20, .entry_pa = 0x100000};
	assert_int_equal(boot_g0_map(pgdir, MEM, &g0, &bl, err, sizeof(err)), 0);
	assert_int_equal(le32_get(pgdir + 0), 0);
	assert_int_equal(le32_get(pgdir + 4), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(le32_get(pgdir + (2 + i) * 4), 0x1000u * (i + 1) | 7);
	assert_int_equal(bl.entry, (8u << 20) + 0x100000);

	/* 3 GiB of RAM at 0xC0000000: what fits below the monitor's slot. */
	for (unsigned i = 0; i < 1024; i++)
		le32_put(pgdir + i * 4, i < 768 ? 0x1000u * (i + 1) | 7 : 0);
	g0.page_offset = PO;
	assert_int_equal(boot_g0_map(pgdir, 3ull << 30, &g0, &bl, err, sizeof(err)), 0);
	for (unsigned i = 0; i < 768; i++)
		assert_int_equal(le32_get(pgdir + i * 4), 0);
	for (unsigned i = 0; i < 255; i++)
		assert_int_equal(le32_get(pgdir + (768 + i) * 4), 0x1000u * (i + 1) | 7);
	assert_int_equal(le32_get(pgdir + 1023 * 4), 0);

	/* Not a whole number of page-directory slots. */
	g0.page_offset = 0xC0001000u;
	assert_int_equal(boot_g0_map(pgdir, MEM, &g0, &bl, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PAGE_OFFSET 0xc0001000"));
}

static void test_inspect_names_g0(void **state)
{
	(void)state;
	size_t len;
	uint8_t *k = raw_kernel(PO, true), *img = bzimage(k, KLEN, 3, &len);
	struct image_info in;

	assert_int_equal(image_inspect(img, len, NULL, -1, true, &in), 0);
	assert_int_equal(in.gen, GEN_G0);
	assert_true(in.bzimage);
	assert_int_equal(in.protocol, 0x0206);
	assert_string_equal(in.version, "2.6.23");
	image_info_free(&in);
	free(img);
	/* The same kernel as a vmlinux. */
	size_t elen;
	uint8_t *e = vmlinux(k, PO, &elen);
	assert_int_equal(image_inspect(e, elen, NULL, -1, false, &in), 0);
	assert_int_equal(in.gen, GEN_G0);
	image_info_free(&in);
	free(e);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_prepare_and_boot),
		cmocka_unit_test(test_bzimage_wrong_os_byte),
		cmocka_unit_test(test_page_offset_guessed),
		cmocka_unit_test(test_vmlinux),
		cmocka_unit_test(test_bzimage_with_elf_inside),
		cmocka_unit_test(test_map_overlap_and_cap),
		cmocka_unit_test(test_inspect_names_g0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
