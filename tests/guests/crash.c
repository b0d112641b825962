/* crash: a guest panic.  LHCALL_CRASH with any message but "Power down"
 * must end lgkvm with exit 4 and the message printed (§11.2). */
#include "guest.h"

const char test_name[] = "crash";

void test_main(void)
{
	/* The host reads 128 bytes from the address (§3.5): give it 128. */
	static const char msg[128] = "boom from the guest";

	guest_init();
	printf("crash: about to panic\n");
	hcall(LHCALL_CRASH, (uint32_t)msg, 0, 0);
	fail("LHCALL_CRASH returned");
}
