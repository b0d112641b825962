/* The vCPU thread's side of kvm-glue: the run loop and its helpers. */
#ifndef LGKVM_VCPU_H
#define LGKVM_VCPU_H

#include <linux/kvm.h>

struct vm;

/* Every sregs write goes through here: it applies the vendor TR rule. */
int vcpu_set_sregs(struct vm *vm, struct kvm_sregs *s);
void vcpu_timer_delete(struct vm *vm);

#endif
