/* Can this KVM run an lguest guest at all?
 *
 * Some KVMs cannot run a 32-bit paged guest: kvm-pvm (a software backend that
 * runs only 64-bit long-mode guests) silently drops CR0.PG and the vCPU shuts
 * down.  Rather than let a real guest die mysteriously, we boot a four-
 * instruction guest first: 32-bit paging, code at ring 1, two hypercalls
 * through the DPL-1 gate into the ring-0 monitor, each exiting to us, with an
 * `iret` back to ring 1 in between.  That is the whole lguest mechanism in
 * miniature. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#include "kvm-glue/kvm.h"
#include "kvm-glue/vcpu.h"
#include "src/vm.h"

#define PROBE_MEM    (4u << 20)
#define PROBE_CODE   0x2000u
#define PROBE_PGDIR  0x10000u
#define PROBE_PT     0x11000u
#define PROBE_MAGIC1 0x4c4b0001u
#define PROBE_MAGIC2 0x4c4b0002u

static const char no_32bit[] = "this host's KVM cannot run 32-bit paged guests";
static const char fix[] = "use a host with VT-x or AMD-V, or the nested test host "
			  "(tests/testhost/run)";

static void alarm_handler(int sig)
{
	(void)sig; /* interrupts KVM_RUN */
}

/* Run until the next monitor exit; true if it is a hypercall with `magic`. */
static bool expect_hypercall(struct vm *vm, uint32_t magic, char *err, size_t errlen)
{
	struct kvm_run *run = vm->kvm.run;
	if (ioctl(vm->kvm.vcpu_fd, KVM_RUN, 0) < 0) {
		snprintf(err, errlen, "%s (the test guest %s); %s", no_32bit,
			 errno == EINTR ? "hung" : "could not run", fix);
		return false;
	}
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != MON_PORT) {
		snprintf(err, errlen, "%s (the test guest ended with KVM exit %u); %s", no_32bit,
			 run->exit_reason, fix);
		return false;
	}
	struct mon_frame *f = monitor_frame(&vm->kvm.mon);
	if (run->s.regs.regs.rsp != MON_FRAME_GVA || (f->vector & 0xFF) != 0x1F ||
	    f->eax != magic || f->cs != SEL_KERNEL_CS) {
		snprintf(err, errlen, "%s (the test guest's hypercall arrived garbled); %s",
			 no_32bit, fix);
		return false;
	}
	return true;
}

/* The self-test proper, on an already created VM whose RAM is all zero.  It
 * borrows a few pages of RAM and gives them back zeroed, so `run` can test
 * the very VM it is about to boot instead of paying for a second one. */
int kvm_selftest(struct vm *vm, char *err, size_t errlen)
{
	uint8_t *ram = vm->kvm.ram;
	uint32_t *pd = (uint32_t *)(ram + PROBE_PGDIR), *pt = (uint32_t *)(ram + PROBE_PT);
	for (unsigned i = 0; i < 1024; i++)
		pt[i] = i * 4096 + 0x7;
	pd[0] = PROBE_PT + 0x7;
	pd[1023] = monitor_pde();
	static const uint8_t code[] = {
		0xB8, 0x01, 0x00, 0x4b, 0x4c, /* mov $PROBE_MAGIC1, %eax */
		0xCD, 0x1F,		      /* int $0x1f */
		0xB8, 0x02, 0x00, 0x4b, 0x4c, /* mov $PROBE_MAGIC2, %eax */
		0xCD, 0x1F,		      /* int $0x1f */
		0xEB, 0xFE,		      /* jmp . */
	};
	memcpy(ram + PROBE_CODE, code, sizeof(code));

	int ret = -1;
	if (kvm_boot_vcpu(vm, PROBE_CODE, PROBE_PGDIR, false, err, errlen))
		goto out;
	struct kvm_sregs s;
	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
		goto out;
	}
	if (!(s.cr0 & 0x80000000u) || !(s.cr0 & 1) || (s.efer & 0x400)) {
		snprintf(err, errlen, "%s (CR0.PG was dropped: CR0 reads back %#llx); %s", no_32bit,
			 (unsigned long long)s.cr0, fix);
		goto out;
	}

	/* A hung probe must not hang lgkvm. */
	struct sigaction sa = {.sa_handler = alarm_handler}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	struct itimerval it = {.it_value = {.tv_sec = 5}};
	setitimer(ITIMER_REAL, &it, NULL);
	bool ok = expect_hypercall(vm, PROBE_MAGIC1, err, errlen) &&
		  expect_hypercall(vm, PROBE_MAGIC2, err, errlen);
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	if (ok)
		ret = 0;
	else if (getenv("LGKVM_DEBUG"))
		kvm_dump_state(vm);
out:
	memset(ram + PROBE_CODE, 0, PROBE_PT + 4096 - PROBE_CODE);
	return ret;
}

int kvm_probe_32bit(char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int ret = -1;
	if (!kvm_open(&vm->kvm, err, errlen) && !kvm_create_vm(vm, PROBE_MEM, err, errlen))
		ret = kvm_selftest(vm, err, errlen);
	kvm_destroy(vm);
	free(vm);
	return ret;
}
