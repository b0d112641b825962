/* Booting a 2.6.23 kernel (generation G0) the way its Launcher did
 * (docs/abi.md §H1.4, docs/DESIGN.md §8.1).
 *
 * 2.6.23 predates the boot protocol's hardware_subarch: nothing sends the
 * kernel's normal entry to lguest code.  Instead lguest_asm.S starts with the
 * ASCII string "GenuineLguest", and the Launcher started the guest at the
 * byte after it -- at its *virtual* address, on page tables that map RAM at
 * PAGE_OFFSET and nowhere else.  A bzImage was not run either: the Launcher
 * found the gzip member in it and unpacked the kernel to 1 MiB itself.
 *
 * Pure functions over bytes, like the loader they sit beside (pvabi/boot.c). */
#ifndef LGKVM_BOOT_G0_H
#define LGKVM_BOOT_G0_H

#include <stddef.h>
#include <stdint.h>

#include "pvabi/boot.h"

#define G0_MARKER "GenuineLguest"

struct g0_kernel {
	/* The vmlinux to load instead of the file, or NULL to load the file
	 * itself (already a vmlinux).  For a bzImage: an ELF made around the
	 * unpacked kernel, one segment at 1 MiB.  malloc()ed. */
	uint8_t *elf;
	size_t elf_len;
	uint32_t page_offset; /* where the kernel expects RAM mapped */
	uint32_t entry_pa;    /* the byte after the marker, guest-physical */
};

/* Find the kernel, the marker and PAGE_OFFSET in image `img` (a 2.6.23
 * vmlinux or bzImage).  Returns 0, or -1 with one sentence in err. */
int boot_g0_prepare(const uint8_t *img, size_t len, struct g0_kernel *out, char *err,
		    size_t errlen);

/* After boot_load_paging() laid out RAM with its identity tables: move every
 * RAM mapping from slot i of the boot directory to slot PAGE_OFFSET/4M + i
 * (RAM at PAGE_OFFSET only, as the 2.6.23 Launcher mapped it; what does not
 * fit below the monitor's slot stays unmapped) and set the entry to the
 * marker's virtual address.  Returns 0 or -1 with err. */
int boot_g0_map(uint8_t *ram, uint64_t mem, const struct g0_kernel *g0, struct boot_layout *bl,
		char *err, size_t errlen);

#endif
