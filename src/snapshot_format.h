/* The snapshot's state file: a flattened device tree (libfdt), read and
 * written here and nowhere else (docs/DESIGN.md §14, README "Snapshots").
 *
 * A snapshot is two files: this one, small, describing the machine, and a
 * memory file holding guest RAM and the device area (src/snapshot.c).  The
 * state file is as hostile as a kernel image: snap_decode() checks the tree's
 * structure (fdt_check_full), the presence and exact size of every property,
 * every count, address and string, before any of it reaches a VM, and is
 * fuzzed (tests/fuzz/fuzz_state.c).  What it cannot judge alone -- that the
 * devices match the ones a restore was given, that KVM accepts the vCPU's
 * registers -- the restore checks against the VM it builds (src/restore.c).
 *
 * Versioning: `format` is SNAP_FORMAT and is bumped whenever anything saved
 * changes meaning or layout; an lgkvm restores only its own format, and only
 * a snapshot whose monitor code is byte for byte its own (the vCPU may be
 * stopped inside it). */
#ifndef LGKVM_SNAPSHOT_FORMAT_H
#define LGKVM_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm-glue/monitor.h"
#include "kvm-glue/vcpu_state.h"
#include "virtio/bus.h"

#define SNAP_FORMAT    1u
#define SNAP_STATE_MAX (1u << 20) /* a state file is ~70 KiB; more is not ours */
#define SNAP_PATH_MAX  1024

/* The memory file: one header page, then guest memory page for page, with
 * holes where the guest's pages are zero. */
#define SNAP_MEM_MAGIC "LGKVMMEM"
#define SNAP_MEM_HDR   4096u

struct snap_queue {
	uint16_t num;
	uint8_t irq;
	bool ready;
	uint32_t gpa, desc, avail, used;
	uint16_t last_avail, last_used;
};

/* A virtio-PCI function (G8-G10): its config space and the common config. */
struct snap_pci_queue {
	uint16_t size;
	bool enabled;
	uint32_t desc[2], avail[2], used[2];
};

struct snap_pci {
	uint8_t cfg[256];
	uint32_t dfselect, gfselect, gfeatures[2];
	uint8_t status;
	uint16_t qselect;
	uint32_t isr;
	struct snap_pci_queue qc[4];
};

struct snap_dev {
	uint8_t type;		  /* VIRTIO_ID_* (the DMA bus's too: the same three) */
	char path[SNAP_PATH_MAX]; /* disk: its file; net: the tap's name; console: "" */
	bool readonly;
	/* A disk's identity when the snapshot was taken (src/restore.c). */
	uint64_t disk_size;
	int64_t disk_mtime_ns;
	uint64_t disk_head_hash; /* FNV-1a of its first 64 KiB */
	uint32_t features;
	uint8_t config[32];
	uint8_t config_len;
	unsigned nq;
	struct snap_queue q[VDEV_MAX_QUEUES];
	bool has_pci;
	struct snap_pci pci;
};

struct snap_dma_binding {
	uint32_t key, dmas;
	uint16_t num, next;
	uint8_t irq;
};

struct snap_lguest {
	bool initialized;
	uint32_t lguest_data, noirq_start, noirq_end, kernel_address, boot_pgdir, pgdir;
	bool ts, halted;
	uint32_t pending;
	uint64_t clock_left_ns; /* the VMM's clock event (no irqchip): ns to go, 0 = none */
};

struct snap {
	uint32_t format;
	char version[32];   /* the lgkvm that took it (for messages) */
	uint8_t id[16];	    /* ties the state file to its memory file */
	char generation[8]; /* "G1" */
	bool pae, fast_path, irqchip;
	uint64_t ram;	      /* --mem */
	uint64_t mem_size;    /* bytes in the memory file: RAM + the device area */
	uint32_t tsc_khz;     /* what the guest was told */
	uint32_t monitor_crc; /* CRC-32 of the monitor's stubs and code */
	char kernel[SNAP_PATH_MAX], initrd[SNAP_PATH_MAX], cmdline[2048]; /* for a restart */
	char net_ip[64];    /* --net-ip: the tap's host side, set again when it is made */
	char mem_file[256]; /* the memory file's name, beside the state file */
	struct vcpu_state cpu;
	struct snap_lguest lg;
	uint8_t monitor[MON_SIZE];
	uint32_t pci_latch;
	uint16_t dma_guestid;
	unsigned ndma;
	struct snap_dma_binding dma[32];
	unsigned ndevs;
	struct snap_dev dev[VBUS_MAX_DEVS];
};

/* Encode s as a state file: a malloc'd buffer and its length, or NULL with
 * a sentence in err. */
void *snap_encode(const struct snap *s, size_t *len, char *err, size_t errlen);
/* Decode and check a state file of `len` bytes into *s (zeroed first).  0,
 * or -1 with one sentence in err: the file is not one, or is damaged, or is
 * another format's. */
int snap_decode(const void *buf, size_t len, struct snap *s, char *err, size_t errlen);

/* A migration's destination builds its VM from the machine record sent
 * first (src/migrate_stream.h) and the guest's state arrives at the end:
 * they must describe one machine -- generation, RAM, settings and devices.
 * NULL if they do, else what differs ("the devices"). */
const char *snap_other_machine(const struct snap *a, const struct snap *b);

/* The memory file's header page. */
struct snap_mem_header {
	char magic[8];
	uint32_t format;
	uint32_t header_size;
	uint64_t mem_size;
	uint8_t id[16];
};

#endif
