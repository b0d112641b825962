/* The vCPU thread's side of kvm-glue: KVM_RUN, waking, the kick vector.  The
 * run loop that gives the exits their meaning is src/run.c. */
#ifndef LGKVM_VCPU_H
#define LGKVM_VCPU_H

#include <linux/kvm.h>
#include <poll.h>

struct vm;

/* Every sregs write goes through here: it applies the vendor TR rule. */
int vcpu_set_sregs(struct vm *vm, struct kvm_sregs *s);
void vcpu_timer_delete(struct vm *vm);
/* Block the kick signal outside KVM_RUN, give KVM the run mask and create the
 * kick timer, on the thread that will run the loop: everything the loop would
 * otherwise do lazily that the sandbox forbids.  0, or -1 with errno. */
int vcpu_prepare(struct vm *vm);
/* Run the guest until it exits: 0 (vm->kvm.run says why), 1 when a kick
 * (signal) ended KVM_RUN, -1 on failure with errno. */
int vcpu_enter(struct vm *vm);
/* Forget kicks that are pending: the caller is about to look at everything. */
void vcpu_eat_kicks(void);
/* Sleep until one of fds is ready or a kick arrives (ppoll with the kick
 * unblocked); ppoll's result. */
int vcpu_wait(struct pollfd *fds, int n);
/* Get the vCPU into the monitor as soon as it can take an interrupt: inject
 * the kick vector now if the guest allows it, else ask KVM for an interrupt
 * window exit. */
void vcpu_request_kick(struct vm *vm);

#endif
