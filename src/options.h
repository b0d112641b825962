/* What the user asked for on the command line (src/options.c parses it). */
#ifndef LGKVM_OPTIONS_H
#define LGKVM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

enum lgkvm_cmd { CMD_RUN = 1, CMD_PROBE = 2 };

struct options {
	enum lgkvm_cmd cmd;
	const char *kernel;          /* KERNEL: ELF vmlinux or bzImage */
	const char *initrd;          /* --initrd FILE, or NULL */
	char cmdline[2048];          /* everything after "--", space-joined */
	uint64_t mem;                /* --mem, bytes, page aligned (default 64 MiB) */
	const char *console_log;     /* --console-log FILE, or NULL */
	uint64_t console_log_max;    /* --console-log-max, bytes (default 16 MiB) */
	unsigned timeout_s;          /* --timeout SECONDS, 0 = none */
	int verbose;                 /* -v: 1 = exits and hypercalls, 2 = more */
	bool quiet;                  /* -q: no lgkvm messages except errors */
};

/* Parse argv.  Returns -1 (and prints one sentence) on bad usage, 1 when
 * --help/--version was handled, 0 to go on. */
int options_parse(struct options *opt, int argc, char **argv);

#endif
