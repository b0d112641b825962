/* The vCPU's whole architectural state, as KVM keeps it: what a snapshot
 * saves and a restore puts back (src/snapshot.c, docs/DESIGN.md §14).
 *
 * Every part is KVM's own structure, kept as KVM hands it over: KVM's ABI
 * for these is stable (x86-64 hosts), and a restore gives each back through
 * the matching KVM_SET_* call, which checks it as it would a VMM's own
 * (reserved CR bits, segment rules, LAPIC registers).  The file format
 * (src/snapshot_format.c) only checks sizes and the few fields lgkvm itself
 * relies on (vcpu_state_check). */
#ifndef LGKVM_VCPU_STATE_H
#define LGKVM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kvm-glue/monitor.h"

struct vm;

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	/* FPU, SSE and whatever XCR0 enables: struct kvm_xsave's 4 KiB area
	 * (kept as words: the structure ends in a flexible array). */
	uint32_t xsave[1024];
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp;
	bool have_lapic; /* an in-kernel LAPIC (kvm_state.irqchip) */
	struct kvm_lapic_state lapic;
	uint64_t tsc; /* IA32_TSC: the guest's clocks and the monitor's deadlines count it */
};

/* Read it all from the vCPU (the vCPU thread, at a pause point).  The last
 * exit is finished first (an I/O exit completes at the next KVM_RUN), with
 * the registers the run loop has changed since.  0, or -1 with one sentence
 * in err. */
int vcpu_state_get(struct vm *vm, struct vcpu_state *s, char *err, size_t errlen);
/* Put it back into a new vCPU (same generation, same irqchip), TSC first so
 * the LAPIC's and the monitor's deadlines keep their meaning, and learn the
 * guest TSC's new offset (kvm_guest_tsc).  0, or -1 with err. */
int vcpu_state_set(struct vm *vm, const struct vcpu_state *s, char *err, size_t errlen);
/* What lgkvm itself relies on before KVM sees the state: an i386 guest
 * (no long mode, paging on), the monitor's descriptor tables, an MP state
 * KVM knows.  true, or false with a sentence.  (Inline: the state file's
 * parser uses it, and its fuzzer links no KVM code.) */
static inline bool vcpu_state_check(const struct vcpu_state *s, char *err, size_t errlen)
{
	const struct kvm_sregs *r = &s->sregs;
	const char *why = NULL;
	if (!(r->cr0 & 0x80000000u))
		why = "paging is off";
	else if (r->efer & 0x100u /* LME */)
		why = "long mode is on";
	else if (r->gdt.base != MON_GVA + MON_GDT_OFF || r->idt.base != MON_GVA + MON_IDT_OFF ||
		 r->tr.selector != SEL_TSS)
		why = "its descriptor tables are not the monitor's";
	else if (s->regs.rip > UINT32_MAX || s->regs.rsp > UINT32_MAX)
		why = "EIP or ESP is beyond 32 bits";
	else if (s->mp.mp_state != KVM_MP_STATE_RUNNABLE && s->mp.mp_state != KVM_MP_STATE_HALTED)
		why = "its MP state is neither runnable nor halted";
	if (why)
		snprintf(err, errlen, "the vCPU state is not an lguest guest's: %s", why);
	return !why;
}

#endif
