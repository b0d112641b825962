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

/* What a ring-1 `in` reads from a port no device models (docs/abi.md
 * §5.8): all ones, "nothing there" -- but for two ports guests poll:
 *   0x64, the keyboard controller's status: "input buffer empty" (0x01), as
 *     the 4.x Launcher answers.  All-ones ("busy") made a 2.6.24 reboot poll
 *     it 65536 times -- 131072 exits, ~40 s in the test host -- before it
 *     sent the reset command it was waiting to send (kb_wait in
 *     machine_emergency_restart);
 *   0x42, the PIT's channel 2 counter: 0.  From 4.9 the guest always tries
 *     a quick PIT calibration first, whatever tsc_khz says, and a counter
 *     reading all-ones looks like one sitting at its start: it polls it
 *     100,000 times (~5 s of exits in the test host, ~2 s under the
 *     Launcher, which answered all-ones).  Zero fails its first check, and
 *     tsc_khz decides (docs/DESIGN.md §11). */
static inline uint32_t pio_idle_read(uint32_t port, unsigned size)
{
	if (port == 0x64 && size == 1)
		return 0x01;
	if (port == 0x42)
		return 0;
	return 0xFFFFFFFFu;
}

/* PCI configuration mechanism #1 (virtio/pci.c, and the monitor's fast
 * path): the address latch and the data window, and the one rule for what a
 * latch names -- function 0 of a slot on bus 0, enabled, reserved bits
 * clear.  pio_pci_addressed() says whether that slot is in `present` (a bit
 * per slot); a data-port access to anything else reads all ones and is
 * ignored. */
#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA	   0xCFC
#define PCI_ADDR_ENABLE	   0x80000000u
#define PCI_ADDR_RESERVED  0x7F000000u /* bits 30:24; set = extended space, none here */

static inline unsigned pio_pci_slot(uint32_t latch)
{
	return (latch >> 11) & 0x1F;
}

static inline bool pio_pci_addressed(uint32_t latch, uint32_t present)
{
	return (latch & PCI_ADDR_ENABLE) && !(latch & PCI_ADDR_RESERVED) &&
	       !((latch >> 16) & 0xFF) && !((latch >> 8) & 7) &&
	       ((present >> pio_pci_slot(latch)) & 1);
}

#endif
