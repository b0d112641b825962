/* Loading an lguest kernel: the Launcher's half of the boot protocol
 * (docs/abi.md §2).
 *
 * Everything here is a pure function over byte buffers: the image and initrd
 * are bytes we were given, guest RAM is a byte array we own.  No ioctls, no
 * files, so the loader can be unit-tested and fuzzed directly. */
#ifndef LGKVM_BOOT_H
#define LGKVM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_KERNEL_LOAD 0x00100000u /* bzImage payload GPA */
#define BOOT_CMDLINE_GPA 0x00001000u /* right after the zero page */
#define BOOT_CMDLINE_MAX 2048u	     /* including the NUL (guest copies 2048) */

enum boot_format { BOOT_ELF = 1, BOOT_BZIMAGE = 2 };

struct boot_layout {
	enum boot_format format;
	uint32_t entry;	      /* initial EIP (a GPA; the boot tables identity-map RAM) */
	uint32_t kernel_lo;   /* lowest GPA written by the kernel image */
	uint32_t kernel_hi;   /* one past the highest GPA the image occupies (memsz) */
	uint32_t initrd_gpa;  /* 0 if none */
	uint32_t initrd_size; /* page-rounded, as the Launcher reports it */
	uint32_t pgdir_gpa;   /* boot page directory (lguest_data.pgdir after INIT) */
	uint32_t pt_lo;	      /* first boot page-table page */
};

/* Lay out a whole boot in guest RAM `ram` of `mem` bytes (page aligned):
 * the kernel image (ELF vmlinux or bzImage), the initrd (placed at the top of
 * RAM; may be NULL/0), the zero page at GPA 0 and the command line at 0x1000,
 * and the identity boot page tables just below the initrd.  PDE 1023 of the
 * boot directory is set to `top_pde` (the monitor's page table; 0 leaves it
 * empty), since the VMM owns the top 4 MiB.
 *
 * RAM must be zero-filled on entry.  Returns 0, or -1 with one clear sentence
 * in err (not i386, truncated, overlapping pieces, too big for mem, ...).
 * With ram NULL it only checks: the same answer, nothing written. */
int boot_load(uint8_t *ram, uint64_t mem, const uint8_t *kernel, size_t kernel_len,
	      const uint8_t *initrd, size_t initrd_len, const char *cmdline, uint32_t top_pde,
	      struct boot_layout *out, char *err, size_t errlen);

/* The same, with the boot tables in PAE form when `pae` (then pgdir_gpa is
 * the page-directory-pointer table, and `top_entry` the 8-byte PMD entry
 * that maps the monitor at 0xFFC00000). */
int boot_load_paging(uint8_t *ram, uint64_t mem, const uint8_t *kernel, size_t kernel_len,
		     const uint8_t *initrd, size_t initrd_len, const char *cmdline, bool pae,
		     uint64_t top_entry, struct boot_layout *out, char *err, size_t errlen);

#endif
