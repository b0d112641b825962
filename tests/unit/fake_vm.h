/* A struct vm with guest memory and nothing else -- no KVM, no monitor --
 * for the unit tests that drive devices and rings directly.  `ram` bytes of
 * RAM at GPA 0; `mem_size` bytes mapped (RAM plus whatever device area the
 * test wants), all of it nameable by the guest. */
#ifndef LGKVM_TEST_FAKE_VM_H
#define LGKVM_TEST_FAKE_VM_H

#include <stdint.h>
#include <stdlib.h>

#include "src/vm.h"

static inline struct vm *fake_vm_new(uint64_t ram, uint64_t mem_size)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->mem.base = calloc(1, mem_size);
	vm->mem.size = mem_size;
	vm->mem.limit = mem_size;
	vm->opt.mem = ram;
	return vm;
}

static inline void fake_vm_free(struct vm *vm)
{
	free(vm->mem.base);
	free(vm);
}

#endif
