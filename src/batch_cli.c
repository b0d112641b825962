/* The `lgkvm batch` command line.  Like `lgkvm run`, every bad input is one
 * sentence on stderr and EXIT_USAGE; a bad manifest is EXIT_BATCH_MANIFEST,
 * so a farm's scripts can tell "fix the submission" from "a guest failed". */
#include "src/batch_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/batch_manifest.h"
#include "src/batch_run.h"
#include "src/exitcodes.h"
#include "src/log.h"
#include "src/options.h"
#include "src/sizes.h"

static int usage(const char *fmt, const char *arg)
{
	log_msg(fmt, arg);
	return EXIT_USAGE;
}

/* Slurm array jobs: SLURM_ARRAY_TASK_ID counts from SLURM_ARRAY_TASK_MIN
 * (often 0, sometimes 1), SLURM_ARRAY_TASK_COUNT tasks in all. */
static int shard_from_slurm(unsigned *i, unsigned *n)
{
	const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
	const char *min = getenv("SLURM_ARRAY_TASK_MIN");
	if (!id || !count)
		return 0;
	char spec[64];
	long k = strtol(id, NULL, 10) - (min ? strtol(min, NULL, 10) : 0);
	snprintf(spec, sizeof(spec), "%ld/%s", k, count);
	if (batch_parse_shard(spec, i, n) < 0) {
		log_msg("SLURM_ARRAY_TASK_ID=%s, SLURM_ARRAY_TASK_COUNT=%s%s%s: not a shard I/N "
			"(I from 0 to N-1)",
			id, count, min ? ", SLURM_ARRAY_TASK_MIN=" : "", min ? min : "");
		return -1;
	}
	return 1;
}

int batch_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"jobs", required_argument, NULL, 'j'},
		{"out", required_argument, NULL, 'o'},
		{"resume", no_argument, NULL, 'r'},
		{"shard", required_argument, NULL, 's'},
		{"merge", no_argument, NULL, 'M'},
		{"console-log-max", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct batch_config cfg = {
		.out = "lgkvm-batch-out",
		.exe = "/proc/self/exe",
		.jobs = ncpu > 0 ? (unsigned)ncpu : 1,
		.console_max = 1u << 20,
		.progress = isatty(2),
	};
	bool merge = false, shard_given = false;
	int c;
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:j:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': {
			char *end;
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || optarg[0] == '-' || n == 0 ||
			    n > 1024)
				return usage("--jobs '%s' must be 1 to 1024", optarg);
			cfg.jobs = (unsigned)n;
			break;
		}
		case 'o':
			if (!*optarg)
				return usage("%s", "--out needs a directory");
			cfg.out = optarg;
			break;
		case 'r':
			cfg.resume = true;
			break;
		case 's':
			if (batch_parse_shard(optarg, &cfg.shard, &cfg.nshards) < 0)
				return usage("--shard '%s': expected I/N, I from 0 to N-1", optarg);
			shard_given = true;
			break;
		case 'M':
			merge = true;
			break;
		case 'L':
			if (size_parse(optarg, &cfg.console_max, 1) < 0)
				return usage("--console-log-max '%s' is not a size", optarg);
			break;
		case 'h':
			options_usage(stdout);
			return EXIT_POWEROFF;
		case ':':
			return usage("batch: option '%s' needs a value", argv[optind - 1]);
		default:
			return usage("batch: unknown option '%s' (see lgkvm --help)",
				     argv[optind - 1]);
		}
	}
	if (merge) {
		if (optind >= argc)
			return usage("%s", "--merge needs the results (files or --out directories) "
					   "of the shards to join");
		if (cfg.resume || shard_given)
			return usage("%s", "--merge joins results: no --resume or --shard with it");
		return batch_merge(cfg.out, argv + optind, argc - optind);
	}
	if (optind >= argc)
		return usage("%s", "batch: missing MANIFEST");
	if (optind + 1 < argc)
		return usage("batch: unexpected argument '%s' (one MANIFEST)", argv[optind + 1]);
	if (!shard_given) {
		int r = shard_from_slurm(&cfg.shard, &cfg.nshards);
		if (r < 0)
			return EXIT_USAGE;
	}
	char err[1024];
	struct batch_manifest m;
	if (batch_manifest_load(&m, argv[optind], err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return EXIT_BATCH_MANIFEST;
	}
	/* Each job needs its RAM: never more at once than the machine has. */
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof(line), f) && sscanf(line, "MemAvailable: %llu kB", &kb) != 1)
		;
	if (f)
		fclose(f);
	cfg.mem_budget = kb ? kb * 1024 : UINT64_MAX;
	int code = batch_run(&m, &cfg);
	batch_manifest_free(&m);
	return code;
}
