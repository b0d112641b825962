/* A listening unix socket that is there only once it listens.
 *
 * bind() makes the socket's file, listen() makes it answer; between the two a
 * connect() is refused.  Whoever waits for the file to appear -- a script
 * polling for --api-sock's path, the --migrate-every supervisor waiting for
 * its destination's --incoming socket -- and connects at once can land in
 * that gap.  So the socket is bound under a private name beside the path,
 * made to listen, and only then renamed to the path (RENAME_NOREPLACE: a
 * file that appeared meanwhile is not clobbered).  The socket is owner-only
 * from the moment it exists: it can stop a guest, or give one a new guest. */
#ifndef LGKVM_UNIX_LISTEN_H
#define LGKVM_UNIX_LISTEN_H

#include <stddef.h>

/* The listening socket's descriptor (with SOCK_CLOEXEC and `flags`, e.g.
 * SOCK_NONBLOCK), or -1 with why in err (without the path: the caller names
 * it and its option). */
int unix_listen(const char *path, int backlog, int flags, char *err, size_t errlen);

#endif
