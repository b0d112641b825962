/* The vCPU's KVM primitives: entering the guest, being woken, injecting the
 * monitor's kick vector.  What each kind of exit *means* is src/run.c's: this
 * file knows KVM, not lguest.
 *
 * Waking the vCPU.  One signal, KVM_KICK_SIGNAL, is the only way anything
 * reaches the vCPU thread: the clock-event timer, the I/O side raising an
 * interrupt, a console keystroke.  The signal stays blocked in this thread
 * except inside KVM_RUN (KVM_SET_SIGNAL_MASK) and inside the halt sleep
 * (ppoll's mask), so a kick that arrives while we are busy in userspace is
 * never lost: it stays pending and the next KVM_RUN returns at once. */
#include "kvm-glue/vcpu.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kvm-glue/kvm.h"
#include "src/log.h"
#include "src/signals.h"
#include "src/vm.h"

int vcpu_set_sregs(struct vm *vm, struct kvm_sregs *s)
{
	s->tr.type = vm->kvm.tr_type;
	return ioctl(vm->kvm.vcpu_fd, KVM_SET_SREGS, s);
}

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to interrupt ppoll() */
}

static int setup_signals(struct vm *vm)
{
	struct kvm_state *k = &vm->kvm;
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0)
		return -1;

	sigset_t block, run_mask;
	sigemptyset(&block);
	sigaddset(&block, KVM_KICK_SIGNAL);
	if (pthread_sigmask(SIG_BLOCK, &block, &run_mask) < 0)
		return -1;
	/* Inside KVM_RUN the kick is deliverable: it forces an exit. */
	sigdelset(&run_mask, KVM_KICK_SIGNAL);
	/* struct kvm_signal_mask ends in a flexible array: give it room for
	 * the kernel's 8-byte sigset. */
	union {
		struct kvm_signal_mask m;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} km = {.m.len = 8};
	memcpy(km.m.sigset, &run_mask, 8);
	if (ioctl(k->vcpu_fd, KVM_SET_SIGNAL_MASK, &km.m) < 0)
		return -1;

	k->vcpu_thread = pthread_self();
	k->vcpu_thread_set = true;

	struct sigevent ev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = KVM_KICK_SIGNAL,
	};
	ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &ev, &k->timer) < 0)
		return -1;
	k->timer_set = true;
	return 0;
}

/* The signal mask for KVM_RUN and the kick timer are set up once, before the
 * seccomp sandbox closes (src/sandbox.c): neither timer_create nor
 * KVM_SET_SIGNAL_MASK is allowed once the guest runs.  Idempotent, so the run
 * loop can still call it for callers that never sandbox. */
int vcpu_prepare(struct vm *vm)
{
	return vm->kvm.timer_set ? 0 : setup_signals(vm); /* the timer is its last step */
}

void vcpu_timer_delete(struct vm *vm)
{
	timer_delete(vm->kvm.timer);
	vm->kvm.timer_set = false;
}

void kvm_arm_timer(struct vm *vm, uint64_t ns)
{
	struct kvm_state *k = &vm->kvm;
	if (!k->timer_set || ns == k->timer_armed_ns)
		return;
	struct itimerspec its = {0};
	its.it_value.tv_sec = (time_t)(ns / 1000000000u);
	its.it_value.tv_nsec = (long)(ns % 1000000000u);
	timer_settime(k->timer, TIMER_ABSTIME, &its, NULL);
	k->timer_armed_ns = ns;
}

void kvm_kick(struct vm *vm)
{
	struct kvm_state *k = &vm->kvm;
	/* From the vCPU thread itself there is nothing to interrupt: pending
	 * interrupts are examined before every resume. */
	if (k->vcpu_thread_set && !pthread_equal(k->vcpu_thread, pthread_self()))
		pthread_kill(k->vcpu_thread, KVM_KICK_SIGNAL);
}

/* Swallow kicks that are pending while the signal is blocked. */
void vcpu_eat_kicks(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, KVM_KICK_SIGNAL);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&s, NULL, &zero) > 0)
		;
}

int vcpu_wait(struct pollfd *fds, int n)
{
	sigset_t mask;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	sigdelset(&mask, KVM_KICK_SIGNAL);
	return ppoll(fds, (nfds_t)n, NULL, &mask);
}

bool kvm_on_vcpu_thread(const struct vm *vm)
{
	return vm->kvm.vcpu_thread_set && pthread_equal(vm->kvm.vcpu_thread, pthread_self());
}

int kvm_signal_kick(struct vm *vm)
{
	/* Fixed delivery, edge, to APIC ID 0: our one vCPU. */
	struct kvm_msi msi = {.address_lo = 0xFEE00000u, .data = MON_KICK_VECTOR};
	if (!vm->kvm.irqchip || vm->kvm.vm_fd < 0)
		return -1;
	return ioctl(vm->kvm.vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -1 : 0;
}

void vcpu_request_kick(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	if (vm->kvm.irqchip) {
		/* The LAPIC holds it until the guest's IF is set. */
		run->request_interrupt_window = 0;
		kvm_signal_kick(vm);
		return;
	}
	if (run->ready_for_interrupt_injection && run->if_flag) {
		struct kvm_interrupt irq = {.irq = MON_KICK_VECTOR};
		if (ioctl(vm->kvm.vcpu_fd, KVM_INTERRUPT, &irq) == 0) {
			run->request_interrupt_window = 0;
			return;
		}
	}
	run->request_interrupt_window = 1;
}

int vcpu_enter(struct vm *vm)
{
	if (ioctl(vm->kvm.vcpu_fd, KVM_RUN, 0) == 0)
		return 0;
	return errno == EINTR || errno == EAGAIN ? 1 : -1;
}
