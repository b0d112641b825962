#include "src/signals.h"

#include <errno.h>
#include <string.h>

#include "kvm-glue/kvm.h"

/* Process-wide by nature (signals are delivered to the process), not VM
 * state: the one place lgkvm keeps a mutable static. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	int saved = errno;

	stop_signal = sig;
	/* Had the vCPU thread just checked the flag on its way into KVM_RUN or
	 * the halt sleep, it would not see it until something else woke it.
	 * A kick (blocked outside those two, so it stays pending) makes sure
	 * it does.  (Other threads block all signals: this is the vCPU's.) */
	raise(KVM_KICK_SIGNAL);
	errno = saved;
}

static void on_nothing(int sig)
{
	(void)sig;
}

void signals_install(void)
{
	/* Every signal whose default is to end the process, except the ones
	 * that report a fault in lgkvm itself (SIGSEGV, SIGBUS, SIGILL,
	 * SIGFPE, SIGTRAP, SIGABRT, SIGSYS): those must still end it, at
	 * once.  SIGPIPE and SIGXFSZ are ignored: the write that caused them
	 * fails with EPIPE or EFBIG instead, and is reported as such. */
	static const int stop[] = {
		SIGINT,	   SIGTERM, SIGHUP,  SIGQUIT, SIGUSR2, SIGALRM,
		SIGVTALRM, SIGPROF, SIGXCPU, SIGIO,   SIGPWR,  SIGSTKFLT,
	};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must break KVM_RUN and ppoll out. */
	for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		sigaction(stop[i], &sa, NULL);
	/* The real-time signals end a process by default too. */
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaction(s, &sa, NULL);

	/* KVM_KICK_SIGNAL wakes the vCPU (kvm-glue/vcpu.c installs its real
	 * handler): from outside it is a harmless wake-up, so it must not
	 * kill us before that handler is in place either. */
	sa.sa_handler = on_nothing;
	sigaction(KVM_KICK_SIGNAL, &sa, NULL);

	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
}

int signals_pending_stop(void)
{
	return stop_signal;
}
