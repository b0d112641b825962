/* The virtio-PCI transport's state (virtio/virtio_pci.c): PCI bus 0 and, for
 * each device, what the guest has told it through the common configuration.
 * It lives inside struct vbus; only virtio_pci.c looks inside. */
#ifndef LGKVM_VIRTIO_PCI_H
#define LGKVM_VIRTIO_PCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/pci.h"

#define VPCI_MAX_DEVS	16
#define VPCI_MAX_QUEUES 4

/* BAR0 of every device: one page, laid out as the capabilities say. */
#define VPCI_BAR_SIZE	4096u
#define VPCI_COMMON_OFF 0x000u
#define VPCI_COMMON_LEN 0x38u /* struct virtio_pci_common_cfg */
#define VPCI_NOTIFY_OFF 0x100u
#define VPCI_NOTIFY_LEN 2u
#define VPCI_ISR_OFF	0x200u
#define VPCI_DEVICE_OFF 0x300u

/* A queue's setup as the guest writes it, before and after queue_enable. */
struct vpci_queue {
	uint16_t size;
	bool enabled;
	uint32_t desc[2], avail[2], used[2]; /* lo, hi */
};

struct vpci_dev {
	struct vdev *dev;
	uint32_t dfselect, gfselect; /* feature word the guest is looking at */
	uint32_t gfeatures[2];	     /* what the driver accepted */
	uint8_t status;
	uint16_t qselect;
	struct vpci_queue qc[VPCI_MAX_QUEUES];
	atomic_uint isr;  /* bit 0: used ring, bit 1: config; read clears */
	uint32_t decode;  /* where BAR0 decodes now (0: nowhere) */
	uint32_t kick_at; /* where its doorbell's ioeventfd is (0: none) */
};

struct vm;
/* The console's PCI_CFG window, for the monitor's fast path: false unless
 * the platform is virtio-PCI with a console in slot 1. */
bool vpci_console_window(struct vm *vm, unsigned *slot, unsigned *window, uint32_t *emerg_off);
/* A bit per slot on bus 0 that holds a device (for the monitor's `in`). */
uint32_t vpci_present_slots(struct vm *vm);
/* The 0xCF8 latch and bytes 4-15 of that capability, now. */
void vpci_console_cap(struct vm *vm, uint32_t *latch, uint8_t cap[12]);
struct vdev;
struct snap_pci;
/* A snapshot: the function's state out, and back in through the checks of
 * the guest's own writes (a failed one ends the VM: vm->dead, with why). */
void vpci_state_save(struct vm *vm, const struct vdev *dev, struct snap_pci *out);
void vpci_state_load(struct vm *vm, struct vdev *dev, const struct snap_pci *in);

struct vpci {
	struct pci_bus bus;
	struct vpci_dev devs[VPCI_MAX_DEVS]; /* in the order devices were added */
	struct vpci_dev *by_slot[PCI_SLOTS]; /* the same, by PCI slot */
	struct vm *vm;
};

#endif
