/* What the monitor's C files share: where its state lives, and the calls
 * between them.  i386, freestanding, no writable data (monitor.ld). */
#ifndef LGKVM_MONITOR_INSIDE_H
#define LGKVM_MONITOR_INSIDE_H

#include <stdint.h>

#include "kvm-glue/monitor.h"

/* The stack at the call: `pushal` below the frame. */
struct mon_regs {
	uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax_scratch;
	struct mon_frame f;
};

#define CONFIG ((const volatile struct mon_config *)(MON_GVA + MON_CONFIG_OFF))
#define SHARED ((volatile struct mon_shared *)(MON_GVA + MON_DATA_OFF))
/* The regs of an event that came from the guest (not a nested fault). */
#define REGS_AT ((uint32_t)MON_FRAME_GVA - 32u)

/* lguest_data, through the monitor's own mapping of it. */
#define LD_AT(ld, off) ((volatile uint32_t *)((ld) + (off)))

static inline void mon_wrmsr(uint32_t msr, uint32_t lo)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(0u) : "memory");
}

/* fast.c: deliver the pending IRQ the rules allow onto r's frame (1), or
 * leave everything untouched for the VMM (0); from_kick: r is the kick or
 * timer vector's frame, not a finished event's. */
int mon_deliver_irq(struct mon_regs *r, uint32_t ld, int from_kick);

/* clock.c: the LAPIC timer and idle (mon_config.apic_clock). */
void clock_set(uint32_t delta_ns);
void clock_recheck(uint32_t ns);
void clock_fired(void);
void clock_write_time(uint32_t ld);
int clock_halt(struct mon_regs *r, uint32_t ld);

#endif
