/* lguest ABI generations as data.
 *
 * lguest's guest ABI changed in ten steps between 2.6.23 and 4.13 (docs/abi.md
 * part H): hypercall numbers, which registers carry the arguments, the async
 * ring's slot layout, the lguest_data layout, how the first page tables come
 * about, the device page format.  Rather than scatter "if (version > ...)"
 * through the host, each generation is one table below (pvabi/abi.c), chosen
 * once at boot from the kernel image (pvabi/inspect.c), and the code asks the
 * table.  A reader looking for "what 2.6.31 changed" reads the G5 entry. */
#ifndef LGKVM_ABI_H
#define LGKVM_ABI_H

#include <stdbool.h>
#include <stdint.h>

/* Hypercall numbers are the same wherever a call exists at all, except 2
 * (CRASH, then SHUTDOWN) and 15 (SET_PMD, renamed SET_PGD with PAE): a
 * generation says which of them it has and how to read them. */
enum lhcall {
	LHCALL_FLUSH_ASYNC = 0,
	LHCALL_LGUEST_INIT = 1,
	LHCALL_CRASH = 2, /* SHUTDOWN from 2.6.25 */
	LHCALL_LOAD_GDT = 3,
	LHCALL_NEW_PGTABLE = 4,
	LHCALL_FLUSH_TLB = 5,
	LHCALL_LOAD_IDT_ENTRY = 6,
	LHCALL_SET_STACK = 7,
	LHCALL_TS = 8,
	LHCALL_SET_CLOCKEVENT = 9,
	LHCALL_HALT = 10,
	LHCALL_BIND_DMA = 12,	 /* 2.6.23 only (the DMA device bus) */
	LHCALL_SEND_DMA = 13,	 /* 2.6.23 only; the number came back as PAE's SET_PMD */
	LHCALL_SET_PMD_PAE = 13, /* PAE guests only, 2.6.31+ */
	LHCALL_SET_PTE = 14,
	LHCALL_SET_PMD = 15, /* SET_PGD from 2.6.31 */
	LHCALL_LOAD_TLS = 16,
	LHCALL_NOTIFY = 17,
	LHCALL_LOAD_GDT_ENTRY = 18,
	LHCALL_SEND_INTERRUPTS = 19,
	LHCALL_MAX = 32,
};

/* SHUTDOWN's second argument (2.6.25+). */
#define LGUEST_SHUTDOWN_POWEROFF 1
#define LGUEST_SHUTDOWN_RESTART	 2

/* The generations, oldest first. */
enum lg_gen {
	GEN_G0,
	GEN_G1,
	GEN_G2,
	GEN_G3,
	GEN_G4,
	GEN_G5,
	GEN_G6,
	GEN_G7,
	GEN_G8,
	GEN_G9,
	GEN_G10,
	GEN_COUNT
};

/* Where the logical arguments travel. */
enum abi_reg { REG_NONE, REG_EAX, REG_EBX, REG_ECX, REG_EDX, REG_ESI };

/* Who makes the page tables the guest first runs on (docs/abi.md §H1.4). */
enum boot_paging {
	/* 2.6.23: the guest starts at a virtual address (just after its
	 * GenuineLguest marker); we map RAM at PAGE_OFFSET only, found in the
	 * image before boot (pvabi/boot_g0.c); no pgdir field. */
	PAGING_PAGE_OFFSET,
	/* 2.6.24-2.6.28: we map RAM 1:1 and report the directory in
	 * lguest_data.pgdir; lguest_entry copies PDEs 0-31 up to PAGE_OFFSET. */
	PAGING_GUEST_COPIES,
	/* 2.6.29-3.0: we map RAM 1:1 *and* at PAGE_OFFSET (learnt from
	 * lguest_data.kernel_address at LGUEST_INIT) and report pgdir. */
	PAGING_HOST_PREMAP,
	/* 3.1+: RAM 1:1 until the guest's first NEW_PGTABLE; no pgdir field. */
	PAGING_LINEAR,
};

/* How the guest finds its devices (docs/abi.md §9 and §H1.7; the transports
 * are virtio/transport.h's). */
enum lg_transport {
	TRANSPORT_NONE,
	TRANSPORT_DEVPAGE_V1, /* 2.6.24: device page of TLV records */
	TRANSPORT_DEVPAGE_V2, /* 2.6.25-3.19: device page with feature bytes */
	TRANSPORT_PCI,	      /* 4.0-4.13: virtio 1.0 devices on PCI bus 0 */
	TRANSPORT_DMA,	      /* 2.6.23: device descriptors, BIND_DMA/SEND_DMA */
};

/* An lguest_data field the layout does not have. */
#define LD_NONE 0xFFFFu

struct lguest_abi {
	enum lg_gen gen;
	const char *name;    /* "G5" */
	const char *kernels; /* "2.6.31-2.6.33" */
	const char *layout;  /* lguest_data layout name, "L2" */
	bool supported;	     /* lgkvm can boot it today */

	uint32_t hcalls;	 /* bitmap of valid hypercall numbers */
	uint32_t hcalls_pae;	 /* ... added for a PAE guest */
	enum abi_reg arg_reg[4]; /* registers of arg1..arg4 (REG_NONE: absent) */
	bool shutdown;		 /* hypercall 2 is SHUTDOWN(msg, reason), not CRASH(msg) */
	bool vmcall;		 /* some hypercalls are `vmcall`: rewrite them (pvabi/vmcall.c) */
	bool skip_cli;		 /* `cli` at ring 1 is a no-op, not a fault (2.6.34+) */
	bool cpuid_family5;	 /* report CPU family 5 (the guest does not mask it) */
	bool can_pae;		 /* a PAE build of this generation exists (2.6.31+) */
	enum boot_paging paging;
	enum lg_transport transport;
	/* Virtio payloads moved with the generations too: the block request
	 * header lost its 8-byte `id` in 2.6.25 (24 -> 16 bytes). */
	unsigned blk_hdr_len;
	/* ... and struct virtio_net_hdr gained hdr_len in 2.6.25 (8 -> 10). */
	unsigned net_hdr_len;

	/* Async ring: status bytes, slots, and where each word sits in a slot. */
	unsigned ring_status_off, ring_slots_off, ring_slot_size, ring_entries;
	unsigned slot_nr_off, slot_arg_off[4]; /* LD_NONE: the slot has no such word */

	/* struct lguest_data offsets (LD_NONE: not in this layout). */
	unsigned ld_size, ld_irq_enabled, ld_blocked, ld_cr2, ld_time, ld_irq_pending,
		ld_reserve_mem, ld_tsc_khz, ld_pgdir, ld_noirq_start, ld_noirq_end,
		ld_kernel_address, ld_syscall_vec,
		ld_guestid;   /* L0 only: a u16 the 2.6.23 net driver makes its MAC of */
	uint32_t reserve_mem; /* what we tell the guest to keep free at the top */
};

/* The table of generation `gen`. */
const struct lguest_abi *abi_get(enum lg_gen gen);
/* By name ("G5", case-insensitive, or "g5"); NULL if unknown. */
const struct lguest_abi *abi_by_name(const char *name);
/* The generation that serves kernel version major.minor.patch; GEN_COUNT if
 * none (not an lguest-era version). */
enum lg_gen abi_gen_for_version(unsigned major, unsigned minor, unsigned patch);

#endif
