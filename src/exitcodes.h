/* lgkvm's process exit status: one number per way a guest's life can end.
 *
 * Batch runs (many short guests, one log and one status each) depend on this
 * table, so it is part of the interface: README.md and `lgkvm --help` print the
 * same table, and numbers are never reused for something else. */
#ifndef LGKVM_EXITCODES_H
#define LGKVM_EXITCODES_H

enum lgkvm_exit {
	EXIT_POWEROFF = 0,     /* guest powered off (CRASH "Power down") */
	EXIT_INTERNAL = 1,     /* lgkvm itself failed mid-run (a bug or a host error) */
	EXIT_USAGE = 2,	       /* bad command line or file, malformed or truncated image */
	EXIT_RESTART = 3,      /* guest asked to restart (keyboard-controller reset) */
	EXIT_GUEST_CRASH = 4,  /* guest crashed or panicked: its message is printed */
	EXIT_GUEST_KILLED = 5, /* guest broke the lguest ABI: the reason is printed */
	EXIT_TIMEOUT = 6,      /* --timeout expired */
	EXIT_HOST = 7,	       /* no usable KVM (or no 32-bit paging), or a tap it cannot open */
	EXIT_INTERRUPTED = 8,  /* stopped by a signal (src/signals.c) or console Ctrl-C x3 */
	/* lgkvm batch only (src/batch_run.c): */
	EXIT_BATCH_UNMET = 9,	  /* some job did not meet its expectation */
	EXIT_BATCH_MANIFEST = 10, /* the manifest (or a results file to merge) is bad */
	/* lgkvm restore (src/restore.c): */
	EXIT_BAD_SNAPSHOT = 11, /* a snapshot that is corrupt, truncated, mismatched or another
				   lgkvm's (or a migration stream): refused before the guest runs */
	/* live migration (src/migrate.c): */
	EXIT_MIGRATED = 12, /* the guest runs on at the destination, which said so */
};

#endif
