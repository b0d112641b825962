/* abi_gen: the hypercall contract of one ABI generation (docs/abi.md §H1),
 * compiled once per generation (guests.mk: gN/abi_gen.elf, -DLGUEST_GEN=N).
 *
 * Each check below is something that generation's kernels rely on and the
 * neighbours do differently, so a host that mixed two tables fails here:
 *  - LGUEST_INIT in the generation's register, and what the host writes
 *    back at the generation's offsets (pgdir only where the layout has it);
 *  - the boot mappings: the host's PAGE_OFFSET alias for 2.6.29-3.0, none
 *    before (the guest copied PDEs itself);
 *  - an async hypercall whose arguments sit where this generation's ring
 *    slot puts them;
 *  - LOAD_GDT (to 2.6.29) or LOAD_GDT_ENTRY (2.6.30+);
 *  - irq_pending and SEND_INTERRUPTS (2.6.31+);
 *  - `cli` stepped over at ring 1 (2.6.34+);
 *  - a `vmcall` hidden where the load-time rewrite cannot see it (2.6.30-3.0),
 *    caught at run time on AMD;
 *  - power-off through CRASH or SHUTDOWN. */
#include "guest.h"

const char test_name[] = "abi_gen";

#define PAGE_OFFSET 0xC0000000u

static volatile uint32_t probe = 0x1ab5eed5;
static volatile unsigned bp_count, ticks;

static void bp_handler(struct trap_frame *f)
{
	(void)f;
	bp_count++;
}

#if GEN_SEND_INTERRUPTS
static void tick_handler(struct trap_frame *f)
{
	(void)f;
	ticks++;
}
#endif

static void check_init(void)
{
	CHECK(lguest_data.reserve_mem == LGUEST_RESERVE_MEM, "reserve_mem %x",
	      lguest_data.reserve_mem);
#if GEN_HAS_PGDIR && defined(LGUEST_PAE)
	/* PAE: pgdir is the directory-pointer table, the host's tables are
	 * PAE-format, and 2.6.31-3.0 find RAM at PAGE_OFFSET already. */
	uint32_t pgdir = lguest_data.pgdir;
	CHECK(pgdir && !(pgdir & 0x1F) && pgdir < ram_size(), "pgdir %x", pgdir);
	volatile uint64_t *pdpt = gpa_ptr(pgdir);
	CHECK((pdpt[3] & 1) && (pdpt[3] & ~0xFFFull), "PDPT entry 3 is %x", (uint32_t)pdpt[3]);
	volatile uint32_t *alias = (volatile uint32_t *)(PAGE_OFFSET + (uint32_t)&probe);
	CHECK(*alias == probe, "PAGE_OFFSET alias reads %x", *alias);
	printf("abi_gen: INIT ok, PAE pgdir %x\n", pgdir);
#elif GEN_HAS_PGDIR
	uint32_t pgdir = lguest_data.pgdir;
	CHECK(pgdir && !(pgdir & 0xFFF) && pgdir < ram_size(), "pgdir %x", pgdir);
	volatile uint32_t *dir = gpa_ptr(pgdir);
#if GEN_HOST_PREMAP
	/* 2.6.29-3.0: RAM at PAGE_OFFSET when INIT returns. */
	CHECK(dir[PAGE_OFFSET >> 22] == dir[0], "no PAGE_OFFSET alias: PDE %x", dir[768]);
	volatile uint32_t *alias = (volatile uint32_t *)(PAGE_OFFSET + (uint32_t)&probe);
	CHECK(*alias == probe, "PAGE_OFFSET alias reads %x", *alias);
#else
	/* 2.6.24-2.6.28 copy the PDEs themselves: the host must not have. */
	CHECK(!(dir[PAGE_OFFSET >> 22] & PTE_P), "host premapped PAGE_OFFSET: PDE %x",
	      dir[PAGE_OFFSET >> 22]);
#endif
	printf("abi_gen: INIT ok, pgdir %x\n", pgdir);
#elif GEN_NOIRQ_IRET
	/* 4.1+: offset 1376 is noirq_iret; the host must not have written it. */
	CHECK(lguest_data.noirq_iret == (uint32_t)lguest_noirq_iret, "noirq_iret overwritten: %x",
	      lguest_data.noirq_iret);
	printf("abi_gen: INIT ok, no pgdir, noirq_iret\n");
#else
	/* 3.1+: offset 1376 is noirq_start; the host must not have written it. */
	CHECK(lguest_data.noirq_start == (uint32_t)lguest_noirq_start,
	      "noirq_start overwritten: %x", lguest_data.noirq_start);
	printf("abi_gen: INIT ok, no pgdir\n");
#endif
}

/* An async LOAD_IDT_ENTRY must land in the right vector with the right
 * words: the slot layout is the generation's. */
static void check_async(void)
{
	uint32_t lo, hi;
	set_trap_handler(3, bp_handler);
	idt_gate_words(3, &lo, &hi);
	hcall(LHCALL_LOAD_IDT_ENTRY, 3, 0, 0);	       /* no handler... */
	async_hcall(LHCALL_LOAD_IDT_ENTRY, 3, lo, hi); /* ...until the ring runs */
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	__asm__ volatile("int3" ::: "memory");
	CHECK(bp_count == 1, "int3 reached the handler %u times", bp_count);
	printf("abi_gen: async ring ok (%u-byte slots)\n", (unsigned)sizeof(struct hcall_args));
}

static uint32_t fs_read(uint32_t sel)
{
	uint32_t v;
	__asm__ volatile("movl %1, %%fs\n\tmovl %%fs:0, %0" : "=r"(v) : "r"(sel) : "memory");
	return v;
}

static void check_gdt(void)
{
	static uint64_t gdt[GDT_ENTRIES];
	gdt_fill_linux(gdt);
	gdt[GDT_ENTRY_TLS_MIN] = seg_desc((uint32_t)&probe, 0xFFFFF, SEG_DATA_RW, 0, 0xC);
	gdt_load(gdt, GDT_ENTRIES);
	uint32_t v = fs_read(GDT_ENTRY_TLS_MIN * 8 + 1);
	CHECK(v == probe, "segment from %s reads %x", GEN_GDT_ENTRY ? "LOAD_GDT_ENTRY" : "LOAD_GDT",
	      v);
	__asm__ volatile("movl %0, %%fs" ::"r"(0));
	printf("abi_gen: %s ok\n", GEN_GDT_ENTRY ? "LOAD_GDT_ENTRY" : "LOAD_GDT");
}

static void check_send_interrupts(void)
{
#if GEN_SEND_INTERRUPTS
	set_trap_handler(32, tick_handler);
	idt_load_entry(32);
	lguest_data.irq_enabled = 0;
	lguest_data.blocked_interrupts = 0;
	hcall(LHCALL_SET_CLOCKEVENT, 1000000, 0, 0);
	/* Every exit lets the host look; once the tick is due it must say so
	 * in irq_pending rather than deliver it. */
	for (unsigned i = 0; i < 200000 && lguest_data.irq_pending != 0x200; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(lguest_data.irq_pending == 0x200, "irq_pending %x", lguest_data.irq_pending);
	CHECK(ticks == 0, "tick delivered with interrupts disabled");
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_SEND_INTERRUPTS, 0, 0, 0);
	CHECK(ticks == 1, "SEND_INTERRUPTS delivered %u ticks", ticks);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(lguest_data.irq_pending == 0, "irq_pending stays %x", lguest_data.irq_pending);
	lguest_data.blocked_interrupts = 1;
	printf("abi_gen: irq_pending and SEND_INTERRUPTS ok\n");
#endif
}

static void check_cli(void)
{
#if GEN_SKIP_CLI
	uint32_t before = lguest_data.irq_enabled;
	__asm__ volatile("cli" ::: "memory");
	CHECK(lguest_data.irq_enabled == before, "cli changed irq_enabled");
	printf("abi_gen: cli skipped\n");
#endif
}

#if LGUEST_GEN >= 4 && LGUEST_GEN <= 6
/* `vmcall; ret` in .data: not an executable section, so lgkvm's load-time
 * sweep does not see it.  Only the #UD net can. */
__attribute__((section(".data"))) static uint8_t hidden_vmcall[] = {0x0F, 0x01, 0xC1, 0xC3};

static int host_is_amd(void)
{
	uint32_t a = 0, b, c, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	return b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163; /* AuthenticAMD */
}
#endif

static void check_hidden_vmcall(void)
{
#if LGUEST_GEN >= 4 && LGUEST_GEN <= 6
	uint32_t lo, hi;
	if (!host_is_amd()) {
		printf("abi_gen: hidden vmcall skipped (the #UD net is AMD's)\n");
		return;
	}
	bp_count = 0;
	hcall(LHCALL_LOAD_IDT_ENTRY, 3, 0, 0);
	idt_gate_words(3, &lo, &hi);
	uint32_t nr = LHCALL_LOAD_IDT_ENTRY;
	__asm__ volatile("call *%%edi"
			 : "+a"(nr)
			 : "b"(3), "c"(lo), "d"(hi), "D"(hidden_vmcall)
			 : "memory", "esi");
	CHECK(hidden_vmcall[0] == 0xCD && hidden_vmcall[1] == 0x1F,
	      "hidden vmcall not rewritten: %x %x", hidden_vmcall[0], hidden_vmcall[1]);
	__asm__ volatile("int3" ::: "memory");
	CHECK(bp_count == 1, "hidden vmcall's LOAD_IDT_ENTRY did not happen");
	printf("abi_gen: hidden vmcall rewritten at run time\n");
#endif
}

void test_main(void)
{
	guest_init();
	printf("abi_gen: generation G%d\n", LGUEST_GEN);
	check_init();
	idt_init_linux();
	check_async();
	check_gdt();
	check_send_interrupts();
	check_cli();
	check_hidden_vmcall();
	pass();
}
