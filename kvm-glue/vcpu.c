/* The vCPU loop: KVM_RUN, and what every kind of exit means for an lguest
 * guest.
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
#include "pvabi/host.h"
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
static void eat_kicks(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, KVM_KICK_SIGNAL);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&s, NULL, &zero) > 0)
		;
}

/* Time-based housekeeping after any wake-up; re-arm the one timer for the
 * earliest thing we must look at again. */
static void housekeeping(struct vm *vm, uint64_t deadline)
{
	int sig = signals_pending_stop();
	if (sig) {
		vm_stop(vm, EXIT_INTERRUPTED, "stopped by signal %d (%s)", sig, strsignal(sig));
		return;
	}
	uint64_t now = now_ns();
	if (deadline && now >= deadline) {
		vm_stop(vm, EXIT_TIMEOUT, "timed out after %u s", vm->opt.timeout_s);
		return;
	}
	lg_tick(vm, now);
	uint64_t wake = lg_next_wake(vm, now);
	if (deadline && (!wake || deadline < wake))
		wake = deadline;
	kvm_arm_timer(vm, wake);
}

/* HALT: sleep until a kick (timer, device), console input, or the timeout. */
static void halt_sleep(struct vm *vm)
{
	struct pollfd fds[8];
	int n = vbus_pollfds(vm, fds, 8);
	sigset_t mask;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	sigdelset(&mask, KVM_KICK_SIGNAL);
	int r = ppoll(fds, (nfds_t)n, NULL, &mask);
	if (r > 0)
		vbus_poll(vm);
}

static bool in_monitor(uint64_t rip)
{
	return rip >= MON_GVA;
}

/* An interrupt became deliverable while the guest ran on without exiting:
 * enter the monitor through the kick vector (KVM's userspace-irqchip path), as
 * soon as the vCPU can take an interrupt. */
static void request_kick(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	if (run->ready_for_interrupt_injection && run->if_flag) {
		struct kvm_interrupt irq = {.irq = MON_KICK_VECTOR};
		if (ioctl(vm->kvm.vcpu_fd, KVM_INTERRUPT, &irq) == 0) {
			run->request_interrupt_window = 0;
			return;
		}
	}
	run->request_interrupt_window = 1;
}

static void after_async_exit(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	uint64_t rip = run->s.regs.regs.rip;
	if (vm->dead)
		return;
	/* Inside the monitor the event is already being handled; the guest
	 * will be at a real instruction once it irets, and the window exit
	 * brings us back then. */
	if (lg_irq_deliverable(vm, in_monitor(rip) ? 0 : (uint32_t)rip))
		request_kick(vm);
	else
		run->request_interrupt_window = 0;
}

/* KVM_RUN came back because of a signal (a kick, the timer, a stop request):
 * whatever woke us is now pending state; look at all of it once. */
static void kicked(struct vm *vm, uint64_t deadline)
{
	eat_kicks();
	housekeeping(vm, deadline);
	vbus_poll(vm);
	after_async_exit(vm);
}

static void monitor_event(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	struct kvm_regs *kr = &run->s.regs.regs;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != MON_PORT) {
		guest_kill(vm, "unexpected port I/O %s port %#x at EIP %#llx",
			   run->io.direction == KVM_EXIT_IO_OUT ? "out to" : "in from",
			   run->io.port, (unsigned long long)kr->rip);
		return;
	}
	if (kr->rsp != MON_FRAME_GVA) {
		/* Only a fault inside the monitor itself nests on its stack: the
		 * `iret` could not load the guest's state (the reference host's
		 * "trap 256"). */
		struct mon_frame *f = monitor_frame(&vm->kvm.mon);
		guest_kill(vm,
			   "fault %u while loading guest state (segments or stack at EIP %#x "
			   "unusable)",
			   f->vector & 0xFF, f->eip);
		(void)f;
		return;
	}

	struct mon_frame *f = monitor_frame(&vm->kvm.mon);
	struct guest_regs g = {
		.ebx = (uint32_t)kr->rbx,
		.ecx = (uint32_t)kr->rcx,
		.edx = (uint32_t)kr->rdx,
		.esi = (uint32_t)kr->rsi,
		.edi = (uint32_t)kr->rdi,
		.ebp = (uint32_t)kr->rbp,
	};
	vm->lg.stats_exits++;
	lg_handle_event(vm, &g, f);

	/* A hypercall may have armed or cancelled the clock event, and time
	 * has passed: fire what is due and re-arm the kick timer. */
	uint64_t deadline = vm->opt.timeout_s ? vm->timeout_deadline : 0;
	housekeeping(vm, deadline);
	while (!vm->dead && vm->lg.halted) {
		if (lg_irq_deliverable(vm, f->eip))
			break;
		uint64_t t0 = now_ns();
		halt_sleep(vm);
		vm->lg.stats_halt_ns += now_ns() - t0;
		eat_kicks();
		housekeeping(vm, deadline);
	}
	if (vm->dead)
		return;
	lg_maybe_interrupt(vm, f);
	if (g.dirty) {
		kr->rbx = g.ebx;
		kr->rcx = g.ecx;
		kr->rdx = g.edx;
		kr->rsi = g.esi;
		kr->rdi = g.edi;
		kr->rbp = g.ebp;
		run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	after_async_exit(vm);
}

/* An access KVM could not satisfy from a memslot: a device's BAR (virtio-PCI,
 * decoded by KVM, the data in run->mmio), a write to the monitor's read-only
 * pages, or guest-physical space with nothing there. */
static void mmio_exit(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	uint64_t gpa = run->mmio.phys_addr;
	unsigned long long eip = (unsigned long long)run->s.regs.regs.rip;
	if (gpa >= MON_GPA && gpa < MON_GPA + MON_RO_PAGES * 4096u)
		guest_kill(vm,
			   "%s the monitor's read-only pages at guest-physical %#llx (EIP %#llx)",
			   run->mmio.is_write ? "write to" : "access to", (unsigned long long)gpa,
			   eip);
	else if (!vbus_mmio(vm, gpa, run->mmio.data, run->mmio.len, run->mmio.is_write))
		guest_kill(vm,
			   "access to unbacked guest-physical address %#llx (%s at EIP %#llx): no "
			   "device there",
			   (unsigned long long)gpa, run->mmio.is_write ? "write" : "read", eip);
}

static void describe_fail_entry(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	vm_stop(vm, EXIT_INTERNAL, "KVM could not enter the guest (hardware reason %#llx)",
		(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
}

int kvm_run_loop(struct vm *vm)
{
	struct kvm_state *k = &vm->kvm;
	struct kvm_run *run = k->run;

	if (vcpu_prepare(vm) < 0) {
		vm_stop(vm, EXIT_INTERNAL, "setting up the vCPU's signals: %s", strerror(errno));
		return vm->exit_code;
	}
	uint64_t deadline = vm->opt.timeout_s ? vm->timeout_deadline : 0;
	housekeeping(vm, deadline);

	while (!vm->dead) {
		int r = ioctl(k->vcpu_fd, KVM_RUN, 0);
		int saved = errno;
		if (r < 0) {
			if (saved == EINTR || saved == EAGAIN) {
				if (vm->opt.verbose > 1)
					log_msg("kick at EIP %#llx",
						(unsigned long long)run->s.regs.regs.rip);
				kicked(vm, deadline);
				continue;
			}
			vm_stop(vm, EXIT_INTERNAL, "KVM_RUN failed: %s", strerror(saved));
			break;
		}
		if (vm->opt.verbose > 1 && run->exit_reason != KVM_EXIT_IO)
			log_msg("exit %u at EIP %#llx", run->exit_reason,
				(unsigned long long)run->s.regs.regs.rip);
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			monitor_event(vm);
			break;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
			after_async_exit(vm);
			break;
		case KVM_EXIT_INTR:
			kicked(vm, deadline);
			break;
		case KVM_EXIT_SHUTDOWN:
			/* The vCPU has been reset by now, so its EIP says nothing. */
			guest_kill(vm, "triple fault (the guest destroyed its own monitor mapping "
				       "or stacks)");
			break;
		case KVM_EXIT_MMIO:
			mmio_exit(vm);
			break;
		case KVM_EXIT_HLT:
			guest_kill(vm, "hlt at ring 0 (EIP %#llx)",
				   (unsigned long long)run->s.regs.regs.rip);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			describe_fail_entry(vm);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			/* KVM's emulator walks the guest's tables itself; for a
			 * PAE guest it refuses directory-pointer entries with
			 * reserved bits set (docs/DESIGN.md §8.2): show them. */
			if (vm->lg.pae && vm->opt.verbose) {
				uint64_t e[4] = {0};
				gm_read(&vm->mem, vm->lg.pgdir, e, sizeof(e));
				log_msg("PAE directory-pointer table at %#x: %llx %llx %llx %llx",
					vm->lg.pgdir, (unsigned long long)e[0],
					(unsigned long long)e[1], (unsigned long long)e[2],
					(unsigned long long)e[3]);
			}
			guest_kill(vm,
				   "KVM could not emulate an instruction (suberror %u) at EIP "
				   "%#llx",
				   run->internal.suberror,
				   (unsigned long long)run->s.regs.regs.rip);
			break;
		default:
			vm_stop(vm, EXIT_INTERNAL, "unexpected KVM exit reason %u",
				run->exit_reason);
			break;
		}
	}
	kvm_arm_timer(vm, 0);
	return vm->exit_code;
}
