/* The guest's IDT and the C side of trap handling. */
#include "guest.h"

extern char trap_stubs[];

/* Our IDT image, two dwords per gate, as Linux keeps idt_table. */
static uint32_t idt[256][2];
static trap_handler handlers[256];

struct trap_record last_trap;
volatile uint32_t trap_resume_eip;
volatile uint32_t trap_insn_eip, trap_after_eip;

uint32_t trap_stub(unsigned vector)
{
	return (uint32_t)trap_stubs + 16 * vector;
}

void set_trap_handler(unsigned vector, trap_handler h)
{
	handlers[vector & 255] = h;
}

void idt_set_gate(unsigned vector, uint32_t handler, unsigned type, unsigned dpl)
{
	/* The standard i386 gate layout (§5.2).  Linux puts its own kernel CS
	 * (0x60, RPL 0) in the selector; the host forces 0x61 anyway. */
	idt[vector][0] = (0x60u << 16) | (handler & 0xFFFF);
	idt[vector][1] = (handler & 0xFFFF0000) | 0x8000 | (dpl << 13) | (type << 8);
}

void idt_gate_words(unsigned vector, uint32_t *lo, uint32_t *hi)
{
	*lo = idt[vector & 255][0];
	*hi = idt[vector & 255][1];
}

void idt_load_entry(unsigned vector)
{
	hcall(LHCALL_LOAD_IDT_ENTRY, vector, idt[vector][0], idt[vector][1]);
}

void idt_load_all(void)
{
	/* lguest_load_idt sends every entry, empty ones included. */
	for (unsigned v = 0; v < 256; v++)
		idt_load_entry(v);
}

void idt_init_linux(void)
{
	static const unsigned trap_gates[] = {0, 5, 6, 7, 9, 10, 11, 12, 13, 15, 16, 17, 19};

	memset(idt, 0, sizeof(idt));
	for (unsigned i = 0; i < sizeof(trap_gates) / sizeof(trap_gates[0]); i++)
		idt_set_gate(trap_gates[i], trap_stub(trap_gates[i]), GATE_TRAP, 0);
	idt_set_gate(4, trap_stub(4), GATE_TRAP, 3);	   /* into */
	idt_set_gate(0x80, trap_stub(0x80), GATE_TRAP, 3); /* system call */
	idt_set_gate(1, trap_stub(1), GATE_INTERRUPT, 0);
	idt_set_gate(2, trap_stub(2), GATE_INTERRUPT, 0); /* NMI: host ignores it */
	idt_set_gate(3, trap_stub(3), GATE_INTERRUPT, 3); /* int3 */
	idt_set_gate(14, trap_stub(14), GATE_INTERRUPT, 0);
	for (unsigned v = 32; v < 32 + LGUEST_IRQS; v++)
		idt_set_gate(v, trap_stub(v), GATE_INTERRUPT, 0);
	/* Linux's double-fault entry is a task gate to GDT entry 31; the host
	 * must ignore vector 8 before it looks at the type (§5.2 step 1). */
	idt[8][0] = (31u * 8) << 16;
	idt[8][1] = 0x8000 | (GATE_TASK << 8);
	idt_load_all();
}

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f)
{
	trap_handler h = handlers[f->vector & 255];

	if (!h)
		fail("unexpected trap %u err %x at %x cs %x cr2 %x", f->vector, f->error, f->eip,
		     f->cs, lguest_data.cr2);
	h(f);
}

void expect_trap_handler(struct trap_frame *f)
{
	last_trap.irq_enabled = lguest_data.irq_enabled;
	last_trap.cr2 = lguest_data.cr2;
	last_trap.vector = f->vector;
	last_trap.error = f->error;
	last_trap.eip = f->eip;
	last_trap.cs = f->cs;
	last_trap.eflags = f->eflags;
	last_trap.user_esp = (f->cs & 3) == 3 ? f->user_esp : 0;
	last_trap.user_ss = (f->cs & 3) == 3 ? f->user_ss : 0;
	last_trap.frame_addr = (uint32_t)&f->eip;
	last_trap.count++;
	if (!trap_resume_eip)
		fail("trap %u at %x with nowhere to resume", f->vector, f->eip);
	f->eip = trap_resume_eip;
	f->eflags &= ~X86_EFLAGS_TF; /* a single-step test is over */
	trap_resume_eip = 0;
}
