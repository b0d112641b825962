/* Opening and checking the files of a run (see src/files.h for why). */
#include "src/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* How the user named the file: the option it came with. */
static const char *role_name(enum file_role role)
{
	switch (role) {
	case FILE_KERNEL:
		return "kernel";
	case FILE_INITRD:
		return "--initrd";
	case FILE_DISK:
		return "--disk";
	case FILE_LOG:
		return "--console-log";
	case FILE_STATE:
		return "snapshot";
	case FILE_MEM:
		return "snapshot memory";
	}
	return "file";
}

static const char *kind_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO (named pipe)";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "a special file";
}

/* Images and logs are regular files; a disk may also be a block device. */
static bool kind_ok(enum file_role role, mode_t mode)
{
	return S_ISREG(mode) || (role == FILE_DISK && S_ISBLK(mode));
}

/* Two paths name the same data when they reach the same inode, or, for block
 * devices, the same device number. */
struct ident {
	bool blockdev;
	dev_t dev;
	ino_t ino;
};

static struct ident ident_of(const struct stat *st)
{
	if (S_ISBLK(st->st_mode))
		return (struct ident){.blockdev = true, .dev = st->st_rdev};
	return (struct ident){.dev = st->st_dev, .ino = st->st_ino};
}

static bool same_ident(struct ident a, struct ident b)
{
	return a.blockdev == b.blockdev && a.dev == b.dev && a.ino == b.ino;
}

static struct ident rf_ident(const struct run_file *rf)
{
	return (struct ident){.blockdev = rf->blockdev, .dev = rf->dev, .ino = rf->ino};
}

static void rf_init(struct run_file *rf, enum file_role role, const char *path, bool writable)
{
	*rf = (struct run_file){.fd = -1, .role = role, .path = path, .writable = writable};
}

static int open_error(const struct run_file *rf, int e, char *err, size_t errlen)
{
	bool ro_hint = rf->role == FILE_DISK && rf->writable &&
		       (e == EACCES || e == EROFS || e == EPERM || e == ETXTBSY);

	return fail(err, errlen, "%s %s: cannot open it: %s%s", role_name(rf->role), rf->path,
		    strerror(e), ro_hint ? " (add ,ro to use it read-only)" : "");
}

/* Open rf->path for `flags` without ever blocking or opening anything but a
 * file of the right kind.  stat() first, so that a FIFO, a directory or a
 * device is refused without an open() (a FIFO's would wait for a writer, a
 * device's may do something).  The path could change before the open, so
 * that one is O_NONBLOCK too, and must reach the inode we looked at. */
static int open_checked(struct run_file *rf, int flags, char *err, size_t errlen)
{
	const char *what = role_name(rf->role);
	struct stat st, st2;
	int fd, fl;

	if (stat(rf->path, &st) < 0)
		return open_error(rf, errno, err, errlen);
	if (!kind_ok(rf->role, st.st_mode))
		return fail(err, errlen, "%s %s: is %s, not a regular file%s", what, rf->path,
			    kind_name(st.st_mode),
			    rf->role == FILE_DISK ? " or a block device" : "");
	fd = open(rf->path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return open_error(rf, errno, err, errlen);
	if (fstat(fd, &st2) < 0 || !same_ident(ident_of(&st), ident_of(&st2)) ||
	    !kind_ok(rf->role, st2.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s %s: it changed while lgkvm was opening it", what,
			    rf->path);
	}
	/* Blocking from here on: io_uring would fail a read of an O_NONBLOCK
	 * block device with EAGAIN rather than wait for it. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		return open_error(rf, e, err, errlen);
	}
	struct ident id = ident_of(&st2);
	rf->blockdev = id.blockdev;
	rf->dev = id.dev;
	rf->ino = id.ino;
	rf->fd = fd;
	return 0;
}

/* The console log.  An existing one is opened like any other file, without
 * O_TRUNC: it may turn out to be somebody's disk.  A missing one is created
 * only by files_log_ready(); here we only check that it could be. */
static int log_open(struct run_files *f, const char *path, char *err, size_t errlen)
{
	struct run_file *rf = &f->log;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	struct stat st;
	char *dir;
	int e;

	rf_init(rf, FILE_LOG, path, true);
	if (stat(path, &st) == 0 || errno != ENOENT)
		return open_checked(rf, O_WRONLY, err, errlen);

	if (!*base)
		return fail(err, errlen, "--console-log %s: cannot create it: %s", path,
			    strerror(ENOENT));
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return fail(err, errlen, "--console-log %s: out of memory", path);
	f->log_dir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	free(dir);
	if (f->log_dir < 0)
		return fail(err, errlen, "--console-log %s: cannot create it: %s", path,
			    strerror(e));
	/* stat() said ENOENT, yet the name is there: a symlink to nowhere.
	 * Creating through it would write wherever it points. */
	if (fstatat(f->log_dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return fail(err, errlen,
			    "--console-log %s: is a symbolic link to a file that does not exist",
			    path);
	if (faccessat(f->log_dir, ".", W_OK | X_OK, AT_EACCESS) < 0)
		return fail(err, errlen, "--console-log %s: cannot create it: %s", path,
			    strerror(errno));
	f->log_name = base;
	return 0;
}

/* Two names for one file are harmless only when nothing writes it: the kernel
 * doubling as the initrd (odd, but both are read once, at start), or one
 * read-only disk given twice.  A disk that is also the kernel or initrd, a log
 * that is anything else, two writers: refused. */
static bool harmless(const struct run_file *a, const struct run_file *b)
{
	if (a->writable || b->writable)
		return false;
	if (a->role == FILE_DISK || b->role == FILE_DISK)
		return a->role == b->role;
	return true;
}

static int check_identities(struct run_files *f, char *err, size_t errlen)
{
	static const char *const stdname[] = {"stdin", "stdout", "stderr"};
	const struct run_file *all[3 + OPT_MAX_DEVICES];
	unsigned n = 0;

	all[n++] = &f->kernel;
	all[n++] = &f->initrd;
	for (unsigned i = 0; i < OPT_MAX_DEVICES; i++)
		all[n++] = &f->disk[i];
	all[n++] = &f->log;

	for (unsigned i = 0; i < n; i++) {
		const struct run_file *b = all[i];

		if (b->fd < 0)
			continue;
		for (unsigned j = 0; j < i; j++) {
			const struct run_file *a = all[j];

			if (a->fd >= 0 && same_ident(rf_ident(a), rf_ident(b)) && !harmless(a, b))
				return fail(err, errlen, "%s %s is the same file as %s %s",
					    role_name(b->role), b->path, role_name(a->role),
					    a->path);
		}
		/* Our own standard streams, when they are files: `> disk.img`
		 * would send the guest's console into its disk. */
		for (int s = 0; s < 3; s++) {
			struct stat st;

			if (fstat(s, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
				continue;
			if (same_ident(ident_of(&st), rf_ident(b)) && (s > 0 || b->writable))
				return fail(err, errlen, "%s %s is the same file as lgkvm's %s",
					    role_name(b->role), b->path, stdname[s]);
		}
	}
	return 0;
}

int files_open(struct run_files *f, const struct options *opt, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	rf_init(&f->kernel, FILE_KERNEL, opt->kernel, false);
	rf_init(&f->initrd, FILE_INITRD, opt->initrd, false);
	rf_init(&f->log, FILE_LOG, opt->console_log, true);
	for (unsigned i = 0; i < OPT_MAX_DEVICES; i++)
		rf_init(&f->disk[i], FILE_DISK, NULL, false);
	f->log_dir = -1;

	if (opt->kernel && open_checked(&f->kernel, O_RDONLY, err, errlen) < 0)
		goto fail;
	if (opt->initrd && open_checked(&f->initrd, O_RDONLY, err, errlen) < 0)
		goto fail;
	for (unsigned i = 0; i < opt->ndevices && i < OPT_MAX_DEVICES; i++) {
		const struct opt_device *d = &opt->devices[i];

		if (d->type != DEV_DISK)
			continue;
		rf_init(&f->disk[i], FILE_DISK, d->path, !d->readonly);
		if (open_checked(&f->disk[i], d->readonly ? O_RDONLY : O_RDWR, err, errlen) < 0)
			goto fail;
	}
	if (opt->console_log && log_open(f, opt->console_log, err, errlen) < 0)
		goto fail;
	if (check_identities(f, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	files_close(f);
	return -1;
}

uint8_t *files_read(struct run_file *rf, size_t max, size_t *len, char *err, size_t errlen)
{
	const char *what = role_name(rf->role);
	struct stat st;
	uint8_t *buf;
	size_t n, got = 0;

	if (fstat(rf->fd, &st) < 0) {
		fail(err, errlen, "%s %s: cannot read it: %s", what, rf->path, strerror(errno));
		return NULL;
	}
	if ((uint64_t)st.st_size > max) {
		fail(err, errlen, "%s %s: is too big (%lld bytes; at most %zu)", what, rf->path,
		     (long long)st.st_size, max);
		return NULL;
	}
	n = (size_t)st.st_size;
	buf = malloc(n ? n : 1);
	if (!buf) {
		fail(err, errlen, "%s %s: out of memory for %zu bytes", what, rf->path, n);
		return NULL;
	}
	while (got < n) {
		ssize_t r = pread(rf->fd, buf + got, n - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(err, errlen, "%s %s: cannot read it: %s", what, rf->path,
			     r < 0 ? strerror(errno) : "it shrank while being read");
			free(buf);
			return NULL;
		}
		got += (size_t)r;
	}
	*len = n;
	return buf;
}

int files_log_ready(struct run_files *f, bool keep, char *err, size_t errlen)
{
	struct run_file *rf = &f->log;

	if (rf->fd >= 0 && keep) {
		if (lseek(rf->fd, 0, SEEK_END) < 0)
			return fail(err, errlen, "--console-log %s: cannot append to it: %s",
				    rf->path, strerror(errno));
		return 0;
	}
	if (rf->fd >= 0) {
		if (ftruncate(rf->fd, 0) < 0)
			return fail(err, errlen, "--console-log %s: cannot empty it: %s", rf->path,
				    strerror(errno));
		return 0;
	}
	if (f->log_dir < 0)
		return 0;
	/* O_EXCL: a file that appeared since files_open() was never checked. */
	rf->fd = openat(f->log_dir, f->log_name,
			O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	if (rf->fd < 0)
		return fail(err, errlen, "--console-log %s: cannot create it: %s", rf->path,
			    errno == EEXIST ? "it appeared while lgkvm was starting"
					    : strerror(errno));
	close(f->log_dir);
	f->log_dir = -1;
	return 0;
}

int files_take(struct run_file *rf)
{
	int fd = rf->fd;

	rf->fd = -1;
	return fd;
}

static void rf_close(struct run_file *rf)
{
	if (rf->fd >= 0)
		close(rf->fd);
	rf->fd = -1;
}

void files_close(struct run_files *f)
{
	rf_close(&f->kernel);
	rf_close(&f->initrd);
	rf_close(&f->log);
	for (unsigned i = 0; i < OPT_MAX_DEVICES; i++)
		rf_close(&f->disk[i]);
	if (f->log_dir >= 0)
		close(f->log_dir);
	f->log_dir = -1;
}

int files_open_input(struct run_file *rf, enum file_role role, const char *path, char *err,
		     size_t errlen)
{
	rf_init(rf, role, path, false);
	return open_checked(rf, O_RDONLY, err, errlen);
}

int files_open_disk(const char *path, bool readonly, char *err, size_t errlen)
{
	struct run_file rf;

	rf_init(&rf, FILE_DISK, path, !readonly);
	if (open_checked(&rf, readonly ? O_RDONLY : O_RDWR, err, errlen) < 0)
		return -1;
	return rf.fd;
}

int files_open_log(const char *path, char *err, size_t errlen)
{
	struct options opt = {.console_log = path};
	struct run_files f;
	int fd = -1;

	if (files_open(&f, &opt, err, errlen) == 0 && files_log_ready(&f, false, err, errlen) == 0)
		fd = files_take(&f.log);
	files_close(&f);
	return fd;
}

void files_reserve_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free descriptor, so this one.  Read-only even for
		 * stdout: writes to it fail, and are reported, rather than
		 * vanish. */
		int n = open("/dev/null", fd == STDERR_FILENO ? O_WRONLY : O_RDONLY);

		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}
