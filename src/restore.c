/* `lgkvm restore STATE` (docs/DESIGN.md §14, README "Snapshots").
 *
 * A restore builds the VM the way the run that took the snapshot built it --
 * the same generation, RAM, monitor settings and devices in the same order,
 * so that every address, slot and IRQ derived from that order comes out the
 * same -- and then, instead of loading a kernel, puts the snapshot back:
 *
 *   guest memory   the memory file mapped over guest RAM, private and
 *                  copy-on-write: a page is read from the file the first
 *                  time the guest (or KVM, or a device) touches it, so the
 *                  guest runs before its memory is read (as Firecracker
 *                  does); a hole reads as zeros;
 *   the monitor    its writable pages as they were (the GDT, TSS and IDT the
 *                  guest set, its stack, the shared words, its page tables);
 *                  its code and configuration are never taken from a file:
 *                  they are this lgkvm's, and the snapshot must have been
 *                  taken with the very same code (monitor-crc);
 *   lguest         struct lguest's fields, then the monitor configured for
 *                  the guest as LGUEST_INIT would (lg_fastpath_enable);
 *   the bus        each device's rings and transport (virtio/bus_state.c),
 *                  through the checks the guest's own writes meet;
 *   the vCPU       last: TSC first, so guest time continues from where it
 *                  stopped (its clocks and the monitor's deadlines count the
 *                  TSC), then registers, FPU, LAPIC, events, MP state -- each
 *                  checked by KVM as it would check ours.
 *
 * The disks must be the ones the snapshot was taken with, unchanged: a
 * guest that finds its filesystem altered under its page cache corrupts it.
 * Size, modification time and a hash of the first 64 KiB are compared, and
 * a difference is refused with a sentence unless --force. */
#include "src/restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-glue/vcpu.h"
#include "kvm-glue/vcpu_state.h"
#include "pvabi/host.h"
#include "src/exitcodes.h"
#include "src/files.h"
#include "src/log.h"
#include "src/options.h"
#include "src/snapshot.h"
#include "src/snapshot_format.h"
#include "src/vm.h"

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int restore_read_state(const char *path, struct snap *s, char *err, size_t errlen)
{
	struct run_file rf;
	struct stat st;
	if (files_open_input(&rf, FILE_STATE, path, err, errlen) < 0)
		return EXIT_USAGE;
	if (fstat(rf.fd, &st) == 0 && (uint64_t)st.st_size > SNAP_STATE_MAX) {
		close(rf.fd);
		return fail(err, errlen, EXIT_BAD_SNAPSHOT,
			    "%s: %lld bytes is far too big for a state file", path,
			    (long long)st.st_size);
	}
	size_t len = 0;
	uint8_t *buf = files_read(&rf, SNAP_STATE_MAX, &len, err, errlen);
	close(rf.fd);
	if (!buf)
		return EXIT_USAGE;
	char why[400];
	int r = snap_decode(buf, len, s, why, sizeof(why));
	free(buf);
	if (r < 0)
		return fail(err, errlen, EXIT_BAD_SNAPSHOT, "%s: %s", path, why);
	return EXIT_POWEROFF;
}

int restore_options(struct options *opt, const struct snap *s, char *err, size_t errlen)
{
	opt->mem = s->ram;
	opt->abi = s->generation;
	opt->pae = s->pae;
	opt->no_fast_path = !s->fast_path;
	opt->no_irqchip = !s->irqchip;
	/* What a restart of the restored guest boots. */
	opt->kernel = s->kernel[0] ? s->kernel : NULL;
	opt->initrd = s->initrd[0] ? s->initrd : NULL;
	snprintf(opt->cmdline, sizeof(opt->cmdline), "%s", s->cmdline);
	/* The tap is made again, and its host side addressed as it was. */
	if (!opt->net_ip && s->net_ip[0])
		opt->net_ip = s->net_ip;
	/* Devices: the snapshot's, the console last. */
	if (!s->ndevs || s->dev[s->ndevs - 1].type != VIRTIO_ID_CONSOLE) {
		snprintf(err, errlen, "the snapshot's last device is not the console");
		return EXIT_BAD_SNAPSHOT;
	}
	unsigned n = s->ndevs - 1;
	if (n > OPT_MAX_DEVICES) {
		snprintf(err, errlen, "the snapshot has %u devices; lgkvm takes at most %u", n,
			 (unsigned)OPT_MAX_DEVICES);
		return EXIT_BAD_SNAPSHOT;
	}
	bool given = opt->ndevices > 0;
	if (given && opt->ndevices != n) {
		snprintf(err, errlen,
			 "the snapshot has %u disk and network devices and the command line %u: "
			 "give all of them, in the snapshot's order, or none",
			 n, opt->ndevices);
		return EXIT_USAGE;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct snap_dev *d = &s->dev[i];
		struct opt_device *o = &opt->devices[i];
		unsigned want = d->type == VIRTIO_ID_BLOCK ? DEV_DISK
				: d->type == VIRTIO_ID_NET ? DEV_NET
							   : 0;
		if (!want) {
			snprintf(err, errlen, "the snapshot's device %u is a second console", i);
			return EXIT_BAD_SNAPSHOT;
		}
		if (given && o->type != want) {
			snprintf(err, errlen, "device %u of the snapshot is a %s, not a %s", i,
				 want == DEV_DISK ? "--disk" : "--net",
				 o->type == DEV_DISK ? "--disk" : "--net");
			return EXIT_USAGE;
		}
		if (!given) {
			o->type = want;
			o->path = d->path[0] ? d->path : NULL;
			o->readonly = d->readonly;
			if (want == DEV_DISK && !o->path) {
				snprintf(err, errlen, "the snapshot's disk %u has no file name", i);
				return EXIT_BAD_SNAPSHOT;
			}
		}
	}
	opt->ndevices = n;
	return EXIT_POWEROFF;
}

int restore_open_memory(const char *state_path, const struct snap *s, int *code, char *err,
			size_t errlen)
{
	char path[SNAP_PATH_MAX + 300];
	const char *slash = strrchr(state_path, '/');
	if (slash)
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - state_path), state_path,
			 s->mem_file);
	else
		snprintf(path, sizeof(path), "%s", s->mem_file);
	struct stat st;
	struct run_file rf;
	if (files_open_input(&rf, FILE_MEM, path, err, errlen) < 0 || fstat(rf.fd, &st) < 0) {
		if (rf.fd >= 0)
			close(rf.fd);
		*code = EXIT_USAGE;
		return -1;
	}
	int fd = rf.fd;
	struct snap_mem_header h;
	const char *why = NULL;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		why = "too short for its header";
	else if (memcmp(h.magic, SNAP_MEM_MAGIC, sizeof(h.magic)))
		why = "not an lgkvm memory file";
	else if (h.format != SNAP_FORMAT || h.header_size != SNAP_MEM_HDR)
		why = "another format's";
	else if (memcmp(h.id, s->id, sizeof(h.id)))
		why = "another snapshot's (its id differs from the state file's)";
	else if (h.mem_size != s->mem_size || (uint64_t)st.st_size != SNAP_MEM_HDR + s->mem_size)
		why = "truncated, or not the size the state file says";
	if (why) {
		close(fd);
		*code = fail(err, errlen, EXIT_BAD_SNAPSHOT, "%s: %s", path, why);
		return -1;
	}
	return fd;
}

/* Is every disk the one the snapshot was taken with, unchanged? */
static int check_disks(struct vm *vm, char *err, size_t errlen)
{
	const struct snap *s = vm->snap;
	for (unsigned i = 0; i < vm->bus.ndevs && i < s->ndevs; i++) {
		const struct vdev *dev = &vm->bus.devs[i];
		const struct snap_dev *d = &s->dev[i];
		if (dev->type != VIRTIO_ID_BLOCK || dev->backing_fd < 0)
			continue;
		uint64_t size, hash;
		int64_t mtime;
		const char *path = vm->opt.devices[i].path;
		if (snapshot_disk_identity(dev->backing_fd, &size, &mtime, &hash) < 0)
			return fail(err, errlen, EXIT_USAGE, "--disk %s: cannot read it: %s", path,
				    strerror(errno));
		const char *why = size != d->disk_size	      ? "its size"
				  : hash != d->disk_head_hash ? "its first 64 KiB"
				  : mtime != d->disk_mtime_ns ? "its modification time"
							      : NULL;
		if (why && !vm->opt.force)
			return fail(
				err, errlen, EXIT_USAGE,
				"--disk %s: %s changed since the snapshot was taken (from %s): the "
				"guest's view of it would be wrong and its filesystem at risk; "
				"give the disk as it was, or --force",
				path, why, d->path);
		if (why)
			log_msg("--disk %s: %s changed since the snapshot; going on (--force)",
				path, why);
	}
	return EXIT_POWEROFF;
}

int restore_machine(struct vm *vm, int mem_fd, char *err, size_t errlen)
{
	const struct snap *s = vm->snap;
	struct lguest *lg = &vm->lg;
	int code = check_disks(vm, err, errlen);
	if (code)
		return code;
	if (s->monitor_crc != snapshot_monitor_crc())
		return fail(err, errlen, EXIT_BAD_SNAPSHOT,
			    "the snapshot was taken by lgkvm %s, whose in-VM monitor is not this "
			    "lgkvm's (%s): restore it with that lgkvm",
			    s->version, lgkvm_version());
	if (s->irqchip != vm->kvm.irqchip)
		return fail(err, errlen, EXIT_HOST,
			    "the snapshot's guest ran %s an in-kernel LAPIC, and on this host "
			    "lgkvm runs it %s",
			    s->irqchip ? "with" : "without", vm->kvm.irqchip ? "with" : "without");
	/* The rate the guest was told at LGUEST_INIT and counts its time by. */
	if (s->tsc_khz && vm->kvm.tsc_khz &&
	    (vm->kvm.tsc_khz > s->tsc_khz + s->tsc_khz / 100 ||
	     vm->kvm.tsc_khz + s->tsc_khz / 100 < s->tsc_khz))
		log_msg("the snapshot's TSC ran at %u kHz and this one runs at %u kHz: the "
			"guest's clock will run at the wrong rate",
			s->tsc_khz, vm->kvm.tsc_khz);
	if (s->tsc_khz)
		vm->kvm.tsc_khz = s->tsc_khz;

	/* Guest memory: the file, private and copy-on-write, over the
	 * anonymous mapping KVM's memory slot points at. */
	void *p = mmap(vm->kvm.ram, s->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
		       mem_fd, SNAP_MEM_HDR);
	if (p == MAP_FAILED)
		return fail(err, errlen, EXIT_INTERNAL, "mapping the snapshot's memory: %s",
			    strerror(errno));

	/* The monitor's writable pages; its code and configuration are ours. */
	uint8_t *mon = vm->kvm.mon.host;
	const uint32_t ro_lo = MON_RO_FIRST * 4096u, ro_hi = (MON_RO_FIRST + MON_RO_PAGES) * 4096u;
	memcpy(mon, s->monitor, ro_lo);
	memcpy(mon + ro_hi, s->monitor + ro_hi, MON_SIZE - ro_hi);

	lg->lguest_data = s->lg.lguest_data;
	lg->noirq_start = s->lg.noirq_start;
	lg->noirq_end = s->lg.noirq_end;
	lg->kernel_address = s->lg.kernel_address;
	lg->boot_pgdir = s->lg.boot_pgdir;
	lg->pgdir = s->lg.pgdir;
	lg->ts = s->lg.ts;
	/* A guest held in lgkvm's own halt sleep wakes once, as a halted
	 * guest may at any time (it looks and halts again). */
	atomic_store(&lg->halted, false);

	if (vbus_state_load(vm, s, err, errlen) < 0)
		return EXIT_BAD_SNAPSHOT;
	if (s->lg.initialized) {
		atomic_store(&lg->initialized, true);
		lg_fastpath_enable(vm);
	}
	if (s->lg.clock_left_ns && !atomic_load(&lg->clock_in_vm))
		lg->clock_deadline_ns = now_ns() + s->lg.clock_left_ns;
	lg_irq_set(vm, s->lg.pending);

	char why[400];
	if (vcpu_state_set(vm, &s->cpu, why, sizeof(why)) < 0)
		return fail(err, errlen, EXIT_BAD_SNAPSHOT,
			    "KVM refused the snapshot's vCPU state: %s", why);
	vm->restored = true;
	return EXIT_POWEROFF;
}

void restore_resume(struct vm *vm)
{
	/* A migration: the source may end now (and must not before). */
	if (vm->has_mig_fd) {
		if (write(vm->mig_fd, "ok\n", 3) != 3)
			log_msg("telling the migration's source: %s", strerror(errno));
		LOG_DEBUG(vm, "migration: the guest runs here %.1f ms after its state came",
			  (double)(now_ns() - vm->mig_state_ns) / 1e6);
		close(vm->mig_fd);
		vm->has_mig_fd = false;
	}
	vbus_kick_all(vm);
	if (atomic_load(lg_pending(vm))) {
		lg_write_time(vm);
		vcpu_request_kick(vm);
	}
}
