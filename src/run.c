/* The run loop: every kind of exit, and what it means for an lguest guest.
 *
 * This is the one file where the event path can be read whole.  It dispatches
 * down to kvm-glue/ (enter the guest, wait, inject the kick vector) and across
 * to pvabi/ (the lguest host: hypercalls, traps, interrupts, time) and virtio/
 * (devices and their transports); kvm-glue/ never calls up.
 *
 *   KVM_RUN returns, because...
 *     the monitor wrote its port   a hypercall, a trap it routes to us, or our
 *                                  kick vector: lg_handle_event() on the frame
 *                                  it left on its stack; then time, the halt
 *                                  sleep, one interrupt, the registers back
 *     MMIO                         a device BAR (virtio-PCI), else a kill
 *     a signal (a kick)            time, device input, an interrupt to deliver
 *     an interrupt window opened   deliver the interrupt we were holding
 *     anything else                the guest or KVM is broken: stop
 *
 * Waking the vCPU.  One signal, KVM_KICK_SIGNAL, is the only way anything
 * reaches the vCPU thread: the clock-event timer, the I/O side raising an
 * interrupt, a console keystroke.  The signal stays blocked in this thread
 * except inside KVM_RUN (KVM_SET_SIGNAL_MASK) and inside the halt sleep
 * (ppoll's mask), so a kick that arrives while we are busy in userspace is
 * never lost: it stays pending and the next KVM_RUN returns at once.
 *
 * Every exit is counted by cause (struct exit_stats); `-v` prints the table,
 * the measure of what still leaves the VM (docs/DESIGN.md §2.9). */
#include "src/run.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "kvm-glue/vcpu.h"
#include "pvabi/host.h"
#include "pvabi/irq_rules.h"
#include "src/api.h"
#include "src/log.h"
#include "src/poller.h"
#include "src/signals.h"
#include "src/vm.h"
#include "virtio/bus.h"

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

/* The guest halted: sleep until a device has input or a kick comes. */
static void halt_sleep(struct vm *vm)
{
	struct pollfd fds[8];
	int n = vbus_pollfds(vm, fds, 8);
	if (vcpu_wait(fds, n) > 0)
		vbus_poll(vm);
}

static bool in_monitor(uint64_t rip)
{
	return rip >= MON_GVA;
}

/* After an exit that did not go through the monitor: if an interrupt could
 * be delivered, get the vCPU into the monitor to deliver it. */
static void after_async_exit(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	uint64_t rip = run->s.regs.regs.rip;
	if (vm->dead)
		return;
	/* Inside the monitor the event is already being handled; the guest
	 * will be at a real instruction once it irets, and the window exit
	 * brings us back then. */
	if (lg_irq_deliverable(vm, in_monitor(rip) ? 0 : (uint32_t)rip)) {
		/* The monitor may deliver it without us (kvm-glue/monitor/fast.c):
		 * the time a delivery writes goes in now. */
		lg_write_time(vm);
		vm->lg.stats_msi_vcpu++;
		vcpu_request_kick(vm);
	} else
		run->request_interrupt_window = 0;
}

static void kicked(struct vm *vm, uint64_t deadline)
{
	vcpu_eat_kicks();
	housekeeping(vm, deadline);
	vbus_poll(vm);
	after_async_exit(vm);
}

/* What the monitor's frame says brought the guest out: for the table. */
static void count_event(struct vm *vm, const struct mon_frame *f)
{
	struct exit_stats *x = &vm->exits;
	unsigned vec = f->vector & 0xFF;
	x->monitor++;
	x->vector[vec]++;
}

static void monitor_event(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	struct kvm_regs *kr = &run->s.regs.regs;

	/* The monitor's NOTIFY doorbell rang with no eventfd behind it (KVM
	 * dropped the registration, say): do what KVM would have done. */
	if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == MON_NOTIFY_PORT &&
	    run->io.size == 4 && run->io.count == 1) {
		uint32_t pfn;
		memcpy(&pfn, (uint8_t *)run + run->io.data_offset, 4);
		vbus_notify(vm, pfn << 12);
		return;
	}
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
	count_event(vm, f);
	lg_handle_event(vm, &g, f);

	/* A hypercall may have armed or cancelled the clock event, and time
	 * has passed: fire what is due and re-arm the kick timer. */
	uint64_t deadline = vm->opt.timeout_s ? vm->timeout_deadline : 0;
	housekeeping(vm, deadline);
	while (!vm->dead && vm->lg.halted) {
		/* Held by the API: a stop may have come, and the kick timer
		 * fired unseen while we waited. */
		if (api_pause_point(vm)) {
			housekeeping(vm, deadline);
			continue;
		}
		if (lg_irq_deliverable(vm, f->eip) || lg_halt_in_vm(vm))
			break;
		uint64_t t0 = now_ns();
		halt_sleep(vm);
		vm->lg.stats_halt_ns += now_ns() - t0;
		vcpu_eat_kicks();
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
	if (gpa >= MON_GPA + MON_RO_FIRST * 4096u &&
	    gpa < MON_GPA + (MON_RO_FIRST + MON_RO_PAGES) * 4096u)
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

static void internal_error(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	/* KVM's emulator walks the guest's tables itself; for a PAE guest it
	 * refuses directory-pointer entries with reserved bits set
	 * (docs/DESIGN.md §8.2): show them. */
	if (vm->lg.pae && vm->opt.verbose) {
		uint64_t e[4] = {0};
		gm_read(&vm->mem, vm->lg.pgdir, e, sizeof(e));
		log_msg("PAE directory-pointer table at %#x: %llx %llx %llx %llx", vm->lg.pgdir,
			(unsigned long long)e[0], (unsigned long long)e[1],
			(unsigned long long)e[2], (unsigned long long)e[3]);
	}
	guest_kill(vm, "KVM could not emulate an instruction (suberror %u) at EIP %#llx",
		   run->internal.suberror, (unsigned long long)run->s.regs.regs.rip);
}

int vm_run(struct vm *vm)
{
	struct kvm_run *run = vm->kvm.run;
	struct exit_stats *x = &vm->exits;

	if (vcpu_prepare(vm) < 0) {
		vm_stop(vm, EXIT_INTERNAL, "setting up the vCPU's signals: %s", strerror(errno));
		return vm->exit_code;
	}
	uint64_t deadline = vm->opt.timeout_s ? vm->timeout_deadline : 0;
	housekeeping(vm, deadline);

	while (!vm->dead) {
		if (api_pause_point(vm)) {
			housekeeping(vm, deadline);
			continue;
		}
		lg_fastpath_publish(vm);
		poller_publish(vm);
		int r = vcpu_enter(vm);
		/* Port writes the monitor finished alone happen now, before
		 * anything looks at what they change (pvabi/fastpath.c). */
		lg_fastpath_drain(vm);
		if (vm->dead)
			break;
		if (r > 0) {
			x->kicks++;
			if (vm->opt.verbose > 1)
				log_msg("kick at EIP %#llx",
					(unsigned long long)run->s.regs.regs.rip);
			kicked(vm, deadline);
			continue;
		}
		if (r < 0) {
			vm_stop(vm, EXIT_INTERNAL, "KVM_RUN failed: %s", strerror(errno));
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
			x->windows++;
			after_async_exit(vm);
			break;
		case KVM_EXIT_INTR:
			x->kicks++;
			kicked(vm, deadline);
			break;
		case KVM_EXIT_SHUTDOWN:
			/* The vCPU has been reset by now, so its EIP says nothing. */
			guest_kill(vm, "triple fault (the guest destroyed its own monitor mapping "
				       "or stacks)");
			break;
		case KVM_EXIT_MMIO:
			x->mmio++;
			mmio_exit(vm);
			break;
		case KVM_EXIT_HLT:
			guest_kill(vm, "hlt at ring 0 (EIP %#llx)",
				   (unsigned long long)run->s.regs.regs.rip);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vm_stop(vm, EXIT_INTERNAL,
				"KVM could not enter the guest (hardware reason %#llx)",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			internal_error(vm);
			break;
		default:
			vm_stop(vm, EXIT_INTERNAL, "unexpected KVM exit reason %u",
				run->exit_reason);
			break;
		}
	}
	lg_fastpath_drain(vm); /* the early console's last characters */
	kvm_arm_timer(vm, 0);
	return vm->exit_code;
}

/* The names the table prints for monitor vectors. */
static const char *vector_name(unsigned v)
{
	static const char *const names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?9",	    "#TS",
		"#NP", "#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "?20",	    "?21",
		"?22", "?23", "?24", "?25", "?26", "?27", "?28", "?29", "?30", "hypercall",
	};
	if (v < 32)
		return names[v];
	if (v == MON_KICK_VECTOR)
		return "kick vector";
	if (v == MON_TIMER_VECTOR)
		return "timer vector";
	if (v == 0x80)
		return "int 0x80";
	return "int n";
}

/* "name count, name count, ..." for the n largest counts, into buf. */
static const char *top(char *buf, size_t size, const uint64_t *count, unsigned n,
		       const char *(*name)(const struct vm *, unsigned), const struct vm *vm)
{
	bool done[256] = {false};
	size_t used = 0;
	buf[0] = '\0';
	for (unsigned k = 0; k < 8 && n <= 256; k++) {
		unsigned best = n;
		for (unsigned v = 0; v < n; v++)
			if (!done[v] && count[v] && (best == n || count[v] > count[best]))
				best = v;
		if (best == n)
			break;
		done[best] = true;
		int w = snprintf(buf + used, size - used, "%s%s %llu", k ? ", " : "",
				 name(vm, best), (unsigned long long)count[best]);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	return used ? buf : "none";
}

static const char *vector_label(const struct vm *vm, unsigned v)
{
	(void)vm;
	return vector_name(v);
}

static const char *hcall_label(const struct vm *vm, unsigned nr)
{
	return lg_hcall_name(vm->lg.abi, nr);
}

void run_report(const struct vm *vm)
{
	const struct exit_stats *x = &vm->exits;
	char a[512], b[512];
	log_msg("exits to lgkvm: %llu from the monitor (%s), %llu MMIO, %llu kicks, %llu "
		"interrupt windows",
		(unsigned long long)x->monitor, top(a, sizeof(a), x->vector, 256, vector_label, vm),
		(unsigned long long)x->mmio, (unsigned long long)x->kicks,
		(unsigned long long)x->windows);
	if (vm->lg.abi)
		log_msg("hypercalls: %llu (%s)", (unsigned long long)vm->lg.stats_hcalls,
			top(b, sizeof(b), vm->lg.stats_hcall_nr, 32, hcall_label, vm));
	/* The monitor's own counters (docs/DESIGN.md §2.9): the guest can
	 * write them, so they are a report, never an input. */
	if (!vm->kvm.mon.host)
		return;
	const struct mon_shared *sh = monitor_shared((struct monitor *)&vm->kvm.mon);
	uint64_t in_vm[32], calls = 0;
	for (unsigned i = 0; i < 32; i++)
		calls += in_vm[i] = sh->handled_nr[i];
	if (vm->lg.abi && (vm->lg.stats_msi_vcpu || vm->lg.stats_msi_thread))
		log_msg("kicks: %llu from the vCPU thread, %llu from device threads as MSIs; the "
			"monitor held %u back for its LAPIC timer to retry, and left to lgkvm %u "
			"with interrupts off, %u in the no-interrupt window, %u with no handler",
			(unsigned long long)vm->lg.stats_msi_vcpu,
			(unsigned long long)vm->lg.stats_msi_thread, sh->kick_rechecks,
			sh->kick_declined[IRQ_DISABLED], sh->kick_declined[IRQ_NOT_HERE],
			sh->kick_declined[IRQ_GO]);
	if (vm->lg.abi && (sh->handled || calls))
		log_msg("inside the VM: %u events with no exit; hypercalls done there: %llu (%s); "
			"port writes %u (%llu replayed by lgkvm); page faults reflected %u; "
			"`int n` delivered %u",
			sh->handled, (unsigned long long)calls,
			top(b, sizeof(b), in_vm, 32, hcall_label, vm), sh->handled_pio,
			(unsigned long long)vm->lg.stats_pio_replayed, sh->handled_pf,
			sh->handled_soft);
	if (vm->lg.clock_in_vm)
		log_msg("the monitor's clock: %u clock events fired on the LAPIC timer (%u early "
			"firings restarted); %u halts ended by an interrupt inside the VM",
			sh->ticks, sh->timer_stale, sh->wakeups);
}
