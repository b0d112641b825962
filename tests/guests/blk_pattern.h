/* The bytes of the block test's disk image (tests/guests/mkblkimg.c writes
 * them, tests/guests/virtio_blk.c checks them): every byte depends on its
 * offset and its sector, so a read from the wrong place cannot pass. */
#ifndef GUEST_BLK_PATTERN_H
#define GUEST_BLK_PATTERN_H

#include <stdint.h>

#define BLK_TEST_SECTORS 2048u /* blk-test.img: 1 MiB... */
#define BLK_TEST_TAIL	 100u  /* ...and a ragged tail the guest must not see */

static inline uint8_t blk_pattern(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 9) * 13 + 0x5A);
}

#endif
