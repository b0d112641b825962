/* lgkvm: the program.
 *
 * The order of a boot, like the Launcher's main(): read the images, probe
 * KVM, lay out guest memory (kernel, initrd, zero page, boot page tables,
 * then the device page and rings above RAM), set the vCPU to the lguest entry
 * state, and run until the guest powers off, crashes, breaks the rules or
 * runs out of time.  The process exit status says which (src/exitcodes.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm-glue/vcpu.h"
#include "pvabi/boot.h"
#include "pvabi/host.h"
#include "src/files.h"
#include "src/log.h"
#include "src/sandbox.h"
#include "src/signals.h"
#include "src/vm.h"

#define IMAGE_MAX (512u << 20) /* no lguest kernel or initrd comes near this */

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
	default:
		log_msg("%s", vm->exit_reason);
		break;
	}
	if (vm->opt.verbose)
		log_msg("boot to end: %.3f ms (lgkvm start to exit: %.3f ms)",
			(double)(vm->end_ns - vm->boot_ns) / 1e6,
			(double)(vm->end_ns - vm->start_ns) / 1e6);
	if (vm->opt.verbose)
		log_msg("%llu monitor exits, %llu hypercalls, %llu interrupts delivered, "
			"%.3f ms halted",
			(unsigned long long)vm->lg.stats_exits,
			(unsigned long long)vm->lg.stats_hcalls,
			(unsigned long long)vm->lg.stats_irqs, (double)vm->lg.stats_halt_ns / 1e6);
}

static int cmd_run(struct vm *vm)
{
	struct options *opt = &vm->opt;
	char err[512];
	vm->start_ns = now_ns();
	size_t klen = 0, ilen = 0;
	uint8_t *kernel = NULL, *initrd = NULL;
	struct run_files files;
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

	code = EXIT_HOST;
	/* Test the VM we are about to use before trusting it with the guest:
	 * a KVM that cannot run 32-bit paged guests says so here, once. */
	if (kvm_open(&vm->kvm, err, sizeof(err)) ||
	    kvm_create_vm(vm, opt->mem + VBUS_AREA_SIZE, err, sizeof(err)) ||
	    kvm_selftest(vm, err, sizeof(err))) {
		log_msg("%s", err);
		goto out;
	}
	vm->mem = (struct guestmem){
		.base = vm->kvm.ram,
		.size = opt->mem + VBUS_AREA_SIZE,
		.limit = opt->mem + VBUS_AREA_SIZE,
	};

	struct boot_layout bl;
	if (boot_load(vm->kvm.ram, opt->mem, kernel, klen, initrd, ilen, opt->cmdline,
		      monitor_pde(), &bl, err, sizeof(err)) < 0) {
		log_msg("%s: %s", opt->kernel, err);
		code = EXIT_USAGE;
		goto out;
	}
	/* Devices in command-line order, then the console, last, as the
	 * Launcher did: the order fixes the guest's device names. */
	int dev_err = vbus_init(vm);
	for (unsigned i = 0; i < opt->ndevices && !dev_err; i++) {
		const struct opt_device *d = &opt->devices[i];
		dev_err = d->type == DEV_DISK
				  ? vbus_add_disk_fd(vm, d->path, files_take(&files.disk[i]),
						     d->readonly)
				  : vbus_add_net(vm, d->path, opt->net_ip);
	}
	/* The console log is created or emptied only now, every check passed. */
	if (!dev_err && files_log_ready(&files, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		code = EXIT_USAGE;
		goto out;
	}
	if (dev_err < 0 || vbus_add_console_fd(vm, files_take(&files.log)) < 0) {
		log_msg("%s", vm->exit_reason[0] ? vm->exit_reason : "cannot set up devices");
		code = vm->exit_code ? (int)vm->exit_code : EXIT_INTERNAL;
		goto out;
	}
	vm->mem.limit = vbus_limit(vm);
	lg_init(vm, bl.pgdir_gpa);
	if (kvm_boot_vcpu(vm, bl.entry, bl.pgdir_gpa, err, sizeof(err))) {
		log_msg("%s", err);
		code = EXIT_INTERNAL;
		goto out;
	}
	LOG_DEBUG(vm, "%s kernel, entry %#x, page directory %#x, %llu MiB RAM",
		  bl.format == BOOT_ELF ? "ELF" : "bzImage", bl.entry, bl.pgdir_gpa,
		  (unsigned long long)(opt->mem >> 20));
	/* Everything is opened, mapped and started: from here on the process
	 * needs only what the run loop does, and the sandbox allows no more
	 * (src/sandbox.c).  The loop's lazy setup must happen first. */
	if (vcpu_prepare(vm) < 0)
		snprintf(err, sizeof(err), "setting up the vCPU's signals: %s", strerror(errno));
	if (!vm->kvm.timer_set || (!opt->no_sandbox && sandbox_enter(vm, err, sizeof(err)) < 0)) {
		log_msg("%s", err);
		vbus_teardown(vm);
		code = EXIT_INTERNAL;
		goto out;
	}
	if (opt->timeout_s)
		vm->timeout_deadline = now_ns() + (uint64_t)opt->timeout_s * 1000000000u;

	vm->boot_ns = now_ns();
	code = kvm_run_loop(vm);
	vm->end_ns = now_ns();
	vbus_teardown(vm);
	report(vm);
out:
	kvm_destroy(vm);
out_files:
	files_close(&files);
	free(kernel);
	free(initrd);
	return code;
}

int main(int argc, char **argv)
{
	/* `lgkvm run ... | head` must not kill us mid-run: the console copes
	 * with a closed stdout by itself. */
	signal(SIGPIPE, SIG_IGN);
	signals_install();
	files_reserve_stdio();
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_msg("out of memory");
		return EXIT_INTERNAL;
	}
	int r = options_parse(&vm->opt, argc, argv);
	int code;
	if (r < 0)
		code = EXIT_USAGE;
	else if (r > 0)
		code = EXIT_POWEROFF;
	else if (vm->opt.cmd == CMD_PROBE)
		code = cmd_probe(&vm->opt);
	else
		code = cmd_run(vm);
	free(vm);
	return code;
}
