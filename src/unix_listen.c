/* A listening unix socket, there only once it listens (unix_listen.h). */
#include "src/unix_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unix_listen(const char *path, int backlog, int flags, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	char tmp[sizeof(sa.sun_path)];
	/* The private name: the path, the process, a tilde. */
	int n = snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		size_t tail = n < 0 ? 0 : (size_t)n - strlen(path);
		snprintf(err, errlen, "the path is too long for a socket (at most %zu bytes)",
			 sizeof(tmp) - 1 - tail);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "already exists (remove it first)");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	strcpy(sa.sun_path, tmp);
	unlink(tmp); /* ours, left by a process of this pid that died here */
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r == 0 && listen(fd, backlog) == 0 &&
	    renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return fd;
	snprintf(err, errlen, "%s",
		 errno == EEXIST ? "already exists (remove it first)" : strerror(errno));
	if (r == 0)
		unlink(tmp);
	close(fd);
	return -1;
}
