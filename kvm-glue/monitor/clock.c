/* The monitor's clock: the guest's clock event and its idle, on the LAPIC.
 *
 * lguest's clock event is a one-shot "IRQ 0 in delta nanoseconds"
 * (SET_CLOCKEVENT), and its idle is HALT: "sleep until an interrupt comes,
 * then take it, whatever irq_enabled says" (safe_halt's contract).  The
 * reference host answered both in the host kernel with an hrtimer and a
 * schedule(); lgkvm's VMM answered them across an exit each, plus a signal
 * exit for every tick.  Here, with an in-kernel LAPIC that only the monitor
 * uses (kvm-glue/kvm.c, setup_lapic), neither leaves the VM:
 *
 *   SET_CLOCKEVENT programs the LAPIC's one-shot timer, which counts
 *     nanoseconds (KVM's LAPIC runs at 1 GHz, divided by 1), and its
 *     firing arrives on MON_TIMER_VECTOR; the monitor sets IRQ 0 pending
 *     and delivers it like any other (fast.c).
 *   HALT becomes `sti; hlt` at ring 0 in the monitor: KVM sleeps the vCPU in
 *     the kernel, and the timer or a device's MSI wakes it with no exit to
 *     lgkvm.  The monitor publishes `halted`, so that device threads send
 *     their MSI to a halted guest too (pvabi/traps.c, lg_kick_in_vm).
 *
 * One timer serves two deadlines: the clock event, and the monitor's own
 * re-check of an interrupt the guest held back (2 ms behind irq_enabled, 10
 * ms behind blocked_interrupts, the VMM's periods).  Both are kept as guest
 * TSC values (the VMM hands us the TSC's rate as fixed-point factors), the
 * LAPIC is programmed for the nearer, and a firing settles every deadline
 * at or before the one it was programmed for.  A firing the TSC calls early
 * (one latched before the last reprogramming, or a LAPIC a little fast)
 * restarts the count for what is left.
 *
 * Why not the LAPIC's TSC-deadline mode, which the issue named?  lguest
 * hands us a delta in nanoseconds, which the one-shot count takes as is;
 * and KVM can only run a TSC deadline if it knows the TSC's rate, which the
 * nested test host's KVM does not (KVM_GET_TSC_KHZ says 0 there).  The TSC
 * is still what tells the two deadlines apart, where our own measured rate
 * is good enough (docs/DESIGN.md §2.9).
 *
 * lguest_data.time, which the VMM writes with every interrupt it delivers,
 * the monitor writes with every one it delivers: the VMM's last time plus
 * the TSC's progress since (clock_write_time). */
#include "kvm-glue/monitor/inside.h"
#include "pvabi/irq_rules.h"

#define MSR_TMICT 0x838u /* x2APIC timer initial count: 0 stops it */
#define NSEC	  1000000000u

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint64_t get64(const volatile uint32_t w[2])
{
	return (uint64_t)w[1] << 32 | w[0];
}

static void put64(volatile uint32_t w[2], uint64_t v)
{
	w[0] = (uint32_t)v;
	w[1] = (uint32_t)(v >> 32);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* x * f / 2^32, f a 32.32 fixed-point factor from the configuration;
 * saturating (no 64-bit division on i386 without libgcc, and none needed). */
static uint64_t scale(uint64_t x, const volatile uint32_t f[2])
{
	uint32_t xl = (uint32_t)x, xh = (uint32_t)(x >> 32), fl = f[0], fh = f[1];
	uint64_t hh = (uint64_t)xh * fh;
	if (hh >> 32)
		return UINT64_MAX;
	uint64_t r = ((uint64_t)xl * fl) >> 32;
	r = add_sat(r, (uint64_t)xl * fh);
	r = add_sat(r, (uint64_t)xh * fl);
	return add_sat(r, hh << 32);
}

/* Program the LAPIC for the nearer deadline, or stop it when there is none.
 * A count is 32 bits of nanoseconds (4.29 s): a farther deadline is reached
 * in steps, lapic_at naming the step's end, not the deadline. */
static void lapic_arm(void)
{
	volatile struct mon_shared *s = SHARED;
	uint64_t next = 0;
	if (s->clock_armed)
		next = get64(s->clock_at);
	if (s->recheck_armed && (!next || get64(s->recheck_at) < next))
		next = get64(s->recheck_at);
	if (next == get64(s->lapic_at))
		return;
	if (!next) {
		mon_wrmsr(MSR_TMICT, 0);
		put64(s->lapic_at, 0);
		return;
	}
	uint64_t now = rdtsc(), ns = next > now ? scale(next - now, CONFIG->ns_per_tsc) : 1;
	if (ns > 0xFFFFFFFFu) {
		ns = 0xFFFFFFFFu;
		next = now + scale(ns, CONFIG->tsc_per_ns);
	}
	put64(s->lapic_set, now);
	put64(s->lapic_at, next ? next : 1);
	mon_wrmsr(MSR_TMICT, ns ? (uint32_t)ns : 1u);
}

void clock_set(uint32_t delta_ns)
{
	volatile struct mon_shared *s = SHARED;
	s->clock_armed = 0;
	if (delta_ns) {
		put64(s->clock_at, rdtsc() + scale(delta_ns, CONFIG->tsc_per_ns));
		s->clock_armed = 1;
	}
	lapic_arm();
}

void clock_recheck(uint32_t ns)
{
	volatile struct mon_shared *s = SHARED;
	uint64_t at = rdtsc() + scale(ns, CONFIG->tsc_per_ns);
	if (s->recheck_armed && get64(s->recheck_at) <= at)
		return;
	put64(s->recheck_at, at);
	s->recheck_armed = 1;
	lapic_arm();
}

/* MON_TIMER_VECTOR.  Early if the TSC says the programmed deadline is still
 * well ahead -- more than 1/64 of the programmed interval, our margin for the
 * difference between the LAPIC's nanoseconds and our measured TSC rate: a
 * firing latched before the last reprogramming, or a LAPIC that ran a little
 * fast.  Either way the count is started again for what is left: trusting
 * that the LAPIC still runs for the deadline would lose the tick for good
 * when it does not (seen in the test host, whose emulated TSC and timer
 * drift: a 1 ms clock event never came). */
void clock_fired(void)
{
	volatile struct mon_shared *s = SHARED;
	uint64_t at = get64(s->lapic_at), set = get64(s->lapic_set), now = rdtsc();
	if (!at || (now < at && at - now > (at - set) / 64)) {
		s->timer_stale++;
		put64(s->lapic_at, 0);
		lapic_arm();
		return;
	}
	put64(s->lapic_at, 0);
	if (s->clock_armed && get64(s->clock_at) <= at) {
		s->clock_armed = 0;
		__atomic_fetch_or(&s->irq_pending, 1u, __ATOMIC_SEQ_CST);
		s->ticks++;
	}
	if (s->recheck_armed && get64(s->recheck_at) <= at)
		s->recheck_armed = 0;
	lapic_arm();
}

void clock_write_time(uint32_t ld)
{
	const volatile struct mon_config *c = CONFIG;
	volatile struct mon_shared *s = SHARED;
	uint64_t base = get64(s->time_tsc), now = rdtsc();
	uint32_t nsec0 = s->time_nsec;
	if (c->ld_time == MON_LD_ABSENT || !base || now < base || nsec0 >= NSEC)
		return;
	uint64_t ns = add_sat(scale(now - base, c->ns_per_tsc), nsec0);
	uint32_t hi = (uint32_t)(ns >> 32), q, r;
	if (hi >= NSEC)
		return; /* centuries: `divl` would fault */
	__asm__("divl %4" : "=a"(q), "=d"(r) : "a"((uint32_t)ns), "d"(hi), "rm"(NSEC));
	LD_AT(ld, c->ld_time)[0] = s->time_sec + q;
	LD_AT(ld, c->ld_time)[1] = r;
}

/* HALT: sleep until an IRQ may go in, as a halted guest takes one (a
 * pending IRQ that is masked, or has no handler yet, does not wake it), then
 * enable interrupts and deliver it (safe_halt's one step).  `sti; hlt` is
 * the race-free idiom: an interrupt after the check waits in the LAPIC and
 * ends the `hlt`.  It nests on this stack: fast.c settles it and returns
 * here.  0 leaves the delivery to the VMM (interrupts are on by then). */
int clock_halt(struct mon_regs *r, uint32_t ld)
{
	const volatile struct mon_config *c = CONFIG;
	volatile struct mon_shared *s = SHARED;
	const volatile uint32_t *gates = (const volatile uint32_t *)(MON_GVA + MON_GATES_OFF);
	bool noirq = r->f.eip >= c->noirq_start && r->f.eip < c->noirq_end;
	__atomic_store_n(&s->halted, 1u, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t cand = __atomic_load_n(&s->irq_pending, __ATOMIC_SEQ_CST) &
				~*LD_AT(ld, c->ld_blocked);
		int irq = -1;
		if (irq_pick(cand, noirq, true, 0, &irq) == IRQ_GO &&
		    (gates[(32 + irq) * 2 + 1] & 0x8000))
			break;
		__asm__ volatile("sti; hlt; cli" : : : "memory");
	}
	__atomic_store_n(&s->halted, 0u, __ATOMIC_SEQ_CST);
	s->wakeups++;
	*LD_AT(ld, c->ld_irq_enabled) = EFLAGS_IF;
	return mon_deliver_irq(r, ld, 1);
}
