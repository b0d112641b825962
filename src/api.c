/* The control channel: `lgkvm run --api-sock PATH` (docs/DESIGN.md §3.7).
 *
 * A Unix stream socket, created owner-only before the guest starts.  A client
 * sends one JSON object per line and gets one JSON object per line back:
 *
 *	{"cmd":"status"}   {"ok":true,"state":"running","generation":"G9",...}
 *	{"cmd":"pause"}    the vCPU stops running guest code (answered once it has)
 *	{"cmd":"resume"}   it runs again
 *	{"cmd":"stop"}     the guest ends, lgkvm exits 8 ("stopped through the API")
 *	{"cmd":"snapshot","path":"vm.state"}
 *	                   vm.state and vm.state.mem, new files (src/snapshot.c);
 *	                   the guest is paused for it and left as it was
 *	{"cmd":"migrate","to":"unix:/run/in.sock"}
 *	                   the guest moves to `lgkvm run --incoming` there
 *	                   (src/migrate.c); this lgkvm then exits 12
 *
 * Anything else is answered {"ok":false,"error":"..."}.  One client at a time, served by one thread
 * that the sandbox lets accept, read, write and poll, nothing more.  The
 * requests are untrusted input like the guest's: parsed by json-c, bounded
 * (API_LINE_MAX per line, an idle client dropped), fuzzed (tests/fuzz/
 * fuzz_api.c).  Signals keep their meaning; the API adds, it replaces nothing.
 *
 * Pausing holds the vCPU thread in api_pause_point(), between exits, asleep
 * on an eventfd with the kick signal unblocked, so a stop (or a signal) still
 * ends it.  The guest's clock is the host's: a paused guest finds the time
 * moved on when it resumes, as after a host suspend. */
#include "src/api.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvm-glue/vcpu.h"
#include "pvabi/host.h"
#include "src/efd.h"
#include "src/log.h"
#include "src/migrate.h"
#include "src/unix_listen.h"
#include "src/vm.h"

#define CLIENT_IDLE_MS 30000  /* a client that sends nothing this long is dropped */
#define PAUSE_WAIT_MS  5000   /* how long "pause" waits for the vCPU to hold */
#define SNAP_WAIT_MS   600000 /* how long "snapshot" waits for the files to be written */
#define SNAP_PATH_LEN  4000   /* a longer path is refused */

int api_open(struct vm *vm, const char *path, char *err, size_t errlen)
{
	struct api *a = &vm->api;
	char why[200];
	if (strlen(path) >= sizeof(a->path)) {
		snprintf(err, errlen, "--api-sock %s: the path is too long for a socket", path);
		return -1;
	}
	a->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->ack_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->resume_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_efd < 0 || a->ack_efd < 0 || a->resume_efd < 0) {
		snprintf(err, errlen, "--api-sock: %s", strerror(errno));
		api_close(vm);
		return -1;
	}
	/* Owner-only, and there only once it answers (src/unix_listen.h). */
	a->listen_fd = unix_listen(path, 4, SOCK_NONBLOCK, why, sizeof(why));
	if (a->listen_fd < 0) {
		snprintf(err, errlen, "--api-sock %s: %s", path, why);
		api_close(vm);
		return -1;
	}
	strcpy(a->path, path);
	/* For `migrate`: which pages were written (src/migrate.c).  Without
	 * them (no /proc, say) a migration is refused, nothing else. */
	a->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	a->clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	/* json-c seeds its string hash from the kernel (getrandom) the first
	 * time it hashes a key: have that happen now, before the sandbox. */
	json_object *warm = json_tokener_parse("{\"cmd\":\"status\"}");
	json_object_put(warm);
	return 0;
}

/*
 * The protocol.
 */

static size_t reply_json(json_object *o, char *reply, size_t size)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int n = snprintf(reply, size, "%s", s);
	json_object_put(o);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static size_t reply_error(const char *msg, char *reply, size_t size)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return reply_json(o, reply, size);
}

static size_t reply_ok(json_object *o, char *reply, size_t size)
{
	if (!o)
		o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return reply_json(o, reply, size);
}

static json_object *status(struct vm *vm)
{
	json_object *o = json_object_new_object();
	uint64_t now = now_ns();
	const char *state = vm->dead				     ? "stopping"
			    : !atomic_load(&vm->kvm.vcpu_thread_set) ? "starting"
			    : atomic_load(&vm->api.paused)	     ? "paused"
			    : atomic_load(&vm->api.pause_req)	     ? "pausing"
								     : "running";
	json_object_object_add(o, "state", json_object_new_string(state));
	if (vm->lg.abi)
		json_object_object_add(o, "generation", json_object_new_string(vm->lg.abi->name));
	json_object_object_add(o, "kernel",
			       json_object_new_string(vm->opt.kernel ? vm->opt.kernel : ""));
	json_object_object_add(o, "mem_mib", json_object_new_int64((int64_t)(vm->opt.mem >> 20)));
	json_object_object_add(
		o, "uptime_ms",
		json_object_new_int64(vm->boot_ns ? (int64_t)((now - vm->boot_ns) / 1000000) : 0));
	json_object_object_add(o, "paused_ms",
			       json_object_new_int64((int64_t)(vm->api.paused_ns / 1000000)));
	json_object_object_add(
		o, "exits",
		json_object_new_int64((int64_t)(vm->exits.monitor + vm->exits.mmio +
						vm->exits.kicks + vm->exits.windows)));
	json_object_object_add(o, "hypercalls",
			       json_object_new_int64((int64_t)vm->lg.stats_hcalls));
	json_object_object_add(o, "interrupts", json_object_new_int64((int64_t)vm->lg.stats_irqs));
	return o;
}

/* Ask the vCPU to hold and wait (bounded) until it does. */
static bool pause_vcpu(struct vm *vm)
{
	struct api *a = &vm->api;
	/* Held, and not let go since: nothing to do.  A vCPU that was just
	 * let go may still say `paused` on its way out, so otherwise a pause
	 * counts only once it has come back: pause_seq moves. */
	if (atomic_load(&a->pause_req) && atomic_load(&a->paused))
		return true;
	unsigned seq = atomic_load(&a->pause_seq);
	efd_drain(a->ack_efd);
	atomic_store(&a->pause_req, true);
	kvm_kick(vm);
	struct pollfd p = {.fd = a->ack_efd, .events = POLLIN};
	uint64_t end = now_ns() + (uint64_t)PAUSE_WAIT_MS * 1000000u;
	while (!(atomic_load(&a->paused) && atomic_load(&a->pause_seq) != seq) && !vm->dead &&
	       now_ns() < end)
		if (poll(&p, 1, 100) > 0)
			efd_drain(a->ack_efd);
	return atomic_load(&a->paused) && atomic_load(&a->pause_seq) != seq;
}

/* A new file for the snapshot: never one that exists (nor a symlink's
 * target), owner-only -- it holds the guest's memory. */
static int create_file(const char *path, char *msg, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		snprintf(msg, size, "%s: %s", path,
			 errno == EEXIST ? "already exists (a snapshot never replaces a file)"
					 : strerror(errno));
	return fd;
}

int api_on_vcpu(struct vm *vm, int (*fn)(struct vm *vm, void *arg, char *err, size_t errlen),
		void *arg, unsigned wait_ms, char *err, size_t errlen)
{
	struct api *a = &vm->api;
	if (vm->dead || atomic_load(&a->job) != JOB_NONE) {
		snprintf(err, errlen,
			 vm->dead ? "the guest has ended"
				  : "the vCPU is busy with another request");
		return -1;
	}
	a->job_fn = fn;
	a->job_arg = arg;
	bool was_paused = atomic_load(&a->pause_req);
	atomic_store(&a->job, JOB_WAITING);
	if (was_paused)
		efd_signal(a->resume_efd); /* held already: wake it to do the job */
	else
		pause_vcpu(vm); /* the job is done at the pause point, before the ack */
	struct pollfd p = {.fd = a->ack_efd, .events = POLLIN};
	uint64_t end = now_ns() + (uint64_t)wait_ms * 1000000u;
	/* Until it is done; a guest that ends, or the time running out, stops
	 * the wait only for a job not begun, which is then taken back.  One
	 * the vCPU is doing is waited for to its end: its own steps are
	 * bounded, and its end may be what ended the guest (a migration's last
	 * step stops the guest here once it runs there). */
	for (;;) {
		int st = atomic_load(&a->job);
		if (st == JOB_DONE)
			break;
		int waiting = JOB_WAITING;
		if ((vm->dead || now_ns() >= end) &&
		    atomic_compare_exchange_strong(&a->job, &waiting, JOB_NONE))
			break;
		if (poll(&p, 1, 100) > 0)
			efd_drain(a->ack_efd);
	}
	bool done = atomic_load(&a->job) == JOB_DONE;
	atomic_store(&a->job, JOB_NONE);
	if (!was_paused && !vm->dead) {
		atomic_store(&a->pause_req, false);
		efd_signal(a->resume_efd);
	}
	if (!done) {
		snprintf(err, errlen,
			 vm->dead ? "the guest ended first" : "the vCPU did not do it in time");
		return -1;
	}
	if (a->job_status < 0)
		snprintf(err, errlen, "%s", a->job_err);
	return a->job_status;
}

struct snapshot_job {
	int state_fd, mem_fd;
	char mem_name[256];
	struct snapshot_result res;
};

static int snapshot_job(struct vm *vm, void *arg, char *err, size_t errlen)
{
	struct snapshot_job *j = arg;
	int r = snapshot_take(vm, j->state_fd, j->mem_fd, j->mem_name, &j->res, err, errlen);
	close(j->state_fd);
	close(j->mem_fd);
	return r;
}

/* {"cmd":"snapshot","path":P}: P and P.mem.  The vCPU is paused for it (if it
 * ran, it runs again after), and does the work at its pause point. */
static size_t snapshot(struct vm *vm, json_object *req, char *reply, size_t size)
{
	json_object *pv;
	char msg[SNAP_PATH_LEN + 128];
	if (!json_object_object_get_ex(req, "path", &pv) ||
	    !json_object_is_type(pv, json_type_string) || !json_object_get_string_len(pv))
		return reply_error("snapshot needs a \"path\" for the state file", reply, size);
	const char *path = json_object_get_string(pv);
	if (strlen(path) >= SNAP_PATH_LEN || (size_t)json_object_get_string_len(pv) != strlen(path))
		return reply_error("the snapshot's path is too long or has a NUL", reply, size);
	if (vm->dead || !atomic_load(&vm->kvm.vcpu_thread_set))
		return reply_error(vm->dead ? "the guest has ended"
					    : "the guest is not running yet",
				   reply, size);
	if (atomic_load(&vm->api.job) != JOB_NONE)
		return reply_error("the vCPU is busy with another request", reply, size);
	struct snapshot_job j = {0};
	char mem_path[SNAP_PATH_LEN + 8];
	snprintf(mem_path, sizeof(mem_path), "%s.mem", path);
	const char *slash = strrchr(mem_path, '/'), *name = slash ? slash + 1 : mem_path;
	if (strlen(name) >= sizeof(j.mem_name))
		return reply_error("the snapshot's file name is too long", reply, size);
	memcpy(j.mem_name, name, strlen(name) + 1);
	j.mem_fd = create_file(mem_path, msg, sizeof(msg));
	if (j.mem_fd < 0)
		return reply_error(msg, reply, size);
	j.state_fd = create_file(path, msg, sizeof(msg));
	if (j.state_fd < 0) {
		close(j.mem_fd);
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			 " (%s was made and is left empty)", mem_path);
		return reply_error(msg, reply, size);
	}
	if (api_on_vcpu(vm, snapshot_job, &j, SNAP_WAIT_MS, msg, sizeof(msg)) < 0)
		return reply_error(msg, reply, size);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "state", json_object_new_string(path));
	json_object_object_add(o, "mem", json_object_new_string(mem_path));
	json_object_object_add(o, "mem_bytes", json_object_new_int64((int64_t)j.res.mem_bytes));
	json_object_object_add(o, "state_bytes", json_object_new_int64((int64_t)j.res.state_bytes));
	json_object_object_add(o, "ms", json_object_new_int64((int64_t)j.res.ms));
	return reply_ok(o, reply, size);
}

/* {"cmd":"migrate","to":ADDR[,"max_downtime_ms":N]}: the guest moves to the
 * lgkvm waiting at ADDR (run --incoming); answered once it runs there (this
 * lgkvm then exits 12), or with why not (the guest runs on here). */
static size_t migrate(struct vm *vm, json_object *req, char *reply, size_t size)
{
	json_object *tv, *dv;
	char msg[512];
	if (!json_object_object_get_ex(req, "to", &tv) ||
	    !json_object_is_type(tv, json_type_string))
		return reply_error("migrate needs \"to\": \"unix:PATH\" or \"tcp:ADDRESS:PORT\"",
				   reply, size);
	int64_t downtime = vm->opt.max_downtime_ms; /* --max-downtime */
	if (json_object_object_get_ex(req, "max_downtime_ms", &dv)) {
		downtime = json_object_is_type(dv, json_type_int) ? json_object_get_int64(dv) : -1;
		if (downtime < 1 || downtime > 60000)
			return reply_error("max_downtime_ms is 1 to 60000", reply, size);
	}
	if (vm->dead || !atomic_load(&vm->kvm.vcpu_thread_set))
		return reply_error(vm->dead ? "the guest has ended"
					    : "the guest is not running yet",
				   reply, size);
	struct migrate_result r;
	if (migrate_source(vm, json_object_get_string(tv), (unsigned)downtime, &r, msg,
			   sizeof(msg)) < 0)
		return reply_error(msg, reply, size);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "to", json_object_new_string(json_object_get_string(tv)));
	json_object_object_add(o, "rounds", json_object_new_int64(r.rounds));
	json_object_object_add(o, "mem_bytes", json_object_new_int64((int64_t)r.pages * 4096));
	json_object_object_add(o, "total_ms", json_object_new_int64((int64_t)r.total_ms));
	json_object_object_add(o, "downtime_ms", json_object_new_int64((int64_t)r.downtime_ms));
	return reply_ok(o, reply, size);
}

size_t api_handle(struct vm *vm, const char *line, size_t len, char *reply, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return reply_error("out of memory", reply, size);
	if (len > API_LINE_MAX)
		len = API_LINE_MAX;
	json_object *req = json_tokener_parse_ex(tok, line, (int)len);
	bool complete = json_tokener_get_error(tok) == json_tokener_success;
	/* One object and nothing after it but blanks. */
	for (size_t i = complete ? json_tokener_get_parse_end(tok) : len; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			complete = false;
	json_tokener_free(tok);
	json_object *cmdv;
	size_t n;
	if (!req || !complete || !json_object_is_type(req, json_type_object))
		n = reply_error("a request is one JSON object per line", reply, size);
	else if (!json_object_object_get_ex(req, "cmd", &cmdv) ||
		 !json_object_is_type(cmdv, json_type_string))
		n = reply_error("the request has no \"cmd\" string", reply, size);
	else {
		const char *cmd = json_object_get_string(cmdv);
		if (!strcmp(cmd, "status")) {
			n = reply_ok(status(vm), reply, size);
		} else if (!strcmp(cmd, "pause")) {
			n = vm->dead ? reply_error("the guest has ended", reply, size)
			    : pause_vcpu(vm)
				    ? reply_ok(NULL, reply, size)
				    : reply_error("the vCPU did not stop in time", reply, size);
		} else if (!strcmp(cmd, "resume")) {
			atomic_store(&vm->api.pause_req, false);
			efd_signal(vm->api.resume_efd);
			n = reply_ok(NULL, reply, size);
		} else if (!strcmp(cmd, "stop")) {
			vm_stop(vm, EXIT_INTERRUPTED, "stopped through the API socket");
			efd_signal(vm->api.resume_efd);
			n = reply_ok(NULL, reply, size);
		} else if (!strcmp(cmd, "snapshot")) {
			n = snapshot(vm, req, reply, size);
		} else if (!strcmp(cmd, "migrate")) {
			n = migrate(vm, req, reply, size);
		} else {
			char msg[96];
			snprintf(msg, sizeof(msg), "unknown cmd \"%.40s\"", cmd);
			n = reply_error(msg, reply, size);
		}
	}
	json_object_put(req);
	return n;
}

/*
 * The vCPU side.
 */

/* Work the API thread asked for (api_on_vcpu), done here, held. */
static void run_job(struct vm *vm)
{
	struct api *a = &vm->api;
	int waiting = JOB_WAITING;
	if (!atomic_compare_exchange_strong(&a->job, &waiting, JOB_RUNNING))
		return; /* none, or taken back */
	a->job_err[0] = '\0';
	a->job_status = a->job_fn(vm, a->job_arg, a->job_err, sizeof(a->job_err));
	atomic_store(&a->job, JOB_DONE);
	efd_signal(a->ack_efd);
}

bool api_pause_point(struct vm *vm)
{
	struct api *a = &vm->api;
	if (!atomic_load(&a->pause_req) || vm->dead)
		return false;
	uint64_t t0 = now_ns();
	atomic_store(&a->paused, true);
	atomic_fetch_add(&a->pause_seq, 1);
	efd_signal(a->ack_efd);
	/* A job waiting is done before the vCPU may leave. */
	for (;;) {
		run_job(vm);
		if (!atomic_load(&a->pause_req) || vm->dead)
			break;
		struct pollfd p = {.fd = a->resume_efd, .events = POLLIN};
		vcpu_wait(&p, 1);
		efd_drain(a->resume_efd);
		vcpu_eat_kicks();
	}
	atomic_store(&a->paused, false);
	a->paused_ns += now_ns() - t0;
	return true;
}

/*
 * The thread.
 */

/* Serve one client until it goes, idles or breaks the rules. */
static void serve(struct vm *vm, int fd)
{
	struct api *a = &vm->api;
	char buf[API_LINE_MAX + 1], reply[1024];
	size_t have = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = a->stop_efd, .events = POLLIN}};
		int r = poll(p, 2, CLIENT_IDLE_MS);
		if (r <= 0 || (p[1].revents & POLLIN))
			return;
		ssize_t got = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (got <= 0)
			return;
		have += (size_t)got;
		char *nl;
		while ((nl = memchr(buf, '\n', have))) {
			size_t len = (size_t)(nl - buf);
			size_t n = api_handle(vm, buf, len, reply, sizeof(reply) - 1);
			reply[n++] = '\n';
			if (write(fd, reply, n) != (ssize_t)n)
				return;
			memmove(buf, nl + 1, have - len - 1);
			have -= len + 1;
		}
		if (have == sizeof(buf) - 1) {
			size_t n = reply_error("request line too long", reply, sizeof(reply) - 1);
			reply[n++] = '\n';
			if (write(fd, reply, n) < 0)
				return;
			return;
		}
	}
}

static void *api_thread(void *arg)
{
	struct vm *vm = arg;
	struct api *a = &vm->api;
	while (efd_wait(a->listen_fd, a->stop_efd) > 0) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(vm, fd);
		close(fd);
	}
	return NULL;
}

int api_start(struct vm *vm, char *err, size_t errlen)
{
	struct api *a = &vm->api;
	if (a->listen_fd < 0 || !a->path[0])
		return 0;
	int r = pthread_create(&a->thread, NULL, api_thread, vm);
	if (r) {
		snprintf(err, errlen, "--api-sock: cannot start its thread: %s", strerror(r));
		return -1;
	}
	a->started = true;
	return 0;
}

void api_close(struct vm *vm)
{
	struct api *a = &vm->api;
	if (a->started) {
		efd_signal(a->stop_efd);
		pthread_join(a->thread, NULL);
		a->started = false;
	}
	int *fds[] = {&a->listen_fd,  &a->stop_efd,   &a->ack_efd,
		      &a->resume_efd, &a->pagemap_fd, &a->clear_refs_fd};
	for (unsigned i = 0; i < 6; i++)
		if (*fds[i] > 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	/* The file itself is removed by the unsandboxed parent (src/main.c,
	 * run_with_reboots): this process may not remove files. */
	a->path[0] = '\0';
}

/*
 * `lgkvm api PATH JSON`: the client.
 */

int api_request(const char *sock, const char *json, unsigned wait_s, char *reply, size_t size,
		char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: the path is too long for a socket", sock);
		return -1;
	}
	strcpy(sa.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "%s: no lgkvm answers there (%s)", sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = {.tv_sec = wait_s};
	if (wait_s)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = strlen(json), have = 0;
	if (write(fd, json, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		snprintf(err, errlen, "%s: %s", sock, strerror(errno));
		close(fd);
		return -1;
	}
	ssize_t got;
	while (have < size - 1 && (got = read(fd, reply + have, size - 1 - have)) > 0) {
		have += (size_t)got;
		if (memchr(reply, '\n', have))
			break;
	}
	close(fd);
	reply[have] = '\0';
	if (!have) {
		snprintf(err, errlen, "%s: %s", sock,
			 errno == EAGAIN || errno == EWOULDBLOCK
				 ? "lgkvm did not answer in time"
				 : "lgkvm closed the connection without a reply");
		return -1;
	}
	return strstr(reply, "\"ok\":true") ? 0 : 1;
}

int api_client_main(int argc, char **argv)
{
	if (argc != 4) {
		log_msg("usage: lgkvm api SOCKET JSON   (e.g. lgkvm api /run/vm.sock "
			"'{\"cmd\":\"status\"}')");
		return 2;
	}
	char buf[4096], err[256];
	int r = api_request(argv[2], argv[3], 0, buf, sizeof(buf), err, sizeof(err));
	if (r < 0) {
		log_msg("%s", err);
		return 2;
	}
	fputs(buf, stdout);
	if (buf[strlen(buf) - 1] != '\n')
		putchar('\n');
	return r;
}
