/* GDT and TLS descriptors (§6). */
#include "guest.h"

uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl, unsigned flags)
{
	uint32_t lo = ((base & 0xFFFF) << 16) | (limit & 0xFFFF);
	uint32_t hi = (base & 0xFF000000) | ((base >> 16) & 0xFF) | (limit & 0xF0000) |
		      ((flags & 0xF) << 20) | 0x8000 /* present */ | (dpl << 13) |
		      0x1000 /* code/data */ | (type << 8);
	return ((uint64_t)hi << 32) | lo;
}

void gdt_fill_linux(uint64_t gdt[GDT_ENTRIES])
{
	/* Linux's per-CPU GDT (§6.1): its kernel segments say DPL 0, which a
	 * ring-1 guest can only use because the host raises them to DPL 1. */
	memset(gdt, 0, GDT_ENTRIES * 8);
	gdt[12] = seg_desc(0, 0xFFFFF, SEG_CODE_RX, 0, 0xC);
	gdt[13] = seg_desc(0, 0xFFFFF, SEG_DATA_RW, 0, 0xC);
	gdt[14] = seg_desc(0, 0xFFFFF, SEG_CODE_RX, 3, 0xC);
	gdt[15] = seg_desc(0, 0xFFFFF, SEG_DATA_RW, 3, 0xC);
}

void gdt_load(const uint64_t *gdt, uint32_t count)
{
#if GEN_GDT_ENTRY
	/* 2.6.30+ send the GDT one entry at a time (§H1.1). */
	for (uint32_t i = 0; i < count; i++)
		hcall(LHCALL_LOAD_GDT_ENTRY, i, (uint32_t)gdt[i], (uint32_t)(gdt[i] >> 32));
#else
	hcall(LHCALL_LOAD_GDT, (uint32_t)gdt, count, 0);
#endif
}
