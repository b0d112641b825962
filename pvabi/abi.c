#include "abi.h"

#define BIT(n) (1u << (n))

/* Linux 2.6.24 (generation G1): shared/lguest-abi.md sections 3.4, 3.6 and 4. */
const struct lguest_abi lguest_abi_2_6_24 = {
	.name = "2.6.24",
	.hcalls = BIT(LHCALL_FLUSH_ASYNC) | BIT(LHCALL_LGUEST_INIT) | BIT(LHCALL_CRASH) |
		  BIT(LHCALL_LOAD_GDT) | BIT(LHCALL_NEW_PGTABLE) | BIT(LHCALL_FLUSH_TLB) |
		  BIT(LHCALL_LOAD_IDT_ENTRY) | BIT(LHCALL_SET_STACK) | BIT(LHCALL_TS) |
		  BIT(LHCALL_SET_CLOCKEVENT) | BIT(LHCALL_HALT) | BIT(LHCALL_SET_PTE) |
		  BIT(LHCALL_SET_PMD) | BIT(LHCALL_LOAD_TLS) | BIT(LHCALL_NOTIFY),
	.arg_reg = {REG_EDX, REG_EBX, REG_ECX},
	/* The classic trap: a slot is {nr, arg2, arg3, arg1}, mirroring the
	 * reference host's register block order EAX, EBX, ECX, EDX. */
	.ring_status_off = 0x014,
	.ring_slots_off = 0x054,
	.ring_slot_size = 16,
	.ring_entries = 64,
	.slot_nr_off = 0,
	.slot_arg_off = {12, 4, 8},
	.ld_size = 0x470,
	.ld_irq_enabled = 0x000,
	.ld_blocked = 0x004,
	.ld_cr2 = 0x008,
	.ld_time = 0x00C,
	.ld_reserve_mem = 0x454,
	.ld_tsc_khz = 0x458,
	.ld_pgdir = 0x45C,
	.ld_noirq_start = 0x460,
	.ld_noirq_end = 0x464,
	.ld_kernel_address = 0x468,
	.ld_syscall_vec = 0x46C,
	.reserve_mem = 0x00400000,
};
