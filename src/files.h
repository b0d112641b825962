/* The files a run reads and writes: the kernel, the initrd, the disks and the
 * console log, opened and checked before anything else happens.
 *
 * Paths come from the user and are as hostile as the guest: a FIFO would hang
 * open(), a directory or a device is not an image, and the same file named
 * twice (directly, through a symlink or a hard link) would let the console
 * log overwrite a disk, or two writers share one.  So every file is opened
 * without blocking, checked for its kind, and compared by identity (st_dev and
 * st_ino, or the device number of a block device) with every other file of
 * the run and with our standard streams.  Nothing is created or truncated
 * until every check has passed: the console log is created or emptied by
 * files_log_ready(), the last step before the guest runs. */
#ifndef LGKVM_FILES_H
#define LGKVM_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/options.h"

enum file_role { FILE_KERNEL, FILE_INITRD, FILE_DISK, FILE_LOG, FILE_STATE, FILE_MEM };

struct run_file {
	int fd; /* -1: none, or handed over with files_take() */
	enum file_role role;
	const char *path;
	bool writable;
	/* Identity: st_dev and st_ino, or st_rdev of a block device (two device
	 * nodes can name one disk). */
	bool blockdev;
	dev_t dev;
	ino_t ino;
};

struct run_files {
	struct run_file kernel, initrd, log;
	struct run_file disk[OPT_MAX_DEVICES]; /* by index in opt->devices; fd -1 for --net */
	/* A --console-log that does not exist yet: its directory (O_PATH) and
	 * its name there, to create in files_log_ready(). */
	int log_dir;
	const char *log_name;
};

/* Open and check every file the options name.  0, or -1 with one sentence in
 * err (the caller exits with EXIT_USAGE); on failure nothing stays open and
 * nothing was created or changed. */
int files_open(struct run_files *f, const struct options *opt, char *err, size_t errlen);

/* Read a whole input file opened by files_open() (at most max bytes).  The
 * buffer is the caller's to free; NULL with one sentence in err on failure. */
uint8_t *files_read(struct run_file *rf, size_t max, size_t *len, char *err, size_t errlen);

/* Create the console log (if it did not exist) or empty it -- or, with
 * `keep` (a restarted guest's next boot), go on at its end: called once every
 * other check of the run has passed.  0 (also without a log), or -1 with one
 * sentence in err. */
int files_log_ready(struct run_files *f, bool keep, char *err, size_t errlen);

/* Hand a descriptor over to its user (a device); -1 if there is none. */
int files_take(struct run_file *rf);

/* Close whatever has not been handed over. */
void files_close(struct run_files *f);

/* Open and check one input file of `role` on its own, read-only (a
 * snapshot's state or memory file): 0 with rf filled in, or -1 with one
 * sentence in err. */
int files_open_input(struct run_file *rf, enum file_role role, const char *path, char *err,
		     size_t errlen);

/* Open one --disk on its own (for callers without a whole run, such as the
 * unit tests): the descriptor, or -1 with one sentence in err. */
int files_open_disk(const char *path, bool readonly, char *err, size_t errlen);

/* The same for a --console-log on its own: checked, then created or emptied. */
int files_open_log(const char *path, char *err, size_t errlen);

/* Make sure descriptors 0, 1 and 2 are open, so that no file we open later
 * can land on one of them and receive the guest's console output.  A closed
 * stdout becomes /dev/null opened read-only: console writes then fail, and
 * the console says so once. */
void files_reserve_stdio(void);

#endif
