/* PCI configuration mechanism #1 and configuration space (virtio/pci.h).
 *
 * The 4.x guest reaches all of this with IN and OUT at ring 1, which fault;
 * the monitor hands us the #GP and pvabi/traps.c decodes the port, the width
 * and the value, so by the time we are called an access is (port, len, val).
 *
 * The address latch at 0xCF8 reads back whatever was written, all 32 bits:
 * Linux's "is there a type 1 mechanism?" probe writes 0x01 to the byte at
 * 0xCFB, then checks that a dword written to 0xCF8 comes back unchanged.  A
 * data access goes to the register the latch names, plus the data port's
 * own offset, when the enable bit is set, the reserved bits are clear and
 * the bus, function and slot name something that is there; anything else
 * reads all-ones and ignores writes, as an empty slot on a real bus does.
 * The guest's accesses are hostile like everything else: every index below
 * is masked or checked before use. */
#include "virtio/pci.h"

#include <string.h>

#include "src/le.h"

static uint32_t ones(unsigned len)
{
	return len >= 4 ? 0xFFFFFFFFu : (1u << (8 * len)) - 1;
}

static bool good_len(unsigned len)
{
	return len == 1 || len == 2 || len == 4;
}

/* The function the latch names, and the register, or NULL. */
static struct pci_fn *addressed(struct pci_bus *b, unsigned *slot, unsigned *reg)
{
	uint32_t a = b->addr;
	/* Any slot here: whether it holds a device is ours to say. */
	if (!pio_pci_addressed(a, 0xFFFFFFFFu))
		return NULL;
	*slot = pio_pci_slot(a);
	*reg = a & 0xFC;
	return b->fn[*slot].present ? &b->fn[*slot] : NULL;
}

/*
 * The PCI_CFG window (virtio 1.0 §4.1.4.7): the guest names bar, offset and
 * length in the capability, then reads or writes pci_cfg_data, and the
 * device performs that access on the BAR.  The 4.x early console writes
 * every character this way, before any driver has mapped a BAR.
 */
struct window {
	uint8_t bar;
	uint32_t off, len;
};

static bool window_ok(const struct pci_fn *f, struct window *w)
{
	const uint8_t *cap = f->cfg + f->window;
	w->bar = cap[4];
	w->off = le_get(cap + 8, 4);
	w->len = le_get(cap + 12, 4);
	/* Only BAR0 exists; the access must be a natural, aligned one inside
	 * it (§4.1.4.7.2).  A bad window is ignored, not fatal: the driver may
	 * be half-way through rewriting it. */
	return w->bar == 0 && good_len(w->len) && w->off % w->len == 0 && w->off < f->bar0_size &&
	       w->len <= f->bar0_size - w->off;
}

static bool in_window_data(const struct pci_fn *f, unsigned reg, unsigned len)
{
	return f->window && reg < (unsigned)f->window + 20u && reg + len > f->window + 16u;
}

uint32_t pci_cfg_read(struct pci_bus *b, unsigned slot, unsigned reg, unsigned len)
{
	struct pci_fn *f = slot < PCI_SLOTS ? &b->fn[slot] : NULL;
	if (!f || !f->present || !good_len(len) || reg >= PCI_CFG_SPACE ||
	    len > PCI_CFG_SPACE - reg)
		return ones(len);
	if (in_window_data(f, reg, len)) {
		struct window w;
		uint32_t v = 0;
		if (window_ok(f, &w) && b->bar_read)
			v = b->bar_read(b->ctx, slot, w.off, w.len) & ones(w.len);
		le_put(f->cfg + f->window + 16, 4, v);
	}
	return le_get(f->cfg + reg, len);
}

void pci_cfg_write(struct pci_bus *b, unsigned slot, unsigned reg, unsigned len, uint32_t val)
{
	struct pci_fn *f = slot < PCI_SLOTS ? &b->fn[slot] : NULL;
	if (!f || !f->present || !good_len(len) || reg >= PCI_CFG_SPACE ||
	    len > PCI_CFG_SPACE - reg)
		return;
	bool changed = false;
	for (unsigned i = 0; i < len; i++) {
		uint8_t m = f->wmask[reg + i], old = f->cfg[reg + i];
		f->cfg[reg + i] = (uint8_t)((old & ~m) | ((val >> (8 * i)) & m));
		unsigned at = reg + i;
		if ((at >= PCI_COMMAND && at < PCI_COMMAND + 2) ||
		    (at >= PCI_BAR0 && at < PCI_BAR0 + 4))
			changed |= f->cfg[at] != old;
	}
	if (in_window_data(f, reg, len)) {
		struct window w;
		/* The device writes the first `length` bytes of pci_cfg_data,
		 * whatever width the guest used to fill it. */
		if (window_ok(f, &w) && b->bar_write)
			b->bar_write(b->ctx, slot, w.off, w.len,
				     le_get(f->cfg + f->window + 16, 4) & ones(w.len));
	}
	if (changed && b->changed)
		b->changed(b->ctx, slot);
}

uint32_t pci_port_read(struct pci_bus *b, uint16_t port, unsigned len)
{
	if (!good_len(len))
		return ones(4);
	if (port >= PCI_CONFIG_ADDRESS && port < PCI_CONFIG_ADDRESS + 4) {
		unsigned off = port - PCI_CONFIG_ADDRESS;
		if (off + len > 4)
			return ones(len);
		return (b->addr >> (8 * off)) & ones(len);
	}
	if (port >= PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4) {
		unsigned off = port - PCI_CONFIG_DATA, slot, reg;
		if (off + len > 4 || !addressed(b, &slot, &reg))
			return ones(len);
		return pci_cfg_read(b, slot, reg + off, len);
	}
	return ones(len);
}

void pci_port_write(struct pci_bus *b, uint16_t port, unsigned len, uint32_t val)
{
	if (!good_len(len))
		return;
	if (port >= PCI_CONFIG_ADDRESS && port < PCI_CONFIG_ADDRESS + 4) {
		unsigned off = port - PCI_CONFIG_ADDRESS;
		if (off + len > 4)
			return;
		uint32_t m = ones(len) << (8 * off);
		b->addr = (b->addr & ~m) | ((val << (8 * off)) & m);
		return;
	}
	if (port >= PCI_CONFIG_DATA && port < PCI_CONFIG_DATA + 4) {
		unsigned off = port - PCI_CONFIG_DATA, slot, reg;
		if (off + len > 4 || !addressed(b, &slot, &reg))
			return;
		pci_cfg_write(b, slot, reg + off, len, val & ones(len));
	}
}

/*
 * Building functions.
 */

struct pci_fn *pci_add_fn(struct pci_bus *b, unsigned slot, uint16_t vendor, uint16_t device,
			  uint8_t revision, uint32_t class24)
{
	if (slot >= PCI_SLOTS || b->fn[slot].present)
		return NULL;
	struct pci_fn *f = &b->fn[slot];
	memset(f, 0, sizeof(*f));
	f->present = true;
	le_put(f->cfg + PCI_VENDOR_ID, 2, vendor);
	le_put(f->cfg + PCI_DEVICE_ID, 2, device);
	f->cfg[PCI_REVISION_ID] = revision;
	le_put(f->cfg + PCI_CLASS_PROG, 3, class24);
	f->cfg[PCI_HEADER_TYPE] = 0;
	/* Cache line size and latency timer are the system's to set; Linux
	 * writes them while enabling a device. */
	f->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
	f->wmask[PCI_LATENCY_TIMER] = 0xFF;
	f->cap_next = PCI_CAP_START;
	return f;
}

void pci_set_subsystem(struct pci_fn *f, uint16_t vendor, uint16_t id)
{
	le_put(f->cfg + PCI_SUBSYSTEM_VID, 2, vendor);
	le_put(f->cfg + PCI_SUBSYSTEM_ID, 2, id);
}

/* The line is read-only: on lguest it *is* the routing (the 4.x guest takes
 * its IRQ number from it), not the BIOS's scratch note it is elsewhere. */
void pci_set_irq(struct pci_fn *f, uint8_t line, uint8_t pin)
{
	f->cfg[PCI_INTERRUPT_LINE] = line;
	f->cfg[PCI_INTERRUPT_PIN] = pin;
}

void pci_set_bar0(struct pci_fn *f, uint32_t addr, uint32_t size)
{
	f->bar0_size = size;
	/* Memory space, 32-bit, not prefetchable: flag bits 3:0 all zero. */
	le_put(f->cfg + PCI_BAR0, 4, addr & ~(size - 1));
	le_put(f->wmask + PCI_BAR0, 4, ~(size - 1) & ~0xFu);
	f->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
	f->wmask[PCI_COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	f->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
}

uint8_t pci_add_cap(struct pci_fn *f, uint8_t id, const void *body, unsigned len)
{
	unsigned at = f->cap_next;
	if (len < 2 || at + len > PCI_CFG_SPACE)
		return 0;
	memcpy(f->cfg + at, body, len);
	f->cfg[at] = id;
	f->cfg[at + 1] = 0;
	if (f->cap_last)
		f->cfg[f->cap_last + 1] = (uint8_t)at;
	else
		f->cfg[PCI_CAPABILITY_LIST] = (uint8_t)at;
	f->cap_last = (uint8_t)at;
	le_put(f->cfg + PCI_STATUS, 2, le_get(f->cfg + PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
	/* Capabilities start dword-aligned (PCI 3.0 §6.7). */
	f->cap_next = (uint8_t)((at + len + 3) & ~3u);
	return (uint8_t)at;
}

void pci_set_writable(struct pci_fn *f, unsigned off, unsigned len)
{
	if (off < PCI_CFG_SPACE && len <= PCI_CFG_SPACE - off)
		memset(f->wmask + off, 0xFF, len);
}

void pci_set_window(struct pci_fn *f, uint8_t off)
{
	f->window = off;
	pci_set_writable(f, off + 4u, 1);  /* bar */
	pci_set_writable(f, off + 8u, 8);  /* offset, length */
	pci_set_writable(f, off + 16u, 4); /* pci_cfg_data */
}

uint32_t pci_bar0_addr(const struct pci_fn *f)
{
	return le_get(f->cfg + PCI_BAR0, 4) & ~0xFu;
}

bool pci_mem_enabled(const struct pci_fn *f)
{
	return f->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY;
}
