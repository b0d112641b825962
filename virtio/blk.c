/* The block device: a host file becomes the guest's /dev/vda.
 *
 * The 2.6.24 virtio block driver is pleasingly plain.  Every request is one
 * chain of descriptors: a 24-byte header the device reads (what to do, and at
 * which 512-byte sector), the data (readable for a write, writable for a
 * read), and a single status byte the device writes last.  We put the chain
 * back on the used ring with the status filled in and raise the queue's
 * interrupt.  (docs/abi.md §9.11.)
 *
 * The reference Launcher served the disk from an I/O thread doing one readv()
 * or writev() at a time.  We keep the thread but let the kernel do the
 * waiting: each disk has an io_uring, and its I/O thread is the one and only
 * consumer of the request queue.  A NOTIFY from the guest (on the vCPU
 * thread) only rings the thread's doorbell, an eventfd, and the guest runs
 * on at once; the thread takes every request offered, submits them all, and
 * completes each one as the kernel finishes it, raising the interrupt through
 * vm_raise_irq(), which may be called from any thread.  Requests therefore
 * complete out of order, which the driver is built for.
 *
 * Two kinds of request must not overtake anything: a write with the barrier
 * bit (31) set, and the FLUSH (type 4) that later drivers send.  For those we
 * stop taking new requests, wait for everything already submitted, and then
 * run the request as fdatasync + (the write + fdatasync): nothing we
 * acknowledge as flushed is anywhere but on stable storage.
 *
 * Where io_uring is not available (an old kernel, a seccomp policy that
 * forbids it, or LGKVM_NO_IO_URING set in the environment) the same thread
 * runs the same requests with plain preadv/pwritev/fdatasync, one at a time,
 * like the reference.
 *
 * We are stricter than the reference in one way and kinder in another: a
 * malformed chain (no header, no status byte) kills the guest as it did, but
 * a request for sectors beyond the end of the disk merely fails with an I/O
 * error instead of aborting the whole Launcher, and never grows the file. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "src/files.h"
#include "src/hold.h"
#include "src/le.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/ring.h"

/* Config fields (include/linux/virtio_blk.h in 2.6.24), and the reference's
 * choice of SEG_MAX: two of the ring's descriptors go to the header and the
 * status byte, so a request of 126 data segments still fits a 128 ring. */
#define BLK_F_CAPACITY 0x41
#define BLK_F_SEG_MAX  0x43
/* ... and from 2.6.25 (device page v2): virtio feature bits and the offsets
 * of struct virtio_blk_config. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO	     5
#define VIRTIO_BLK_F_FLUSH   9
#define BLK_CFG_CAPACITY     0
#define BLK_CFG_SEG_MAX	     12
#define BLK_SEG_MAX	     (VBUS_QUEUE_NUM - 2)

#define SECTOR_SIZE 512u

/* struct virtio_blk_outhdr: type u32 @0, ioprio u32 @4, sector u64 @8, and
 * an 8-byte id nobody reads. */
#define BLK_HDR_LEN    24u
#define BLK_T_IN       0u
#define BLK_T_OUT      1u
#define BLK_T_SCSI_CMD 2u
#define BLK_T_FLUSH    4u
#define BLK_T_BARRIER  0x80000000u
#define BLK_STATUS_LEN 1u
#define BLK_S_OK       0
#define BLK_S_IOERR    1
#define BLK_S_UNSUPP   2

/* The doorbell's tag in the io_uring: no request lives at address 0. */
#define DOORBELL NULL

enum blk_op { OP_READ, OP_WRITE, OP_FLUSH };

/* The steps of a request, in order.  Ordinary reads and writes have only
 * DATA; a barrier write is PRESYNC, DATA, POSTSYNC (a barrier read has no
 * POSTSYNC); a flush is PRESYNC alone. */
enum blk_phase { PH_PRESYNC, PH_DATA, PH_POSTSYNC };

/* One request from the guest, from vring_pop() until its status is written.
 * Each has at most one operation in the kernel at a time. */
struct blk_req {
	struct vchain c;
	enum blk_op op;
	enum blk_phase phase;
	bool ordered;	      /* barrier or flush: runs alone */
	uint8_t *status;      /* the guest's status byte */
	struct iovec *iov;    /* the data still to transfer... */
	unsigned niov;	      /* ...in this many buffers... */
	uint64_t off;	      /* ...starting at this byte of the file */
	uint64_t done;	      /* data bytes transferred so far */
	struct blk_req *next; /* on the free list or the synchronous run list */
};

struct blk_dev {
	struct vm *vm;
	struct vqueue *q;
	const char *path;
	int fd;
	bool readonly;
	unsigned hdr_len; /* the request header: 24 bytes in 2.6.24, 16 after */
	uint64_t sectors; /* what the guest was told: the file size / 512, rounded down */

	/* The doorbell: NOTIFY (vCPU thread) -> I/O thread. */
	int efd;
	atomic_bool stop;
	struct hold hold; /* a snapshot: finish, flush, hold still (src/hold.h) */
	pthread_t thread;
	bool thread_started;
	bool use_uring;
	struct io_uring ring;

	/* Everything below belongs to the I/O thread alone. */
	bool live;			 /* the guest has kicked: its ring is set up */
	unsigned inflight;		 /* popped and not yet completed (parked included) */
	bool irq_owed;			 /* used entries pushed since the last interrupt */
	bool no_notify;			 /* we told the guest not to kick */
	struct blk_req *parked;		 /* an ordered request waiting for the others */
	bool ordered_busy;		 /* an ordered request is running: take nothing new */
	struct blk_req *free;		 /* unused request slots */
	struct blk_req *run, **run_tail; /* synchronous backend: operations to do */
	uint64_t n_read, n_write, n_flush, n_err; /* for -v at the end */
	struct blk_req reqs[];			  /* one per ring entry */
};

static void req_submit(struct blk_dev *d, struct blk_req *r);
static void req_begin(struct blk_dev *d, struct blk_req *r);

static void put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Finishing a request.
 */

/* Write the status byte, hand the chain back, and (if the guest wants it)
 * raise the interrupt.  The used length counts what we wrote into the
 * guest's buffers: the status byte, and for a successful read the data. */
static void req_finish(struct blk_dev *d, struct blk_req *r, uint8_t status)
{
	uint64_t len = BLK_STATUS_LEN;

	if (status == BLK_S_OK && r->op == OP_READ)
		len += r->done;
	if (status == BLK_S_IOERR)
		d->n_err++;
	__atomic_store_n(r->status, status, __ATOMIC_RELAXED);
	/* The interrupt waits for the batch (irq_flush): every request the
	 * kernel finished together costs the guest one. */
	/* A chain of a ring the guest has reset since is dropped, not handed
	 * back into memory that is no longer a ring (vring_reset). */
	if (vring_push_gen(d->vm, d->q, r->c.gen, r->c.head,
			   len > UINT32_MAX ? UINT32_MAX : (uint32_t)len))
		d->irq_owed = true;

	if (r->ordered)
		d->ordered_busy = false;
	r->next = d->free;
	d->free = r;
	d->inflight--;
	/* The last of the requests a barrier was waiting for has gone: its turn. */
	if (d->parked && d->inflight == 1) {
		struct blk_req *p = d->parked;

		d->parked = NULL;
		req_begin(d, p);
	}
}

/* The kernel finished r's current step with result `res` (bytes, or -errno):
 * go on to the next step, or finish. */
static void req_step_done(struct blk_dev *d, struct blk_req *r, int res)
{
	if (res == -EINTR || res == -EAGAIN) {
		req_submit(d, r); /* nothing happened: the same step again */
		return;
	}
	if (res < 0) {
		req_finish(d, r, BLK_S_IOERR);
		return;
	}
	switch (r->phase) {
	case PH_PRESYNC:
		if (r->op == OP_FLUSH) {
			req_finish(d, r, BLK_S_OK);
			return;
		}
		r->phase = PH_DATA;
		break;
	case PH_DATA:
		/* A transfer may stop short (a signal, a huge request); we go on
		 * from where it stopped.  One that moves nothing at all has hit
		 * the end of the file: the file shrank under us. */
		if (res == 0 && r->niov) {
			req_finish(d, r, BLK_S_IOERR);
			return;
		}
		r->done += (unsigned)res;
		r->off += (unsigned)res;
		for (size_t left = (unsigned)res; left;) {
			size_t n = left < r->iov->iov_len ? left : r->iov->iov_len;

			r->iov->iov_base = (uint8_t *)r->iov->iov_base + n;
			r->iov->iov_len -= n;
			left -= n;
			if (!r->iov->iov_len) {
				r->iov++;
				r->niov--;
			}
		}
		while (r->niov && !r->iov->iov_len) {
			r->iov++;
			r->niov--;
		}
		if (r->niov)
			break;
		if (!(r->ordered && r->op == OP_WRITE)) {
			req_finish(d, r, BLK_S_OK);
			return;
		}
		/* A barrier write is not done until it is on the disk too. */
		r->phase = PH_POSTSYNC;
		break;
	case PH_POSTSYNC:
		req_finish(d, r, BLK_S_OK);
		return;
	}
	req_submit(d, r);
}

/*
 * The two backends: hand one step of a request to the kernel.
 */

static void uring_submit(struct blk_dev *d, struct blk_req *r)
{
	/* The submission queue has room for every request at once (each has
	 * one step in flight) plus the doorbell, so this never comes up empty;
	 * if it did, pushing what is queued makes room. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	if (!sqe) {
		io_uring_submit(&d->ring);
		sqe = io_uring_get_sqe(&d->ring);
	}
	if (!sqe) {
		req_finish(d, r, BLK_S_IOERR);
		return;
	}
	if (r->phase != PH_DATA)
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
	else if (r->op == OP_READ)
		io_uring_prep_readv(sqe, d->fd, r->iov, r->niov, r->off);
	else
		io_uring_prep_writev(sqe, d->fd, r->iov, r->niov, r->off);
	io_uring_sqe_set_data(sqe, r);
}

static void req_submit(struct blk_dev *d, struct blk_req *r)
{
	/* An empty transfer (a zero-length read, say) needs no kernel. */
	if (r->phase == PH_DATA && !r->niov) {
		req_step_done(d, r, 0);
		return;
	}
	if (d->use_uring) {
		uring_submit(d, r);
		return;
	}
	/* Synchronous: queue it, and the thread's loop does it next.  (Doing it
	 * here would recurse through req_step_done for every step.) */
	r->next = NULL;
	*d->run_tail = r;
	d->run_tail = &r->next;
}

static int sync_step(struct blk_dev *d, struct blk_req *r)
{
	ssize_t n;

	if (r->phase != PH_DATA)
		return fdatasync(d->fd) == 0 ? 0 : -errno;
	if (r->op == OP_READ)
		n = preadv(d->fd, r->iov, (int)r->niov, (off_t)r->off);
	else
		n = pwritev(d->fd, r->iov, (int)r->niov, (off_t)r->off);
	return n < 0 ? -errno : (int)(n > INT32_MAX ? INT32_MAX : n);
}

static void sync_run(struct blk_dev *d)
{
	while (d->run) {
		struct blk_req *r = d->run;

		d->run = r->next;
		if (!d->run)
			d->run_tail = &d->run;
		req_step_done(d, r, sync_step(d, r));
	}
}

/*
 * Starting a request.
 */

static void req_begin(struct blk_dev *d, struct blk_req *r)
{
	if (r->ordered) {
		d->ordered_busy = true;
		r->phase = PH_PRESYNC;
	} else {
		r->phase = PH_DATA;
	}
	req_submit(d, r);
}

/* The shape every request must have, or the guest is not speaking virtio
 * block at all: the reference killed it for these, and so do we. */
static bool chain_ok(struct blk_dev *d, const struct vchain *c)
{
	unsigned last = c->nread + c->nwrite - 1;

	if (!c->nread || !c->nwrite) {
		guest_kill(d->vm,
			   "block: request %u has %u device-readable and %u device-writable "
			   "buffers (it needs a header and a status byte)",
			   c->head, c->nread, c->nwrite);
		return false;
	}
	if (c->iov[0].iov_len != d->hdr_len) {
		guest_kill(d->vm, "block: request %u: header is %zu bytes, not %u", c->head,
			   c->iov[0].iov_len, d->hdr_len);
		return false;
	}
	if (c->iov[last].iov_len != BLK_STATUS_LEN) {
		guest_kill(d->vm, "block: request %u: status buffer is %zu bytes, not %u", c->head,
			   c->iov[last].iov_len, BLK_STATUS_LEN);
		return false;
	}
	return true;
}

/* Decide what request r is and whether it can be done at all.  Returns the
 * status to answer at once, or -1 if it goes to the disk. */
static int req_classify(struct blk_dev *d, struct blk_req *r)
{
	const struct vchain *c = &r->c;
	uint8_t hdr[BLK_HDR_LEN];
	uint32_t type;
	uint64_t sector, len;

	/* One copy of the header (type and sector: the first 16 bytes in every
	 * generation): the guest may rewrite it while we work. */
	memcpy(hdr, c->iov[0].iov_base, d->hdr_len);
	type = le32_get(hdr);
	sector = le64_get(hdr + 8);
	r->ordered = type & BLK_T_BARRIER;
	r->status = c->iov[c->nread + c->nwrite - 1].iov_base;
	/* The data lies between the header and the status byte. */
	r->iov = (struct iovec *)&c->iov[1];
	r->niov = c->nread + c->nwrite - 2;
	r->done = 0;

	switch (type & ~BLK_T_BARRIER) {
	case BLK_T_IN:
		r->op = OP_READ;
		/* Data to read into must be writable: the header alone is ours. */
		if (c->nread != 1)
			return BLK_S_IOERR;
		len = c->write_len - BLK_STATUS_LEN;
		d->n_read++;
		break;
	case BLK_T_OUT:
		r->op = OP_WRITE;
		if (c->nwrite != 1 || d->readonly)
			return BLK_S_IOERR;
		len = c->read_len - d->hdr_len;
		d->n_write++;
		break;
	case BLK_T_FLUSH:
		/* Not a 2.6.24 request, but harmless and useful: make every
		 * write that completed so far durable.  It runs alone. */
		r->op = OP_FLUSH;
		r->ordered = true;
		r->niov = 0;
		d->n_flush++;
		return -1;
	default:
		/* SCSI commands (type 2), and anything newer than 2.6.24. */
		return BLK_S_UNSUPP;
	}
	/* The whole transfer must lie inside the disk.  sector <= sectors, so
	 * neither product can overflow: the disk is a file. */
	if (sector > d->sectors || len > (d->sectors - sector) * SECTOR_SIZE)
		return BLK_S_IOERR;
	r->off = sector * SECTOR_SIZE;
	return -1;
}

/* A request just came off the ring. */
static void req_start(struct blk_dev *d, struct blk_req *r)
{
	int status;

	d->inflight++;
	status = req_classify(d, r);
	if (status >= 0) {
		r->ordered = false; /* nothing to order: it never touches the disk */
		req_finish(d, r, (uint8_t)status);
		return;
	}
	/* A barrier or flush waits for everything before it, and nothing
	 * after it starts until it is done (we stop popping meanwhile). */
	if (r->ordered && d->inflight > 1) {
		d->parked = r;
		return;
	}
	req_begin(d, r);
}

static bool can_take(const struct blk_dev *d)
{
	return d->live && !atomic_load(&d->stop) && !d->vm->dead && !d->parked &&
	       !d->ordered_busy && d->free && !hold_wanted(&d->hold);
}

/* Take every request the guest has offered, as far as ordering allows. */
static void take_requests(struct blk_dev *d)
{
	while (can_take(d)) {
		struct blk_req *r = d->free;

		if (vring_pop(d->vm, d->q, &r->c) <= 0)
			return;
		d->free = r->next;
		if (!chain_ok(d, &r->c)) {
			/* The guest is dead; the slot goes back unused. */
			r->next = d->free;
			d->free = r;
			return;
		}
		req_start(d, r);
	}
}

/*
 * The I/O thread.
 */

/* One interrupt for everything completed since the last one, if the guest
 * wants it.  Called before the thread sleeps. */
static void irq_flush(struct blk_dev *d)
{
	if (!d->irq_owed)
		return;
	d->irq_owed = false;
	if (vring_wants_irq(d->vm, d->q))
		vbus_interrupt(d->vm, d->q);
}

/* While requests are in flight this thread wakes at each completion and
 * looks at the ring then: the guest need not kick (which costs it an exit
 * each).  Idle again, kicks are wanted, and one more look catches a request
 * offered in between. */
static void notify_policy(struct blk_dev *d)
{
	bool suppress = d->inflight > 0;

	if (suppress == d->no_notify || !d->live)
		return;
	vring_suppress_notify(d->vm, d->q, suppress);
	d->no_notify = suppress;
	if (!suppress)
		take_requests(d);
}

static void doorbell_drain(struct blk_dev *d)
{
	uint64_t v;

	while (read(d->efd, &v, sizeof(v)) == sizeof(v))
		;
	d->live = true;
}

static void doorbell_arm(struct blk_dev *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	if (!sqe) {
		io_uring_submit(&d->ring);
		sqe = io_uring_get_sqe(&d->ring);
	}
	if (sqe) {
		io_uring_prep_poll_add(sqe, d->efd, POLLIN);
		io_uring_sqe_set_data(sqe, DOORBELL);
	}
}

/* A snapshot wants the disk still: nothing in flight (can_take stops the
 * taking), everything written flushed, then hold until it is released. */
static void hold_if_wanted(struct blk_dev *d)
{
	if (!hold_wanted(&d->hold) || d->inflight)
		return;
	if (!d->readonly && fdatasync(d->fd) < 0)
		log_msg("--disk %s: flushing for a snapshot: %s", d->path, strerror(errno));
	hold_point(&d->hold);
}

static void uring_loop(struct blk_dev *d)
{
	doorbell_arm(d);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		take_requests(d);
		notify_policy(d);
		irq_flush(d);
		if (atomic_load(&d->stop) && !d->inflight)
			return;
		if (hold_wanted(&d->hold) && !d->inflight) {
			hold_if_wanted(d);
			continue;
		}
		/* Push the new steps and sleep until one of them (or the
		 * doorbell) completes. */
		int r = io_uring_submit_and_wait(&d->ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_msg("--disk %s: io_uring failed: %s", d->path, strerror(-r));
			vm_stop(d->vm, EXIT_INTERNAL, "--disk %s: io_uring failed: %s", d->path,
				strerror(-r));
			return;
		}
		io_uring_for_each_cqe(&d->ring, head, cqe)
		{
			struct blk_req *req = io_uring_cqe_get_data(cqe);

			n++;
			if (req == DOORBELL) {
				doorbell_drain(d);
				if (!atomic_load(&d->stop))
					doorbell_arm(d);
			} else {
				req_step_done(d, req, cqe->res);
			}
		}
		io_uring_cq_advance(&d->ring, n);
	}
}

static void sync_loop(struct blk_dev *d)
{
	for (;;) {
		struct pollfd p = {.fd = d->efd, .events = POLLIN};

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return;
		doorbell_drain(d);
		if (atomic_load(&d->stop))
			return;
		hold_if_wanted(d);
		/* Everything offered, in order; then look again, since a
		 * barrier stops the taking until it is done. */
		for (;;) {
			take_requests(d);
			if (!d->run)
				break;
			sync_run(d);
		}
		irq_flush(d);
	}
}

static void *io_thread(void *arg)
{
	struct blk_dev *d = arg;

	if (d->use_uring)
		uring_loop(d);
	else
		sync_loop(d);
	return NULL;
}

/*
 * The device callbacks (vCPU thread).
 */

/* Ring the doorbell; the guest goes on while the disk works.  An eventfd
 * write cannot block or fail short of 2^64 rings. */
static void blk_wake(void *ctx)
{
	struct blk_dev *d = ctx;
	uint64_t one = 1;

	if (write(d->efd, &one, sizeof(one)) < 0)
		log_msg("--disk %s: waking the I/O thread: %s", d->path, strerror(errno));
}

static void blk_notify(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	(void)vm;
	(void)q;
	if (dev->priv)
		blk_wake(dev->priv);
}

/* A disk may have requests in flight to finish first: it gets longer. */
static bool blk_hold(struct vm *vm, struct vdev *dev, bool on)
{
	struct blk_dev *d = dev->priv;
	(void)vm;
	return !d || !d->thread_started || hold_set(&d->hold, on, 10000, blk_wake, d);
}

static void blk_free(struct blk_dev *d)
{
	if (d->use_uring)
		io_uring_queue_exit(&d->ring);
	if (d->efd >= 0)
		close(d->efd);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static void blk_teardown(struct vm *vm, struct vdev *dev)
{
	struct blk_dev *d = dev->priv;
	uint64_t one = 1;

	if (!d)
		return;
	/* The thread finishes what the kernel already has (those buffers are
	 * guest memory, still mapped until after we return), takes nothing
	 * new, and leaves. */
	if (d->thread_started) {
		atomic_store(&d->stop, true);
		if (write(d->efd, &one, sizeof(one)) < 0)
			log_msg("--disk %s: stopping the I/O thread: %s", d->path, strerror(errno));
		pthread_join(d->thread, NULL);
	}
	LOG_DEBUG(vm, "--disk %s: %llu reads, %llu writes, %llu flushes, %llu failed", d->path,
		  (unsigned long long)d->n_read, (unsigned long long)d->n_write,
		  (unsigned long long)d->n_flush, (unsigned long long)d->n_err);
	blk_free(d);
	dev->priv = NULL;
}

/*
 * Setting up.
 */

/* Two guests writing one disk would wreck it: a lock, shared for read-only
 * use, as other VMMs do.  Let go (take = false) only for a migration's
 * destination, which takes it (src/migrate.c). */
static int disk_lock(struct blk_dev *d, bool take)
{
	return flock(d->fd, take ? (d->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB : LOCK_UN);
}

static bool blk_lock(struct vm *vm, struct vdev *dev, bool take)
{
	struct blk_dev *d = dev->priv;
	(void)vm;
	if (!d || disk_lock(d, take) == 0)
		return true;
	if (take && errno == EWOULDBLOCK)
		log_msg("--disk %s: another program is using it (it is locked)", d->path);
	else
		log_msg("--disk %s: %s its lock: %s", d->path, take ? "taking" : "letting go of",
			strerror(errno));
	return false;
}

/* Find the size of the backing file (opened and checked by src/files.c).
 * One sentence on failure. */
static int disk_open(struct vm *vm, struct blk_dev *d)
{
	struct stat st;
	uint64_t size;

	if (fstat(d->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		vm_stop(vm, EXIT_USAGE, "--disk %s: not a regular file or a block device", d->path);
		return -1;
	}
	size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(d->fd, BLKGETSIZE64, &size) < 0) {
		vm_stop(vm, EXIT_USAGE, "--disk %s: cannot find its size: %s", d->path,
			strerror(errno));
		return -1;
	}
	if (!vm->claim_later && disk_lock(d, true) < 0 && errno == EWOULDBLOCK) {
		vm_stop(vm, EXIT_USAGE, "--disk %s: another program is using it (it is locked)",
			d->path);
		return -1;
	}
	d->sectors = size / SECTOR_SIZE;
	if (!d->sectors) {
		vm_stop(vm, EXIT_USAGE, "--disk %s: it is smaller than one 512-byte sector",
			d->path);
		return -1;
	}
	if (size % SECTOR_SIZE && !vm->opt.quiet)
		log_msg("--disk %s: the last %u bytes are not a whole sector; the guest will not "
			"see them",
			d->path, (unsigned)(size % SECTOR_SIZE));
	return 0;
}

/* The device record: the request queue, then the capacity and SEG_MAX, in
 * the reference's order. */
static int disk_record(struct vm *vm, struct blk_dev *d, struct vdev **devp)
{
	uint8_t cap[8], seg[4];
	struct vdev *dev = vbus_add_device(vm, VIRTIO_ID_BLOCK, "block");

	put_le64(cap, d->sectors);
	seg[0] = BLK_SEG_MAX;
	seg[1] = seg[2] = seg[3] = 0;
	if (!dev || !(d->q = vbus_add_queue(vm, dev, VBUS_QUEUE_NUM)) ||
	    vbus_add_config(vm, dev, BLK_F_CAPACITY, -1, BLK_CFG_CAPACITY, sizeof(cap), cap) < 0 ||
	    vbus_add_config(vm, dev, BLK_F_SEG_MAX, VIRTIO_BLK_F_SEG_MAX, BLK_CFG_SEG_MAX,
			    sizeof(seg), seg) < 0)
		return -1;
	/* Feature bits exist from 2.6.25 (device page v2): say that flushes
	 * work (2.6.32+ guests then send them on fsync) and which disks are
	 * read-only.  v1 has no place for them. */
	dev->features |= 1u << VIRTIO_BLK_F_FLUSH;
	if (d->readonly)
		dev->features |= 1u << VIRTIO_BLK_F_RO;
	*devp = dev;
	return 0;
}

/* The io_uring, locked down.  Operations in a ring never pass through the
 * seccomp filter (src/sandbox.c), so the ring gets its own rules, set before
 * it is enabled and fixed from then on: it may only readv, writev, fsync and
 * poll, with no SQE flags.  (We do not also pin it to registered files: the
 * filter lets the process read and write its descriptors anyway, and a
 * registered file stays referenced until the kernel frees the ring in the
 * background, and with it the disk's lock.)  A kernel older than 5.10
 * cannot start a ring disabled; there we settle for an unrestricted one. */
static int uring_setup(struct vm *vm, struct blk_dev *d)
{
	static const struct io_uring_restriction rules[] = {
		{.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV},
		{.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV},
		{.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC},
		{.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_POLL_ADD},
		{.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = 0},
	};
	struct io_uring_params p = {.flags = IORING_SETUP_R_DISABLED};
	/* Room for every request's step plus the doorbell. */
	unsigned entries = 2u * d->q->num;
	bool restricted = true;
	int r = io_uring_queue_init_params(entries, &d->ring, &p);

	if (r == -EINVAL) {
		restricted = false;
		r = io_uring_queue_init(entries, &d->ring, 0);
	}
	if (r)
		return r;
	/* (liburing 2.3 exports only the generic register call for these.) */
	if (restricted) {
		r = io_uring_register((unsigned)d->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
				      rules, sizeof(rules) / sizeof(rules[0]));
		if (!r)
			r = io_uring_register((unsigned)d->ring.ring_fd,
					      IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	}
	if (r) {
		io_uring_queue_exit(&d->ring);
		return r;
	}
	if (!restricted)
		LOG_DEBUG(vm, "--disk %s: this kernel cannot restrict an io_uring", d->path);
	return 0;
}

static int disk_thread(struct vm *vm, struct blk_dev *d)
{
	const char *no = getenv("LGKVM_NO_IO_URING");
	sigset_t all, old;
	int r = -ENOSYS;

	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		vm_stop(vm, EXIT_HOST, "--disk %s: cannot create an eventfd: %s", d->path,
			strerror(errno));
		return -1;
	}
	if (!(no && *no))
		r = uring_setup(vm, d);
	d->use_uring = r == 0;
	if (r && !(no && *no) && !vm->opt.quiet)
		log_msg("--disk %s: io_uring is not available (%s); using plain reads and writes",
			d->path, strerror(-r));

	/* The thread takes no signals: the kick is for the vCPU thread, and
	 * anything sent to the process belongs to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&d->thread, NULL, io_thread, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		vm_stop(vm, EXIT_HOST, "--disk %s: cannot start its I/O thread: %s", d->path,
			strerror(r));
		return -1;
	}
	d->thread_started = true;
	return 0;
}

int vbus_add_disk(struct vm *vm, const char *path, bool readonly)
{
	char err[512];
	int fd = files_open_disk(path, readonly, err, sizeof(err));

	if (fd < 0) {
		vm_stop(vm, EXIT_USAGE, "%s", err);
		return -1;
	}
	return vbus_add_disk_fd(vm, path, fd, readonly);
}

int vbus_add_disk_fd(struct vm *vm, const char *path, int fd, bool readonly)
{
	unsigned num = VBUS_QUEUE_NUM;
	struct blk_dev *d = calloc(1, sizeof(*d) + num * sizeof(d->reqs[0]));
	struct vdev *dev = NULL;

	if (!d) {
		close(fd);
		vm_stop(vm, EXIT_INTERNAL, "--disk %s: out of memory", path);
		return -1;
	}
	d->vm = vm;
	d->path = path;
	d->readonly = readonly;
	d->hdr_len = vm->lg.abi ? vm->lg.abi->blk_hdr_len : BLK_HDR_LEN;
	d->fd = fd;
	d->efd = -1;
	d->run_tail = &d->run;
	hold_init(&d->hold);
	/* The guest can have at most `num` requests outstanding, so `num`
	 * slots bound what we ever hold in flight. */
	for (unsigned i = 0; i < num; i++) {
		d->reqs[i].next = d->free;
		d->free = &d->reqs[i];
	}
	if (disk_open(vm, d) < 0 || disk_record(vm, d, &dev) < 0 || disk_thread(vm, d) < 0) {
		blk_free(d);
		return -1;
	}
	dev->notify = blk_notify;
	d->q->kick_fd = d->efd; /* what blk_notify rings: KVM may ring it for us */
	dev->teardown = blk_teardown;
	dev->hold = blk_hold;
	dev->lock = blk_lock;
	dev->backing_fd = fd;
	dev->priv = d;
	LOG_DEBUG(vm, "--disk %s: %llu sectors%s, IRQ %u, %s", path, (unsigned long long)d->sectors,
		  readonly ? ", read-only" : "", d->q->irq,
		  d->use_uring ? "io_uring" : "synchronous I/O");
	return 0;
}
