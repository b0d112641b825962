/* libFuzzer harness for the control channel's request handler (src/api.c):
 * any bytes as one request line, on a guest whose vCPU is already held (so
 * "pause" is answered at once instead of waiting for a vCPU).  The reply must always
 * be one JSON object with an "ok" member, inside its buffer, and no request
 * may end the guest but "stop". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/abi.h"
#include "kvm-glue/vcpu.h"
#include "src/api.h"
#include "src/vm.h"
#include "tests/fuzz/no_kvm.h"

/* The vCPU side never runs here: stand-ins for what the fuzz library leaves
 * out (fuzz.mk). */
int vcpu_wait(struct pollfd *fds, int n)
{
	(void)fds;
	(void)n;
	return 0;
}

void vcpu_eat_kicks(void)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	char reply[512];
	memset(&vm, 0, sizeof(vm));
	vm.lg.abi = abi_get(GEN_G9);
	vm.opt.kernel = "k";
	vm.api.ack_efd = vm.api.resume_efd = vm.api.stop_efd = vm.api.listen_fd = -1;
	/* "pause" answers at once: held, and not let go since. */
	atomic_store(&vm.api.paused, true);
	atomic_store(&vm.api.pause_req, true);
	size_t n = api_handle(&vm, (const char *)data, size, reply, sizeof(reply));
	if (n >= sizeof(reply) || reply[0] != '{' || reply[n - 1] != '}' ||
	    !strstr(reply, "\"ok\":")) {
		fprintf(stderr, "fuzz_api: bad reply %.*s\n", (int)n, reply);
		abort();
	}
	bool stop = strstr(reply, "\"ok\":true") && memmem(data, size, "stop", 4);
	if (vm.dead && !stop) {
		fprintf(stderr, "fuzz_api: the guest ended on %.*s\n", (int)size, data);
		abort();
	}
	return 0;
}
