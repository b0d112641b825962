/* lgkvm: the program.
 *
 * The order of a boot, like the Launcher's main(): read the images, decide
 * which lguest generation the kernel speaks, probe KVM, lay out guest memory
 * (kernel, initrd, zero page, boot page tables, then the device page and
 * rings above RAM), set the vCPU to the lguest entry state, and run until the
 * guest powers off, crashes, breaks the rules or runs out of time -- or asks
 * to be started again, which it is, in a fresh process.  The process exit
 * status says which (src/exitcodes.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm-glue/vcpu.h"
#include "pvabi/boot.h"
#include "pvabi/boot_g0.h"
#include "pvabi/host.h"
#include "pvabi/inspect.h"
#include "src/batch_cli.h"
#include "src/files.h"
#include "src/log.h"
#include "src/migrate.h"
#include "src/restore.h"
#include "src/run.h"
#include "src/sandbox.h"
#include "src/signals.h"
#include "src/snapshot_format.h"
#include "src/vm.h"
#include "virtio/console.h"
#include "virtio/transport.h"

#define IMAGE_MAX (512u << 20) /* no lguest kernel or initrd comes near this */
/* --migrate-every's longest wait for a move's answer: the source bounds every
 * step of it itself (src/migrate.c: rounds, the final step, the
 * destination's word), well within this; it is the supervisor's last guard. */
#define MOVE_WAIT_S 600

static int cmd_probe(struct options *opt)
{
	char err[512];
	if (kvm_probe_32bit(err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return EXIT_HOST;
	}
	if (!opt->quiet)
		printf("lgkvm: this host's KVM runs 32-bit paged guests: 32-bit paging works\n");
	return EXIT_POWEROFF;
}

/* Decide KERNEL's generation, as `run` does before it boots.  The image was
 * read by files_read(); `info` is always initialised. */
static int inspect_kernel(const struct options *opt, const uint8_t *kernel, size_t klen,
			  struct image_info *info)
{
	/* A bzImage whose payload is an ELF (boot protocol 2.08+, 2.6.26 on)
	 * is booted decompressed: the guest's decompressor never runs.  That
	 * saves its time at every boot, and it sidesteps decompressors that
	 * were built broken (a 3.x decompressor linked by binutils >= 2.26
	 * relaxes its GOT loads and cannot relocate itself) or that want
	 * setup-header fields the Launcher never gave (kernel_alignment,
	 * init_size, docs/abi.md §H1.4). */
	return image_inspect(kernel, klen, opt->abi ? abi_by_name(opt->abi) : NULL, opt->pae, true,
			     info);
}

static int cmd_inspect(struct options *opt)
{
	char err[512];
	size_t klen = 0;
	uint8_t *kernel = NULL;
	struct run_files files;
	if (files_open(&files, opt, err, sizeof(err)) < 0 ||
	    !(kernel = files_read(&files.kernel, IMAGE_MAX, &klen, err, sizeof(err)))) {
		log_msg("%s", err);
		files_close(&files);
		return EXIT_USAGE;
	}
	files_close(&files);
	struct image_info in;
	int r = inspect_kernel(opt, kernel, klen, &in);
	const struct lguest_abi *abi = in.gen < GEN_COUNT ? abi_get(in.gen) : NULL;
	/* 2.6.23: where the marker is and which PAGE_OFFSET, as `run` finds them. */
	struct g0_kernel g0 = {0};
	if (r == 0 && abi && abi->paging == PAGING_PAGE_OFFSET &&
	    boot_g0_prepare(kernel, klen, &g0, in.reason, sizeof(in.reason)) < 0)
		r = -1;
	free(g0.elf);
	printf("file:        %s (%zu bytes)\n", opt->kernel, klen);
	if (in.bzimage)
		printf("format:      bzImage, boot protocol %u.%02u\n",
		       (unsigned)(in.protocol >> 8), (unsigned)(in.protocol & 0xFF));
	else
		printf("format:      ELF vmlinux\n");
	printf("compression: %s\n", in.compression ? in.compression : "unknown");
	printf("version:     %s\n", in.has_version ? in.version : "(none found)");
	if (g0.entry_pa)
		printf("entry:       after GenuineLguest: physical %#x, PAGE_OFFSET %#x, "
		       "entered at virtual %#x\n",
		       g0.entry_pa, g0.page_offset, g0.entry_pa + g0.page_offset);
	else if (in.fp_found)
		printf("entry:       lguest_entry at offset %#x of the kernel, lguest_data at "
		       "physical %#x (%s-era pattern)\n",
		       in.entry_pa, in.lguest_data_pa,
		       in.fp_first == in.fp_last ? abi_get(in.fp_first)->name
						 : (in.fp_last == GEN_G2   ? "G1-G2"
						    : in.fp_last == GEN_G5 ? "G4-G5"
									   : "G7-G10"));
	else
		printf("entry:       %s\n", in.fp_searched ? "no lguest_entry found"
							   : "not checked (payload not opened)");
	if (abi)
		printf("generation:  %s (Linux %s, lguest_data layout %s)%s\n", abi->name,
		       abi->kernels, abi->layout, opt->abi ? ", from --abi" : "");
	else
		printf("generation:  unknown\n");
	printf("pae:         %s\n", !in.pae_known ? "unknown" : in.pae ? "yes" : "no");
	if (abi && abi->vmcall)
		printf("vmcall:      %u sites rewritten to int $0x1f at load\n", in.vmcall_sites);
	if (r == 0)
		printf("boots:       %s\n",
		       g0.entry_pa && in.bzimage ? "the kernel unpacked from the file, at 1 MiB"
		       : !in.boots_elf		 ? "the file as it is"
		       : in.bzimage		 ? "the decompressed kernel (ELF), directly"
						 : "a copy of the file, its vmcalls rewritten");
	if (in.note[0])
		printf("note:        %s\n", in.note);
	printf("bootable:    %s\n", r == 0 ? "yes" : "no");
	if (r < 0)
		log_msg("%s: %s", opt->kernel, in.reason);
	image_info_free(&in);
	free(kernel);
	return r == 0 ? EXIT_POWEROFF : EXIT_USAGE;
}

static void report(struct vm *vm)
{
	switch (vm->exit_code) {
	case EXIT_POWEROFF:
		if (!vm->opt.quiet)
			log_msg("guest powered off");
		break;
	case EXIT_GUEST_CRASH:
		log_msg("guest crashed: %s", vm->exit_reason);
		break;
	case EXIT_GUEST_KILLED:
		log_msg("guest killed: %s", vm->exit_reason);
		break;
	case EXIT_MIGRATED: /* --migrate-every says how many times, at the end */
		if (!vm->opt.quiet && !vm->opt.migrate_every)
			log_msg("%s", vm->exit_reason);
		break;
	default:
		log_msg("%s", vm->exit_reason);
		break;
	}
	if (vm->opt.verbose)
		log_msg("boot to end: %.3f ms (lgkvm start to exit: %.3f ms)",
			(double)(vm->end_ns - vm->boot_ns) / 1e6,
			(double)(vm->end_ns - vm->start_ns) / 1e6);
	uint32_t mon_irqs = vm->kvm.mon.host ? monitor_shared(&vm->kvm.mon)->handled_irqs : 0;
	if (vm->opt.verbose)
		log_msg("%llu interrupts delivered (%u of them by the monitor alone), %.3f ms "
			"halted, %llu vmcalls rewritten at run time",
			(unsigned long long)vm->lg.stats_irqs + mon_irqs, mon_irqs,
			(double)vm->lg.stats_halt_ns / 1e6,
			(unsigned long long)vm->lg.stats_vmcall_fixups);
	if (vm->opt.verbose)
		run_report(vm);
	if (vm->opt.verbose && vm->bus.tp == &virtio_pci)
		log_msg("virtio-pci: %llu MMIO instructions KVM could not fetch, done by lgkvm",
			(unsigned long long)vm->lg.mmio_emulated);
}

/* Devices in command-line order, then the console, last, as the Launcher
 * did: the order fixes the guest's device names.  The device page's format
 * is the generation's.  EXIT_POWEROFF (0) when all are in, else the exit
 * status, after one sentence. */
static int add_devices(struct vm *vm, struct run_files *files, const struct lguest_abi *abi)
{
	const struct options *opt = &vm->opt;
	char err[512];
	int dev_err = vbus_init(vm);
	for (unsigned i = 0; i < opt->ndevices && !dev_err; i++) {
		const struct opt_device *d = &opt->devices[i];
		bool dma = abi->transport == TRANSPORT_DMA; /* 2.6.23's own bus */
		if (d->type == DEV_DISK)
			dev_err = (dma ? dma_add_disk_fd : vbus_add_disk_fd)(
				vm, d->path, files_take(&files->disk[i]), d->readonly);
		else
			dev_err = (dma ? dma_add_net : vbus_add_net)(vm, d->path, opt->net_ip);
	}
	/* The console log is created or emptied only now, every check passed
	 * (after a restart it is kept, and the new boot's output follows). */
	if (!dev_err && files_log_ready(files, opt->log_keep, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return EXIT_USAGE;
	}
	if (dev_err < 0 || vbus_add_console_fd(vm, files_take(&files->log)) < 0 ||
	    vbus_finish(vm) < 0) {
		log_msg("%s", vm->exit_reason[0] ? vm->exit_reason : "cannot set up devices");
		return vm->exit_code ? (int)vm->exit_code : EXIT_INTERNAL;
	}
	vm->mem.limit = vbus_limit(vm);
	return EXIT_POWEROFF;
}

/* The VM is built, its devices in and its vCPU set: the last set-up the
 * sandbox would forbid, the sandbox, and the run.  The exit status. */
static int run_guest(struct vm *vm, const struct lguest_abi *abi, uint64_t t_files, uint64_t t_vm,
		     uint64_t t_test)
{
	const struct options *opt = &vm->opt;
	char err[512] = "";
	/* Everything is opened, mapped and started: from here on the process
	 * needs only what the run loop does, and the sandbox allows no more
	 * (src/sandbox.c).  The loop's lazy setup must happen first. */
	if (vcpu_prepare(vm) < 0)
		snprintf(err, sizeof(err), "setting up the vCPU's signals: %s", strerror(errno));
	if (abi->transport == TRANSPORT_PCI && !lg_decoder_open(vm))
		snprintf(err, sizeof(err), "cannot set up the instruction decoder (Capstone)");
	vm->api.listen_fd = -1;
	if (opt->api_sock && (api_open(vm, opt->api_sock, err, sizeof(err)) < 0 ||
			      api_start(vm, err, sizeof(err)) < 0)) {
		log_msg("%s", err);
		vbus_teardown(vm);
		return EXIT_USAGE;
	}
	if (poller_start(vm, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		vbus_teardown(vm);
		return EXIT_INTERNAL;
	}
	uint64_t t_sandbox = now_ns();
	if (!vm->kvm.timer_set || (abi->transport == TRANSPORT_PCI && !vm->lg.decoder) ||
	    (!opt->no_sandbox && sandbox_enter(vm, err, sizeof(err)) < 0)) {
		log_msg("%s", err);
		vbus_teardown(vm);
		return EXIT_INTERNAL;
	}
	if (opt->timeout_s && !vm->timeout_deadline)
		vm->timeout_deadline = now_ns() + (uint64_t)opt->timeout_s * 1000000000u;

	vm->boot_ns = now_ns();
	/* Where a farm's per-guest set-up goes (docs/DESIGN.md §3.6). */
	LOG_DEBUG(vm,
		  "set-up %.1f ms: files and image %.1f, VM and vCPU %.1f, self-test %.1f, "
		  "load and devices %.1f, sandbox %.1f",
		  (double)(vm->boot_ns - vm->start_ns) / 1e6,
		  (double)(t_files - vm->start_ns) / 1e6, (double)(t_vm - t_files) / 1e6,
		  (double)(t_test - t_vm) / 1e6, (double)(t_sandbox - t_test) / 1e6,
		  (double)(vm->boot_ns - t_sandbox) / 1e6);
	/* A restored guest: its devices look at their rings once, and an
	 * interrupt it had pending goes in (src/restore.c). */
	if (vm->restored)
		restore_resume(vm);
	int code = vm_run(vm);
	vm->end_ns = now_ns();
	vbus_teardown(vm);
	report(vm);
	return code;
}

/* KVM, the VM and its vCPU for a generation-`abi` guest, tested before it is
 * trusted with the guest: a KVM that cannot run 32-bit paged guests says so
 * here, once.  What the generation wants of the vCPU is known before it is
 * made.  0, or -1 after one sentence (the exit status is EXIT_HOST). */
static int make_vm(struct vm *vm, const struct lguest_abi *abi, bool pae, uint64_t *t_vm,
		   uint64_t *t_test)
{
	const struct options *opt = &vm->opt;
	char err[512];
	int kr = kvm_open(&vm->kvm, err, sizeof(err));
	vm->kvm.cpuid_family5 = abi->cpuid_family5;
	vm->kvm.vmcall_ud = abi->vmcall;
	vm->kvm.pae_guest = pae;
	vm->kvm.no_irqchip = opt->no_irqchip;
	if (kr || kvm_create_vm(vm, opt->mem + VBUS_AREA_SIZE, err, sizeof(err)) ||
	    (*t_vm = now_ns(), kvm_selftest(vm, err, sizeof(err)))) {
		log_msg("%s", err);
		return -1;
	}
	*t_test = now_ns();
	vm->mem = (struct guestmem){
		.base = vm->kvm.ram,
		.size = opt->mem + VBUS_AREA_SIZE,
		.limit = opt->mem + VBUS_AREA_SIZE,
	};
	return 0;
}

/* What make_vm and run_guest started, undone (each part safe to undo twice). */
static void vm_release(struct vm *vm)
{
	poller_stop(vm);
	api_close(vm);
	lg_decoder_close(vm);
	kvm_destroy(vm);
}

static int cmd_run(struct vm *vm)
{
	struct options *opt = &vm->opt;
	char err[512];
	vm->start_ns = now_ns();
	size_t klen = 0, ilen = 0;
	uint8_t *kernel = NULL, *initrd = NULL;
	struct run_files files;
	struct image_info info = {0};
	const struct lguest_abi *abi = NULL;
	int code = EXIT_USAGE;
	/* Every file, and the image itself, before KVM: a bad path or a
	 * damaged kernel is the user's to fix (exit 2) on any host. */
	if (files_open(&files, opt, err, sizeof(err)) < 0 ||
	    !(kernel = files_read(&files.kernel, IMAGE_MAX, &klen, err, sizeof(err))) ||
	    (opt->initrd &&
	     !(initrd = files_read(&files.initrd, IMAGE_MAX, &ilen, err, sizeof(err))))) {
		log_msg("%s", err);
		goto out_files;
	}
	if (boot_load(NULL, opt->mem, kernel, klen, initrd, ilen, opt->cmdline, 0, NULL, err,
		      sizeof(err)) < 0) {
		log_msg("%s: %s", opt->kernel, err);
		goto out_files;
	}
	/* Which generation: from the image, before anything runs. */
	if (inspect_kernel(opt, kernel, klen, &info) < 0) {
		log_msg("%s: %s", opt->kernel, info.reason);
		goto out_files;
	}
	abi = abi_get(info.gen);
	if (info.note[0] && !opt->quiet)
		log_msg("%s: %s", opt->kernel, info.note);
	LOG_DEBUG(vm, "%s: generation %s (Linux %s)%s", opt->kernel, abi->name, abi->kernels,
		  info.elf ? ", booting the decompressed kernel" : "");
	/* 2.6.23: unpacked here, entered after its marker (pvabi/boot_g0.c). */
	struct g0_kernel g0 = {0};
	if (abi->paging == PAGING_PAGE_OFFSET) {
		if (boot_g0_prepare(kernel, klen, &g0, err, sizeof(err)) < 0) {
			log_msg("%s: %s", opt->kernel, err);
			goto out_files;
		}
		free(info.elf);
		info.elf = g0.elf; /* NULL: the file is the vmlinux to load */
		info.elf_len = g0.elf_len;
		g0.elf = NULL;
	}
	if (info.elf) {
		/* Boot the rewritten vmlinux instead of the file, once it too
		 * passes the loader's checks. */
		free(kernel);
		kernel = info.elf;
		klen = info.elf_len;
		info.elf = NULL;
		if (boot_load(NULL, opt->mem, kernel, klen, initrd, ilen, opt->cmdline, 0, NULL,
			      err, sizeof(err)) < 0) {
			log_msg("%s (decompressed): %s", opt->kernel, err);
			goto out_files;
		}
	}

	code = EXIT_HOST;
	uint64_t t_files = now_ns(), t_vm = 0, t_test = 0;
	if (make_vm(vm, abi, info.pae, &t_vm, &t_test) < 0)
		goto out;

	struct boot_layout bl;
	if (boot_load_paging(vm->kvm.ram, opt->mem, kernel, klen, initrd, ilen, opt->cmdline,
			     info.pae, info.pae ? monitor_pae_pmd() : monitor_pde(), &bl, err,
			     sizeof(err)) < 0) {
		log_msg("%s: %s", opt->kernel, err);
		code = EXIT_USAGE;
		goto out;
	}
	if (abi->paging == PAGING_PAGE_OFFSET &&
	    boot_g0_map(vm->kvm.ram, opt->mem, &g0, &bl, err, sizeof(err)) < 0) {
		log_msg("%s: %s", opt->kernel, err);
		code = EXIT_USAGE;
		goto out;
	}
	lg_init(vm, bl.pgdir_gpa, abi);
	vm->lg.pae = info.pae;
	if (abi->paging == PAGING_PAGE_OFFSET)
		vm->lg.kernel_address = g0.page_offset; /* L0 has no such field */
	if ((code = add_devices(vm, &files, abi)) != EXIT_POWEROFF)
		goto out;
	if (kvm_boot_vcpu(vm, bl.entry, bl.pgdir_gpa, info.pae, err, sizeof(err))) {
		log_msg("%s", err);
		code = EXIT_INTERNAL;
		goto out;
	}
	LOG_DEBUG(vm,
		  "%s kernel, entry %#x, page directory %#x%s, %llu MiB RAM, TSC %u kHz (%s), "
		  "interrupts %s",
		  bl.format == BOOT_ELF ? "ELF" : "bzImage", bl.entry, bl.pgdir_gpa,
		  info.pae ? " (PAE)" : "", (unsigned long long)(opt->mem >> 20), vm->kvm.tsc_khz,
		  vm->kvm.tsc_measured ? "measured by lgkvm" : "from KVM",
		  vm->kvm.irqchip ? "as MSIs through an in-kernel LAPIC"
				  : "by KVM_INTERRUPT (no in-kernel irqchip)");
	code = run_guest(vm, abi, t_files, t_vm, t_test);
out:
	vm_release(vm);
out_files:
	files_close(&files);
	image_info_free(&info);
	free(kernel);
	free(initrd);
	return code;
}

/* `lgkvm restore STATE`: the VM the snapshot's run had, its devices the same
 * and in the same order, then the snapshot put back into it instead of a
 * kernel loaded (src/restore.c).  In two steps, because a migration's
 * destination takes the first while the pages still come (cmd_incoming). */
struct build {
	struct run_files files;
	bool files_open, vm_made;
	const struct lguest_abi *abi;
	uint64_t t_files, t_vm, t_test;
};

/* The VM snapshot `s` describes: the devices' files and the console log (the
 * kernel is in the snapshot's memory; it is named only for a restart), KVM,
 * the devices.  EXIT_POWEROFF, or the exit status (said). */
static int restore_build(struct vm *vm, const struct snap *s, struct build *b)
{
	char err[512];
	struct options fo = vm->opt;
	fo.kernel = fo.initrd = NULL;
	b->abi = abi_by_name(s->generation);
	if (files_open(&b->files, &fo, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return EXIT_USAGE;
	}
	b->files_open = b->vm_made = true;
	b->t_files = now_ns();
	if (make_vm(vm, b->abi, s->pae, &b->t_vm, &b->t_test) < 0)
		return EXIT_HOST;
	lg_init(vm, s->lg.boot_pgdir, b->abi);
	vm->lg.pae = s->pae;
	return add_devices(vm, &b->files, b->abi);
}

/* ...then the guest's state (vm->snap) put into it, and the run. */
static int restore_finish(struct vm *vm, struct build *b, int mem_fd)
{
	char err[512];
	uint64_t t0 = now_ns();
	int code = restore_machine(vm, mem_fd, err, sizeof(err));
	LOG_DEBUG(vm, "the guest's state put in: %.1f ms", (double)(now_ns() - t0) / 1e6);
	if (code != EXIT_POWEROFF) {
		log_msg("%s", err);
		vbus_teardown(vm);
		return code;
	}
	LOG_DEBUG(vm, "restored %s: generation %s, %llu MiB RAM, taken by lgkvm %s",
		  vm->opt.state ? vm->opt.state : "a migrated guest", b->abi->name,
		  (unsigned long long)(vm->snap->ram >> 20), vm->snap->version);
	return run_guest(vm, b->abi, b->t_files, b->t_vm, b->t_test);
}

static void restore_release(struct vm *vm, struct build *b, int mem_fd)
{
	if (b->vm_made) {
		vbus_teardown(vm); /* a second time after a run: harmless */
		vm_release(vm);
	}
	if (mem_fd >= 0)
		close(mem_fd);
	if (b->files_open)
		files_close(&b->files);
	b->vm_made = b->files_open = false;
}

static int restore_from(struct vm *vm, int mem_fd)
{
	struct build b = {0};
	int code = restore_build(vm, vm->snap, &b);
	if (code == EXIT_POWEROFF)
		code = restore_finish(vm, &b, mem_fd);
	restore_release(vm, &b, mem_fd);
	return code;
}

static int cmd_restore(struct vm *vm)
{
	char err[512];
	int code;
	vm->start_ns = now_ns();
	int mem_fd = restore_open_memory(vm->opt.state, vm->snap, &code, err, sizeof(err));
	if (mem_fd < 0) {
		log_msg("%s", err);
		return code;
	}
	return restore_from(vm, mem_fd);
}

/* `lgkvm run --incoming ADDR`: wait for a migrating guest, read it into a
 * memory file of our own, and restore it from there (src/migrate.c).  The
 * source sends the machine first (a MACHINE record), and the VM and its
 * devices are built from it while the pages come (incoming_machine), so the
 * guest's downtime holds only its state put in and the run begun.  The
 * disks' locks and the taps' queues are claimed once the source has let
 * them go, with the state (vm->claim_later).  The source hears "ok" when the
 * guest is about to run here, or why not. */
struct incoming {
	struct vm *vm;
	struct snap *machine;
	struct build b;
	bool built;  /* restore_build ran (to be released) */
	bool logged; /* a failure was said already */
	int code;    /* the build's exit status, if it failed */
};

/* What the source hears when the guest could not be built or started here:
 * the reason the VM stopped with, if it has one (the log has the rest). */
static void why_not_built(const struct vm *vm, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s",
		 vm->exit_reason[0] ? vm->exit_reason
				    : "the guest could not be built here (see its log)");
}

static int incoming_machine(void *ctx, const void *tree, size_t len, char *err, size_t errlen)
{
	struct incoming *in = ctx;
	struct vm *vm = in->vm;
	char why[400];
	uint64_t t0 = now_ns();
	in->code = EXIT_BAD_SNAPSHOT;
	if (!(in->machine = calloc(1, sizeof(*in->machine)))) {
		in->code = EXIT_INTERNAL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (snap_decode(tree, len, in->machine, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "migration stream: its machine record: %s", why);
		return -1;
	}
	int code = restore_options(&vm->opt, in->machine, err, errlen);
	if (code != EXIT_POWEROFF) {
		in->code = code;
		return -1;
	}
	vm->claim_later = true;
	vm->snap = in->machine;
	in->built = true;
	if ((in->code = restore_build(vm, in->machine, &in->b)) != EXIT_POWEROFF) {
		in->logged = true;
		why_not_built(vm, err, errlen);
		return -1;
	}
	LOG_DEBUG(vm, "migration: the VM built from the machine record in %.1f ms, pages coming",
		  (double)(now_ns() - t0) / 1e6);
	return 0;
}

static int cmd_incoming(struct vm *vm)
{
	char err[512];
	struct options *opt = &vm->opt;
	int conn = migrate_accept(opt->incoming, opt->timeout_s, !opt->quiet && !opt->migrate_every,
				  err, sizeof(err));
	if (conn < 0) {
		log_msg("%s", err);
		return errno == ETIMEDOUT ? EXIT_TIMEOUT : EXIT_USAGE;
	}
	vm->start_ns = now_ns();
	struct snap *s = calloc(1, sizeof(*s));
	struct incoming in = {.vm = vm};
	int mem_fd = -1, code = s ? migrate_receive(conn, s, &mem_fd, vm->state_pipe,
						    incoming_machine, &in, err, sizeof(err))
				  : EXIT_INTERNAL;
	if (code != EXIT_POWEROFF && in.code != EXIT_POWEROFF)
		code = in.code; /* the early build's own status */
	vm->mig_state_ns = now_ns();
	if (vm->state_pipe >= 0)
		close(vm->state_pipe);
	vm->state_pipe = -1;
	vm->snap = s;
	const char *other =
		code == EXIT_POWEROFF && in.built ? snap_other_machine(in.machine, s) : NULL;
	if (other) {
		snprintf(err, sizeof(err),
			 "migration stream: the guest's state is of another machine than its "
			 "machine record (%s)",
			 other);
		code = EXIT_BAD_SNAPSHOT;
	}
	/* A source that sent no machine record: built now, in the downtime. */
	if (code == EXIT_POWEROFF && !in.built &&
	    (code = restore_options(opt, s, err, sizeof(err))) == EXIT_POWEROFF) {
		in.built = true;
		if ((code = restore_build(vm, s, &in.b)) != EXIT_POWEROFF) {
			in.logged = true;
			why_not_built(vm, err, sizeof(err));
		}
	}
	if (code == EXIT_POWEROFF && vm->claim_later && !vbus_locks(vm, true)) {
		in.logged = true;
		snprintf(err, sizeof(err),
			 "a disk or tap of the guest is held here by another "
			 "program");
		code = EXIT_USAGE;
	}
	if (code == EXIT_POWEROFF) {
		vm->mig_fd = conn;
		vm->has_mig_fd = true;
		code = restore_finish(vm, &in.b, mem_fd);
		restore_release(vm, &in.b, mem_fd);
		mem_fd = -1;
		free(in.machine);
		/* Told "ok" (restore_resume) once the guest was about to run;
		 * if it never got that far, the source keeps it. */
		if (!vm->has_mig_fd)
			return code;
		vm->has_mig_fd = false;
		why_not_built(vm, err, sizeof(err));
	} else {
		if (!in.logged)
			log_msg("%s", err);
		restore_release(vm, &in.b, mem_fd);
		mem_fd = -1;
		free(in.machine);
	}
	char line[600];
	int n = snprintf(line, sizeof(line), "error: %s\n", err);
	if (write(conn, line, (size_t)n) < 0)
		log_msg("telling the migration's source: %s", strerror(errno));
	close(conn);
	return code;
}

/* The parent of an --incoming boot: the state the child received, if it got
 * that far, says what a restart boots (restore_options). */
static void incoming_state(struct vm *vm, int fd)
{
	uint8_t *buf = malloc(SNAP_STATE_MAX);
	struct snap *s = calloc(1, sizeof(*s));
	size_t len = 0;
	ssize_t n;
	char err[512];
	while (buf && len < SNAP_STATE_MAX && (n = read(fd, buf + len, SNAP_STATE_MAX - len)) > 0)
		len += (size_t)n;
	if (buf && s && len && snap_decode(buf, len, s, err, sizeof(err)) == 0 &&
	    restore_options(&vm->opt, s, err, sizeof(err)) == EXIT_POWEROFF) {
		free((void *)vm->snap);
		vm->snap = s;
		s = NULL;
	}
	free(s);
	free(buf);
}

/* SHUTDOWN(restart): the Launcher re-executed itself, so the guest came back
 * in a fresh process with fresh RAM and fresh devices on the same disks and
 * tap.  We do the same with fork(): each boot is a child that sets up,
 * sandboxes itself and runs; this parent only waits, boots again on a restart
 * request, and passes on a stop signal.  --timeout spans every boot; a
 * restart loop ends after --max-reboots with exit 3. */
/* One boot in a child process: set up, sandbox, run (cmd_restore, cmd_incoming
 * or cmd_run, as the options say), with `api_sock` and `incoming` for this
 * boot only; `state_pipe` (or -1) is where cmd_incoming leaves the state it
 * received, `close_fd` (or -1) the parent's end of it.  The child's pid, or
 * -1 after one sentence. */
static pid_t fork_boot(struct vm *vm, const char *api_sock, const char *incoming, int state_pipe,
		       int close_fd)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		log_msg("cannot start the guest process: %s", strerror(errno));
	if (pid != 0)
		return pid;
	if (close_fd >= 0)
		close(close_fd);
	console_term_leave();
	vm->state_pipe = state_pipe;
	vm->opt.api_sock = api_sock;
	vm->opt.incoming = incoming;
	/* Never outlive whoever runs lgkvm. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(EXIT_INTERRUPTED);
	int code = vm->opt.cmd == CMD_RESTORE ? cmd_restore(vm)
		   : incoming		      ? cmd_incoming(vm)
					      : cmd_run(vm);
	fflush(NULL);
	_exit(code);
}

/* Wait for the child `pid`, passing on a stop signal, until it ends or
 * `until` (CLOCK_MONOTONIC ns; 0 = no limit) passes: its exit status, or -1
 * if it runs on. */
static int wait_child(pid_t pid, uint64_t until)
{
	int status, forwarded = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, until ? WNOHANG : 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			log_msg("waiting for the guest process: %s", strerror(errno));
			return EXIT_INTERNAL;
		}
		int sig = signals_pending_stop();
		if (sig && sig != forwarded) {
			kill(pid, sig);
			forwarded = sig;
		}
		if (until && now_ns() >= until)
			return -1;
		if (until)
			usleep(20000);
	}
	if (WIFSIGNALED(status)) {
		log_msg("the guest process died of signal %d (%s)", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
		return EXIT_INTERNAL;
	}
	return WEXITSTATUS(status);
}

/* A boot ended with `code` after `boots` restarts: -1 to boot again (the
 * next boot's console output follows this one's), or the exit status. */
static int after_boot(struct vm *vm, int code, unsigned boots)
{
	struct options *opt = &vm->opt;
	if (code != EXIT_RESTART || opt->no_reboot)
		return code;
	if (!opt->kernel) {
		log_msg("the restored guest asked to restart, and its snapshot names no "
			"kernel to boot");
		return EXIT_RESTART;
	}
	if (signals_pending_stop())
		return EXIT_INTERRUPTED;
	if (boots >= opt->max_reboots) {
		log_msg("guest restarted %u times: --max-reboots reached", boots);
		return EXIT_RESTART;
	}
	if (opt->timeout_s && now_ns() >= vm->timeout_deadline) {
		log_msg("timed out after %u s", opt->timeout_s);
		return EXIT_TIMEOUT;
	}
	if (!opt->quiet)
		log_msg("restarting the guest (%u of at most %u)", boots + 1, opt->max_reboots);
	opt->log_keep = true;
	return -1;
}

static int run_with_reboots(struct vm *vm)
{
	struct options *opt = &vm->opt;
	if (opt->timeout_s)
		vm->timeout_deadline = now_ns() + (uint64_t)opt->timeout_s * 1000000000u;
	for (unsigned boots = 0;; boots++) {
		/* A migrated guest's state comes back from the child, for a
		 * restart: what kernel, what RAM, what devices. */
		int sp[2] = {-1, -1};
		if (opt->incoming &&
		    (pipe2(sp, O_CLOEXEC) < 0 || fcntl(sp[1], F_SETPIPE_SZ, SNAP_STATE_MAX) < 0 ||
		     fcntl(sp[1], F_SETFL, O_NONBLOCK) < 0)) {
			if (sp[0] >= 0) {
				close(sp[0]);
				close(sp[1]);
			}
			sp[0] = sp[1] = -1;
		}
		pid_t pid = fork_boot(vm, opt->api_sock, opt->incoming, sp[1], sp[0]);
		if (sp[1] >= 0)
			close(sp[1]);
		if (pid < 0)
			return EXIT_INTERNAL;
		/* A restored guest that restarts boots its kernel afresh. */
		opt->cmd = CMD_RUN;
		opt->incoming = NULL;
		int code = wait_child(pid, 0);
		if (sp[0] >= 0) {
			incoming_state(vm, sp[0]);
			close(sp[0]);
		}
		/* The boot's control socket goes with it: the sandboxed child
		 * may not remove a file; the next boot makes a new one. */
		if (opt->api_sock)
			unlink(opt->api_sock);
		if ((code = after_boot(vm, code, boots)) >= 0)
			return code;
	}
}

/* Has the child `pid` ended?  Only a look: it is left for wait_child to reap. */
static bool child_ended(pid_t pid)
{
	siginfo_t si = {0};
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Until `path` exists (a socket the child `pid` makes), at most 5 s: false if
 * it does not, or the child ended first. */
static bool wait_path(const char *path, pid_t pid)
{
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++) {
		if (child_ended(pid))
			return false;
		usleep(10000);
	}
	return access(path, F_OK) == 0;
}

/* End a child that should have ended: asked (SIGTERM), then made to after
 * 5 s (SIGKILL).  Its exit status. */
static int end_child(pid_t pid)
{
	kill(pid, SIGTERM);
	int code = wait_child(pid, now_ns() + 5000000000ull);
	if (code < 0) {
		kill(pid, SIGKILL);
		code = wait_child(pid, 0);
	}
	return code;
}

/* Is the guest behind the control socket `sock` (the child `pid`'s) running,
 * so it can be asked to move?  A child just started may still be building
 * it ("starting"). */
static bool guest_running(const char *sock, pid_t pid)
{
	char reply[1024], err[256];
	return wait_path(sock, pid) &&
	       api_request(sock, "{\"cmd\":\"status\"}", 10, reply, sizeof(reply), err,
			   sizeof(err)) == 0 &&
	       strstr(reply, "\"state\":\"running\"");
}

/* --migrate-every SECONDS: the torture test a user wants before trusting
 * migration with a workload.  This process supervises: the guest boots in a
 * child with a control socket of our own (a private directory); every
 * SECONDS a new child waits with --incoming, and we ask the current one to
 * `migrate` there (src/migrate.c).  The one that took the guest is the
 * current one from then on; the one that gave it exits 12.  A failed move
 * leaves the guest where it was, and the next period tries again.  The
 * guest's disks, taps (multi-queue) and console (our stdout) follow it, and
 * when it ends -- in whichever child holds it -- its status is ours, as for
 * a plain run; a restart boots it afresh, as run_with_reboots does. */
static int run_migrating(struct vm *vm)
{
	struct options *opt = &vm->opt;
	char dir[] = "/tmp/lgkvm-migrate.XXXXXX";
	if (!mkdtemp(dir)) {
		log_msg("--migrate-every: cannot make a private directory: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	if (opt->timeout_s)
		vm->timeout_deadline = now_ns() + (uint64_t)opt->timeout_s * 1000000000u;
	console_term_own();
	char sock[2][128], in[128], req[256], reply[1024], err[256];
	unsigned n = 0, moves = 0, failed = 0, boots = 0;
	int cur = 0, code;
	snprintf(sock[cur], sizeof(sock[cur]), "%s/g%u.sock", dir, n++);
	pid_t pid = fork_boot(vm, sock[cur], NULL, -1, -1);
	for (;;) {
		code = pid < 0 ? EXIT_INTERNAL
			       : wait_child(pid,
					    now_ns() + (uint64_t)opt->migrate_every * 1000000000u);
		if (code >= 0) {
			unlink(sock[cur]);
			if ((code = after_boot(vm, code, boots++)) >= 0)
				break;
			snprintf(sock[cur], sizeof(sock[cur]), "%s/g%u.sock", dir, n++);
			pid = fork_boot(vm, sock[cur], NULL, -1, -1);
			continue;
		}
		/* Time to move, if the guest runs yet; if not, at the next
		 * period. */
		if (!guest_running(sock[cur], pid))
			continue;
		/* A destination, and the current one asked to go. */
		int other = !cur;
		snprintf(sock[other], sizeof(sock[other]), "%s/g%u.sock", dir, n);
		snprintf(in, sizeof(in), "unix:%s/g%u.in", dir, n++);
		opt->log_keep = true;
		pid_t np = fork_boot(vm, sock[other], in, -1, -1);
		snprintf(req, sizeof(req), "{\"cmd\":\"migrate\",\"to\":\"%s\"}", in);
		int r = np > 0 && wait_path(in + 5, np)
				? api_request(sock[cur], req, MOVE_WAIT_S, reply, sizeof(reply),
					      err, sizeof(err))
				: -1;
		if (r == 0) {
			/* The old one ends by itself once it has handed over. */
			code = wait_child(pid, now_ns() + 30000000000ull);
			if (code < 0) {
				log_msg("--migrate-every: the guest's old lgkvm did not end after "
					"the move; ending it");
				code = end_child(pid);
			}
			unlink(sock[cur]);
			pid = np;
			cur = other;
			moves++;
			LOG_DEBUG(vm, "--migrate-every: the guest moved (%u): %s", moves, reply);
			if (code != EXIT_MIGRATED)
				log_msg("--migrate-every: the guest's old lgkvm ended with %d, not "
					"12",
					code);
			continue;
		}
		if (np > 0)
			end_child(np);
		unlink(in + 5);
		unlink(sock[other]);
		/* A guest that ended as it was asked to move (powered off, say)
		 * stays where it ended: that is no failed move.  Its status
		 * comes with the next wait. */
		for (int i = 0; i < 200 && !child_ended(pid); i++)
			usleep(10000);
		if (child_ended(pid)) {
			LOG_DEBUG(vm, "--migrate-every: the guest ended as it was to move");
			continue;
		}
		failed++;
		log_msg("--migrate-every: a move failed, the guest stays: %s", r < 0 ? err : reply);
	}
	if (!opt->quiet)
		log_msg("--migrate-every: the guest moved %u times (%u moves failed)", moves,
			failed);
	rmdir(dir);
	return code;
}

/* restore: the state file, read and checked once, before any boot; the run
 * it describes goes into the options. */
static int read_snapshot(struct vm *vm)
{
	char err[512];
	struct snap *s = calloc(1, sizeof(*s));
	if (!s) {
		log_msg("out of memory");
		return EXIT_INTERNAL;
	}
	vm->snap = s;
	int code = restore_read_state(vm->opt.state, s, err, sizeof(err));
	if (code == EXIT_POWEROFF)
		code = restore_options(&vm->opt, s, err, sizeof(err));
	if (code != EXIT_POWEROFF)
		log_msg("%s", err);
	return code;
}

int main(int argc, char **argv)
{
	/* `lgkvm run ... | head` must not kill us mid-run: the console copes
	 * with a closed stdout by itself. */
	signal(SIGPIPE, SIG_IGN);
	signals_install();
	files_reserve_stdio();
	/* batch runs lgkvm run processes; it needs no VM of its own. */
	if (argc >= 2 && !strcmp(argv[1], "batch"))
		return batch_main(argc, argv);
	/* A client of another lgkvm's --api-sock. */
	if (argc >= 2 && !strcmp(argv[1], "api"))
		return api_client_main(argc, argv);
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_msg("out of memory");
		return EXIT_INTERNAL;
	}
	vm->state_pipe = -1;
	int r = options_parse(&vm->opt, argc, argv);
	int code;
	if (r < 0)
		code = EXIT_USAGE;
	else if (r > 0)
		code = EXIT_POWEROFF;
	else if (vm->opt.cmd == CMD_PROBE)
		code = cmd_probe(&vm->opt);
	else if (vm->opt.cmd == CMD_INSPECT)
		code = cmd_inspect(&vm->opt);
	else if (vm->opt.cmd == CMD_RESTORE && (code = read_snapshot(vm)) != EXIT_POWEROFF)
		;
	else if (vm->opt.migrate_every)
		code = run_migrating(vm);
	else if (!vm->opt.api_sock && (vm->opt.no_reboot || vm->opt.max_reboots == 0))
		code = vm->opt.cmd == CMD_RESTORE ? cmd_restore(vm)
		       : vm->opt.incoming	  ? cmd_incoming(vm)
						  : cmd_run(vm);
	else
		code = run_with_reboots(vm);
	free((void *)vm->snap);
	free(vm);
	return code;
}
