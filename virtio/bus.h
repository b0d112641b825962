/* The lguest device bus: the device page just above RAM, the virtqueues
 * after it, and the host ends of the devices (docs/abi.md §9).
 *
 * Interface used by the rest of lgkvm.  virtio/ owns the layout; the callers
 * only need these calls. */
#ifndef LGKVM_BUS_H
#define LGKVM_BUS_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/dma_bus.h"
#include "virtio/virtio_pci.h"

struct vm;
struct vtransport;

/* Virtio device ids (virtio 1.0 §5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3

#define VBUS_AREA_SIZE	(1u << 20) /* device page + rings live in [mem, mem + 1 MiB) */
#define VBUS_MAX_DEVS	16
#define VBUS_MAX_QUEUES 32
#define VBUS_QUEUE_NUM	128 /* every ring the reference creates has 128 entries: 2 pages */

/* One virtqueue.  Everything the host believes about a ring lives here, never
 * in guest memory: the guest may scribble on its copy of the config.
 *
 * Threads: each queue has one consumer (whoever calls vring_pop) and one
 * producer of used entries (vring_push) at a time.  The console's output
 * ring is its output thread's, or the vCPU thread's under the same lock
 * (virtio/console.c); a block device may hand a queue to its I/O thread.  The
 * vCPU thread sets the ring's place and then `ready` (release); whoever
 * walks it checks `ready` (acquire) first.  A reset from the vCPU thread and
 * the pops and pushes of a device thread take the queue's lock in turn
 * (virtio/ring.c: vring_reset). */
struct vqueue {
	uint16_t num;  /* ring size, power of two */
	uint8_t irq;   /* lguest IRQ raised on completion */
	uint32_t gpa;  /* device page transports: the ring's first page */
	uint32_t desc; /* guest-physical addresses of the three parts */
	uint32_t avail;
	uint32_t used;
	atomic_bool ready;   /* the parts are set and checked: walk them */
	uint16_t last_avail; /* host's private consumer index */
	uint16_t last_used;  /* host's private used.idx (the page's copy is the guest's) */
	/* An eventfd that does what the device's notify() does for this queue,
	 * or -1: the transport may let KVM signal it directly for a doorbell
	 * write (KVM_IOEVENTFD), so the kick never stops the vCPU. */
	int kick_fd;
	/* A reset (the guest lets go of the device) may come while a device
	 * thread is between taking a chain and handing it back: the lock
	 * (vring_lock) makes the reset and every pop or push one at a time,
	 * and the generation, bumped by the reset, tells a push that its chain
	 * belongs to the ring that was (virtio/ring.c: vring_reset). */
	atomic_flag lock;
	unsigned gen;
	struct vdev *dev;
	unsigned index; /* queue number within its device */
	unsigned id;	/* queue number on the bus, for kill reasons */
};

#define VDEV_MAX_QUEUES 4

struct vdev {
	uint8_t type;	    /* virtio device id: 1 net, 2 block, 3 console */
	const char *name;   /* "console", "block", ... for messages */
	char host_name[16]; /* the host end's name where it has one: a tap interface */
	int backing_fd;	    /* a disk's file (for a snapshot's identity check), or -1 */
	uint32_t desc_off;  /* device page: offset of its record */
	unsigned slot;	    /* virtio-PCI: its slot on bus 0 */
	uint8_t irq;	    /* virtio-PCI: its interrupt line (all its queues') */
	unsigned nq;
	struct vqueue *q[VDEV_MAX_QUEUES];
	/* A kick on one of this device's rings (NOTIFY, or the PCI doorbell). */
	void (*notify)(struct vm *vm, struct vdev *dev, struct vqueue *q);
	/* Host-side input may be ready (fd readable): move it into the guest.
	 * Must not block: check the fds itself (poll with timeout 0). */
	void (*poll)(struct vm *vm, struct vdev *dev);
	/* The fds this device wants watched right now (may be none). */
	int (*pollfds)(struct vm *vm, struct vdev *dev, struct pollfd *fds, int max);
	/* The guest wrote `len` bytes of `val` at `offset` of the config
	 * struct (virtio-PCI; NULL: ignored). */
	void (*config_write)(struct vm *vm, struct vdev *dev, unsigned offset, unsigned len,
			     uint32_t val);
	/* What the device offers: feature bits and a plain config struct.
	 * (The v1 device page wrote TLV fields instead.)  virtio-PCI adds
	 * VERSION_1 itself. */
	uint32_t features;
	uint8_t config[32];
	uint8_t config_len;
	/* A snapshot (src/snapshot.c): hold the device's thread still (on), so
	 * that nothing writes guest memory or the disk until it is released
	 * (off); a block device first completes and flushes what it has in
	 * flight.  Returns false if the thread did not hold in time.  NULL:
	 * the device has no thread of its own. */
	bool (*hold)(struct vm *vm, struct vdev *dev, bool on);
	/* A live migration: let go of (take = false) or take (back) what the
	 * device holds that only one lgkvm may -- a disk's lock on its file, a
	 * tap's queue -- so that the other side can take it.  false (with a
	 * message) if it could not.  NULL: nothing held. */
	bool (*lock)(struct vm *vm, struct vdev *dev, bool take);
	/* Undo host-side changes and free priv.  Must tolerate a second call. */
	void (*teardown)(struct vm *vm, struct vdev *dev);
	void *priv;
	void *tp; /* the transport's own state for this device */
};

struct console_state;

#define VBUS_MAX_DOORBELLS 8
struct vbus {
	const struct vtransport *tp; /* how the guest finds the devices */
	uint64_t page_gpa;	     /* device descriptor page (= RAM size) */
	uint64_t next_gpa;	     /* next free page of the device area */
	uint32_t page_used;	     /* bytes of the device page used by records */
	unsigned next_irq;	     /* next lguest IRQ to hand out (0 is the timer) */
	unsigned ndevs, nqueues;
	struct vdev devs[VBUS_MAX_DEVS];
	struct vqueue queues[VBUS_MAX_QUEUES];
	struct console_state *console;
	struct vpci pci;    /* virtio-PCI: bus 0 and its functions */
	struct dma_bus dma; /* 2.6.23: bindings and devices (virtio/dma_bus.c) */
	/* Device page transports: the rings whose NOTIFY the monitor may ring
	 * as a doorbell KVM turns into their kick_fd (vbus_finish). */
	uint32_t doorbell_pfn[VBUS_MAX_DOORBELLS];
	unsigned ndoorbells;
};

/* Start an empty bus: zero the device page at GPA vm->opt.mem.  Guest memory
 * (vm->mem.base/size) must already be mapped and cover RAM + VBUS_AREA_SIZE.
 * The page's format is the guest generation's (vm->lg.abi; v1 without one). */
int vbus_init(struct vm *vm);
/* All devices are added: write what the format writes only at the end (the
 * v2 records).  Returns -1 after one sentence if the page is too small. */
int vbus_finish(struct vm *vm);
/* The console: stdin -> guest, guest -> stdout and --console-log. */
int vbus_add_console(struct vm *vm);
/* The same, with the copy going to log_fd (-1: none), the --console-log
 * that src/files.c opened and checked with the run's other files; takes it
 * over. */
int vbus_add_console_fd(struct vm *vm, int log_fd);
/* One past the last byte the guest may name: RAM, device page and rings
 * (the reference's pfn_limit * 4096).  Valid once all devices are added; the
 * caller then sets vm->mem.limit to it (the rings are walked through gm_ptr,
 * so they must lie below the limit). */
uint64_t vbus_limit(const struct vm *vm);
/* LHCALL_NOTIFY(gpa): if gpa is the first page of a ring, service that ring
 * and return true; otherwise return false (the caller treats gpa as an early
 * console string). */
bool vbus_notify(struct vm *vm, uint32_t gpa);
/* The platform's I/O ports and MMIO (virtio-PCI: configuration mechanism #1
 * at 0xCF8-0xCFF, the devices' BARs).  Both return false for an access that
 * is not theirs; a port read of `len` bytes fills *val. */
bool vbus_pio(struct vm *vm, uint16_t port, unsigned len, bool write, uint32_t *val);
bool vbus_mmio(struct vm *vm, uint64_t gpa, uint8_t *data, unsigned len, bool write);
/* q has new used entries and the guest wants to hear: interrupt it the
 * transport's way.  Any thread. */
void vbus_interrupt(struct vm *vm, struct vqueue *q);
/* Early console (LHCALL_NOTIFY of a string): print the NUL-terminated string
 * at gpa, bounded. */
void console_early(struct vm *vm, uint32_t gpa);
/* A virtio block device backed by `path` (virtio/blk.c). */
int vbus_add_disk(struct vm *vm, const char *path, bool readonly);
/* The same on `fd`, already opened and checked (src/files.c); takes it over,
 * also on failure.  `path` is for messages. */
int vbus_add_disk_fd(struct vm *vm, const char *path, int fd, bool readonly);
/* A virtio network device on tap interface `tap` (NULL: let the kernel pick
 * a name), host side addressed `ip` if not NULL (virtio/net.c). */
int vbus_add_net(struct vm *vm, const char *tap, const char *ip);
/* Guest console output, to stdout and the capped --console-log file. */
void console_out(struct vm *vm, const void *buf, size_t len);
/* File descriptors the vCPU should wake up for while the guest halts, and
 * the call to make when one is ready. */
int vbus_pollfds(struct vm *vm, struct pollfd *fds, int max);
void vbus_poll(struct vm *vm);
/* Hold every device thread still (on) or let them go (off): see vdev.hold.
 * false, with every thread let go again, if one did not hold in time. */
bool vbus_hold(struct vm *vm, bool on);
/* A snapshot (virtio/bus_state.c): the bus's state outside guest memory
 * into s; and back from s into a bus rebuilt with the same devices in the
 * same order, checked (0, or -1 with one sentence in err). */
struct snap;
void vbus_state_save(struct vm *vm, struct snap *s);
int vbus_state_load(struct vm *vm, const struct snap *s, char *err, size_t errlen);
/* Every ready ring's notify, once, as if the guest had kicked: a restored
 * device looks at what the guest offered while the snapshot was taken. */
void vbus_kick_all(struct vm *vm);
/* Every device's vdev.lock: let go (false) or take (true).  false if any
 * could not (each said why). */
bool vbus_locks(struct vm *vm, bool take);
/* Undo host-side changes (terminal mode), flush logs.  Safe to call twice. */
void vbus_teardown(struct vm *vm);

/* For device implementations (virtio/console.c, blk.c, net.c): building the device page.
 *
 * A device's record must be finished before the next device is added: the
 * records are packed back to back, so fields and queues can only be appended
 * to the last device.  All return NULL / -1 after printing one sentence on
 * stderr if the page or the device area is full. */
struct vdev *vbus_add_device(struct vm *vm, uint8_t type, const char *name);
/* One item of device config, in both formats: in a v1 page a field
 * [v1_type][len][value...] appended to dev's record; in a v2 page `len` bytes
 * at `offset` of the config struct, with feature bit `feature` offered
 * (negative: none, the item is always there). */
int vbus_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature, unsigned offset,
		    uint8_t len, const void *val);
/* A virtqueue of `num` entries: ring pages from the device area, the next
 * IRQ, and its type-2 field in dev's record. */
struct vqueue *vbus_add_queue(struct vm *vm, struct vdev *dev, uint16_t num);
/* The status byte the guest last wrote for dev (section 9.4). */
uint8_t vbus_status(const struct vm *vm, const struct vdev *dev);

#endif
