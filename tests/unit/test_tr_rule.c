/* The one vendor-dependent rule: what TR type lgkvm hands KVM in sregs.
 * VMX's entry checks want a busy 32-bit TSS (11); on AMD we must hand over the
 * available type (9), or QEMU's emulated SVM -- our nested test host -- aborts
 * the whole machine when a guest interrupt changes privilege. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kvm-glue/kvm.h"

static void test_amd_gets_available_tss(void **state)
{
	(void)state;
	assert_int_equal(kvm_tr_type_for_vendor("AuthenticAMD"), 9);
	assert_int_equal(kvm_tr_type_for_vendor("HygonGenuine"), 9);
}

static void test_intel_gets_busy_tss(void **state)
{
	(void)state;
	assert_int_equal(kvm_tr_type_for_vendor("GenuineIntel"), 11);
	/* Anyone else: VMX's rule is the strict one. */
	assert_int_equal(kvm_tr_type_for_vendor("CentaurHauls"), 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amd_gets_available_tss),
		cmocka_unit_test(test_intel_gets_busy_tss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
