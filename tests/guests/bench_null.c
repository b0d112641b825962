/* bench_null: the smallest possible lguest boot -- INIT, then power off.
 * The baseline that `make bench` compares the demo guest's boot against. */
#include "guest.h"

const char test_name[] = "bench_null";

void test_main(void)
{
	guest_init();
	power_off();
}
