/* virtio network: placeholder until the tap backend lands. */
#include "src/vm.h"

int vbus_add_net(struct vm *vm, const char *tap, const char *ip)
{
	(void)tap;
	(void)ip;
	vm_stop(vm, EXIT_USAGE, "--net: network devices are not implemented yet");
	return -1;
}
