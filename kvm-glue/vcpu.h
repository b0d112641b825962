/* The vCPU thread's side of kvm-glue: the run loop and its helpers. */
#ifndef LGKVM_VCPU_H
#define LGKVM_VCPU_H

#include <linux/kvm.h>

struct vm;

/* Every sregs write goes through here: it applies the vendor TR rule. */
int vcpu_set_sregs(struct vm *vm, struct kvm_sregs *s);
void vcpu_timer_delete(struct vm *vm);
/* Block the kick signal outside KVM_RUN, give KVM the run mask and create the
 * kick timer, on the thread that will run the loop: everything the loop would
 * otherwise do lazily that the sandbox forbids.  0, or -1 with errno. */
int vcpu_prepare(struct vm *vm);

#endif
