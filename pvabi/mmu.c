#include "pvabi/mmu.h"

#include <string.h>

#include "kvm-glue/monitor.h"

/* One PAE entry, as 64 bits; false if its table is not in guest memory.
 * An address above 4 GiB cannot be ours (guest RAM is below), so such an
 * entry is as bad as a table outside RAM. */
static bool pae_entry(const struct guestmem *gm, uint64_t at, uint64_t **e)
{
	*e = gm_ptr(gm, at, 8);
	return *e != NULL;
}

static enum mmu_result translate_pae(const struct guestmem *gm, uint32_t pdpt, uint32_t gva,
				     bool io, bool write, uint32_t *gpa)
{
	uint64_t *pdpte, *pmde, *ptee;
	if (!pae_entry(gm, (uint64_t)(pdpt & ~0x1Fu) + (gva >> 30) * 8, &pdpte))
		return MMU_BAD_TABLE;
	uint64_t p = __atomic_load_n(pdpte, __ATOMIC_RELAXED);
	if (!(p & PTE_PRESENT))
		return MMU_NOT_PRESENT;
	if ((p >> 32) || !pae_entry(gm, (p & 0xFFFFF000u) + ((gva >> 21) & 0x1FF) * 8, &pmde))
		return MMU_BAD_TABLE;
	uint64_t d = __atomic_load_n(pmde, __ATOMIC_RELAXED);
	if (!(d & PTE_PRESENT))
		return MMU_NOT_PRESENT;
	/* PAE implies large pages are possible; lguest guests never make them
	 * (they see no PSE), so a PS entry is a table we do not follow. */
	if ((d >> 32) || (d & 0x80) ||
	    !pae_entry(gm, (d & 0xFFFFF000u) + ((gva >> 12) & 0x1FF) * 8, &ptee))
		return MMU_BAD_TABLE;
	uint64_t t = __atomic_load_n(ptee, __ATOMIC_RELAXED);
	if (!(t & PTE_PRESENT))
		return MMU_NOT_PRESENT;
	if (write && !((d & PTE_RW) && (t & PTE_RW)))
		return MMU_READ_ONLY;
	if (t >> 32)
		return MMU_BAD_TABLE;
	uint32_t addr = ((uint32_t)t & ~0xFFFu) | (gva & 0xFFFu);
	if (!io && !gm_ptr(gm, addr, 1))
		return MMU_BAD_TABLE;
	if (!(d & PTE_ACCESSED))
		__atomic_fetch_or(pmde, (uint64_t)PTE_ACCESSED, __ATOMIC_RELAXED);
	uint64_t set = PTE_ACCESSED | (write ? PTE_DIRTY : 0);
	if ((t & set) != set)
		__atomic_fetch_or(ptee, set, __ATOMIC_RELAXED);
	*gpa = addr;
	return MMU_OK;
}

static enum mmu_result translate(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva,
				 bool write, bool io, uint32_t *gpa)
{
	/* The top 4 MiB is the monitor's; the VMM never reaches it through a
	 * guest mapping (the reference host kills a guest that tries). */
	if (gva >= MON_GVA)
		return MMU_HOST_AREA;
	if (pae)
		return translate_pae(gm, pgdir, gva, io, write, gpa);

	uint64_t pde_gpa = (uint64_t)(pgdir & ~0xFFFu) + (gva >> 22) * 4;
	uint32_t *pde = gm_ptr(gm, pde_gpa, 4);
	if (!pde)
		return MMU_BAD_TABLE;
	uint32_t d = __atomic_load_n(pde, __ATOMIC_RELAXED);
	if (!(d & PTE_PRESENT))
		return MMU_NOT_PRESENT;
	/* CR4.PSE is off, so bit 7 of a PDE means nothing: always a table. */
	uint64_t pte_gpa = (uint64_t)(d & ~0xFFFu) + ((gva >> 12) & 0x3FF) * 4;
	uint32_t *pte = gm_ptr(gm, pte_gpa, 4);
	if (!pte)
		return MMU_BAD_TABLE;
	uint32_t t = __atomic_load_n(pte, __ATOMIC_RELAXED);
	if (!(t & PTE_PRESENT))
		return MMU_NOT_PRESENT;
	if (write && !((d & PTE_RW) && (t & PTE_RW)))
		return MMU_READ_ONLY;
	uint32_t addr = (t & ~0xFFFu) | (gva & 0xFFFu);
	if (!io && !gm_ptr(gm, addr, 1))
		return MMU_BAD_TABLE;

	/* What the CPU would have done on this access. */
	if (!(d & PTE_ACCESSED))
		__atomic_fetch_or(pde, PTE_ACCESSED, __ATOMIC_RELAXED);
	uint32_t set = PTE_ACCESSED | (write ? PTE_DIRTY : 0);
	if ((t & set) != set)
		__atomic_fetch_or(pte, set, __ATOMIC_RELAXED);
	*gpa = addr;
	return MMU_OK;
}

enum mmu_result mmu_translate(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva,
			      bool write, uint32_t *gpa)
{
	return translate(gm, pgdir, pae, gva, write, false, gpa);
}

enum mmu_result mmu_translate_io(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva,
				 bool write, uint32_t *gpa)
{
	return translate(gm, pgdir, pae, gva, write, true, gpa);
}

static bool copy(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva, uint8_t *buf,
		 uint32_t len, bool write)
{
	while (len) {
		uint32_t chunk = 4096 - (gva & 0xFFF);
		if (chunk > len)
			chunk = len;
		uint32_t gpa;
		if (mmu_translate(gm, pgdir, pae, gva, write, &gpa) != MMU_OK)
			return false;
		uint8_t *p = gm_ptr(gm, gpa, chunk);
		if (!p)
			return false;
		if (write)
			memcpy(p, buf, chunk);
		else
			memcpy(buf, p, chunk);
		gva += chunk;
		buf += chunk;
		len -= chunk;
		if (len && gva == 0) /* wrapped past 4 GiB */
			return false;
	}
	return true;
}

bool mmu_read(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva, void *dst,
	      uint32_t len)
{
	return copy(gm, pgdir, pae, gva, dst, len, false);
}

bool mmu_write(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva, const void *src,
	       uint32_t len)
{
	return copy(gm, pgdir, pae, gva, (uint8_t *)(uintptr_t)src, len, true);
}
