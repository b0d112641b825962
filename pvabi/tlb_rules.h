/* The page-table hypercalls' rules, once, for both sides of the line.
 *
 * The hardware walks the guest's own tables, so SET_PTE, SET_PMD, SET_PGD and
 * FLUSH_TLB mean only "a translation went stale" (pvabi/pgtable.c).  Most of
 * them are answered by a TLB flush, which the monitor can do alone inside the
 * VM; a few touch the monitor's own slot or are wrong, and those need the
 * VMM.  The monitor (kvm-glue/monitor/fast.c, built for i386) and the VMM
 * (pvabi/pgtable.c) both decide with these functions, so the rule cannot
 * drift between them: when the monitor says TLB_HOST it exits, and the VMM,
 * asking the same question, takes its slow path.
 *
 * Pure functions of their arguments: no guest memory, no state. */
#ifndef LGKVM_TLB_RULES_H
#define LGKVM_TLB_RULES_H

#include <stdint.h>

#include "kvm-glue/monitor.h"

enum tlb_verdict {
	TLB_NOTHING, /* not the directory we run on: nothing cached can be stale */
	TLB_FLUSH,   /* reload CR3 on the way out */
	TLB_HOST,    /* the monitor's slot, or a bad argument: the VMM decides */
};

#define TLB_PDE_MONITOR	 1023u /* non-PAE: the directory slot over MON_GVA */
#define TLB_PDPTE_KERNEL 3u    /* PAE: the directory-pointer entry over it */
#define TLB_PMD_MONITOR	 510u  /* PAE: the first of its two PMD entries */

/* SET_PTE(pgdir, va): a kernel address is in every directory. */
static inline enum tlb_verdict tlb_set_pte(uint32_t cur, uint32_t kernel_address, uint32_t pgdir,
					   uint32_t va)
{
	if (va >= MON_GVA)
		return TLB_HOST; /* "attempt to access switcher pages" */
	return pgdir == cur || va >= kernel_address ? TLB_FLUSH : TLB_NOTHING;
}

/* SET_PMD(page, idx) without PAE: a directory entry. */
static inline enum tlb_verdict tlb_set_pmd(uint32_t cur, uint32_t page, uint32_t idx)
{
	if (idx >= TLB_PDE_MONITOR)
		return TLB_HOST; /* the monitor's slot: re-asserted by the VMM */
	return (page & ~0xFFFu) == cur ? TLB_FLUSH : TLB_NOTHING;
}

/* SET_PGD(pdpt, idx) with PAE: a directory-pointer entry.  A new kernel PMD
 * must get the monitor again. */
static inline enum tlb_verdict tlb_set_pgd_pae(uint32_t cur, uint32_t page, uint32_t idx)
{
	if ((page & ~0x1Fu) != (cur & ~0x1Fu))
		return TLB_NOTHING;
	return idx == TLB_PDPTE_KERNEL ? TLB_HOST : TLB_FLUSH;
}

/* SET_PMD(pmd, idx) with PAE: the two entries over the monitor stay ours,
 * and an index past the page is a kill. */
static inline enum tlb_verdict tlb_set_pmd_pae(uint32_t idx)
{
	return idx >= TLB_PMD_MONITOR ? TLB_HOST : TLB_FLUSH;
}

#endif
