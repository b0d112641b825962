/* bench_hcall: what an exit costs, in TSC cycles per operation (make bench).
 *
 * Three loops, each timed with rdtsc:
 *   direct_trap  `int $0x80` from ring 1 into a trap gate: the CPU delivers
 *                it straight into the guest through the real IDT, no exit at
 *                all -- the in-VM baseline;
 *   hypercall    LHCALL_FLUSH_ASYNC: int $0x1f -> monitor -> exit to lgkvm
 *                -> back (the round trip every hypercall pays);
 *   emulated_io  `outb` to port 0x80 at ring 1: #GP -> monitor -> exit ->
 *                lgkvm decodes and skips it.
 * The numbers are printed, never judged: tests/bench/bench.sh makes ratios. */
#include "guest.h"

const char test_name[] = "bench_hcall";

/* The syscall gate's handler: return at once. */
__asm__(".globl bench_iret\nbench_iret:\n\tiret\n");
extern char bench_iret[];

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
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	uint32_t hc = per_op(t, n_exit);

	t = rdtsc();
	for (uint32_t i = 0; i < n_exit; i++)
		__asm__ volatile("outb %%al, $0x80" ::"a"(0) : "memory");
	uint32_t io = per_op(t, n_exit);

	printf("bench: direct_trap cycles=%u (n=%u)\n", trap, n_trap);
	printf("bench: hypercall cycles=%u (n=%u)\n", hc, n_exit);
	printf("bench: emulated_io cycles=%u (n=%u)\n", io, n_exit);
	printf("bench: tsc_khz=%u\n", lguest_data.tsc_khz);
	power_off();
}
