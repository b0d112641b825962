/* ioport: port I/O at ring 1 is emulated as "no device there" (§5.8), but
 * for the keyboard controller's status port, which reads "ready" (1).
 *
 * CPL 1 > IOPL 0, so every in/out faults with #GP(0); the host must decode
 * it, make `in` return all ones in the accessed width, ignore `out`, and
 * continue after the instruction, with no trace in any other register.  A
 * bzImage's decompressor does this before LGUEST_INIT and before any IDT
 * exists, so we probe once in that state, then again with Linux's IDT
 * loaded.  String I/O is not emulated: `insb` must arrive as #GP. */
#include "guest.h"

const char test_name[] = "ioport";

/* Registers after a probe: eax ebx ecx edx esi edi, then ESP movement. */
uint32_t io_regs[7]; /* global: written by the asm */

#define IO_PROBE(fn, edx_value, insn)                                                          \
	static void fn(void)                                                                   \
	{                                                                                      \
		__asm__ volatile("pushl %%ebp\n\t"                                             \
				 "movl %%esp, io_regs + 24\n\t"                                \
				 "movl $0x12345678, %%eax\n\t"                                 \
				 "movl $" edx_value ", %%edx\n\t"                              \
				 "movl $0x11111111, %%ebx\n\t"                                 \
				 "xorl %%ecx, %%ecx\n\t"                                       \
				 "movl $0x44444444, %%esi\n\t"                                 \
				 "movl $0x55555555, %%edi\n\t"                                 \
				 "movl $0x66666666, %%ebp\n\t" insn "\n\t"                     \
				 "movl $1, %%ecx\n\t" /* proves EIP went on correctly */       \
				 "movl %%eax, io_regs + 0\n\t"                                 \
				 "movl %%ebx, io_regs + 4\n\t"                                 \
				 "movl %%ecx, io_regs + 8\n\t"                                 \
				 "movl %%edx, io_regs + 12\n\t"                                \
				 "movl %%esi, io_regs + 16\n\t"                                \
				 "movl %%edi, io_regs + 20\n\t"                                \
				 "cmpl $0x66666666, %%ebp\n\t"                                 \
				 "je 1f\n\t"                                                   \
				 "movl $0xBADBAD, io_regs + 4\n"                               \
				 "1:\tsubl %%esp, io_regs + 24\n\t"                            \
				 "popl %%ebp" ::                                               \
					 : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", \
					   "cc");                                              \
	}

IO_PROBE(outb_imm, "0xABCD0080", "outb %%al, $0x80")
IO_PROBE(outb_dx, "0xABCD0080", "outb %%al, %%dx")
IO_PROBE(outw_imm, "0xABCD0080", "outw %%ax, $0x80")
IO_PROBE(outw_dx, "0xABCD0080", "outw %%ax, %%dx")
IO_PROBE(outl_imm, "0xABCD0080", "outl %%eax, $0x80")
IO_PROBE(outl_dx, "0xABCD0080", "outl %%eax, %%dx")
IO_PROBE(inb_imm, "0xABCD0060", "inb $0x60, %%al")
IO_PROBE(inb_dx, "0xABCD0060", "inb %%dx, %%al")
IO_PROBE(inw_imm, "0xABCD0060", "inw $0x60, %%ax")
IO_PROBE(inw_dx, "0xABCD0060", "inw %%dx, %%ax")
IO_PROBE(inl_imm, "0xABCD0060", "inl $0x60, %%eax")
IO_PROBE(inl_dx, "0xABCD0060", "inl %%dx, %%eax")
IO_PROBE(inb_kbd_imm, "0xABCD0064", "inb $0x64, %%al")
IO_PROBE(inb_kbd_dx, "0xABCD0064", "inb %%dx, %%al")

struct probe {
	const char *name;
	void (*fn)(void);
	uint32_t eax_mask, eax_want; /* which EAX bits are defined, and their value */
};

/* Byte `in`: AL = 0xFF; the reference also sets AH (Appendix B), so only AL
 * and the untouched upper half are checked.  `out` leaves EAX alone. */
static const struct probe probes[] = {
	{"outb $0x80", outb_imm, 0xFFFFFFFF, 0x12345678},
	{"outb (dx)", outb_dx, 0xFFFFFFFF, 0x12345678},
	{"outw $0x80", outw_imm, 0xFFFFFFFF, 0x12345678},
	{"outw (dx)", outw_dx, 0xFFFFFFFF, 0x12345678},
	{"outl $0x80", outl_imm, 0xFFFFFFFF, 0x12345678},
	{"outl (dx)", outl_dx, 0xFFFFFFFF, 0x12345678},
	{"inb $0x60", inb_imm, 0xFFFF00FF, 0x123400FF},
	{"inb (dx)", inb_dx, 0xFFFF00FF, 0x123400FF},
	{"inw $0x60", inw_imm, 0x0000FFFF, 0x0000FFFF},
	{"inw (dx)", inw_dx, 0x0000FFFF, 0x0000FFFF},
	{"inl $0x60", inl_imm, 0xFFFFFFFF, 0xFFFFFFFF},
	{"inl (dx)", inl_dx, 0xFFFFFFFF, 0xFFFFFFFF},
	/* The keyboard controller's status reads "input buffer empty" (1),
	 * as the 4.x Launcher answers, so a reboot does not poll it 64K times. */
	{"inb $0x64", inb_kbd_imm, 0xFFFF00FF, 0x12340001},
	{"inb (dx) 0x64", inb_kbd_dx, 0xFFFF00FF, 0x12340001},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static uint32_t early[NPROBES][7];
volatile uint8_t ins_buf[4] = {0x5A, 0x5A, 0x5A, 0x5A}; /* global: the asm names it */

static void check(const char *when, const struct probe *p, const uint32_t r[7])
{
	CHECK((r[0] & p->eax_mask) == p->eax_want, "%s %s: EAX %x, want %x in mask %x", when,
	      p->name, r[0], p->eax_want, p->eax_mask);
	CHECK(r[1] == 0x11111111 && (r[3] >> 16) == 0xABCD && r[4] == 0x44444444 &&
		      r[5] == 0x55555555,
	      "%s %s: other registers changed (ebx %x edx %x esi %x edi %x; ebp bad if ebx "
	      "0xbadbad)",
	      when, p->name, r[1], r[3], r[4], r[5]);
	CHECK(r[2] == 1, "%s %s: did not continue after the instruction", when, p->name);
	CHECK(r[6] == 0, "%s %s: ESP moved by %x", when, p->name, r[6]);
}

void test_main(void)
{
	unsigned i;

	/* Like a bzImage decompressor: no INIT, no IDT, no console yet. */
	for (i = 0; i < NPROBES; i++) {
		probes[i].fn();
		memcpy(early[i], io_regs, sizeof(io_regs));
	}
	guest_init();
	for (i = 0; i < NPROBES; i++)
		check("before INIT", &probes[i], early[i]);
	printf("ioport: %u probes before INIT ok\n", (unsigned)NPROBES);

	idt_init_linux();
	for (unsigned v = 0; v < 256; v++)
		set_trap_handler(v, expect_trap_handler);
	uint32_t pio_before = MON_WORD(38); /* handled_pio */
	for (i = 0; i < NPROBES; i++) {
		probes[i].fn();
		check("with IDT", &probes[i], io_regs);
	}
	CHECK(last_trap.count == 0, "port I/O reached the guest as trap %u", last_trap.vector);
	/* After INIT the monitor answers them all itself (kvm-glue/monitor/
	 * fast.c: pio_access), with the VMM's values (pvabi/pio_rules.h). */
	if (MON_TRAPS_IN_VM)
		CHECK(MON_WORD(38) - pio_before == NPROBES, "%u of %u port accesses inside the VM",
		      MON_WORD(38) - pio_before, (unsigned)NPROBES);
	printf("ioport: %u probes with an IDT ok\n", (unsigned)NPROBES);

	/* String I/O is not emulated: reflected #GP(0) at the instruction,
	 * and nothing written to the buffer. */
	TRY_INSN("movl $0x60, %%edx; movl $ins_buf, %%edi", "insb", "edx", "edi");
	CHECK(last_trap.count == 1 && last_trap.vector == 13 && last_trap.error == 0 &&
		      last_trap.eip == trap_insn_eip,
	      "insb: trap %u vector %u error %x at %x, want #GP(0) at %x", last_trap.count,
	      last_trap.vector, last_trap.error, last_trap.eip, trap_insn_eip);
	CHECK(ins_buf[0] == 0x5A, "insb wrote %x into memory", ins_buf[0]);
	pass();
}
