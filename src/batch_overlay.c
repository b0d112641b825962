/* Private disk copies for batch jobs (see batch_overlay.h). */
#include "src/batch_overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096u
#define CHUNK (1u << 20)

static bool all_zero(const unsigned char *p, size_t n)
{
	/* Compare with itself shifted by one: zero iff the first byte is zero
	 * and every byte equals the next. */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Copy [off, end) of in to out, skipping blocks of zeros (out was truncated
 * to full size, so what is skipped reads back as zeros). */
static int copy_range(int in, int out, off_t off, off_t end, unsigned char *buf)
{
	while (off < end) {
		size_t want = (size_t)(end - off) < CHUNK ? (size_t)(end - off) : CHUNK;
		ssize_t got = pread(in, buf, want, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -1 : (errno = EIO, -1); /* the file shrank under us */
		for (size_t b = 0; b < (size_t)got; b += BLOCK) {
			size_t n = (size_t)got - b < BLOCK ? (size_t)got - b : BLOCK;
			if (all_zero(buf + b, n))
				continue;
			for (size_t done = 0; done < n;) {
				ssize_t w = pwrite(out, buf + b + done, n - done,
						   off + (off_t)(b + done));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return -1;
				done += (size_t)w;
			}
		}
		off += got;
	}
	return 0;
}

static int sparse_copy(int in, int out, off_t size)
{
	if (ftruncate(out, size) < 0)
		return -1;
	unsigned char *buf = malloc(CHUNK);
	if (!buf)
		return -1;
	int r = 0;
	off_t off = 0;
	while (off < size && r == 0) {
		off_t data = lseek(in, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0) {
			/* No SEEK_DATA here (EINVAL): read everything. */
			r = copy_range(in, out, off, size, buf);
			break;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		r = copy_range(in, out, data, hole, buf);
		off = hole;
	}
	free(buf);
	return r;
}

int batch_overlay_copy(const char *src, const char *dst, bool allow_reflink, char *err,
		       size_t errlen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0) {
		snprintf(err, errlen, "disk %s: cannot open it: %s", src, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "disk %s: not a regular file, so no private copy can be made "
			 "(give it as read-only: \"%s,ro\")",
			 src, src);
		close(in);
		return -1;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		snprintf(err, errlen, "copy of disk %s: cannot create %s: %s", src, dst,
			 strerror(errno));
		close(in);
		return -1;
	}
	int how = OVERLAY_SPARSE;
	if (allow_reflink && ioctl(out, FICLONE, in) == 0)
		how = OVERLAY_REFLINK;
	else if (sparse_copy(in, out, st.st_size) < 0)
		how = -1;
	int saved = errno;
	if (close(out) < 0 && how >= 0) {
		saved = errno;
		how = -1;
	}
	if (how < 0) {
		snprintf(err, errlen, "copy of disk %s to %s: %s", src, dst, strerror(saved));
		unlink(dst);
	}
	close(in);
	return how;
}
