/* An eventfd as a doorbell between lgkvm's threads (src/api.c, src/poller.c):
 * ring it, and swallow every ring so far.  Non-blocking descriptors. */
#ifndef LGKVM_EFD_H
#define LGKVM_EFD_H

#include <errno.h>
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

#endif
