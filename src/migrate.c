/* Live migration (docs/DESIGN.md §15, README "Live migration").
 *
 * The source: `migrate` on the API socket.  Guest memory goes over while the
 * guest runs, in rounds; each round sends the pages written since the one
 * before; when what is left would go over within the downtime budget, the
 * vCPU is paused and the devices held for good, the last pages and the
 * machine's state (the snapshot's state file, src/snapshot_format.c) are
 * sent, and the source waits for the destination to say its guest is built.
 * Only then does the source end, with status 12; a destination that fails,
 * refuses or goes away leaves the source running, unharmed.
 *
 * Which pages were written: the kernel's soft-dirty bits (/proc/self/
 * pagemap, cleared through /proc/self/clear_refs), not KVM's dirty log.
 * KVM's log sees only what the guest writes through its own mappings; guest
 * memory is also written by lgkvm itself -- a disk's reads land in guest
 * buffers from the io_uring, the network thread fills receive buffers, every
 * device writes its used rings, the VMM writes lguest_data.time and pushes
 * interrupt frames -- and none of that would be in KVM's log.  Soft-dirty
 * bits are set by every write to the page, the guest's (KVM faults the page
 * in writable, and clear_refs makes it fault again) and ours alike.  A round's
 * bits are read and cleared with the vCPU paused and the devices held, so no
 * write falls between the reading and the clearing.
 *
 * The destination is `lgkvm run --incoming ADDR` (src/main.c, cmd_incoming):
 * it reads the stream (src/migrate_stream.c) into a memory file of its own
 * (memfd) and restores from it as `lgkvm restore` does. */
#include "src/migrate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/log.h"
#include "src/migrate_stream.h"
#include "src/snapshot.h"
#include "src/snapshot_format.h"
#include "src/unix_listen.h"
#include "src/vm.h"

#define PAGEMAP_SOFT_DIRTY (1ull << 55)
#define ROUNDS_MAX	   20
#define ACK_WAIT_MS	   30000
#define SCAN_CHUNK	   4096 /* pagemap entries read at a time */

int mig_addr(const char *addr, struct sockaddr_storage *sa, socklen_t *len, char *err,
	     size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	if (!strncmp(addr, "unix:", 5)) {
		struct sockaddr_un *u = (struct sockaddr_un *)sa;
		const char *path = addr + 5;
		if (!*path || strlen(path) >= sizeof(u->sun_path)) {
			snprintf(err, errlen, "%s: a unix socket path of 1 to %zu bytes", addr,
				 sizeof(u->sun_path) - 1);
			return -1;
		}
		u->sun_family = AF_UNIX;
		strcpy(u->sun_path, path);
		*len = sizeof(*u);
		return 0;
	}
	if (!strncmp(addr, "tcp:", 4)) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;
		const char *colon = strrchr(addr + 4, ':');
		char host[64];
		char *end;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
		size_t hl = colon ? (size_t)(colon - (addr + 4)) : 0;
		if (!colon || hl == 0 || hl >= sizeof(host) || *end || !colon[1] || port == 0 ||
		    port > 65535) {
			snprintf(err, errlen, "%s: expected tcp:ADDRESS:PORT", addr);
			return -1;
		}
		memcpy(host, addr + 4, hl);
		host[hl] = '\0';
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		/* Numbers only: no resolver (it reads files the sandbox keeps
		 * closed). */
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
			snprintf(err, errlen, "%s: %s is not an IPv4 address", addr, host);
			return -1;
		}
		*len = sizeof(*in);
		return 0;
	}
	snprintf(err, errlen, "%s: expected unix:PATH or tcp:ADDRESS:PORT", addr);
	return -1;
}

/* A stream that moves nothing for MIG_QUIET_S fails (`which`: SO_RCVTIMEO
 * or SO_SNDTIMEO), so a stalled peer frees us. */
static void quiet_limit(int fd, int which)
{
	struct timeval tv = {.tv_sec = MIG_QUIET_S};
	setsockopt(fd, SOL_SOCKET, which, &tv, sizeof(tv));
}

/*
 * The source.
 */

struct mig {
	struct vm *vm;
	int fd;		 /* to the destination */
	uint64_t npages; /* guest memory, pages */
	uint8_t *dirty;	 /* a byte per page: written since the last round */
	uint64_t ndirty;
	uint64_t sent_pages;
	uint64_t t_pause; /* when the final pause began */
	bool unlocked;	  /* the disks' locks were let go for the destination */
	char to[256];
	char err[256];
};

/* Clear every soft-dirty bit of the process: from here on, a written page
 * is marked. */
static int clear_soft_dirty(struct vm *vm)
{
	return pwrite(vm->api.clear_refs_fd, "4", 1, 0) == 1 ? 0 : -1;
}

/* Which guest pages were written since the bits were last cleared, marked
 * with those not sent yet; ndirty counts them all. */
static int scan(struct mig *m)
{
	struct vm *vm = m->vm;
	static uint64_t e[SCAN_CHUNK];
	uint64_t first = (uint64_t)(uintptr_t)vm->mem.base / MIG_PAGE;
	m->ndirty = 0;
	for (uint64_t p = 0; p < m->npages; p += SCAN_CHUNK) {
		uint64_t n = m->npages - p < SCAN_CHUNK ? m->npages - p : SCAN_CHUNK;
		ssize_t got = pread(vm->api.pagemap_fd, e, n * 8, (off_t)((first + p) * 8));
		if (got != (ssize_t)(n * 8))
			return -1;
		for (uint64_t i = 0; i < n; i++) {
			/* Added to what is marked and not yet sent. */
			m->dirty[p + i] |= (e[i] & PAGEMAP_SOFT_DIRTY) != 0;
			m->ndirty += m->dirty[p + i];
		}
	}
	return 0;
}

/* Send the pages marked, in runs. */
static int send_dirty(struct mig *m)
{
	const uint8_t *mem = m->vm->mem.base;
	for (uint64_t p = 0; p < m->npages;) {
		if (!m->dirty[p]) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < m->npages && m->dirty[q])
			m->dirty[q++] = 0;
		if (mig_send_pages(m->fd, mem, p, (uint32_t)(q - p)) < 0)
			return -1;
		m->sent_pages += q - p;
		p = q;
	}
	return 0;
}

/* A round's bookkeeping, on the vCPU thread with the devices held: the
 * bits read and cleared with nothing writing in between. */
static int round_job(struct vm *vm, void *arg, char *err, size_t errlen)
{
	struct mig *m = arg;
	if (!vbus_hold(vm, true)) {
		snprintf(err, errlen, "a device did not come to rest");
		return -1;
	}
	int r = scan(m) < 0 || clear_soft_dirty(vm) < 0 ? -1 : 0;
	vbus_hold(vm, false);
	if (r < 0)
		snprintf(err, errlen, "reading the written pages: %s", strerror(errno));
	return r;
}

/* A destination that refuses the guest says why ("error: ..."), and hangs
 * up; a send failing on that is its refusal, and its reason is the one to
 * give (err keeps ours if it said nothing within a moment). */
static void destination_said(int fd, char *err, size_t errlen)
{
	char line[300] = "";
	size_t have = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (have < sizeof(line) - 1 && !memchr(line, '\n', have) && poll(&p, 1, 200) > 0) {
		ssize_t n = read(fd, line + have, sizeof(line) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	line[have] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "error: ", 7))
		snprintf(err, errlen, "the destination did not take the guest: %s", line + 7);
}

/* The beginning, briefly paused and held: the machine as it is, sent first
 * (MACHINE), so the destination builds its VM and devices while the pages
 * go, not in the guest's downtime.  The final state says the same of the
 * machine (the destination checks), and all else of the guest. */
static int machine_job(struct vm *vm, void *arg, char *err, size_t errlen)
{
	struct mig *m = arg;
	if (!vbus_hold(vm, true)) {
		snprintf(err, errlen, "a device did not come to rest");
		return -1;
	}
	struct snap *s = calloc(1, sizeof(*s));
	size_t len = 0;
	void *fdt = NULL;
	int r = -1;
	if (!s)
		snprintf(err, errlen, "out of memory");
	else if (snapshot_gather(vm, s, "migrated", err, errlen) == 0 &&
		 (fdt = snap_encode(s, &len, err, errlen)))
		r = 0;
	vbus_hold(vm, false);
	if (r == 0 && mig_send_machine(m->fd, fdt, len) < 0) {
		snprintf(err, errlen, "%s: %s", m->to, strerror(errno));
		r = -1;
	}
	free(fdt);
	free(s);
	return r;
}

/* The end: paused, held; the last pages, the state, the destination's word.
 * Success ends this guest (it runs there now); failure lets it go on here. */
static int final_job(struct vm *vm, void *arg, char *err, size_t errlen)
{
	struct mig *m = arg;
	m->t_pause = now_ns();
	if (!vbus_hold(vm, true)) {
		snprintf(err, errlen, "a device did not come to rest");
		return -1;
	}
	struct snap *s = calloc(1, sizeof(*s));
	void *fdt = NULL;
	size_t len = 0;
	int r = -1;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (scan(m) < 0 || send_dirty(m) < 0) {
		snprintf(err, errlen, "sending the last pages: %s", strerror(errno));
		goto out;
	}
	if (snapshot_gather(vm, s, "migrated", err, errlen) < 0 ||
	    !(fdt = snap_encode(s, &len, err, errlen)))
		goto out;
	/* The disks' locks go to the destination now (nothing here writes any
	 * more), and come back if the guest stays. */
	vbus_locks(vm, false);
	m->unlocked = true;
	if (mig_send_state(m->fd, fdt, len) < 0) {
		snprintf(err, errlen, "sending the machine's state: %s", strerror(errno));
		goto out;
	}
	/* The destination builds its VM and says so: "ok", or why not. */
	char reply[200] = "";
	size_t have = 0;
	struct pollfd p = {.fd = m->fd, .events = POLLIN};
	uint64_t end = now_ns() + (uint64_t)ACK_WAIT_MS * 1000000u;
	while (!memchr(reply, '\n', have) && have < sizeof(reply) - 1 && now_ns() < end) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(m->fd, reply + have, sizeof(reply) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	reply[have] = '\0';
	if (strcmp(reply, "ok\n") != 0) {
		reply[strcspn(reply, "\n")] = '\0';
		const char *why = !strncmp(reply, "error: ", 7) ? reply + 7 : reply;
		snprintf(err, errlen, "the destination did not take the guest: %s",
			 why[0] ? why
			 : have ? "?"
				: "no answer");
		goto out;
	}
	r = 0;
out:
	if (r < 0 && m->unlocked)
		vbus_locks(vm, true);
	vbus_hold(vm, false);
	if (r == 0)
		vm_stop(vm, EXIT_MIGRATED, "migrated to %s", m->to);
	free(fdt);
	free(s);
	return r;
}

/* Does this kernel keep soft-dirty bits?  Clear them, write a page of our
 * own, and look. */
static bool soft_dirty_works(struct vm *vm)
{
	static uint8_t probe[2 * MIG_PAGE];
	uint8_t *pg = (uint8_t *)(((uintptr_t)probe + MIG_PAGE - 1) & ~(uintptr_t)(MIG_PAGE - 1));
	uint64_t e = 0;
	pg[0]++;
	if (clear_soft_dirty(vm) < 0)
		return false;
	*(volatile uint8_t *)pg = 1;
	return pread(vm->api.pagemap_fd, &e, 8, (off_t)((uintptr_t)pg / MIG_PAGE * 8)) == 8 &&
	       (e & PAGEMAP_SOFT_DIRTY);
}

int migrate_source(struct vm *vm, const char *to, unsigned max_downtime_ms,
		   struct migrate_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	struct sockaddr_storage sa;
	socklen_t salen;
	if (mig_addr(to, &sa, &salen, err, errlen) < 0)
		return -1;
	if (vm->api.pagemap_fd < 0 || vm->api.clear_refs_fd < 0 || !soft_dirty_works(vm)) {
		snprintf(err, errlen,
			 "this kernel does not say which pages were written "
			 "(/proc/self/pagemap soft-dirty bits, CONFIG_MEM_SOFT_DIRTY)");
		return -1;
	}
	struct mig m = {.vm = vm, .npages = vm->mem.size / MIG_PAGE};
	snprintf(m.to, sizeof(m.to), "%s", to);
	m.fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m.fd < 0 || connect(m.fd, (struct sockaddr *)&sa, salen) < 0) {
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		if (m.fd >= 0)
			close(m.fd);
		return -1;
	}
	quiet_limit(m.fd, SO_SNDTIMEO);
	m.dirty = calloc(m.npages, 1);
	uint64_t t0 = now_ns();
	int r = -1;
	if (!m.dirty || mig_send_header(m.fd, vm->mem.size) < 0) {
		snprintf(err, errlen, "%s: %s", to, m.dirty ? strerror(errno) : "out of memory");
		goto out;
	}
	if (api_on_vcpu(vm, machine_job, &m, 10000, err, errlen) < 0)
		goto out;
	/* Round 0: everything that is not zero (the destination starts from
	 * zeros), the guest running; from the clearing on, writes are marked. */
	if (clear_soft_dirty(vm) < 0) {
		snprintf(err, errlen, "clearing the written-page bits: %s", strerror(errno));
		goto out;
	}
	const uint8_t *mem = vm->mem.base;
	for (uint64_t p = 0; p < m.npages; p++) {
		const uint64_t *w = (const uint64_t *)(mem + p * MIG_PAGE);
		bool zero = true;
		for (unsigned i = 0; zero && i < MIG_PAGE / 8; i++)
			zero = !w[i];
		m.dirty[p] = !zero;
	}
	if (send_dirty(&m) < 0) {
		snprintf(err, errlen, "%s: %s", to, strerror(errno));
		goto out;
	}
	res->rounds = 1;
	LOG_DEBUG(vm, "migrate: round 1, everything: %llu pages in %.1f ms",
		  (unsigned long long)m.sent_pages, (double)(now_ns() - t0) / 1e6);
	/* More rounds while what is left would take longer than the budget,
	 * at the rate pages went so far -- and while the rounds still shrink
	 * it: a guest that writes faster than the line carries never fits. */
	double per_page_ns = m.sent_pages ? (double)(now_ns() - t0) / (double)m.sent_pages : 1e3;
	uint64_t best = UINT64_MAX;
	unsigned stuck = 0;
	for (; res->rounds < ROUNDS_MAX; res->rounds++) {
		if (api_on_vcpu(vm, round_job, &m, 10000, err, errlen) < 0)
			goto out;
		LOG_DEBUG(vm, "migrate: round %u: %llu pages written since (%.0f us a page)",
			  res->rounds + 1, (unsigned long long)m.ndirty, per_page_ns / 1e3);
		if ((double)m.ndirty * per_page_ns <= (double)max_downtime_ms * 1e6)
			break;
		stuck = m.ndirty < best ? 0 : stuck + 1;
		best = m.ndirty < best ? m.ndirty : best;
		if (stuck >= 2)
			break;
		uint64_t t_send = now_ns(), before = m.sent_pages;
		if (send_dirty(&m) < 0) {
			snprintf(err, errlen, "%s: %s", to, strerror(errno));
			goto out;
		}
		if (m.sent_pages > before)
			per_page_ns = (double)(now_ns() - t_send) / (double)(m.sent_pages - before);
	}
	/* The last round's pages, still marked, go with the final one's: it
	 * reads the bits again (no need to clear them) and sends all. */
	if (api_on_vcpu(vm, final_job, &m, ACK_WAIT_MS + 30000, err, errlen) < 0)
		goto out;
	r = 0;
	res->downtime_ms = (now_ns() - m.t_pause) / 1000000;
out:
	if (r < 0)
		destination_said(m.fd, err, errlen);
	res->total_ms = (now_ns() - t0) / 1000000;
	res->pages = m.sent_pages;
	free(m.dirty);
	close(m.fd);
	return r;
}

/*
 * The destination.
 */

int migrate_accept(const char *addr, unsigned timeout_s, bool say, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char why[300];
	if (mig_addr(addr, &sa, &salen, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--incoming %s", why);
		return -1;
	}
	const char *path = sa.ss_family == AF_UNIX ? ((struct sockaddr_un *)&sa)->sun_path : NULL;
	int lfd, one = 1;
	if (path) {
		/* Owner-only, and there only once it answers, as --api-sock
		 * (src/unix_listen.h). */
		if ((lfd = unix_listen(path, 1, 0, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "--incoming %s: %s", addr, why);
			return -1;
		}
	} else {
		lfd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd >= 0)
			setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, salen) < 0 || listen(lfd, 1) < 0) {
			snprintf(err, errlen, "--incoming %s: %s", addr, strerror(errno));
			if (lfd >= 0)
				close(lfd);
			return -1;
		}
	}
	if (say)
		log_msg("waiting for a guest on %s", addr);
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	int fd = -1;
	int r = poll(&p, 1, timeout_s ? (int)(timeout_s * 1000) : -1);
	if (r > 0)
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		quiet_limit(fd, SO_RCVTIMEO);
	if (r <= 0)
		errno = r == 0 ? ETIMEDOUT : errno;
	if (fd < 0)
		snprintf(err, errlen, "--incoming %s: %s", addr,
			 errno == ETIMEDOUT ? "no guest came before --timeout" : strerror(errno));
	close(lfd);
	if (path)
		unlink(path);
	return fd;
}

int migrate_receive(int fd, struct snap *s, int *mem_fd, int state_out, mig_machine_fn machine,
		    void *ctx, char *err, size_t errlen)
{
	*mem_fd = memfd_create("lgkvm-guest-memory", MFD_CLOEXEC);
	if (*mem_fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	uint64_t size = 0, pages = 0;
	void *state = NULL;
	size_t len = 0;
	char why[400];
	if (mig_receive(fd, *mem_fd, machine, ctx, &size, &state, &len, &pages, err, errlen) < 0)
		return EXIT_BAD_SNAPSHOT;
	int r = snap_decode(state, len, s, why, sizeof(why));
	/* The state for whoever boots this guest again after a restart (the
	 * parent process, src/main.c): best effort, never blocking. */
	if (r == 0 && state_out >= 0 && write(state_out, state, len) != (ssize_t)len)
		log_msg("the migrated guest's state could not be kept for a restart");
	free(state);
	if (r < 0) {
		snprintf(err, errlen, "migration stream: %s", why);
		return EXIT_BAD_SNAPSHOT;
	}
	if (s->mem_size != size) {
		snprintf(err, errlen,
			 "migration stream: its state's memory size is not its header's");
		return EXIT_BAD_SNAPSHOT;
	}
	/* The memory file's header, as restore checks it. */
	struct snap_mem_header h = {
		.format = SNAP_FORMAT, .header_size = SNAP_MEM_HDR, .mem_size = s->mem_size};
	memcpy(h.magic, SNAP_MEM_MAGIC, sizeof(h.magic));
	memcpy(h.id, s->id, sizeof(h.id));
	if (pwrite(*mem_fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(err, errlen, "storing the guest's memory: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	return EXIT_POWEROFF;
}
