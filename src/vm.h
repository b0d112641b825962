/* One guest, one struct vm.
 *
 * lgkvm keeps no mutable global state for a VM: everything a guest owns lives
 * here, and every subsystem gets a pointer to it.  The pieces are defined by
 * the folders that own them (kvm-glue/, pvabi/, virtio/); this header only
 * stacks them together and provides the two calls every subsystem needs:
 * guest_kill() (the guest did something unforgivable) and vm_raise_irq()
 * (a virtual interrupt became pending). */
#ifndef LGKVM_VM_H
#define LGKVM_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm-glue/kvm.h"
#include "pvabi/guestmem.h"
#include "pvabi/lguest.h"
#include "src/api.h"
#include "src/exitcodes.h"
#include "src/options.h"
#include "src/poller.h"
#include "virtio/bus.h"

/* Why the vCPU left KVM_RUN, counted (src/run.c). */
struct exit_stats {
	uint64_t monitor;     /* the monitor's port: hypercalls, traps, our kick */
	uint64_t vector[256]; /* ...by the vector that entered the monitor */
	uint64_t mmio;	      /* KVM_EXIT_MMIO: device BARs */
	uint64_t kicks;	      /* a signal ended KVM_RUN */
	uint64_t windows;     /* an interrupt window opened */
};

struct vm {
	struct options opt;
	struct guestmem mem;  /* RAM + device page + rings: all the guest may name */
	struct kvm_state kvm; /* /dev/kvm, the VM, the vCPU, the monitor (kvm-glue/) */
	struct lguest lg;     /* the lguest host's view of the guest (pvabi/) */
	struct vbus bus;      /* the lguest device bus (virtio/) */

	/* `lgkvm restore`: the snapshot this VM is built from (src/restore.c),
	 * and, once it is, `restored`. */
	const struct snap *snap;
	bool restored;
	/* run --incoming: the connection to the migration's source, which
	 * hears "ok" once the guest is about to run here (restore_resume). */
	int mig_fd;
	bool has_mig_fd;
	uint64_t mig_state_ns; /* when the source's last record came (for -v) */
	/* A destination builds its VM while the source still runs the guest:
	 * its disks' locks and its taps' queues are claimed only once the
	 * source lets go (vbus_locks), not when the devices are made. */
	bool claim_later;
	/* ...and where the migrated state goes for the parent process, which
	 * boots the guest's kernel again if it restarts (-1: nowhere). */
	int state_pipe;

	struct exit_stats exits;
	struct api api;	      /* --api-sock: the control channel (src/api.c) */
	struct poller poller; /* watches device input for the vCPU thread (src/poller.c) */

	uint64_t timeout_deadline;	    /* CLOCK_MONOTONIC ns, when --timeout is set */
	uint64_t start_ns, boot_ns, end_ns; /* lgkvm start, first KVM_RUN, guest end */

	/* How the guest's life ended, once it has.  The first reason wins, as in
	 * the reference host's kill_guest().  Any thread may end it (a block
	 * I/O thread kills the guest for a bad ring), so vm_stop() writes the
	 * code and the reason under `stop_lock` and only then publishes `dead`:
	 * whoever sees `dead` sees a whole reason.  (A zero-filled struct vm
	 * has the lock free.) */
	atomic_bool dead;
	atomic_flag stop_lock;
	enum lgkvm_exit exit_code;
	char exit_reason[256];
};

/* The guest broke the rules (or asked to stop): record why, with the exit
 * code to report, and stop running it.  Only the first call counts.  Safe to
 * call from any thread (not from a signal handler); when it returns, `dead`
 * is set, whoever's reason won, and the vCPU has been kicked to notice. */
void vm_stop(struct vm *vm, enum lgkvm_exit code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The common case: an ABI violation (EXIT_GUEST_KILLED). */
#define guest_kill(vm, ...) vm_stop((vm), EXIT_GUEST_KILLED, __VA_ARGS__)

/* Make lguest IRQ `irq` (0..31) pending and wake the vCPU if it sleeps or
 * runs.  Safe to call from any thread. */
void vm_raise_irq(struct vm *vm, unsigned irq);

#endif
