/* lguest ABI generations as data.
 *
 * shared/lguest-abi-history.md lists what changed from 2.6.23 to 4.13: hypercall
 * numbers, which registers carry the arguments, the async ring's slot layout,
 * lguest_data offsets, the device page format.  Rather than scatter
 * "if (version > ...)" through the host, each generation is one table, chosen
 * once at boot, and the code asks the table.  Only 2.6.24 (G1) exists so far. */
#ifndef LGKVM_ABI_H
#define LGKVM_ABI_H

#include <stdint.h>

/* Hypercall numbers are the same wherever a call exists at all; a generation
 * says which of them it has. */
enum lhcall {
	LHCALL_FLUSH_ASYNC = 0,
	LHCALL_LGUEST_INIT = 1,
	LHCALL_CRASH = 2,
	LHCALL_LOAD_GDT = 3,
	LHCALL_NEW_PGTABLE = 4,
	LHCALL_FLUSH_TLB = 5,
	LHCALL_LOAD_IDT_ENTRY = 6,
	LHCALL_SET_STACK = 7,
	LHCALL_TS = 8,
	LHCALL_SET_CLOCKEVENT = 9,
	LHCALL_HALT = 10,
	LHCALL_SET_PTE = 14,
	LHCALL_SET_PMD = 15,
	LHCALL_LOAD_TLS = 16,
	LHCALL_NOTIFY = 17,
	LHCALL_MAX = 32,
};

/* Where the logical arguments travel. */
enum abi_reg { REG_EAX, REG_EBX, REG_ECX, REG_EDX, REG_ESI };

struct lguest_abi {
	const char *name;	 /* "2.6.24" */
	uint32_t hcalls;	 /* bitmap of valid hypercall numbers */
	enum abi_reg arg_reg[3]; /* registers of arg1..arg3 */
	/* Async ring: status bytes, slots, and where each word sits in a slot. */
	unsigned ring_status_off, ring_slots_off, ring_slot_size, ring_entries;
	unsigned slot_nr_off, slot_arg_off[3];
	/* struct lguest_data offsets. */
	unsigned ld_size, ld_irq_enabled, ld_blocked, ld_cr2, ld_time, ld_reserve_mem, ld_tsc_khz,
		ld_pgdir, ld_noirq_start, ld_noirq_end, ld_kernel_address, ld_syscall_vec;
	uint32_t reserve_mem; /* what we tell the guest to keep free at the top */
};

extern const struct lguest_abi lguest_abi_2_6_24;

#endif
