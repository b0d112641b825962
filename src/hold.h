/* Holding a device thread still: what a snapshot needs of every thread that
 * may write guest memory or a disk (docs/DESIGN.md §14).
 *
 * The requester (the vCPU thread, at a pause point) calls hold_ask(), wakes
 * the thread its own way (its doorbell), and hold_wait()s; the thread, at
 * the top of its loop, calls hold_point(), which reports it held and sleeps
 * there until hold_release().  The thread decides where its loop is quiet:
 * a block device first finishes what it has in flight and flushes it, so
 * that nothing it has acknowledged is anywhere but on the disk. */
#ifndef LGKVM_HOLD_H
#define LGKVM_HOLD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct hold {
	pthread_mutex_t m;
	pthread_cond_t c;
	atomic_bool want; /* read without the lock by the thread's loop */
	bool held;
};

static inline void hold_init(struct hold *h)
{
	pthread_mutex_init(&h->m, NULL);
	pthread_cond_init(&h->c, NULL);
	atomic_store(&h->want, false);
	h->held = false;
}

static inline bool hold_wanted(const struct hold *h)
{
	return atomic_load(&h->want);
}

static inline void hold_ask(struct hold *h)
{
	atomic_store(&h->want, true);
}

/* Wait until the thread is held, at most `ms` milliseconds: false if it was
 * not (it is busy in a system call that does not end, or gone). */
static inline bool hold_wait(struct hold *h, unsigned ms)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->m);
	while (!h->held)
		if (pthread_cond_timedwait(&h->c, &h->m, &end))
			break;
	bool held = h->held;
	pthread_mutex_unlock(&h->m);
	return held;
}

static inline void hold_release(struct hold *h)
{
	pthread_mutex_lock(&h->m);
	atomic_store(&h->want, false);
	pthread_cond_broadcast(&h->c);
	pthread_mutex_unlock(&h->m);
}

/* A device's vdev.hold, whole: ask, wake the thread its own way, wait at
 * most `ms`; or let it go.  false (and let go) if it did not hold. */
static inline bool hold_set(struct hold *h, bool on, unsigned ms, void (*wake)(void *ctx),
			    void *ctx)
{
	if (!on) {
		hold_release(h);
		return true;
	}
	hold_ask(h);
	wake(ctx);
	if (hold_wait(h, ms))
		return true;
	hold_release(h);
	return false;
}

/* The thread's side: if a hold is wanted, be held until it is released. */
static inline void hold_point(struct hold *h)
{
	if (!atomic_load(&h->want))
		return;
	pthread_mutex_lock(&h->m);
	h->held = true;
	pthread_cond_broadcast(&h->c);
	while (atomic_load(&h->want))
		pthread_cond_wait(&h->c, &h->m);
	h->held = false;
	pthread_mutex_unlock(&h->m);
}

#endif
