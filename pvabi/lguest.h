/* The lguest host's view of one guest: everything the reference host module
 * (drivers/lguest/) kept per guest, minus what hardware paging made moot. */
#ifndef LGKVM_LGUEST_H
#define LGKVM_LGUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pvabi/abi.h"

#define LG_IDT_ENTRIES 256
#define LG_GDT_ENTRIES 32
#define LG_IRQS	       32

/* One guest IDT gate as the guest gave it, after LOAD_IDT_ENTRY's rules. */
struct lg_gate {
	uint32_t lo, hi; /* 0/0 = "no handler" */
};

struct lguest {
	const struct lguest_abi *abi; /* the guest's ABI generation (chosen at boot) */

	/* Set by LHCALL_LGUEST_INIT. */
	_Atomic bool initialized; /* read by I/O threads too (lg_kick_in_vm) */
	uint32_t lguest_data;	  /* GPA of struct lguest_data */
	uint32_t noirq_start;	  /* [noirq_start, noirq_end): no interrupts here */
	uint32_t noirq_end;
	uint32_t kernel_address;
	uint32_t boot_pgdir; /* the Launcher's page directory */

	uint32_t pgdir; /* current page directory (the guest's "cr3") */

	bool pae;		    /* the guest uses PAE page tables (decided before boot) */
	uint64_t mmio_emulated;	    /* MMIO instructions KVM could not fetch (mmio.c) */
	struct lg_decoder *decoder; /* for those (mmio.c); NULL: reflect the fault */
	bool ts;		    /* virtual CR0.TS */
	_Atomic bool halted;	    /* HALT until an interrupt (read by I/O threads too) */

	/* Virtual interrupts: raised from any thread, consumed by the vCPU. */
	_Atomic uint32_t pending;
	/* The clock event: absolute CLOCK_MONOTONIC deadline in ns, 0 = off --
	 * unless the monitor keeps it on the LAPIC, and HALT with it
	 * (kvm-glue/monitor/clock.c): then both are the monitor's, and a
	 * SET_CLOCKEVENT or HALT that reaches us is handed to it. */
	uint64_t clock_deadline_ns;
	_Atomic bool clock_in_vm;

	/* A NOTIFY met in the async ring postpones the synchronous call. */
	uint64_t stats_exits, stats_hcalls, stats_irqs, stats_halt_ns, stats_vmcall_fixups;
	uint64_t stats_hcall_nr[32]; /* hypercalls by number (async ones too) */
	uint64_t stats_pio_replayed; /* port writes the monitor logged for us */
	_Atomic uint64_t stats_msi_vcpu, stats_msi_thread; /* kick MSIs sent, by whom */
	bool fast_pci; /* the monitor logs the 4.x early console's writes */
};

#endif
