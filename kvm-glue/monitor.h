/* The monitor: lguest's Switcher, reborn inside the VM.
 *
 * The 2.6.24 guest keeps the top 4 MiB of its address space free for the host
 * (reserve_mem).  We put a few pages there: a page table (installed as PDE 1023
 * of every guest page directory), the real GDT and TSS, the real IDT, the entry
 * stubs, and one writable page holding the ring-0 stack.  Guest RAM never
 * holds any of it: the pages live in their own memslots above everything the
 * guest may name, read-only to the guest except the stack page.
 *
 * Every event the VMM must see (a hypercall, a reflected trap, a kick) enters a
 * stub at ring 0, which pushes the vector, error code, EAX and CR2 below the
 * CPU's interrupt frame and executes one `out` to MON_PORT: a KVM_EXIT_IO.  The
 * VMM then reads and rewrites that frame in the stack page (no register ioctls
 * for segment state at all) and resumes; the stub pops and `iret`s to wherever
 * the frame now says.  Because the CPU switches to the ring-0 stack before it
 * pushes anything, a guest with ESP = 0 (lguest_entry's first hypercall) is
 * fine. */
#ifndef LGKVM_MONITOR_H
#define LGKVM_MONITOR_H

#define MON_GVA 0xFFC00000 /* where the guest sees it: SWITCHER_ADDR */
#define MON_GPA 0xFFC00000 /* where its memslots sit in guest-physical space */

/* Page offsets inside the monitor.
 * * The GDT/TSS and IDT pages are in a writable memslot (since the monitor's
 * fast path writes TLS slots, the ring-1 stack and IDT gates, docs/DESIGN.md
 * §2.9) but read-only in every mapping the guest runs on; the monitor writes
 * them only under its own private directory (MON_PRIV_*), loaded for the few
 * instructions of the write.  The stubs and the code stay in a read-only
 * memslot. */
#define MON_GDT_OFF   0x0000 /* 32 descriptors */
#define MON_TSS_OFF   0x0100 /* 104-byte TSS, no I/O bitmap */
#define MON_GATES_OFF 0x0800 /* the guest's own 256 gates (struct lg_gate), as it set them */
#define MON_IDT_OFF   0x1000 /* 256 gates */
#define MON_STUBS_OFF 0x2000 /* 256 stubs, 16 bytes each */
#define MON_CODE_OFF  0x3000 /* the common entry/exit path and the fast path: two pages */
/* The page table must sit in a writable memslot even though the guest may
 * only read it: AMD's nested paging treats every guest page-table access as
 * a write, so a table in a read-only memslot faults forever (measured: the
 * vCPU spins on its first `int $0x1f`).  The guest's own mapping of it is
 * read-only. */
#define MON_PT_OFF   0xD000 /* page table for PDE 1023 */
#define MON_DATA_OFF 0x5000 /* shared words + the ring-0 stack */
/* The same page table in PAE form (8-byte entries), installed as entry 510
 * of the PMD that maps the last gigabyte of a PAE guest. */
#define MON_PAE_PT_OFF 0x6000
/* The monitor's private directory: the same pages, the GDT/TSS page
 * writable.  Never in a guest mapping; reached only through CR3. */
#define MON_PRIV_PT_OFF	     0x7000 /* non-PAE page table */
#define MON_PRIV_PD_OFF	     0x8000 /* non-PAE directory: slot 1023 only */
#define MON_PRIV_PAE_PT_OFF  0x9000 /* PAE page table */
#define MON_PRIV_PAE_PMD_OFF 0xA000 /* PAE PMD: entry 510 only */
#define MON_PRIV_PDPT_OFF    0xB000 /* PAE directory pointers: entry 3 only */
#define MON_MAPPED_PAGES                                       \
	7 /* pages 0-6 appear at MON_GVA; of the rest only the \
	   * port-write log and the page table do */
/* Under the private directory only: two slots the monitor points at any
 * guest-physical page it must read (LOAD_TLS's descriptors), as the VMM
 * reads guest RAM by physical address. */
#define MON_PRIV_WIN_SLOT 20
#define MON_PRIV_WIN_GVA  (MON_GVA + MON_PRIV_WIN_SLOT * 4096u)
#define MON_RO_FIRST	  2 /* the read-only memslot: stubs, code */
#define MON_RO_PAGES	  3
/* Port writes the monitor finished without the VMM, for it to replay at the
 * next exit (struct mon_pio_log): mapped writable at MON_GVA + MON_PIO_OFF. */
#define MON_PIO_OFF 0xC000
#define MON_PAGES   14
#define MON_SIZE    (MON_PAGES * 4096u)

/* Words the VMM and the monitor share, at the start of the data page (the
 * first three fields of struct mon_shared). */
#define MON_CR0_WANT_OFF (MON_DATA_OFF + 0) /* CR0 the monitor loads on the way out */
#define MON_CR3_WANT_OFF (MON_DATA_OFF + 4) /* CR3 it loads when MON_FLUSH is set */
#define MON_FLUSH_OFF	 (MON_DATA_OFF + 8) /* non-zero: reload CR3 (TLB flush) */
/* The directory entry that maps the monitor (slot 1023 of every non-PAE
 * directory): supervisor, writable (the stack page needs it; the read-only
 * pages say so in their PTEs), and already accessed -- the CPU must never
 * need to write an accessed bit into a page it cannot write. */
#define MON_PDE (MON_GPA + MON_PT_OFF + 0x23u)
/* ... and the PAE form: entry 510 of the kernel's PMD (pvabi/pgtable.c). */
#define MON_PAE_PMD	(MON_GPA + MON_PAE_PT_OFF + 0x23u)
#define MON_VMM_REQ_OFF (MON_DATA_OFF + 240) /* mon_shared.vmm_req: entry.S looks after an exit */
#define MON_STACK_TOP	(MON_GVA + MON_DATA_OFF + 0x1000)

/* The fast path's configuration (struct mon_config), written by the VMM at
 * LGUEST_INIT at the end of the code pages (kvm-glue/monitor/monitor.ld keeps
 * the code below it): read-only memslot. */
#define MON_CONFIG_OFF 0x4F00
/* The monitor's own view of lguest_data: two PTEs of its page table point at
 * the page(s) that hold it, so the async ring can be read without a walk of
 * the guest's tables (docs/DESIGN.md §2.9). */
#define MON_LD_PTE  16 /* page-table slots 16 and 17 */
#define MON_LD_GVA  (MON_GVA + MON_LD_PTE * 4096u)
#define MON_LD_SPAN 2

/* What the monitor does with a hypercall by itself (mon_config.action).
 * MON_ACT_VMM, zero, is "exit": everything not listed, and everything
 * before LGUEST_INIT. */
#define MON_ACT_VMM	       0
#define MON_ACT_NOP	       1 /* FLUSH_ASYNC: draining the ring was the work */
#define MON_ACT_FLUSH_TLB      2
#define MON_ACT_SET_PTE	       3
#define MON_ACT_SET_PMD	       4 /* non-PAE directory entry */
#define MON_ACT_SET_PGD_PAE    5 /* PAE directory-pointer entry */
#define MON_ACT_SET_PMD_PAE    6 /* PAE middle-directory entry */
#define MON_ACT_SET_STACK      7
#define MON_ACT_LOAD_TLS       8
#define MON_ACT_LOAD_IDT       9
#define MON_ACT_LOAD_GDT_ENTRY 10
#define MON_ACT_NOTIFY	       11
#define MON_ACT_CLOCK	       12 /* SET_CLOCKEVENT on the LAPIC timer (mon_config.apic_clock) */
#define MON_ACT_HALT	       13 /* HALT as `sti; hlt` in the monitor (likewise) */
#define MON_ACT_NEW_PGTABLE    14 /* the monitor's PDE (PAE: PMD entry) in place, CR3 */
#define MON_ACT_TS	       15 /* the virtual TS into CR0 */

/* CR0 while the guest runs: PE, MP, ET, NE, WP (the guest tests that ring-1
 * writes to read-only pages fault) and PG.  TS is added for the virtual TS. */
#define LG_CR0 0x80010033u
#define CR0_TS 0x8u

#define MON_PORT 0xF1 /* the monitor's one I/O port */
/* The monitor's doorbell for NOTIFY (G1-G7): `outl pfn` here, which KVM
 * turns into an eventfd signal (KVM_IOEVENTFD, one per queue, data-matched
 * on the ring's page frame) without stopping the vCPU. */
#define MON_NOTIFY_PORT 0xF2
#define MON_KICK_VECTOR 0xFE /* injected (MSI or KVM_INTERRUPT) to enter the monitor */
/* The in-kernel LAPIC's timer (LVT timer, one-shot): the monitor's clock, for
 * the guest's clock event and for its own re-checks of an interrupt held
 * back.  A vector of its own, so that a firing is never mistaken for a
 * device's MSI (docs/DESIGN.md §2.9). */
#define MON_TIMER_VECTOR 0xFD
/* Vectors no guest gate may claim: they enter the monitor, always. */
#define MON_HOST_VECTOR(v) ((v) == MON_KICK_VECTOR || (v) == MON_TIMER_VECTOR)
/* How soon the monitor looks again at a pending interrupt it may not
 * deliver: held back by irq_enabled or the no-interrupt window (2 ms), or
 * masked in blocked_interrupts (10 ms), the VMM's periods (pvabi/time.c). */
#define MON_RECHECK_NS	      2000000u
#define MON_RECHECK_MASKED_NS 10000000u
/* What the VMM asks of the monitor on the way back from an exit
 * (mon_shared.vmm_req), for work only ring 0 inside the VM can do. */
#define MON_REQ_CLOCK 1u /* program the clock event: req_clock_ns (0: cancel) */
#define MON_REQ_HALT  2u /* halt here until an interrupt may go in */

/* Selectors (docs/abi.md §6.1). */
#define SEL_LGUEST_CS	    0x50u
#define SEL_LGUEST_DS	    0x58u
#define SEL_KERNEL_CS	    0x61u
#define SEL_KERNEL_DS	    0x69u
#define SEL_TSS		    0x80u
#define GDT_LGUEST_CS	    10
#define GDT_LGUEST_DS	    11
#define GDT_TSS		    16
#define GDT_DOUBLEFAULT_TSS 31

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* What the stubs leave on the ring-0 stack, lowest address first.  Entry from
 * ring 1 or 3 into ring 0 is always a privilege change, so the CPU always
 * pushes SS:ESP too. */
struct mon_frame {
	uint32_t cr2;			   /* real CR2 (meaningful for #PF) */
	uint32_t eax;			   /* the guest's EAX */
	uint32_t vector;		   /* low 8 bits: the stub's vector */
	uint32_t errcode;		   /* CPU error code, or 0 */
	uint32_t eip, cs, eflags, esp, ss; /* the CPU's interrupt frame */
};
#define MON_FRAME_GVA (MON_STACK_TOP - (uint32_t)sizeof(struct mon_frame))

/* A present 32-bit gate descriptor (the CPU's format). */
static inline uint64_t mon_gate(uint32_t offset, uint16_t sel, unsigned type, unsigned dpl)
{
	uint32_t lo = ((uint32_t)sel << 16) | (offset & 0xFFFF);
	uint32_t hi = (offset & 0xFFFF0000u) | 0x8000u | ((dpl & 3) << 13) | ((type & 0xF) << 8);
	return ((uint64_t)hi << 32) | lo;
}

/* Where the monitor's arguments live (mon_config.arg_reg): the general
 * registers in `pushal` order below the frame, as struct mon_regs has them. */
enum mon_reg { MON_REG_NONE, MON_REG_EAX, MON_REG_EBX, MON_REG_ECX, MON_REG_EDX, MON_REG_ESI };

/* Set by the VMM once the guest's generation and paging mode are known;
 * all zero (every call exits) until then. */
#define MON_NOTIFY_MAX 8
struct mon_config {
	uint8_t action[32]; /* MON_ACT_* by hypercall number */
	uint8_t arg_reg[4]; /* enum mon_reg of arg1..arg4 */
	uint32_t kernel_address;
	uint8_t ld_mapped;   /* lguest_data is at MON_LD_GVA + ld_off */
	uint8_t slot_nr_off; /* the async ring, as the generation table has it */
	uint8_t slot_arg_off[4];
	uint16_t ld_off;
	uint16_t ring_status_off, ring_slots_off, ring_slot_size, ring_entries;
	uint16_t ld_blocked, ld_irq_enabled, ld_irq_pending; /* lguest_data offsets */
	uint32_t noirq_start, noirq_end; /* no interrupt goes in at these EIPs */
	uint8_t pae;			 /* which private directory: MON_PRIV_PDPT or _PD */
	uint8_t vmcall;			 /* #UD stays routed (pvabi/vmcall.c): desc_rules.h */
	uint8_t deliver;		 /* the kick vector's IRQ is delivered here */
	uint8_t x2apic_eoi;		 /* the kick vector comes from a LAPIC: EOI it (wrmsr) */
	uint32_t ram_size;		 /* LOAD_TLS reads guest-physical memory below this */
	/* Ring-1 port writes (#GP): MON_PIO_EXIT, every one exits; MON_PIO_DROP,
	 * nothing listens (G0-G7: skipped in the VM); MON_PIO_PCI, the 4.x
	 * platform: 0xCF8-0xCFF writes that touch only the address latch and
	 * the console's PCI_CFG window aimed at emerg_wr are logged for the
	 * VMM, other ports are skipped, anything else exits. */
	uint8_t pio_mode;
	uint8_t con_slot, con_window; /* the console's slot, its window capability */
	uint32_t con_emerg_off;	      /* emerg_wr's offset in the console's BAR0 */
	/* NOTIFY: the ring page frames KVM rings an eventfd for at
	 * MON_NOTIFY_PORT; any other address exits as before. */
	uint32_t notify_n;
	uint32_t notify_pfn[MON_NOTIFY_MAX];
	/* The clock (mon_config.apic_clock): SET_CLOCKEVENT and HALT belong to
	 * the monitor, on the LAPIC timer, and lguest_data.time (at ld_time)
	 * is written from the TSC.  The TSC's rate as two 32.32 fixed-point
	 * factors, TSC ticks per ns and ns per TSC tick (split in halves: the
	 * struct has one layout for i386 and x86-64). */
	uint8_t apic_clock;
	uint8_t pad0;
	uint16_t ld_time;
	uint32_t tsc_per_ns[2], ns_per_tsc[2]; /* [0] low word, [1] high word */
	/* Traps from ring 1 and 3 reflected to the guest's handler here
	 * (reflect_traps): page faults, with cr2 written to lguest_data (at
	 * ld_cr2) -- but for an instruction fetch the VMM may have to emulate
	 * (pf_fetch_exits: the 4.x platform's MMIO, pvabi/mmio.c), which
	 * exits -- and `int n` through gates that cannot be direct. */
	uint8_t reflect_traps, pf_fetch_exits;
	uint16_t ld_cr2;
	/* The 4.x platform: a bit per slot on bus 0 with a device (an `in`
	 * from the config data port addressing any other reads all ones
	 * here; one that addresses a device exits). */
	uint32_t pci_present;
};
#define MON_LD_ABSENT 0xFFFF
#define MON_PIO_EXIT  0
#define MON_PIO_DROP  1
#define MON_PIO_PCI   2

/* The data page's words (the ring-0 stack grows down from the page's end).
 * The guest can write this page: the VMM bounds everything it reads here. */
struct mon_shared {
	uint32_t cr0_want, cr3_want, flush;
	uint32_t async_next; /* the next async slot to run: the VMM's cursor too */
	/* A copy of the VMM's pending-IRQ bits (struct lguest.pending), kept
	 * by lg_irq_set/lg_irq_clear: a call with an interrupt to deliver
	 * behind it exits, because the VMM delivers on the way back. */
	uint32_t irq_pending;
	uint32_t handled;	   /* events the monitor finished alone */
	uint32_t handled_nr[32];   /* ... hypercalls among them, by number (async too) */
	uint32_t handled_pio;	   /* ... port writes among them (logged or skipped) */
	uint32_t handled_irqs;	   /* ... interrupts it delivered */
	uint32_t kick_declined[4]; /* kick vectors left to the VMM, by enum irq_wait (IRQ_GO: no
				      handler or no stack) */
	uint32_t kick_rechecks;	   /* ... held back instead: the LAPIC timer looks again */
	/* The PCI state the monitor needs to judge a write, as the VMM left it
	 * at the last exit and as the logged writes since have changed it:
	 * the 0xCF8 latch, and bytes 4-15 of the console's PCI_CFG capability
	 * (bar, padding, offset, length). */
	uint32_t pci_latch;
	uint8_t con_cap[12];
	/* The clock (mon_config.apic_clock).  Deadlines are guest TSC values,
	 * split in halves like every 64-bit word here.  The monitor programs
	 * the LAPIC's one-shot timer for the nearer of its two deadlines --
	 * the guest's clock event, its own re-check of a held-back interrupt
	 * -- and remembers which deadline it programmed (lapic_at, 0: idle)
	 * and when (lapic_set), to tell a firing from an early one. */
	uint32_t clock_armed, recheck_armed;
	uint32_t clock_at[2], recheck_at[2], lapic_at[2], lapic_set[2];
	uint32_t halted;	 /* the monitor sleeps in `hlt` for the guest's HALT */
	uint32_t vmm_req;	 /* MON_REQ_*, set by the VMM, cleared by the monitor */
	uint32_t req_clock_ns;	 /* MON_REQ_CLOCK's argument */
	uint32_t ticks, wakeups; /* clock events fired; halts ended by an interrupt */
	uint32_t timer_stale;	 /* timer vectors before the programmed deadline */
	/* lguest_data.time as the VMM last wrote it, and the guest TSC then:
	 * the monitor's time is this plus the TSC's progress since. */
	uint32_t time_sec, time_nsec, time_tsc[2];
	uint32_t handled_pf;   /* page faults reflected to the guest here */
	uint32_t handled_soft; /* `int n` (not direct) delivered here */
};

/* Guests that look at the monitor's words (tests/guests/hostile_fast.c,
 * hostile_pci.c) know these offsets. */
_Static_assert(__builtin_offsetof(struct mon_shared, async_next) == 12 &&
		       __builtin_offsetof(struct mon_shared, irq_pending) == 16 &&
		       __builtin_offsetof(struct mon_shared, handled_nr) == 6 * 4 &&
		       __builtin_offsetof(struct mon_shared, handled_pio) == 38 * 4 &&
		       __builtin_offsetof(struct mon_shared, handled_irqs) == 39 * 4 &&
		       __builtin_offsetof(struct mon_shared, clock_armed) == 49 * 4 &&
		       __builtin_offsetof(struct mon_shared, halted) == 59 * 4 &&
		       __builtin_offsetof(struct mon_shared, vmm_req) ==
			       MON_VMM_REQ_OFF - MON_DATA_OFF &&
		       __builtin_offsetof(struct mon_shared, ticks) == 62 * 4 &&
		       __builtin_offsetof(struct mon_shared, wakeups) == 63 * 4 &&
		       __builtin_offsetof(struct mon_shared, handled_pf) == 69 * 4 &&
		       __builtin_offsetof(struct mon_shared, handled_soft) == 70 * 4 &&
		       sizeof(struct mon_shared) == 71 * 4,
	       "struct mon_shared's layout is known to test guests");
_Static_assert(__builtin_offsetof(struct mon_config, apic_clock) == 124 &&
		       __builtin_offsetof(struct mon_config, reflect_traps) == 144 &&
		       __builtin_offsetof(struct mon_config, apic_clock) ==
			       __builtin_offsetof(struct mon_config, notify_pfn) +
				       4 * MON_NOTIFY_MAX &&
		       sizeof(struct mon_config) ==
			       __builtin_offsetof(struct mon_config, apic_clock) + 28,
	       "struct mon_config has one layout for the monitor and the VMM (and test guests "
	       "know where apic_clock and reflect_traps are)");

#define MON_PIO_MAX 511
struct mon_pio_log {
	uint32_t count, unused;
	struct {
		uint16_t port;
		uint8_t size, unused;
		uint32_t val;
	} e[MON_PIO_MAX];
};
#define MON_LD_NONE 0xFF /* a slot offset that is absent */

struct monitor {
	uint8_t *host; /* VMM mapping of all MON_PAGES pages */
};

/* Lay out the page table, host GDT entries, TSS, IDT (every vector to the
 * monitor) and code.  `host` is zeroed, MON_SIZE bytes. */
void monitor_init(struct monitor *m, uint8_t *host);
/* PDE value that maps the monitor at MON_GVA. */
uint32_t monitor_pde(void);
/* The PAE PMD entry that does the same. */
uint64_t monitor_pae_pmd(void);
/* Install a (fixed-up) guest descriptor; host slots are refused silently. */
void monitor_set_gdt(struct monitor *m, unsigned idx, uint64_t desc);
/* Install the real IDT entry for `vec` (pvabi/desc_rules.h: idt_real_entry),
 * or route it to the monitor's stub with gate privilege `dpl`. */
void monitor_set_idt(struct monitor *m, unsigned vec, uint64_t gate);
void monitor_route(struct monitor *m, unsigned vec, unsigned dpl);
/* The ring-3 -> ring-1 stack (TSS ss1/esp1). */
void monitor_set_stack1(struct monitor *m, uint32_t ss1, uint32_t esp1);
/* ... as the TSS has it now (the monitor may have set it). */
void monitor_get_stack1(const struct monitor *m, uint32_t *ss1, uint32_t *esp1);
/* CR0 the guest runs with (TS mirrors the virtual TS). */
void monitor_set_cr0(struct monitor *m, uint32_t cr0);
/* Load page directory `cr3` on the way out, flushing the TLB: the guest cannot
 * reload CR3 or invlpg at ring 1, so every page-table hypercall ends here. */
void monitor_load_cr3(struct monitor *m, uint32_t cr3);
/* The words the monitor and the VMM share (the guest can write them too). */
struct mon_shared *monitor_shared(struct monitor *m);
/* The port writes the monitor logged since the last exit. */
struct mon_pio_log *monitor_pio_log(struct monitor *m);
/* Set at VM creation, before the rest of the configuration: the monitor
 * EOIs the kick vector in the in-kernel LAPIC (kvm-glue/kvm.c). */
void monitor_set_x2apic_eoi(struct monitor *m, bool on);
/* Hand the fast path its configuration (all zero: every event exits). */
void monitor_configure(struct monitor *m, const struct mon_config *c);
/* Map the guest-physical range [gpa, gpa + size) -- lguest_data, at most
 * MON_LD_SPAN pages, already checked to be RAM -- at MON_LD_GVA; returns the
 * offset of gpa in the first page. */
uint16_t monitor_map_ld(struct monitor *m, uint32_t gpa, uint32_t size);
/* The frame of the current exit. */
struct mon_frame *monitor_frame(struct monitor *m);

/* The code blob (kvm-glue/monitor_stubs.S), position-dependent at MON_GVA. */
extern const uint8_t monitor_stubs_start[], monitor_code_start[];
extern const uint32_t monitor_stubs_size, monitor_code_size;

#endif /* __ASSEMBLER__ */

#endif
