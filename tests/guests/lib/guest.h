/* The tiny runtime every test guest links against.
 *
 * A test guest defines `test_name` and `test_main()`.  lib/start.S gives it a
 * stack and calls test_main() with nothing else done: no LGUEST_INIT, no IDT.
 * That is deliberate, because some guests must misbehave before INIT; every
 * well-behaved guest starts with guest_init(). */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdarg.h>
#include <stdint.h>

#include "lguest.h"

extern const char test_name[];
void test_main(void);

/* Registers exactly as the VMM handed them to us, captured by start.S before
 * anything touched them (hello checks them against §2.7). */
struct boot_regs {
	uint32_t eax, ebx, ecx, edx, esi, edi, ebp, esp;
	uint32_t eflags, cs, ds, es, ss, fs, gs;
};
extern struct boot_regs boot_regs;

/* Linker-script symbols: where our image lives. */
extern char _start[], _etext[], _end[];
extern char boot_stack[], boot_stack_top[]; /* the stack start.S gives us */

/* lguest_iret and its no-interrupt window (§5.6), in lib/traps.S: a range
 * up to 4.0, the iret alone from 4.1 (§H1.3). */
extern char lguest_iret[];
#if GEN_NOIRQ_IRET
extern char lguest_noirq_iret[];
#else
extern char lguest_noirq_start[], lguest_noirq_end[];
#endif

/* ---- runtime.c ---- */
void guest_init(void);			/* LHCALL_LGUEST_INIT with our lguest_data */
uint32_t ram_size(void);		/* e820_map[0].size from the zero page */
static inline void *gpa_ptr(uint32_t a) /* a GPA as a pointer (identity map) */
{
	/* Launder the integer so gcc does not treat low constant addresses
	 * (the zero page) as null-pointer arithmetic. */
	__asm__("" : "+r"(a));
	return (void *)a;
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
/* The TSC rate: lguest_data.tsc_khz, or when the host says 0 (no stable
 * TSC, §8.1) an estimate a test may measure itself, or 0. */
extern uint32_t tsc_khz_estimate;
uint32_t tsc_rate_khz(void);
/* Busy-wait about `ms` milliseconds using the TSC when its rate is known,
 * else a fixed number of iterations.  With `hcalls`, each iteration makes a
 * FLUSH_ASYNC hypercall (an interrupt-delivery opportunity, §5.5). */
void spin_ms(uint32_t ms, int hcalls);
uint32_t tsc_ms_since(uint64_t start); /* 0 if no TSC rate is known */
void power_off(void) __attribute__((noreturn));

/* ---- console.c ---- */
/* Up to 3.19: LHCALL_NOTIFY, <= 16 bytes + NUL per call; 4.0+: a byte at a
 * time into the PCI console's emerg_wr through its PCI_CFG window. */
void puts_early(const char *s);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap);
int snprintf(char *buf, uint32_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* CRASH "FAIL: <test>: <message>": lgkvm exits 4 and prints it. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "<test>: PASS" and power off (lgkvm exits 0). */
void pass(void) __attribute__((noreturn));
#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

/* ---- string.c ---- */
void *memset(void *d, int c, uint32_t n);
void *memcpy(void *d, const void *s, uint32_t n);
int memcmp(const void *a, const void *b, uint32_t n);
uint32_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, uint32_t n);
const char *strstr(const char *hay, const char *needle);
/* Is `word` one of the space-separated words of the command line? */
int cmdline_has(const char *word);

/* ---- traps.c: IDT, trap dispatch ---- */
/* What the stubs in traps.S save; the CPU part at the end is the i386
 * interrupt frame (§5.4).  user_esp/user_ss exist only when cs & 3 == 3. */
struct trap_frame {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
	uint32_t vector, error; /* error is 0 when the CPU/host pushed none */
	uint32_t eip, cs, eflags;
	uint32_t user_esp, user_ss;
};
typedef void (*trap_handler)(struct trap_frame *f);
void set_trap_handler(unsigned vector, trap_handler h);

#define GATE_INTERRUPT 0xE
#define GATE_TRAP      0xF
#define GATE_TASK      0x5
/* Write one gate into our in-memory IDT image (not yet sent to the host). */
void idt_set_gate(unsigned vector, uint32_t handler, unsigned type, unsigned dpl);
uint32_t trap_stub(unsigned vector); /* address of the asm entry for vector */
/* Build Linux 2.6.24's IDT (§5.2) and send all 256 entries, one
 * LHCALL_LOAD_IDT_ENTRY each, as lguest_load_idt does. */
void idt_init_linux(void);
void idt_load_all(void);
void idt_load_entry(unsigned vector);
/* The two words LOAD_IDT_ENTRY would send for `vector`. */
void idt_gate_words(unsigned vector, uint32_t *lo, uint32_t *hi);

/* A trap we expect: the handler installed by expect_trap_handler() records
 * the frame here and resumes at `trap_resume_eip` (set by the test's asm). */
struct trap_record {
	volatile uint32_t count, vector, error, eip, cs, eflags, user_esp, user_ss;
	volatile uint32_t irq_enabled; /* lguest_data.irq_enabled inside the handler */
	volatile uint32_t cr2;	       /* lguest_data.cr2 inside the handler */
	volatile uint32_t frame_addr;  /* where the frame was (which stack) */
};
extern struct trap_record last_trap;
extern volatile uint32_t trap_resume_eip;
/* Where the instruction under test starts and ends (set by TRY_INSN). */
extern volatile uint32_t trap_insn_eip, trap_after_eip;
void expect_trap_handler(struct trap_frame *f);

/* Run `insn` (after `setup`) with the resume point set to just after it.
 * The addresses are stored before `setup` runs, so `setup` may use any
 * register it lists as clobbered. */
#define TRY_INSN(setup, insn, ...)                                  \
	__asm__ volatile("movl $1f, trap_insn_eip\n\t"              \
			 "movl $2f, trap_after_eip\n\t"             \
			 "movl $2f, trap_resume_eip\n\t" setup "\n" \
			 "1:\t" insn "\n"                           \
			 "2:" ::                                    \
				 : "memory", "cc", ##__VA_ARGS__)

/* ---- desc.c: GDT / TLS ---- */
/* An i386 segment descriptor from its parts: `type` is the access byte's low
 * 4 bits (the S bit is always set), flags 0xC = 4 KiB granularity + 32-bit. */
uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl, unsigned flags);
#define SEG_CODE_RX 0xA /* execute/read */
#define SEG_DATA_RW 0x2 /* read/write */
/* Fill `gdt` the way Linux 2.6.24's per-CPU GDT looks: kernel code/data at
 * 12/13 with DPL 0 (the host lifts them to 1), user code/data at 14/15. */
void gdt_fill_linux(uint64_t gdt[GDT_ENTRIES]);
void gdt_load(const uint64_t *gdt, uint32_t count);

/* ---- pagetable.c ---- */
/* Our own page directory: identity map of the first 4 MiB (PDE 0, present,
 * writable, user), everything else empty.  Not loaded until pt_activate. */
extern uint32_t pt_dir[1024];
extern uint32_t pt_low[1024]; /* PTEs for 0-4 MiB */
void pt_build_identity(void);
void pt_activate(uint32_t *dir); /* LHCALL_NEW_PGTABLE */
/* Map one page va -> gpa (flags incl. present) in `dir`, taking page-table
 * pages from a small pool; tells the host with LHCALL_SET_PTE. */
void pt_map(uint32_t *dir, uint32_t va, uint32_t gpa, uint32_t flags);
uint32_t *pt_pte(uint32_t *dir, uint32_t va); /* NULL if no page table */

/* ---- cases.c ---- */
/* A series built once per case (hostile*.c): run the case named test_name.
 * The host must end every case that does not pass() by itself, so coming
 * back from it fails, as does a name with no case. */
struct guest_case {
	const char *name;
	void (*run)(void);
};
void run_case(const struct guest_case *cases, unsigned n) __attribute__((noreturn));

/* ---- async.c ---- */
/* Queue a hypercall in the async ring the way boot.c:async_hcall does. */
void async_hcall(uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3);

/* Current segment selectors. */
#define READ_SEG(seg)                                               \
	({                                                          \
		uint32_t v_;                                        \
		__asm__ volatile("movl %%" #seg ", %0" : "=r"(v_)); \
		v_ & 0xffff;                                        \
	})

#endif
