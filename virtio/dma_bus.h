/* The 2.6.23 device bus: device descriptors and DMA (docs/DESIGN.md §7.4,
 * docs/abi.md §H1.7).
 *
 * lguest's first release had no virtio.  The Launcher put an array of 16
 * `struct lguest_device_desc` {u16 type, features, status, num_pages; u32 pfn}
 * in the page after RAM, and a page of its own after that for each device
 * that wanted one (the block device's request page, the network device's
 * table of MAC addresses).  Data moved by two hypercalls:
 *
 *   BIND_DMA(key, dmas, num << 8 | irq)  "here are num struct lguest_dma
 *       buffers at dmas for anything sent to `key`; raise irq when you fill
 *       one" (irq 0: unbind);
 *   SEND_DMA(key, dma)  "deliver the buffers of this struct lguest_dma to
 *       whoever listens on `key`" (the host, here).
 *
 * A key is a guest-physical address used as a name: 0 for the console, a
 * device's page for the block device, page + 4 * slot for the network.  A
 * struct lguest_dma is {u32 used_len; u32 addr[16]; u16 len[16]}, 100 bytes;
 * its sections end at the first zero length.  Every address in it is the
 * guest's and goes through the guest-memory accessor before we touch it.
 *
 * The devices behind the keys are the same backends as on the other buses:
 * the console's output (console_out), a disk file, a tap.  Only the way the
 * guest reaches them is new. */
#ifndef LGKVM_DMA_BUS_H
#define LGKVM_DMA_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct vtransport;

#define DMA_MAX_BINDINGS 32	/* LGUEST_MAX_DMA: the reference's table size */
#define DMA_SECTIONS	 16	/* LGUEST_MAX_DMA_SECTIONS */
#define DMA_STRUCT_LEN	 100	/* sizeof(struct lguest_dma) on i386 */
#define DMA_MAX_DEVS	 16	/* descriptors in the page (LGUEST_MAX_DEVICES) */
#define DMA_DESC_LEN	 12	/* sizeof(struct lguest_device_desc) */
#define DMA_MAX_ARRAY	 0xFFFF /* BIND_DMA's count: a u16 in the reference */

/* lguest_device_desc types and feature bits (include/linux/lguest_launcher.h). */
#define DMA_T_CONSOLE	   1
#define DMA_T_NET	   2
#define DMA_T_BLOCK	   3
#define DMA_F_RANDOMNESS   0x8000
#define DMA_CONSOLE_KEY	   0
#define DMA_NET_GUEST_SLOT 1 /* the guest is peer 1 in the MAC page, we are peer 0 */

/* struct lguest_block_page, at the start of the block device's page. */
#define DMA_BLK_TYPE	    0 /* int: 0 read, else write */
#define DMA_BLK_SECTOR	    4
#define DMA_BLK_BYTES	    8
#define DMA_BLK_RESULT	    12 /* int: 0 pending, 1 done, 2 error */
#define DMA_BLK_NUM_SECTORS 16

/* One BIND_DMA. */
struct dma_binding {
	uint32_t key;
	uint32_t dmas; /* GPA of the first struct lguest_dma */
	uint16_t num;
	uint16_t next; /* where the next search for an empty buffer starts */
	uint8_t irq;   /* 0: the slot is free */
};

/* What the host keeps for each device, by descriptor index. */
struct dma_dev {
	uint8_t type;  /* DMA_T_*, 0: no device here */
	uint32_t page; /* GPA of its own page, 0 for none (the console) */
	int fd;	       /* disk file or tap, -1 */
	uint64_t size; /* disk bytes */
	bool readonly;
	uint64_t frames_in, frames_out, frames_dropped; /* network, for -v */
};

struct dma_bus {
	struct dma_binding bind[DMA_MAX_BINDINGS];
	struct dma_dev dev[DMA_MAX_DEVS];
	uint16_t guestid; /* lguest_data.guestid: the guest's MAC is 02:00:id:00:00 */
};

/* A guest buffer, checked: up to 16 host iovecs into guest memory. */
struct dma_buf {
	struct iovec iov[DMA_SECTIONS];
	unsigned n;
	uint64_t total;	   /* sum of the section lengths */
	uint32_t used_gpa; /* where its used_len is */
	uint8_t irq;	   /* a bound buffer: the interrupt its binding asked for */
};

extern const struct vtransport dma_bus;

/* BIND_DMA(key, dmas, num << 8 | irq): 1 if bound (or unbound, irq 0), 0 if
 * not (irq out of range, table full, nothing to unbind).  Kills the guest for
 * a key or array it may not name. */
uint32_t dma_bind(struct vm *vm, uint32_t key, uint32_t dmas, uint32_t num_irq);
/* SEND_DMA(key, dma): hand the buffers to the device listening on key and
 * write how much it took into dma's used_len.  Kills for bad addresses. */
void dma_send(struct vm *vm, uint32_t key, uint32_t dma);

/* Read and check the struct lguest_dma at gpa.  false: the guest was killed
 * (the struct or one of its sections is outside guest memory, longer than a
 * page or crosses one, as the reference host's check_dma_list). */
bool dma_buf_read(struct vm *vm, uint32_t gpa, struct dma_buf *b);
/* An empty buffer bound to key: 1 (b filled in), 0 none, -1 guest killed. */
int dma_take(struct vm *vm, uint32_t key, struct dma_buf *b);
/* Fill in the used length of a buffer from dma_take and interrupt. */
void dma_complete(struct vm *vm, const struct dma_buf *b, uint32_t len);

/* The devices (the console is virtio/console.c's, which adds itself through
 * the transport like on any bus). */
int dma_add_disk_fd(struct vm *vm, const char *path, int fd, bool readonly);
int dma_add_net(struct vm *vm, const char *tap, const char *ip);
/* The same on an fd already open: one frame per read and write. */
int dma_add_net_fd(struct vm *vm, int fd, const uint8_t mac[6]);

#endif
