/* hostile: guests that break the lguest ABI.  The host must kill each one
 * (lgkvm exit 5, reason printed) rather than carry on or crash itself.
 * Built once per case with -DHOSTILE_CASE="name"; the cases follow the kill
 * list of §3.8.  If the host lets a case through, we say so and CRASH,
 * which gives exit 4 and fails the test (or, where no hypercall is safe any
 * more, spin into the --timeout: exit 6). */
#include "guest.h"

#ifndef HOSTILE_CASE
#error "build with -DHOSTILE_CASE=\"name\""
#endif

const char test_name[] = HOSTILE_CASE;

static uint64_t gdt[GDT_ENTRIES + 1];
static uint8_t stack_page[4096] __attribute__((aligned(4096)));

/* Hypercall before INIT (§3.2).  If we survive, INIT so fail() can talk. */
static void hcall_before_init(void)
{
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	guest_init();
}

static void bad_hcall(void)
{
	guest_init();
	hcall(12, 0, 0, 0); /* 11-13 are unassigned */
}

static void init_twice(void)
{
	guest_init();
	guest_init();
}

static void bad_gdt_count(void)
{
	guest_init();
	gdt_fill_linux(gdt);
	gdt_load(gdt, GDT_ENTRIES + 1);
}

static void idt_task_gate(void)
{
	guest_init();
	/* Vector 6 (not one of the ignored 2/8/15/31) as a present task gate. */
	hcall(LHCALL_LOAD_IDT_ENTRY, 6, (31u * 8) << 16, 0x8000 | (GATE_TASK << 8));
}

static void bad_stack(void)
{
	guest_init();
	/* Selector 0x68: RPL 0, a ring-0 stack for the guest. */
	hcall(LHCALL_SET_STACK, 0x68, (uint32_t)stack_page + sizeof(stack_page), 1);
}

static void bad_stack_pages(void)
{
	guest_init();
	hcall(LHCALL_SET_STACK, KERNEL_DS, (uint32_t)stack_page + sizeof(stack_page), 3);
}

static void crash_bad_addr(void)
{
	guest_init();
	hcall(LHCALL_CRASH, 0xFFFFFFF0, 0, 0); /* wraps past 4 GiB */
}

static void lguest_data_outside(void)
{
	/* 16 MiB past the end of RAM: beyond any device area (§2.1). */
	hcall(LHCALL_LGUEST_INIT, ram_size() + (16u << 20), 0, 0);
	/* Survived: any further hypercall would be a second INIT, which the
	 * host kills too, hiding the bug.  Spin into the timeout instead. */
	for (;;)
		__asm__ volatile("" ::: "memory");
}

static void bad_syscall_vec(void)
{
	lguest_data.syscall_vec = 0x81;
	guest_init();
	lguest_data.syscall_vec = 0x80;
}

static void bad_kernel_address(void)
{
	/* kernel_address >> 22 must be < 1023 (§3.3). */
	lguest_data.kernel_address = LGUEST_SWITCHER_ADDR;
	guest_init();
}

static void set_pte_switcher(void)
{
	guest_init();
	hcall(LHCALL_SET_PTE, lguest_data.pgdir, LGUEST_SWITCHER_ADDR + 0x1000, 0);
}

static void async_bad_hcall(void)
{
	guest_init();
	/* Invalid numbers in the ring kill just like synchronous ones. */
	async_hcall(13, 0, 0, 0);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

static void trap_no_idt(void)
{
	guest_init();
	/* A fault with no guest handler (§5.10). */
	__asm__ volatile("ud2");
}

static void idt_cleared_entry(void)
{
	guest_init();
	idt_init_linux();
	/* A non-present entry means "no handler" (§5.2): #UD is now fatal. */
	hcall(LHCALL_LOAD_IDT_ENTRY, 6, 0, 0);
	__asm__ volatile("ud2");
}

static const struct guest_case cases[] = {
	{"hcall_before_init", hcall_before_init},
	{"bad_hcall", bad_hcall},
	{"init_twice", init_twice},
	{"bad_gdt_count", bad_gdt_count},
	{"idt_task_gate", idt_task_gate},
	{"bad_stack", bad_stack},
	{"bad_stack_pages", bad_stack_pages},
	{"crash_bad_addr", crash_bad_addr},
	{"lguest_data_outside", lguest_data_outside},
	{"bad_syscall_vec", bad_syscall_vec},
	{"bad_kernel_address", bad_kernel_address},
	{"set_pte_switcher", set_pte_switcher},
	{"async_bad_hcall", async_bad_hcall},
	{"trap_no_idt", trap_no_idt},
	{"idt_cleared_entry", idt_cleared_entry},
};

void test_main(void)
{
	run_case(cases, sizeof(cases) / sizeof(cases[0]));
}
