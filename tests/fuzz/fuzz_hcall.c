/* libFuzzer harness for the lguest host's event dispatcher: hypercalls (with
 * the async ring drained on the way), traps, interrupts and the console's
 * rings, driven by a fake vCPU over fake guest memory (fake_vcpu.h).
 *
 * One input is one guest's life from LGUEST_INIT on: a stream of operations
 * (guest memory writes, hypercalls with any number and arguments, trap frames
 * with any vector, error code, EIP, CS, EFLAGS, ESP, SS, EAX and CR2, async
 * ring entries, device interrupts, time passing, console input, ring kicks),
 * run until the guest is dead, the input is spent, or FAKE_MAX_OPS.  Nothing
 * may crash, hang or touch memory outside guest memory below its limit and
 * the monitor's pages (ASan: the rest of the buffer is poisoned), and after
 * every operation the invariants of fake_check() must hold.  A broken one
 * aborts with its sentence. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fake_vcpu.h"
#include "tests/fuzz/no_kvm.h"

/* kvm-glue's vCPU side is not in the fuzz library (it is the part that calls
 * ioctl): with no vCPU thread and no timer, kicking and arming are no-ops,
 * exactly what the real ones do before the run loop starts. */
static struct fake fk;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fake_init(&fk);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_rd r = {data, size};

	/* The first byte picks the generation: every served ABI gets fuzzed. */
	fk.abi = abi_get(GEN_G0 + (size ? data[0] % GEN_COUNT : 1)); /* every generation */
	fake_reset(&fk);
	for (unsigned n = 0; n < FAKE_MAX_OPS && fake_step(&fk, &r); n++)
		;
	if (fk.violation) {
		fprintf(stderr, "fuzz_hcall: invariant broken: %s\n", fk.violation);
		abort();
	}
	return 0;
}
