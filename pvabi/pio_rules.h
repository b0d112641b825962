/* Port I/O instructions, decoded once for both sides of the line.
 *
 * A ring-1 `in` or `out` is a #GP (the TSS has no I/O bitmap).  The VMM
 * emulates it (pvabi/traps.c, docs/abi.md §5.8); the monitor's fast path
 * finishes the writes that need no answer inside the VM
 * (kvm-glue/monitor/fast.c).  Both read the instruction a byte at a time
 * through the guest's mapping and ask pio_decode() after each byte, so
 * neither reads further than the instruction. */
#ifndef LGKVM_PIO_RULES_H
#define LGKVM_PIO_RULES_H

#include <stdbool.h>
#include <stdint.h>

#define PIO_PORT_DX 0xFFFFFFFFu /* the port is DX */

struct pio_insn {
	unsigned len;  /* bytes, prefix included */
	unsigned size; /* 1, 2 or 4 */
	bool out;
	uint32_t port; /* the immediate, or PIO_PORT_DX */
};

/* The first n bytes at EIP: 1 when they are a whole `in`/`out` (p filled),
 * 0 when they are not one, -1 when another byte is needed. */
static inline int pio_decode(const uint8_t *b, unsigned n, struct pio_insn *p)
{
	unsigned at = 0;
	bool opsize = false;
	if (n < 1)
		return -1;
	if (b[0] == 0x66) {
		opsize = true;
		at = 1;
		if (n < 2)
			return -1;
	}
	uint8_t op = b[at];
	bool imm = op == 0xE4 || op == 0xE5 || op == 0xE6 || op == 0xE7;
	bool dx = op == 0xEC || op == 0xED || op == 0xEE || op == 0xEF;
	if (!imm && !dx)
		return 0;
	if (imm && n < at + 2)
		return -1;
	p->out = (op & 2) != 0;
	p->size = !(op & 1) ? 1 : opsize ? 2 : 4;
	p->port = imm ? b[at + 1] : PIO_PORT_DX;
	p->len = at + (imm ? 2 : 1);
	return 1;
}

static inline uint32_t pio_mask(unsigned size)
{
	return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

#endif
