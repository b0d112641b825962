/* The lguest guest ABI, generation by generation (docs/abi.md part H).
 *
 * One table per generation.  What differs between two neighbours is what the
 * kernels of the later one changed; the comment above each entry says which
 * release did what, so this file doubles as a changelog of the guest ABI. */
#include "abi.h"

#include <stddef.h>
#include <strings.h>

#define BIT(n) (1u << (n))

/* The calls every generation has. */
#define HC_COMMON                                                                       \
	(BIT(LHCALL_FLUSH_ASYNC) | BIT(LHCALL_LGUEST_INIT) | BIT(LHCALL_CRASH) |        \
	 BIT(LHCALL_NEW_PGTABLE) | BIT(LHCALL_FLUSH_TLB) | BIT(LHCALL_LOAD_IDT_ENTRY) | \
	 BIT(LHCALL_SET_STACK) | BIT(LHCALL_SET_CLOCKEVENT) | BIT(LHCALL_HALT) |        \
	 BIT(LHCALL_SET_PTE) | BIT(LHCALL_SET_PMD) | BIT(LHCALL_LOAD_TLS))
/* 2.6.23: devices by DMA, no NOTIFY yet. */
#define HC_2_6_23                                                                   \
	(HC_COMMON | BIT(LHCALL_LOAD_GDT) | BIT(LHCALL_TS) | BIT(LHCALL_BIND_DMA) | \
	 BIT(LHCALL_SEND_DMA))
#define HC_2_6_24 (HC_COMMON | BIT(LHCALL_LOAD_GDT) | BIT(LHCALL_TS) | BIT(LHCALL_NOTIFY))
#define HC_2_6_30 (HC_COMMON | BIT(LHCALL_LOAD_GDT_ENTRY) | BIT(LHCALL_TS) | BIT(LHCALL_NOTIFY))
#define HC_2_6_31 (HC_2_6_30 | BIT(LHCALL_SEND_INTERRUPTS))
#define HC_4_0	  (HC_2_6_31 & ~BIT(LHCALL_NOTIFY))
#define HC_4_10	  (HC_4_0 & ~BIT(LHCALL_TS))

/* lguest_data layouts (docs/abi.md §H1.3). */
/* 2.6.23 (include/linux/lguest.h): the ring is {eax, edx, ebx, ecx}; after
 * the ring come reserve_mem, a u16 guestid (the net driver's MAC), tsc_khz
 * and the no-interrupt range.  No kernel_address, no syscall_vec, no pgdir. */
#define LAYOUT_L0                                                                               \
	.layout = "L0", .ring_status_off = 20, .ring_slots_off = 84, .ring_slot_size = 16,      \
	.ring_entries = 64, .ld_size = 1128, .ld_irq_enabled = 0, .ld_blocked = 4, .ld_cr2 = 8, \
	.ld_time = 12, .ld_irq_pending = LD_NONE, .ld_reserve_mem = 1108, .ld_guestid = 1112,   \
	.ld_tsc_khz = 1116, .ld_pgdir = LD_NONE, .ld_noirq_start = 1120, .ld_noirq_end = 1124,  \
	.ld_kernel_address = LD_NONE, .ld_syscall_vec = LD_NONE
#define LAYOUT_L1                                                                                  \
	.layout = "L1", .ring_status_off = 20, .ring_slots_off = 84, .ring_slot_size = 16,         \
	.ring_entries = 64, .ld_size = 1136, .ld_irq_enabled = 0, .ld_blocked = 4, .ld_cr2 = 8,    \
	.ld_time = 12, .ld_irq_pending = LD_NONE, .ld_reserve_mem = 1108, .ld_tsc_khz = 1112,      \
	.ld_pgdir = 1116, .ld_noirq_start = 1120, .ld_noirq_end = 1124, .ld_kernel_address = 1128, \
	.ld_syscall_vec = 1132, .ld_guestid = LD_NONE
/* 2.6.31 added irq_pending (and a fifth word to each ring slot). */
#define LAYOUT_L2                                                                                  \
	.layout = "L2", .ring_status_off = 24, .ring_slots_off = 88, .ring_slot_size = 20,         \
	.ring_entries = 64, .ld_size = 1396, .ld_irq_enabled = 0, .ld_blocked = 4, .ld_cr2 = 8,    \
	.ld_time = 12, .ld_irq_pending = 20, .ld_reserve_mem = 1368, .ld_tsc_khz = 1372,           \
	.ld_pgdir = 1376, .ld_noirq_start = 1380, .ld_noirq_end = 1384, .ld_kernel_address = 1388, \
	.ld_syscall_vec = 1392, .ld_guestid = LD_NONE
/* 3.1 dropped pgdir: never write offset 1376 from here on. */
#define LAYOUT_L3                                                                               \
	.layout = "L3", .ring_status_off = 24, .ring_slots_off = 88, .ring_slot_size = 20,      \
	.ring_entries = 64, .ld_size = 1392, .ld_irq_enabled = 0, .ld_blocked = 4, .ld_cr2 = 8, \
	.ld_time = 12, .ld_irq_pending = 20, .ld_reserve_mem = 1368, .ld_tsc_khz = 1372,        \
	.ld_pgdir = LD_NONE, .ld_noirq_start = 1376, .ld_noirq_end = 1380,                      \
	.ld_kernel_address = 1384, .ld_syscall_vec = 1388, .ld_guestid = LD_NONE
/* 4.1 replaced the no-interrupt range by a single iret address. */
#define LAYOUT_L4                                                                               \
	.layout = "L4", .ring_status_off = 24, .ring_slots_off = 88, .ring_slot_size = 20,      \
	.ring_entries = 64, .ld_size = 1388, .ld_irq_enabled = 0, .ld_blocked = 4, .ld_cr2 = 8, \
	.ld_time = 12, .ld_irq_pending = 20, .ld_reserve_mem = 1368, .ld_tsc_khz = 1372,        \
	.ld_pgdir = LD_NONE, .ld_noirq_start = 1376, .ld_noirq_end = LD_NONE,                   \
	.ld_kernel_address = 1380, .ld_syscall_vec = 1384, .ld_guestid = LD_NONE

/* 2.6.23: EDX, EBX, ECX, and a ring slot in the same order, {nr, a1, a2,
 * a3}; 2.6.24 reordered the slot (below) but not the registers. */
#define ARGS_EDX_L0                                                         \
	.arg_reg = {REG_EDX, REG_EBX, REG_ECX, REG_NONE}, .slot_nr_off = 0, \
	.slot_arg_off = {4, 8, 12, LD_NONE}
/* Until 2.6.29 the trap took arguments in EDX, EBX, ECX, and a ring slot is
 * {nr, arg2, arg3, arg1}: the reference host's register block order (EAX,
 * EBX, ECX, EDX), which puts arg1 last. */
#define ARGS_EDX                                                            \
	.arg_reg = {REG_EDX, REG_EBX, REG_ECX, REG_NONE}, .slot_nr_off = 0, \
	.slot_arg_off = {12, 4, 8, LD_NONE}
/* 2.6.30 borrowed KVM's hypercall convention: EBX, ECX, EDX, in order. */
#define ARGS_EBX3                                                           \
	.arg_reg = {REG_EBX, REG_ECX, REG_EDX, REG_NONE}, .slot_nr_off = 0, \
	.slot_arg_off = {4, 8, 12, LD_NONE}
/* 2.6.31 added ESI for PAE's 64-bit SET_PTE. */
#define ARGS_EBX4                                                          \
	.arg_reg = {REG_EBX, REG_ECX, REG_EDX, REG_ESI}, .slot_nr_off = 0, \
	.slot_arg_off = {4, 8, 12, 16}

#define RESERVE_4M .reserve_mem = 0x00400000

/* What every kernel from 2.6.25 on has in common: SHUTDOWN instead of
 * CRASH, and the virtio payloads of that release (the block header lost
 * its `id`, the net header gained `hdr_len`). */
#define SINCE_2_6_25 RESERVE_4M, .shutdown = true, .blk_hdr_len = 16, .net_hdr_len = 10
/* 4.0: virtio 1.0 (VERSION_1), whose net header always has num_buffers. */
#define SINCE_4_0 RESERVE_4M, .shutdown = true, .blk_hdr_len = 16, .net_hdr_len = 12
/* PAE builds exist from 2.6.31, with their own SET_PMD (13). */
#define PAE_2_6_31 .hcalls_pae = BIT(LHCALL_SET_PMD_PAE), .can_pae = true

static const struct lguest_abi abis[GEN_COUNT] = {
	/* 2.6.23: the first lguest.  Entered at a virtual address just after
	 * its GenuineLguest marker, RAM mapped at PAGE_OFFSET only; layout L0;
	 * CRASH; devices on the DMA bus (BIND_DMA 12, SEND_DMA 13). */
	[GEN_G0] = {.gen = GEN_G0,
		    .name = "G0",
		    .kernels = "2.6.23",
		    .supported = true,
		    .hcalls = HC_2_6_23,
		    ARGS_EDX_L0,
		    LAYOUT_L0,
		    RESERVE_4M,
		    .cpuid_family5 = true,
		    .paging = PAGING_PAGE_OFFSET,
		    .transport = TRANSPORT_DMA},
	/* 2.6.24: virtio on the lguest bus (device page v1), CRASH only. */
	[GEN_G1] = {.gen = GEN_G1,
		    .name = "G1",
		    .kernels = "2.6.24",
		    .supported = true,
		    .hcalls = HC_2_6_24,
		    ARGS_EDX,
		    LAYOUT_L1,
		    RESERVE_4M,
		    .cpuid_family5 = true,
		    .paging = PAGING_GUEST_COPIES,
		    .transport = TRANSPORT_DEVPAGE_V1,
		    .blk_hdr_len = 24,
		    .net_hdr_len = 8},
	/* 2.6.25: CRASH becomes SHUTDOWN(msg, poweroff|restart); device page v2
	 * (feature bits and plain config structs); 2.6.26 status notifies;
	 * 2.6.28 the guest reads lguest_data.pgdir as its cr3. */
	[GEN_G2] = {.gen = GEN_G2,
		    .name = "G2",
		    .kernels = "2.6.25-2.6.28",
		    .supported = true,
		    .hcalls = HC_2_6_24,
		    ARGS_EDX,
		    LAYOUT_L1,
		    SINCE_2_6_25,
		    .cpuid_family5 = true,
		    .paging = PAGING_GUEST_COPIES,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 2.6.29: the host builds the PAGE_OFFSET mapping; the guest no longer
	 * copies PDEs, and masks CPUID's family itself. */
	[GEN_G3] = {.gen = GEN_G3,
		    .name = "G3",
		    .kernels = "2.6.29",
		    .supported = true,
		    .hcalls = HC_2_6_24,
		    ARGS_EDX,
		    LAYOUT_L1,
		    SINCE_2_6_25,
		    .paging = PAGING_HOST_PREMAP,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 2.6.30: hypercalls are `vmcall` in EBX/ECX/EDX; the ring slot follows;
	 * LOAD_GDT becomes LOAD_GDT_ENTRY. */
	[GEN_G4] = {.gen = GEN_G4,
		    .name = "G4",
		    .kernels = "2.6.30",
		    .supported = true,
		    .hcalls = HC_2_6_30,
		    ARGS_EBX3,
		    LAYOUT_L1,
		    SINCE_2_6_25,
		    .vmcall = true,
		    .paging = PAGING_HOST_PREMAP,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 2.6.31: a fourth argument (ESI) and 20-byte slots, irq_pending with
	 * SEND_INTERRUPTS (layout L2), PAE guests (SET_PMD 13, SET_PGD 15). */
	[GEN_G5] = {.gen = GEN_G5,
		    .name = "G5",
		    .kernels = "2.6.31-2.6.33",
		    .supported = true,
		    .hcalls = HC_2_6_31,
		    PAE_2_6_31,
		    ARGS_EBX4,
		    LAYOUT_L2,
		    SINCE_2_6_25,
		    .vmcall = true,
		    .paging = PAGING_HOST_PREMAP,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 2.6.34: back to `int $0x1f` (registers kept), except SEND_INTERRUPTS
	 * in the irq-enable asm, which stays `vmcall` through 3.0; `cli` at
	 * ring 1 is skipped (cmpxchg8b_emu). */
	[GEN_G6] = {.gen = GEN_G6,
		    .name = "G6",
		    .kernels = "2.6.34-3.0",
		    .supported = true,
		    .hcalls = HC_2_6_31,
		    PAE_2_6_31,
		    ARGS_EBX4,
		    LAYOUT_L2,
		    SINCE_2_6_25,
		    .vmcall = true,
		    .skip_cli = true,
		    .paging = PAGING_HOST_PREMAP,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 3.1: no pgdir (layout L3); RAM 1:1 until the guest's NEW_PGTABLE at
	 * entry; no vmcall anywhere; status notifies only at finalize/reset. */
	[GEN_G7] = {.gen = GEN_G7,
		    .name = "G7",
		    .kernels = "3.1-3.19",
		    .supported = true,
		    .hcalls = HC_2_6_31,
		    PAE_2_6_31,
		    ARGS_EBX4,
		    LAYOUT_L3,
		    SINCE_2_6_25,
		    .skip_cli = true,
		    .paging = PAGING_LINEAR,
		    .transport = TRANSPORT_DEVPAGE_V2},
	/* 4.0: devices move to virtio-PCI; NOTIFY is gone. */
	[GEN_G8] = {.gen = GEN_G8,
		    .name = "G8",
		    .kernels = "4.0",
		    .supported = true,
		    .hcalls = HC_4_0,
		    PAE_2_6_31,
		    ARGS_EBX4,
		    LAYOUT_L3,
		    SINCE_4_0,
		    .skip_cli = true,
		    .paging = PAGING_LINEAR,
		    .transport = TRANSPORT_PCI},
	/* 4.1: noirq_iret (layout L4). */
	[GEN_G9] = {.gen = GEN_G9,
		    .name = "G9",
		    .kernels = "4.1-4.9",
		    .supported = true,
		    .hcalls = HC_4_0,
		    PAE_2_6_31,
		    ARGS_EBX4,
		    LAYOUT_L4,
		    SINCE_4_0,
		    .skip_cli = true,
		    .paging = PAGING_LINEAR,
		    .transport = TRANSPORT_PCI},
	/* 4.10: no TS hypercall (eager FPU). */
	[GEN_G10] = {.gen = GEN_G10,
		     .name = "G10",
		     .kernels = "4.10-4.13",
		     .supported = true,
		     .hcalls = HC_4_10,
		     PAE_2_6_31,
		     ARGS_EBX4,
		     LAYOUT_L4,
		     SINCE_4_0,
		     .skip_cli = true,
		     .paging = PAGING_LINEAR,
		     .transport = TRANSPORT_PCI},
};

const struct lguest_abi *abi_get(enum lg_gen gen)
{
	return (unsigned)gen < GEN_COUNT ? &abis[gen] : NULL;
}

const struct lguest_abi *abi_by_name(const char *name)
{
	for (unsigned i = 0; i < GEN_COUNT; i++)
		if (name && strcasecmp(name, abis[i].name) == 0)
			return &abis[i];
	return NULL;
}

/* Mainline boundaries (docs/abi.md §H1). */
enum lg_gen abi_gen_for_version(unsigned major, unsigned minor, unsigned patch)
{
	if (major == 2 && minor == 6) {
		if (patch < 23)
			return GEN_COUNT;
		if (patch == 23)
			return GEN_G0;
		if (patch == 24)
			return GEN_G1;
		if (patch <= 28)
			return GEN_G2;
		if (patch == 29)
			return GEN_G3;
		if (patch == 30)
			return GEN_G4;
		if (patch <= 33)
			return GEN_G5;
		return GEN_G6;
	}
	if (major == 3)
		return minor == 0 ? GEN_G6 : GEN_G7;
	if (major == 4) {
		if (minor == 0)
			return GEN_G8;
		if (minor <= 9)
			return GEN_G9;
		if (minor <= 13)
			return GEN_G10;
	}
	return GEN_COUNT;
}
