/* placeholder, replaced below */
#include "guest.h"
const char test_name[] = "bench_blk";
void test_main(void)
{
	guest_init();
	pass();
}
