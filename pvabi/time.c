/* Time (docs/abi.md §8): the clock event is a one-shot deadline that
 * raises IRQ 0; lguest_data.time is the host's wall clock. */
#include <time.h>

#include "pvabi/internal.h"
#include "src/vm.h"

/* How soon we look again at an interrupt that is pending but held back: the
 * guest never tells us when it re-enables interrupts or unmasks a line, so
 * we must poll (the reference host noticed at its next host timer tick).
 * Held back by irq_enabled (or the no-interrupt window), it is usually a
 * matter of microseconds; masked in blocked_interrupts, it may stay so for
 * the rest of the run (a device whose driver never came), so we look less
 * often -- but we must look: a 2.6.24 guest arms its first clock event
 * before it unmasks IRQ 0, and if the tick comes in between it then spins
 * in calibrate_delay, with interrupts on and no exit, waiting for it (seen
 * in the test host: 4 boots in 136 never got past "SLUB: Genslabs"). */
#define RECHECK_NS	  2000000u
#define RECHECK_MASKED_NS 10000000u

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lg_write_time(struct vm *vm)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t tsc = kvm_guest_tsc(vm);
	uint32_t t[2] = {(uint32_t)ts.tv_sec, (uint32_t)ts.tv_nsec};
	if (!gm_write(&vm->mem, vm->lg.lguest_data + vm->lg.abi->ld_time, t, sizeof(t))) {
		guest_kill(vm, "bad write address %#x (lguest_data.time)",
			   vm->lg.lguest_data + vm->lg.abi->ld_time);
		return;
	}
	if (vm->kvm.mon.host) {
		/* The monitor's anchor for the times it writes itself (with its
		 * clock on, kvm-glue/monitor/clock.c; INIT's write comes before
		 * the clock is configured, and must count). */
		struct mon_shared *sh = monitor_shared(&vm->kvm.mon);
		sh->time_sec = t[0];
		sh->time_nsec = t[1];
		sh->time_tsc[0] = (uint32_t)tsc;
		sh->time_tsc[1] = (uint32_t)(tsc >> 32);
	}
}

void lg_set_clockevent(struct vm *vm, uint32_t delta_ns)
{
	if (vm->lg.clock_in_vm) {
		/* The monitor programs it on the way back (mon_request). */
		struct mon_shared *sh = monitor_shared(&vm->kvm.mon);
		sh->req_clock_ns = delta_ns;
		sh->vmm_req |= MON_REQ_CLOCK;
		return;
	}
	/* Monotonic, not wall-clock like the reference: a wall-clock jump on
	 * the host must not stall or hurry the guest's timer. */
	vm->lg.clock_deadline_ns = delta_ns ? now_ns() + delta_ns : 0;
}

bool lg_halt_in_vm(struct vm *vm)
{
	if (!vm->lg.clock_in_vm)
		return false;
	/* Our halt sleep could not see the clock event on the LAPIC: the
	 * monitor sleeps instead, on the way back (mon_request). */
	monitor_shared(&vm->kvm.mon)->vmm_req |= MON_REQ_HALT;
	vm->lg.halted = false;
	return true;
}

void lg_tick(struct vm *vm, uint64_t now)
{
	struct lguest *lg = &vm->lg;
	if (lg->clock_deadline_ns && now >= lg->clock_deadline_ns) {
		lg->clock_deadline_ns = 0;
		lg_irq_set(vm, 1u);
	}
}

uint64_t lg_next_wake(struct vm *vm, uint64_t now)
{
	struct lguest *lg = &vm->lg;
	uint64_t wake = lg->clock_deadline_ns;
	uint32_t pending = atomic_load(lg_pending(vm));
	if (lg->initialized && pending) {
		uint32_t blocked = 0;
		if (!gm_read32(&vm->mem, lg->lguest_data + lg->abi->ld_blocked, &blocked))
			return wake;
		uint64_t recheck = now + (pending & ~blocked ? RECHECK_NS : RECHECK_MASKED_NS);
		if (!wake || recheck < wake)
			wake = recheck;
	}
	return wake;
}
