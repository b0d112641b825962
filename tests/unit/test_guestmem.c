/* Unit tests for the one door into guest memory, pvabi/guestmem.c.
 *
 * gm_ptr() is the only place a guest-supplied number becomes a host pointer,
 * so we hammer its edges: the last byte below the limit, the first byte at it,
 * empty ranges, and ranges whose end wraps past 2^64 back to small numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pvabi/guestmem.h"

#define SIZE  16384u
#define LIMIT 12288u /* like RAM + device pages: less than what is mapped */

static uint8_t backing[SIZE];

static struct guestmem gm_new(void)
{
	struct guestmem gm = {.base = backing, .size = SIZE, .limit = LIMIT};

	for (size_t i = 0; i < SIZE; i++)
		backing[i] = (uint8_t)(i * 13 + 5);
	return gm;
}

static void test_ptr_inside(void **state)
{
	struct guestmem gm = gm_new();

	(void)state;
	assert_ptr_equal(gm_ptr(&gm, 0, 1), backing);
	assert_ptr_equal(gm_ptr(&gm, 0, LIMIT), backing);
	assert_ptr_equal(gm_ptr(&gm, 4096, 4096), backing + 4096);
	assert_ptr_equal(gm_ptr(&gm, LIMIT - 1, 1), backing + LIMIT - 1);
	assert_ptr_equal(gm_ptr(&gm, LIMIT - 4, 4), backing + LIMIT - 4);
}

/* The limit, not the mapping size, is the edge. */
static void test_ptr_limit_edges(void **state)
{
	struct guestmem gm = gm_new();

	(void)state;
	assert_null(gm_ptr(&gm, 0, LIMIT + 1));
	assert_null(gm_ptr(&gm, LIMIT, 1));
	assert_null(gm_ptr(&gm, LIMIT - 1, 2));
	assert_null(gm_ptr(&gm, LIMIT - 4, 5));
	assert_null(gm_ptr(&gm, LIMIT + 1, 1));
	assert_null(gm_ptr(&gm, SIZE - 1, 1));
	assert_null(gm_ptr(&gm, 1, LIMIT));
}

/* An empty range touches nothing, so it is fine anywhere up to the limit, but
 * an address beyond the limit is still refused. */
static void test_ptr_zero_length(void **state)
{
	struct guestmem gm = gm_new();

	(void)state;
	assert_ptr_equal(gm_ptr(&gm, 0, 0), backing);
	assert_ptr_equal(gm_ptr(&gm, LIMIT - 1, 0), backing + LIMIT - 1);
	assert_ptr_equal(gm_ptr(&gm, LIMIT, 0), backing + LIMIT);
	assert_null(gm_ptr(&gm, LIMIT + 1, 0));
	assert_null(gm_ptr(&gm, UINT64_MAX, 0));
}

/* gpa + len overflowing 64 bits must not come back round to look small. */
static void test_ptr_wraparound(void **state)
{
	struct guestmem gm = gm_new();

	(void)state;
	assert_null(gm_ptr(&gm, UINT64_MAX, 1));
	assert_null(gm_ptr(&gm, UINT64_MAX, 2)); /* end wraps to 1 */
	assert_null(gm_ptr(&gm, UINT64_MAX - 4095, 8192));
	assert_null(gm_ptr(&gm, 1, UINT64_MAX));	   /* end wraps to 0 */
	assert_null(gm_ptr(&gm, 4096, UINT64_MAX - 4095)); /* end wraps to 1 */
	assert_null(gm_ptr(&gm, 0, UINT64_MAX));
	assert_null(gm_ptr(&gm, (uint64_t)1 << 63, (uint64_t)1 << 63));
	/* 32-bit wrap is no wrap here: a guest's 0xFFFFFFFF + 2 is 2^32 + 1. */
	assert_null(gm_ptr(&gm, 0xFFFFFFFFu, 2));
}

/* Even a limit of 2^64 - 1 leaves no room for a wrapping range. */
static void test_ptr_huge_limit(void **state)
{
	struct guestmem gm = {.base = backing, .size = UINT64_MAX, .limit = UINT64_MAX};

	(void)state;
	assert_ptr_equal(gm_ptr(&gm, 0, 16), backing);
	assert_null(gm_ptr(&gm, UINT64_MAX - 1, 2));
	assert_null(gm_ptr(&gm, 2, UINT64_MAX - 1));
	assert_null(gm_ptr(&gm, 1, UINT64_MAX));
}

static void test_ptr_empty_memory(void **state)
{
	struct guestmem gm = {.base = backing, .size = 0, .limit = 0};

	(void)state;
	assert_null(gm_ptr(&gm, 0, 1));
	assert_ptr_equal(gm_ptr(&gm, 0, 0), backing);
	assert_null(gm_ptr(&gm, 1, 0));
}

static void test_read_write(void **state)
{
	struct guestmem gm = gm_new();
	uint8_t buf[8], want[8];

	(void)state;
	assert_true(gm_read(&gm, 100, buf, sizeof(buf)));
	assert_memory_equal(buf, backing + 100, sizeof(buf));

	memset(want, 0xC3, sizeof(want));
	assert_true(gm_write(&gm, LIMIT - 8, want, sizeof(want)));
	assert_memory_equal(backing + LIMIT - 8, want, sizeof(want));
}

/* A refused copy copies nothing, in either direction. */
static void test_read_write_refused(void **state)
{
	struct guestmem gm = gm_new();
	uint8_t buf[8], copy[SIZE];

	(void)state;
	memset(buf, 0x11, sizeof(buf));
	assert_false(gm_read(&gm, LIMIT - 7, buf, sizeof(buf)));
	assert_false(gm_read(&gm, UINT64_MAX - 3, buf, sizeof(buf)));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x11);

	memcpy(copy, backing, SIZE);
	assert_false(gm_write(&gm, LIMIT - 7, buf, sizeof(buf)));
	assert_false(gm_write(&gm, UINT64_MAX - 3, buf, sizeof(buf)));
	assert_false(gm_write(&gm, LIMIT, buf, 1));
	assert_memory_equal(copy, backing, SIZE);
}

static void test_read_write_zero_length(void **state)
{
	struct guestmem gm = gm_new();
	uint8_t copy[SIZE], buf[1] = {0x42};

	(void)state;
	memcpy(copy, backing, SIZE);
	assert_true(gm_read(&gm, LIMIT, buf, 0));
	assert_false(gm_read(&gm, LIMIT + 1, buf, 0));
	assert_int_equal(buf[0], 0x42);
	assert_true(gm_write(&gm, 0, copy, 0));
	assert_true(gm_write(&gm, LIMIT, copy, 0));
	assert_false(gm_write(&gm, LIMIT + 1, copy, 0));
	assert_memory_equal(copy, backing, SIZE);
}

static void test_read32_write32(void **state)
{
	struct guestmem gm = gm_new();
	uint32_t v = 0;

	(void)state;
	assert_true(gm_write32(&gm, 0x101, 0xA1B2C3D4)); /* unaligned is fine */
	assert_int_equal(backing[0x101], 0xD4);		 /* little-endian, like the guest */
	assert_int_equal(backing[0x104], 0xA1);
	assert_true(gm_read32(&gm, 0x101, &v));
	assert_int_equal(v, 0xA1B2C3D4);

	assert_true(gm_write32(&gm, LIMIT - 4, 0x01020304));
	assert_true(gm_read32(&gm, LIMIT - 4, &v));
	assert_int_equal(v, 0x01020304);

	v = 0x55555555;
	assert_false(gm_read32(&gm, LIMIT - 3, &v));
	assert_false(gm_read32(&gm, UINT64_MAX - 1, &v));
	assert_int_equal(v, 0x55555555);
	assert_false(gm_write32(&gm, LIMIT - 3, 0));
	assert_int_equal(backing[LIMIT - 3], 0x03); /* from the write above */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptr_inside),
		cmocka_unit_test(test_ptr_limit_edges),
		cmocka_unit_test(test_ptr_zero_length),
		cmocka_unit_test(test_ptr_wraparound),
		cmocka_unit_test(test_ptr_huge_limit),
		cmocka_unit_test(test_ptr_empty_memory),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_read_write_refused),
		cmocka_unit_test(test_read_write_zero_length),
		cmocka_unit_test(test_read32_write32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
