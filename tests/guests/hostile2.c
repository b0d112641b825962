/* hostile2: guests that turn the host's own machinery against it (issue 5,
 * "the guest is hostile").  hostile.c breaks the hypercall rules of §3.8;
 * these go after what is behind them: the monitor's pages, the VMM's page
 * walker, the descriptor tables, the async ring, the vrings, and the clock.
 * Built once per case with -DHOSTILE_CASE="name".
 *
 * Every case must end in a way the README's exit-status table names, with
 * lgkvm's reason on stderr: exit 5 with "guest killed: <reason>" where the
 * guest broke a rule (or broke itself), exit 6 at --timeout where it only
 * wastes its own time, exit 0 with "<case>: PASS" where the host must simply
 * keep its rules (selectors forced, slots ignored) and the guest checks that
 * it did.  A case the host lets through CRASHes ("FAIL: ...": exit 4). */
#include "guest.h"
#include "virtio.h"

#ifndef HOSTILE_CASE
#error "build with -DHOSTILE_CASE=\"name\""
#endif

const char test_name[] = HOSTILE_CASE;

#define MON_VA	   LGUEST_SWITCHER_ADDR /* the monitor, as every directory maps it */
#define MON_GPA	   0xFFC00000u		/* its pages in guest-physical space */
#define SCRATCH_VA 0x00800000u		/* where we map things we should not */

static uint32_t aligned_pages[3][1024] __attribute__((aligned(4096)));

/* Our own page tables (identity map of the first 4 MiB), active. */
static void own_tables(void)
{
	pt_build_identity();
	pt_activate(pt_dir);
}

/*
 * The monitor's pages.  Its code and tables sit in a read-only memslot: a
 * write through any mapping is a write KVM cannot back (exit 5).  Its page
 * table and stack must be writable for the CPU, so a ring-1 guest can reach
 * them: it can break its own monitor (triple fault, exit 5), or even get
 * ring 0 inside its own VM, where it still meets only KVM and a VMM that
 * trusts nothing it says (README, "Threat model").
 */

/* Map the monitor's stubs page writable through our own table and write it.
 * (The GDT and IDT pages are in a writable memslot since the monitor writes
 * TLS slots, the ring-1 stack and gates itself: like the page table, a
 * kernel that maps their frames can change them, docs/DESIGN.md §3.2.  The
 * stubs and the code cannot be changed at all.) */
static void mon_write_ro(void)
{
	guest_init();
	own_tables();
	pt_map(pt_dir, SCRATCH_VA, MON_GPA + 0x2000, PTE_P | PTE_W);
	volatile uint32_t *stubs = (volatile uint32_t *)SCRATCH_VA;
	CHECK(stubs[0] == 0x006A006Au, "the monitor's stub 0 starts %x", stubs[0]);
	printf("mon_write_ro: read the monitor's stubs through our own mapping; now writing "
	       "them\n");
	stubs[0] = 0xCCCCCCCCu;
}

/* Map the monitor's page table writable and unmap the monitor's stack. */
static void mon_write_pt(void)
{
	guest_init();
	own_tables();
	pt_map(pt_dir, SCRATCH_VA, MON_GPA + 0xD000, PTE_P | PTE_W);
	volatile uint32_t *mpt = (volatile uint32_t *)SCRATCH_VA;
	CHECK((mpt[5] & ~0xFFFu) == MON_GPA + 0x5000, "monitor PTE 5 is %x", mpt[5]);
	printf("mon_write_pt: unmapping the monitor's stack page\n");
	mpt[5] = 0;
	/* The next entry to the monitor reloads CR3 and then needs its stack. */
	hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

/* Ring 0 in our own VM: the monitor's data page (stack and the CR3 it loads
 * on the way out) is supervisor-writable, so ring 1 can ask the monitor to
 * switch to a directory of ours in which the monitor's code page is a page of
 * `out %al, $0x42`.  The monitor then runs our page at ring 0; the VMM sees
 * port I/O from ring 0 and kills us: nothing there that ring 0 can reach is
 * the host's.  (A `hlt` would no longer do: with an in-kernel LAPIC, KVM
 * sleeps on it itself, and such a guest only stops itself until --timeout.) */
static void mon_ring0(void)
{
	uint32_t *dir = aligned_pages[0], *pt = aligned_pages[1];
	uint8_t *code = (uint8_t *)aligned_pages[2];
	volatile uint32_t *mon_pt = (volatile uint32_t *)(MON_VA + 0xD000);
	volatile uint32_t *mon_data = (volatile uint32_t *)(MON_VA + 0x5000);

	guest_init();
	own_tables();
	memset(dir, 0, PAGE_SIZE);
	dir[0] = pt_dir[0];
	for (unsigned i = 0; i < 1024; i++)
		pt[i] = mon_pt[i]; /* readable at ring 1: it is supervisor, read-only */
	for (unsigned i = 0; i < PAGE_SIZE; i += 2) { /* out %al, $0x42 */
		code[i] = 0xE6;
		code[i + 1] = 0x42;
	}
	pt[3] = (uint32_t)code | PTE_P | PTE_A;
	dir[1023] = (uint32_t)pt | PTE_P | PTE_W | PTE_A;
	printf("mon_ring0: pointing the monitor's CR3 at our own directory\n");
	mon_data[1] = (uint32_t)dir; /* MON_CR3_WANT */
	mon_data[2] = 1;	     /* MON_FLUSH */
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

/*
 * Page tables that point where they should not.
 */

/* A PTE with a frame far above RAM: the CPU's access has nothing behind it. */
static void pte_past_ram(void)
{
	guest_init();
	own_tables();
	pt_map(pt_dir, SCRATCH_VA, 0x40000000u, PTE_P | PTE_W);
	printf("pte_past_ram: reading GPA 0x40000000 (RAM is %u MiB)\n", ram_size() >> 20);
	(void)*(volatile uint32_t *)SCRATCH_VA;
}

/* The same frame as our stack when the VMM must push a trap frame: its own
 * page walker meets the bad frame. */
static void stack_past_ram(void)
{
	guest_init();
	own_tables();
	idt_init_linux();
	pt_map(pt_dir, SCRATCH_VA, 0x40000000u, PTE_P | PTE_W);
	printf("stack_past_ram: int3 with the stack in a page past RAM\n");
	__asm__ volatile("movl %0, %%esp\n\tint3" : : "r"(SCRATCH_VA + PAGE_SIZE) : "memory");
}

/* A page directory entry pointing at the directory itself.  The hardware
 * walks it happily (VA 0x00400000 + 4096 * i is the page PDE i names); the
 * VMM's walker must too, when it pushes a trap frame onto a stack reached
 * only through the recursion. */
static volatile uint32_t saved_esp;

static void recursive_pgdir(void)
{
	uint32_t *scratch = aligned_pages[0];
	const uint32_t rec_va = 0x00400000u;		       /* PDE 1 -> the directory */
	const uint32_t stack = rec_va + 2 * PAGE_SIZE + 0x800; /* PDE 2's table, halfway */

	guest_init();
	pt_build_identity();
	memset(scratch, 0, PAGE_SIZE);
	pt_dir[1] = (uint32_t)pt_dir | PTE_P | PTE_W;
	pt_dir[2] = (uint32_t)scratch | PTE_P | PTE_W; /* maps VA 8-12 MiB, unused */
	pt_activate(pt_dir);
	idt_init_linux();
	set_trap_handler(3, expect_trap_handler);

	volatile uint32_t *via_rec = (volatile uint32_t *)(rec_va + PAGE_SIZE);
	CHECK(via_rec[0] == pt_dir[0] && via_rec[1] == pt_dir[1],
	      "the directory through itself reads %x %x", via_rec[0], via_rec[1]);
	__asm__ volatile("movl $1f, trap_insn_eip\n\t"
			 "movl $2f, trap_after_eip\n\t"
			 "movl $2f, trap_resume_eip\n\t"
			 "movl %%esp, saved_esp\n\t"
			 "movl %0, %%esp\n"
			 "1:\tint3\n"
			 "2:\tmovl saved_esp, %%esp"
			 :
			 : "r"(stack)
			 : "memory", "cc");
	CHECK(last_trap.count == 1 && last_trap.vector == 3, "%u traps, vector %u", last_trap.count,
	      last_trap.vector);
	CHECK(last_trap.frame_addr == stack - 12, "frame at %x, want %x", last_trap.frame_addr,
	      stack - 12);
	/* The frame is in `scratch`, where the walker put it. */
	CHECK(scratch[0x1FD] == trap_after_eip && scratch[0x1FE] == KERNEL_CS,
	      "frame in the page table page: eip %x cs %x", scratch[0x1FD], scratch[0x1FE]);
	CHECK((pt_dir[1] & PTE_A) && (pt_dir[2] & (PTE_A | PTE_D)) == (PTE_A | PTE_D),
	      "accessed/dirty bits: PDE 1 %x, PDE 2 (as a PTE) %x", pt_dir[1], pt_dir[2]);
	printf("recursive_pgdir: trap frame pushed through the recursive mapping ok\n");
	pass();
}

/*
 * Descriptors.
 */

static void set_stack_ring0(void)
{
	static uint8_t stack[4096] __attribute__((aligned(4096)));

	guest_init();
	/* LGUEST_DS, the monitor's own ring-0 data segment. */
	hcall(LHCALL_SET_STACK, 0x58, (uint32_t)stack + sizeof(stack), 1);
}

static int lar_ok(uint32_t sel)
{
	uint32_t ok = 0, ar;
	__asm__ volatile("larl %2, %1\n\t"
			 "setz %b0"
			 : "+q"(ok), "=r"(ar)
			 : "r"(sel)
			 : "cc");
	return (int)ok;
}

static uint64_t gdt[GDT_ENTRIES];
static uint32_t fake_tss[26];

static void gdt_ring0(void)
{
	volatile uint64_t *real = (volatile uint64_t *)MON_VA; /* the GDT the CPU uses */
	uint64_t host10 = real[10], host11 = real[11], host16 = real[16];

	guest_init();
	idt_init_linux();
	gdt_fill_linux(gdt);
	/* The host's slots, as we would like them: ours, at rings 1 and 3. */
	gdt[10] = seg_desc(0, 0xFFFFF, SEG_CODE_RX, 1, 0xC);
	gdt[11] = seg_desc(0, 0xFFFFF, SEG_DATA_RW, 3, 0xC);
	gdt[16] = seg_desc(0, 0xFFFFF, SEG_CODE_RX, 3, 0xC);
	/* A DPL-0 code segment of our own (the host lifts it to DPL 1). */
	gdt[20] = seg_desc(0, 0xFFFFF, SEG_CODE_RX, 0, 0xC);
	/* A TSS whose CS is the monitor's ring-0 code segment, and a task
	 * gate to it: a far jump through either would be a task switch. */
	uint32_t b = (uint32_t)fake_tss;
	fake_tss[8] = (uint32_t)gdt_ring0; /* EIP */
	fake_tss[19] = 0x50;		   /* CS */
	gdt[21] = ((uint64_t)((b & 0xFF000000) | ((b >> 16) & 0xFF) | 0xE900) << 32) |
		  ((b & 0xFFFF) << 16) | 0x67;
	gdt[22] = ((uint64_t)0xE500 << 32) | ((21u * 8) << 16);
	gdt_load(gdt, GDT_ENTRIES);

	CHECK(real[10] == host10 && real[11] == host11 && real[16] == host16,
	      "a host GDT slot changed: 10 %x:%x", (uint32_t)real[10], (uint32_t)(real[10] >> 32));
	CHECK(!lar_ok(0x50) && !lar_ok(0x58) && !lar_ok(0x80),
	      "a host descriptor is visible at ring 1 (lar 0x50 %d, 0x58 %d, 0x80 %d)",
	      lar_ok(0x50), lar_ok(0x58), lar_ok(0x80));
	printf("gdt_ring0: host slots 10, 11, 16 kept ok\n");

	/* Our DPL-0 code segment: usable, but only at ring 1. */
	uint32_t cs;
	__asm__ volatile("ljmp $0xA0, $1f\n"
			 "1:\tmovl %%cs, %0\n\t"
			 "ljmp $0x61, $2f\n"
			 "2:"
			 : "=r"(cs)
			 :
			 : "memory");
	CHECK((cs & 0xFFFF) == 0xA1, "far jump to our DPL-0 segment: CS %x, want 0xA1", cs);
	printf("gdt_ring0: DPL-0 code segment runs at ring 1 ok\n");

	/* The monitor's code segment: #GP, not ring 0. */
	set_trap_handler(13, expect_trap_handler);
	set_trap_handler(11, expect_trap_handler);
	TRY_INSN("", "ljmp $0x50, $0");
	CHECK(last_trap.count == 1 && last_trap.vector == 13 && last_trap.error == 0x50,
	      "far jump to 0x50: %u traps, vector %u error %x", last_trap.count, last_trap.vector,
	      last_trap.error);
	/* The TSS and the task gate: not present in the real GDT. */
	TRY_INSN("", "ljmp $0xA8, $0");
	CHECK(last_trap.count == 2 && last_trap.vector == 11 && last_trap.error == 0xA8,
	      "far jump to a TSS: %u traps, vector %u error %x", last_trap.count, last_trap.vector,
	      last_trap.error);
	TRY_INSN("", "ljmp $0xB0, $0");
	CHECK(last_trap.count == 3 && last_trap.vector == 11 && last_trap.error == 0xB0,
	      "far jump through a task gate: %u traps, vector %u error %x", last_trap.count,
	      last_trap.vector, last_trap.error);
	CHECK(!(real[21] & (1ull << 47)) && !(real[22] & (1ull << 47)),
	      "system descriptors present in the real GDT: 21 %x, 22 %x",
	      (uint32_t)(real[21] >> 32), (uint32_t)(real[22] >> 32));
	printf("gdt_ring0: far jumps to 0x50, a TSS and a task gate refused ok\n");
	pass();
}

/* IDT entries naming the monitor's ring-0 code segment (0x50) with DPL 0:
 * the host must force the guest's own 0x61, so the handler runs at ring 1. */
static volatile uint32_t handler_cs;

static void cs_handler(struct trap_frame *f)
{
	handler_cs = READ_SEG(cs);
	expect_trap_handler(f);
}

static void idt_sel(void)
{
	volatile uint32_t *real = (volatile uint32_t *)(MON_VA + 0x1000); /* the real IDT */
	const unsigned vecs[2] = {6, 0x80};

	guest_init();
	idt_init_linux();
	for (unsigned i = 0; i < 2; i++) {
		uint32_t h = trap_stub(vecs[i]);
		hcall(LHCALL_LOAD_IDT_ENTRY, vecs[i], (0x50u << 16) | (h & 0xFFFF),
		      (h & 0xFFFF0000u) | 0x8000 | (i ? 3u << 13 : 0) | (GATE_TRAP << 8));
		set_trap_handler(vecs[i], cs_handler);
		CHECK((real[vecs[i] * 2] >> 16) == KERNEL_CS, "real IDT gate %u has selector %x",
		      vecs[i], real[vecs[i] * 2] >> 16);
	}
	handler_cs = 0;
	TRY_INSN("", "ud2");
	CHECK(last_trap.count == 1 && last_trap.vector == 6 && handler_cs == KERNEL_CS,
	      "#UD: %u traps, handler ran with CS %x", last_trap.count, handler_cs);
	handler_cs = 0;
	TRY_INSN("", "int $0x80");
	CHECK(last_trap.count == 2 && last_trap.vector == 0x80 && handler_cs == KERNEL_CS,
	      "int $0x80: %u traps, handler ran with CS %x", last_trap.count, handler_cs);
	printf("idt_sel: selector 0x50 forced to 0x61 ok\n");
	pass();
}

/*
 * The async ring: every slot pending, every number garbage.
 */
static void async_garbage(void)
{
	guest_init();
	for (unsigned i = 0; i < LHCALL_RING_SIZE; i++) {
		lguest_data.hcalls[i].nr = 0xDEAD0000u + i;
		lguest_data.hcalls[i].arg1 = 0xFFFFFFFFu;
		lguest_data.hcalls[i].arg2 = 0x80000000u + i;
		lguest_data.hcalls[i].arg3 = i;
	}
	__asm__ volatile("" ::: "memory");
	for (unsigned i = 0; i < LHCALL_RING_SIZE; i++)
		lguest_data.hcall_status[i] = (uint8_t)i; /* anything but 0xFF is pending */
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

/*
 * The console's output ring, broken four ways.  The console is serviced on
 * NOTIFY, before we run again, so the kill comes at the hypercall.
 */
static struct vq out_q;
static char buf[16] = "hostile";

static void console_out_ring(void)
{
	struct vdev d;
	struct vq in_q;

	guest_init();
	virtio_init();
	virtio_find(VIRTIO_ID_CONSOLE, 0, &d);
	vq_find(&d, &in_q, "input");
	vq_find(&d, &out_q, "output");
	virtio_status(&d, VIRTIO_STATUS_DRIVER_OK);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	out_q.desc[i].addr = addr;
	out_q.desc[i].len = len;
	out_q.desc[i].flags = flags;
	out_q.desc[i].next = next;
}

/* Offer `head` (idx moves by `step`) and kick. */
static void offer(uint16_t head, uint16_t step)
{
	uint16_t idx = out_q.avail[1];

	out_q.avail[2 + idx % out_q.cfg.num] = head;
	__asm__ volatile("" ::: "memory");
	out_q.avail[1] = (uint16_t)(idx + step);
	printf("%s: kicking the console's output ring\n", test_name);
	hcall(LHCALL_NOTIFY, out_q.cfg.pfn * PAGE_SIZE, 0, 0);
	/* Then wait for the buffer, as the driver does: where the ring has a
	 * thread of its own (virtio/console.c) the kill comes meanwhile. */
	for (uint32_t ms = 0; ms < 5000; ms += 10)
		spin_ms(10, 1);
}

static void vring_loop(void)
{
	console_out_ring();
	set_desc(0, (uint32_t)buf, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, (uint32_t)buf + 4, 4, VRING_DESC_F_NEXT, 0);
	offer(0, 1);
}

static void vring_huge_len(void)
{
	console_out_ring();
	set_desc(0, (uint32_t)buf, 0xFFFFFFFFu, 0, 0);
	offer(0, 1);
}

static void vring_bad_addr(void)
{
	console_out_ring();
	set_desc(0, MON_GPA, sizeof(buf), 0, 0);
	offer(0, 1);
}

static void vring_idx_jump(void)
{
	console_out_ring();
	set_desc(0, (uint32_t)buf, 4, 0, 0);
	offer(0, 1000);
}

static void vring_bad_head(void)
{
	console_out_ring();
	offer(200, 1);
}

/*
 * Time.
 */

/* The clock re-armed 100 ns ahead from its own handler, forever: the VMM
 * must go on servicing it and still stop at --timeout (exit 6). */
static volatile uint32_t ticks;

static void storm_tick(struct trap_frame *f)
{
	(void)f;
	ticks++;
	hcall(LHCALL_SET_CLOCKEVENT, 100, 0, 0);
}

static void timer_storm(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(32, storm_tick);
	lguest_data.blocked_interrupts = 0;
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	printf("timer_storm: storming\n");
	hcall(LHCALL_SET_CLOCKEVENT, 100, 0, 0);
	for (uint32_t reported = 1000;;) {
		if (ticks >= reported) {
			printf("timer_storm: %u interrupts\n", ticks);
			reported *= 10;
		}
	}
}

/* HALT with the timer pending but blocked, interrupts off: nothing can ever
 * be delivered.  The VMM must sleep (it rechecks now and then) until
 * --timeout (exit 6); HALT returning would be a bug. */
static void halt_blocked(void)
{
	guest_init();
	idt_init_linux();
	lguest_data.blocked_interrupts = 0xFFFFFFFFu;
	lguest_data.irq_enabled = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1000000, 0, 0);
	printf("halt_blocked: halting with the timer blocked\n");
	for (;;) {
		hcall(LHCALL_HALT, 0, 0, 0);
		/* A timer interrupt we blocked could only get here by mistake;
		 * so could a wake-up with nothing delivered. */
		fail("LHCALL_HALT returned with every interrupt blocked");
	}
}

static const struct guest_case cases[] = {
	{"mon_write_ro", mon_write_ro},
	{"mon_write_pt", mon_write_pt},
	{"mon_ring0", mon_ring0},
	{"pte_past_ram", pte_past_ram},
	{"stack_past_ram", stack_past_ram},
	{"recursive_pgdir", recursive_pgdir},
	{"set_stack_ring0", set_stack_ring0},
	{"gdt_ring0", gdt_ring0},
	{"idt_sel", idt_sel},
	{"async_garbage", async_garbage},
	{"vring_loop", vring_loop},
	{"vring_huge_len", vring_huge_len},
	{"vring_bad_addr", vring_bad_addr},
	{"vring_idx_jump", vring_idx_jump},
	{"vring_bad_head", vring_bad_head},
	{"timer_storm", timer_storm},
	{"halt_blocked", halt_blocked},
};

void test_main(void)
{
	run_case(cases, sizeof(cases) / sizeof(cases[0]));
}
