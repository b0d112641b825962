/* Building the monitor's pages: the Switcher's read-only state page and code,
 * laid out once by the VMM and then only patched (IDT gates, GDT slots, TSS
 * stack) through the VMM's own mapping. */
#include "kvm-glue/monitor.h"

#include <string.h>

#include "src/le.h"

#define PTE_P  0x001u
#define PTE_RW 0x002u
#define PTE_A  0x020u
#define PTE_D  0x040u

/* TSS fields we use (the rest stay zero). */
#define TSS_ESP0  4
#define TSS_SS0	  8
#define TSS_ESP1  12
#define TSS_SS1	  16
#define TSS_IOMAP 102
#define TSS_SIZE  104

uint32_t monitor_pde(void)
{
	return MON_PDE;
}

uint64_t monitor_pae_pmd(void)
{
	return MON_PAE_PMD;
}

void monitor_route(struct monitor *m, unsigned vec, unsigned dpl)
{
	uint32_t stub = MON_GVA + MON_STUBS_OFF + (vec & 0xFF) * 16;
	/* Interrupt gates: the monitor runs with IF clear, so it never nests. */
	le64_put(m->host + MON_IDT_OFF + (vec & 0xFF) * 8, mon_gate(stub, SEL_LGUEST_CS, 0xE, dpl));
}

void monitor_set_idt(struct monitor *m, unsigned vec, uint64_t gate)
{
	le64_put(m->host + MON_IDT_OFF + (vec & 0xFF) * 8, gate);
}

void monitor_set_gdt(struct monitor *m, unsigned idx, uint64_t desc)
{
	if (idx >= 32 || idx == GDT_LGUEST_CS || idx == GDT_LGUEST_DS || idx == GDT_TSS ||
	    idx == GDT_DOUBLEFAULT_TSS)
		return;
	le64_put(m->host + MON_GDT_OFF + idx * 8, desc);
}

void monitor_set_stack1(struct monitor *m, uint32_t ss1, uint32_t esp1)
{
	le32_put(m->host + MON_TSS_OFF + TSS_ESP1, esp1);
	le32_put(m->host + MON_TSS_OFF + TSS_SS1, ss1);
}

void monitor_get_stack1(const struct monitor *m, uint32_t *ss1, uint32_t *esp1)
{
	*esp1 = le32_get(m->host + MON_TSS_OFF + TSS_ESP1);
	*ss1 = le32_get(m->host + MON_TSS_OFF + TSS_SS1) & 0xFFFF;
}

void monitor_set_cr0(struct monitor *m, uint32_t cr0)
{
	le32_put(m->host + MON_CR0_WANT_OFF, cr0);
}

void monitor_load_cr3(struct monitor *m, uint32_t cr3)
{
	le32_put(m->host + MON_CR3_WANT_OFF, cr3);
	le32_put(m->host + MON_FLUSH_OFF, 1);
}

struct mon_shared *monitor_shared(struct monitor *m)
{
	return (struct mon_shared *)(m->host + MON_DATA_OFF);
}

void monitor_configure(struct monitor *m, const struct mon_config *c)
{
	/* The EOI flag was set at VM creation and stays. */
	uint8_t eoi = ((const struct mon_config *)(m->host + MON_CONFIG_OFF))->x2apic_eoi;
	memcpy(m->host + MON_CONFIG_OFF, c, sizeof(*c));
	((struct mon_config *)(m->host + MON_CONFIG_OFF))->x2apic_eoi = eoi;
}

void monitor_set_x2apic_eoi(struct monitor *m, bool on)
{
	((struct mon_config *)(m->host + MON_CONFIG_OFF))->x2apic_eoi = on;
}

uint16_t monitor_map_ld(struct monitor *m, uint32_t gpa, uint32_t size)
{
	uint32_t first = gpa & ~0xFFFu, last = (gpa + size - 1) & ~0xFFFu;
	for (uint32_t i = 0; i < MON_LD_SPAN; i++) {
		uint32_t page = first + i * 4096u;
		/* Supervisor, writable (the monitor marks ring slots done),
		 * pre-accessed and pre-dirtied like every monitor PTE. */
		uint32_t e = page <= last ? page | PTE_P | PTE_RW | PTE_A | PTE_D : 0;
		le32_put(m->host + MON_PT_OFF + (MON_LD_PTE + i) * 4, e);
		le64_put(m->host + MON_PAE_PT_OFF + (MON_LD_PTE + i) * 8, e);
	}
	/* Nothing has looked through these slots before, but a CR3 load on
	 * the way out costs nothing next to the exit that got us here. */
	le32_put(m->host + MON_FLUSH_OFF, 1);
	return (uint16_t)(gpa & 0xFFFu);
}

struct mon_pio_log *monitor_pio_log(struct monitor *m)
{
	return (struct mon_pio_log *)(m->host + MON_PIO_OFF);
}

struct mon_frame *monitor_frame(struct monitor *m)
{
	return (struct mon_frame *)(m->host + MON_DATA_OFF + 4096 - sizeof(struct mon_frame));
}

void monitor_init(struct monitor *m, uint8_t *host)
{
	m->host = host;

	/* The page table behind PDE 1023: our pages, in order, from MON_GVA.
	 * The private tables are the same but for the GDT/TSS page, which
	 * only they map writable. */
	for (unsigned i = 0; i < MON_MAPPED_PAGES; i++) {
		uint32_t flags = PTE_P | PTE_A;
		if (i * 4096 == MON_DATA_OFF)
			flags |= PTE_RW | PTE_D;
		uint32_t priv = i * 4096 == MON_GDT_OFF || i * 4096 == MON_IDT_OFF
					? flags | PTE_RW | PTE_D
					: flags;
		le32_put(host + MON_PT_OFF + i * 4, MON_GPA + i * 4096 + flags);
		le64_put(host + MON_PAE_PT_OFF + i * 8, MON_GPA + i * 4096 + flags);
		le32_put(host + MON_PRIV_PT_OFF + i * 4, MON_GPA + i * 4096 + priv);
		le64_put(host + MON_PRIV_PAE_PT_OFF + i * 8, MON_GPA + i * 4096 + priv);
	}
	/* Each private table maps itself (at its own offset, so VA = MON_GVA +
	 * offset) so the monitor can point its window slots at guest RAM. */
	le32_put(host + MON_PRIV_PT_OFF + (MON_PRIV_PT_OFF >> 12) * 4,
		 MON_GPA + MON_PRIV_PT_OFF + (PTE_P | PTE_RW | PTE_A | PTE_D));
	le64_put(host + MON_PRIV_PAE_PT_OFF + (MON_PRIV_PAE_PT_OFF >> 12) * 8,
		 MON_GPA + MON_PRIV_PAE_PT_OFF +
			 (PTE_P | PTE_RW | PTE_A |
			  PTE_D)); /* The port-write log: writable, like the data page. */
	le32_put(host + MON_PT_OFF + (MON_PIO_OFF >> 12) * 4,
		 MON_GPA + MON_PIO_OFF + (PTE_P | PTE_RW | PTE_A | PTE_D));
	le64_put(host + MON_PAE_PT_OFF + (MON_PIO_OFF >> 12) * 8,
		 MON_GPA + MON_PIO_OFF + (PTE_P | PTE_RW | PTE_A | PTE_D));
	/* The page table itself, read-only (guests may look: hostile2.c). */
	le32_put(host + MON_PT_OFF + (MON_PT_OFF >> 12) * 4,
		 MON_GPA + MON_PT_OFF + (PTE_P | PTE_A));
	le64_put(host + MON_PAE_PT_OFF + (MON_PT_OFF >> 12) * 8,
		 MON_GPA + MON_PT_OFF + (PTE_P | PTE_A));
	le32_put(host + MON_PRIV_PD_OFF + 1023 * 4,
		 MON_GPA + MON_PRIV_PT_OFF + (PTE_P | PTE_RW | PTE_A));
	le64_put(host + MON_PRIV_PAE_PMD_OFF + 510 * 8,
		 MON_GPA + MON_PRIV_PAE_PT_OFF + (PTE_P | PTE_RW | PTE_A));
	/* A PAE directory-pointer entry has no R/W, U/S or A bits: P only. */
	le64_put(host + MON_PRIV_PDPT_OFF + 3 * 8, MON_GPA + MON_PRIV_PAE_PMD_OFF + PTE_P);

	/* Host GDT slots: ring-0 flat code and data (accessed bits preset, as
	 * the GDT page is read-only), and the TSS. */
	le64_put(host + MON_GDT_OFF + GDT_LGUEST_CS * 8, 0x00CF9B000000FFFFull);
	le64_put(host + MON_GDT_OFF + GDT_LGUEST_DS * 8, 0x00CF93000000FFFFull);
	uint32_t tss = MON_GVA + MON_TSS_OFF;
	uint32_t tlo = (tss << 16) | (TSS_SIZE - 1);
	uint32_t thi = (tss & 0xFF000000u) | 0x8900u | ((tss >> 16) & 0xFF);
	le64_put(host + MON_GDT_OFF + GDT_TSS * 8, ((uint64_t)thi << 32) | tlo);
	/* The guest's boot segments (docs/abi.md §2.7): flat DPL-1 code and data. */
	le64_put(host + MON_GDT_OFF + 12 * 8, 0x00CFBB000000FFFFull);
	le64_put(host + MON_GDT_OFF + 13 * 8, 0x00CFB3000000FFFFull);

	/* TSS: ring-0 stack for every entry; no I/O bitmap (offset = size) so
	 * every port access at ring 1 or 3 faults. */
	le32_put(host + MON_TSS_OFF + TSS_ESP0, MON_STACK_TOP);
	le32_put(host + MON_TSS_OFF + TSS_SS0, SEL_LGUEST_DS);
	host[MON_TSS_OFF + TSS_IOMAP] = TSS_SIZE & 0xFF;
	host[MON_TSS_OFF + TSS_IOMAP + 1] = TSS_SIZE >> 8;

	/* Every vector to the monitor; only ring 1 may make hypercalls. */
	for (unsigned v = 0; v < 256; v++)
		monitor_route(m, v, v == 0x1F ? 1 : 0);

	memcpy(host + MON_STUBS_OFF, monitor_stubs_start, monitor_stubs_size);
	memcpy(host + MON_CODE_OFF, monitor_code_start, monitor_code_size);
}
