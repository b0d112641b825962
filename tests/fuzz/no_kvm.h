/* The two kvm-glue calls the lguest host and the devices make, for harnesses
 * linked without kvm-glue/vcpu.c (fuzz.mk): there is no vCPU to kick and no
 * timer to arm; the fake notices time and interrupts by itself.  Include it
 * once, in the harness's own .c file. */
#ifndef LGKVM_FUZZ_NO_KVM_H
#define LGKVM_FUZZ_NO_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vm;

void kvm_kick(struct vm *vm)
{
	(void)vm;
}

void kvm_arm_timer(struct vm *vm, uint64_t ns)
{
	(void)vm;
	(void)ns;
}

/* No in-kernel irqchip here: vm_raise_irq falls back to kvm_kick. */
int kvm_signal_kick(struct vm *vm)
{
	(void)vm;
	return -1;
}

/* No guest TSC to read: the monitor's clock is never configured. */
uint64_t kvm_guest_tsc(const struct vm *vm)
{
	(void)vm;
	return 0;
}

/* No vCPU thread either. */
bool kvm_on_vcpu_thread(const struct vm *vm)
{
	(void)vm;
	return false;
}

/* And no vCPU state to read for a snapshot or a migration (src/api.c links
 * them in; they are refused before they would get here: no vCPU thread). */
struct vcpu_state;
int vcpu_state_get(struct vm *vm, struct vcpu_state *s, char *err, size_t errlen)
{
	(void)vm;
	(void)s;
	snprintf(err, errlen, "no vCPU in a fuzzer");
	return -1;
}

#endif
