/* Stopping on SIGINT, SIGTERM and SIGHUP: the handler only records the
 * signal; the vCPU loop notices (the signal also interrupts KVM_RUN and the
 * halt sleep) and ends the guest with EXIT_INTERRUPTED, so the terminal is
 * restored and the exit status stays meaningful. */
#ifndef LGKVM_SIGNALS_H
#define LGKVM_SIGNALS_H

#include <signal.h>

void signals_install(void);
/* The stop signal received so far, or 0. */
int signals_pending_stop(void);

#endif
