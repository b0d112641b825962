/* irq_storm: many timer interrupts while the guest keeps returning through
 * lguest_iret (§5.5, §5.6).
 *
 * The timer handler re-arms a short one-shot (as Linux's clockevent handler
 * does, from inside the interrupt) while the main loop spins on
 * `int $0x80`, so most of its time is spent in trap entry and lguest_iret,
 * and interrupts land everywhere, nested inside trap handlers too.  The host
 * must never inject inside [noirq_start, noirq_end) -- from 4.1 (layout L4)
 * never at noirq_iret, the iret itself -- each interrupt must
 * arrive with irq_enabled 0 and IF in the frame, and the loop must keep
 * making progress.  (Under an emulator that takes interrupts only at block
 * boundaries the window is rarely hit; on real hardware it is.)  Built for
 * 2.6.24 and once per generation (guests.mk). */
#include "guest.h"

const char test_name[] = "irq_storm";

#define DELTA_NS  200000u /* 0.2 ms */
#define WANT_IRQS 1000u
#define MAX_LOOPS 5000000u

static volatile uint32_t irqs, syscalls, nested;

/* The host's rule for this layout (§5.6, §H1.3). */
static int in_window(uint32_t eip)
{
#if GEN_NOIRQ_IRET
	return eip == lguest_data.noirq_iret;
#else
	return eip >= lguest_data.noirq_start && eip < lguest_data.noirq_end;
#endif
}

/* Inside lguest_iret, before the window: allowed (and worth counting). */
static int before_window(uint32_t eip)
{
#if GEN_NOIRQ_IRET
	return eip >= (uint32_t)lguest_iret && eip < lguest_data.noirq_iret;
#else
	return eip >= (uint32_t)lguest_iret && eip < lguest_data.noirq_start;
#endif
}

static void timer_handler(struct trap_frame *f)
{
	CHECK(!in_window(f->eip), "interrupt %u injected at %x, inside the no-interrupt window",
	      irqs, f->eip);
	CHECK(lguest_data.irq_enabled == 0 && (f->eflags & X86_EFLAGS_IF) && f->cs == KERNEL_CS,
	      "interrupt %u: irq_enabled %x, EFLAGS image %x, CS %x", irqs, lguest_data.irq_enabled,
	      f->eflags, f->cs);
	if (before_window(f->eip))
		nested++;
	irqs++;
	if (irqs < WANT_IRQS)
		hcall(LHCALL_SET_CLOCKEVENT, DELTA_NS, 0, 0);
}

static void syscall_handler(struct trap_frame *f)
{
	(void)f;
	syscalls++;
}

void test_main(void)
{
	uint32_t loops;

	guest_init();
	idt_init_linux();
	set_trap_handler(32, timer_handler);
	set_trap_handler(0x80, syscall_handler);
	lguest_data.blocked_interrupts = 0;
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_SET_CLOCKEVENT, DELTA_NS, 0, 0);

	for (loops = 0; loops < MAX_LOOPS && irqs < WANT_IRQS; loops++)
		__asm__ volatile("int $0x80" ::: "memory");

	hcall(LHCALL_SET_CLOCKEVENT, 0, 0, 0);
	lguest_data.irq_enabled = 0;
	CHECK(syscalls == loops, "%u system calls for %u loops", syscalls, loops);
	CHECK(irqs >= 100, "only %u timer interrupts in %u loops", irqs, loops);
	printf("irq_storm: %u interrupts over %u trap round trips (%u inside lguest_iret "
	       "before the window)\n",
	       irqs, loops, nested);
	pass();
}
