/* The 2.6.23 DMA device bus (see virtio/dma_bus.h; docs/DESIGN.md §7.4).
 *
 * What the reference split between its host module (drivers/lguest/io.c:
 * bindings, checks, copies) and its Launcher (the devices behind the keys)
 * is one file here, because lgkvm is both.  The rules are the reference's:
 *
 *  - a key must be a 4-byte aligned address the guest may name (the host
 *    looked keys up as futexes);
 *  - a section of a struct lguest_dma is at most a page and never crosses
 *    one (check_dma_list); the sections end at the first zero length;
 *  - buffers bound to a key are searched from where the last search ended
 *    for one whose used_len is 0; filling one writes used_len and raises the
 *    binding's interrupt;
 *  - a bad address kills the guest.
 *
 * Everything runs on the vCPU thread: SEND_DMA is a hypercall, input comes
 * from vbus_poll.  Disk I/O is synchronous (pread/pwrite): the 2.6.23 block
 * driver has one request in flight and waits for its interrupt anyway. */
#include "virtio/dma_bus.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/le.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/net.h"
#include "virtio/transport.h"

#define PAGE_SIZE 4096u

static uint8_t lguest_type(uint8_t virtio_id)
{
	switch (virtio_id) {
	case VIRTIO_ID_CONSOLE:
		return DMA_T_CONSOLE;
	case VIRTIO_ID_NET:
		return DMA_T_NET;
	case VIRTIO_ID_BLOCK:
		return DMA_T_BLOCK;
	}
	return 0;
}

/* The descriptor index of dev: its place on the bus. */
static unsigned dev_index(const struct vm *vm, const struct vdev *dev)
{
	return (unsigned)(dev - vm->bus.devs);
}

/* --- checking what the guest names ---------------------------------------- */

static bool key_ok(const struct vm *vm, uint32_t key)
{
	return key % 4 == 0 && gm_ptr(&vm->mem, key, 4) != NULL;
}

bool dma_buf_read(struct vm *vm, uint32_t gpa, struct dma_buf *b)
{
	uint8_t raw[DMA_STRUCT_LEN];

	memset(b, 0, sizeof(*b));
	/* One copy of the struct: the guest cannot change a length between our
	 * check and our use. */
	if (!gm_read(&vm->mem, gpa, raw, sizeof(raw))) {
		guest_kill(vm, "bad DMA struct address %#x", gpa);
		return false;
	}
	b->used_gpa = gpa;
	for (unsigned i = 0; i < DMA_SECTIONS; i++) {
		uint32_t addr = le32_get(raw + 4 + 4 * i);
		uint16_t len = (uint16_t)(raw[68 + 2 * i] | raw[69 + 2 * i] << 8);
		void *p;

		if (!len)
			break;
		/* The reference's rule: a section is one page at most and stays
		 * inside it.  (Ours would not need it; its guests obey it, and
		 * it keeps a section from reaching across into the next
		 * device's page.) */
		if (len > PAGE_SIZE || addr % PAGE_SIZE + len > PAGE_SIZE ||
		    !(p = gm_ptr(&vm->mem, addr, len))) {
			guest_kill(vm, "bad DMA entry: %u@%#x", len, addr);
			return false;
		}
		b->iov[i] = (struct iovec){.iov_base = p, .iov_len = len};
		b->n = i + 1;
		b->total += len;
	}
	return true;
}

/* --- BIND_DMA -------------------------------------------------------------- */

static struct dma_binding *binding_of(struct vm *vm, uint32_t key)
{
	for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++) {
		struct dma_binding *d = &vm->bus.dma.bind[i];
		if (d->irq && d->key == key)
			return d;
	}
	return NULL;
}

uint32_t dma_bind(struct vm *vm, uint32_t key, uint32_t dmas, uint32_t num_irq)
{
	struct dma_bus *db = &vm->bus.dma;
	uint8_t irq = (uint8_t)num_irq;
	uint32_t num = num_irq >> 8;

	if (!key_ok(vm, key)) {
		guest_kill(vm, "bad dma key %#x", key);
		return 0;
	}
	if (irq >= LG_IRQS)
		return 0; /* the reference's answer: not bound */
	if (irq == 0) {
		/* Unbind: the same key and array. */
		for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++) {
			struct dma_binding *d = &db->bind[i];
			if (d->irq && d->key == key && d->dmas == dmas) {
				memset(d, 0, sizeof(*d));
				return 1;
			}
		}
		return 0;
	}
	if (num == 0 || num > DMA_MAX_ARRAY) {
		guest_kill(vm, "bad DMA count %u for key %#x", num, key);
		return 0;
	}
	/* The whole array must be guest memory now; each entry is read again
	 * (and its sections checked) whenever it is used. */
	if (!gm_ptr(&vm->mem, dmas, (uint64_t)num * DMA_STRUCT_LEN)) {
		guest_kill(vm, "bad DMA array %#x (%u entries)", dmas, num);
		return 0;
	}
	/* The reference allowed it, and then delivered to whichever binding
	 * its hash table met first.  No 2.6.23 driver binds a key twice (the
	 * network device unbinds on close before it binds again on open). */
	if (binding_of(vm, key)) {
		guest_kill(vm, "dma key %#x bound twice", key);
		return 0;
	}
	for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++) {
		struct dma_binding *d = &db->bind[i];
		if (d->irq)
			continue;
		*d = (struct dma_binding){
			.key = key, .dmas = dmas, .num = (uint16_t)num, .irq = irq};
		return 1;
	}
	return 0; /* table full: the guest hears "no" */
}

/* --- buffers bound to a key -------------------------------------------------- */

int dma_take(struct vm *vm, uint32_t key, struct dma_buf *b)
{
	struct dma_binding *d = binding_of(vm, key);

	if (!d)
		return 0;
	for (unsigned i = 0; i < d->num; i++) {
		unsigned idx = (d->next + i) % d->num;
		uint32_t gpa = d->dmas + idx * DMA_STRUCT_LEN, used;

		if (!gm_read32(&vm->mem, gpa, &used)) {
			guest_kill(vm, "bad address in registered DMA struct %#x", gpa);
			return -1;
		}
		if (used)
			continue;
		if (!dma_buf_read(vm, gpa, b))
			return -1;
		b->irq = d->irq;
		d->next = (uint16_t)((idx + 1) % d->num);
		return 1;
	}
	return 0;
}

void dma_complete(struct vm *vm, const struct dma_buf *b, uint32_t len)
{
	/* The data is in; used_len says so, then the interrupt (the reference
	 * wrote used_len after a write barrier for the same reason). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (!gm_write32(&vm->mem, b->used_gpa, len)) {
		guest_kill(vm, "bad address writing to registered DMA %#x", b->used_gpa);
		return;
	}
	vm_raise_irq(vm, b->irq);
}

/* Copy up to len bytes from src into the buffer's sections. */
static uint32_t buf_fill(const struct dma_buf *b, const uint8_t *src, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < b->n && done < len; i++) {
		size_t n = b->iov[i].iov_len < len - done ? b->iov[i].iov_len : len - done;
		memcpy(b->iov[i].iov_base, src + done, n);
		done += n;
	}
	return (uint32_t)done;
}

/* --- the devices ---------------------------------------------------------- */

/* The device whose SEND_DMA key this is: the console's 0, the block page,
 * slot 0 (ours) of the network page. */
static struct dma_dev *dev_by_send_key(struct vm *vm, uint32_t key)
{
	for (unsigned i = 0; i < vm->bus.ndevs && i < DMA_MAX_DEVS; i++) {
		struct dma_dev *dd = &vm->bus.dma.dev[i];
		if (dd->type == DMA_T_CONSOLE && key == DMA_CONSOLE_KEY)
			return dd;
		if ((dd->type == DMA_T_BLOCK || dd->type == DMA_T_NET) && key == dd->page)
			return dd;
	}
	return NULL;
}

static uint32_t console_send(struct vm *vm, const struct dma_buf *b)
{
	for (unsigned i = 0; i < b->n; i++)
		console_out(vm, b->iov[i].iov_base, b->iov[i].iov_len);
	return (uint32_t)b->total;
}

static uint32_t net_send(struct vm *vm, struct dma_dev *dd, const struct dma_buf *b)
{
	ssize_t n;

	(void)vm;
	if (!b->n)
		return 0;
	do
		n = writev(dd->fd, b->iov, (int)b->n);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		dd->frames_dropped++;
		return 0; /* the guest counts a transmit error */
	}
	dd->frames_out++;
	return (uint32_t)n;
}

/* A block request: the page says what, the DMA sent carries the data of a
 * write, the buffer bound to the page's key takes the data of a read.  The
 * answer is page.result (1 done, 2 error) and the reply buffer's interrupt. */
static void block_request(struct vm *vm, struct dma_dev *dd, const struct dma_buf *send)
{
	uint8_t req[20];
	struct dma_buf reply;

	/* One copy of the request: the guest may scribble on its page. */
	if (!gm_read(&vm->mem, dd->page, req, sizeof(req))) {
		guest_kill(vm, "block: request page %#x unreadable", dd->page);
		return;
	}
	uint32_t type = le32_get(req + DMA_BLK_TYPE), sector = le32_get(req + DMA_BLK_SECTOR);
	uint32_t bytes = le32_get(req + DMA_BLK_BYTES);
	uint64_t off = (uint64_t)sector * 512;
	if (off >= dd->size) {
		guest_kill(vm, "block: sector %u is past the end of the disk (%llu sectors)",
			   sector, (unsigned long long)(dd->size / 512));
		return;
	}
	int r = dma_take(vm, dd->page, &reply);
	if (r < 0)
		return;
	if (r == 0) {
		guest_kill(vm, "block: request with no reply buffer bound to key %#x", dd->page);
		return;
	}
	ssize_t len;
	uint32_t reply_len = 0;
	if (type) {
		if (off + send->total > dd->size) {
			guest_kill(vm, "block: write of %llu bytes at sector %u runs past the end",
				   (unsigned long long)send->total, sector);
			return;
		}
		if (dd->readonly)
			len = -1; /* result 2: the guest sees an I/O error */
		else
			do
				len = pwritev(dd->fd, send->iov, (int)send->n, (off_t)off);
			while (len < 0 && errno == EINTR);
	} else {
		do
			len = preadv(dd->fd, reply.iov, (int)reply.n, (off_t)off);
		while (len < 0 && errno == EINTR);
		if (len > 0)
			reply_len = (uint32_t)len;
	}
	int32_t result = (len >= 0 && (uint64_t)len == bytes) ? 1 : 2;
	if (!gm_write32(&vm->mem, (uint64_t)dd->page + DMA_BLK_RESULT, (uint32_t)result)) {
		guest_kill(vm, "block: request page %#x unwritable", dd->page);
		return;
	}
	dma_complete(vm, &reply, reply_len);
}

void dma_send(struct vm *vm, uint32_t key, uint32_t dma)
{
	struct dma_buf b;

	if (!key_ok(vm, key)) {
		guest_kill(vm, "bad sending DMA key %#x", key);
		return;
	}
	if (!dma_buf_read(vm, dma, &b))
		return;
	struct dma_dev *dd = dev_by_send_key(vm, key);
	uint32_t used = 0;
	if (!dd) {
		/* In the reference another guest could be listening; here no
		 * one is.  used_len stays 0, as the guest set it. */
		LOG_DEBUG(vm, "SEND_DMA to key %#x: no device there", key);
		return;
	}
	switch (dd->type) {
	case DMA_T_CONSOLE:
		used = console_send(vm, &b);
		break;
	case DMA_T_NET:
		used = net_send(vm, dd, &b);
		break;
	case DMA_T_BLOCK:
		block_request(vm, dd, &b);
		return; /* answered through the page, not used_len */
	}
	if (!vm->dead && !gm_write32(&vm->mem, b.used_gpa, used))
		guest_kill(vm, "bad DMA struct address %#x", dma);
}

/* --- network input --------------------------------------------------------- */

#define NET_POLL_BUDGET 64 /* frames per poll: the guest has 8 buffers anyway */

static void net_poll(struct vm *vm, struct vdev *dev)
{
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];
	uint32_t key = dd->page + 4 * DMA_NET_GUEST_SLOT;
	static_assert(NET_FRAME_MAX <= 2048, "frame buffer");
	uint8_t frame[2048];

	for (unsigned n = 0; n < NET_POLL_BUDGET && !vm->dead; n++) {
		struct pollfd pfd = {.fd = dd->fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
			return;
		ssize_t len = read(dd->fd, frame, sizeof(frame));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return;
		/* No buffer (the interface is down, or the guest is behind):
		 * the frame is dropped, as the Launcher discarded it. */
		struct dma_buf b;
		int r = dma_take(vm, key, &b);
		if (r < 0)
			return;
		if (r == 0 || (size_t)len > b.total) {
			dd->frames_dropped++;
			continue;
		}
		dma_complete(vm, &b, buf_fill(&b, frame, (size_t)len));
		dd->frames_in++;
	}
}

static int net_pollfds(struct vm *vm, struct vdev *dev, struct pollfd *fds, int max)
{
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];

	if (max < 1 || dd->fd < 0)
		return 0;
	fds[0] = (struct pollfd){.fd = dd->fd, .events = POLLIN};
	return 1;
}

static void dev_teardown(struct vm *vm, struct vdev *dev)
{
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];

	if (dd->type == DMA_T_NET && vm->opt.verbose)
		log_msg("network (DMA bus): %llu frames in, %llu out, %llu dropped",
			(unsigned long long)dd->frames_in, (unsigned long long)dd->frames_out,
			(unsigned long long)dd->frames_dropped);
	if (dd->fd >= 0)
		close(dd->fd);
	dd->fd = -1;
}

/* A device page of its own, after the descriptor page and those before. */
static uint8_t *dev_page(struct vm *vm, struct vdev *dev)
{
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];
	return vbus_area_ptr(vm, dd->page, PAGE_SIZE);
}

int dma_add_disk_fd(struct vm *vm, const char *path, int fd, bool readonly)
{
	struct stat st;
	off_t size = lseek(fd, 0, SEEK_END);

	if (size < 0 || fstat(fd, &st) < 0) {
		log_msg("%s: cannot size the disk: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (size < 512) {
		log_msg("%s: a disk must hold at least one 512-byte sector", path);
		close(fd);
		return -1;
	}
	struct vdev *dev = vbus_add_device(vm, VIRTIO_ID_BLOCK, "block");
	if (!dev) {
		close(fd);
		return -1;
	}
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];
	dd->fd = fd;
	dev->backing_fd = fd;
	dd->readonly = readonly;
	/* num_sectors is 32 bits: a disk past 2 TiB shows its first 2 TiB. */
	uint64_t sectors = (uint64_t)size / 512;
	if (sectors > UINT32_MAX)
		sectors = UINT32_MAX;
	dd->size = sectors * 512;
	le32_put(dev_page(vm, dev) + DMA_BLK_NUM_SECTORS, (uint32_t)sectors);
	dev->teardown = dev_teardown;
	return 0;
}

int dma_add_net_fd(struct vm *vm, int fd, const uint8_t mac[6])
{
	struct vdev *dev = vbus_add_device(vm, VIRTIO_ID_NET, "network");
	if (!dev) {
		close(fd);
		return -1;
	}
	struct dma_dev *dd = &vm->bus.dma.dev[dev_index(vm, dev)];
	dd->fd = fd;
	/* Slot 0 of the page of MACs is ours (the guest sends to key page + 0);
	 * bit 0 of the first byte says "promiscuous: send me everything",
	 * which is what the Launcher set for its tap. */
	uint8_t *page = dev_page(vm, dev);
	memcpy(page, mac, 6);
	page[0] |= 0x01;
	dev->poll = net_poll;
	dev->pollfds = net_pollfds;
	dev->teardown = dev_teardown;
	return 0;
}

int dma_add_net(struct vm *vm, const char *tap, const char *ip)
{
	char name[IFNAMSIZ];
	uint8_t mac[6];
	int fd = net_tap_open(vm, tap, ip, mac, name);
	if (fd < 0 || dma_add_net_fd(vm, fd, mac) < 0)
		return -1;
	snprintf(vm->bus.devs[vm->bus.ndevs - 1].host_name, IFNAMSIZ, "%s", name);
	return 0;
}

/* --- the transport ------------------------------------------------------------- */

static int dma_add_device(struct vm *vm, struct vdev *dev)
{
	struct vbus *bus = &vm->bus;
	unsigned idx = dev_index(vm, dev);
	uint8_t type = lguest_type(dev->type);

	if (idx >= DMA_MAX_DEVS || !type) {
		log_msg("%s: no room on the 2.6.23 device bus", dev->name);
		return -1;
	}
	if (!bus->dma.guestid && (getrandom(&bus->dma.guestid, 2, 0) != 2 || !bus->dma.guestid))
		bus->dma.guestid = 0x6c67; /* "lg": any value will do */
	struct dma_dev *dd = &bus->dma.dev[idx];
	memset(dd, 0, sizeof(*dd));
	dd->type = type;
	dd->fd = -1;
	uint16_t features = 0, pages = 0;
	if (type != DMA_T_CONSOLE) {
		/* One page: the block request, or the table of MACs. */
		if (!vbus_area_ptr(vm, bus->next_gpa, PAGE_SIZE)) {
			log_msg("%s: no room for its page in the device area", dev->name);
			return -1;
		}
		dd->page = (uint32_t)bus->next_gpa;
		memset(vbus_area_ptr(vm, dd->page, PAGE_SIZE), 0, PAGE_SIZE);
		bus->next_gpa += PAGE_SIZE;
		pages = 1;
		features = DMA_F_RANDOMNESS | (type == DMA_T_NET ? DMA_NET_GUEST_SLOT : 0);
	}
	uint8_t *desc = vbus_area_ptr(vm, bus->page_gpa + idx * DMA_DESC_LEN, DMA_DESC_LEN);
	if (!desc)
		return -1;
	le16_put(desc, type);
	le16_put(desc + 2, features);
	le16_put(desc + 4, 0);
	le16_put(desc + 6, pages);
	le32_put(desc + 8, dd->page / PAGE_SIZE);
	dev->desc_off = idx * DMA_DESC_LEN;
	/* The guest's driver takes interrupt index + 1 (lgdev_irq). */
	dev->irq = (uint8_t)(idx + 1);
	return 0;
}

static int dma_add_config(struct vm *vm, struct vdev *dev, uint8_t v1_type, int feature,
			  unsigned offset, uint8_t len, const void *val)
{
	(void)vm, (void)dev, (void)v1_type, (void)feature, (void)offset, (void)len, (void)val;
	return 0; /* no config space on this bus */
}

/* The console asks for its two virtqueues as on any bus; here they stay
 * unready, so it never finds a buffer in them: its output arrives by
 * SEND_DMA to key 0 instead. */
static int dma_add_queue(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	(void)vm;
	q->irq = dev->irq;
	return 0;
}

static int dma_finish(struct vm *vm)
{
	(void)vm;
	return 0; /* every descriptor was written as its device came */
}

static uint8_t dma_status(const struct vm *vm, const struct vdev *dev)
{
	return devpage_status(vm, dev, 4);
}

static void dma_interrupt(struct vm *vm, struct vqueue *q)
{
	vm_raise_irq(vm, q->irq);
}

const struct vtransport dma_bus = {
	.name = "dma-bus",
	.add_device = dma_add_device,
	.add_config = dma_add_config,
	.add_queue = dma_add_queue,
	.finish = dma_finish,
	.status = dma_status,
	.interrupt = dma_interrupt,
	.limit = devpage_limit,
};
