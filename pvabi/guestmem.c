#include "guestmem.h"

#include <string.h>

void *gm_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
	/* Written so that no addition can overflow: a wrapping range is simply
	 * one whose length exceeds what is left above gpa. */
	if (gpa > gm->limit || len > gm->limit - gpa)
		return NULL;
	return gm->base + gpa;
}

bool gm_read(const struct guestmem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return false;
	memcpy(dst, p, len);
	return true;
}

bool gm_write(const struct guestmem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gm_ptr(gm, gpa, len);
	if (!p)
		return false;
	memcpy(p, src, len);
	return true;
}

bool gm_read32(const struct guestmem *gm, uint64_t gpa, uint32_t *val)
{
	return gm_read(gm, gpa, val, sizeof(*val));
}

bool gm_write32(const struct guestmem *gm, uint64_t gpa, uint32_t val)
{
	return gm_write(gm, gpa, &val, sizeof(val));
}
