/* Our own two-level page tables (§7), for the guests that switch away from
 * the boot tables.  Everything is identity mapped so that the addresses we
 * hand the host (page directory GPAs) are simply our pointers. */
#include "guest.h"

uint32_t pt_dir[1024] __attribute__((aligned(4096)));
uint32_t pt_low[1024] __attribute__((aligned(4096)));

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
