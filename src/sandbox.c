/* The seccomp sandbox.
 *
 * Everything lgkvm opens, maps and starts, it does before the guest runs:
 * /dev/kvm and the VM, guest memory, the kernel and initrd files, the disk
 * images and tap devices, the console log, the I/O threads, the kick timer.
 * Once that is done the process needs only a handful of system calls: KVM_RUN
 * and KVM_INTERRUPT on its vCPU, reads and writes on descriptors it already
 * holds, signals and timers for the kick, and memory management for malloc.
 * So right before the run loop we set PR_SET_NO_NEW_PRIVS and load a seccomp
 * filter that allows exactly that, for every thread at once (TSYNC: the I/O
 * threads already exist).  If a guest ever found a hole in the VMM, the code
 * it ran could not open a file, make a socket, start a program, or map
 * executable memory.
 *
 * Default action: kill the whole process (SECCOMP_RET_KILL_PROCESS).  A call
 * outside the list means lgkvm itself took a path we did not foresee (a bug)
 * or is no longer running its own code; either way it must stop, not go on
 * with an error it was never written to expect.  The process then dies of
 * SIGSYS (a shell shows status 159): run again with --no-sandbox and report
 * it.  We return no EPERMs: every call the running VMM makes is listed, and
 * an EPERM would only hide such a bug behind a confusing error message.
 *
 * The list is in two parts: what the run loop always needs (core_rules), and
 * per device type what its host end does while the guest runs
 * (device_rules).  Device files stay unaware of the sandbox; a new device
 * type needs a line here, and until it has one, sandbox_enter() refuses
 * (fail closed) rather than guess.
 *
 * One thing the filter cannot see: io_uring.  Operations submitted through a
 * ring run in the kernel without passing the filter, so the block device
 * locks its ring down itself before enabling it (virtio/blk.c, uring_setup:
 * readv, writev, fsync and poll only; on kernels older than 5.10, which
 * cannot, the ring is unrestricted). */
#include "src/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "src/vm.h"
#include "virtio/transport.h"

/* Virtio device ids as the bus records them (virtio/ keeps its own copies). */
#define DEV_NET	    1
#define DEV_BLOCK   2
#define DEV_CONSOLE 3

/* Where an argument's expected value comes from: most are constants, but the
 * vCPU's descriptor and our own pid are only known at run time. */
enum arg_src { ARG_CONST, ARG_VCPU_FD, ARG_VM_FD, ARG_PID };

struct arg_rule {
	unsigned arg; /* 0..5 */
	enum scmp_compare op;
	enum arg_src src;
	uint64_t mask; /* for SCMP_CMP_MASKED_EQ */
	uint64_t value;
};

/* Allow syscall `nr` when all of its argument conditions hold (none: always). */
struct rule {
	int nr;
	unsigned nargs;
	struct arg_rule args[2];
};

/* One rule per line in the tables below. */
/* clang-format off */
#define ALLOW(name)		{.nr = SCMP_SYS(name)}
#define ARG_EQ(n, v)		{.arg = (n), .op = SCMP_CMP_EQ, .src = ARG_CONST, .value = (v)}
#define ARG_IS(n, src_)		{.arg = (n), .op = SCMP_CMP_EQ, .src = (src_)}
#define ARG_NOT_SET(n, bits)	{.arg = (n), .op = SCMP_CMP_MASKED_EQ, .mask = (bits), .value = 0}
#define ALLOW_IF(name, a)	{.nr = SCMP_SYS(name), .nargs = 1, .args = {a}}
#define ALLOW_IF2(name, a, b)	{.nr = SCMP_SYS(name), .nargs = 2, .args = {a, b}}
/* clang-format on */
#define N(table) (sizeof(table) / sizeof((table)[0]))

/* The run loop (kvm-glue/vcpu.c), the hypercall side (pvabi/), logging, and
 * leaving: needed whatever the devices. */
static const struct rule core_rules[] = {
	/* The vCPU: run it, and inject the kick vector.  Nothing else on it,
	 * and no ioctl at all on the VM or /dev/kvm (no new memory slots, no
	 * new vCPUs).  KVM_SET_SIGNAL_MASK was done by vcpu_prepare(). */
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_RUN)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_INTERRUPT)),
	/* The kick vector as an MSI, from any thread (an in-kernel LAPIC). */
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VM_FD), ARG_EQ(1, KVM_SIGNAL_MSI)),
	/* Kicks: the POSIX timer (created before us) and the signal it
	 * sends, blocked except in KVM_RUN and the halt sleep. */
	ALLOW(timer_settime),
	ALLOW(timer_gettime),
	ALLOW(timer_delete),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigtimedwait),
	ALLOW(rt_sigreturn),
	ALLOW(restart_syscall),
	ALLOW(ppoll), /* the halt sleep */
	/* Time: the vDSO normally answers without a system call; these are
	 * its fallbacks. */
	ALLOW(clock_gettime),
	ALLOW(clock_nanosleep),
	ALLOW(gettimeofday),
	ALLOW(nanosleep),
	/* Threads: locks, vm_stop()'s spin, kicking the vCPU thread (only
	 * within our own process), and leaving. */
	ALLOW(futex),
	ALLOW(sched_yield),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW_IF(tgkill, ARG_IS(0, ARG_PID)),
	ALLOW(exit),
	ALLOW(exit_group),
	/* A thread started during setup may not have run yet when the filter
	 * arrives (TSYNC gives it ours too): glibc's thread start-up
	 * registers these two per-thread areas, harmless in themselves. */
	ALLOW(rseq),
	ALLOW(set_robust_list),
	/* malloc and thread stacks; never executable memory. */
	ALLOW(brk),
	ALLOW_IF(mmap, ARG_NOT_SET(2, PROT_EXEC)),
	ALLOW_IF(mprotect, ARG_NOT_SET(2, PROT_EXEC)),
	ALLOW(mremap),
	ALLOW(munmap),
	ALLOW(madvise),
	/* Our own messages on stderr; stdio may fstat a stream it buffers
	 * (by descriptor only: AT_EMPTY_PATH, no path lookups); teardown
	 * closes what we opened. */
	ALLOW(write),
	ALLOW(writev),
	ALLOW(fstat),
	ALLOW_IF(newfstatat, ARG_EQ(3, AT_EMPTY_PATH)),
	ALLOW(close),
};

/* Console (virtio/console.c): stdin into the guest, guest output to stdout
 * and the log file, and giving the terminal back at the end. */
static const struct rule console_rules[] = {
	ALLOW(read),
	ALLOW(readv),
	ALLOW(write),
	ALLOW(poll), /* stdin readiness; waiting for a full stdout to drain */
	/* tcsetattr(STDIN_FILENO, TCSANOW, ...) restores the terminal. */
	ALLOW_IF2(ioctl, ARG_EQ(0, STDIN_FILENO), ARG_EQ(1, TCSETS)),
};

/* Block (virtio/blk.c): its I/O thread drives an io_uring, or without one
 * does plain vectored reads and writes; an eventfd is its doorbell. */
static const struct rule block_rules[] = {
	ALLOW(io_uring_enter), ALLOW(read), /* the doorbell eventfd */
	ALLOW(write),	       ALLOW(poll), ALLOW(preadv), ALLOW(pwritev), ALLOW(fdatasync),
};

/* Network (virtio/net.c): frames from the tap by its receive thread, frames
 * to it from the vCPU thread, an eventfd doorbell. */
static const struct rule net_rules[] = {
	ALLOW(read),
	ALLOW(write),
	ALLOW(writev),
	ALLOW(poll),
};

/* The virtio-PCI platform (virtio/virtio_pci.c): a guest that moves a BAR
 * moves its doorbell, and KVM's eventfd for it follows -- an ioctl on the VM,
 * but only that one. */
static const struct rule pci_rules[] = {
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VM_FD), ARG_EQ(1, KVM_IOEVENTFD)),
};

/* The control channel (src/api.c): its thread accepts one client at a time
 * on the listening socket, reads requests and writes replies. */
static const struct rule api_rules[] = {
	ALLOW(accept4),
	ALLOW(read),
	ALLOW(poll),
	/* A snapshot (src/snapshot.c).  The API thread creates its two files:
	 * new ones only, never a file that exists or the target of a symlink,
	 * so a VMM taken over by its guest could add files where the user may,
	 * but neither open nor replace one -- what a broker process creating
	 * them on request would give it too.  The vCPU thread reads its own
	 * state (reading only) and writes the files. */
	ALLOW_IF(openat, ARG_EQ(2, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_REGS)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_SREGS)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_XSAVE)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_XCRS)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_VCPU_EVENTS)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_DEBUGREGS)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_MP_STATE)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_LAPIC)),
	ALLOW_IF2(ioctl, ARG_IS(0, ARG_VCPU_FD), ARG_EQ(1, KVM_GET_MSRS)),
	ALLOW(pwrite64),
	ALLOW(ftruncate),
	ALLOW(fdatasync),
	ALLOW(fstat),
	ALLOW(preadv), /* a disk's first 64 KiB, for its identity */
	/* A live migration (src/migrate.c): a stream socket to the destination
	 * the user named, the kernel's written-page bits read and cleared
	 * (/proc/self/pagemap and clear_refs, opened before the sandbox). */
	ALLOW_IF(socket, ARG_EQ(0, AF_UNIX)),
	ALLOW_IF(socket, ARG_EQ(0, AF_INET)),
	ALLOW(connect),
	/* ... with a send time limit (MIG_QUIET_S): a destination that stalls
	 * frees us. */
	ALLOW_IF2(setsockopt, ARG_EQ(1, SOL_SOCKET), ARG_EQ(2, SO_SNDTIMEO)),
	ALLOW(pread64),
	/* The disks' locks and the taps' queues, handed to the destination
	 * (vbus_locks). */
	ALLOW(flock),
	ALLOW_IF(ioctl, ARG_EQ(1, TUNSETQUEUE)),
};

static const struct {
	uint8_t type;
	const char *name;
	const struct rule *rules;
	size_t n;
} device_rules[] = {
	{DEV_CONSOLE, "console", console_rules, N(console_rules)},
	{DEV_BLOCK, "block", block_rules, N(block_rules)},
	{DEV_NET, "net", net_rules, N(net_rules)},
};

/* AddressSanitizer's leak check runs at exit, after the run loop: it starts a
 * tracer thread that ptrace()s ours and reads /proc/self.  Sanitizer builds
 * are for testing (make check SAN=1 runs the whole suite sandboxed), so they
 * also allow that, read-only; release builds never include these. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RULES 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_RULES 1
#endif
#endif
#ifdef SANITIZER_RULES
static const struct rule sanitizer_rules[] = {
	ALLOW(clone),
	ALLOW(ptrace),
	ALLOW(wait4),
	ALLOW(prctl),
	ALLOW(sigaltstack),
	ALLOW(rt_sigaction),
	ALLOW(sched_getaffinity),
	ALLOW_IF(ioctl, ARG_EQ(1, TCGETS)), /* isatty(): colours in a report */
	ALLOW(getdents),
	ALLOW(getdents64),
	ALLOW(fcntl),
	ALLOW(newfstatat),
	ALLOW(getppid),
	ALLOW(readlink),
	ALLOW(lseek),
	ALLOW(read),
	ALLOW_IF(open, ARG_NOT_SET(1, O_ACCMODE | O_CREAT | O_TRUNC)),
	ALLOW_IF(openat, ARG_NOT_SET(2, O_ACCMODE | O_CREAT | O_TRUNC)),
};
#endif

static int add_rules(scmp_filter_ctx ctx, const struct rule *rules, size_t n,
		     const struct kvm_state *k, int *failed)
{
	pid_t pid = getpid();

	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		struct scmp_arg_cmp cmp[2];

		for (unsigned a = 0; a < r->nargs; a++) {
			const struct arg_rule *ar = &r->args[a];
			uint64_t v = ar->value;

			if (ar->src == ARG_VCPU_FD)
				v = (uint64_t)k->vcpu_fd;
			else if (ar->src == ARG_VM_FD)
				v = (uint64_t)k->vm_fd;
			else if (ar->src == ARG_PID)
				v = (uint64_t)pid;
			cmp[a] = (struct scmp_arg_cmp){
				.arg = ar->arg,
				.op = ar->op,
				.datum_a = ar->op == SCMP_CMP_MASKED_EQ ? ar->mask : v,
				.datum_b = ar->op == SCMP_CMP_MASKED_EQ ? v : 0,
			};
		}
		int e = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, r->nargs, cmp);
		if (e < 0) {
			*failed = r->nr;
			return e;
		}
	}
	return 0;
}

int sandbox_enter(const struct vm *vm, char *err, size_t errlen)
{
	const struct vbus *bus = &vm->bus;
	int failed = -1;
	bool want[N(device_rules)] = {false};
	int e;

	/* Which devices are there?  One we have no rules for is our mistake:
	 * refuse, before anything is loaded. */
	for (unsigned i = 0; i < bus->ndevs; i++) {
		size_t d = 0;

		while (d < N(device_rules) && device_rules[d].type != bus->devs[i].type)
			d++;
		if (d == N(device_rules)) {
			snprintf(err, errlen, "sandbox: no rules for device type %u (%s)",
				 bus->devs[i].type, bus->devs[i].name ? bus->devs[i].name : "?");
			return -1;
		}
		want[d] = true;
	}

	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, errlen, "sandbox: seccomp_init failed");
		return -1;
	}
	/* Every thread, including the I/O threads started during setup. */
	e = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!e)
		e = add_rules(ctx, core_rules, N(core_rules), &vm->kvm, &failed);
	for (size_t d = 0; d < N(device_rules) && !e; d++)
		if (want[d])
			e = add_rules(ctx, device_rules[d].rules, device_rules[d].n, &vm->kvm,
				      &failed);
	if (!e && bus->tp == &virtio_pci)
		e = add_rules(ctx, pci_rules, N(pci_rules), &vm->kvm, &failed);
	if (!e && vm->api.started)
		e = add_rules(ctx, api_rules, N(api_rules), &vm->kvm, &failed);
#ifdef SANITIZER_RULES
	if (!e)
		e = add_rules(ctx, sanitizer_rules, N(sanitizer_rules), &vm->kvm, &failed);
#endif
	if (e) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, failed);

		snprintf(err, errlen, "sandbox: cannot add the rule for %s: %s",
			 name ? name : "a system call", strerror(-e));
		free(name);
		seccomp_release(ctx);
		return -1;
	}
	/* Required for an unprivileged filter, and a promise in itself: no
	 * set-uid program can ever raise our privileges again.  (libseccomp
	 * would set it too; we want it even if that default changed.) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		seccomp_release(ctx);
		return -1;
	}
	e = seccomp_load(ctx);
	seccomp_release(ctx);
	if (e) {
		snprintf(err, errlen, "sandbox: loading the seccomp filter failed: %s",
			 strerror(-e));
		return -1;
	}
	return 0;
}
