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

/* Page offsets inside the monitor. */
#define MON_GDT_OFF   0x0000 /* 32 descriptors */
#define MON_TSS_OFF   0x0100 /* 104-byte TSS, no I/O bitmap */
#define MON_IDT_OFF   0x1000 /* 256 gates */
#define MON_STUBS_OFF 0x2000 /* 256 stubs, 16 bytes each */
#define MON_CODE_OFF  0x3000 /* the common entry/exit path */
/* The page table must sit in a writable memslot even though the guest may
 * only read it: AMD's nested paging treats every guest page-table access as
 * a write, so a table in a read-only memslot faults forever (measured: the
 * vCPU spins on its first `int $0x1f`).  The guest's own mapping of it is
 * read-only. */
#define MON_PT_OFF   0x4000 /* page table for PDE 1023 */
#define MON_DATA_OFF 0x5000 /* shared words + the ring-0 stack */
/* The same page table in PAE form (8-byte entries), installed as entry 510
 * of the PMD that maps the last gigabyte of a PAE guest. */
#define MON_PAE_PT_OFF 0x6000
#define MON_RO_PAGES   4
#define MON_PAGES      7
#define MON_SIZE       (MON_PAGES * 4096u)

/* Words the VMM and the monitor share, at the start of the data page. */
#define MON_CR0_WANT_OFF (MON_DATA_OFF + 0) /* CR0 the monitor loads on the way out */
#define MON_CR3_WANT_OFF (MON_DATA_OFF + 4) /* CR3 it loads when MON_FLUSH is set */
#define MON_FLUSH_OFF	 (MON_DATA_OFF + 8) /* non-zero: reload CR3 (TLB flush) */
#define MON_STACK_TOP	 (MON_GVA + MON_DATA_OFF + 0x1000)

/* CR0 while the guest runs: PE, MP, ET, NE, WP (the guest tests that ring-1
 * writes to read-only pages fault) and PG.  TS is added for the virtual TS. */
#define LG_CR0 0x80010033u
#define CR0_TS 0x8u

#define MON_PORT	0xF1 /* the monitor's one I/O port */
#define MON_KICK_VECTOR 0xFE /* injected with KVM_INTERRUPT to enter the monitor */

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
/* Point vector `vec` straight at a guest handler (a direct trap), or route it
 * to the monitor with gate privilege `dpl`. */
void monitor_set_direct(struct monitor *m, unsigned vec, uint32_t lo, uint32_t hi);
void monitor_route(struct monitor *m, unsigned vec, unsigned dpl);
/* The ring-3 -> ring-1 stack (TSS ss1/esp1). */
void monitor_set_stack1(struct monitor *m, uint32_t ss1, uint32_t esp1);
/* CR0 the guest runs with (TS mirrors the virtual TS). */
void monitor_set_cr0(struct monitor *m, uint32_t cr0);
/* Load page directory `cr3` on the way out, flushing the TLB: the guest cannot
 * reload CR3 or invlpg at ring 1, so every page-table hypercall ends here. */
void monitor_load_cr3(struct monitor *m, uint32_t cr3);
/* The frame of the current exit. */
struct mon_frame *monitor_frame(struct monitor *m);

/* The code blob (kvm-glue/monitor_stubs.S), position-dependent at MON_GVA. */
extern const uint8_t monitor_stubs_start[], monitor_code_start[];
extern const uint32_t monitor_stubs_size, monitor_code_size;

#endif /* __ASSEMBLER__ */

#endif
