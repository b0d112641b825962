/* Unit tests for the control channel (src/api.c): the protocol through
 * api_handle(), the socket's creation rules, and a pause/resume handshake
 * with a stand-in vCPU thread that calls api_pause_point() as the run loop
 * does.  (The real thing, on KVM, is in tests/testhost/batch-check.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvabi/abi.h"
#include "src/api.h"
#include "src/vm.h"

struct fx {
	struct vm *vm;
	char path[64];
	pthread_t vcpu;
	atomic_bool vcpu_stop;
	atomic_bool vcpu_away; /* in the guest for long: no pause point */
	atomic_uint points;    /* times the stand-in vCPU passed a pause point */
};

static void *fake_vcpu(void *arg)
{
	struct fx *f = arg;
	while (!atomic_load(&f->vcpu_stop)) {
		if (!atomic_load(&f->vcpu_away))
			api_pause_point(f->vm);
		atomic_fetch_add(&f->points, 1);
		usleep(500);
	}
	return NULL;
}

static void ignore_kick(int sig)
{
	(void)sig;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	f->vm = calloc(1, sizeof(*f->vm));
	f->vm->lg.abi = abi_get(GEN_G9);
	f->vm->opt.kernel = "bzImage-4.9";
	f->vm->opt.mem = 64u << 20;
	snprintf(f->path, sizeof(f->path), "/tmp/lgkvm-test-api.%d", (int)getpid());
	unlink(f->path);
	assert_int_equal(api_open(f->vm, f->path, err, sizeof(err)), 0);
	/* The fake vCPU is the guest's running vCPU thread; a pause kicks it
	 * with KVM_KICK_SIGNAL, which only interrupts, as in lgkvm. */
	struct sigaction sa = {.sa_handler = ignore_kick};
	sigaction(KVM_KICK_SIGNAL, &sa, NULL);
	assert_int_equal(pthread_create(&f->vcpu, NULL, fake_vcpu, f), 0);
	f->vm->kvm.vcpu_thread = f->vcpu;
	atomic_store(&f->vm->kvm.vcpu_thread_set, true);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	atomic_store(&f->vcpu_stop, true);
	atomic_store(&f->vm->api.pause_req, false);
	f->vm->dead = true;
	uint64_t one = 1;
	assert_int_equal(write(f->vm->api.resume_efd, &one, sizeof(one)), sizeof(one));
	pthread_join(f->vcpu, NULL);
	api_close(f->vm);
	api_close(f->vm); /* twice is fine */
	unlink(f->path);
	free(f->vm);
	free(f);
	return 0;
}

static const char *ask(struct fx *f, const char *req)
{
	static char reply[1024];
	size_t n = api_handle(f->vm, req, strlen(req), reply, sizeof(reply));
	assert_true(n < sizeof(reply));
	reply[n] = '\0';
	return reply;
}

#define HAS(s, part)                                                \
	do {                                                        \
		if (!strstr((s), (part)))                           \
			fail_msg("reply %s lacks %s", (s), (part)); \
	} while (0)

static void test_status(void **state)
{
	struct fx *f = *state;
	const char *r = ask(f, "{\"cmd\":\"status\"}");
	HAS(r, "\"ok\":true");
	HAS(r, "\"state\":\"running\"");
	HAS(r, "\"generation\":\"G9\"");
	HAS(r, "\"kernel\":\"bzImage-4.9\"");
	HAS(r, "\"mem_mib\":64");
	/* Before the vCPU thread runs, the guest is being built: "starting"
	 * (what --migrate-every waits out before it asks for a move). */
	atomic_store(&f->vm->kvm.vcpu_thread_set, false);
	HAS(ask(f, "{\"cmd\":\"status\"}"), "\"state\":\"starting\"");
	atomic_store(&f->vm->kvm.vcpu_thread_set, true);
	/* Whitespace and extra members are fine. */
	HAS(ask(f, "  { \"cmd\" : \"status\", \"id\": 7 }  "), "\"ok\":true");
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"\"status\"",
		"{}",
		"{\"cmd\":7}",
		"{\"cmd\":null}",
		"{\"cmd\":\"status\"",
		"{\"cmd\":\"status\"} trailing",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		HAS(ask(f, bad[i]), "\"ok\":false");
	HAS(ask(f, "{\"cmd\":\"reboot-the-host\"}"), "unknown cmd");
	/* Snapshot and migrate check their arguments first, and want a guest
	 * that runs (a vCPU thread) before anything is made or connected. */
	atomic_store(&f->vm->kvm.vcpu_thread_set, false);
	HAS(ask(f, "{\"cmd\":\"snapshot\"}"), "needs a \\\"path\\\"");
	HAS(ask(f, "{\"cmd\":\"snapshot\",\"path\":7}"), "needs a \\\"path\\\"");
	HAS(ask(f, "{\"cmd\":\"snapshot\",\"path\":\"/nonexistent/x\"}"),
	    "the guest is not running yet");
	HAS(ask(f, "{\"cmd\":\"migrate\"}"), "migrate needs");
	HAS(ask(f, "{\"cmd\":\"migrate\",\"to\":\"unix:/x\",\"max_downtime_ms\":0}"),
	    "max_downtime_ms is 1 to 60000");
	HAS(ask(f, "{\"cmd\":\"migrate\",\"to\":\"unix:/nonexistent/x\"}"),
	    "the guest is not running yet");
	atomic_store(&f->vm->kvm.vcpu_thread_set, true);
	/* An embedded NUL ends nothing: the length is what counts. */
	char reply[256];
	size_t n = api_handle(f->vm, "{\"cmd\":\"status\"}\0junk", 22, reply, sizeof(reply));
	reply[n] = '\0';
	HAS(reply, "\"ok\":false");
	/* A reply never overruns a small buffer. */
	n = api_handle(f->vm, "{\"cmd\":\"status\"}", 16, reply, 8);
	assert_true(n < 8);
	assert_false(f->vm->dead);
}

static void test_pause_resume(void **state)
{
	struct fx *f = *state;
	HAS(ask(f, "{\"cmd\":\"pause\"}"), "\"ok\":true");
	assert_true(atomic_load(&f->vm->api.paused));
	unsigned p = atomic_load(&f->points);
	usleep(20000);
	assert_int_equal(atomic_load(&f->points), p); /* held */
	HAS(ask(f, "{\"cmd\":\"status\"}"), "\"state\":\"paused\"");
	HAS(ask(f, "{\"cmd\":\"pause\"}"), "\"ok\":true"); /* twice: still paused */
	HAS(ask(f, "{\"cmd\":\"resume\"}"), "\"ok\":true");
	for (int i = 0; i < 2000 && atomic_load(&f->points) == p; i++)
		usleep(1000);
	assert_true(atomic_load(&f->points) > p);
	HAS(ask(f, "{\"cmd\":\"status\"}"), "\"state\":\"running\"");
}

/* Work for the vCPU thread (api_on_vcpu): done there, at a pause point, and
 * its result returned; one the vCPU does not come to in time is taken back
 * and never run (its argument is gone by then); one it has begun is waited
 * for even if the guest ends meanwhile (a migration's last step ends it). */
struct job_probe {
	atomic_uint runs;
	bool end_guest;
	pthread_t thread;
};

static int probe_job(struct vm *vm, void *arg, char *err, size_t errlen)
{
	struct job_probe *j = arg;
	j->thread = pthread_self();
	atomic_fetch_add(&j->runs, 1);
	if (j->end_guest) {
		usleep(300000); /* the API thread sees `dead` meanwhile */
		vm->dead = true;
	}
	snprintf(err, errlen, "the probe's own error");
	return -1;
}

static void test_jobs(void **state)
{
	struct fx *f = *state;
	char err[256];
	static struct job_probe j;
	atomic_store(&j.runs, 0);
	assert_int_equal(api_on_vcpu(f->vm, probe_job, &j, 2000, err, sizeof(err)), -1);
	assert_string_equal(err, "the probe's own error");
	assert_int_equal(atomic_load(&j.runs), 1);
	assert_true(pthread_equal(j.thread, f->vcpu));
	/* Not come to in time: taken back, and the vCPU, back at its pause
	 * points, never runs it. */
	atomic_store(&f->vcpu_away, true);
	usleep(5000);
	assert_int_equal(api_on_vcpu(f->vm, probe_job, &j, 200, err, sizeof(err)), -1);
	assert_string_equal(err, "the vCPU did not do it in time");
	atomic_store(&f->vcpu_away, false);
	unsigned p = atomic_load(&f->points);
	while (atomic_load(&f->points) < p + 20)
		usleep(1000);
	assert_int_equal(atomic_load(&j.runs), 1);
	/* Begun, and the guest ended by it: its result, not "ended first". */
	j.end_guest = true;
	assert_int_equal(api_on_vcpu(f->vm, probe_job, &j, 2000, err, sizeof(err)), -1);
	assert_string_equal(err, "the probe's own error");
	assert_int_equal(atomic_load(&j.runs), 2);
	/* And after the guest ended, nothing more is taken. */
	assert_int_equal(api_on_vcpu(f->vm, probe_job, &j, 200, err, sizeof(err)), -1);
	assert_string_equal(err, "the guest has ended");
	assert_int_equal(atomic_load(&j.runs), 2);
}

static void test_stop(void **state)
{
	struct fx *f = *state;
	HAS(ask(f, "{\"cmd\":\"pause\"}"), "\"ok\":true");
	HAS(ask(f, "{\"cmd\":\"stop\"}"), "\"ok\":true");
	assert_true(f->vm->dead);
	assert_int_equal(f->vm->exit_code, EXIT_INTERRUPTED);
	assert_string_equal(f->vm->exit_reason, "stopped through the API socket");
	HAS(ask(f, "{\"cmd\":\"pause\"}"), "the guest has ended");
	HAS(ask(f, "{\"cmd\":\"status\"}"), "\"state\":\"stopping\"");
}

/* The socket: owner-only, and never over something that is there. */
static void test_socket_rules(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char err[256];
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	struct vm *other = calloc(1, sizeof(*other));
	assert_int_equal(api_open(other, f->path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(api_open(other, longp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	api_close(other);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_jobs, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stop, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_socket_rules, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
