/* libFuzzer harness for the 2.6.23 DMA device bus (virtio/dma_bus.c): the
 * only parser there of what a G0 guest hands us, struct lguest_dma and the
 * block request page, behind BIND_DMA and SEND_DMA.
 *
 * One input is one guest: its first bytes become guest RAM (the rest of RAM
 * is zero), and the same bytes, read as a stream of 13-byte operations
 * {op, a1, a2, a3}, drive it:
 *	op % 4 == 0	BIND_DMA(a1, a2, a3)
 *	op % 4 == 1	SEND_DMA(a1, a2)
 *	op % 4 == 2	a frame of a3 % 2048 bytes arrives on the network, then
 *			the devices are polled (network input, console input)
 *	op % 4 == 3	SEND_DMA to one of the devices' own keys (console 0,
 *			the block page, our slot of the MAC page), dma = a2
 * until the guest is killed or the input is spent.  The bus has a disk (a
 * memfd of 64 sectors), a network (a socketpair) and the console (stdin
 * /dev/null, stdout /dev/null).  Guest memory ends in an inaccessible page,
 * so a read or write past what the guest may name faults at once; ASan
 * watches the rest.  Afterwards: a dead guest has a reason, and every
 * binding left names an array inside guest memory. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/dma_bus.h"
#include "virtio/transport.h"
#include "tests/fuzz/no_kvm.h"

#define RAM	 (256u << 10)
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)
#define OP_LEN	 13
#define MAX_OPS	 256

static uint8_t *guest; /* MEM_SIZE bytes, then a PROT_NONE page */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The console writes to stdout and reads stdin: keep both quiet. */
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(null, 1);
	close(null);
	guest = mmap(NULL, MEM_SIZE + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		     0);
	if (guest == MAP_FAILED || mprotect(guest + MEM_SIZE, 4096, PROT_NONE))
		abort();
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	int sv[2];

	memset(&vm, 0, sizeof(vm));
	memset(guest, 0, MEM_SIZE);
	memcpy(guest, data, size < RAM ? size : RAM);
	vm.mem = (struct guestmem){.base = guest, .size = MEM_SIZE, .limit = MEM_SIZE};
	vm.opt.mem = RAM;
	vm.opt.quiet = true;
	vm.opt.console_log_max = 1u << 20;
	vm.lg.abi = abi_get(GEN_G0);
	if (vbus_init(&vm) < 0)
		abort();
	int disk = memfd_create("fuzz-disk", 0);
	if (disk < 0 || ftruncate(disk, 64 * 512) < 0 ||
	    dma_add_disk_fd(&vm, "fuzz-disk", disk, size % 2) < 0)
		abort();
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0 ||
	    dma_add_net_fd(&vm, sv[0], mac) < 0 || vbus_add_console_fd(&vm, -1) < 0 ||
	    vbus_finish(&vm) < 0)
		abort();
	vm.mem.limit = vbus_limit(&vm);
	const uint32_t keys[3] = {DMA_CONSOLE_KEY, RAM + 4096, RAM + 8192};

	for (size_t at = 0, n = 0; at + OP_LEN <= size && n < MAX_OPS && !vm.dead;
	     at += OP_LEN, n++) {
		const uint8_t *op = data + at;
		uint32_t a1 = rd32(op + 1), a2 = rd32(op + 5), a3 = rd32(op + 9);
		static uint8_t frame[2048];
		switch (op[0] % 4) {
		case 0:
			dma_bind(&vm, a1, a2, a3);
			break;
		case 1:
			dma_send(&vm, a1, a2);
			break;
		case 2:
			memset(frame, op[0], sizeof(frame));
			if (send(sv[1], frame, a3 % sizeof(frame), 0) < 0) {
				/* the wire is full: the guest is not taking frames */
			}
			vbus_poll(&vm);
			break;
		case 3:
			dma_send(&vm, keys[a1 % 3], a2);
			break;
		}
	}
	if (vm.dead && !vm.exit_reason[0]) {
		fprintf(stderr, "fuzz_dma: killed without a reason\n");
		abort();
	}
	for (unsigned i = 0; i < DMA_MAX_BINDINGS; i++) {
		const struct dma_binding *b = &vm.bus.dma.bind[i];
		if (b->irq &&
		    (!b->num || !gm_ptr(&vm.mem, b->dmas, (uint64_t)b->num * DMA_STRUCT_LEN))) {
			fprintf(stderr, "fuzz_dma: binding %u outside guest memory\n", i);
			abort();
		}
	}
	vbus_teardown(&vm);
	close(sv[1]);
	return 0;
}
