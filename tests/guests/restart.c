/* restart: SHUTDOWN(msg, LGUEST_SHUTDOWN_RESTART), as machine_restart does
 * from 2.6.25 (docs/abi.md §H1.9).  lgkvm boots the same image again in a
 * fresh VM, up to --max-reboots times, then exits 3; tests.list checks both
 * the count and the status.  Every boot prints its banner, so the log shows
 * each one. */
#include "guest.h"

const char test_name[] = "restart";

void test_main(void)
{
	static const char msg[128] = "Restarting system";
	guest_init();
	printf("restart: booted, asking for a restart\n");
	for (;;)
		hcall(LHCALL_SHUTDOWN, (uint32_t)msg, LGUEST_SHUTDOWN_RESTART, 0);
}
