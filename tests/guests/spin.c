/* spin: a guest that never exits and never makes another hypercall.
 * Run with --timeout 2: lgkvm must stop it and exit 6 (timeout). */
#include "guest.h"

const char test_name[] = "spin";

void test_main(void)
{
	guest_init();
	printf("spin: spinning forever\n");
	for (;;)
		__asm__ volatile("" ::: "memory");
}
