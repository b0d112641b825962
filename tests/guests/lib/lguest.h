/* The lguest guest ABI as our test guests see it.
 *
 * Everything here is restated from docs/abi.md (section numbers in the
 * comments); offsets are checked at compile time so that a typo in this
 * header cannot make a guest "pass" against a host that agrees with the typo.
 *
 * A guest speaks one generation (docs/abi.md §H1), chosen when it is
 * compiled: LGUEST_GEN is 1 (2.6.24) unless the build says otherwise
 * (guests.mk builds the per-generation guests with -DLGUEST_GEN=2..10).  The
 * differences are spelt out here, with the same names the host's tables use,
 * and nowhere else in the guest library.
 *
 * The GEN_* switches are plain preprocessor definitions, so assembler files
 * include this header too (the C part below is hidden from them). */
#ifndef GUEST_LGUEST_H
#define GUEST_LGUEST_H

#ifndef LGUEST_GEN
#define LGUEST_GEN 1
#endif
#if LGUEST_GEN < 0 || LGUEST_GEN > 10
#error "test guests speak generations G0 to G10"
#endif
#if defined(LGUEST_PAE) && LGUEST_GEN < 5
#error "PAE lguest guests exist from 2.6.31 (G5)"
#endif
/* What changed, and when (docs/abi.md §H1). */
#define GEN_SHUTDOWN	    (LGUEST_GEN >= 2) /* CRASH(2) became SHUTDOWN(msg, 1|2) */
#define GEN_DEVPAGE_V2	    (LGUEST_GEN >= 2) /* feature bits and config structs */
#define GEN_HOST_PREMAP	    (LGUEST_GEN >= 3 && LGUEST_GEN <= 6) /* RAM at PAGE_OFFSET */
#define GEN_EBX_ARGS	    (LGUEST_GEN >= 4)			 /* EBX, ECX, EDX(, ESI) */
#define GEN_VMCALL	    (LGUEST_GEN == 4 || LGUEST_GEN == 5) /* every hypercall */
#define GEN_GDT_ENTRY	    (LGUEST_GEN >= 4)			 /* LOAD_GDT_ENTRY, no LOAD_GDT */
#define GEN_LAYOUT_L2	    (LGUEST_GEN >= 5) /* irq_pending, 20-byte ring slots */
#define GEN_SEND_INTERRUPTS (LGUEST_GEN >= 5)
#define GEN_SKIP_CLI	    (LGUEST_GEN >= 6)
#define GEN_HAS_PGDIR	    (LGUEST_GEN >= 1 && LGUEST_GEN <= 6) /* L0 had none, L3 dropped it */
#define GEN_LINEAR	    (LGUEST_GEN >= 7)			 /* no boot tables reported */
#define GEN_PCI		    (LGUEST_GEN >= 8) /* 4.0+: virtio 1.0 devices on PCI (§H1.7) */
#define GEN_NOTIFY	    (LGUEST_GEN >= 1 && LGUEST_GEN <= 7) /* the device page's doorbell */
#define GEN_DMA		    (LGUEST_GEN == 0)  /* 2.6.23: BIND_DMA/SEND_DMA, layout L0 */
#define GEN_NOIRQ_IRET	    (LGUEST_GEN >= 9)  /* layout L4: one no-irq EIP, not a range */
#define GEN_NO_TS	    (LGUEST_GEN >= 10) /* 4.10+: LHCALL_TS kills */

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

/* Hypercall numbers (§3.4).  11-13 and >= 18 are unassigned and kill. */
#define LHCALL_FLUSH_ASYNC    0
#define LHCALL_LGUEST_INIT    1
#define LHCALL_CRASH	      2
#define LHCALL_LOAD_GDT	      3
#define LHCALL_NEW_PGTABLE    4
#define LHCALL_FLUSH_TLB      5
#define LHCALL_LOAD_IDT_ENTRY 6
#define LHCALL_SET_STACK      7
#define LHCALL_SET_CLOCKEVENT 9
#define LHCALL_HALT	      10
#define LHCALL_SET_PTE	      14
#define LHCALL_SET_PMD	      15
#define LHCALL_LOAD_TLS	      16
#if GEN_NOTIFY
#define LHCALL_NOTIFY 17
#endif
#if !GEN_NO_TS
#define LHCALL_TS 8
#endif
#if GEN_DMA
#define LHCALL_BIND_DMA 12 /* 2.6.23 only */
#define LHCALL_SEND_DMA 13
#endif
#define LHCALL_LOAD_GDT_ENTRY	 18 /* 2.6.30+ */
#define LHCALL_SEND_INTERRUPTS	 19 /* 2.6.31+ */
#define LHCALL_SET_PMD_PAE	 13 /* 2.6.31+, PAE guests only */
#define LHCALL_SHUTDOWN		 2  /* 2.6.25+: CRASH's number */
#define LGUEST_SHUTDOWN_POWEROFF 1
#define LGUEST_SHUTDOWN_RESTART	 2

#define LGUEST_TRAP_ENTRY 0x1f /* int $0x1f is the hypercall (§3.1) */
#define LGUEST_IRQS	  32   /* IRQ n arrives on vector 32 + n (§5.1) */
#define LHCALL_RING_SIZE  64   /* async ring entries (§3.6) */

/* Selectors the guest kernel uses: ring 1, GDT entries 12/13 (§1.2, §6.1). */
#define KERNEL_CS	  0x61
#define KERNEL_DS	  0x69
#define USER_CS		  0x73
#define USER_DS		  0x7b
#define GDT_ENTRIES	  32
#define GDT_ENTRY_TLS_MIN 6

#define X86_EFLAGS_IF	0x200
#define X86_EFLAGS_TF	0x100
#define X86_EFLAGS_IOPL 0x3000

#define LGUEST_RESERVE_MEM   0x00400000u /* what INIT must report (§3.3) */
#define LGUEST_SWITCHER_ADDR 0xFFC00000u

/* lgkvm's monitor lives there; a few of its words tell a test what was done
 * inside the VM (struct mon_shared in the data page, struct mon_config at the
 * end of its code pages: kvm-glue/monitor.h pins these offsets). */
#define MON_WORD(n)	   (((volatile uint32_t *)(LGUEST_SWITCHER_ADDR + 0x5000))[n])
#define MON_HANDLED_NR(nr) MON_WORD(6 + (nr)) /* hypercalls done inside the VM */
#define MON_HANDLED_IRQS   MON_WORD(39)	      /* interrupts delivered there */
#define MON_TICKS	   MON_WORD(62)	      /* clock events fired on its LAPIC timer */
#define MON_WAKEUPS	   MON_WORD(63)	      /* halts it ended with an interrupt */
#define MON_PF_REFLECTED   MON_WORD(69)	      /* page faults it reflected to us */
#define MON_SOFT_INTS	   MON_WORD(70)	      /* `int n` it delivered (not direct) */
/* Does the monitor keep the clock event and HALT (mon_config.apic_clock)?
 * Does it reflect page faults and `int n` (mon_config.reflect_traps; set
 * whenever the fast path is, so tests also read it as "the fast path is on")? */
#define MON_CLOCK_IN_VM (*(volatile uint8_t *)(LGUEST_SWITCHER_ADDR + 0x4F00 + 124))
#define MON_TRAPS_IN_VM (*(volatile uint8_t *)(LGUEST_SWITCHER_ADDR + 0x4F00 + 144))

#if GEN_DMA
/* 2.6.23: {eax, edx, ebx, ecx}, i.e. in order (§H1.2). */
struct hcall_args {
	uint32_t nr, arg1, arg2, arg3;
};
#elif LGUEST_GEN <= 3
/* One queued hypercall.  The member order mirrors the host's register block
 * (EAX, EBX, ECX, EDX), which is why arg1 comes last (§3.6). */
struct hcall_args {
	uint32_t nr;
	uint32_t arg2;
	uint32_t arg3;
	uint32_t arg1;
};
#elif LGUEST_GEN == 4
/* 2.6.30: in order (§H1.2). */
struct hcall_args {
	uint32_t nr, arg1, arg2, arg3;
};
#else
/* 2.6.31+: a fourth argument (§H1.2). */
struct hcall_args {
	uint32_t nr, arg1, arg2, arg3, arg4;
};
#endif

/* The page shared with the host (§4).  Fields the host writes behind the
 * compiler's back are volatile. */
struct lguest_data {
	volatile uint32_t irq_enabled;	      /* virtual EFLAGS.IF: 0 or 0x200 */
	volatile uint32_t blocked_interrupts; /* bit n masks IRQ n */
	volatile uint32_t cr2;		      /* fault address, written by the host */
	volatile struct {
		int32_t tv_sec;
		int32_t tv_nsec;
	} time;
#if GEN_LAYOUT_L2
	volatile int32_t irq_pending; /* host: 0x200 = an IRQ waits for irq_enabled */
#endif
	volatile uint8_t hcall_status[LHCALL_RING_SIZE]; /* 0xFF = free/done */
	struct hcall_args hcalls[LHCALL_RING_SIZE];
	volatile uint32_t reserve_mem; /* host -> guest at INIT */
#if GEN_DMA
	volatile uint16_t guestid; /* host -> guest at INIT: the net driver's MAC */
#endif
	volatile uint32_t tsc_khz;
#if GEN_HAS_PGDIR
	volatile uint32_t pgdir;
#endif
#if GEN_NOIRQ_IRET
	uint32_t noirq_iret; /* guest -> host, read at INIT: the iret's EIP */
#else
	uint32_t noirq_start; /* guest -> host, read at INIT */
	uint32_t noirq_end;
#endif
#if !GEN_DMA
	uint32_t kernel_address;
	uint32_t syscall_vec;
#endif
};

_Static_assert(offsetof(struct lguest_data, irq_enabled) == 0x000, "irq_enabled");
_Static_assert(offsetof(struct lguest_data, blocked_interrupts) == 0x004, "blocked");
_Static_assert(offsetof(struct lguest_data, cr2) == 0x008, "cr2");
_Static_assert(offsetof(struct lguest_data, time) == 0x00C, "time");
#if GEN_DMA /* L0: 2.6.23 (§H1.3) */
_Static_assert(offsetof(struct lguest_data, hcall_status) == 20, "hcall_status");
_Static_assert(offsetof(struct lguest_data, hcalls) == 84, "hcalls");
_Static_assert(offsetof(struct lguest_data, reserve_mem) == 1108, "reserve_mem");
_Static_assert(offsetof(struct lguest_data, guestid) == 1112, "guestid");
_Static_assert(offsetof(struct lguest_data, tsc_khz) == 1116, "tsc_khz");
_Static_assert(offsetof(struct lguest_data, noirq_start) == 1120, "noirq_start");
_Static_assert(offsetof(struct lguest_data, noirq_end) == 1124, "noirq_end");
_Static_assert(sizeof(struct lguest_data) == 1128, "lguest_data is 1128 bytes");
_Static_assert(sizeof(struct hcall_args) == 16, "ring entry is 16 bytes");
#elif !GEN_LAYOUT_L2  /* L1: 2.6.24-2.6.30 (§4, §H1.3) */
_Static_assert(offsetof(struct lguest_data, hcall_status) == 0x014, "hcall_status");
_Static_assert(offsetof(struct lguest_data, hcalls) == 0x054, "hcalls");
_Static_assert(offsetof(struct lguest_data, reserve_mem) == 0x454, "reserve_mem");
_Static_assert(offsetof(struct lguest_data, tsc_khz) == 0x458, "tsc_khz");
_Static_assert(offsetof(struct lguest_data, pgdir) == 0x45C, "pgdir");
_Static_assert(offsetof(struct lguest_data, noirq_start) == 0x460, "noirq_start");
_Static_assert(offsetof(struct lguest_data, noirq_end) == 0x464, "noirq_end");
_Static_assert(offsetof(struct lguest_data, kernel_address) == 0x468, "kernel_address");
_Static_assert(offsetof(struct lguest_data, syscall_vec) == 0x46C, "syscall_vec");
_Static_assert(sizeof(struct lguest_data) == 1136, "lguest_data is 1136 bytes");
_Static_assert(sizeof(struct hcall_args) == 16, "ring entry is 16 bytes");
#elif GEN_HAS_PGDIR   /* L2: 2.6.31-3.0 */
_Static_assert(offsetof(struct lguest_data, irq_pending) == 20, "irq_pending");
_Static_assert(offsetof(struct lguest_data, hcall_status) == 24, "hcall_status");
_Static_assert(offsetof(struct lguest_data, hcalls) == 88, "hcalls");
_Static_assert(offsetof(struct lguest_data, reserve_mem) == 1368, "reserve_mem");
_Static_assert(offsetof(struct lguest_data, pgdir) == 1376, "pgdir");
_Static_assert(offsetof(struct lguest_data, kernel_address) == 1388, "kernel_address");
_Static_assert(sizeof(struct lguest_data) == 1396, "lguest_data is 1396 bytes");
_Static_assert(sizeof(struct hcall_args) == 20, "ring entry is 20 bytes");
#elif !GEN_NOIRQ_IRET /* L3: 3.1-4.0 */
_Static_assert(offsetof(struct lguest_data, irq_pending) == 20, "irq_pending");
_Static_assert(offsetof(struct lguest_data, noirq_start) == 1376, "noirq_start");
_Static_assert(offsetof(struct lguest_data, kernel_address) == 1384, "kernel_address");
_Static_assert(sizeof(struct lguest_data) == 1392, "lguest_data is 1392 bytes");
#else		      /* L4: 4.1-4.13 */
_Static_assert(offsetof(struct lguest_data, irq_pending) == 20, "irq_pending");
_Static_assert(offsetof(struct lguest_data, reserve_mem) == 1368, "reserve_mem");
_Static_assert(offsetof(struct lguest_data, noirq_iret) == 1376, "noirq_iret");
_Static_assert(offsetof(struct lguest_data, kernel_address) == 1380, "kernel_address");
_Static_assert(offsetof(struct lguest_data, syscall_vec) == 1384, "syscall_vec");
_Static_assert(sizeof(struct lguest_data) == 1388, "lguest_data is 1388 bytes");
#endif

/* Our one instance (lib/runtime.c), statically initialised like Linux's. */
extern struct lguest_data lguest_data;

/* The hypercall: EAX = number, the arguments in the generation's registers;
 * only EAX may change (§3.1, §H1.2).  The memory clobber matters: the host
 * reads and writes our memory.  2.6.30-2.6.33 trap with `vmcall`, which the
 * host rewrites to `int $0x1f; nop` before we run (§H4.1). */
#if GEN_VMCALL
#define LGUEST_TRAP_INSN "vmcall"
#else
#define LGUEST_TRAP_INSN "int $0x1f"
#endif
static inline uint32_t hcall4(uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4)
{
#if !GEN_EBX_ARGS
	(void)a4;
	__asm__ volatile(LGUEST_TRAP_INSN : "+a"(nr) : "d"(a1), "b"(a2), "c"(a3) : "memory");
#elif !GEN_LAYOUT_L2
	(void)a4;
	__asm__ volatile(LGUEST_TRAP_INSN : "+a"(nr) : "b"(a1), "c"(a2), "d"(a3) : "memory");
#else
	__asm__ volatile(LGUEST_TRAP_INSN
			 : "+a"(nr)
			 : "b"(a1), "c"(a2), "d"(a3), "S"(a4)
			 : "memory");
#endif
	return nr;
}

static inline uint32_t hcall(uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3)
{
	return hcall4(nr, a1, a2, a3, 0);
}

/* Zero page (struct boot_params at GPA 0) offsets, §2.3. */
#define BP_E820_ENTRIES	    0x1E8
#define BP_SETUP_SECTS	    0x1F1
#define BP_HEADER	    0x202
#define BP_VERSION	    0x206
#define BP_TYPE_OF_LOADER   0x210
#define BP_LOADFLAGS	    0x211
#define BP_CODE32_START	    0x214
#define BP_RAMDISK_IMAGE    0x218
#define BP_RAMDISK_SIZE	    0x21C
#define BP_CMD_LINE_PTR	    0x228
#define BP_HARDWARE_SUBARCH 0x23C
#define BP_E820_MAP	    0x2D0 /* 20-byte entries: u64 addr, u64 size, u32 type */

#define LOADFLAGS_KEEP_SEGMENTS 0x40
#define SUBARCH_LGUEST		1
#define E820_RAM		1

/* Page-table entry bits (§7.1). */
#define PTE_P	  0x001
#define PTE_W	  0x002
#define PTE_U	  0x004
#define PTE_A	  0x020
#define PTE_D	  0x040
#define PAGE_SIZE 4096u

/* Device page records and vrings (§9.1-§9.6). */
#define VIRTIO_ID_NET		   1
#define VIRTIO_ID_BLOCK		   2
#define VIRTIO_ID_CONSOLE	   3
#define VIRTIO_CONFIG_F_VIRTQUEUE  2
#define VIRTIO_STATUS_ACK	   1
#define VIRTIO_STATUS_DRIVER	   2
#define VIRTIO_STATUS_DRIVER_OK	   4
#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

struct lguest_vqconfig {
	uint16_t num;
	uint16_t irq;
	uint32_t pfn;
};
_Static_assert(sizeof(struct lguest_vqconfig) == 8, "vq field is 8 bytes");

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc");

#if GEN_DMA
/* The 2.6.23 device bus (§H1.7; lgkvm docs/DESIGN.md §7.4). */
#define DMA_SECTIONS	16
#define DMA_T_CONSOLE	1
#define DMA_T_NET	2
#define DMA_T_BLOCK	3
#define DMA_CONSOLE_KEY 0
#define G0_PAGE_OFFSET	0xC0000000u
struct lguest_dma {
	volatile uint32_t used_len;
	uint32_t addr[DMA_SECTIONS];
	uint16_t len[DMA_SECTIONS];
};
_Static_assert(sizeof(struct lguest_dma) == 100, "struct lguest_dma is 100 bytes");
struct lguest_device_desc {
	uint16_t type, features, status, num_pages;
	uint32_t pfn;
};
_Static_assert(sizeof(struct lguest_device_desc) == 12, "lguest_device_desc");
struct lguest_block_page {
	int32_t type;
	uint32_t sector, bytes;
	volatile int32_t result;
	uint32_t num_sectors;
};
#endif

#endif /* !__ASSEMBLER__ */
#endif
