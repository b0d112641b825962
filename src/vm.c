#include "src/vm.h"

#include <stdarg.h>
#include <stdio.h>

void vm_stop(struct vm *vm, enum lgkvm_exit code, const char *fmt, ...)
{
	if (vm->dead)
		return; /* the first reason wins */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
	va_end(ap);
	vm->exit_code = code;
	vm->dead = true;
}

void vm_raise_irq(struct vm *vm, unsigned irq)
{
	if (irq >= LG_IRQS)
		return;
	atomic_fetch_or(&vm->lg.pending, 1u << irq);
	kvm_kick(vm);
}
