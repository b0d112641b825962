#include "pvabi/mmu.h"

#include <string.h>

#include "kvm-glue/monitor.h"

enum mmu_result mmu_translate(const struct guestmem *gm, uint32_t pgdir, uint32_t gva, bool write,
			      uint32_t *gpa)
{
	/* The top 4 MiB is the monitor's; the VMM never reaches it through a
	 * guest mapping (the reference host kills a guest that tries). */
	if (gva >= MON_GVA)
		return MMU_HOST_AREA;

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
	if (!gm_ptr(gm, addr, 1))
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

static bool copy(const struct guestmem *gm, uint32_t pgdir, uint32_t gva, uint8_t *buf,
		 uint32_t len, bool write)
{
	while (len) {
		uint32_t chunk = 4096 - (gva & 0xFFF);
		if (chunk > len)
			chunk = len;
		uint32_t gpa;
		if (mmu_translate(gm, pgdir, gva, write, &gpa) != MMU_OK)
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

bool mmu_read(const struct guestmem *gm, uint32_t pgdir, uint32_t gva, void *dst, uint32_t len)
{
	return copy(gm, pgdir, gva, dst, len, false);
}

bool mmu_write(const struct guestmem *gm, uint32_t pgdir, uint32_t gva, const void *src,
	       uint32_t len)
{
	return copy(gm, pgdir, gva, (uint8_t *)(uintptr_t)src, len, true);
}
