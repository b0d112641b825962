/* Virtual interrupts and trap frames: the rules, once, for both sides.
 *
 * The VMM (pvabi/traps.c) and the monitor's fast path
 * (kvm-glue/monitor/fast.c) both decide whether an lguest IRQ goes in now
 * (irq_pick) and both build the frame a handler is entered with
 * (deliver_eflags, deliver_frame); each pushes the words its own way (the
 * VMM through its page walker, the monitor with a probed store).  Pure
 * functions: no guest memory, no state.  docs/abi.md §5.4, §5.5. */
#ifndef LGKVM_IRQ_RULES_H
#define LGKVM_IRQ_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm-glue/monitor.h"

#define EFLAGS_IF 0x200u
#define EFLAGS_TF 0x100u
#define EFLAGS_NT 0x4000u
#define EFLAGS_RF 0x10000u

/* Why no interrupt goes in right now (or that one does). */
enum irq_wait { IRQ_GO, IRQ_NONE, IRQ_NOT_HERE, IRQ_DISABLED };

/* `cand` = pending & ~blocked.  The lowest candidate goes in unless the
 * guest is inside its no-interrupt window or has interrupts off -- a halted
 * guest takes one whatever irq_enabled says.  We test bit 9 (the
 * reference's "non-zero" test is a known quirk).  The caller still checks
 * that the guest has a handler for it (else it stays pending, IRQ_NOT_HERE). */
static inline enum irq_wait irq_pick(uint32_t cand, bool in_noirq, bool halted,
				     uint32_t irq_enabled, int *irq)
{
	if (!cand)
		return IRQ_NONE;
	if (in_noirq)
		return IRQ_NOT_HERE;
	if (!halted && !(irq_enabled & EFLAGS_IF))
		return IRQ_DISABLED;
	*irq = __builtin_ctz(cand);
	return IRQ_GO;
}

/* 2.6.31+ (layouts L2-L4): irq_pending tells a guest that re-enables
 * interrupts whether to ask for them (SEND_INTERRUPTS).  As the reference:
 * 0x200 while an interrupt waits only for irq_enabled, 0 once none waits at
 * all, untouched otherwise (-1). */
static inline int64_t irq_pending_note(enum irq_wait why)
{
	return why == IRQ_DISABLED ? 0x200 : why == IRQ_NONE ? 0 : -1;
}

/* The EFLAGS image pushed for a handler carries the *virtual* IF. */
static inline uint32_t deliver_eflags(uint32_t eflags, uint32_t irq_enabled)
{
	return irq_enabled & EFLAGS_IF ? eflags : eflags & ~EFLAGS_IF;
}

/* After the pushes: enter the handler of gate (glo, ghi) on stack ss:esp,
 * clearing TF, NT and RF as the CPU does through any gate (the reference
 * host did not, so a handler entered with TF set single-stepped itself
 * forever).  Returns whether it is an interrupt gate, which also turns
 * virtual interrupts off. */
static inline bool deliver_frame(struct mon_frame *f, uint32_t glo, uint32_t ghi, uint32_t esp,
				 uint32_t ss)
{
	f->eip = (ghi & 0xFFFF0000u) | (glo & 0xFFFF);
	f->cs = SEL_KERNEL_CS;
	f->eflags &= ~(EFLAGS_TF | EFLAGS_NT | EFLAGS_RF);
	f->esp = esp;
	f->ss = ss;
	return ((ghi >> 8) & 0xF) == 0xE;
}

/* A segment's base from its descriptor (the stack segment of a frame). */
static inline uint32_t desc_base(uint64_t d)
{
	return (uint32_t)((d >> 16) & 0xFFFFFF) | (uint32_t)((d >> 32) & 0xFF000000u);
}

#endif
