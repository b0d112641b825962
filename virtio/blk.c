/* virtio block: placeholder until the io_uring backend lands. */
#include "src/vm.h"

int vbus_add_disk(struct vm *vm, const char *path, bool readonly)
{
	(void)readonly;
	vm_stop(vm, EXIT_USAGE, "--disk %s: block devices are not implemented yet", path);
	return -1;
}
