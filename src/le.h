/*
 * Little-endian fields in byte buffers.
 *
 * Kernel images, boot headers, PCI configuration space, virtio common config
 * and lguest's own shared pages are all little-endian, and lgkvm reads them
 * out of buffers that need not be aligned (a setup header field at an odd
 * offset, a register written a byte at a time).  These read and write them a
 * byte at a time, so neither alignment nor the host's byte order matters.
 * One copy for every parser and device model.
 */
#ifndef LGKVM_LE_H
#define LGKVM_LE_H

#include <stdint.h>

static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	return le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	le16_put(p, (uint16_t)v);
	le16_put(p + 2, (uint16_t)(v >> 16));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

/* A register of len bytes (1 to 4; bytes past the fourth are not part of a
 * 32-bit value and are ignored, as a device's 32-bit registers ignore them). */
static inline uint32_t le_get(const uint8_t *p, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline void le_put(uint8_t *p, unsigned len, uint32_t v)
{
	for (unsigned i = 0; i < len && i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif
