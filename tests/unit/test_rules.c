/* The rules the VMM and the monitor's fast path both apply (pvabi/tlb, desc, pio and irq_rules.h,
 * docs/DESIGN.md §2.9): compiled here for the host, as the VMM uses them.
 * The monitor's copy is the same source built for i386; the conformance
 * guests check it on real KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pvabi/desc_rules.h"
#include "pvabi/irq_rules.h"
#include "pvabi/pio_rules.h"
#include "pvabi/tlb_rules.h"

#define PGDIR 0x3FFF000u
#define KADDR 0xC0000000u

static void test_tlb(void **state)
{
	(void)state;
	/* SET_PTE: our directory or a kernel address flushes; the monitor's
	 * 4 MiB is the VMM's to refuse. */
	assert_int_equal(tlb_set_pte(PGDIR, KADDR, PGDIR, 0x1000), TLB_FLUSH);
	assert_int_equal(tlb_set_pte(PGDIR, KADDR, 0x5000, 0x1000), TLB_NOTHING);
	assert_int_equal(tlb_set_pte(PGDIR, KADDR, 0x5000, KADDR + 0x1000), TLB_FLUSH);
	assert_int_equal(tlb_set_pte(PGDIR, KADDR, PGDIR, MON_GVA), TLB_HOST);
	assert_int_equal(tlb_set_pte(PGDIR, KADDR, PGDIR, 0xFFFFFFFFu), TLB_HOST);
	/* SET_PMD: the page, not the entry's address, is compared. */
	assert_int_equal(tlb_set_pmd(PGDIR, PGDIR + 0x10, 5), TLB_FLUSH);
	assert_int_equal(tlb_set_pmd(PGDIR, 0x5000, 5), TLB_NOTHING);
	assert_int_equal(tlb_set_pmd(PGDIR, PGDIR, 1023), TLB_HOST);
	assert_int_equal(tlb_set_pmd(PGDIR, PGDIR, 0xFFFFFFFFu), TLB_HOST);
	/* PAE: a new kernel PMD needs the monitor again; PMD entries 510+ are
	 * the monitor's (or past the page). */
	assert_int_equal(tlb_set_pgd_pae(0x1000, 0x1000, 0), TLB_FLUSH);
	assert_int_equal(tlb_set_pgd_pae(0x1000, 0x1000, 3), TLB_HOST);
	assert_int_equal(tlb_set_pgd_pae(0x1000, 0x2000, 3), TLB_NOTHING);
	assert_int_equal(tlb_set_pmd_pae(509), TLB_FLUSH);
	assert_int_equal(tlb_set_pmd_pae(510), TLB_HOST);
	assert_int_equal(tlb_set_pmd_pae(4096), TLB_HOST);
}

static void test_desc_fixup(void **state)
{
	(void)state;
	/* DPL 0 becomes 1, accessed is preset, DPL 3 stays. */
	assert_true(desc_fixup(0x00CF9A000000FFFFull) == 0x00CFBB000000FFFFull);
	assert_true(desc_fixup(0x00CFF2000000FFFFull) == 0x00CFF3000000FFFFull);
	/* A system descriptor (a call gate to ring 0) is not present. */
	uint64_t gate = desc_fixup(0x0000EC0000500000ull);
	assert_false((gate >> 32) & 0x8000);
	/* Idempotent: LOAD_GDT re-applies it to what it keeps. */
	for (uint64_t d = 0x0000000000000000ull; d < 0x0001000000000000ull;
	     d += 0x0000010000000000ull)
		assert_true(desc_fixup(desc_fixup(d << 8)) == desc_fixup(d << 8));
	assert_true(desc_host_slot(10) && desc_host_slot(11) && desc_host_slot(16) &&
		    desc_host_slot(31));
	assert_false(desc_host_slot(6) || desc_host_slot(12));
	assert_true(stack_args_ok(0x69, 2));
	assert_false(stack_args_ok(0x68, 1));
	assert_false(stack_args_ok(0x69, 3));
}

static void test_idt(void **state)
{
	(void)state;
	uint32_t lo = 0, hi = 0;
	/* Host vectors are ignored before anything else is looked at. */
	assert_int_equal(idt_guest_gate(2, 0, 0xFFFFFFFFu, &lo, &hi), IDT_IGNORE);
	assert_int_equal(idt_guest_gate(31, 0, 0x8E00, &lo, &hi), IDT_IGNORE);
	assert_int_equal(idt_guest_gate(256, 0, 0x8E00, &lo, &hi), IDT_BAD_VECTOR);
	assert_int_equal(idt_guest_gate(40, 0, 0x8500, &lo, &hi), IDT_BAD_TYPE);
	/* Not present: "no handler". */
	lo = hi = 1;
	assert_int_equal(idt_guest_gate(40, 0x12345678, 0x0E00, &lo, &hi), IDT_SET);
	assert_true(lo == 0 && hi == 0);
	/* Present: the kernel's selector, bit 12 and the low byte cleared. */
	assert_int_equal(idt_guest_gate(0x80, 0x00501234, 0xC010FFFFu, &lo, &hi), IDT_SET);
	assert_int_equal(lo, (SEL_KERNEL_CS << 16) | 0x1234);
	assert_int_equal(hi, 0xC010EF00u);
	/* Direct: trap gates of the harmless exceptions and the system call. */
	assert_true(idt_direct(0x80, 0x8F00, false));
	assert_true(idt_direct(3, 0xEF00, false));
	assert_false(idt_direct(3, 0xEE00, false)); /* an interrupt gate */
	assert_false(idt_direct(14, 0x8F00, false));
	assert_false(idt_direct(6, 0x8F00, true)); /* vmcall era: #UD to us */
	assert_true(idt_direct(6, 0x8F00, false));
	assert_false(idt_direct(40, 0x8F00, false));
	/* The real entry: direct is the guest's gate; routed goes to the stub
	 * with the gate's DPL, except the hypercall, the kick and IRQs. */
	uint64_t e = idt_real_entry(0x80, lo, 0xC010EF00u, false);
	assert_true(e == ((uint64_t)0xC010EF00u << 32 | lo));
	e = idt_real_entry(3, 0, 0xC010EE00u, false);
	assert_true(((e >> 45) & 3) == 3 && ((e >> 16) & 0xFFFF) == SEL_LGUEST_CS);
	assert_true((uint16_t)e == (uint16_t)(MON_GVA + MON_STUBS_OFF + 3 * 16));
	assert_true(((idt_real_entry(0x1F, 0, 0, false) >> 45) & 3) == 1);
	assert_true(((idt_real_entry(40, 0, 0xC010EE00u, false) >> 45) & 3) == 0);
	assert_true(((idt_real_entry(MON_KICK_VECTOR, 0, 0xC010EE00u, false) >> 45) & 3) == 0);
	assert_true(((idt_real_entry(MON_TIMER_VECTOR, 0, 0xC010EE00u, false) >> 45) & 3) == 0);
}

static void test_pio(void **state)
{
	(void)state;
	struct pio_insn p;
	static const uint8_t out_dx_b[] = {0xEE}, out_dx_w[] = {0x66, 0xEF},
			     in_imm[] = {0xE5, 0x42}, nop[] = {0x90};
	assert_int_equal(pio_decode(out_dx_b, 0, &p), -1);
	assert_int_equal(pio_decode(out_dx_b, 1, &p), 1);
	assert_true(p.out && p.size == 1 && p.len == 1 && p.port == PIO_PORT_DX);
	assert_int_equal(pio_decode(out_dx_w, 1, &p), -1); /* the prefix alone */
	assert_int_equal(pio_decode(out_dx_w, 2, &p), 1);
	assert_true(p.out && p.size == 2 && p.len == 2);
	assert_int_equal(pio_decode(in_imm, 1, &p), -1); /* needs its port byte */
	assert_int_equal(pio_decode(in_imm, 2, &p), 1);
	assert_true(!p.out && p.size == 4 && p.len == 2 && p.port == 0x42);
	assert_int_equal(pio_decode(nop, 1, &p), 0);
	assert_int_equal(pio_mask(1), 0xFF);
	assert_int_equal(pio_mask(2), 0xFFFF);
	assert_int_equal(pio_mask(4), 0xFFFFFFFFu);
}

static void test_irq(void **state)
{
	(void)state;
	int irq = -1;
	assert_int_equal(irq_pick(0, false, false, EFLAGS_IF, &irq), IRQ_NONE);
	assert_int_equal(irq_pick(0x6, true, false, EFLAGS_IF, &irq), IRQ_NOT_HERE);
	assert_int_equal(irq_pick(0x6, false, false, 0, &irq), IRQ_DISABLED);
	/* Bit 9, not "non-zero". */
	assert_int_equal(irq_pick(0x6, false, false, 0x1, &irq), IRQ_DISABLED);
	/* A halted guest takes it anyway; the lowest goes first. */
	assert_int_equal(irq_pick(0x6, false, true, 0, &irq), IRQ_GO);
	assert_int_equal(irq, 1);
	assert_true(irq_pending_note(IRQ_DISABLED) == 0x200 && irq_pending_note(IRQ_NONE) == 0 &&
		    irq_pending_note(IRQ_GO) < 0 && irq_pending_note(IRQ_NOT_HERE) < 0);
	assert_int_equal(deliver_eflags(0x246, EFLAGS_IF), 0x246);
	assert_int_equal(deliver_eflags(0x246, 0), 0x046);
	struct mon_frame f = {.eip = 1, .cs = 0x73, .eflags = 0x14346, .esp = 2, .ss = 0x7B};
	assert_true(deliver_frame(&f, 0x00615678, 0xC0128E00u, 0x1000, 0x69));
	assert_int_equal(f.eip, 0xC0125678u);
	assert_int_equal(f.cs, SEL_KERNEL_CS);
	assert_int_equal(f.eflags, 0x246); /* TF, NT, RF cleared */
	assert_true(f.esp == 0x1000 && f.ss == 0x69);
	assert_false(deliver_frame(&f, 0, 0xC0128F00u, 0, 0x69)); /* a trap gate */
	assert_int_equal(desc_base(0x12CF93345678FFFFull), 0x12345678u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlb), cmocka_unit_test(test_desc_fixup),
		cmocka_unit_test(test_idt), cmocka_unit_test(test_pio),
		cmocka_unit_test(test_irq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
