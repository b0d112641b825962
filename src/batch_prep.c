/* Once per kernel, not once per job: see batch_prep.h. */
#include "src/batch_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvabi/inspect.h"

#define KERNEL_MAX (512u << 20) /* as lgkvm run */

/* The kernel file, read whole; NULL if it is not a regular file we can read
 * (the job will say so itself). */
static unsigned char *read_kernel(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	unsigned char *buf = NULL;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (unsigned long long)st.st_size <= KERNEL_MAX &&
	    (buf = malloc((size_t)st.st_size)) != NULL) {
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = got;
	}
	close(fd);
	return buf;
}

static bool write_file(const char *path, const unsigned char *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	size_t put = 0;
	while (put < len) {
		ssize_t w = write(fd, b + put, len - put);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		put += (size_t)w;
	}
	return close(fd) == 0 && put == len;
}

const struct batch_prepared *batch_prep_find(const struct batch_prep *p, const char *kernel)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i].orig, kernel) == 0)
			return p->k[i].path ? &p->k[i] : NULL;
	return NULL;
}

void batch_prep_kernel(struct batch_prep *p, const char *out, const char *kernel)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i].orig, kernel) == 0)
			return;
	struct batch_prepared *k = realloc(p->k, (p->n + 1) * sizeof(*k));
	if (!k)
		return;
	p->k = k;
	struct batch_prepared *e = &p->k[p->n++];
	memset(e, 0, sizeof(*e));
	e->orig = kernel; /* remembered even when it fails: tried once */

	size_t len = 0;
	unsigned char *img = read_kernel(kernel, &len);
	struct image_info in;
	if (!img)
		return;
	/* Exactly what lgkvm run would decide and boot. */
	if (image_inspect(img, len, NULL, -1, true, &in) == 0 && in.boots_elf) {
		snprintf(p->dir, sizeof(p->dir), "%s/tmp/kernels", out);
		mkdir(p->dir, 0700);
		char path[4200];
		snprintf(path, sizeof(path), "%s/k%zu.elf", p->dir, p->n - 1);
		unlink(path);
		if (write_file(path, in.elf, in.elf_len)) {
			e->path = strdup(path);
			snprintf(e->abi, sizeof(e->abi), "%s", abi_get(in.gen)->name);
			e->pae = in.pae;
		}
	}
	image_info_free(&in);
	free(img);
}

void batch_prep_free(struct batch_prep *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->k[i].path)
			unlink(p->k[i].path);
		free(p->k[i].path);
	}
	if (p->dir[0])
		rmdir(p->dir);
	free(p->k);
	memset(p, 0, sizeof(*p));
}
