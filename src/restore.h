/* `lgkvm restore STATE`: a guest brought back from a snapshot (src/restore.c,
 * docs/DESIGN.md §14). */
#ifndef LGKVM_RESTORE_H
#define LGKVM_RESTORE_H

#include <stddef.h>

struct options;
struct snap;
struct vm;

/* Read and check the state file at `path` into *s (the parent, before any
 * boot).  EXIT_POWEROFF (0), EXIT_USAGE (missing or unreadable) or
 * EXIT_BAD_SNAPSHOT (not a state file, damaged, another format), with one
 * sentence in err. */
int restore_read_state(const char *path, struct snap *s, char *err, size_t errlen);

/* The run the snapshot describes, into the options: RAM, generation, the
 * monitor's settings, the kernel a restart boots, and the devices unless
 * the command line named them.  EXIT_POWEROFF (0), or EXIT_USAGE (devices
 * given that do not match) or EXIT_BAD_SNAPSHOT, with a sentence. */
int restore_options(struct options *opt, const struct snap *s, char *err, size_t errlen);

/* The memory file beside the state file at `state_path`: opened and checked
 * against s.  A descriptor, or -1 with err and *code set (EXIT_USAGE when it
 * cannot be opened, EXIT_BAD_SNAPSHOT when it is not s's). */
int restore_open_memory(const char *state_path, const struct snap *s, int *code, char *err,
			size_t errlen);

/* The VM is made and its devices added as the snapshot's run had them:
 * check the disks are the same ones (unless --force), put guest memory
 * (mapped from mem_fd, copy-on-write), the monitor, the lguest state, the
 * bus and the vCPU back.  EXIT_POWEROFF (0), or the exit status with err. */
int restore_machine(struct vm *vm, int mem_fd, char *err, size_t errlen);

/* Last thing before the restored guest runs (after the sandbox): every
 * device looks at its rings, a pending interrupt goes in. */
void restore_resume(struct vm *vm);

#endif
