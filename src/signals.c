#include "src/signals.h"

#include <string.h>

/* Process-wide by nature (signals are delivered to the process), not VM
 * state: the one place lgkvm keeps a mutable static. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

void signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must break KVM_RUN and ppoll out. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int signals_pending_stop(void)
{
	return stop_signal;
}
