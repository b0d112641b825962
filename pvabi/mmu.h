/* Guest virtual addresses, resolved by walking the guest's own page tables.
 *
 * The hardware uses the guest's tables directly (NPT/EPT or KVM's shadow
 * MMU), so the VMM only walks them when it must touch guest memory by virtual
 * address: pushing a trap frame, reading an instruction to emulate, checking
 * a SET_STACK page.  Every step goes through the guest-memory accessor. */
#ifndef LGKVM_MMU_H
#define LGKVM_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "pvabi/guestmem.h"

#define PTE_PRESENT  0x001u
#define PTE_RW	     0x002u
#define PTE_USER     0x004u
#define PTE_ACCESSED 0x020u
#define PTE_DIRTY    0x040u

enum mmu_result { MMU_OK = 0, MMU_NOT_PRESENT, MMU_READ_ONLY, MMU_BAD_TABLE, MMU_HOST_AREA };

/* Translate `gva` through the guest's tables at GPA `pgdir` -- 2-level, or
 * with `pae` the 3-level PAE form (pgdir is then the directory-pointer
 * table) -- for a ring-1 (supervisor) access, as the CPU would with CR0.WP
 * set; set the accessed (and, for writes, dirty) bits like the hardware. */
enum mmu_result mmu_translate(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva,
			      bool write, uint32_t *gpa);

/* The same for an access that may land outside guest memory -- a device's
 * BAR (pvabi/mmio.c): the leaf's address is not checked against RAM.  The
 * tables themselves still must be. */
enum mmu_result mmu_translate_io(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva,
				 bool write, uint32_t *gpa);

/* Copy to/from guest virtual memory, page by page; false if any page is
 * unusable (nothing is partially written before the check of that page). */
bool mmu_read(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva, void *dst,
	      uint32_t len);
bool mmu_write(const struct guestmem *gm, uint32_t pgdir, bool pae, uint32_t gva, const void *src,
	       uint32_t len);

#endif
