/* Our own two-level page tables (§7), for the guests that switch away from
 * the boot tables.  Everything is identity mapped so that the addresses we
 * hand the host (page directory GPAs) are simply our pointers. */
#include "guest.h"

uint32_t pt_dir[1024] __attribute__((aligned(4096)));
uint32_t pt_low[1024] __attribute__((aligned(4096)));

#ifdef LGUEST_PAE
/* The PAE form (2.6.31+ guests built with CONFIG_X86_PAE, docs/abi.md §H1.5):
 * pt_dir holds the four 8-byte directory-pointer entries, each leading to
 * one of four PMD pages; a page table maps 2 MiB, so the first 4 MiB take
 * pt_low and pt_low2.  The API is the same; a PTE is handed out as a pointer
 * to its low word (the high word stays 0: no NX, nothing above 4 GiB). */
static uint64_t pmds[4][512] __attribute__((aligned(4096)));
static uint64_t pt_low2[512] __attribute__((aligned(4096)));
#define POOL_PAGES 6
static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pool_used;

void pt_build_identity(void)
{
	uint64_t *pdpt = (uint64_t *)pt_dir, *low = (uint64_t *)pt_low;
	memset(pt_dir, 0, sizeof(pt_dir));
	memset(pmds, 0, sizeof(pmds));
	for (uint32_t i = 0; i < 512; i++) {
		low[i] = (i * PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
		pt_low2[i] = (0x200000 + i * PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
	}
	pmds[0][0] = (uint32_t)low | PTE_P | PTE_W | PTE_U;
	pmds[0][1] = (uint32_t)pt_low2 | PTE_P | PTE_W | PTE_U;
	for (unsigned i = 0; i < 4; i++)
		pdpt[i] = (uint32_t)pmds[i] | PTE_P; /* a PDPTE has no other flags */
}

void pt_activate(uint32_t *dir)
{
	hcall(LHCALL_NEW_PGTABLE, (uint32_t)dir, 0, 0);
}

uint32_t *pt_pte(uint32_t *dir, uint32_t va)
{
	uint64_t pdpte = ((uint64_t *)dir)[va >> 30];
	if (!(pdpte & PTE_P))
		return 0;
	uint64_t pmd = ((uint64_t *)(uint32_t)(pdpte & ~0xFFFull))[(va >> 21) & 511];
	if (!(pmd & PTE_P))
		return 0;
	return (uint32_t *)((uint64_t *)(uint32_t)(pmd & ~0xFFFull) + ((va >> 12) & 511));
}

void pt_map(uint32_t *dir, uint32_t va, uint32_t gpa, uint32_t flags)
{
	uint32_t *pte = pt_pte(dir, va);

	if (!pte) {
		if (pool_used == POOL_PAGES)
			fail("pt_map: out of page-table pages");
		uint64_t *pt = pool[pool_used++];
		memset(pt, 0, PAGE_SIZE);
		uint64_t *pmd = (uint64_t *)(uint32_t)(((uint64_t *)dir)[va >> 30] & ~0xFFFull);
		pmd[(va >> 21) & 511] = (uint32_t)pt | PTE_P | PTE_W | PTE_U;
		/* PAE's SET_PMD: (PMD page, index). */
		hcall(LHCALL_SET_PMD_PAE, (uint32_t)pmd, (va >> 21) & 511, 0);
		pte = pt_pte(dir, va);
	}
	pte[1] = 0;
	pte[0] = (gpa & ~0xFFFu) | flags;
	hcall4(LHCALL_SET_PTE, (uint32_t)dir, va, pte[0], pte[1]);
}
#else

#define POOL_PAGES 6
static uint32_t pool[POOL_PAGES][1024] __attribute__((aligned(4096)));
static unsigned pool_used;

void pt_build_identity(void)
{
	memset(pt_dir, 0, sizeof(pt_dir));
	for (uint32_t i = 0; i < 1024; i++)
		pt_low[i] = (i * PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
	pt_dir[0] = (uint32_t)pt_low | PTE_P | PTE_W | PTE_U;
}

void pt_activate(uint32_t *dir)
{
	hcall(LHCALL_NEW_PGTABLE, (uint32_t)dir, 0, 0);
}

uint32_t *pt_pte(uint32_t *dir, uint32_t va)
{
	uint32_t pde = dir[va >> 22];
	if (!(pde & PTE_P))
		return 0;
	return (uint32_t *)(pde & ~0xFFFu) + ((va >> 12) & 1023);
}

void pt_map(uint32_t *dir, uint32_t va, uint32_t gpa, uint32_t flags)
{
	uint32_t *pte = pt_pte(dir, va);

	if (!pte) {
		if (pool_used == POOL_PAGES)
			fail("pt_map: out of page-table pages");
		uint32_t *pt = pool[pool_used++];
		memset(pt, 0, PAGE_SIZE);
		dir[va >> 22] = (uint32_t)pt | PTE_P | PTE_W | PTE_U;
		/* A new PDE needs no flush on x86, but Linux's set_pmd always
		 * tells the host; so do we. */
		hcall(LHCALL_SET_PMD, (uint32_t)dir, va >> 22, 0);
		pte = pt_pte(dir, va);
	}
	*pte = (gpa & ~0xFFFu) | flags;
	hcall(LHCALL_SET_PTE, (uint32_t)dir, va, *pte);
}
#endif
