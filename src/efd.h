/* An eventfd as a doorbell between lgkvm's threads (src/api.c, src/poller.c,
 * virtio/console.c): ring it, swallow every ring so far, and wait for work or
 * for the end.  Non-blocking descriptors. */
#ifndef LGKVM_EFD_H
#define LGKVM_EFD_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "src/log.h"

static inline void efd_signal(int fd)
{
	uint64_t one = 1;
	if (fd < 0)
		return; /* no channel (a fuzzer's stand-in) */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_msg("eventfd: %s", strerror(errno));
}

static inline void efd_drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* A thread's wait: until `fd` is readable (1) or `stop_efd` rings (0), or
 * poll fails (-1).  Interrupted or spurious wake-ups wait again. */
static inline int efd_wait(int fd, int stop_efd)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = stop_efd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents & POLLIN)
			return 0;
		if (p[0].revents & POLLIN)
			return 1;
	}
}

#endif
