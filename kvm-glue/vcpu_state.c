/* The vCPU's state out of KVM and back in (kvm-glue/vcpu_state.h).
 *
 * The order of a restore matters in two places.  The TSC goes in before the
 * LAPIC: the monitor's deadlines are guest TSC values and the LAPIC's
 * one-shot count is restarted by KVM_SET_LAPIC, so both must see the guest's
 * time as it was.  And the vCPU events and MP state go in last: KVM_SET_SREGS
 * and KVM_SET_REGS may reset what an exception in flight or a halted vCPU
 * means. */
#include "kvm-glue/vcpu_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

#include "kvm-glue/kvm.h"
#include "kvm-glue/monitor.h"
#include "kvm-glue/vcpu.h"
#include "src/vm.h"

#define MSR_IA32_TSC 0x10

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

static int tsc_msr(struct vm *vm, uint64_t *val, bool set)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {.hdr.nmsrs = 1, .e = {.index = MSR_IA32_TSC, .data = set ? *val : 0}};
	int r = ioctl(vm->kvm.vcpu_fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &m);
	if (r != 1)
		return -1;
	if (!set)
		*val = m.e.data;
	return 0;
}

/* The guest's TSC to `want`, now.  The TSC-control attribute sets KVM's
 * offset itself (what migration wants, Linux 5.16+); a host write of
 * IA32_TSC is the older way, and some KVMs take it as a "synchronization"
 * and keep the offset they had (the nested test host's does).  Whichever
 * sticks: the value read back says. */
static int set_tsc(struct vm *vm, uint64_t want)
{
	uint64_t offset = want - __rdtsc(), now = 0;
	struct kvm_device_attr a = {
		.group = KVM_VCPU_TSC_CTRL,
		.attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)&offset,
	};
	if (ioctl(vm->kvm.vcpu_fd, KVM_SET_DEVICE_ATTR, &a) < 0 && tsc_msr(vm, &want, true) < 0)
		return -1;
	/* Sticks: the guest's TSC is now a little past `want`, not before it
	 * or far beyond. */
	if (tsc_msr(vm, &now, false) < 0 || now < want || now - want > (1ull << 40)) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

int vcpu_state_get(struct vm *vm, struct vcpu_state *s, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;
	int fd = k->vcpu_fd;
	memset(s, 0, sizeof(*s));
	/* The exit that brought us here (the monitor's `out`) is finished only
	 * by the next KVM_RUN, and registers the run loop changed since wait in
	 * the sync area for it: one KVM_RUN that returns before entering the
	 * guest (immediate_exit) does both, and the state is then whole (KVM's
	 * API documentation, "immediate_exit"). */
	if (k->run) {
		k->run->immediate_exit = 1;
		int r = ioctl(fd, KVM_RUN, 0);
		int e = errno;
		k->run->immediate_exit = 0;
		if (r == 0 || e != EINTR) {
			errno = r == 0 ? EPROTO : e;
			return fail(err, errlen, "finishing the last exit");
		}
		k->run->kvm_dirty_regs = 0;
	}
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0)
		return fail(err, errlen, "KVM_GET_REGS");
	if (ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0)
		return fail(err, errlen, "KVM_GET_SREGS");
	_Static_assert(sizeof(s->xsave) == sizeof(struct kvm_xsave), "kvm_xsave's legacy size");
	if (ioctl(fd, KVM_GET_XSAVE, s->xsave) < 0)
		return fail(err, errlen, "KVM_GET_XSAVE");
	if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0)
		return fail(err, errlen, "KVM_GET_XCRS");
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		return fail(err, errlen, "KVM_GET_VCPU_EVENTS");
	if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		return fail(err, errlen, "KVM_GET_DEBUGREGS");
	if (ioctl(fd, KVM_GET_MP_STATE, &s->mp) < 0)
		return fail(err, errlen, "KVM_GET_MP_STATE");
	s->have_lapic = k->irqchip;
	if (s->have_lapic && ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0)
		return fail(err, errlen, "KVM_GET_LAPIC");
	if (tsc_msr(vm, &s->tsc, false) < 0)
		return fail(err, errlen, "reading the guest's TSC");
	return 0;
}

int vcpu_state_set(struct vm *vm, const struct vcpu_state *s, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;
	int fd = k->vcpu_fd;
	if (s->have_lapic != k->irqchip) {
		snprintf(err, errlen,
			 "the snapshot was taken %s an in-kernel LAPIC and this KVM "
			 "%s one",
			 s->have_lapic ? "with" : "without",
			 k->irqchip ? "has"
				    : "has none or "
				      "cannot use");
		errno = EINVAL;
		return -1;
	}
	if (set_tsc(vm, s->tsc) < 0)
		return fail(err, errlen, "setting the guest's TSC (this KVM keeps its own)");
	struct kvm_sregs sregs = s->sregs;
	struct kvm_regs regs = s->regs;
	if (vcpu_set_sregs(vm, &sregs) < 0)
		return fail(err, errlen, "KVM_SET_SREGS");
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return fail(err, errlen, "KVM_SET_REGS");
	if (ioctl(fd, KVM_SET_XCRS, &s->xcrs) < 0)
		return fail(err, errlen, "KVM_SET_XCRS");
	if (ioctl(fd, KVM_SET_XSAVE, s->xsave) < 0)
		return fail(err, errlen, "KVM_SET_XSAVE");
	if (ioctl(fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		return fail(err, errlen, "KVM_SET_DEBUGREGS");
	if (s->have_lapic && ioctl(fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return fail(err, errlen, "KVM_SET_LAPIC");
	struct kvm_vcpu_events ev = s->events;
	/* Only what KVM_GET_VCPU_EVENTS said is valid goes back. */
	ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		    KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return fail(err, errlen, "KVM_SET_VCPU_EVENTS");
	if (ioctl(fd, KVM_SET_MP_STATE, &s->mp) < 0)
		return fail(err, errlen, "KVM_SET_MP_STATE");
	/* The run loop reads registers from the sync area, filled by KVM at
	 * each exit: until the first one, it must hold what we put in. */
	if (k->run) {
		k->run->s.regs.regs = regs;
		k->run->kvm_dirty_regs = 0;
	}
	kvm_learn_tsc_offset(vm);
	return 0;
}
