/* Input that arrives while the guest stays inside the VM (src/poller.c). */
#ifndef LGKVM_POLLER_H
#define LGKVM_POLLER_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>

#define POLLER_MAX 8

struct poller {
	pthread_t thread;
	bool started;
	int wake_efd; /* vCPU thread -> poller: a new set, or "I have looked" */
	pthread_mutex_t lock;
	/* Under the lock: the descriptors to watch, as the devices last said. */
	struct pollfd fds[POLLER_MAX];
	int n;
	bool kicked; /* the poller kicked; the vCPU has not looked since */
	bool stop;
};

struct vm;

/* Start the watcher (before the sandbox closes; a no-op without an
 * in-kernel irqchip, where the guest never idles inside the VM). */
int poller_start(struct vm *vm, char *err, size_t errlen);
/* The vCPU thread, before it enters the guest: what to watch now. */
void poller_publish(struct vm *vm);
void poller_stop(struct vm *vm);

#endif
