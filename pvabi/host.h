/* The lguest host (pvabi/) as the run loop sees it.
 *
 * kvm-glue calls these on every exit; they never call ioctl() themselves.  The
 * guest's general registers arrive as a plain struct; its EAX, EIP, CS,
 * EFLAGS, ESP and SS live in the monitor frame, which these functions may
 * rewrite to send the guest somewhere else (a trap handler, an interrupt). */
#ifndef LGKVM_HOST_H
#define LGKVM_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm-glue/monitor.h"

struct vm;
struct lguest_abi;

struct guest_regs {
	uint32_t ebx, ecx, edx, esi, edi, ebp;
	bool dirty; /* set when a handler changed one */
};

/* The instruction decoder for MMIO KVM could not decode itself (pvabi/mmio.c):
 * made before the sandbox for a guest on the PCI platform (after lg_init),
 * freed at the end.  Without one such a fault is the guest's. */
bool lg_decoder_open(struct vm *vm);
void lg_decoder_close(struct vm *vm);

/* The name of hypercall `nr` in generation `abi` ("SET_STACK"), for messages. */
const char *lg_hcall_name(const struct lguest_abi *abi, uint32_t nr);

/* Prepare the lguest state for a fresh boot of a generation-`abi` guest. */
void lg_init(struct vm *vm, uint32_t boot_pgdir, const struct lguest_abi *abi);
/* An event entered the monitor: a hypercall, a trap to reflect, a kick. */
void lg_handle_event(struct vm *vm, struct guest_regs *r, struct mon_frame *f);
/* Before the guest resumes from the monitor: deliver at most one interrupt. */
void lg_maybe_interrupt(struct vm *vm, struct mon_frame *f);
/* Could an interrupt be delivered with the guest at `eip` right now?  (A
 * halted guest takes one whatever irq_enabled says.) */
bool lg_irq_deliverable(struct vm *vm, uint32_t eip);
/* The guest's gate for `vec` as LOAD_IDT_ENTRY filed it (0/0: no handler). */
struct lg_gate lg_gate_get(struct vm *vm, unsigned vec);
/* Write the host's wall clock into lguest_data.time (pvabi/time.c), as every
 * delivery does. */
void lg_write_time(struct vm *vm);
/* Pending IRQ bits (pvabi/traps.c): their one home, and changing them. */
_Atomic uint32_t *lg_pending(struct vm *vm);
void lg_irq_set(struct vm *vm, uint32_t bits);
bool lg_kick_in_vm(struct vm *vm);
void lg_irq_clear(struct vm *vm, uint32_t bits);
/* Tell the monitor which calls it may finish alone (pvabi/fastpath.c): at
 * LGUEST_INIT, and for a restored guest that had made it. */
void lg_fastpath_enable(struct vm *vm);
/* The monitor's port-write log (pvabi/fastpath.c): replayed first thing on
 * every exit; the PCI state it judges by, published before every entry. */
void lg_fastpath_drain(struct vm *vm);
void lg_fastpath_publish(struct vm *vm);
/* The guest HALTed with nothing to deliver: if the monitor keeps the clock
 * (kvm-glue/monitor/clock.c), ask it to sleep for us on the way back and
 * say true; else the run loop sleeps. */
bool lg_halt_in_vm(struct vm *vm);
/* Time passed: fire the clock event if due.  `now` is CLOCK_MONOTONIC ns. */
void lg_tick(struct vm *vm, uint64_t now);
/* When the host must look again even if nothing happens (clock event, or a
 * pending-but-blocked interrupt the guest will not tell us about); 0 = never. */
uint64_t lg_next_wake(struct vm *vm, uint64_t now);

uint64_t now_ns(void);

#endif
