/* What the user asked for on the command line (src/options.c parses it). */
#ifndef LGKVM_OPTIONS_H
#define LGKVM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum lgkvm_cmd { CMD_RUN = 1, CMD_PROBE = 2, CMD_INSPECT = 3, CMD_RESTORE = 4 };

#define OPT_MAX_REBOOTS_DEFAULT	 5
#define OPT_MAX_DOWNTIME_DEFAULT 20 /* ms */

#define OPT_MAX_DEVICES 8

/* A device from the command line, in command-line order (which fixes the
 * guest's names: first disk vda, first network eth0), as the Launcher did. */
struct opt_device {
	enum { DEV_DISK = 1, DEV_NET = 2 } type;
	const char *path; /* disk: backing file; net: tap name or NULL */
	bool readonly;	  /* disk: ",ro" */
};

struct options {
	enum lgkvm_cmd cmd;
	const char *kernel;	  /* KERNEL: ELF vmlinux or bzImage */
	const char *initrd;	  /* --initrd FILE, or NULL */
	char cmdline[2048];	  /* everything after "--", space-joined */
	uint64_t mem;		  /* --mem, bytes, page aligned (default 64 MiB) */
	const char *console_log;  /* --console-log FILE, or NULL */
	uint64_t console_log_max; /* --console-log-max, bytes (default 16 MiB) */
	unsigned timeout_s;	  /* --timeout SECONDS, 0 = none */
	int verbose;		  /* -v: 1 = exits and hypercalls, 2 = more */
	bool quiet;		  /* -q: no lgkvm messages except errors */
	bool no_sandbox;	  /* --no-sandbox: skip seccomp (src/sandbox.c) */
	bool no_fast_path;	  /* --no-fast-path: the monitor finishes nothing alone */
	bool no_irqchip;	  /* --no-irqchip: KVM_INTERRUPT, no in-kernel LAPIC */
	struct opt_device devices[OPT_MAX_DEVICES]; /* --disk, --net */
	unsigned ndevices;
	const char *net_ip;	  /* --net-ip ADDR[/PREFIX] for the host side */
	const char *abi;	  /* --abi GEN: the generation, not detected (NULL: detect) */
	int pae;		  /* --pae yes|no: 1/0; -1 = detect from the image */
	bool no_reboot;		  /* --no-reboot: a restart request ends lgkvm (exit 3) */
	bool log_keep;		  /* (not an option) a restart: append to the console log */
	unsigned max_reboots;	  /* --max-reboots N: restarts before exit 3 */
	const char *api_sock;	  /* --api-sock PATH: the control channel (src/api.c) */
	const char *state;	  /* restore: the snapshot's state file */
	const char *incoming;	  /* run --incoming ADDR: the guest comes from a migration */
	unsigned migrate_every;	  /* run --migrate-every SECONDS: move it back and forth, 0 = no */
	unsigned max_downtime_ms; /* --max-downtime MS: a migration's budget for its pause */
	bool force;		  /* restore --force: disks that changed are taken anyway */
};

/* Parse argv.  Returns -1 (and prints one sentence) on bad usage, 1 when
 * --help/--version was handled, 0 to go on. */
int options_parse(struct options *opt, int argc, char **argv);

/* "0.1.0": this lgkvm's version (--version, snapshots). */
const char *lgkvm_version(void);

/* The --help text (every command's options and the exit statuses). */
void options_usage(FILE *out);

#endif
