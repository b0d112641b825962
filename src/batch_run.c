/* Running a batch (see batch_run.h).
 *
 * One loop in the parent: start jobs while there is a free slot and memory
 * for the next one, wait up to a quarter second for a child to end (SIGCHLD
 * is blocked and taken with sigtimedwait, so no handler races the loop),
 * judge and record what ended, redraw the progress line.  A stop signal
 * (src/signals.c records it; it also breaks the wait) stops the starting,
 * sends SIGTERM to every running child -- lgkvm run stops its guest cleanly
 * on it, exit 8 -- and the loop waits for them all.  A job stopped that way
 * gets no record, so --resume runs it again. */
#include "src/batch_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/batch_overlay.h"
#include "src/batch_prep.h"
#include "src/batch_results.h"
#include "src/exitcodes.h"
#include "src/log.h"
#include "src/signals.h"

/* What lgkvm run needs beyond the guest's RAM (page tables, rings, buffers,
 * the binary): counted against the memory budget with each job. */
#define JOB_OVERHEAD (32ull << 20)
/* A child still there this long after its own --timeout is hung: killed. */
#define HUNG_GRACE_NS (30ull * 1000000000ull)
#define PATH_LEN      4096
#define ERR_LEN	      (2 * PATH_LEN + 1024) /* a sentence quoting two paths */

struct slot {
	pid_t pid; /* 0: free */
	size_t job;
	unsigned attempt;
	uint64_t start_ns;
	bool killed; /* we sent SIGKILL (hung) */
	char tmp[PATH_LEN];
	char console[PATH_LEN];
	char errlog[PATH_LEN];
};

struct batch {
	const struct batch_manifest *m;
	const struct batch_config *cfg;
	int results_fd;
	size_t *queue; /* job indices still to start, in order */
	size_t nqueue, next;
	size_t *retry; /* jobs to run again (before the queue), with their attempt */
	unsigned *retry_attempt;
	size_t nretry;
	struct slot *slots;
	unsigned running;
	uint64_t mem_used;
	size_t total, done, unmet;
	uint64_t start_ns, stop_ns;
	bool stopping, write_failed;
	struct batch_prep prep; /* kernels prepared once for every job */
	char err[ERR_LEN];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A job's files are named by its index and a tamed copy of its name: names
 * may hold '/' or spaces (a matrix's kernel paths), file names may not. */
static void file_name(char *out, size_t len, const char *dir, const struct batch_job *j,
		      const char *suffix)
{
	char safe[64];
	size_t k = 0;
	for (const char *p = j->name; *p && k < sizeof(safe) - 1; p++)
		safe[k++] = (strchr("-_.", *p) || (*p >= '0' && *p <= '9') ||
			     ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
				    ? *p
				    : '_';
	safe[k] = '\0';
	if (snprintf(out, len, "%s/%05u-%s%s", dir, j->index, safe, suffix) >= (int)len)
		out[0] = '\0';
}

/* Remove a job's scratch directory and what is in it (one level: we put
 * only disk copies there). */
static void remove_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* Left over from a batch that was killed outright (SIGKILL, a node lost):
 * nothing in out/tmp belongs to a live job when a batch starts. */
static void clear_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *e;
	char p[PATH_LEN];
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name) < (int)sizeof(p))
			remove_tmp(p);
	closedir(d);
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "--out: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t job_mem(const struct batch_job *j)
{
	return j->mem_bytes + JOB_OVERHEAD;
}

/* Private copies of the job's writable disks, in its scratch directory;
 * read-only ones are shared as they are.  0, or -1 with err. */
static int make_disks(struct batch *b, struct slot *s, const struct batch_job *j,
		      char disks[][PATH_LEN])
{
	if (mkdir(s->tmp, 0700) < 0 && errno != EEXIST) {
		snprintf(b->err, sizeof(b->err), "cannot create %s: %s", s->tmp, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < j->ndisks; i++) {
		if (j->disks[i].readonly) {
			if (snprintf(disks[i], PATH_LEN, "%s,ro", j->disks[i].path) >= PATH_LEN) {
				snprintf(b->err, sizeof(b->err), "disk %u: the path is too long",
					 i);
				return -1;
			}
			continue;
		}
		if (snprintf(disks[i], PATH_LEN, "%s/disk%u.img", s->tmp, i) >= PATH_LEN) {
			snprintf(b->err, sizeof(b->err), "--out: the path is too long");
			return -1;
		}
		if (batch_overlay_copy(j->disks[i].path, disks[i], true, b->err, sizeof(b->err)) <
		    0)
			return -1;
	}
	return 0;
}

/* In the child: become `lgkvm run` with the job's arguments. */
static void exec_job(const struct batch *b, const struct slot *s, const struct batch_job *j,
		     char disks[][PATH_LEN], pid_t parent)
{
	const char *argv[64 + 3 * BATCH_MAX_LIST];
	char logmax[32], timeout[16];
	unsigned n = 0;
	snprintf(logmax, sizeof(logmax), "%llu", (unsigned long long)b->cfg->console_max);
	snprintf(timeout, sizeof(timeout), "%u", j->timeout_s);
	argv[n++] = "lgkvm";
	argv[n++] = "run";
	argv[n++] = "--console-log";
	argv[n++] = s->console;
	argv[n++] = "--console-log-max";
	argv[n++] = logmax;
	argv[n++] = "--mem";
	argv[n++] = j->mem;
	if (j->timeout_s) {
		argv[n++] = "--timeout";
		argv[n++] = timeout;
	}
	if (j->initrd) {
		argv[n++] = "--initrd";
		argv[n++] = j->initrd;
	}
	for (unsigned i = 0; i < j->ndisks; i++) {
		argv[n++] = "--disk";
		argv[n++] = disks[i];
	}
	for (unsigned i = 0; i < j->nnets; i++) {
		argv[n++] = "--net";
		argv[n++] = j->nets[i];
	}
	if (j->net_ip) {
		argv[n++] = "--net-ip";
		argv[n++] = j->net_ip;
	}
	const struct batch_prepared *k = batch_prep_find(&b->prep, j->kernel);
	if (k) {
		argv[n++] = "--abi";
		argv[n++] = k->abi;
		argv[n++] = "--pae";
		argv[n++] = k->pae ? "yes" : "no";
	}
	argv[n++] = k ? k->path : j->kernel;
	argv[n++] = "--";
	for (unsigned i = 0; i < j->nargs; i++)
		argv[n++] = j->args[i];
	argv[n] = NULL;

	/* stdin and stdout: nothing (the console log has the output); stderr:
	 * the job's own file. */
	int in = open("/dev/null", O_RDWR | O_CLOEXEC);
	int err = open(s->errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || err < 0 || dup2(in, 0) < 0 || dup2(in, 1) < 0 || dup2(err, 2) < 0)
		_exit(EXIT_INTERNAL);
	/* Never outlive the batch, even one killed outright. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(EXIT_INTERRUPTED);
	/* The parent forked with every signal blocked.  A stop signal that
	 * came since is pending here: with the batch's handler it would only
	 * set a flag that exec then forgets, and the guest would run on.  At
	 * the default action it ends this child instead, as it should. */
	static const int stop[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		signal(stop[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(b->cfg->exe, (char *const *)argv);
	dprintf(2, "lgkvm: cannot run %s: %s\n", b->cfg->exe, strerror(errno));
	_exit(EXIT_INTERNAL);
}

static void record(struct batch *b, const struct batch_outcome *o)
{
	if (batch_results_append(b->results_fd, o, b->err, sizeof(b->err)) < 0) {
		log_msg("%s", b->err);
		b->write_failed = true;
	}
	b->done++;
	b->unmet += !o->met;
}

/* A job that could not even start (its disk could not be copied): it ends
 * here, as lgkvm run would have for a bad file. */
static void record_unstarted(struct batch *b, const struct batch_job *j, unsigned attempt)
{
	char problem[ERR_LEN + 16];
	snprintf(problem, sizeof(problem), "not started: %s", b->err);
	record(b, &(struct batch_outcome){.name = j->name,
					  .index = j->index,
					  .met = j->expect == EXIT_USAGE,
					  .exit_code = EXIT_USAGE,
					  .expected = j->expect,
					  .problem = j->expect == EXIT_USAGE ? NULL : problem,
					  .reason = b->err,
					  .retries = attempt,
					  .tags = j->tags,
					  .ntags = j->ntags});
}

static int start_job(struct batch *b, size_t job, unsigned attempt)
{
	const struct batch_job *j = &b->m->jobs[job];
	struct slot *s = NULL;
	for (unsigned i = 0; i < b->cfg->jobs && !s; i++)
		if (!b->slots[i].pid)
			s = &b->slots[i];
	if (!s)
		return -1; /* can_start() said there was one */
	char dir[PATH_LEN], tmpname[32];
	snprintf(dir, sizeof(dir), "%s/logs", b->cfg->out);
	file_name(s->console, sizeof(s->console), dir, j, ".console");
	file_name(s->errlog, sizeof(s->errlog), dir, j, ".stderr");
	snprintf(tmpname, sizeof(tmpname), "/%05u.%u", j->index, attempt);
	snprintf(s->tmp, sizeof(s->tmp), "%s/tmp%s", b->cfg->out, tmpname);
	char(*disks)[PATH_LEN] = calloc(j->ndisks ? j->ndisks : 1, PATH_LEN);
	if (!disks || !s->console[0] || !s->errlog[0] || make_disks(b, s, j, disks) < 0) {
		if (!disks || !s->console[0] || !s->errlog[0])
			snprintf(b->err, sizeof(b->err), "out of memory, or --out too long");
		remove_tmp(s->tmp);
		free(disks);
		record_unstarted(b, j, attempt);
		return 0;
	}
	fflush(NULL);
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0)
		exec_job(b, s, j, disks, parent);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(disks);
	if (pid < 0) {
		log_msg("cannot start a job: %s", strerror(errno));
		remove_tmp(s->tmp);
		return -1;
	}
	s->pid = pid;
	s->job = job;
	s->attempt = attempt;
	s->start_ns = mono_ns();
	s->killed = false;
	b->running++;
	b->mem_used += job_mem(j);
	return 0;
}

/* The last "lgkvm: " line of the job's stderr, without the prefix. */
static void last_reason(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[1024];
	/* Only the tail matters, and a -v run's stderr can be huge. */
	if (fseek(f, -65536, SEEK_END) == 0)
		(void)!fgets(line, sizeof(line), f); /* a partial first line */
	else
		rewind(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "lgkvm: ", 7)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + 7);
		}
	fclose(f);
}

/* Check the console log against the job's patterns; a problem, or "". */
static void check_console(const struct batch_job *j, const char *path, uint64_t max, char *out,
			  size_t len)
{
	out[0] = '\0';
	if (!j->nmatch && !j->nabsent)
		return;
	FILE *f = fopen(path, "re");
	size_t cap = max ? (size_t)max : (64u << 20), n = 0;
	char *text = malloc(cap + 1);
	if (f && text)
		n = fread(text, 1, cap, f);
	if (f)
		fclose(f);
	if (!text) {
		snprintf(out, len, "console: out of memory to read %s", path);
		return;
	}
	for (unsigned i = 0; i < j->nmatch && !out[0]; i++)
		if (!memmem(text, n, j->match[i], strlen(j->match[i])))
			snprintf(out, len, "console lacks '%s'", j->match[i]);
	for (unsigned i = 0; i < j->nabsent && !out[0]; i++)
		if (memmem(text, n, j->absent[i], strlen(j->absent[i])))
			snprintf(out, len, "console has '%s'", j->absent[i]);
	free(text);
}

static void finish(struct batch *b, struct slot *s, int status)
{
	const struct batch_job *j = &b->m->jobs[s->job];
	double wall = (double)(mono_ns() - s->start_ns) / 1e9;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	s->pid = 0;
	b->running--;
	b->mem_used -= job_mem(j);
	remove_tmp(s->tmp);
	/* Stopped by us on the way out: not a result, --resume reruns it. */
	if (b->stopping && (code == EXIT_INTERRUPTED || !WIFEXITED(status)))
		return;

	char reason[1024], problem[ERR_LEN] = "", console[ERR_LEN / 2];
	last_reason(s->errlog, reason, sizeof(reason));
	if (s->killed)
		snprintf(reason, sizeof(reason), "hung: killed %u s after its timeout",
			 (unsigned)(HUNG_GRACE_NS / 1000000000u));
	if (code != j->expect)
		snprintf(problem, sizeof(problem), "exit %d (%s), expected %d (%s)", code,
			 batch_exit_meaning(code), j->expect, batch_exit_meaning(j->expect));
	check_console(j, s->console, b->cfg->console_max, console, sizeof(console));
	if (!problem[0] && console[0])
		snprintf(problem, sizeof(problem), "%s", console);
	bool met = !problem[0];
	if (!met && s->attempt < j->retries && !b->stopping) {
		b->retry[b->nretry] = s->job;
		b->retry_attempt[b->nretry++] = s->attempt + 1;
		return;
	}
	record(b, &(struct batch_outcome){.name = j->name,
					  .index = j->index,
					  .met = met,
					  .exit_code = code,
					  .expected = j->expect,
					  .problem = met ? NULL : problem,
					  .reason = reason,
					  .wall_s = wall,
					  .log = s->console,
					  .retries = s->attempt,
					  .tags = j->tags,
					  .ntags = j->ntags});
}

static void progress(struct batch *b, bool last)
{
	if (!b->cfg->progress)
		return;
	if (last) {
		fputs("\r\033[K", stderr);
		return;
	}
	double el = (double)(mono_ns() - b->start_ns) / 1e9;
	double rate = el > 0 ? (double)b->done / el : 0;
	char eta[32] = "--";
	if (b->done && rate > 0) {
		unsigned s = (unsigned)((double)(b->total - b->done) / rate);
		snprintf(eta, sizeof(eta), "%u:%02u", s / 60, s % 60);
	}
	fprintf(stderr,
		"\rlgkvm batch: %zu/%zu done, %u running, %zu failed; %.2f jobs/s, ETA %s\033[K",
		b->done, b->total, b->running, b->unmet, rate, eta);
	fflush(stderr);
}

/* May the next job start now?  A slot, and memory for it -- though a job
 * that alone exceeds the budget still runs, alone, rather than never. */
static bool can_start(const struct batch *b, size_t job)
{
	uint64_t need = job_mem(&b->m->jobs[job]);
	return b->running < b->cfg->jobs &&
	       (b->running == 0 || b->mem_used + need <= b->cfg->mem_budget);
}

static void reap(struct batch *b)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (unsigned i = 0; i < b->cfg->jobs; i++)
			if (b->slots[i].pid == pid) {
				finish(b, &b->slots[i], status);
				break;
			}
}

/* A job past its timeout by HUNG_GRACE_NS, or one still there that long
 * after the batch was told to stop, is hung: SIGKILL. */
static void watchdog(struct batch *b)
{
	uint64_t now = mono_ns();
	for (unsigned i = 0; i < b->cfg->jobs; i++) {
		struct slot *s = &b->slots[i];
		const struct batch_job *j = &b->m->jobs[s->job];
		bool late =
			j->timeout_s &&
			now - s->start_ns > (uint64_t)j->timeout_s * 1000000000u + HUNG_GRACE_NS;
		if (b->stopping && now - b->stop_ns > HUNG_GRACE_NS)
			late = true;
		if (s->pid && !s->killed && late) {
			kill(s->pid, SIGKILL);
			s->killed = true;
		}
	}
}

static void loop(struct batch *b)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (true) {
		while (!b->stopping && (b->nretry || b->next < b->nqueue)) {
			size_t job = b->nretry ? b->retry[b->nretry - 1] : b->queue[b->next];
			if (!can_start(b, job))
				break;
			unsigned attempt = 0;
			if (b->nretry)
				attempt = b->retry_attempt[--b->nretry];
			else
				b->next++;
			if (start_job(b, job, attempt) < 0) {
				b->write_failed = true;
				b->stopping = true;
			}
		}
		if (!b->running)
			break;
		progress(b, false);
		struct timespec tick = {0, 250000000};
		sigtimedwait(&chld, NULL, &tick);
		reap(b);
		watchdog(b);
		if (signals_pending_stop() && !b->stopping) {
			b->stopping = true;
			b->stop_ns = mono_ns();
			for (unsigned i = 0; i < b->cfg->jobs; i++)
				if (b->slots[i].pid)
					kill(b->slots[i].pid, SIGTERM);
		}
	}
	progress(b, true);
}

/* --resume appends after what is there; a line torn by a kill must not
 * swallow the first new record, so the file is cut after its last newline. */
static int open_results(const char *path, bool resume, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open it: %s", path, strerror(errno));
		return -1;
	}
	off_t end = lseek(fd, 0, SEEK_END), keep = end;
	char c;
	while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
		keep--;
	if (keep != end && ftruncate(fd, keep) < 0) {
		snprintf(err, errlen, "%s: cannot cut its torn last line: %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* junit.xml and the summary, from results.jsonl: every job it records,
 * resumed ones included.  The exit status for "all met" or not. */
static int report(const char *out, const char *results, size_t expected_records)
{
	char err[ERR_LEN], path[PATH_LEN];
	struct batch_results r = {0};
	if (batch_results_load(&r, results, true, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return EXIT_INTERNAL;
	}
	snprintf(path, sizeof(path), "%s/junit.xml", out);
	int code = EXIT_POWEROFF;
	if (batch_results_junit(&r, path, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		code = EXIT_INTERNAL;
	}
	batch_results_summary(&r, stdout);
	fflush(stdout);
	if (code == EXIT_POWEROFF && (batch_results_unmet(&r) || r.n < expected_records))
		code = EXIT_BATCH_UNMET;
	batch_results_free(&r);
	return code;
}

int batch_run(const struct batch_manifest *m, const struct batch_config *cfg)
{
	struct batch b = {.m = m, .cfg = cfg, .results_fd = -1};
	char path[PATH_LEN], results[PATH_LEN];
	int code = EXIT_INTERNAL;
	snprintf(results, sizeof(results), "%s/results.jsonl", cfg->out);
	snprintf(path, sizeof(path), "%s/logs", cfg->out);
	if (strlen(cfg->out) > PATH_LEN - 128 || make_dir(cfg->out, b.err, sizeof(b.err)) < 0 ||
	    make_dir(path, b.err, sizeof(b.err)) < 0) {
		if (!b.err[0])
			snprintf(b.err, sizeof(b.err), "--out: the path is too long");
		log_msg("%s", b.err);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/tmp", cfg->out);
	if (make_dir(path, b.err, sizeof(b.err)) < 0) {
		log_msg("%s", b.err);
		return EXIT_USAGE;
	}
	clear_tmp(path);

	/* What this run owes: the shard's jobs, less those already done. */
	struct batch_results done = {0};
	if (cfg->resume && batch_results_load(&done, results, true, b.err, sizeof(b.err)) < 0) {
		log_msg("%s (--resume needs a results file it can read)", b.err);
		return EXIT_BATCH_MANIFEST;
	}
	b.queue = malloc((m->njobs + 1) * sizeof(*b.queue));
	b.retry = malloc((cfg->jobs + 1) * sizeof(*b.retry));
	b.retry_attempt = malloc((cfg->jobs + 1) * sizeof(*b.retry_attempt));
	b.slots = calloc(cfg->jobs, sizeof(*b.slots));
	if (!b.queue || !b.retry || !b.retry_attempt || !b.slots) {
		log_msg("out of memory");
		goto out;
	}
	size_t in_shard = 0;
	for (size_t i = 0; i < m->njobs; i++) {
		if (!batch_in_shard(i, cfg->shard, cfg->nshards))
			continue;
		in_shard++;
		if (!batch_results_has(&done, m->jobs[i].name))
			b.queue[b.nqueue++] = i;
	}
	b.total = b.nqueue;
	for (size_t i = 0; i < b.nqueue; i++)
		batch_prep_kernel(&b.prep, cfg->out, m->jobs[b.queue[i]].kernel);
	if (cfg->resume && in_shard > b.nqueue)
		log_msg("resuming: %zu of %zu jobs already have results", in_shard - b.nqueue,
			in_shard);
	b.results_fd = open_results(results, cfg->resume, b.err, sizeof(b.err));
	if (b.results_fd < 0) {
		log_msg("%s", b.err);
		code = EXIT_USAGE;
		goto out;
	}
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	b.start_ns = mono_ns();
	loop(&b);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(b.results_fd);

	/* A resumed run reports on the records of this shard's jobs only if
	 * the file holds nothing else; it holds only this out's jobs anyway. */
	code = report(cfg->out, results, in_shard);
	if (b.write_failed)
		code = EXIT_INTERNAL;
	if (signals_pending_stop()) {
		log_msg("interrupted: %zu jobs finished are in %s; --resume runs the rest", b.done,
			results);
		code = EXIT_INTERRUPTED;
	}
out:
	batch_prep_free(&b.prep);
	batch_results_free(&done);
	free(b.queue);
	free(b.retry);
	free(b.retry_attempt);
	free(b.slots);
	return code;
}

int batch_merge(const char *out, char *const *inputs, int ninputs)
{
	char err[ERR_LEN], path[PATH_LEN];
	struct batch_results r = {0};
	int code = EXIT_POWEROFF;
	for (int i = 0; i < ninputs && code == EXIT_POWEROFF; i++) {
		struct stat st;
		const char *in = inputs[i];
		if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(path, sizeof(path), "%s/results.jsonl", in);
			in = path;
		}
		if (batch_results_load(&r, in, false, err, sizeof(err)) < 0) {
			log_msg("%s", err);
			code = EXIT_BATCH_MANIFEST;
		}
	}
	if (code == EXIT_POWEROFF && make_dir(out, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		code = EXIT_USAGE;
	}
	if (code == EXIT_POWEROFF) {
		snprintf(path, sizeof(path), "%s/results.jsonl", out);
		if (batch_results_write(&r, path, err, sizeof(err)) < 0) {
			log_msg("%s", err);
			code = EXIT_INTERNAL;
		}
	}
	if (code == EXIT_POWEROFF) {
		snprintf(path, sizeof(path), "%s/junit.xml", out);
		if (batch_results_junit(&r, path, err, sizeof(err)) < 0) {
			log_msg("%s", err);
			code = EXIT_INTERNAL;
		}
	}
	if (code == EXIT_POWEROFF) {
		batch_results_summary(&r, stdout);
		if (batch_results_unmet(&r))
			code = EXIT_BATCH_UNMET;
	}
	batch_results_free(&r);
	return code;
}
