/* PCI bus 0 as a 4.x lguest guest sees it: configuration mechanism #1 and
 * the 256-byte configuration space of each function (docs/abi.md §H1.7,
 * §H1.10).
 *
 * This is only the configuration space: what the guest reads and writes
 * through ports 0xCF8-0xCFF.  It knows nothing of virtio; the functions' BARs
 * and the PCI_CFG access window call back into whoever owns the device
 * (virtio/virtio_pci.c).  No guest memory, no KVM: unit-testable alone.
 *
 * The model is a byte array per function plus a write mask: a byte the guest
 * writes changes only the bits its mask allows, so read-only fields, BAR
 * sizing (the low address bits of a BAR are read-only zero) and "reserved,
 * reads zero" all fall out of one rule.  The few registers with side effects
 * (command, BAR0, the PCI_CFG window's data) are handled by name after the
 * merge. */
#ifndef LGKVM_PCI_H
#define LGKVM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "pvabi/pio_rules.h" /* the ports, and what the latch names */

#define PCI_SLOTS     32
#define PCI_CFG_SPACE 256

/* Standard header (type 0) offsets. */
#define PCI_VENDOR_ID	    0x00
#define PCI_DEVICE_ID	    0x02
#define PCI_COMMAND	    0x04
#define PCI_STATUS	    0x06
#define PCI_REVISION_ID	    0x08
#define PCI_CLASS_PROG	    0x09
#define PCI_CLASS_DEVICE    0x0A /* subclass, then class */
#define PCI_CACHE_LINE_SIZE 0x0C
#define PCI_LATENCY_TIMER   0x0D
#define PCI_HEADER_TYPE	    0x0E
#define PCI_BAR0	    0x10
#define PCI_SUBSYSTEM_VID   0x2C
#define PCI_SUBSYSTEM_ID    0x2E
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE  0x3C
#define PCI_INTERRUPT_PIN   0x3D
#define PCI_CAP_START	    0x40 /* our first capability */

#define PCI_COMMAND_MEMORY	 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST	 0x0010
#define PCI_CAP_ID_VNDR		 0x09

/* One function (always function 0) on bus 0. */
struct pci_fn {
	bool present;
	uint8_t cfg[PCI_CFG_SPACE];
	uint8_t wmask[PCI_CFG_SPACE]; /* bits a plain write may change */
	uint32_t bar0_size;	      /* power of two, 0: no BAR0 */
	uint8_t cap_next;	      /* where the next capability goes */
	uint8_t cap_last;	      /* the last capability's offset, 0: none yet */
	uint8_t window;		      /* the PCI_CFG capability's offset, 0: none */
};

struct pci_bus {
	uint32_t addr; /* the 0xCF8 latch, exactly as written */
	struct pci_fn fn[PCI_SLOTS];
	/* The owner of the functions: a BAR0 access through the PCI_CFG window
	 * (offset and length already checked against the BAR), and "command or
	 * BAR0 changed" (the owner re-decides where the BAR decodes). */
	void *ctx;
	uint32_t (*bar_read)(void *ctx, unsigned slot, uint32_t off, unsigned len);
	void (*bar_write)(void *ctx, unsigned slot, uint32_t off, unsigned len, uint32_t val);
	void (*changed)(void *ctx, unsigned slot);
};

/* Ports 0xCF8-0xCFF.  `len` is 1, 2 or 4; a data access that would cross
 * its dword reads all-ones / is ignored, as an absent function's does. */
static inline bool pci_is_port(uint16_t port)
{
	return port >= PCI_CONFIG_ADDRESS && port < PCI_CONFIG_DATA + 4;
}
uint32_t pci_port_read(struct pci_bus *b, uint16_t port, unsigned len);
void pci_port_write(struct pci_bus *b, uint16_t port, unsigned len, uint32_t val);

/* Configuration space of slot's function, as the guest would see it
 * through the data port (tests, and the owner's own reads). */
uint32_t pci_cfg_read(struct pci_bus *b, unsigned slot, unsigned reg, unsigned len);
void pci_cfg_write(struct pci_bus *b, unsigned slot, unsigned reg, unsigned len, uint32_t val);

/* Building the bus (before the guest runs).  pci_add_fn returns the new
 * function with a type-0 header filled in; class24 is class << 16 |
 * subclass << 8 | prog-if. */
struct pci_fn *pci_add_fn(struct pci_bus *b, unsigned slot, uint16_t vendor, uint16_t device,
			  uint8_t revision, uint32_t class24);
void pci_set_subsystem(struct pci_fn *f, uint16_t vendor, uint16_t id);
void pci_set_irq(struct pci_fn *f, uint8_t line, uint8_t pin);
/* A 32-bit non-prefetchable memory BAR0 of `size` (a power of two, at least
 * 16) at `addr`, decoding from the start as firmware would leave it, and the
 * command bits that may be changed (memory, master, INTx disable). */
void pci_set_bar0(struct pci_fn *f, uint32_t addr, uint32_t size);
/* Append a capability of `len` bytes (its first two, id and next, are ours
 * to fill): returns its offset in config space, or 0 if it does not fit. */
uint8_t pci_add_cap(struct pci_fn *f, uint8_t id, const void *body, unsigned len);
/* Mark `len` bytes at `off` guest-writable (a capability's writable fields). */
void pci_set_writable(struct pci_fn *f, unsigned off, unsigned len);
/* The PCI_CFG access window is the capability at `off` (virtio 1.0
 * §4.1.4.7): bar (+4), offset (+8), length (+12) and data (+16) writable. */
void pci_set_window(struct pci_fn *f, uint8_t off);

/* Where BAR0 points and whether the function decodes memory at all. */
uint32_t pci_bar0_addr(const struct pci_fn *f);
bool pci_mem_enabled(const struct pci_fn *f);

#endif
