/* Unit tests for the seccomp sandbox (src/sandbox.c).
 *
 * A filter cannot be taken back, so every test forks: the child builds a
 * struct vm with the devices under test, enters the sandbox and makes one
 * system call; the parent looks at how the child ended.  A refused call must
 * kill the child with SIGSYS (the filter's default action); an allowed one
 * must simply work, and the child exits 0 to say so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/sandbox.h"
#include "src/vm.h"

#define DEV_NET	    1
#define DEV_BLOCK   2
#define DEV_CONSOLE 3

/* Child exit codes that say what went wrong before the call under test. */
#define CHILD_OK	  0
#define CHILD_NO_SANDBOX  90
#define CHILD_CALL_FAILED 91

struct child {
	uint8_t devs[4]; /* device types on the bus, 0-terminated */
	int vcpu_fd;	 /* what the "vCPU" descriptor is */
	int (*call)(struct child *c);
	int out; /* a pipe for calls that write */
};

/* Build the vm the sandbox looks at: a bus with c->devs and a vCPU fd. */
static struct vm *fake_vm(const struct child *c)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	for (unsigned i = 0; i < sizeof(c->devs) && c->devs[i]; i++) {
		vm->bus.devs[i].type = c->devs[i];
		vm->bus.devs[i].name = "test";
		vm->bus.ndevs++;
	}
	vm->kvm.vcpu_fd = c->vcpu_fd;
	return vm;
}

/* Fork; the child sandboxes itself and runs c->call.  Returns the raw wait
 * status. */
static int run_child(struct child *c)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct vm *vm = fake_vm(c);
		char err[256];

		if (sandbox_enter(vm, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			_exit(CHILD_NO_SANDBOX);
		}
		_exit(c->call(c) < 0 ? CHILD_CALL_FAILED : CHILD_OK);
	}
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_killed_by_sigsys(int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("child not killed by SIGSYS: %s %d",
			 WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static void assert_exited_ok(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK)
		fail_msg("child did not exit 0: %s %d", WIFSIGNALED(status) ? "signal" : "status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/*
 * Calls a running VMM never makes.  Each returns -1 if the call was made
 * and merely failed, which is wrong too: it should never have returned.
 */

static int call_openat_write(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_openat, AT_FDCWD, "/tmp/lgkvm-sandbox-test",
			    O_WRONLY | O_CREAT | O_TRUNC, 0600);
}

static int call_openat_read(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static int call_socket(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static int call_execve(struct child *c)
{
	char *argv[] = {"/bin/true", NULL};
	char *envp[] = {NULL};

	(void)c;
	return (int)syscall(SYS_execve, "/bin/true", argv, envp);
}

static int call_mmap_exec(struct child *c)
{
	(void)c;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? -1 : 0;
}

static int call_mprotect_exec(struct child *c)
{
	(void)c;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

/* An ioctl the vCPU never needs at run time (it could rewrite guest state). */
static int call_vcpu_set_regs(struct child *c)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	return (int)syscall(SYS_ioctl, c->vcpu_fd, KVM_SET_REGS, &r);
}

/* KVM_RUN is allowed, but only on the vCPU's descriptor. */
static int call_run_other_fd(struct child *c)
{
	return (int)syscall(SYS_ioctl, c->vcpu_fd + 1, KVM_RUN, 0);
}

static int call_io_uring_enter(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
}

static int call_kill_init(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_tgkill, 1, 1, 0);
}

static int call_fork(struct child *c)
{
	(void)c;
	return (int)syscall(SYS_fork);
}

/*
 * What the run loop and the devices do: all must work.
 */

static int call_vmm_routine(struct child *c)
{
	struct timespec ts;
	sigset_t set;

	/* Time and signals, as vcpu.c uses them (direct system calls, not
	 * the vDSO, to see the filter). */
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0)
		return -1;
	sigemptyset(&set);
	if (sigprocmask(SIG_BLOCK, NULL, &set) < 0)
		return -1;
	/* Memory: malloc, a large block (mmap), realloc. */
	char *p = malloc(1 << 20);
	if (!p)
		return -1;
	memset(p, 1, 1 << 20);
	char *q = realloc(p, 4 << 20);
	if (!q) {
		free(p);
		return -1;
	}
	free(q);
	/* Output on a descriptor we already hold. */
	if (write(c->out, "ok", 2) != 2)
		return -1;
	/* KVM_RUN on the vCPU's descriptor (here /dev/null: ENOTTY is the
	 * right answer, and it proves the call got through). */
	if (syscall(SYS_ioctl, c->vcpu_fd, KVM_RUN, 0) != -1 || errno != ENOTTY)
		return -1;
	/* Kicking our own thread with a blocked signal. */
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1) < 0)
		return -1;
	struct timespec zero = {0, 0};
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	if (sigtimedwait(&one, NULL, &zero) != SIGUSR1)
		return -1;
	return 0;
}

/* The block device's io_uring: allowed when there is a disk (the call itself
 * fails on a bad ring descriptor, which is fine: it was let through). */
static int call_io_uring_enter_allowed(struct child *c)
{
	(void)c;
	return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0) == -1 && errno == EBADF ? 0 : -1;
}

/*
 * The tests.
 */

static int null_fd;

static int group_setup(void **state)
{
	(void)state;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return null_fd < 0;
}

static int group_teardown(void **state)
{
	(void)state;
	close(null_fd);
	return 0;
}

static struct child console_only(int (*call)(struct child *c))
{
	return (struct child){.devs = {DEV_CONSOLE}, .vcpu_fd = null_fd, .call = call, .out = -1};
}

static void test_refused_calls_kill(void **state)
{
	static const struct {
		const char *what;
		int (*call)(struct child *c);
	} refused[] = {
		{"openat for writing", call_openat_write},
		{"socket", call_socket},
		{"execve", call_execve},
		{"mmap with PROT_EXEC", call_mmap_exec},
		{"mprotect to PROT_EXEC", call_mprotect_exec},
		{"KVM_SET_REGS on the vCPU", call_vcpu_set_regs},
		{"KVM_RUN on another descriptor", call_run_other_fd},
		{"io_uring_enter without a disk", call_io_uring_enter},
		{"a signal to another process", call_kill_init},
		{"fork", call_fork},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct child c = console_only(refused[i].call);
		int status = run_child(&c);

		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
			fail_msg("%s: child not killed by SIGSYS (%s %d)", refused[i].what,
				 WIFSIGNALED(status) ? "signal" : "exit status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
}

/* Reading arbitrary files: refused in a release build.  (A sanitizer build
 * lets read-only opens through for the leak checker, see src/sandbox.c.) */
static void test_open_for_reading_refused(void **state)
{
	struct child c = console_only(call_openat_read);

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#endif
	assert_killed_by_sigsys(run_child(&c));
}

static void test_run_loop_calls_allowed(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	struct child c = console_only(call_vmm_routine);
	c.out = p[1];
	assert_exited_ok(run_child(&c));
	close(p[1]);
	char buf[4] = {0};
	assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ok");
	close(p[0]);
}

/* The per-device table: io_uring only with a block device on the bus. */
static void test_block_device_allows_io_uring(void **state)
{
	(void)state;
	struct child c = {.devs = {DEV_BLOCK, DEV_NET, DEV_CONSOLE},
			  .vcpu_fd = null_fd,
			  .call = call_io_uring_enter_allowed};
	assert_exited_ok(run_child(&c));
	/* A network device alone does not bring it. */
	struct child n = {
		.devs = {DEV_NET, DEV_CONSOLE}, .vcpu_fd = null_fd, .call = call_io_uring_enter};
	assert_killed_by_sigsys(run_child(&n));
}

/* A device type without rules: refuse to sandbox at all (fail closed), with a
 * sentence, and load nothing. */
static void test_unknown_device_refused(void **state)
{
	(void)state;
	struct child c = {.devs = {DEV_CONSOLE, 9}, .vcpu_fd = null_fd, .call = call_socket};
	int status = run_child(&c);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), CHILD_NO_SANDBOX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_calls_kill),
		cmocka_unit_test(test_open_for_reading_refused),
		cmocka_unit_test(test_run_loop_calls_allowed),
		cmocka_unit_test(test_block_device_allows_io_uring),
		cmocka_unit_test(test_unknown_device_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
