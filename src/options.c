/* The command line.  Every bad input gets one sentence and EXIT_USAGE. */
#include "src/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/abi.h"
#include "src/exitcodes.h"
#include "src/log.h"
#include "src/sizes.h"
#include "virtio/net.h"

#define MIB (1024u * 1024u)

#ifndef LGKVM_VERSION
#define LGKVM_VERSION "0.1.0"
#endif

const char *lgkvm_version(void)
{
	return LGKVM_VERSION;
}

static const char usage_text[] =
	"usage: lgkvm run [options] KERNEL [-- guest command line]\n"
	"       lgkvm run --incoming unix:PATH|tcp:ADDRESS:PORT [options]\n"
	"       lgkvm restore [options] STATE\n"
	"       lgkvm inspect [--abi GEN] [--pae yes|no] KERNEL\n"
	"       lgkvm probe [-v]\n"
	"       lgkvm batch [options] MANIFEST\n"
	"       lgkvm batch --merge [--out DIR] RESULTS...\n"
	"       lgkvm api SOCKET JSON\n"
	"\n"
	"Boot an unmodified lguest (Linux 2.6.23-4.13, i386) kernel on KVM.\n"
	"KERNEL is an ELF vmlinux or a bzImage built with CONFIG_LGUEST_GUEST; its\n"
	"lguest ABI generation is read from the image (inspect shows what was found).\n"
	"\n"
	"Options for run:\n"
	"  -m, --mem SIZE          guest RAM, e.g. 64M, 1G (default 64M; bare number = MiB)\n"
	"  -i, --initrd FILE       initial ramdisk\n"
	"  -l, --console-log FILE  also write the guest console to FILE\n"
	"      --console-log-max SIZE  cap for that file (default 16M, 0 = no cap)\n"
	"  -t, --timeout SECONDS   stop the guest after this long (exit 6)\n"
	"  -d, --disk FILE[,ro]    a virtio block device (repeatable: vda, vdb, ...)\n"
	"  -n, --net tap[=NAME]    a virtio network device on a tap interface\n"
	"                          (NAME: 1-15 characters, no '/', ':', '%' or blanks)\n"
	"      --net-ip ADDR[/N]   address for the host side of the tap (default /24)\n"
	"  -v, --verbose           log every hypercall, trap and interrupt; -vv: every exit\n"
	"  -q, --quiet             no lgkvm messages except errors\n"
	"      --no-sandbox        no seccomp sandbox around the running guest (debugging)\n"
	"      --no-irqchip        no in-kernel LAPIC: interrupts go in by KVM_INTERRUPT from\n"
	"                          lgkvm's vCPU thread, and lgkvm keeps the clock event and\n"
	"                          HALT, as before it (for comparison)\n"
	"      --no-fast-path      every hypercall exits to lgkvm; the monitor does nothing\n"
	"                          alone (for comparison and debugging)\n"
	"      --abi GEN           take KERNEL as generation GEN (G0..G10), not detected\n"
	"      --pae yes|no        whether KERNEL uses PAE page tables, not detected\n"
	"      --no-reboot         a guest restart ends lgkvm with exit 3\n"
	"      --max-reboots N     restarts in place before exit 3 (default 5)\n"
	"      --api-sock PATH     a control socket (owner-only; must not exist): one\n"
	"                          JSON request a line, {\"cmd\":\"status|pause|resume|stop\"}\n"
	"                          or {\"cmd\":\"snapshot\",\"path\":FILE} (FILE and FILE.mem)\n"
	"                          or {\"cmd\":\"migrate\",\"to\":ADDR} (to a run --incoming "
	"ADDR);\n"
	"                          send one with `lgkvm api PATH JSON`\n"
	"  -h, --help              this text\n"
	"  -V, --version           print the version\n"
	"\n"
	"Options for restore (bring back a snapshot; README.md, \"Snapshots\"): those of\n"
	"run, but for --mem, --initrd, --abi, --pae, --no-fast-path and --no-irqchip, which\n"
	"the snapshot fixes.  Without --disk/--net the snapshot's own devices are used\n"
	"(disks by file name, taps by interface name); with them, give all, in order.\n"
	"      --force             take a disk that changed since the snapshot\n"
	"run --incoming ADDR waits at ADDR (unix:PATH, or tcp:ADDRESS:PORT with IPv4\n"
	"numbers) for a guest a `migrate` sends, and runs it; options as for restore.\n"
	"--max-downtime MS (run, restore) is the pause a `migrate` aims to stay within\n"
	"(default 20; a request's \"max_downtime_ms\" overrides it).\n"
	"run --migrate-every SECONDS moves the running guest to a new lgkvm process that\n"
	"often, again and again (its disks, taps and console follow); the exit status\n"
	"is the guest's, as for a plain run.\n"
	"\n"
	"Options for batch (run a JSON manifest of jobs; README.md, \"Farms\"):\n"
	"  -j, --jobs N            guests at once (default: the CPUs; never more than\n"
	"                          free memory holds, each job needing its mem)\n"
	"  -o, --out DIR           results.jsonl, junit.xml, logs/ (default lgkvm-batch-out)\n"
	"      --resume            skip the jobs results.jsonl already has\n"
	"      --shard I/N         run only jobs whose index modulo N is I (default from\n"
	"                          SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT if set)\n"
	"      --console-log-max SIZE  cap for each job's console log (default 1M)\n"
	"      --merge             join shards' results (files or --out dirs) into --out\n"
	"\n"
	"probe checks that this host's KVM can run a 32-bit paged guest at ring 1.\n"
	"inspect prints format, compression, version, generation, PAE and entry of\n"
	"KERNEL, and exits 0 if lgkvm can boot it, 2 (with the reason) if not.\n"
	"\n"
	"Single-valued options may be given once.  Every file is checked before\n"
	"the guest starts: no FIFOs, directories or devices (a disk may be a block\n"
	"device), and no file named twice, except the kernel as its initrd or a\n"
	"read-only disk twice.\n"
	"\n"
	"Exit status:\n"
	"  0  guest powered off           4  guest crashed or panicked\n"
	"  1  lgkvm internal error        5  guest killed: it broke the lguest ABI\n"
	"  2  bad usage, file or image    6  --timeout expired\n"
	"  3  guest restart not done      7  no usable KVM (or no 32-bit paging),\n"
	"     (--no-reboot, --max-reboots)   or a tap that cannot be opened\n"
	"                                 8  interrupted (signal, or Ctrl-C x3)\n"
	"restore: 11 a snapshot that is corrupt, truncated, mismatched or another\n"
	"       lgkvm's (a missing or unreadable one, or a changed disk: 2); the same\n"
	"       for a migration stream.  12: the guest was migrated, and runs elsewhere\n"
	"batch: 0 every job met its expectation, 9 some job did not, 10 bad manifest\n"
	"       (or results to merge), 8 interrupted, 2 bad usage, 1 internal error\n";

void options_usage(FILE *out)
{
	fputs(usage_text, out);
}

/* One line, like every lgkvm message: batch runs keep stderr as a log, and
 * a second "see --help" line would only be noise in it. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg("%s", msg);
	return -1;
}

/* A name the kernel will take for a new interface (dev_valid_name()): we
 * would rather refuse it here, as a usage error, than have TUNSETIFF fail
 * after KVM is set up.  '%' too: the kernel would read it as a "%d" pattern;
 * plain "tap" is the way to ask for a kernel-chosen name. */
static bool tap_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == 0x7F || *p == '/' || *p == ':' || *p == '%')
			return false;
	return true;
}

static int add_device(struct options *opt, int c, char *arg)
{
	if (opt->ndevices >= OPT_MAX_DEVICES)
		return usage_error("at most %s --disk and --net devices in all", "8");
	struct opt_device *d = &opt->devices[opt->ndevices];
	if (c == 'd') {
		d->type = DEV_DISK;
		char *comma = strrchr(arg, ',');
		if (comma && !strcmp(comma, ",ro")) {
			*comma = '\0';
			d->readonly = true;
		} else if (comma && !strcmp(comma, ",rw")) {
			*comma = '\0';
		}
		if (!*arg)
			return usage_error("%s", "--disk needs a file name");
		d->path = arg;
	} else {
		d->type = DEV_NET;
		if (!strcmp(arg, "tap"))
			d->path = NULL;
		else if (!strncmp(arg, "tap=", 4) && tap_name_ok(arg + 4))
			d->path = arg + 4;
		else
			return usage_error(
				"--net '%s': expected tap or tap=NAME, NAME being 1 to 15 "
				"characters without '/', ':', '%%' or blanks",
				arg);
	}
	opt->ndevices++;
	return 0;
}

/* A whole decimal number in [min, max], nothing before or after it. */
static bool number(const char *arg, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static const char *long_name(const struct option *lo, int val)
{
	for (; lo->name; lo++)
		if (lo->val == val)
			return lo->name;
	return "?";
}

/* getopt_long() said '?': an unknown short option (optopt), an unknown or
 * ambiguous long one (optopt 0), or a long one given a value it does not take
 * (optopt its letter, and `arg` the "--name=value" it was given as). */
static int bad_option(const struct option *lo, const char *arg)
{
	if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '=')) {
		const char *name = long_name(lo, optopt);
		size_t n = strcspn(arg + 2, "=");

		if (n && !strncmp(arg + 2, name, n))
			return usage_error("--%s takes no value", name);
	}
	if (optopt)
		return usage_error("unknown option '-%c' (see lgkvm --help)", optopt);
	return usage_error("unknown or ambiguous option '%s' (see lgkvm --help)", arg);
}

int options_parse(struct options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mem", required_argument, NULL, 'm'},
		{"initrd", required_argument, NULL, 'i'},
		{"console-log", required_argument, NULL, 'l'},
		{"console-log-max", required_argument, NULL, 'L'},
		{"timeout", required_argument, NULL, 't'},
		{"disk", required_argument, NULL, 'd'},
		{"net", required_argument, NULL, 'n'},
		{"net-ip", required_argument, NULL, 'I'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"no-sandbox", no_argument, NULL, 'S'},
		{"no-fast-path", no_argument, NULL, 'F'},
		{"no-irqchip", no_argument, NULL, 'Q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"abi", required_argument, NULL, 'A'},
		{"pae", required_argument, NULL, 'P'},
		{"no-reboot", no_argument, NULL, 'R'},
		{"max-reboots", required_argument, NULL, 'M'},
		{"api-sock", required_argument, NULL, 'K'},
		{"force", no_argument, NULL, 'f'},
		{"incoming", required_argument, NULL, 'N'},
		{"migrate-every", required_argument, NULL, 'E'},
		{"max-downtime", required_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	memset(opt, 0, sizeof(*opt));
	opt->mem = 64 * MIB;
	opt->console_log_max = 16 * MIB;
	opt->pae = -1;
	opt->max_reboots = OPT_MAX_REBOOTS_DEFAULT;
	opt->max_downtime_ms = OPT_MAX_DOWNTIME_DEFAULT;

	if (argc < 2)
		return usage_error("%s", "missing command (run, restore, inspect, probe or batch)");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		fputs(usage_text, stdout);
		return 1;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("lgkvm %s\n", LGKVM_VERSION);
		return 1;
	}
	if (!strcmp(cmd, "run"))
		opt->cmd = CMD_RUN;
	else if (!strcmp(cmd, "probe"))
		opt->cmd = CMD_PROBE;
	else if (!strcmp(cmd, "inspect"))
		opt->cmd = CMD_INSPECT;
	else if (!strcmp(cmd, "restore"))
		opt->cmd = CMD_RESTORE;
	else
		return usage_error(
			"unknown command '%s' (expected run, restore, inspect, probe or batch)",
			cmd);

	optind = 2;
	opterr = 0; /* our own one-line messages, not getopt's */
	int c;
	/* Options that take one value: a second one is a mistake (which did
	 * the user mean?), not a silent replacement. */
	static const char once[] = "milLtIAPMKNED";
	bool seen[sizeof(once)] = {false};
	while ((c = getopt_long(argc, argv, "+:m:i:l:t:d:n:vqhV", longopts, NULL)) != -1) {
		const char *o = c ? strchr(once, c) : NULL;
		if (o && seen[o - once])
			return usage_error("--%s given twice", long_name(longopts, c));
		/* What the snapshot fixes is not the restore's to change. */
		if (opt->cmd == CMD_RESTORE && c && strchr("miAPFQ", c))
			return usage_error("--%s comes from the snapshot; restore takes no other",
					   long_name(longopts, c));
		if (opt->cmd != CMD_RESTORE && c == 'f')
			return usage_error("%s", "--force is for restore");
		if (o)
			seen[o - once] = true;
		switch (c) {
		case 'm':
			if (size_parse(optarg, &opt->mem, MIB) || !size_mem_ok(opt->mem))
				return usage_error("--mem '%s' must be a whole number of pages "
						   "between 4M and 3G",
						   optarg);
			break;
		case 'i':
			opt->initrd = optarg;
			break;
		case 'l':
			opt->console_log = optarg;
			break;
		case 'L':
			if (size_parse(optarg, &opt->console_log_max, 1))
				return usage_error("--console-log-max '%s' is not a size", optarg);
			break;
		case 't':
			if (!number(optarg, 1, 31536000, &opt->timeout_s))
				return usage_error("--timeout '%s' must be 1 to 31536000 seconds",
						   optarg);
			break;
		case 'd':
		case 'n':
			if (add_device(opt, c, optarg) < 0)
				return -1;
			break;
		case 'I': {
			struct in_addr addr, mask;
			if (!net_parse_ip(optarg, &addr, &mask))
				return usage_error("--net-ip %s: expected an IPv4 address, "
						   "optionally with /PREFIX (0-32)",
						   optarg);
			opt->net_ip = optarg;
			break;
		}
		case 'v':
			opt->verbose++;
			break;
		case 'q':
			opt->quiet = true;
			break;
		case 'S':
			opt->no_sandbox = true;
			break;
		case 'F':
			opt->no_fast_path = true;
			break;
		case 'Q':
			opt->no_irqchip = true;
			break;
		case 'A':
			if (!abi_by_name(optarg))
				return usage_error("--abi '%s': expected a generation G0..G10 (see "
						   "docs/abi.md)",
						   optarg);
			opt->abi = optarg;
			break;
		case 'P':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
				return usage_error("--pae '%s': expected yes or no", optarg);
			opt->pae = strcmp(optarg, "yes") == 0;
			break;
		case 'R':
			opt->no_reboot = true;
			break;
		case 'M':
			if (!number(optarg, 0, 1000, &opt->max_reboots))
				return usage_error("--max-reboots '%s' must be 0 to 1000", optarg);
			break;
		case 'f':
			opt->force = true;
			break;
		case 'N':
			if (opt->cmd != CMD_RUN)
				return usage_error("%s", "--incoming is for run");
			opt->incoming = optarg;
			break;
		case 'D':
			if (!number(optarg, 1, 60000, &opt->max_downtime_ms))
				return usage_error("--max-downtime '%s' must be 1 to 60000 ms",
						   optarg);
			break;
		case 'E':
			if (opt->cmd != CMD_RUN)
				return usage_error("%s", "--migrate-every is for run");
			if (!number(optarg, 1, 86400, &opt->migrate_every))
				return usage_error(
					"--migrate-every '%s' must be 1 to 86400 seconds", optarg);
			break;
		case 'K':
			if (opt->cmd != CMD_RUN && opt->cmd != CMD_RESTORE)
				return usage_error("%s", "--api-sock is for run and restore");
			if (!optarg[0])
				return usage_error("%s", "--api-sock needs a path");
			opt->api_sock = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case 'V':
			printf("lgkvm %s\n", LGKVM_VERSION);
			return 1;
		case ':':
			return usage_error("--%s needs a value", long_name(longopts, optopt));
		default:
			return bad_option(longopts, argv[optind - 1]);
		}
	}

	if (opt->net_ip && opt->cmd != CMD_RESTORE) {
		bool have_net = false;
		for (unsigned i = 0; i < opt->ndevices; i++)
			have_net |= opt->devices[i].type == DEV_NET;
		if (!have_net)
			return usage_error("%s", "--net-ip needs --net");
	}
	if (opt->cmd == CMD_PROBE) {
		if (optind < argc)
			return usage_error("probe takes no argument ('%s')", argv[optind]);
		return 0;
	}
	if (opt->cmd == CMD_RESTORE) {
		if (optind >= argc || !strcmp(argv[optind], "--"))
			return usage_error("%s", "missing STATE (the snapshot's state file)");
		opt->state = argv[optind++];
		if (optind < argc)
			return usage_error(
				"unexpected argument '%s' (restore takes STATE only: the "
				"guest's command line is the snapshot's)",
				argv[optind]);
		return 0;
	}
	if (opt->migrate_every && (opt->incoming || opt->api_sock))
		return usage_error("%s", "--migrate-every makes its own control sockets and "
					 "destinations: not with --api-sock or --incoming");
	if (opt->incoming) {
		/* The guest, its kernel and what the snapshot fixes come from
		 * the source. */
		if (seen[strchr(once, 'm') - once] || opt->initrd || opt->abi || opt->pae >= 0 ||
		    opt->no_fast_path || opt->no_irqchip)
			return usage_error("%s",
					   "--mem, --initrd, --abi, --pae, --no-fast-path and "
					   "--no-irqchip come from the migrating guest");
		if (optind < argc)
			return usage_error("unexpected argument '%s' (with --incoming the guest "
					   "and its kernel come from the source)",
					   argv[optind]);
		return 0;
	}
	if (optind >= argc || !strcmp(argv[optind], "--"))
		return usage_error("%s", "missing KERNEL");
	opt->kernel = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") != 0)
		return usage_error("unexpected argument '%s' (guest arguments go after --)",
				   argv[optind]);
	if (optind < argc)
		optind++; /* the "--" */
	/* The Launcher's concat(): each argument followed by one space. */
	size_t len = 0;
	for (; optind < argc; optind++) {
		size_t n = strlen(argv[optind]);
		if (len + n + 2 > sizeof(opt->cmdline))
			return usage_error("%s", "guest command line longer than 2047 bytes");
		memcpy(opt->cmdline + len, argv[optind], n);
		len += n;
		opt->cmdline[len++] = ' ';
	}
	opt->cmdline[len] = '\0';
	return 0;
}
