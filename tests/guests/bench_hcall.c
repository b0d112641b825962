/* bench_hcall: what an exit costs, in TSC cycles per operation (make bench).
 *
 * Three loops, each timed with rdtsc:
 *   direct_trap  `int $0x80` from ring 1 into a trap gate: the CPU delivers
 *                it straight into the guest through the real IDT, no exit at
 *                all -- the in-VM baseline;
 *   hypercall    LOAD_IDT_ENTRY for vector 15, which is the host's: a no-op
 *                the monitor leaves to lgkvm, so int $0x1f -> monitor ->
 *                exit to lgkvm -> back (the round trip every hypercall the
 *                monitor cannot finish pays; TS served until the monitor
 *                learnt it in session 5);
 *   monitor_hcall  LHCALL_FLUSH_ASYNC with an empty ring: int $0x1f -> the
 *                monitor's fast path -> back, no exit (docs/DESIGN.md §2.9);
 *                with --no-fast-path it exits like the one above;
 *   emulated_io  `inb` from port 0x80 at ring 1: #GP -> monitor -> exit ->
 *                lgkvm decodes and skips it.
 * Then interrupt delivery: a clock event 1 ms ahead, the time from its
 * deadline to the guest's IRQ 0 handler, with the guest spinning (the host
 * must kick the vCPU out of the guest and inject) and halted (the host must
 * wake from its sleep): averages over 50 of each, in microseconds.
 * The numbers are printed, never judged: tests/bench/bench.sh makes ratios. */
#include "guest.h"

const char test_name[] = "bench_hcall";

/* The syscall gate's handler: return at once. */
__asm__(".globl bench_iret\nbench_iret:\n\tiret\n");
extern char bench_iret[];

static volatile uint64_t irq_tsc;

static void tick(struct trap_frame *f)
{
	(void)f;
	irq_tsc = rdtsc();
}

/* Microseconds from a 1 ms clock event's deadline to its handler. */
static uint32_t irq_latency_us(int halt, unsigned n)
{
	uint32_t khz = lguest_data.tsc_khz;
	uint64_t total = 0;
	if (!khz)
		return 0;
	lguest_data.blocked_interrupts = 0; /* Linux's static value blocks everything */
	for (unsigned i = 0; i < n; i++) {
		irq_tsc = 0;
		lguest_data.irq_enabled = X86_EFLAGS_IF;
		uint64_t t0 = rdtsc();
		hcall(LHCALL_SET_CLOCKEVENT, 1000000u, 0, 0);
		uint64_t due = t0 + khz; /* 1 ms of TSC */
		while (!irq_tsc)
			if (halt)
				hcall(LHCALL_HALT, 0, 0, 0);
		total += irq_tsc > due ? irq_tsc - due : 0;
	}
	return (uint32_t)(total * 1000 / khz / n);
}

static uint32_t per_op(uint64_t start, uint32_t n)
{
	return (uint32_t)((rdtsc() - start) / n);
}

void test_main(void)
{
	guest_init();
	idt_set_gate(0x80, (uint32_t)bench_iret, GATE_TRAP, 3);
	idt_load_entry(0x80);

	const uint32_t n_trap = 20000, n_exit = 2000;
	uint64_t t = rdtsc();
	for (uint32_t i = 0; i < n_trap; i++)
		__asm__ volatile("int $0x80" ::: "memory");
	uint32_t trap = per_op(t, n_trap);

	t = rdtsc();
	for (uint32_t i = 0; i < n_exit; i++)
		hcall(LHCALL_LOAD_IDT_ENTRY, 15, 0, 0);
	uint32_t hc = per_op(t, n_exit);

	t = rdtsc();
	for (uint32_t i = 0; i < n_trap; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	uint32_t mon = per_op(t, n_trap);

	t = rdtsc();
	for (uint32_t i = 0; i < n_exit; i++)
		__asm__ volatile("inb $0x80, %%al" ::: "eax", "memory");
	uint32_t io = per_op(t, n_exit);

	printf("bench: direct_trap cycles=%u (n=%u)\n", trap, n_trap);
	printf("bench: hypercall cycles=%u (n=%u)\n", hc, n_exit);
	printf("bench: monitor_hcall cycles=%u (n=%u)\n", mon, n_trap);
	printf("bench: emulated_io cycles=%u (n=%u)\n", io, n_exit);
	printf("bench: tsc_khz=%u\n", lguest_data.tsc_khz);
	idt_init_linux(); /* every vector through the library's handlers */
	set_trap_handler(32, tick);
	uint32_t spin_us = irq_latency_us(0, 50), halt_us = irq_latency_us(1, 50);
	printf("bench: irq_latency spinning us=%u halted us=%u (n=50)\n", spin_us, halt_us);
	power_off();
}
