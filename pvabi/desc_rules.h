/* The descriptor and stack rules, once, for both sides of the line.
 *
 * Guest descriptors pass through desc_fixup() on their way into the GDT the
 * CPU uses, whether the VMM installs them (pvabi/desc.c: LOAD_GDT,
 * LOAD_GDT_ENTRY, LOAD_TLS from the VMM) or the monitor does (LOAD_TLS inside
 * the VM, kvm-glue/monitor/fast.c); SET_STACK's arguments pass
 * stack_args_ok() on both sides.  Pure functions: no guest memory, no state. */
#ifndef LGKVM_DESC_RULES_H
#define LGKVM_DESC_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm-glue/monitor.h"

/* The GDT slots that are the host's, never the guest's (docs/abi.md §6.1). */
static inline bool desc_host_slot(unsigned i)
{
	return i == GDT_LGUEST_CS || i == GDT_LGUEST_DS || i == GDT_TSS || i == GDT_DOUBLEFAULT_TSS;
}

/* The guest's descriptors say DPL 0, which it cannot load at ring 1, so DPL 0
 * becomes 1; and the CPU must never need to set an accessed bit itself (the
 * guest's mappings of the GDT are read-only).  Applied blindly, as the
 * reference host does.
 *
 * One rule the reference lacked (found by tests/fuzz/fuzz_hcall.c): system
 * descriptors (S bit clear) become not-present.  A TSS descriptor keeps its
 * type through the fix-ups (and a 16-bit call gate becomes a task gate), and
 * a far jump through either is a task switch that loads CS from a TSS the
 * guest wrote: CS 0x50, and the guest runs its own code at ring 0.  Linux
 * 2.6.24 has no system descriptors outside the host's slots (its TSS is slot
 * 16, its LDT is never written: lguest_set_ldt does nothing). */
static inline uint64_t desc_fixup(uint64_t d)
{
	uint32_t hi = (uint32_t)(d >> 32);
	if ((hi & 0x6000) == 0)
		hi |= 0x2000;
	hi |= 0x100;
	if (!(hi & 0x1000))
		hi &= ~0x8000u;
	return ((uint64_t)hi << 32) | (uint32_t)d;
}

/* The TLS slots LOAD_TLS fills (GDT_ENTRY_TLS_MIN..MAX). */
#define DESC_TLS_FIRST 6
#define DESC_TLS_COUNT 3

/*
 * Gates.  LOAD_IDT_ENTRY(vec, lo, hi) files the guest's gate (idt_guest_gate)
 * and makes the real IDT entry for the vector follow it (idt_real_entry).
 */
#define DESC_GDT_ENTRIES 32
#define DESC_IDT_ENTRIES 256
#define DESC_IRQ_FIRST	 32
#define DESC_IRQS	 32

enum idt_verdict { IDT_IGNORE, IDT_SET, IDT_BAD_VECTOR, IDT_BAD_TYPE };

/* The lguest IRQ vectors (32 + IRQ): never software-callable (DPL 0), so
 * one that reaches the host from the guest is an interrupt, not an `int`. */
static inline bool idt_irq_vector(unsigned vec)
{
	return vec >= DESC_IRQ_FIRST && vec < DESC_IRQ_FIRST + DESC_IRQS;
}

/* NMI, double fault, the reserved vector 15 and the hypercall are the
 * host's: silently ignored, before any other check.  A present gate must be
 * an interrupt or trap gate; it gets the guest's kernel code selector, keeps
 * offset, P, DPL and type, and loses bit 12 and the reserved low byte.  A
 * gate that is not present means "no handler": 0/0. */
static inline enum idt_verdict idt_guest_gate(uint32_t vec, uint32_t lo, uint32_t hi, uint32_t *glo,
					      uint32_t *ghi)
{
	if (vec == 2 || vec == 8 || vec == 15 || vec == 31)
		return IDT_IGNORE;
	if (vec >= DESC_IDT_ENTRIES)
		return IDT_BAD_VECTOR;
	if (!(hi & 0x8000)) {
		*glo = *ghi = 0;
		return IDT_SET;
	}
	unsigned type = (hi >> 8) & 0xF;
	if (type != 0xE && type != 0xF)
		return IDT_BAD_TYPE;
	*glo = (SEL_KERNEL_CS << 16) | (lo & 0xFFFF);
	*ghi = hi & 0xFFFFEF00u;
	return IDT_SET;
}

/* Direct delivery (docs/abi.md §5.3): the CPU may take the vector straight
 * into the guest, without the monitor, only for trap gates of exceptions the
 * host never needs to see first, and for the system call.  #UD of a guest
 * that may still hold a `vmcall` we did not rewrite comes to the host first
 * (pvabi/vmcall.c). */
static inline bool idt_direct(unsigned vec, uint32_t ghi, bool vmcall)
{
	if (!(ghi & 0x8000) || ((ghi >> 8) & 0xF) != 0xF)
		return false;
	if (vec == 0x80)
		return true;
	if (vec == 6 && vmcall)
		return false;
	return vec < 32 && vec != 2 && vec != 7 && vec != 8 && vec != 13 && vec != 14 &&
	       vec != 15 && vec != 31;
}

/* The real IDT entry for `vec`: the guest's own gate when direct, else an
 * interrupt gate to the monitor's stub (so the monitor runs with IF clear).
 * A routed vector honours the guest gate's privilege, so a user-mode `int3`
 * (DPL 3) arrives as #BP, not #GP as under the reference host; but 0x1F is
 * the hypercall (ring 1 only), the kick and timer vectors are the monitor's
 * alone and IRQ vectors are never software-callable. */
static inline uint64_t idt_real_entry(unsigned vec, uint32_t glo, uint32_t ghi, bool vmcall)
{
	vec &= 0xFF;
	if (idt_direct(vec, ghi, vmcall))
		return ((uint64_t)ghi << 32) | glo;
	unsigned dpl = 0;
	if (vec == 0x1F)
		dpl = 1;
	else if ((ghi & 0x8000) && !MON_HOST_VECTOR(vec) && !idt_irq_vector(vec))
		dpl = (ghi >> 13) & 3;
	return mon_gate(MON_GVA + MON_STUBS_OFF + vec * 16, SEL_LGUEST_CS, 0xE, dpl);
}

/* SET_STACK(ss, esp, pages): an RPL-1 segment and at most two pages.  The
 * pages themselves must be mapped and writable (checked by whoever applies
 * the call, each its own way: the VMM walks the tables, the monitor probes). */
#define STACK_MAX_PAGES 2
static inline bool stack_args_ok(uint32_t ss, uint32_t pages)
{
	return (ss & 3) == 1 && pages <= STACK_MAX_PAGES;
}

#endif
