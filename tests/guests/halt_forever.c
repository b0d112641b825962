/* halt_forever: LHCALL_HALT with nothing that could ever wake it: no timer,
 * no devices in use, interrupts off.  The host must sleep (not spin) until
 * --timeout 2 ends it with exit 6.  HALT returning at all is a failure. */
#include "guest.h"

const char test_name[] = "halt_forever";

void test_main(void)
{
	guest_init();
	idt_init_linux(); /* no handlers: any interrupt would be "unexpected" */
	lguest_data.irq_enabled = 0;
	printf("halt_forever: halting with nothing pending\n");
	hcall(LHCALL_HALT, 0, 0, 0);
	fail("LHCALL_HALT returned with nothing pending");
}
