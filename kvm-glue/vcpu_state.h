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

struct vm;

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave; /* FPU, SSE and whatever XCR0 enables (legacy 4 KiB area) */
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
 * KVM knows.  true, or false with a sentence. */
bool vcpu_state_check(const struct vcpu_state *s, char *err, size_t errlen);

#endif
