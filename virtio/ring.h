/* The one place that walks a 2.6.24 vring (docs/abi.md §9.6-9.8).
 *
 * A ring is three arrays the guest shares with us: the descriptor table, the
 * "available" ring where the guest offers chains of descriptors, and the
 * "used" ring where we hand them back.  Everything in the first two is written
 * by the guest, so every number we read from them is hostile: an index may be
 * out of range, a chain may loop, an address may point into the monitor or
 * off the end of memory.  vring_pop() checks all of it and turns a chain into
 * plain host iovecs; device code never sees a guest address. */
#ifndef LGKVM_RING_H
#define LGKVM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/bus.h"

struct vm;

/* The largest ring we ever create: it bounds a chain, and so struct vchain. */
#define VRING_NUM_MAX 256

#define VRING_DESC_F_NEXT	   1 /* chain continues at `next` */
#define VRING_DESC_F_WRITE	   2 /* buffer is written by the device */
#define VRING_AVAIL_F_NO_INTERRUPT 1 /* guest: "don't interrupt me" */
#define VRING_USED_F_NO_NOTIFY	   1 /* host: "don't NOTIFY me" */

/* The layout in guest memory, little-endian like us. */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

/* Where the parts sit in a device page ring, for ring size num and 4096-byte
 * pages (vring_init).  virtio-PCI rings are wherever the guest put them. */
static inline uint32_t vring_avail_off(unsigned num)
{
	return 16u * num;
}

static inline uint32_t vring_used_off(unsigned num)
{
	return (16u * num + 4 + 2u * num + 4095) & ~4095u;
}

/* The bytes each part occupies (without the event-index words, which we
 * never offer). */
static inline uint32_t vring_desc_bytes(unsigned num)
{
	return 16u * num;
}

static inline uint32_t vring_avail_bytes(unsigned num)
{
	return 4 + 2u * num;
}

static inline uint32_t vring_used_bytes(unsigned num)
{
	return 4 + 8u * num;
}

static inline uint32_t vring_size(unsigned num)
{
	return vring_used_off(num) + 4 + 8u * num;
}

/* A device page ring of q->num entries starting at gpa: its three parts where
 * vring_init puts them, ready to walk. */
void vring_place(struct vqueue *q, uint32_t gpa);

/* One chain taken from the available ring, already checked.  The guest
 * promises readable buffers first, then writable ones, and vring_pop()
 * enforces it, so iov[0..nread) are the device-readable buffers and
 * iov[nread..nread+nwrite) the device-writable ones: ready for writev() or
 * readv() as they stand. */
struct vchain {
	uint16_t head; /* descriptor number to hand back in vring_push() */
	unsigned gen;  /* the queue's generation when it was taken */
	unsigned nread, nwrite;
	uint64_t read_len, write_len; /* total bytes of each kind */
	struct iovec iov[VRING_NUM_MAX];
};

/* Take the next available chain of q.  Returns 1 and fills c, 0 if the guest
 * has offered nothing new, or -1 if the ring broke a rule: then the guest has
 * been killed (guest_kill, with the reason) and the caller must stop. */
int vring_pop(struct vm *vm, struct vqueue *q, struct vchain *c);

/* Hand back a chain taken in generation `gen` (struct vchain.gen): dropped,
 * false, if the queue was reset since -- the ring it came from is not the
 * guest's any more.  Devices that finish chains on their own threads use it;
 * vring_push() is for a chain just taken on the vCPU thread. */
bool vring_push_gen(struct vm *vm, struct vqueue *q, unsigned gen, uint16_t head, uint32_t len);

/* The queue's lock, for a transport that changes a ring a device thread may
 * be walking (vring_reset does it all for a reset). */
void vring_lock(struct vqueue *q);
void vring_unlock(struct vqueue *q);

/* Reset: stop walking q, forget its indices, start a new generation.  When
 * it returns no pop or push of the old ring is in progress, and none will
 * touch it again. */
void vring_reset(struct vqueue *q);

/* Give back the chain c just popped, untouched, so the next vring_pop()
 * returns it again (e.g. the host had no input for it after all); nothing if
 * the queue was reset since. */
void vring_unpop(struct vqueue *q, const struct vchain *c);

/* Hand chain `head` back to the guest with `len` bytes written into its
 * writable part: the used element first, then (release) used.idx. */
void vring_push(struct vm *vm, struct vqueue *q, uint16_t head, uint32_t len);

/* Does the guest want an interrupt for new used entries?  It says no with
 * NO_INTERRUPT in avail.flags.  Call after vring_push(). */
bool vring_wants_irq(struct vm *vm, const struct vqueue *q);

/* Tell the guest whether to kick q (used.flags NO_NOTIFY): a device that will
 * look at the ring again anyway (requests in flight) says "no need".  Turning
 * kicks back on is followed by a full barrier: the caller must then look at
 * the ring once more, for a buffer offered while the guest thought it need
 * not kick.  The flag is advice the guest may ignore, never a promise. */
void vring_suppress_notify(struct vm *vm, struct vqueue *q, bool suppress);

/* vring_push(), then raise q's IRQ if the guest wants one. */
void vring_complete(struct vm *vm, struct vqueue *q, uint16_t head, uint32_t len);

/* Copy helpers over a chain: gather up to max bytes from the readable part,
 * scatter up to len bytes into the writable part.  They return the bytes
 * copied. */
size_t vchain_gather(const struct vchain *c, void *dst, size_t max);
size_t vchain_scatter(const struct vchain *c, const void *src, size_t len);

/* The ring's size as a bound for a device thread's loop, read without the
 * queue's lock (the transports store it atomically under the lock). */
static inline unsigned vring_num(const struct vqueue *q)
{
	return __atomic_load_n(&q->num, __ATOMIC_RELAXED);
}

#endif
