/* hostile_fast: the monitor's fast path (docs/DESIGN.md §2.9) meets a hostile
 * guest.  The monitor finishes SET_STACK, LOAD_TLS, the TLB calls and the
 * async ring inside the VM; for every argument it does not like it must hand
 * the call to the VMM untouched, so each case here ends exactly as it did
 * when every call exited: the VMM's kill, with the VMM's reason (exit 5), or
 * a guest that carries on (exit 0, "<case>: PASS").
 *
 * Built once per case with -DHOSTILE_CASE="name"; tests.list says how each
 * must end. */
#include "guest.h"

#ifndef HOSTILE_CASE
#error "build with -DHOSTILE_CASE=\"name\""
#endif

const char test_name[] = HOSTILE_CASE;

#define MON_VA	   LGUEST_SWITCHER_ADDR
#define SCRATCH_VA 0x00800000u /* a page we map (or not) ourselves */

static uint8_t page[2][4096] __attribute__((aligned(4096)));

/* Our own page tables: the first 4 MiB identity-mapped, and nothing at
 * SCRATCH_VA until a case puts something there. */
static void own_tables(void)
{
	pt_build_identity();
	pt_activate(pt_dir);
}

/* The stack SET_STACK names is in no page at all: the monitor's write probe
 * faults inside the monitor, is caught, and the VMM's walk kills. */
static void stack_unmapped(void)
{
	guest_init();
	own_tables();
	hcall(LHCALL_SET_STACK, KERNEL_DS, SCRATCH_VA + 4096, 1);
}

/* ... in a read-only page: the probe's write faults (CR0.WP), the VMM's walk
 * finds it not writable. */
static void stack_read_only(void)
{
	guest_init();
	own_tables();
	pt_map(pt_dir, SCRATCH_VA, (uint32_t)page[0], PTE_P);
	hcall(LHCALL_SET_STACK, KERNEL_DS, SCRATCH_VA + 4096, 1);
}

/* ... in the monitor's own data page, which every directory maps writable:
 * the probe would succeed, so the monitor must refuse it by address. */
static void stack_in_monitor(void)
{
	guest_init();
	hcall(LHCALL_SET_STACK, KERNEL_DS, MON_VA + 0x6000, 1);
}

/* Two pages asked for, the lower one missing. */
static void stack_second_page(void)
{
	guest_init();
	own_tables();
	pt_map(pt_dir, SCRATCH_VA + 4096, (uint32_t)page[1], PTE_P | PTE_W);
	hcall(LHCALL_SET_STACK, KERNEL_DS, SCRATCH_VA + 8192, 2);
}

/* LOAD_TLS's 24 bytes run past the memory the guest may name. */
static void tls_past_limit(void)
{
	guest_init();
	hcall(LHCALL_LOAD_TLS, 0xFFFFFFF0u, 0, 0);
}

/* The async ring: a TLB call the monitor finishes, then a SET_STACK it must
 * leave to the VMM, which goes on from that very slot and kills. */
static void async_then_bad_stack(void)
{
	guest_init();
	own_tables();
	async_hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
	async_hcall(LHCALL_SET_STACK, KERNEL_DS, SCRATCH_VA + 4096, 1);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

/* The monitor's data page is writable in every directory: scribble on the
 * words it shares with the VMM (the ring cursor, the pending IRQs, the
 * counters) and carry on.  The VMM bounds what it reads there; the guest
 * only confuses itself (a pending bit it sets is an interrupt it raised to
 * itself), so it queues nothing across the scribble. */
static void shared_scribble(void)
{
	guest_init();
	volatile uint32_t *sh = (volatile uint32_t *)(MON_VA + 0x5000);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	uint32_t cursor = sh[3];
	sh[3] = 0x7FFFFFFFu; /* async_next */
	sh[4] |= 1u << 31;   /* IRQ 31 pending, with no handler: it stays so */
	sh[5] = 0xFFFFFFFFu; /* events handled */
	for (int i = 0; i < 100; i++)
		hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
	hcall(LHCALL_TS, 0, 0, 0);
	CHECK(sh[4] & (1u << 31), "an IRQ with no handler was taken: pending %x", sh[4]);
	sh[4] &= ~(1u << 31);
	/* Put the cursor back where the ring really is, and use the ring. */
	sh[3] = cursor;
	async_hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(lguest_data.hcall_status[cursor % LHCALL_RING_SIZE] == 0xFF,
	      "the queued call was not run");
	printf("shared_scribble: carried on ok\n");
	pass();
}

/* LOAD_TLS, done by the monitor, applies the VMM's fix-ups (the shared
 * pvabi/desc_rules.h): DPL 0 becomes 1, the accessed bit is preset, and a
 * system descriptor (here a call gate to the host's ring-0 code, the way
 * to ring 0 if it stayed) becomes not-present. */
static uint32_t lar(uint32_t sel)
{
	uint32_t ar = 0;
	__asm__ volatile("larl %1, %0" : "=r"(ar) : "r"(sel) : "cc");
	return ar;
}

static void tls_fixups(void)
{
	static uint64_t tls[3];
	guest_init();
	tls[0] = 0x00CF92000000FFFFull; /* data, DPL 0, not accessed */
	tls[1] = 0x0000EC0000500000ull; /* call gate, DPL 3, to 0x50:0 */
	tls[2] = 0x00CFF2000000FFFFull; /* data, DPL 3, not accessed */
	hcall(LHCALL_LOAD_TLS, (uint32_t)tls, 0, 0);
	uint32_t a6 = lar(0x30), a7 = lar(0x38), a8 = lar(0x40);
	CHECK(((a6 >> 13) & 3) == 1 && (a6 & 0x100), "TLS 6: access rights %x", a6);
	CHECK(!(a7 & 0x8000), "TLS 7: the call gate is still present (%x)", a7);
	CHECK(((a8 >> 13) & 3) == 3 && (a8 & 0x100), "TLS 8: access rights %x", a8);
	printf("tls_fixups: DPL, accessed and system rules applied ok\n");
	pass();
}

/* An interrupt for a guest whose kernel stack is gone: the monitor's push
 * faults (or, in its own pages, is refused), and the VMM's kills. */
static void tick(struct trap_frame *f)
{
	(void)f;
}

static void irq_onto(uint32_t esp)
{
	idt_init_linux();
	set_trap_handler(32, tick);
	lguest_data.blocked_interrupts = 0;
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_SET_CLOCKEVENT, 1000000u, 0, 0);
	/* Spin without touching the stack until the tick comes. */
	__asm__ volatile("movl %0, %%esp\n1:\tjmp 1b" : : "r"(esp) : "memory");
}

static void irq_stack_unmapped(void)
{
	guest_init();
	own_tables();
	irq_onto(SCRATCH_VA + 4096);
}

static void irq_stack_in_monitor(void)
{
	guest_init();
	irq_onto(MON_VA + 0x6000);
}

/* The clock (kvm-glue/monitor/clock.c) meets a guest that scribbles on the
 * monitor's clock words: deadlines, the LAPIC bookkeeping, the time anchor,
 * the "halted" flag and the VMM's request word.  The monitor's clock must
 * still work for it, and lguest_data.time must stay a time. */
static volatile uint32_t ticks;

static void count_tick(struct trap_frame *f)
{
	(void)f;
	ticks++;
}

static void clock_scribble(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(32, count_tick);
	lguest_data.blocked_interrupts = 0;
	for (unsigned i = 49; i < 69; i++)
		MON_WORD(i) = 0xFFFFFFFFu ^ (i * 0x01010101u);
	MON_WORD(60) = 0;	    /* vmm_req: below, on purpose */
	MON_WORD(66) = 0xFFFFFFFFu; /* time_nsec: no time can be made of it */
	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1000000u, 0, 0);
	hcall(LHCALL_HALT, 0, 0, 0);
	CHECK(ticks == 1, "HALT came back with %u ticks", ticks);
	CHECK((uint32_t)lguest_data.time.tv_nsec < 1000000000u, "lguest_data.time.tv_nsec %u",
	      lguest_data.time.tv_nsec);
	if (MON_CLOCK_IN_VM) {
		/* Ask the monitor, as the VMM would, for a 2 ms clock event
		 * and a halt on the way back from the next exit (a console
		 * write): we come back through the tick. */
		MON_WORD(61) = 2000000u;
		MON_WORD(60) = 3u;
		printf("clock_scribble: asking for a halt\n");
		CHECK(ticks == 2, "the requested halt came back with %u ticks", ticks);
	}
	printf("clock_scribble: carried on ok\n");
	pass();
}

/* `int` on the monitor's own vectors from ring 1: their gates are DPL 0, so
 * the CPU raises #GP(vector) instead; no tick, no kick is faked. */
static volatile uint32_t gp_error;

static void gp_skip(struct trap_frame *f)
{
	gp_error = f->error;
	f->eip += 2;
}

static void host_vector_int(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(13, gp_skip);
	set_trap_handler(32, count_tick);
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	__asm__ volatile("int $0xFD" : : : "memory");
	CHECK(gp_error == (0xFDu << 3 | 2), "int $0xFD: #GP error %x", gp_error);
	gp_error = 0;
	__asm__ volatile("int $0xFE" : : : "memory");
	CHECK(gp_error == (0xFEu << 3 | 2), "int $0xFE: #GP error %x", gp_error);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(ticks == 0, "%u ticks with no clock event", ticks);
	printf("host_vector_int: #GP for the monitor's vectors ok\n");
	pass();
}

/* A HALT ended by an interrupt whose frame cannot be pushed: the monitor
 * hands the delivery to the VMM, which kills with its own reason. */
static void halt_stack_unmapped(void)
{
	guest_init();
	own_tables();
	idt_init_linux();
	set_trap_handler(32, count_tick);
	lguest_data.blocked_interrupts = 0;
	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1000000u, 0, 0);
	__asm__ volatile("movl %0, %%esp\n\t"
			 "movl %1, %%eax\n\t"
			 "int $0x1f\n"
			 "1:\tjmp 1b"
			 :
			 : "r"(SCRATCH_VA + 4096), "i"(LHCALL_HALT)
			 : "memory");
}

/* Page faults the monitor reflects (ring 1 here) meet a stack that cannot
 * take the frame, and a guest with no handler: the VMM's kills, as before. */
static void pf_stack_unmapped(void)
{
	guest_init();
	own_tables();
	idt_init_linux();
	__asm__ volatile("movl %0, %%esp\n\t"
			 "movl (%1), %%eax\n"
			 "1:\tjmp 1b"
			 :
			 : "r"(SCRATCH_VA + 4096), "r"(SCRATCH_VA + 8192)
			 : "eax", "memory");
}

static void pf_no_gate(void)
{
	guest_init();
	own_tables();
	idt_init_linux();
	hcall(LHCALL_LOAD_IDT_ENTRY, 14, 0, 0);
	(void)*(volatile uint32_t *)(SCRATCH_VA + 8192);
}

static const struct guest_case cases[] = {
	{"stack_unmapped", stack_unmapped},
	{"stack_read_only", stack_read_only},
	{"stack_in_monitor", stack_in_monitor},
	{"stack_second_page", stack_second_page},
	{"tls_past_limit", tls_past_limit},
	{"async_then_bad_stack", async_then_bad_stack},
	{"shared_scribble", shared_scribble},
	{"tls_fixups", tls_fixups},
	{"irq_stack_unmapped", irq_stack_unmapped},
	{"irq_stack_in_monitor", irq_stack_in_monitor},
	{"clock_scribble", clock_scribble},
	{"host_vector_int", host_vector_int},
	{"halt_stack_unmapped", halt_stack_unmapped},
	{"pf_stack_unmapped", pf_stack_unmapped},
	{"pf_no_gate", pf_no_gate},
};

void test_main(void)
{
	run_case(cases, sizeof(cases) / sizeof(cases[0]));
}
