/* The run loop (src/run.c): KVM exits, dispatched to the lguest host and the
 * devices, counted by cause. */
#ifndef LGKVM_RUN_H
#define LGKVM_RUN_H

struct vm;

/* Run the guest until it stops; returns the process exit status. */
int vm_run(struct vm *vm);
/* One line: the exits, by cause (for -v). */
void run_report(const struct vm *vm);

#endif
