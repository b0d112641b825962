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

/* SET_STACK(ss, esp, pages): an RPL-1 segment and at most two pages.  The
 * pages themselves must be mapped and writable (checked by whoever applies
 * the call, each its own way: the VMM walks the tables, the monitor probes). */
#define STACK_MAX_PAGES 2
static inline bool stack_args_ok(uint32_t ss, uint32_t pages)
{
	return (ss & 3) == 1 && pages <= STACK_MAX_PAGES;
}

#endif
