/* Everything that talks to /dev/kvm.
 *
 * No other folder calls ioctl(): pvabi/ and virtio/ see the vCPU through the
 * plain register view below (kvm_run's sync-regs area) and through the monitor
 * frame (monitor.h), and ask kvm-glue to act on their behalf. */
#ifndef LGKVM_KVM_H
#define LGKVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kvm-glue/monitor.h"

struct vm;

struct kvm_state {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;	     /* host mapping of guest RAM + device area */
	size_t ram_map_size; /* bytes mapped (2 MiB aligned start) */
	void *ram_alloc;     /* what to munmap */
	size_t ram_alloc_size;
	struct monitor mon; /* the in-VM monitor (kvm-glue/monitor.c) */
	pthread_t vcpu_thread;
	_Atomic bool vcpu_thread_set; /* vcpu_thread is valid (any thread asks) */
	/* Vendor rule for TR: see kvm_tr_type(). */
	uint8_t tr_type;
	uint32_t tsc_khz;    /* the guest TSC's rate: KVM's, or measured by us */
	bool tsc_measured;   /* KVM said 0, so tsc_khz is our measurement */
	bool tsc_offset_ok;  /* tsc_offset is known: kvm_guest_tsc() works */
	uint64_t tsc_offset; /* guest TSC - host TSC (modulo 2^64) */
	/* Set before kvm_create_vm from the guest's generation (pvabi/abi.h). */
	bool cpuid_family5; /* report CPU family 5 (guests before 2.6.29) */
	bool vmcall_ud;	    /* a ring-1 vmcall must #UD, not be "fixed" by KVM */
	bool pae_guest;	    /* the guest's tables are PAE (CPUID faulting may be needed) */
	/* The CPUID the guest sees (KVM's supported set, filtered), kept for
	 * answering CPUID ourselves when it faults (kvm_cpuid_lookup). */
	struct kvm_cpuid_entry2 *cpuid;
	unsigned ncpuid;
	bool cpuid_faults; /* CPUID at CPL > 0 raises #GP (MSR_MISC_FEATURES_ENABLES) */
	bool irqchip;	   /* an in-kernel LAPIC (x2APIC): kicks are MSIs, not KVM_INTERRUPT */
	bool no_irqchip;   /* --no-irqchip: do not create one */
	timer_t timer;	   /* POSIX timer that kicks the vCPU... */
	bool timer_set;	   /* ...once created (0 is a valid timer_t) */
	uint64_t timer_armed_ns;
};

/* The signal that kicks the vCPU thread out of KVM_RUN or a halt sleep. */
#define KVM_KICK_SIGNAL SIGUSR1

/* Why kvm_open() failed, for the one-sentence message. */
int kvm_open(struct kvm_state *k, char *err, size_t errlen);
/* Probe: can this KVM run a 32-bit paged guest at ring 1 that takes
 * int $0x1f through a DPL-1 gate to ring 0 and exits?  0 = yes, -1 = no
 * (err says why). */
int kvm_probe_32bit(char *err, size_t errlen);
/* The guest's CPUID leaf `fn`, subleaf `idx`, from the table we gave KVM;
 * false (all zero) when there is no such leaf.  (Inline: plain data, and
 * the fuzzers link pvabi/ without the rest of kvm-glue/.) */
static inline bool kvm_cpuid_lookup(const struct kvm_state *k, uint32_t fn, uint32_t idx,
				    uint32_t out[4])
{
	out[0] = out[1] = out[2] = out[3] = 0;
	for (unsigned i = 0; i < k->ncpuid; i++) {
		const struct kvm_cpuid_entry2 *e = &k->cpuid[i];
		if (e->function != fn ||
		    ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != idx))
			continue;
		out[0] = e->eax;
		out[1] = e->ebx;
		out[2] = e->ecx;
		out[3] = e->edx;
		return true;
	}
	return false;
}
/* The same test on a VM just made by kvm_create_vm(), before anything is
 * loaded (its RAM must be zero; it is left zero). */
int kvm_selftest(struct vm *vm, char *err, size_t errlen);
/* Create the VM: guest memory of `mem_size` bytes (RAM + device area), the
 * monitor, one vCPU with filtered CPUID and sync regs. */
int kvm_create_vm(struct vm *vm, uint64_t mem_size, char *err, size_t errlen);
/* Set the vCPU's initial state for an lguest boot (docs/abi.md §2.7). */
int kvm_boot_vcpu(struct vm *vm, uint32_t entry, uint32_t pgdir, bool pae, char *err,
		  size_t errlen);
/* Wake the vCPU thread (from any thread). */
void kvm_kick(struct vm *vm);
/* With an in-kernel LAPIC: the kick vector as an MSI, from any thread; it
 * reaches the monitor when the guest next runs with IF set, with no exit to
 * us.  0, or -1 without an irqchip (or if KVM refused). */
int kvm_signal_kick(struct vm *vm);
/* Is this the vCPU thread?  It looks at pending interrupts before every
 * resume, so nothing need kick it. */
bool kvm_on_vcpu_thread(const struct vm *vm);
/* Arm the kick timer for absolute CLOCK_MONOTONIC time `ns` (0 = disarm). */
void kvm_arm_timer(struct vm *vm, uint64_t ns);
/* The guest's TSC now, read on the host (0 if its offset is unknown). */
uint64_t kvm_guest_tsc(const struct vm *vm);
/* The guest's TSC was set (a restore): learn its offset from the host's again. */
void kvm_learn_tsc_offset(struct vm *vm);
void kvm_destroy(struct vm *vm);
/* Registers and segment state on stderr, for diagnosing a dead guest. */
void kvm_dump_state(struct vm *vm);

/* The TR type KVM wants to be handed in sregs: see kvm.c. */
uint8_t kvm_tr_type_for_vendor(const char vendor[12]);

#endif
