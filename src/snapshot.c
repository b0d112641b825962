/* Taking a snapshot (docs/DESIGN.md §14, README "Snapshots").
 *
 * The vCPU thread does it, held at a pause point (src/api.c): it owns the
 * lguest state, and between exits nothing of the guest moves but the device
 * threads.  Those are held next (vbus_hold): a disk first completes every
 * request it has in flight and flushes the file, so that whatever the guest
 * has been told is written is in the file the snapshot names, and nothing
 * half done is left for a restore to lose.  Then, with nothing moving:
 *
 *   the memory file   a header page (magic, format, the snapshot's id, the
 *                     size), then guest RAM and the device area page for
 *                     page; a page of zeros is not written, so it stays a
 *                     hole and costs nothing on disk;
 *   the state file    everything else (src/snapshot_format.c), written last,
 *                     so that a state file that exists names a memory file
 *                     that is complete.
 *
 * Both are flushed (fdatasync) before the guest may go on. */
#include "src/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <x86intrin.h>
#include <zlib.h>

#include "kvm-glue/vcpu_state.h"
#include "pvabi/host.h"
#include "src/fullio.h"
#include "src/snapshot_format.h"
#include "src/vm.h"

#define PAGE	 4096u
#define RUN_MAX	 (1u << 20) /* write at most this much guest memory per call */
#define HEAD_LEN (64u * 1024)

uint32_t snapshot_monitor_crc(void)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, monitor_stubs_start, monitor_stubs_size);
	crc = crc32(crc, monitor_code_start, monitor_code_size);
	return (uint32_t)crc;
}

int snapshot_disk_identity(int fd, uint64_t *size, int64_t *mtime_ns, uint64_t *head_hash)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	*size = (uint64_t)st.st_size;
	*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	static uint8_t buf[HEAD_LEN];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	ssize_t n = preadv(fd, &iov, 1, 0);
	if (n < 0)
		return -1;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (ssize_t i = 0; i < n; i++)
		h = (h ^ buf[i]) * 0x100000001b3ull;
	*head_hash = h;
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Guest memory, runs of non-zero pages at a time. */
static int write_memory(struct vm *vm, const struct snap *s, int fd, uint64_t *written)
{
	struct snap_mem_header h = {
		.format = SNAP_FORMAT, .header_size = SNAP_MEM_HDR, .mem_size = s->mem_size};
	memcpy(h.magic, SNAP_MEM_MAGIC, sizeof(h.magic));
	memcpy(h.id, s->id, sizeof(h.id));
	uint8_t page[SNAP_MEM_HDR] = {0};
	memcpy(page, &h, sizeof(h));
	if (pwrite_full(fd, page, sizeof(page), 0) < 0)
		return -1;
	const uint8_t *mem = vm->mem.base;
	*written = 0;
	for (uint64_t off = 0; off < s->mem_size;) {
		if (page_zero(mem + off)) {
			off += PAGE;
			continue;
		}
		uint64_t end = off + PAGE;
		while (end < s->mem_size && end - off < RUN_MAX && !page_zero(mem + end))
			end += PAGE;
		if (pwrite_full(fd, mem + off, end - off, SNAP_MEM_HDR + off) < 0)
			return -1;
		*written += end - off;
		off = end;
	}
	/* The holes up to the end, and everything on the disk. */
	if (ftruncate(fd, (off_t)(SNAP_MEM_HDR + s->mem_size)) < 0 || fdatasync(fd) < 0)
		return -1;
	return 0;
}

/* The machine, the vCPU, the lguest host, the monitor, the bus. */
int snapshot_gather(struct vm *vm, struct snap *s, const char *mem_name, char *err, size_t errlen)
{
	const struct options *opt = &vm->opt;
	s->format = SNAP_FORMAT;
	snprintf(s->version, sizeof(s->version), "%s", lgkvm_version());
	/* Ties the two files together; it need not be secret, only unlikely
	 * to repeat. */
	uint64_t a = now_ns() ^ ((uint64_t)getpid() << 40), b = __rdtsc();
	memcpy(s->id, &a, 8);
	memcpy(s->id + 8, &b, 8);
	snprintf(s->generation, sizeof(s->generation), "%s", vm->lg.abi->name);
	s->pae = vm->lg.pae;
	s->fast_path = !opt->no_fast_path;
	s->irqchip = vm->kvm.irqchip;
	s->ram = opt->mem;
	s->mem_size = vm->mem.size;
	s->tsc_khz = vm->kvm.tsc_khz;
	s->monitor_crc = snapshot_monitor_crc();
	snprintf(s->kernel, sizeof(s->kernel), "%s", opt->kernel ? opt->kernel : "");
	snprintf(s->initrd, sizeof(s->initrd), "%s", opt->initrd ? opt->initrd : "");
	snprintf(s->cmdline, sizeof(s->cmdline), "%s", opt->cmdline);
	snprintf(s->net_ip, sizeof(s->net_ip), "%s", opt->net_ip ? opt->net_ip : "");
	snprintf(s->mem_file, sizeof(s->mem_file), "%s", mem_name);

	if (vcpu_state_get(vm, &s->cpu, err, errlen) < 0)
		return -1;

	const struct lguest *lg = &vm->lg;
	struct snap_lguest *g = &s->lg;
	g->initialized = lg->initialized;
	g->lguest_data = lg->lguest_data;
	g->noirq_start = lg->noirq_start;
	g->noirq_end = lg->noirq_end;
	g->kernel_address = lg->kernel_address;
	g->boot_pgdir = lg->boot_pgdir;
	g->pgdir = lg->pgdir;
	g->ts = lg->ts;
	g->halted = atomic_load(&lg->halted);
	g->pending = atomic_load(lg_pending(vm));
	uint64_t now = now_ns();
	if (lg->clock_deadline_ns)
		g->clock_left_ns = lg->clock_deadline_ns > now ? lg->clock_deadline_ns - now : 1;

	memcpy(s->monitor, vm->kvm.mon.host, MON_SIZE);

	vbus_state_save(vm, s);
	for (unsigned i = 0; i < s->ndevs; i++) {
		struct vdev *dev = &vm->bus.devs[i];
		struct snap_dev *d = &s->dev[i];
		if (dev->type == VIRTIO_ID_NET)
			snprintf(d->path, sizeof(d->path), "%s", dev->host_name);
		else if (dev->type == VIRTIO_ID_BLOCK && i < opt->ndevices) {
			snprintf(d->path, sizeof(d->path), "%s", opt->devices[i].path);
			d->readonly = opt->devices[i].readonly;
			if (dev->backing_fd < 0 ||
			    snapshot_disk_identity(dev->backing_fd, &d->disk_size,
						   &d->disk_mtime_ns, &d->disk_head_hash) < 0) {
				snprintf(err, errlen, "--disk %s: cannot read its identity: %s",
					 d->path, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

int snapshot_take(struct vm *vm, int state_fd, int mem_fd, const char *mem_name,
		  struct snapshot_result *res, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	memset(res, 0, sizeof(*res));
	if (!vm->lg.abi) {
		snprintf(err, errlen, "the guest has not started yet");
		return -1;
	}
	struct snap *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory for the snapshot");
		return -1;
	}
	int r = -1;
	void *fdt = NULL;
	size_t len = 0;
	if (!vbus_hold(vm, true)) {
		snprintf(err, errlen,
			 "a device did not come to rest within its time; no snapshot "
			 "was taken");
		free(s);
		return -1;
	}
	if (snapshot_gather(vm, s, mem_name, err, errlen) < 0)
		goto out;
	if (write_memory(vm, s, mem_fd, &res->mem_bytes) < 0) {
		snprintf(err, errlen, "writing the memory file: %s", strerror(errno));
		goto out;
	}
	if (!(fdt = snap_encode(s, &len, err, errlen)))
		goto out;
	if (pwrite_full(state_fd, fdt, len, 0) < 0 || fdatasync(state_fd) < 0) {
		snprintf(err, errlen, "writing the state file: %s", strerror(errno));
		goto out;
	}
	res->state_bytes = len;
	r = 0;
out:
	vbus_hold(vm, false);
	free(fdt);
	free(s);
	res->ms = (now_ns() - t0) / 1000000;
	return r;
}
