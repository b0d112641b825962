#include "src/vm.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

void vm_stop(struct vm *vm, enum lgkvm_exit code, const char *fmt, ...)
{
	/* The first reason wins.  A caller that loses the race waits for the
	 * winner to publish `dead` (it is only formatting a string), so that
	 * every caller may rely on vm->dead once we return. */
	if (atomic_exchange(&vm->stop_claimed, true)) {
		while (!atomic_load(&vm->dead))
			sched_yield();
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
	va_end(ap);
	vm->exit_code = code;
	atomic_store(&vm->dead, true);
	/* From another thread the vCPU may be inside KVM_RUN or asleep in a
	 * halt: the kick makes it look at `dead`.  On the vCPU thread itself it
	 * is a no-op, and that thread checks `dead` before it runs again. */
	kvm_kick(vm);
}

void vm_raise_irq(struct vm *vm, unsigned irq)
{
	if (irq >= LG_IRQS)
		return;
	atomic_fetch_or(&vm->lg.pending, 1u << irq);
	kvm_kick(vm);
}
