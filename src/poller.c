/* Input that arrives while the guest stays inside the VM.
 *
 * Two devices read descriptors only when the vCPU thread looks: the console
 * (stdin) and 2.6.23's network device on the DMA bus (its tap).  The vCPU
 * thread looks on every exit and in its own halt sleep, and until the
 * monitor kept the clock an exit came at least every tick.  Now a guest can
 * idle, or compute, for seconds inside the VM with no exit at all
 * (kvm-glue/monitor/clock.c), and a keystroke would wait for the next one.
 *
 * So a small thread watches those descriptors for the vCPU thread and kicks
 * it (the signal every other waker uses) when one is ready; the exit reads
 * the input as before.  It never reads anything itself: which descriptors
 * matter, and when, stays the devices' business (vbus_pollfds), published by
 * the vCPU thread before every entry.  After a kick it waits until the vCPU
 * thread has looked, so that input the guest cannot take yet (no buffer
 * posted) costs one exit per entry at most, never a spin. */
#include "src/poller.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "src/efd.h"
#include "src/vm.h"

static void *poller_thread(void *arg)
{
	struct vm *vm = arg;
	struct poller *p = &vm->poller;
	for (;;) {
		struct pollfd fds[POLLER_MAX + 1];
		pthread_mutex_lock(&p->lock);
		bool stop = p->stop;
		int n = p->n;
		memcpy(fds + 1, p->fds, (size_t)n * sizeof(fds[0]));
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
		fds[0] = (struct pollfd){.fd = p->wake_efd, .events = POLLIN};
		if (poll(fds, (nfds_t)n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (fds[0].revents & POLLIN) {
			efd_drain(p->wake_efd);
			continue; /* a new set, or the end */
		}
		bool ready = false;
		for (int i = 1; i <= n; i++)
			ready |= fds[i].revents != 0;
		if (!ready)
			continue;
		pthread_mutex_lock(&p->lock);
		p->kicked = true;
		pthread_mutex_unlock(&p->lock);
		kvm_kick(vm);
		/* Until the vCPU thread has looked (poller_publish). */
		struct pollfd w = {.fd = p->wake_efd, .events = POLLIN};
		while (poll(&w, 1, -1) < 0 && errno == EINTR)
			;
		efd_drain(p->wake_efd);
	}
}

int poller_start(struct vm *vm, char *err, size_t errlen)
{
	struct poller *p = &vm->poller;
	p->wake_efd = -1;
	if (!vm->kvm.irqchip)
		return 0;
	p->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_efd < 0) {
		snprintf(err, errlen, "the input watcher's eventfd: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&p->lock, NULL);
	int r = pthread_create(&p->thread, NULL, poller_thread, vm);
	if (r) {
		snprintf(err, errlen, "cannot start the input watcher: %s", strerror(r));
		return -1;
	}
	p->started = true;
	return 0;
}

void poller_publish(struct vm *vm)
{
	struct poller *p = &vm->poller;
	if (!p->started)
		return;
	struct pollfd fds[POLLER_MAX];
	int n = vbus_pollfds(vm, fds, POLLER_MAX);
	pthread_mutex_lock(&p->lock);
	bool changed = n != p->n || memcmp(fds, p->fds, (size_t)n * sizeof(fds[0]));
	if (changed) {
		memcpy(p->fds, fds, (size_t)n * sizeof(fds[0]));
		p->n = n;
	}
	bool wake = changed || p->kicked;
	p->kicked = false;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		efd_signal(p->wake_efd);
}

void poller_stop(struct vm *vm)
{
	struct poller *p = &vm->poller;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_mutex_unlock(&p->lock);
		efd_signal(p->wake_efd);
		pthread_join(p->thread, NULL);
		pthread_mutex_destroy(&p->lock);
		p->started = false;
	}
	if (p->wake_efd > 0) /* a zeroed struct vm never opened one */
		close(p->wake_efd);
	p->wake_efd = -1;
}
