/* Unit tests for src/signals.c: no signal that would end lgkvm by default
 * may end it without the guest being stopped cleanly (exit 8); the ones it
 * ignores are the documented ones; faults still kill.
 *
 * We raise each signal at ourselves after signals_install(): surviving it and
 * seeing it recorded is what the vCPU loop relies on (kvm-glue/vcpu.c turns
 * the record into EXIT_INTERRUPTED). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "kvm-glue/kvm.h"
#include "src/signals.h"

static int handled(int sig)
{
	struct sigaction sa;

	assert_int_equal(sigaction(sig, NULL, &sa), 0);
	return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

static void test_stop_signals(void **state)
{
	static const int stop[] = {SIGINT,    SIGTERM, SIGHUP,	SIGQUIT, SIGUSR2, SIGALRM,
				   SIGVTALRM, SIGPROF, SIGXCPU, SIGIO,	 SIGPWR,  SIGSTKFLT};

	(void)state;
	signals_install();
	for (unsigned i = 0; i < sizeof(stop) / sizeof(stop[0]); i++) {
		assert_true(handled(stop[i]));
		assert_int_equal(raise(stop[i]), 0);
		if (signals_pending_stop() != stop[i])
			fail_msg("signal %d (%s) not recorded", stop[i], strsignal(stop[i]));
	}
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
		assert_int_equal(raise(s), 0);
		assert_int_equal(signals_pending_stop(), s);
	}
}

/* The kick is harmless from outside, and a stop is not undone by it. */
static void test_kick_signal(void **state)
{
	(void)state;
	signals_install();
	assert_int_equal(raise(SIGTERM), 0);
	assert_true(handled(KVM_KICK_SIGNAL));
	assert_int_equal(raise(KVM_KICK_SIGNAL), 0);
	assert_int_equal(signals_pending_stop(), SIGTERM);
}

static void test_ignored_and_fatal(void **state)
{
	struct sigaction sa;
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};

	(void)state;
	signals_install();
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_IGN);
	assert_int_equal(sigaction(SIGXFSZ, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_IGN);
	/* Faults are not stop requests.  (cmocka and the sanitizers install
	 * fault handlers of their own, so only check they are not ours.) */
	assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
	void (*on_stop)(int) = sa.sa_handler;
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		assert_int_equal(sigaction(fatal[i], NULL, &sa), 0);
		assert_true(sa.sa_handler != on_stop);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_signals),
		cmocka_unit_test(test_kick_signal),
		cmocka_unit_test(test_ignored_and_fatal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
