/* PCI for the 4.0+ guests (G8-G10, docs/abi.md §H1.7): configuration
 * mechanism #1 through ports 0xCF8/0xCFC (trapped at ring 1 and emulated by
 * the host), and a small virtio 1.0 "modern" PCI driver written from the
 * virtio 1.0 specification (§4.1): the vendor capabilities, the common
 * configuration structure, the notify doorbell and the ISR byte in BAR0.
 *
 * The rings are the split virtqueues of lib/virtio.h, laid out in our own
 * identity-mapped memory wherever the caller puts them. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include "guest.h"
#include "virtio.h"

#if !GEN_PCI
#error "PCI devices exist from 4.0 (G8)"
#endif

/* ---- configuration mechanism #1 ---- */
#define PCI_CONF_ADDR 0xCF8
#define PCI_CONF_DATA 0xCFC

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port) : "memory");
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port) : "memory");
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port) : "memory");
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* The latch value for a register: enable bit, bus, device, function, and
 * the dword-aligned offset.  The low two bits pick the data port. */
static inline uint32_t pci_addr(unsigned bus, unsigned slot, unsigned func, unsigned off)
{
	return 0x80000000u | (bus & 0xFF) << 16 | (slot & 0x1F) << 11 | (func & 7) << 8 |
	       (off & 0xFC);
}
/* One access of `width` bytes (1, 2, 4) at `off` within the dword `latch`
 * names: write the latch, then use port 0xCFC + (off & 3).  The latch is
 * taken as given, so a test can set reserved bits or clear the enable bit. */
uint32_t pci_conf_read(uint32_t latch, unsigned off, unsigned width);
void pci_conf_write(uint32_t latch, unsigned off, unsigned width, uint32_t v);
/* The same on bus 0, function 0 (the only ones lgkvm populates). */
static inline uint32_t pci_read(unsigned slot, unsigned off, unsigned width)
{
	return pci_conf_read(pci_addr(0, slot, 0, off), off, width);
}
static inline void pci_write(unsigned slot, unsigned off, unsigned width, uint32_t v)
{
	pci_conf_write(pci_addr(0, slot, 0, off), off, width, v);
}

/* Standard header (type 0) offsets and bits. */
#define PCI_VENDOR_ID	     0x00
#define PCI_DEVICE_ID	     0x02
#define PCI_COMMAND	     0x04
#define PCI_STATUS	     0x06
#define PCI_REVISION	     0x08
#define PCI_PROG_IF	     0x09
#define PCI_SUBCLASS	     0x0A
#define PCI_CLASS	     0x0B
#define PCI_HEADER_TYPE	     0x0E
#define PCI_BAR0	     0x10
#define PCI_SUBSYS_VENDOR    0x2C
#define PCI_SUBSYS_ID	     0x2E
#define PCI_ROM		     0x30
#define PCI_CAP_PTR	     0x34
#define PCI_INTERRUPT_LINE   0x3C
#define PCI_INTERRUPT_PIN    0x3D
#define PCI_CMD_MEMORY	     0x0002
#define PCI_CMD_MASTER	     0x0004
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST  0x0010
#define PCI_CAP_ID_VNDR	     0x09

/* ---- virtio 1.0 over PCI (virtio 1.0 §4.1) ---- */
#define VIRTIO_PCI_VENDOR	0x1AF4
#define VIRTIO_PCI_DEVICE(type) (0x1040 + (type))
#define VIRTIO_PCI_CAP_COMMON	1
#define VIRTIO_PCI_CAP_NOTIFY	2
#define VIRTIO_PCI_CAP_ISR	3
#define VIRTIO_PCI_CAP_DEVICE	4
#define VIRTIO_PCI_CAP_PCI_CFG	5
#define VIRTIO_PCI_CAP_TYPES	6 /* indices 1-5 used */
/* struct virtio_pci_cap: cap_vndr, cap_next, cap_len, cfg_type, bar,
 * padding[3], offset, length; the notify capability adds
 * notify_off_multiplier, the PCI_CFG one pci_cfg_data. */
#define VCAP_NEXT	  1
#define VCAP_LEN	  2
#define VCAP_TYPE	  3
#define VCAP_BAR	  4
#define VCAP_OFFSET	  8
#define VCAP_LENGTH	  12
#define VCAP_NOTIFY_MULT  16
#define VCAP_PCI_CFG_DATA 16

#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_FAILED	  0x80
#define VIRTIO_F_VERSION_1	  32
#define VIRTIO_CONSOLE_F_EMERG	  2
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_NET_F_MAC	  5

/* The common configuration structure (virtio 1.0 §4.1.4.3).  The 64-bit
 * queue addresses are two 32-bit halves: an i386 guest writes them so. */
struct virtio_pci_common {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t msix_config;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint32_t queue_desc_lo, queue_desc_hi;
	uint32_t queue_avail_lo, queue_avail_hi;
	uint32_t queue_used_lo, queue_used_hi;
};
_Static_assert(sizeof(struct virtio_pci_common) == 56, "virtio_pci_common_cfg");
_Static_assert(offsetof(struct virtio_pci_common, device_status) == 20, "device_status");
_Static_assert(offsetof(struct virtio_pci_common, queue_desc_lo) == 32, "queue_desc");

/* Where a capability puts its structure. */
struct vcap {
	uint8_t at; /* its offset in config space, 0 = absent */
	uint8_t bar;
	uint32_t offset, length;
};

/* One virtio PCI device as our driver sees it. */
struct vpci {
	unsigned slot;
	uint16_t device_id;
	uint8_t irq;			       /* the interrupt line: an lguest IRQ */
	uint32_t bar;			       /* BAR0's guest-physical address */
	struct vcap cap[VIRTIO_PCI_CAP_TYPES]; /* by cfg_type */
	uint32_t notify_mult;		       /* notify_off_multiplier */
	volatile struct virtio_pci_common *common;
	volatile uint8_t *notify_base; /* the doorbell(s) */
	volatile uint8_t *isr;
	volatile uint8_t *devcfg;
};

/* The config-space offset of slot's first vendor capability of cfg_type,
 * or 0.  Walks the chain from PCI_CAP_PTR (bounded: a loop cannot hang us). */
unsigned pci_find_vcap(unsigned slot, uint8_t cfg_type);
/* Fill `c` from the capability at config offset `at`. */
void pci_read_vcap(unsigned slot, unsigned at, struct vcap *c);

/* Page tables with BAR pages mapped, IDT, IRQ handlers: virtio_init(). */
/* Probe slot: a virtio device?  Reads its IDs, capabilities and BAR0,
 * enables memory decoding and bus mastering, maps BAR0 (identity: the
 * virtual address is the GPA) and points the handler of its IRQ line at its
 * ISR.  0 if the slot holds no virtio device. */
int vpci_probe(unsigned slot, struct vpci *d);
/* The slot of the nth (0, 1, ...) device of virtio `type`, or fail. */
unsigned vpci_find(uint8_t type, unsigned nth, struct vpci *d);
/* Map [gpa, gpa + len) at the same virtual address (uncached is moot under
 * KVM: an access with no memory behind it exits either way). */
void pci_map_identity(uint32_t gpa, uint32_t len);
/* Move BAR0 (config write) and re-point the register pointers. */
void vpci_move_bar(struct vpci *d, uint32_t gpa);

/* Reset (status 0, then wait for it to read 0), ACKNOWLEDGE, DRIVER;
 * offer `want` | VERSION_1 of what the device has; FEATURES_OK, and check
 * that it stuck.  Returns the device's 64 feature bits. */
uint64_t vpci_start(struct vpci *d, uint64_t want);
uint64_t vpci_device_features(struct vpci *d);
void vpci_status(struct vpci *d, uint8_t bits); /* OR bits into device_status */
/* Set up queue `index` with `num` entries (0 = the device's size) in `mem`
 * (desc at mem, avail, used packed after it at their minimum alignments;
 * vring_size(num) bytes, 16-aligned) and enable it. */
void vpci_queue(struct vpci *d, unsigned index, struct vq *q, uint16_t num, void *mem);
/* Program a queue's three addresses as given (no checks: hostile tests use
 * it) and write queue_enable = 1. */
void vpci_queue_raw(struct vpci *d, unsigned index, uint16_t num, uint64_t desc, uint64_t avail,
		    uint64_t used);
uint32_t vring_size(uint16_t num);
/* Device config space reads (little-endian, any alignment the device has). */
static inline uint8_t vpci_cfg8(struct vpci *d, unsigned off)
{
	return d->devcfg[off];
}
static inline uint16_t vpci_cfg16(struct vpci *d, unsigned off)
{
	return *(volatile uint16_t *)(d->devcfg + off);
}
static inline uint32_t vpci_cfg32(struct vpci *d, unsigned off)
{
	return *(volatile uint32_t *)(d->devcfg + off);
}
/* A 64-bit field, read twice round config_generation until stable. */
uint64_t vpci_cfg64(struct vpci *d, unsigned off);

#endif
