/* The hostile series (hostile.c, hostile2.c, hostile_fast.c): one source,
 * one ELF per case, the case's name compiled in as test_name. */
#include "guest.h"

void run_case(const struct guest_case *cases, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(cases[i].name, test_name)) {
			cases[i].run();
			/* A case the host must end: coming back means it did not. */
			fail("the host let %s through", test_name);
		}
	}
	guest_init();
	fail("unknown hostile case");
}
