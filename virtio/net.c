/* The network device: the guest's eth0, on a tap interface of the host.
 *
 * A tap interface is a network card whose other end is a file descriptor:
 * every frame the host sends through the interface can be read from the fd,
 * one frame per read(), and every frame written to the fd arrives at the
 * host as if it came in on the wire.  That is all a virtio network device
 * needs.  The guest's driver has two queues: the first holds empty buffers
 * for frames coming in, the second frames going out.  Each frame travels
 * behind an 8-byte struct virtio_net_hdr in its own descriptor; since we
 * offer no features (no checksum offload, no segmentation), the guest's
 * header says nothing and ours is all zeroes.  (docs/abi.md §9.12.)
 *
 * Who does what:
 *
 *  - Transmit belongs to the vCPU thread.  The guest kicks the transmit
 *    queue and we write each frame to the fd before it runs again, as the
 *    reference did: a tap write never waits for anything.
 *
 *  - Receive belongs to a thread of its own, the only consumer of the
 *    receive queue.  It sleeps in poll() on the fd and on a doorbell (an
 *    eventfd the vCPU rings when the guest kicks the receive queue, meaning
 *    "new buffers").  A frame goes in only when the guest has a buffer for
 *    it; with none posted we stop watching the fd altogether and the frames
 *    wait in the kernel's queue (which drops the excess, as a real wire
 *    would) until the guest posts buffers.  The reference instead had the
 *    main loop watch the tap and a "Waker" force the guest out when input
 *    arrived; the vCPU thread here only looks at file descriptors when the
 *    guest exits or halts, so a guest busy in user space would wait for its
 *    next timer tick for every frame.  The thread delivers frames as they
 *    come (but see rx_thread() for a race in the 2.6.24 driver that makes
 *    it wait a moment when the queue first comes to life) and raises the
 *    interrupt with vm_raise_irq(), which kicks the vCPU.
 *
 *  - A frame longer than 1514 bytes would hit a BUG_ON in the 2.6.24 driver
 *    (it sizes every buffer for exactly that), so we drop it and count it,
 *    as we do one that does not fit the buffer the guest gave us.
 *
 * The guest's MAC address: the reference handed the guest the tap
 * interface's own address, so both ends of the wire had the same one.  We
 * give the guest a random locally administered address instead (the 0x02
 * bit of the first byte set, the multicast bit clear), a new one each run,
 * as a real network card would have its own.
 *
 * The host's end: with --net-ip ADDR[/PREFIX] we give the (first) tap that
 * address and bring it up, which takes CAP_NET_ADMIN.  Without it we leave
 * the interface alone: it may be a tap made beforehand for this user
 * (`ip tuntap add mode tap user ...`), in a bridge, configured by someone
 * who knows better. */
#include "virtio/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "src/hold.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/ring.h"
#include "virtio/transport.h"

#define NET_F_MAC	 0x41 /* VIRTIO_CONFIG_NET_MAC_F: 6 bytes */
#define VIRTIO_NET_F_MAC 5    /* device page v2: the MAC at config offset 0 */

/* Two guards for a race in the 2.6.24 driver (see rx_thread()). */
#define RX_HOLD_NS  (10ull * 1000000)  /* after the receive queue comes to life */
#define RX_NUDGE_NS (250ull * 1000000) /* NO_INTERRUPT for this long with frames in */

/* Enough for any frame a tap can hold (its MTU is at most 64 KiB): a longer
 * one shows up as a read that fills the whole buffer, and is dropped. */
#define NET_HDR_MAX 12u /* the largest header of any generation we serve */
#define RX_BUF_LEN  (NET_HDR_MAX + 65536u)

struct net_dev {
	struct vm *vm;
	unsigned hdr_len; /* struct virtio_net_hdr: 8 bytes in 2.6.24, 10 after, 12 in 4.x */
	bool any_layout;  /* virtio 1.0: the header may share a buffer with the frame */
	struct vqueue *rx, *tx;
	int fd;		  /* the tap, or whatever carries our frames */
	int efd;	  /* receive doorbell: vCPU -> the device's thread */
	int txefd;	  /* transmit doorbell: the same, for the send queue */
	bool tx_threaded; /* virtio-PCI: the thread sends (else the vCPU thread) */
	atomic_bool stop;
	struct hold hold; /* a snapshot: hold still (src/hold.h) */
	pthread_t thread;
	bool thread_started;
	char name[IFNAMSIZ + 8];
	atomic_uint_fast64_t rx_frames, rx_dropped, tx_frames, tx_dropped;

	/* The receive thread's. */
	bool rx_listen;	     /* the guest may have a buffer: watch the fd */
	bool rx_broken;	     /* the fd failed: never read it again */
	uint64_t hold_until; /* CLOCK_MONOTONIC ns: do not deliver before this */
	bool rx_batch;	     /* frames went in this round, not yet announced */
	bool irq_owed;	     /* frames went in while the guest said NO_INTERRUPT... */
	uint64_t owed_since; /* ...since this time */
	struct vchain rxc;
	uint8_t rxbuf[RX_BUF_LEN]; /* a zero header, then the frame */

	/* Whoever sends: the vCPU thread, or with tx_threaded the device's. */
	struct vchain txc;
	struct iovec txframe[VRING_NUM_MAX];
};

/*
 * Transmit (vCPU thread).
 */

/* Every transmit chain is a header the device reads, then the frame it
 * reads.  Anything else is not the 2.6.24 driver: the reference died. */
static bool tx_chain_ok(struct net_dev *nd, const struct vchain *c)
{
	if (c->nwrite) {
		guest_kill(nd->vm, "net: transmit buffer %u has a device-writable descriptor",
			   c->head);
		return false;
	}
	if (nd->any_layout ? c->read_len < nd->hdr_len : c->iov[0].iov_len != nd->hdr_len) {
		guest_kill(nd->vm, "net: transmit buffer %u: header is %zu bytes, not %u", c->head,
			   nd->any_layout ? (size_t)c->read_len : c->iov[0].iov_len, nd->hdr_len);
		return false;
	}
	return true;
}

/* The frame: the chain's readable part after the header, wherever in the
 * buffers the header ends. */
static int frame_iov(const struct net_dev *nd, const struct vchain *c, struct iovec *out)
{
	size_t skip = nd->hdr_len;
	int n = 0;
	for (unsigned i = 0; i < c->nread; i++) {
		size_t len = c->iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		out[n].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
		out[n].iov_len = len - skip;
		skip = 0;
		n++;
	}
	return n;
}

/* Send every frame the guest has queued.  We ignore the header beyond its
 * size: with no features offered it can ask for nothing.  A frame the fd
 * refuses is dropped and counted, like a full transmit queue on a real card,
 * and its buffer still goes back, or the guest would run out. */
static void tx_flush(struct net_dev *nd)
{
	struct vchain *c = &nd->txc;
	struct iovec *frame = nd->txframe;
	bool sent = false;

	/* The guest has at most num chains queued, and cannot add more while
	 * we hold its only vCPU. */
	for (unsigned i = 0; i < nd->tx->num; i++) {
		ssize_t n;

		if (vring_pop(nd->vm, nd->tx, c) <= 0 || !tx_chain_ok(nd, c))
			break;
		int nf = frame_iov(nd, c, frame);
		do
			n = writev(nd->fd, frame, nf);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			atomic_fetch_add(&nd->tx_dropped, 1);
			n = 0;
		} else {
			atomic_fetch_add(&nd->tx_frames, 1);
		}
		/* Like the reference, the used length is what we sent; the
		 * driver does not look at it. */
		vring_push_gen(nd->vm, nd->tx, c->gen, c->head, (uint32_t)n);
		sent = true;
	}
	/* One kick sent everything queued; the guest hears about it once. */
	if (sent && !nd->vm->dead && vring_wants_irq(nd->vm, nd->tx))
		vbus_interrupt(nd->vm, nd->tx);
}

/*
 * Receive (the receive thread).
 */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool rx_chain_ok(struct net_dev *nd, const struct vchain *c)
{
	if (c->nread) {
		guest_kill(nd->vm, "net: receive buffer %u has a device-readable descriptor",
			   c->head);
		return false;
	}
	if (nd->any_layout ? c->write_len < nd->hdr_len : c->iov[0].iov_len != nd->hdr_len) {
		guest_kill(nd->vm, "net: receive buffer %u: header is %zu bytes, not %u", c->head,
			   nd->any_layout ? (size_t)c->write_len : c->iov[0].iov_len, nd->hdr_len);
		return false;
	}
	return true;
}

/* The longest frame this buffer may carry: what follows its header, and
 * never more than the driver can swallow. */
static uint64_t rx_room(const struct net_dev *nd, const struct vchain *c)
{
	uint64_t room = c->write_len - nd->hdr_len;

	return room < NET_FRAME_MAX ? room : NET_FRAME_MAX;
}

static void rx_fail(struct net_dev *nd, const char *why)
{
	log_msg("net %s: reading frames failed (%s); the guest will receive nothing more", nd->name,
		why);
	nd->rx_broken = true;
	nd->rx_listen = false;
}

/* Move one frame into one of the guest's buffers.  Returns false when there
 * is nothing more to do until poll() says otherwise. */
static bool rx_one(struct net_dev *nd)
{
	struct vchain *c = &nd->rxc;
	ssize_t n;
	int r;

	r = vring_pop(nd->vm, nd->rx, c);
	if (r <= 0 || !rx_chain_ok(nd, c)) {
		/* No buffer: stop watching the fd until the guest posts some
		 * (and kicks).  Or a bad ring, and the guest is dead. */
		nd->rx_listen = false;
		return false;
	}
	do
		n = read(nd->fd, nd->rxbuf + nd->hdr_len, RX_BUF_LEN - NET_HDR_MAX);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		vring_unpop(nd->rx, c);
		if (n == 0)
			rx_fail(nd, "end of file");
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			rx_fail(nd, strerror(errno));
		return false;
	}
	if ((uint64_t)n > rx_room(nd, c)) {
		/* The buffer stays ours, for the next frame. */
		atomic_fetch_add(&nd->rx_dropped, 1);
		vring_unpop(nd->rx, c);
		return true;
	}
	memset(nd->rxbuf, 0, nd->hdr_len); /* flags 0, GSO_NONE */
	if (nd->hdr_len >= 12)
		nd->rxbuf[10] = 1; /* num_buffers: the frame is in this one buffer */
	vchain_scatter(c, nd->rxbuf, nd->hdr_len + (size_t)n);
	atomic_fetch_add(&nd->rx_frames, 1);
	if (!vring_push_gen(nd->vm, nd->rx, c->gen, c->head, nd->hdr_len + (uint32_t)n))
		return true; /* reset under us: the frame goes nowhere */
	nd->rx_batch = true;
	return true;
}

/* Frames went in this round: one interrupt for all of them, if the guest
 * wants it; if it said NO_INTERRUPT, remember since when (rx_nudge). */
static void rx_interrupt(struct net_dev *nd)
{
	if (!nd->rx_batch)
		return;
	nd->rx_batch = false;
	if (vring_wants_irq(nd->vm, nd->rx)) {
		vbus_interrupt(nd->vm, nd->rx);
		nd->irq_owed = false;
	} else if (!nd->irq_owed) {
		nd->irq_owed = true;
		nd->owed_since = mono_ns();
	}
}

static void doorbell_drain(int efd)
{
	uint64_t v;

	while (read(efd, &v, sizeof(v)) == sizeof(v))
		;
}

/* How long poll() may sleep: until the hold ends or a nudge is due. */
static int rx_timeout(const struct net_dev *nd, uint64_t now)
{
	uint64_t until = UINT64_MAX;

	if (nd->rx_listen && nd->hold_until > now)
		until = nd->hold_until;
	if (nd->irq_owed && nd->owed_since + RX_NUDGE_NS < until)
		until = nd->owed_since + RX_NUDGE_NS;
	if (until == UINT64_MAX)
		return -1;
	return until <= now ? 0 : (int)((until - now + 999999) / 1000000);
}

/* The guest has sat on delivered frames with NO_INTERRUPT set for a long
 * time: interrupt it anyway, once. */
static void rx_nudge(struct net_dev *nd, uint64_t now)
{
	if (!nd->irq_owed || now < nd->owed_since + RX_NUDGE_NS)
		return;
	nd->irq_owed = false;
	if (!vring_wants_irq(nd->vm, nd->rx))
		vbus_interrupt(nd->vm, nd->rx);
}

/*
 * The receive thread.
 *
 * The 2.6.24 driver has a race we must step around.  Its open routine posts
 * the receive buffers, kicks, and only then enables NAPI.  If our interrupt
 * lands in between (and it does: the frames the host queued while the
 * interface was down are ready the moment the buffers are, and the interrupt
 * is injected as the kick returns), the driver's callback cannot schedule
 * its poll, sets NO_INTERRUPT "until the poll re-enables it", and no poll
 * ever comes: the guest never receives again.  The reference host never
 * delivered that fast, because its Waker first had to force the guest out.
 * So, two guards:
 *
 *  - when the receive queue comes (back) to life after a kick, we hold off
 *    for RX_HOLD_NS before delivering, which is all the driver needs to get
 *    from the kick to napi_enable();
 *  - should the guest still be left with NO_INTERRUPT set and frames it has
 *    not been told about for RX_NUDGE_NS, we raise the interrupt once anyway.
 *    A 2.6.24 guest that is merely busy polling ignores it (its poll is
 *    already scheduled); a stuck one is woken.
 */
static void *rx_thread(void *arg)
{
	struct net_dev *nd = arg;

	while (!atomic_load(&nd->stop)) {
		/* Between rounds nothing is half done: a frame is either in
		 * the guest's buffer or still in the tap. */
		hold_point(&nd->hold);
		uint64_t now = mono_ns();
		bool watch = nd->rx_listen && !nd->rx_broken && nd->hold_until <= now;
		struct pollfd p[3] = {
			{.fd = nd->efd, .events = POLLIN},
			{.fd = watch ? nd->fd : -1, .events = POLLIN},
			{.fd = nd->txefd, .events = POLLIN},
		};

		if (poll(p, 3, rx_timeout(nd, now)) < 0) {
			if (errno == EINTR)
				continue;
			rx_fail(nd, strerror(errno));
			return NULL;
		}
		now = mono_ns();
		if (p[0].revents & POLLIN) {
			/* New buffers (or the teardown): listen again. */
			doorbell_drain(nd->efd);
			if (!nd->rx_listen && !nd->rx_broken) {
				nd->rx_listen = true;
				nd->hold_until = now + RX_HOLD_NS;
			}
		}
		if (atomic_load(&nd->stop))
			break;
		if (p[2].revents & POLLIN) {
			/* A transmit kick: send everything queued, here, while
			 * the guest runs on. */
			doorbell_drain(nd->txefd);
			tx_flush(nd);
		}
		rx_nudge(nd, now);
		if (nd->hold_until > now)
			continue;
		/* At most one frame per posted buffer per round. */
		for (unsigned i = 0; i < vring_num(nd->rx) && nd->rx_listen && !nd->vm->dead; i++)
			if (!rx_one(nd))
				break;
		rx_interrupt(nd);
	}
	return NULL;
}

/*
 * The device callbacks.
 */

static void net_notify(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	struct net_dev *nd = dev->priv;
	uint64_t one = 1;

	(void)vm;
	if (!nd)
		return;
	/* A NOTIFY has stopped the vCPU anyway: send at once, as the
	 * reference did (its guests may count on the buffers being back when
	 * NOTIFY returns).  A virtio-PCI kick is a doorbell KVM rings for us
	 * (q->kick_fd) without stopping the vCPU: the device's thread sends. */
	if (q == nd->tx && !nd->tx_threaded) {
		tx_flush(nd);
		return;
	}
	if (write(q == nd->tx ? nd->txefd : nd->efd, &one, sizeof(one)) < 0)
		log_msg("net %s: waking its thread: %s", nd->name, strerror(errno));
}

static void net_wake(void *ctx)
{
	struct net_dev *nd = ctx;
	uint64_t one = 1;

	if (write(nd->efd, &one, sizeof(one)) < 0)
		log_msg("net %s: waking the receive thread: %s", nd->name, strerror(errno));
}

static bool net_hold(struct vm *vm, struct vdev *dev, bool on)
{
	struct net_dev *nd = dev->priv;
	(void)vm;
	return !nd || !nd->thread_started || hold_set(&nd->hold, on, 5000, net_wake, nd);
}

/* A live migration on one host: both lgkvms have the (multi-queue) tap open,
 * and the kernel spreads the frames it delivers over the queues attached.
 * Only the side that runs the guest keeps its queue attached, so no frame
 * waits in a queue nobody reads: the destination detaches its own at once
 * and attaches it when the source lets go (vbus_locks).  A tap made without
 * multi-queue has one queue and no such calls (EINVAL): nothing to do. */
static bool net_lock(struct vm *vm, struct vdev *dev, bool take)
{
	struct net_dev *nd = dev->priv;
	struct ifreq ifr = {.ifr_flags = take ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE};
	(void)vm;
	if (!nd || ioctl(nd->fd, TUNSETQUEUE, &ifr) == 0 || errno == EINVAL)
		return true;
	log_msg("net %s: cannot %s its queue of the tap: %s", nd->name, take ? "attach" : "detach",
		strerror(errno));
	return false;
}

static void net_free(struct net_dev *nd)
{
	if (nd->efd >= 0)
		close(nd->efd);
	if (nd->txefd >= 0)
		close(nd->txefd);
	if (nd->fd >= 0)
		close(nd->fd);
	free(nd);
}

static void net_teardown(struct vm *vm, struct vdev *dev)
{
	struct net_dev *nd = dev->priv;
	uint64_t one = 1;

	if (!nd)
		return;
	if (nd->thread_started) {
		atomic_store(&nd->stop, true);
		if (write(nd->efd, &one, sizeof(one)) < 0)
			log_msg("net %s: stopping the receive thread: %s", nd->name,
				strerror(errno));
		pthread_join(nd->thread, NULL);
	}
	LOG_DEBUG(vm,
		  "net %s: received %llu frames (dropped %llu too long), sent %llu (dropped "
		  "%llu)",
		  nd->name, (unsigned long long)nd->rx_frames, (unsigned long long)nd->rx_dropped,
		  (unsigned long long)nd->tx_frames, (unsigned long long)nd->tx_dropped);
	net_free(nd);
	dev->priv = NULL;
}

struct net_counters net_counters(const struct vdev *dev)
{
	const struct net_dev *nd = dev->priv;
	struct net_counters n = {0};

	if (dev->type != VIRTIO_ID_NET || dev->teardown != net_teardown || !nd)
		return n;
	n.rx_frames = atomic_load(&nd->rx_frames);
	n.rx_dropped = atomic_load(&nd->rx_dropped);
	n.tx_frames = atomic_load(&nd->tx_frames);
	n.tx_dropped = atomic_load(&nd->tx_dropped);
	return n;
}

/*
 * Setting up.
 */

static int rx_thread_start(struct vm *vm, struct net_dev *nd)
{
	sigset_t all, old;
	int r;

	/* No signals here: the kick is the vCPU thread's, and the rest belong
	 * to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&nd->thread, NULL, rx_thread, nd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		vm_stop(vm, EXIT_HOST, "net %s: cannot start its receive thread: %s", nd->name,
			strerror(r));
		return -1;
	}
	nd->thread_started = true;
	return 0;
}

int vbus_add_net_fd(struct vm *vm, int fd, const uint8_t mac[6], const char *what)
{
	struct net_dev *nd = calloc(1, sizeof(*nd));
	struct vdev *dev;

	if (!nd) {
		close(fd);
		vm_stop(vm, EXIT_INTERNAL, "net %s: out of memory", what);
		return -1;
	}
	nd->vm = vm;
	nd->hdr_len = vm->lg.abi ? vm->lg.abi->net_hdr_len : NET_HDR_LEN;
	nd->any_layout = vm->bus.tp == &virtio_pci;
	nd->fd = fd;
	hold_init(&nd->hold);
	snprintf(nd->name, sizeof(nd->name), "%s", what);
	nd->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	nd->txefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nd->efd < 0 || nd->txefd < 0) {
		vm_stop(vm, EXIT_HOST, "net %s: cannot create an eventfd: %s", what,
			strerror(errno));
		goto fail;
	}
	/* Receive queue first, transmit second, then the MAC: the driver finds
	 * its queues in that order, and this is the reference's record. */
	dev = vbus_add_device(vm, VIRTIO_ID_NET, "net");
	if (!dev || !(nd->rx = vbus_add_queue(vm, dev, VBUS_QUEUE_NUM)) ||
	    !(nd->tx = vbus_add_queue(vm, dev, VBUS_QUEUE_NUM)) ||
	    vbus_add_config(vm, dev, NET_F_MAC, VIRTIO_NET_F_MAC, 0, 6, mac) < 0)
		goto fail;
	nd->rx->kick_fd = nd->efd;
	nd->tx_threaded = vm->bus.tp == &virtio_pci;
	if (nd->tx_threaded)
		nd->tx->kick_fd = nd->txefd;
	if (rx_thread_start(vm, nd) < 0)
		goto fail;
	snprintf(dev->host_name, sizeof(dev->host_name), "%s", what);
	dev->notify = net_notify;
	dev->teardown = net_teardown;
	dev->hold = net_hold;
	dev->lock = net_lock;
	dev->priv = nd;
	if (vm->claim_later)
		net_lock(vm, dev, false);
	LOG_DEBUG(vm, "net %s: MAC %02x:%02x:%02x:%02x:%02x:%02x, IRQs %u (receive) %u (send)",
		  what, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], nd->rx->irq, nd->tx->irq);
	return 0;

fail:
	net_free(nd);
	return -1;
}

/* Give the host's end of the wire an address and bring it up: what
 * `ip addr add ADDR/PREFIX dev NAME; ip link set NAME up` would do. */
static int tap_configure(struct vm *vm, const char *name, struct in_addr addr, struct in_addr mask)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	const char *step = "its address";
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		vm_stop(vm, EXIT_HOST, "--net-ip: cannot open a socket to configure %s: %s", name,
			strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	sin->sin_family = AF_INET;
	sin->sin_addr = addr;
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		goto fail;
	step = "its netmask";
	sin->sin_addr = mask;
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;
	step = "it up";
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(s);
	return 0;

fail:
	vm_stop(vm, EXIT_HOST, "--net-ip: cannot set %s of %s: %s", step, name, strerror(errno));
	close(s);
	return -1;
}

/* Create (or attach to) the tap interface: one sentence on failure. */
static int tap_open(struct vm *vm, const char *tap, char name[IFNAMSIZ])
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		vm_stop(vm, EXIT_HOST, "--net: cannot open /dev/net/tun: %s%s", strerror(errno),
			errno == ENOENT ? " (is the tun module loaded?)" : "");
		return -1;
	}
	/* A tap (Ethernet frames, not IP packets) without the 4-byte packet
	 * information prefix: exactly the frames the guest sends.  With no
	 * name the kernel picks the next free tapN.  Multi-queue, so that a
	 * guest migrating on this host (src/migrate.c) finds its tap at the
	 * destination: the new lgkvm joins it as a second queue while this one
	 * still holds it, and it lives on when this one goes.  A tap that
	 * exists already without multi-queue is taken as it is. */
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	if (tap)
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tap);
	int r = ioctl(fd, TUNSETIFF, &ifr);
	if (r < 0 && errno == EINVAL && tap) {
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		r = ioctl(fd, TUNSETIFF, &ifr);
	}
	if (r < 0) {
		int e = errno;

		/* EINVAL for a name: one the kernel will not take, or one that an
		 * interface of another kind already has.  The user's to fix. */
		if (e == EINVAL && tap) {
			vm_stop(vm, EXIT_USAGE,
				"--net tap=%s: the kernel refuses that name for a tap (is there "
				"already an interface of that name that is not a tap?)",
				tap);
			close(fd);
			return -1;
		}
		vm_stop(vm, EXIT_HOST, "--net: cannot create tap interface %s: %s%s",
			tap ? tap : "tapN", strerror(e),
			e == EPERM ? " (that needs CAP_NET_ADMIN, or a tap made for this user "
				     "with `ip tuntap add mode tap user ...`)"
				   : "");
		close(fd);
		return -1;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	return fd;
}

static bool have_net_device(const struct vm *vm)
{
	for (unsigned i = 0; i < vm->bus.ndevs; i++)
		if (vm->bus.devs[i].type == VIRTIO_ID_NET)
			return true;
	return false;
}

static void random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6) {
		/* No entropy to be had: any fixed address will do. */
		static const uint8_t fallback[6] = {0x02, 0x6c, 0x67, 0x6b, 0x76, 0x6d};

		memcpy(mac, fallback, 6);
	}
	mac[0] = (uint8_t)((mac[0] & ~0x01) | 0x02); /* unicast, locally administered */
}

int net_tap_open(struct vm *vm, const char *tap, const char *ip, uint8_t mac[6],
		 char name[IFNAMSIZ])
{
	struct in_addr addr = {0}, mask = {0};
	int fd;

	if (ip && !net_parse_ip(ip, &addr, &mask)) {
		vm_stop(vm, EXIT_USAGE,
			"--net-ip %s: expected an IPv4 address, optionally with /PREFIX (0-32)",
			ip);
		return -1;
	}
	/* --net-ip is one address, so it goes to the first network device
	 * only: two interfaces in one subnet would confuse the host's routing. */
	if (have_net_device(vm))
		ip = NULL;
	fd = tap_open(vm, tap, name);
	if (fd < 0)
		return -1;
	if (ip && tap_configure(vm, name, addr, mask) < 0) {
		close(fd);
		return -1;
	}
	random_mac(mac);
	return fd;
}

int vbus_add_net(struct vm *vm, const char *tap, const char *ip)
{
	char name[IFNAMSIZ];
	uint8_t mac[6];
	int fd = net_tap_open(vm, tap, ip, mac, name);

	if (fd < 0)
		return -1;
	/* Our copy of the name: the device keeps it for its messages. */
	return vbus_add_net_fd(vm, fd, mac, name);
}
