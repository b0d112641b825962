/* Page tables: the hypercalls that stand in for `mov %cr3` and `invlpg`, and
 * the mappings each generation expects to find when it starts
 * (docs/abi.md §7 and §H1.4).
 *
 * The hardware walks the guest's own tables (nested paging or KVM's shadow
 * MMU), so unlike the reference host we keep no shadow of our own: a SET_PTE
 * or SET_PMD is only news that a translation went stale, and the answer is a
 * TLB flush done by the monitor on its way back to the guest.  What we must
 * still do ourselves is keep the monitor mapped in every directory the guest
 * runs on, and hand each generation the boot mappings its lguest_entry
 * assumes. */
#include "pvabi/internal.h"
#include "pvabi/mmu.h"
#include "pvabi/tlb_rules.h"
#include "src/log.h"
#include "src/vm.h"

#define PDE_MONITOR TLB_PDE_MONITOR /* the slot that maps MON_GVA: the top 4 MiB */
/* PAE (2.6.31+): MON_GVA is entry 510 of the PMD behind PDPT entry 3.  The
 * guest keeps the top 4 MiB free (reserve_mem), so entries 510 and 511. */
#define PDPTE_KERNEL TLB_PDPTE_KERNEL
#define PMD_MONITOR  TLB_PMD_MONITOR

/* Put the monitor into the PAE tables at `pdpt`: entry 510 of the kernel
 * PMD.  Linux shares that PMD between all its page directories, so this
 * mostly rewrites what is already there. */
static bool pae_install_monitor(struct vm *vm, uint32_t pdpt)
{
	uint64_t e;
	if ((pdpt & 0x1F) || !gm_read(&vm->mem, (uint64_t)pdpt + PDPTE_KERNEL * 8, &e, 8) ||
	    !(e & PTE_PRESENT) || (e >> 32))
		return false;
	uint64_t v = monitor_pae_pmd();
	return gm_write(&vm->mem, (e & 0xFFFFF000u) + PMD_MONITOR * 8, &v, 8);
}

void lg_flush_tlb(struct vm *vm)
{
	monitor_load_cr3(&vm->kvm.mon, vm->lg.pgdir);
}

/* LHCALL_NEW_PGTABLE: the guest's `mov %cr3`.  Every directory the guest
 * runs on must carry the monitor in its top slot: write it now, as the
 * reference host forced slot 1023 of its shadow.  The guest reserved that
 * slot (reserve_mem); it never looks. */
void lg_new_pgtable(struct vm *vm, uint32_t pgdir)
{
	/* PAE: `cr3` is a 32-byte aligned directory-pointer table whose last
	 * entry must lead to a PMD we can put the monitor in. */
	if (vm->lg.pae) {
		if (!pae_install_monitor(vm, pgdir)) {
			guest_kill(vm, "bad PAE page directory %#x", pgdir);
			return;
		}
		vm->lg.pgdir = pgdir;
		lg_flush_tlb(vm);
		return;
	}
	if ((pgdir & 0xFFF) ||
	    !gm_write32(&vm->mem, (uint64_t)pgdir + PDE_MONITOR * 4, monitor_pde())) {
		guest_kill(vm, "bad page directory %#x", pgdir);
		return;
	}
	vm->lg.pgdir = pgdir;
	lg_flush_tlb(vm);
}

/* LHCALL_SET_PTE(pgdir, va, pte_lo[, pte_hi]): the guest already wrote the
 * entry; `va` says which translation went stale.  The verdicts are
 * pvabi/tlb_rules.h's, shared with the monitor, which answers the common
 * cases inside the VM and exits only for TLB_HOST. */
void lg_set_pte(struct vm *vm, uint32_t pgdir, uint32_t va)
{
	struct lguest *lg = &vm->lg;

	switch (tlb_set_pte(lg->pgdir, lg->kernel_address, pgdir, va)) {
	case TLB_HOST:
		guest_kill(vm, "attempt to access switcher pages (SET_PTE %#x)", va);
		return;
	case TLB_FLUSH:
		lg_flush_tlb(vm);
		return;
	case TLB_NOTHING:
		return;
	}
}

/* LHCALL_SET_PMD (SET_PGD from 2.6.31; same wire format without PAE):
 * (directory page, index).  The monitor's slot is not the guest's to change;
 * re-assert it in case the guest wrote over it, then flush. */
void lg_set_pmd(struct vm *vm, uint32_t page, uint32_t idx)
{
	struct lguest *lg = &vm->lg;

	/* With PAE this is SET_PGD: (PDPT & ~0x1F, index 0-3).  A new kernel
	 * PMD needs the monitor again; any change reloads the PDPTEs. */
	if (lg->pae) {
		enum tlb_verdict v = tlb_set_pgd_pae(lg->pgdir, page, idx);
		if (v == TLB_HOST && !pae_install_monitor(vm, lg->pgdir)) {
			guest_kill(vm, "bad PAE page directory %#x", lg->pgdir);
			return;
		}
		if (v != TLB_NOTHING)
			lg_flush_tlb(vm);
		return;
	}

	switch (tlb_set_pmd(lg->pgdir, page, idx)) {
	case TLB_HOST:
		if (idx == PDE_MONITOR && (page & ~0xFFFu) == lg->pgdir)
			gm_write32(&vm->mem, (uint64_t)lg->pgdir + PDE_MONITOR * 4, monitor_pde());
		return;
	case TLB_FLUSH:
		lg_flush_tlb(vm);
		return;
	case TLB_NOTHING:
		return;
	}
}

/* LHCALL_SET_PMD of a PAE guest (13): (PMD page, index 0-511).  The two
 * entries over the monitor stay ours. */
void lg_set_pmd_pae(struct vm *vm, uint32_t pmd, uint32_t idx)
{
	struct lguest *lg = &vm->lg;
	uint64_t e;

	if (tlb_set_pmd_pae(idx) == TLB_HOST) {
		if (idx >= 512) {
			guest_kill(vm, "bad PMD index %u", idx);
			return;
		}
		if (gm_read(&vm->mem, (uint64_t)lg->pgdir + PDPTE_KERNEL * 8, &e, 8) &&
		    (e & 0xFFFFF000u) == (pmd & ~0xFFFu))
			pae_install_monitor(vm, lg->pgdir);
	}
	lg_flush_tlb(vm);
}

/* What the guest's lguest_entry assumes is mapped when LGUEST_INIT returns.
 *
 * 2.6.24-2.6.28 copy PDEs 0-31 up to PAGE_OFFSET themselves; 3.1+ switch to
 * their own tables at once.  2.6.29-3.0 expect the host to have mapped RAM at
 * PAGE_OFFSET too: the instruction after LGUEST_INIT loads a stack pointer
 * above PAGE_OFFSET.  We learn PAGE_OFFSET from lguest_data.kernel_address
 * just now, so we add that alias to the boot directory here, before the guest
 * runs another instruction: slot PAGE_OFFSET/4M + i gets the page table of
 * slot i, for every RAM slot that fits below the monitor. */
void lg_boot_paging_at_init(struct vm *vm)
{
	struct lguest *lg = &vm->lg;

	if (lg->abi->paging != PAGING_HOST_PREMAP)
		return;
	if (lg->pae) {
		/* The same, 2 MiB at a time: boot_load_paging() made four PMD
		 * pages, back to back, so "PMD entry n" spans all of them. */
		uint64_t e;
		if (!gm_read(&vm->mem, lg->boot_pgdir, &e, 8) || !(e & PTE_PRESENT)) {
			guest_kill(vm, "bad PAE page directory %#x", lg->boot_pgdir);
			return;
		}
		uint64_t pmds = e & 0xFFFFF000u, pde;
		unsigned base2 = lg->kernel_address >> 21;
		for (unsigned i = 0; base2 + i < 4 * 512 - 2; i++) {
			if (!gm_read(&vm->mem, pmds + i * 8, &pde, 8) || !(pde & PTE_PRESENT))
				break;
			if (!gm_write(&vm->mem, pmds + (base2 + i) * 8, &pde, 8)) {
				guest_kill(vm, "bad PAE page directory %#x", lg->boot_pgdir);
				return;
			}
		}
		lg_flush_tlb(vm);
		return;
	}
	unsigned base = lg->kernel_address >> 22;
	for (unsigned i = 0; base + i < PDE_MONITOR; i++) {
		uint32_t pde;
		if (!gm_read32(&vm->mem, (uint64_t)lg->boot_pgdir + i * 4, &pde) ||
		    !(pde & PTE_PRESENT))
			break;
		if (!gm_write32(&vm->mem, (uint64_t)lg->boot_pgdir + (base + i) * 4, pde)) {
			guest_kill(vm, "bad page directory %#x", lg->boot_pgdir);
			return;
		}
	}
	lg_flush_tlb(vm);
}
