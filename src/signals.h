/* Stopping on a signal: SIGINT, SIGTERM, SIGHUP, SIGQUIT and every other
 * signal that would end the process by default (signals.c lists them), so
 * that a guest is never cut off with the terminal left raw and a status that
 * means nothing.  The handler only records the signal; the vCPU loop notices
 * (the signal also interrupts KVM_RUN and the halt sleep) and ends the guest
 * with EXIT_INTERRUPTED.  SIGUSR1 is lgkvm's own wake-up, and SIGPIPE and
 * SIGXFSZ are ignored (the failed write is reported instead). */
#ifndef LGKVM_SIGNALS_H
#define LGKVM_SIGNALS_H

#include <signal.h>

void signals_install(void);
/* The stop signal received so far, or 0. */
int signals_pending_stop(void);

#endif
