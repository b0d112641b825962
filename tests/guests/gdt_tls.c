/* gdt_tls: LHCALL_LOAD_GDT and LHCALL_LOAD_TLS (§6).
 *
 * Linux's descriptors say DPL 0; the host must raise them to DPL 1 or a
 * ring-1 kernel could not load them (§6.3).  We load a Linux-like GDT plus a
 * DPL-0 data segment with a non-zero base at entry 20, reload every segment
 * register from it (SS and CS demand DPL == CPL, so this proves the fix-up),
 * read through the based segment (also across exits, which must preserve the
 * selector and base), check that entries past a short LOAD_GDT count keep
 * their old contents, and do the same for the three TLS slots 6-8. */
#include "guest.h"

const char test_name[] = "gdt_tls";

static uint64_t gdt[GDT_ENTRIES], gdt2[GDT_ENTRIES];
static uint32_t fake_tss[26];
static volatile uint32_t area[5][4] = {
	{0xA0A0A0A0, 0xA1A1A1A1}, {0xB0B0B0B0, 0xB1B1B1B1}, {0x60606060, 0x61616161},
	{0x70707070, 0x71717171}, {0x80808080, 0x81818181},
};
static uint64_t tls[3];

static void gp_handler(struct trap_frame *f)
{
	fail("#GP(%x) at %x: descriptor not loadable at ring 1 (DPL not raised to 1?)", f->error,
	     f->eip);
}

static uint64_t data_seg(volatile uint32_t *base, unsigned dpl)
{
	return seg_desc((uint32_t)base, 0xFFF, SEG_DATA_RW, dpl, 0x4); /* 4 KiB, 32-bit */
}

static void reload_kernel_segments(void)
{
	__asm__ volatile("movl %0, %%ds\n\t"
			 "movl %0, %%es\n\t"
			 "movl %0, %%ss\n\t"
			 "pushl %1\n\t"
			 "pushl $1f\n\t"
			 "lret\n"
			 "1:"
			 :
			 : "r"(KERNEL_DS), "i"(KERNEL_CS)
			 : "memory");
}

static uint32_t fs_read(uint32_t sel, unsigned off)
{
	uint32_t v;
	__asm__ volatile("movl %1, %%fs\n\t"
			 "movl %%fs:(%2), %0"
			 : "=r"(v)
			 : "r"(sel), "r"(off)
			 : "memory");
	return v;
}

static uint32_t gs_read(uint32_t sel)
{
	uint32_t v;
	__asm__ volatile("movl %1, %%gs\n\t"
			 "movl %%gs:0, %0"
			 : "=r"(v)
			 : "r"(sel)
			 : "memory");
	return v;
}

void test_main(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(13, gp_handler);

	gdt_fill_linux(gdt);
	gdt[20] = data_seg(area[0], 0);
	/* Linux's TSS descriptor at 16 (host-owned, must be ignored): an
	 * available 32-bit TSS, a system descriptor. */
	uint32_t b = (uint32_t)fake_tss;
	gdt[16] = ((uint64_t)((b & 0xFF000000) | ((b >> 16) & 0xFF) | 0x8900) << 32) |
		  ((b & 0xFFFF) << 16) | 0x67;
	gdt_load(gdt, GDT_ENTRIES);
	reload_kernel_segments();
	CHECK(READ_SEG(cs) == KERNEL_CS && READ_SEG(ss) == KERNEL_DS, "CS/SS %x/%x", READ_SEG(cs),
	      READ_SEG(ss));
	printf("gdt_tls: DPL-0 kernel descriptors usable at ring 1 ok\n");

	CHECK(fs_read(0xA1, 0) == area[0][0] && fs_read(0xA1, 4) == area[0][1],
	      "%%fs:0 via entry 20 read %x, want %x", fs_read(0xA1, 0), area[0][0]);
	for (unsigned i = 0; i < 10; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(READ_SEG(fs) == 0xA1, "%%fs changed to %x across exits", READ_SEG(fs));
	uint32_t v;
	__asm__ volatile("movl %%fs:4, %0" : "=r"(v));
	CHECK(v == area[0][1], "%%fs base lost across exits: read %x", v);
	printf("gdt_tls: segment with a base ok\n");

	/* Only 20 entries: entry 20 must keep area[0]. */
	memcpy(gdt2, gdt, sizeof(gdt2));
	gdt2[20] = data_seg(area[1], 0);
	__asm__ volatile("movl %0, %%fs" : : "r"(0));
	gdt_load(gdt2, 20);
	CHECK(fs_read(0xA1, 0) == area[0][0], "entry 20 changed by LOAD_GDT with count 20");
	gdt_load(gdt2, GDT_ENTRIES);
	CHECK(fs_read(0xA1, 0) == area[1][0], "entry 20 not replaced by LOAD_GDT with count 32");
	__asm__ volatile("movl %0, %%fs" : : "r"(0));
	printf("gdt_tls: LOAD_GDT count respected ok\n");

	/* TLS: DPL-0 descriptors, used with RPL 1 like kernel selectors. */
	for (unsigned i = 0; i < 3; i++)
		tls[i] = data_seg(area[2 + i], 0);
	__asm__ volatile("movl %0, %%gs" : : "r"(0));
	hcall(LHCALL_LOAD_TLS, (uint32_t)tls, 0, 0);
	for (unsigned i = 0; i < 3; i++) {
		uint32_t sel = (GDT_ENTRY_TLS_MIN + i) * 8 + 1;
		CHECK(gs_read(sel) == area[2 + i][0], "TLS entry %u (sel %x) read %x, want %x",
		      GDT_ENTRY_TLS_MIN + i, sel, gs_read(sel), area[2 + i][0]);
	}
	/* And a user TLS descriptor (DPL 3) as Linux's threads have. */
	tls[0] = data_seg(area[1], 3);
	__asm__ volatile("movl %0, %%gs" : : "r"(0));
	hcall(LHCALL_LOAD_TLS, (uint32_t)tls, 0, 0);
	CHECK(gs_read(0x33) == area[1][0], "TLS entry 6 (DPL 3) read %x", gs_read(0x33));
	/* The GDT's other entries are untouched by LOAD_TLS. */
	CHECK(fs_read(0xA1, 0) == area[1][0], "LOAD_TLS disturbed entry 20");
	__asm__ volatile("movl %0, %%gs\n\tmovl %0, %%fs" : : "r"(0));
	printf("gdt_tls: LOAD_TLS entries 6-8 ok\n");
	pass();
}
