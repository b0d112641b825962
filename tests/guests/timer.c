/* timer: the clock event and the rules for delivering virtual interrupts
 * (§5.5, §5.6, §8.3, §8.4).  IRQ 0 arrives on vector 32, an interrupt gate.
 *   a. blocked_interrupts bit 0 set: an expired timer stays pending through
 *      ~50 ms of hypercalls; clearing the bit delivers it at the next one.
 *   b. irq_enabled 0: likewise held back; 0x200 delivers it at the next
 *      hypercall; the handler sees irq_enabled 0 and an EFLAGS image with IF.
 *   c. LHCALL_HALT with interrupts "off" and a timer: returns through the
 *      interrupt, with interrupts on afterwards (safe_halt semantics).  Run
 *      first: if the host gives tsc_khz 0, the halt also calibrates the TSC
 *      so that the "spin 50 ms" steps really last that long.
 *   d. a busy loop with no hypercalls at all still gets the interrupt: the
 *      host must kick the vCPU (Appendix A.6).
 *   e. SET_CLOCKEVENT(0) cancels an armed timer.
 *   f. HALT with an interrupt already pending returns at once, through it.
 *   g. a pending IRQ whose IDT entry is absent just stays pending (no kill)
 *      and is delivered once the gate is loaded.
 *   h. lguest_data.time moved forward while interrupts were delivered.
 * Timings are only printed, never asserted tightly: the test host is slow. */
#include "guest.h"

const char test_name[] = "timer";

#define MS 1000000u /* SET_CLOCKEVENT takes nanoseconds */

static volatile uint32_t ticks, tick_irq_enabled, tick_eflags;

static void timer_handler(struct trap_frame *f)
{
	ticks++;
	tick_irq_enabled = lguest_data.irq_enabled;
	tick_eflags = f->eflags;
	/* Never inside lguest_iret's window (§5.6). */
	CHECK(f->eip < lguest_data.noirq_start || f->eip >= lguest_data.noirq_end,
	      "interrupt injected at %x, inside the no-interrupt window", f->eip);
	CHECK(f->cs == KERNEL_CS, "timer frame CS %x (an error code pushed for an IRQ?)", f->cs);
}

static void flush(void)
{
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

static void test_blocked(void)
{
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	lguest_data.blocked_interrupts = 1;
	hcall(LHCALL_SET_CLOCKEVENT, 1 * MS, 0, 0);
	spin_ms(50, 1);
	CHECK(ticks == 1, "timer delivered while blocked_interrupts bit 0 was set");
	lguest_data.blocked_interrupts = 0;
	flush();
	CHECK(ticks == 2, "unblocked pending timer not delivered at the next hypercall (%u)",
	      ticks - 1);
	CHECK(tick_irq_enabled == 0, "handler ran with irq_enabled %x (interrupt gate)",
	      tick_irq_enabled);
	CHECK(tick_eflags & X86_EFLAGS_IF, "EFLAGS image %x lacks IF", tick_eflags);
	CHECK(lguest_data.irq_enabled & X86_EFLAGS_IF, "irq_enabled %x after lguest_iret",
	      lguest_data.irq_enabled);
	printf("timer: blocked_interrupts holds IRQ 0 back ok\n");
}

static void test_irq_disabled(void)
{
	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1 * MS, 0, 0);
	spin_ms(50, 1);
	CHECK(ticks == 2, "timer delivered while irq_enabled was 0");
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	flush();
	CHECK(ticks == 3, "pending timer not delivered at the next hypercall after enabling");
	CHECK(tick_irq_enabled == 0 && (tick_eflags & X86_EFLAGS_IF),
	      "handler saw irq_enabled %x, EFLAGS image %x", tick_irq_enabled, tick_eflags);
	printf("timer: irq_enabled 0 holds IRQ 0 back ok\n");
}

#define HALT_MS 20u

static void test_halt(void)
{
	lguest_data.blocked_interrupts = 0;
	lguest_data.irq_enabled = 0; /* like safe_halt's caller */
	hcall(LHCALL_SET_CLOCKEVENT, HALT_MS * MS, 0, 0);
	uint64_t t0 = rdtsc();
	hcall(LHCALL_HALT, 0, 0, 0);
	uint64_t cycles = rdtsc() - t0;
	CHECK(ticks == 1, "HALT returned without the timer interrupt (%u)", ticks);
	CHECK(tick_eflags & X86_EFLAGS_IF, "HALT wake-up frame EFLAGS %x lacks IF", tick_eflags);
	CHECK(lguest_data.irq_enabled & X86_EFLAGS_IF, "irq_enabled %x after HALT",
	      lguest_data.irq_enabled);
	/* A late timer only makes the estimate too high: spins get longer. */
	if (!lguest_data.tsc_khz)
		tsc_khz_estimate = (uint32_t)(cycles / HALT_MS);
	printf("timer: HALT woke by the %u ms timer after ~%u ms ok\n", HALT_MS, tsc_ms_since(t0));
}

static void test_busy_loop(void)
{
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_SET_CLOCKEVENT, 20 * MS, 0, 0);
	uint64_t t0 = rdtsc();
	/* No hypercalls: only a host that forces the vCPU out can deliver. */
	uint32_t limit_ms = 2000, khz = tsc_rate_khz();
	while (ticks == 3) {
		if (khz) {
			if (rdtsc() - t0 > (uint64_t)limit_ms * khz)
				break;
		} else if (limit_ms-- == 0) {
			break;
		} else {
			for (volatile uint32_t i = 0; i < 20000; i++)
				;
		}
	}
	CHECK(ticks == 4, "no timer interrupt within 2 s of a busy loop");
	printf("timer: interrupt reached a busy loop after ~%u ms ok\n", tsc_ms_since(t0));
}

static void test_cancel(void)
{
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_SET_CLOCKEVENT, 5 * MS, 0, 0);
	hcall(LHCALL_SET_CLOCKEVENT, 0, 0, 0);
	spin_ms(50, 1);
	CHECK(ticks == 4, "cancelled timer fired");
	printf("timer: SET_CLOCKEVENT(0) cancels ok\n");
}

static void test_halt_pending(void)
{
	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1 * MS, 0, 0);
	spin_ms(20, 1); /* now pending, held back by irq_enabled 0 */
	CHECK(ticks == 4, "timer delivered with irq_enabled 0");
	hcall(LHCALL_HALT, 0, 0, 0);
	CHECK(ticks == 5, "HALT with a pending interrupt returned without it");
	printf("timer: HALT with an interrupt pending ok\n");
}

static void test_absent_gate(void)
{
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_LOAD_IDT_ENTRY, 32, 0, 0); /* not present: "no handler" */
	hcall(LHCALL_SET_CLOCKEVENT, 1 * MS, 0, 0);
	spin_ms(50, 1);
	CHECK(ticks == 5, "interrupt delivered through an absent gate");
	idt_load_entry(32); /* a hypercall too: delivery follows it */
	CHECK(ticks == 6, "pending IRQ not delivered once its gate was loaded");
	printf("timer: IRQ with no gate stays pending ok\n");
}

void test_main(void)
{
	int32_t sec0, nsec0;

	guest_init();
	sec0 = lguest_data.time.tv_sec;
	nsec0 = lguest_data.time.tv_nsec;
	idt_init_linux();
	set_trap_handler(32, timer_handler);
	CHECK(lguest_data.blocked_interrupts == 1, "blocked_interrupts %x, want IRQ 0 masked",
	      lguest_data.blocked_interrupts);
	printf("timer: tsc_khz %u\n", lguest_data.tsc_khz);

	test_halt();
	if (!lguest_data.tsc_khz)
		printf("timer: host gives no TSC rate; measured ~%u kHz\n", tsc_khz_estimate);
	test_blocked();
	test_irq_disabled();
	test_busy_loop();
	test_cancel();
	test_halt_pending();
	test_absent_gate();
	lguest_data.irq_enabled = 0;
	CHECK(lguest_data.time.tv_sec > sec0 ||
		      (lguest_data.time.tv_sec == sec0 && lguest_data.time.tv_nsec > nsec0),
	      "lguest_data.time did not advance (%d.%09d at INIT, %d.%09d now)", sec0, nsec0,
	      lguest_data.time.tv_sec, lguest_data.time.tv_nsec);
	/* The ticks that found us spinning went in without an exit to lgkvm:
	 * the monitor delivered them on the kick vector (struct mon_shared's
	 * handled_irqs, word 39 of its data page; docs/DESIGN.md §2.9). */
	uint32_t by_monitor = MON_HANDLED_IRQS;
	CHECK(by_monitor > 0, "no timer tick was delivered inside the VM");
	printf("timer: %u interrupts delivered by the monitor alone ok\n", by_monitor);
	/* With an in-kernel LAPIC the monitor keeps the clock event on its
	 * timer and sleeps our HALTs itself (kvm-glue/monitor/clock.c): the
	 * calls, the firings and the wake-ups never left the VM. */
	if (MON_CLOCK_IN_VM) {
		CHECK(MON_HANDLED_NR(LHCALL_SET_CLOCKEVENT) >= 6,
		      "only %u SET_CLOCKEVENTs done inside the VM",
		      MON_HANDLED_NR(LHCALL_SET_CLOCKEVENT));
		CHECK(MON_HANDLED_NR(LHCALL_HALT) == 2, "%u HALTs slept inside the VM, want 2",
		      MON_HANDLED_NR(LHCALL_HALT));
		CHECK(MON_TICKS >= 5, "%u clock events fired on the monitor's timer", MON_TICKS);
		CHECK(MON_WAKEUPS == 2, "%u halts ended inside the VM, want 2", MON_WAKEUPS);
		printf("timer: clock events and halts inside the VM ok\n");
	}
	pass();
}
