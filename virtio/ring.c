/* Walking the guest's vrings, suspiciously.
 *
 * The guest fills the descriptor table and the available ring; we fill the
 * used ring.  The reference Launcher trusted nothing here either, but it ran
 * while the guest was stopped and could errx() at the first oddity.  We may
 * one day read a ring from an I/O thread while the vCPU runs, so we also
 * take care to read each guest value exactly once and in the right order:
 * avail.idx with acquire semantics before the entries it publishes, and our
 * used entry before used.idx with release semantics. */
#include "virtio/ring.h"

#include <string.h>

#include "src/vm.h"

/* Guest memory is shared with a running guest, so plain loads and stores are
 * not enough: the compiler could tear, repeat or reorder them.  These are the
 * only ways this file touches the ring. */
#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

_Static_assert(sizeof(struct vring_desc) == 16, "2.6.24 descriptor is 16 bytes");
_Static_assert(sizeof(struct vring_used_elem) == 8, "2.6.24 used element is 8 bytes");

/* The host's pointers to the three parts of q's ring. */
struct ring_view {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/* The host's view of q's three parts, each checked against the guest's
 * memory limit: 1, or 0 for a queue the guest has not enabled (nothing to
 * do), or -1 after stopping the VM.  Device page rings are ours and sit in
 * the device area; virtio-PCI rings are the guest's, anywhere in its RAM, and
 * were checked when it enabled them.  We still go through gm_ptr every time
 * rather than keep a pointer that could outlive a remap. */
static int ring_view(struct vm *vm, const struct vqueue *q, struct ring_view *r)
{
	if (!atomic_load_explicit(&q->ready, memory_order_acquire))
		return 0;
	/* The size bounds struct vchain and divides every index: a guard
	 * against our own mistakes, the transports check it. */
	if (q->num == 0 || q->num > VRING_NUM_MAX || (q->num & (q->num - 1))) {
		vm_stop(vm, EXIT_INTERNAL, "virtqueue %u: bad ring size %u", q->id, q->num);
		return -1;
	}
	r->desc = gm_ptr(&vm->mem, q->desc, vring_desc_bytes(q->num));
	r->avail = gm_ptr(&vm->mem, q->avail, vring_avail_bytes(q->num));
	r->used = gm_ptr(&vm->mem, q->used, vring_used_bytes(q->num));
	if (!r->desc || !r->avail || !r->used) {
		vm_stop(vm, EXIT_INTERNAL, "virtqueue %u: ring at %#x lies above the memory limit",
			q->id, q->desc);
		return -1;
	}
	return 1;
}

void vring_place(struct vqueue *q, uint32_t gpa)
{
	q->gpa = gpa;
	q->desc = gpa;
	q->avail = gpa + vring_avail_off(q->num);
	q->used = gpa + vring_used_off(q->num);
	atomic_store_explicit(&q->ready, true, memory_order_release);
}

/* One descriptor, copied out of guest memory once: everything we check is
 * what we use, however the guest rewrites the table meanwhile. */
static struct vring_desc desc_read(const struct vring_desc *d)
{
	struct vring_desc v = {
		.addr = LOAD(&d->addr),
		.len = LOAD(&d->len),
		.flags = LOAD(&d->flags),
		.next = LOAD(&d->next),
	};
	return v;
}

/* Add descriptor i (already read into d) to the chain, or kill the guest. */
static bool chain_add(struct vm *vm, const struct vqueue *q, struct vchain *c, unsigned i,
		      const struct vring_desc *d)
{
	void *p = gm_ptr(&vm->mem, d->addr, d->len);
	unsigned n = c->nread + c->nwrite;

	if (!p) {
		guest_kill(vm,
			   "virtqueue %u: descriptor %u: buffer %#llx+%#x lies outside guest "
			   "memory",
			   q->id, i, (unsigned long long)d->addr, d->len);
		return false;
	}
	if (d->flags & VRING_DESC_F_WRITE) {
		c->nwrite++;
		c->write_len += d->len;
	} else {
		/* Devices rely on "all readable, then all writable": a request
		 * header first, a status byte last.  A guest that mixes them
		 * is not a 2.6.24 driver. */
		if (c->nwrite) {
			guest_kill(vm,
				   "virtqueue %u: descriptor %u: device-readable buffer after a "
				   "device-writable one (chain head %u)",
				   q->id, i, c->head);
			return false;
		}
		c->nread++;
		c->read_len += d->len;
	}
	c->iov[n].iov_base = p;
	c->iov[n].iov_len = d->len;
	return true;
}

/* Follow the chain from head.  `next` must stay inside the table, and since
 * a chain can hold each descriptor at most once, a chain longer than the ring
 * must have come back on itself: that is our loop detector, and it also
 * bounds the work a hostile guest can make us do per chain. */
static bool chain_walk(struct vm *vm, const struct vqueue *q, const struct ring_view *r,
		       struct vchain *c)
{
	unsigned i = c->head, n = 0;

	for (;;) {
		struct vring_desc d;

		if (n++ == q->num) {
			guest_kill(vm,
				   "virtqueue %u: descriptor chain from head %u is longer than "
				   "the ring (%u entries): it loops",
				   q->id, c->head, q->num);
			return false;
		}
		d = desc_read(&r->desc[i]);
		if (!chain_add(vm, q, c, i, &d))
			return false;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return true;
		if (d.next >= q->num) {
			guest_kill(vm,
				   "virtqueue %u: descriptor %u: next %u is beyond the ring (%u "
				   "entries)",
				   q->id, i, d.next, q->num);
			return false;
		}
		i = d.next;
	}
}

void vring_lock(struct vqueue *q)
{
	/* Held for a handful of loads and stores: spin. */
	while (atomic_flag_test_and_set_explicit(&q->lock, memory_order_acquire))
		__builtin_ia32_pause();
}

void vring_unlock(struct vqueue *q)
{
	atomic_flag_clear_explicit(&q->lock, memory_order_release);
}

void vring_reset(struct vqueue *q)
{
	vring_lock(q);
	atomic_store_explicit(&q->ready, false, memory_order_release);
	q->last_avail = q->last_used = 0;
	q->gen++;
	vring_unlock(q);
}

static int pop_locked(struct vm *vm, struct vqueue *q, struct vchain *c)
{
	struct ring_view r;
	uint16_t avail_idx, pending, head;
	int ok = ring_view(vm, q, &r);

	if (ok <= 0)
		return ok;

	/* The guest bumps avail.idx after writing the ring entries (and the
	 * descriptors they name); acquire pairs with its write barrier. */
	avail_idx = LOAD_ACQ(&r.avail->idx);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	/* It can never have more than num chains outstanding: more means the
	 * index jumped, and the entries it claims to publish are garbage. */
	if (pending > q->num) {
		guest_kill(vm, "virtqueue %u: available index moved from %u to %u (ring of %u)",
			   q->id, q->last_avail, avail_idx, q->num);
		return -1;
	}

	head = LOAD(&r.avail->ring[q->last_avail % q->num]);
	if (head >= q->num) {
		guest_kill(vm, "virtqueue %u: available entry %u names descriptor %u (ring of %u)",
			   q->id, q->last_avail, head, q->num);
		return -1;
	}

	c->head = head;
	c->gen = q->gen;
	c->nread = c->nwrite = 0;
	c->read_len = c->write_len = 0;
	if (!chain_walk(vm, q, &r, c))
		return -1;
	q->last_avail++;
	return 1;
}

int vring_pop(struct vm *vm, struct vqueue *q, struct vchain *c)
{
	vring_lock(q);
	int r = pop_locked(vm, q, c);
	vring_unlock(q);
	return r;
}

void vring_unpop(struct vqueue *q, const struct vchain *c)
{
	vring_lock(q);
	if (c->gen == q->gen)
		q->last_avail--;
	vring_unlock(q);
}

static void push_locked(struct vm *vm, struct vqueue *q, uint16_t head, uint32_t len)
{
	struct ring_view r;
	struct vring_used_elem *e;

	if (ring_view(vm, q, &r) <= 0)
		return;
	/* Our own copy of used.idx, not the one in the page: the guest only
	 * reads that field, and if it scribbles on it we keep counting from
	 * where we were. */
	e = &r.used->ring[q->last_used % q->num];
	STORE(&e->id, head);
	STORE(&e->len, len);
	q->last_used++;
	/* The guest reads used.idx, then the element: it must never see the
	 * new index before the element is there. */
	STORE_REL(&r.used->idx, q->last_used);
}

void vring_push(struct vm *vm, struct vqueue *q, uint16_t head, uint32_t len)
{
	vring_lock(q);
	push_locked(vm, q, head, len);
	vring_unlock(q);
}

bool vring_push_gen(struct vm *vm, struct vqueue *q, unsigned gen, uint16_t head, uint32_t len)
{
	vring_lock(q);
	bool same = gen == q->gen;
	if (same)
		push_locked(vm, q, head, len);
	vring_unlock(q);
	return same;
}

bool vring_wants_irq(struct vm *vm, const struct vqueue *q)
{
	struct ring_view r;

	if (ring_view(vm, q, &r) <= 0)
		return false;
	/* A full barrier between our store to used.idx and this load: the
	 * guest clears NO_INTERRUPT and then looks at used.idx, and we must
	 * not both miss each other's write. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !(LOAD(&r.avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
}

void vring_suppress_notify(struct vm *vm, struct vqueue *q, bool suppress)
{
	struct ring_view r;

	if (ring_view(vm, q, &r) <= 0)
		return;
	STORE(&r.used->flags, suppress ? VRING_USED_F_NO_NOTIFY : 0);
	if (!suppress)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void vring_complete(struct vm *vm, struct vqueue *q, uint16_t head, uint32_t len)
{
	vring_push(vm, q, head, len);
	if (vring_wants_irq(vm, q))
		vbus_interrupt(vm, q);
}

size_t vchain_gather(const struct vchain *c, void *dst, size_t max)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->nread && done < max; i++) {
		size_t n = c->iov[i].iov_len;

		if (n > max - done)
			n = max - done;
		memcpy((uint8_t *)dst + done, c->iov[i].iov_base, n);
		done += n;
	}
	return done;
}

size_t vchain_scatter(const struct vchain *c, const void *src, size_t len)
{
	size_t done = 0;

	for (unsigned i = c->nread; i < c->nread + c->nwrite && done < len; i++) {
		size_t n = c->iov[i].iov_len;

		if (n > len - done)
			n = len - done;
		memcpy(c->iov[i].iov_base, (const uint8_t *)src + done, n);
		done += n;
	}
	return done;
}
