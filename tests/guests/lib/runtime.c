/* lguest_data, LGUEST_INIT and small helpers every guest uses. */
#include "guest.h"

/* Statically initialised exactly as Linux's boot.c does it: all async ring
 * slots free (0xFF), the timer IRQ masked until the guest sets up its clock,
 * interrupts disabled, and the fields the host reads at INIT (§3.3, §4). */
struct lguest_data lguest_data = {
	.irq_enabled = 0,
	.blocked_interrupts = 1,
	.hcall_status = {[0 ... LHCALL_RING_SIZE - 1] = 0xFF},
#if GEN_NOIRQ_IRET
	.noirq_iret = (uint32_t)lguest_noirq_iret,
#else
	.noirq_start = (uint32_t)lguest_noirq_start,
	.noirq_end = (uint32_t)lguest_noirq_end,
#endif
#if !GEN_DMA
	.kernel_address = 0xC0000000,
	.syscall_vec = 0x80,
#endif
};

void guest_init(void)
{
#if GEN_DMA
	/* 2.6.23: lib/entry.S made LGUEST_INIT before it left PAGE_OFFSET. */
	return;
#endif
	/* We run identity-mapped, so the address of lguest_data is its GPA. */
	hcall(LHCALL_LGUEST_INIT, (uint32_t)&lguest_data, 0, 0);
}

uint32_t ram_size(void)
{
	/* e820_map[0].size, low 32 bits (a 32-bit guest has < 4 GiB). */
	return *(volatile uint32_t *)gpa_ptr(BP_E820_MAP + 8);
}

uint32_t tsc_khz_estimate;

uint32_t tsc_rate_khz(void)
{
	return lguest_data.tsc_khz ? lguest_data.tsc_khz : tsc_khz_estimate;
}

/* Without any TSC rate, a guess: enough iterations to take tens of ms even
 * on fast hardware, without being absurd inside a nested, emulated host. */
#define SPIN_ITERS_PER_MS  20000u
#define HCALL_ITERS_PER_MS 50u

void spin_ms(uint32_t ms, int hcalls)
{
	uint32_t khz = tsc_rate_khz();

	if (khz) {
		uint64_t start = rdtsc(), cycles = (uint64_t)ms * khz;
		while (rdtsc() - start < cycles)
			if (hcalls)
				hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
		return;
	}
	uint32_t n = ms * (hcalls ? HCALL_ITERS_PER_MS : SPIN_ITERS_PER_MS);
	for (volatile uint32_t i = 0; i < n; i++)
		if (hcalls)
			hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

uint32_t tsc_ms_since(uint64_t start)
{
	uint32_t khz = tsc_rate_khz();
	return khz ? (uint32_t)((rdtsc() - start) / khz) : 0;
}

void power_off(void)
{
	/* Exactly what Linux's lguest_power_off sends (§11.1). */
	static const char msg[128] = "Power down";
	for (;;)
		hcall(LHCALL_CRASH, (uint32_t)msg, LGUEST_SHUTDOWN_POWEROFF, 0);
}

void returned_from_test_main(void);
void returned_from_test_main(void)
{
	fail("test_main returned");
}
