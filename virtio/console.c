/* The console: the guest's hvc0, on our stdin and stdout.
 *
 * The 2.6.24 virtio console is the simplest device there is.  It has two
 * queues: the first carries input to the guest, the second output from it.
 * For output the guest puts each write in one readable buffer, kicks, and
 * spins until the buffer comes back, so we must consume it before the guest
 * runs again.  For input it keeps one 4096-byte writable buffer posted and
 * polls it from a timer; both queues have NO_INTERRUPT set, but we honour the
 * flag rather than assume it.
 *
 * Before the driver probes, the guest prints through "early" console writes:
 * LHCALL_NOTIFY with the address of a short NUL-terminated string
 * (console_early() below).  (docs/abi.md §9.10.)
 *
 * Everything the guest prints also goes to the --console-log file, up to a
 * size cap: batch runs keep one log per guest, and a guest that prints
 * forever must not fill the disk. */
#include "virtio/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/efd.h"
#include "src/files.h"
#include "src/hold.h"
#include "src/log.h"
#include "src/signals.h"
#include "src/vm.h"
#include "virtio/ring.h"
#include "virtio/transport.h"

/* The guest's early writes are at most 16 bytes; anything much longer is not
 * a console write, and we will not scan megabytes looking for a NUL. */
#define EARLY_MAX 256

/* Ctrl-C, the Launcher's escape hatch: three of them within a second. */
#define CTRL_C		 0x03
#define CTRL_C_COUNT	 3
#define CTRL_C_WINDOW_NS 1000000000LL

struct console_state {
	struct vqueue *in, *out;

	/* Input.  Like the reference, we only watch stdin while the guest may
	 * have a buffer for it: if we find none we stop (in_listen = false)
	 * until the guest kicks the input queue to say it posted one.  At end
	 * of file we stop for good. */
	bool in_listen;
	bool in_eof;
	unsigned ctrl_c;	      /* Ctrl-C bytes in a row */
	struct timespec ctrl_c_first; /* when the first of them came */

	/* Output.  If stdout cannot be written (closed, a pipe nobody reads
	 * any more, a full disk) we say so once and drop the output from then
	 * on, rather than the guest; the log goes on. */
	bool out_broken;
	int log_fd; /* --console-log, or -1 */
	uint64_t log_written;
	bool log_at_line_start;

	/* The output ring's own thread (G1-G10; out_thread below): the guest's
	 * kick reaches it through an eventfd KVM rings for the doorbell, so
	 * printing costs the guest no exit.  Everything that prints -- that
	 * thread, and the vCPU thread's early console, emerg_wr and NOTIFYs
	 * that did exit -- holds out_lock, so output stays in order. */
	struct vm *vm;
	pthread_mutex_t out_lock;
	pthread_t out_thread;
	bool out_threaded;
	int out_efd, stop_efd;
	struct hold hold; /* a snapshot: hold the output thread still (src/hold.h) */
};

/*
 * The terminal.
 *
 * This is the one piece of state that is not per-VM: the terminal belongs to
 * the process, and atexit() handlers take no argument.  So the settings we
 * found live here, and whichever of vbus_teardown(), exit() or a signal
 * handler comes first puts them back.
 */
static struct {
	volatile sig_atomic_t saved;
	bool not_ours; /* a parent that changed it puts it back (console_term_leave) */
	struct termios orig;
} term;

/* --migrate-every runs the guest in one child after another, two at a time
 * during a move: each child making the terminal raw and putting it back would
 * find the other's setting as "the way we found it", and leave the terminal
 * cooked under a running guest, or raw for the shell afterwards.  So the
 * supervisor makes it raw once, and its children leave it alone. */
static void term_make_raw(void);

void console_term_own(void)
{
	term_make_raw();
}

void console_term_leave(void)
{
	if (term.saved) {
		term.saved = 0;
		term.not_ours = true;
	}
}

void console_term_restore(void)
{
	if (term.saved) {
		term.saved = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &term.orig);
	}
}

/* The guest runs its own line discipline (echo, line editing, signals), so
 * it wants every keystroke as it is typed: raw input.  We keep output
 * post-processing, as the reference did, so that our own messages on stderr
 * still start at the left margin; the guest's "\r\n" survives it unharmed. */
static void term_make_raw(void)
{
	static bool atexit_done;
	struct termios raw;

	/* Only a terminal we own: changing it from a background process group
	 * would stop us with SIGTTOU. */
	if (term.saved || term.not_ours || !isatty(STDIN_FILENO) ||
	    tcgetpgrp(STDIN_FILENO) != getpgrp())
		return;
	if (tcgetattr(STDIN_FILENO, &term.orig) != 0)
		return;
	raw = term.orig;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST;
	if (!atexit_done && atexit(console_term_restore) == 0)
		atexit_done = true;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		term.saved = 1;
}

/*
 * Output.
 */

/* Write all of buf to fd.  stdout may be a pipe or a terminal someone made
 * non-blocking, so EAGAIN means "wait until it drains", not "give up". */
/* Should a console write stop waiting for a reader?  Yes once the user asked
 * us to stop or the --timeout has passed: a stdout nobody reads must not keep
 * lgkvm alive past either. */
static bool give_up(struct vm *vm)
{
	return vm->dead || signals_pending_stop() ||
	       (vm->timeout_deadline && now_ns() >= vm->timeout_deadline);
}

/* Write everything, waiting for the reader in bounded steps: at most PIPE_BUF
 * bytes once poll() says there is room (so a pipe write cannot block), and a
 * look at give_up() every 100 ms while there is none.  0 when all is written,
 * WRITE_GAVE_UP when we stopped waiting, or the errno that made it fail.  (A
 * closed descriptor is POLLNVAL: write() then says EBADF, rather than us
 * polling it forever.) */
#define WRITE_GAVE_UP (-1)

static int write_all(struct vm *vm, int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int r = poll(&pfd, 1, 100);
		if (r < 0 && errno != EINTR)
			return errno;
		if (r <= 0 || !(pfd.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))) {
			if (give_up(vm))
				return WRITE_GAVE_UP;
			continue;
		}
		ssize_t n = write(fd, p, len < PIPE_BUF ? len : PIPE_BUF);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (give_up(vm))
				return WRITE_GAVE_UP;
		} else {
			return n < 0 ? errno : EIO;
		}
	}
	return 0;
}

static void log_close(struct console_state *cs)
{
	if (cs->log_fd >= 0)
		close(cs->log_fd);
	cs->log_fd = -1;
}

/* Append to the console log, up to console_log_max bytes (0: no cap).  At
 * the cap we say so on a line of our own and stop logging; the guest goes on
 * and so does stdout.  A log we cannot write is dropped with one warning. */
static void log_out(struct vm *vm, struct console_state *cs, const uint8_t *buf, size_t len)
{
	uint64_t max = vm->opt.console_log_max;
	bool cut = false;
	char note[96];
	int n;

	if (cs->log_fd < 0 || !len)
		return;
	if (max && len > max - cs->log_written) {
		len = max - cs->log_written;
		cut = true;
	}
	int e = len ? write_all(vm, cs->log_fd, buf, len) : 0;
	if (e) {
		if (e != WRITE_GAVE_UP)
			log_msg("writing the console log failed (%s); no longer logging",
				strerror(e));
		log_close(cs);
		return;
	}
	cs->log_written += len;
	if (len)
		cs->log_at_line_start = buf[len - 1] == '\n';
	if (!cut)
		return;
	n = snprintf(note, sizeof(note), "%s[lgkvm: console log truncated at %llu bytes]\n",
		     cs->log_at_line_start ? "" : "\n", (unsigned long long)max);
	write_all(vm, cs->log_fd, note, (size_t)n);
	log_close(cs);
}

/* Print, with out_lock held. */
static void out_locked(struct vm *vm, struct console_state *cs, const void *buf, size_t len)
{
	if (!cs->out_broken) {
		int e = write_all(vm, STDOUT_FILENO, buf, len);

		if (e) {
			cs->out_broken = true;
			/* Once, and not when we only stopped waiting because
			 * the guest is ending anyway. */
			if (e != WRITE_GAVE_UP)
				log_msg("cannot write the guest's console to stdout (%s); "
					"dropping its output from now on%s",
					strerror(e),
					cs->log_fd >= 0 ? " (--console-log still has it)" : "");
		}
	}
	log_out(vm, cs, buf, len);
}

void console_out(struct vm *vm, const void *buf, size_t len)
{
	struct console_state *cs = vm->bus.console;

	if (!cs) {
		/* Before the console exists (or after teardown): stdout only. */
		write_all(vm, STDOUT_FILENO, buf, len);
		return;
	}
	pthread_mutex_lock(&cs->out_lock);
	out_locked(vm, cs, buf, len);
	pthread_mutex_unlock(&cs->out_lock);
}

void console_early(struct vm *vm, uint32_t gpa)
{
	char buf[EARLY_MAX];
	const char *nul;
	const void *p;
	uint64_t n;

	if (gpa >= vm->mem.limit) {
		guest_kill(vm, "early console string at %#x lies outside guest memory", gpa);
		return;
	}
	/* Scan no further than EARLY_MAX bytes, nor past the end of memory. */
	n = vm->mem.limit - gpa;
	if (n > EARLY_MAX)
		n = EARLY_MAX;
	p = gm_ptr(&vm->mem, gpa, n);
	if (!p) {
		guest_kill(vm, "early console string at %#x lies outside guest memory", gpa);
		return;
	}
	/* One copy, then we look only at our copy. */
	memcpy(buf, p, n);
	nul = memchr(buf, '\0', n);
	if (!nul && n < EARLY_MAX) {
		guest_kill(vm, "early console string at %#x runs off the end of guest memory", gpa);
		return;
	}
	console_out(vm, buf, nul ? (size_t)(nul - buf) : n);
}

/* The guest kicked the output queue: print every buffer it has queued, and
 * hand each back (the guest spins on the used ring until it is back).  Like
 * the reference we report the bytes consumed as the used length, though the
 * 2.6.24 driver ignores it.  From the output thread, or from the vCPU thread
 * when the NOTIFY exited after all: one at a time (out_lock). */
static void console_output(struct vm *vm, struct console_state *cs)
{
	struct vqueue *q = cs->out;
	struct vchain c;

	pthread_mutex_lock(&cs->out_lock);
	/* A guest that keeps adding buffers while we print could keep us here:
	 * take at most num (more wait for its next kick). */
	for (unsigned n = 0; n < vring_num(q) && !vm->dead; n++) {
		int r = vring_pop(vm, q, &c);

		if (r <= 0)
			break;
		if (c.nwrite) {
			guest_kill(vm, "console: output buffer %u has a device-writable descriptor",
				   c.head);
			break;
		}
		for (unsigned i = 0; i < c.nread; i++)
			out_locked(vm, cs, c.iov[i].iov_base, c.iov[i].iov_len);
		vring_complete(vm, q, c.head, c.read_len > UINT32_MAX ? UINT32_MAX : c.read_len);
	}
	pthread_mutex_unlock(&cs->out_lock);
}

/* The output thread: wait for the doorbell's eventfd, print. */
static void *out_thread(void *arg)
{
	struct console_state *cs = arg;

	while (efd_wait(cs->out_efd, cs->stop_efd) > 0) {
		efd_drain(cs->out_efd);
		hold_point(&cs->hold);
		console_output(cs->vm, cs);
	}
	return NULL;
}

/* Start it where the output ring has a doorbell (not 2.6.23's DMA bus, and
 * not with --no-fast-path, whose NOTIFYs all exit and print right there). */
static int out_thread_start(struct console_state *cs)
{
	cs->out_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cs->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cs->out_efd < 0 || cs->stop_efd < 0) {
		log_msg("console: eventfd: %s", strerror(errno));
		return -1;
	}
	int r = pthread_create(&cs->out_thread, NULL, out_thread, cs);
	if (r) {
		log_msg("console: cannot start its output thread: %s", strerror(r));
		return -1;
	}
	cs->out_threaded = true;
	cs->out->kick_fd = cs->out_efd;
	return 0;
}

static void out_thread_stop(struct console_state *cs)
{
	if (cs->out_threaded) {
		efd_signal(cs->stop_efd);
		pthread_join(cs->out_thread, NULL);
		cs->out_threaded = false;
	}
	if (cs->out_efd > 0)
		close(cs->out_efd);
	if (cs->stop_efd > 0)
		close(cs->stop_efd);
	cs->out_efd = cs->stop_efd = -1;
}

/*
 * Input.
 */

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* Three Ctrl-C in a row within a second stop the guest, as in the reference
 * Launcher: with the terminal raw, Ctrl-C no longer reaches us as SIGINT, and
 * a guest that ignores its console would otherwise be unkillable from the
 * keyboard.  The bytes still go to the guest first.  Any other byte resets
 * the count.  Returns true if the guest was stopped. */
static bool ctrl_c_check(struct vm *vm, struct console_state *cs, const struct vchain *c,
			 size_t len)
{
	for (unsigned i = 0; i < c->nwrite && len; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		size_t n = c->iov[i].iov_len < len ? c->iov[i].iov_len : len;

		len -= n;
		for (size_t j = 0; j < n; j++) {
			struct timespec now;

			if (p[j] != CTRL_C) {
				cs->ctrl_c = 0;
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!cs->ctrl_c || ns_between(&cs->ctrl_c_first, &now) > CTRL_C_WINDOW_NS) {
				cs->ctrl_c = 0;
				cs->ctrl_c_first = now;
			}
			if (++cs->ctrl_c == CTRL_C_COUNT) {
				vm_stop(vm, EXIT_INTERRUPTED, "three Ctrl-C on the console");
				return true;
			}
		}
	}
	return false;
}

/* stdin is finished (end of file, a closed descriptor, an error): never
 * look at it again, and give the user their terminal back. */
static void input_stop(struct console_state *cs)
{
	cs->in_eof = true;
	cs->in_listen = false;
	console_term_restore();
}

/* Is stdin readable right now?  Never blocks. */
static bool stdin_ready(struct console_state *cs)
{
	struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

	if (poll(&pfd, 1, 0) <= 0)
		return false;
	if (pfd.revents & POLLNVAL) {
		input_stop(cs);
		return false;
	}
	return true;
}

/* 2.6.23 (the DMA bus, virtio/dma_bus.c): the driver binds one buffer to
 * key 0 and takes its bytes when it sees used_len non-zero, with no word to
 * us when the buffer is free again.  So with none free the bytes are read
 * and dropped, as the Launcher dropped them; waiting instead would spin on a
 * readable stdin. */
static bool input_one_dma(struct vm *vm, struct console_state *cs)
{
	uint8_t discard[256];
	struct dma_buf b;
	struct vchain c;
	ssize_t len;
	int r = dma_take(vm, DMA_CONSOLE_KEY, &b);

	if (r < 0)
		return false;
	if (r == 0 || !b.n) {
		b.iov[0] = (struct iovec){.iov_base = discard, .iov_len = sizeof(discard)};
		b.n = 1;
		r = 0;
	}
	do
		len = readv(STDIN_FILENO, b.iov, (int)b.n);
	while (len < 0 && errno == EINTR);
	if (len <= 0) {
		if (len == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			input_stop(cs);
		return false;
	}
	if (r)
		dma_complete(vm, &b, (uint32_t)len);
	c.nwrite = b.n;
	memcpy(c.iov, b.iov, b.n * sizeof(b.iov[0]));
	return !ctrl_c_check(vm, cs, &c, (size_t)len) && r;
}

/* Move what stdin has into one posted input buffer.  Returns false when
 * there is no point trying again now. */
static bool input_one(struct vm *vm, struct console_state *cs)
{
	struct vchain c;
	ssize_t len;
	int r;

	if (!stdin_ready(cs))
		return false;
	if (vm->bus.tp == &dma_bus)
		return input_one_dma(vm, cs);
	r = vring_pop(vm, cs->in, &c);
	if (r < 0)
		return false;
	if (r == 0) {
		/* No buffer: stop watching stdin until the guest posts one. */
		cs->in_listen = false;
		return false;
	}
	if (c.nread) {
		guest_kill(vm, "console: input buffer %u has a device-readable descriptor", c.head);
		return false;
	}
	if (!c.write_len) {
		/* Nothing fits in it; hand it back empty rather than read 0
		 * bytes and mistake that for end of file. */
		vring_complete(vm, cs->in, c.head, 0);
		return true;
	}
	do
		len = readv(STDIN_FILENO, c.iov, (int)c.nwrite);
	while (len < 0 && errno == EINTR);
	if (len <= 0) {
		vring_unpop(cs->in, &c);
		if (len == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			input_stop(cs);
		return false;
	}
	vring_complete(vm, cs->in, c.head, (uint32_t)len);
	return !ctrl_c_check(vm, cs, &c, (size_t)len);
}

static void console_input(struct vm *vm, struct console_state *cs)
{
	/* Each round fills one buffer; there are at most num of them. */
	for (unsigned n = 0; n < cs->in->num && cs->in_listen && !vm->dead; n++)
		if (!input_one(vm, cs))
			break;
}

/*
 * The device callbacks.
 */

static void console_notify(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	struct console_state *cs = dev->priv;

	if (!cs)
		return;
	if (q == cs->out) {
		console_output(vm, cs);
		return;
	}
	/* A kick on the input queue means "new buffers posted": listen to
	 * stdin again, and deliver anything already waiting. */
	cs->in_listen = !cs->in_eof;
	console_input(vm, cs);
}

static void console_poll(struct vm *vm, struct vdev *dev)
{
	struct console_state *cs = dev->priv;

	if (cs)
		console_input(vm, cs);
}

static int console_pollfds(struct vm *vm, struct vdev *dev, struct pollfd *fds, int max)
{
	struct console_state *cs = dev->priv;

	(void)vm;
	if (!cs || !cs->in_listen || max < 1)
		return 0;
	fds[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	return 1;
}

static void console_wake(void *ctx)
{
	struct console_state *cs = ctx;

	efd_signal(cs->out_efd);
}

static bool console_hold(struct vm *vm, struct vdev *dev, bool on)
{
	struct console_state *cs = dev->priv;
	(void)vm;
	return !cs || !cs->out_threaded || hold_set(&cs->hold, on, 5000, console_wake, cs);
}

static void console_teardown(struct vm *vm, struct vdev *dev)
{
	struct console_state *cs = dev->priv;

	console_term_restore();
	if (!cs)
		return;
	out_thread_stop(cs);
	log_close(cs);
	pthread_mutex_destroy(&cs->out_lock);
	free(cs);
	dev->priv = NULL;
	vm->bus.console = NULL;
}

int vbus_add_console(struct vm *vm)
{
	int fd = -1;

	if (vm->opt.console_log) {
		char err[512];

		fd = files_open_log(vm->opt.console_log, err, sizeof(err));
		if (fd < 0) {
			log_msg("%s", err);
			return -1;
		}
	}
	return vbus_add_console_fd(vm, fd);
}

/* struct virtio_console_config: cols, rows (u16), max_nr_ports, emerg_wr (u32). */
#define CONSOLE_CFG_LEN		     12
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

static void console_config_write(struct vm *vm, struct vdev *dev, unsigned offset, unsigned len,
				 uint32_t val)
{
	(void)dev;
	if (offset == CONSOLE_CFG_EMERG_WR && len >= 1) {
		char c = (char)val;
		console_out(vm, &c, 1);
	}
}

int vbus_add_console_fd(struct vm *vm, int log_fd)
{
	struct console_state *cs = calloc(1, sizeof(*cs));
	struct vdev *dev;

	if (!cs) {
		if (log_fd >= 0)
			close(log_fd);
		log_msg("out of memory for the console");
		return -1;
	}
	cs->log_fd = log_fd;
	cs->log_at_line_start = true;
	cs->vm = vm;
	cs->out_efd = cs->stop_efd = -1;
	pthread_mutex_init(&cs->out_lock, NULL);
	hold_init(&cs->hold);
	/* Like the reference, watch stdin from the start; the first empty
	 * input queue turns that off until the driver posts a buffer. */
	cs->in_listen = true;
	if (fcntl(STDIN_FILENO, F_GETFL) < 0)
		input_stop(cs);

	/* Input queue first, output second: the driver takes them in order. */
	dev = vbus_add_device(vm, VIRTIO_ID_CONSOLE, "console");
	if (!dev || !(cs->in = vbus_add_queue(vm, dev, VBUS_QUEUE_NUM)) ||
	    !(cs->out = vbus_add_queue(vm, dev, VBUS_QUEUE_NUM)))
		goto fail;
	/* virtio-PCI (4.x): the config struct with emerg_wr, the register the
	 * early console prints through, one character per write
	 * (docs/abi.md §H1.8).  The device pages never carried it. */
	if (vm->bus.tp == &virtio_pci) {
		uint8_t cfg[CONSOLE_CFG_LEN] = {0};
		if (vbus_add_config(vm, dev, 0, VIRTIO_CONSOLE_F_EMERG_WRITE, 0, sizeof(cfg), cfg) <
		    0)
			goto fail;
		dev->config_write = console_config_write;
	}
	if (vm->bus.tp != &dma_bus && !vm->opt.no_fast_path && out_thread_start(cs) < 0)
		goto fail;
	dev->notify = console_notify;
	dev->poll = console_poll;
	dev->pollfds = console_pollfds;
	dev->teardown = console_teardown;
	dev->hold = console_hold;
	dev->priv = cs;
	vm->bus.console = cs;

	if (!cs->in_eof)
		term_make_raw();
	return 0;

fail:
	out_thread_stop(cs);
	log_close(cs);
	pthread_mutex_destroy(&cs->out_lock);
	free(cs);
	return -1;
}
