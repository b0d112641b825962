/* The one door into guest memory.
 *
 * Every number the guest hands us (a hypercall argument, a descriptor address,
 * a page-table entry) is hostile until proven otherwise.  Nothing in lgkvm turns
 * a guest value into a host pointer except gm_ptr() below: it checks that the
 * whole range [gpa, gpa+len) lies below the limit the guest may name (RAM plus
 * the device page and rings, the lguest "pfn_limit") and does not wrap.  Callers
 * that get NULL kill the guest with a reason; they never guess. */
#ifndef LGKVM_GUESTMEM_H
#define LGKVM_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guestmem {
	uint8_t *base; /* host mapping of guest-physical address 0 */
	uint64_t size; /* bytes mapped at base */
	/* First GPA the guest may not name; <= size.  Atomic: device threads
	 * start before the bus is laid out and the limit set (src/main.c). */
	_Atomic uint64_t limit;
};

/* Host pointer for [gpa, gpa+len), or NULL if any byte is outside the limit. */
void *gm_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len);

/* Copy helpers on top of gm_ptr(); false means "out of range, nothing copied". */
bool gm_read(const struct guestmem *gm, uint64_t gpa, void *dst, uint64_t len);
bool gm_write(const struct guestmem *gm, uint64_t gpa, const void *src, uint64_t len);
bool gm_read32(const struct guestmem *gm, uint64_t gpa, uint32_t *val);
bool gm_write32(const struct guestmem *gm, uint64_t gpa, uint32_t val);

#endif
