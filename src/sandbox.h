/* The seccomp sandbox: once the guest is set up, lgkvm gives up every system
 * call the running VMM does not need (src/sandbox.c says which and why). */
#ifndef LGKVM_SANDBOX_H
#define LGKVM_SANDBOX_H

#include <stddef.h>

struct vm;

/* Set PR_SET_NO_NEW_PRIVS and load a seccomp allowlist for every thread of
 * the process: the run loop's calls on vm->kvm.vcpu_fd, plus what each device
 * on vm->bus needs.  Anything else kills the process (SIGSYS).  Call it after
 * all setup (files opened, threads started, timer created) and right before
 * the run loop.  0 on success; -1 with one sentence in err (nothing loaded). */
int sandbox_enter(const struct vm *vm, char *err, size_t errlen);

#endif
