/* traps: exceptions at ring 1 with a Linux-like IDT (§5.2-§5.4, §5.8).
 *
 * Loads the IDT the way Linux 2.6.24 does (all 256 entries, including the
 * task gate at 8 that the host must ignore), then raises one exception after
 * another and checks that the handler got the right vector, error code,
 * EIP (the faulting instruction for faults, the next one for traps), CS 0x61
 * and gate semantics: interrupt gates (int3) clear irq_enabled and push the
 * *virtual* IF, trap gates leave irq_enabled alone.  Each handler resumes
 * after the instruction through lguest_iret. */
#include "guest.h"

const char test_name[] = "traps";

const uint32_t bound_pair[2] = {0, 1}; /* global: only the asm uses it */

enum kind { FAULT, TRAP };

static void expect(const char *what, unsigned vector, uint32_t error, enum kind kind,
		   int interrupt_gate, uint32_t count_before)
{
	uint32_t want_eip = kind == FAULT ? trap_insn_eip : trap_after_eip;

	CHECK(last_trap.count == count_before + 1, "%s: no trap (count %u)", what,
	      last_trap.count - count_before);
	CHECK(last_trap.vector == vector, "%s: vector %u, want %u", what, last_trap.vector, vector);
	CHECK(last_trap.error == error, "%s: error code %x, want %x", what, last_trap.error, error);
	CHECK(last_trap.eip == want_eip, "%s: frame EIP %x, want %x", what, last_trap.eip,
	      want_eip);
	CHECK(last_trap.cs == KERNEL_CS, "%s: frame CS %x, want 0x61", what, last_trap.cs);
	CHECK(last_trap.frame_addr > (uint32_t)boot_stack &&
		      last_trap.frame_addr < (uint32_t)boot_stack_top,
	      "%s: frame at %x, not on our stack", what, last_trap.frame_addr);
	CHECK(!(last_trap.eflags & X86_EFLAGS_IOPL), "%s: frame EFLAGS %x has IOPL", what,
	      last_trap.eflags);
	if (interrupt_gate)
		CHECK(last_trap.irq_enabled == 0, "%s: interrupt gate left irq_enabled %x", what,
		      last_trap.irq_enabled);
	else
		CHECK(last_trap.irq_enabled == X86_EFLAGS_IF,
		      "%s: trap gate changed irq_enabled to %x", what, last_trap.irq_enabled);
	/* lguest_iret put the frame's IF back into irq_enabled. */
	CHECK(lguest_data.irq_enabled & X86_EFLAGS_IF, "%s: irq_enabled %x after return", what,
	      lguest_data.irq_enabled);
	printf("traps: %s -> vector %u ok\n", what, vector);
}

#define CASE(what, vector, error, kind, igate, setup, insn, ...)   \
	do {                                                       \
		uint32_t before_ = last_trap.count;                \
		lguest_data.irq_enabled = X86_EFLAGS_IF;           \
		TRY_INSN(setup, insn, ##__VA_ARGS__);              \
		expect(what, vector, error, kind, igate, before_); \
	} while (0)

void test_main(void)
{
	guest_init();
	for (unsigned v = 0; v < 256; v++)
		set_trap_handler(v, expect_trap_handler);
	idt_init_linux();

	/* Trap gates (direct delivery allowed, §5.3). */
	CASE("divide by zero", 0, 0, FAULT, 0,
	     "xorl %%ecx, %%ecx; movl $1, %%eax; xorl %%edx, %%edx", "divl %%ecx", "eax", "ecx",
	     "edx");
	CASE("into", 4, 0, TRAP, 0, "movl $0x7fffffff, %%eax; addl $1, %%eax", "into", "eax");
	CASE("bound", 5, 0, FAULT, 0, "movl $5, %%eax; movl $bound_pair, %%ecx",
	     "boundl %%eax, (%%ecx)", "eax", "ecx");
	CASE("ud2", 6, 0, FAULT, 0, "", "ud2");
	CASE("int $0x80 at ring 1", 0x80, 0, TRAP, 0, "", "int $0x80");

	/* #GP is reflected by the host (§5.8): privileged instructions and
	 * segment faults, none of which is port I/O. */
	CASE("hlt", 13, 0, FAULT, 0, "", "hlt");
	CASE("cli", 13, 0, FAULT, 0, "", "cli");
	CASE("mov %cr3", 13, 0, FAULT, 0, "", "movl %%cr3, %%eax", "eax");
	CASE("rdmsr", 13, 0, FAULT, 0, "movl $0x10, %%ecx", "rdmsr", "eax", "ecx", "edx");
	CASE("load empty GDT slot 20", 13, 0xA0, FAULT, 0, "movl $0xA0, %%eax", "movl %%eax, %%fs",
	     "eax");

	/* Interrupt gates, reflected: irq_enabled must drop to 0. */
	CASE("int3", 3, 0, TRAP, 1, "", "int3");

	/* The EFLAGS image carries the virtual IF: off here. */
	lguest_data.irq_enabled = 0;
	TRY_INSN("", "int3");
	CHECK(last_trap.vector == 3 && !(last_trap.eflags & X86_EFLAGS_IF),
	      "int3 with interrupts off: vector %u, EFLAGS image %x has IF", last_trap.vector,
	      last_trap.eflags);
	CHECK(!(lguest_data.irq_enabled & X86_EFLAGS_IF),
	      "lguest_iret turned interrupts on: irq_enabled %x", lguest_data.irq_enabled);

	/* `int n` through an interrupt gate, as 4.2+ makes its system call:
	 * never direct, so it goes through the monitor, which must clear the
	 * virtual IF as the gate says (kvm-glue/monitor/fast.c). */
	idt_set_gate(0x81, trap_stub(0x81), GATE_INTERRUPT, 1);
	idt_load_entry(0x81);
	uint32_t soft_before = MON_SOFT_INTS;
	CASE("int $0x81 through an interrupt gate", 0x81, 0, TRAP, 1, "", "int $0x81");
	if (MON_TRAPS_IN_VM)
		CHECK(MON_SOFT_INTS == soft_before + 1,
		      "int $0x81 went through lgkvm, not the monitor");

	/* Still alive and able to make hypercalls. */
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	pass();
}
