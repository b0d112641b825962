/* ELF32 program headers, read once and bounds-checked, for the places that
 * walk a kernel image's segments: the 2.6.23 entry finder (boot_g0.c), the
 * PAE detector (inspect.c) and the vmcall sweep (vmcall.c).  The image is
 * untrusted: a header that does not lie wholly inside it is not read. */
#ifndef LGKVM_ELF32_H
#define LGKVM_ELF32_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/le.h"

struct elf32_seg {
	uint32_t type, flags, off, filesz, memsz, vaddr, paddr;
};

/* Program header i of the ELF image [e, e + len), whose ELF header the
 * caller has checked is there: false if the header runs past the file. */
static inline bool elf32_phdr(const uint8_t *e, size_t len, unsigned i, struct elf32_seg *s)
{
	uint64_t at = (uint64_t)le32_get(e + offsetof(Elf32_Ehdr, e_phoff)) +
		      (uint64_t)i * sizeof(Elf32_Phdr);
	if (at + sizeof(Elf32_Phdr) > len)
		return false;
	const uint8_t *ph = e + at;
	s->type = le32_get(ph + offsetof(Elf32_Phdr, p_type));
	s->flags = le32_get(ph + offsetof(Elf32_Phdr, p_flags));
	s->off = le32_get(ph + offsetof(Elf32_Phdr, p_offset));
	s->filesz = le32_get(ph + offsetof(Elf32_Phdr, p_filesz));
	s->memsz = le32_get(ph + offsetof(Elf32_Phdr, p_memsz));
	s->vaddr = le32_get(ph + offsetof(Elf32_Phdr, p_vaddr));
	s->paddr = le32_get(ph + offsetof(Elf32_Phdr, p_paddr));
	return true;
}

static inline unsigned elf32_phnum(const uint8_t *e)
{
	return le16_get(e + offsetof(Elf32_Ehdr, e_phnum));
}

#endif
