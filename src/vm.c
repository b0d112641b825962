#include "src/vm.h"

#include "pvabi/host.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

void vm_stop(struct vm *vm, enum lgkvm_exit code, const char *fmt, ...)
{
	bool first = false;

	/* A spinlock, held only while one reason is formatted: every caller
	 * returns with `dead` set, whichever thread's reason won. */
	while (atomic_flag_test_and_set_explicit(&vm->stop_lock, memory_order_acquire))
		sched_yield();
	if (!vm->dead) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
		va_end(ap);
		vm->exit_code = code;
		atomic_store(&vm->dead, true);
		first = true;
	}
	atomic_flag_clear_explicit(&vm->stop_lock, memory_order_release);
	/* From another thread the vCPU may be inside KVM_RUN or asleep in a
	 * halt: the kick makes it look at `dead`.  On the vCPU thread itself it
	 * is a no-op, and that thread checks `dead` before it runs again. */
	if (first)
		kvm_kick(vm);
}

void vm_raise_irq(struct vm *vm, unsigned irq)
{
	if (irq >= LG_IRQS)
		return;
	lg_irq_set(vm, 1u << irq);
	/* With an in-kernel LAPIC the kick goes straight to the vCPU as an
	 * MSI, and the monitor delivers the IRQ with no exit to us -- when it
	 * can (lg_kick_in_vm).  A guest halted in lgkvm's own halt sleep (no
	 * clock in the VM) needs the signal; one halted in the monitor's `hlt`
	 * takes the MSI.  (The pending bit is set before
	 * `halted` is read, and the vCPU thread sets `halted` before it looks
	 * at the pending bits, both sequentially consistent: one of us sees
	 * the other.) */
	if (kvm_on_vcpu_thread(vm))
		return; /* it looks before it resumes (and a kick now would only
			   find the interrupt it is about to deliver itself) */
	if (lg_kick_in_vm(vm) && kvm_signal_kick(vm) == 0) {
		vm->lg.stats_msi_thread++;
		return;
	}
	kvm_kick(vm);
}
