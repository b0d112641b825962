/* The vmcall era (2.6.30-3.0; docs/abi.md §H4.1 and docs/DESIGN.md §6).
 *
 * 2.6.30 borrowed KVM's hypercall instruction, `vmcall`, and the host rewrote
 * each one to `int $0x1f; nop` the first time it trapped.  Under KVM a ring-1
 * `vmcall` never reaches us: on Intel KVM answers it itself (-KVM_EPERM: not
 * from ring 0) and steps over it; on AMD it is #UD, which KVM by default
 * "fixes" into `vmmcall` and answers the same way.  Either way the guest's
 * LGUEST_INIT would vanish without a trace.
 *
 * So we do the host's rewrite before the guest runs: lgkvm decompresses the
 * kernel (pvabi/decompress.c), disassembles its executable sections with
 * Capstone -- a linear sweep, instruction by instruction, so a 0F 01 C1 that
 * is only the tail of another instruction or a constant is left alone -- and
 * rewrites every `vmcall` it meets.  The guest then boots that rewritten ELF.
 *
 * A site the sweep misses (code reached only through data in the middle of
 * text, which these kernels do not have around their hypercalls) is caught at
 * run time where the hardware lets us.  On AMD a `vmcall` is #UD, which KVM
 * emulates; its emulator marks vmcall privileged and, at ring 1, raises #GP(0)
 * before anything else (measured on the test host's 6.1 kernel; with the
 * hypercall-patching quirk on, newer kernels could instead rewrite it to
 * `vmmcall`, so lgkvm turns that quirk off and also routes #UD to us).  Either
 * way the monitor hands the fault to lg_fix_vmcall(), which rewrites the site
 * in guest memory and lets the guest retry, exactly as the 2.6.30 host did.
 * On Intel there is no such net (VMX exits on vmcall and KVM answers it
 * itself); docs/DESIGN.md §6 argues why the sweep suffices. */
#include <capstone/capstone.h>
#include <elf.h>
#include <string.h>

#include "pvabi/elf32.h"
#include "pvabi/inspect.h"
#include "pvabi/internal.h"
#include "pvabi/mmu.h"
#include "src/le.h"
#include "src/log.h"
#include "src/vm.h"

static const uint8_t VMCALL[3] = {0x0F, 0x01, 0xC1};
static const uint8_t VMMCALL[3] = {0x0F, 0x01, 0xD9};
static const uint8_t INT1F_NOP[3] = {0xCD, 0x1F, 0x90};

/* Decode from `from` up to `target` (both inside [sec, sec + len)), a linear
 * sweep: does an instruction start exactly at `target`, and is it vmcall?
 * A byte that does not decode (padding, data) is stepped over; x86 decoding
 * falls back into step within a few instructions. */
static bool vmcall_at(csh cs, cs_insn *insn, const uint8_t *sec, size_t len, uint64_t sec_addr,
		      size_t from, size_t target)
{
	const uint8_t *code = sec + from;
	size_t left = len - from;
	uint64_t addr = sec_addr + from;
	while ((size_t)(code - sec) < target && left) {
		if (!cs_disasm_iter(cs, &code, &left, &addr, insn)) {
			code++;
			left--;
			addr++;
		}
	}
	if ((size_t)(code - sec) != target || !cs_disasm_iter(cs, &code, &left, &addr, insn))
		return false;
	return insn->id == X86_INS_VMCALL && insn->size == 3;
}

/* How far before a candidate the sweep starts.  Decoding from two different
 * points this far back lands on the same instruction boundaries long before
 * the candidate (x86 resynchronises within a few instructions); where the two
 * disagree we sweep from the section's start, which is exact by definition.
 * The two short sweeps are ~20 times cheaper than sweeping all of .text
 * (measured: 230 ms to 30 ms for a 2.6.32 kernel on the development host). */
#define WINDOW 4096u

/* Rewrite the vmcalls of one executable section [off, off + len) of the
 * file, decoded as code at address `addr`. */
static unsigned sweep(csh cs, cs_insn *insn, uint8_t *elf, size_t off, size_t len, uint64_t addr)
{
	uint8_t *sec = elf + off;
	unsigned n = 0;
	for (uint8_t *p = sec; (p = memmem(p, len - (size_t)(p - sec), VMCALL, 3)) != NULL; p++) {
		size_t t = (size_t)(p - sec);
		size_t a = t > WINDOW ? t - WINDOW : 0,
		       b = t > WINDOW / 2 + 5 ? t - WINDOW / 2 - 5 : 0;
		bool va = vmcall_at(cs, insn, sec, len, addr, a, t);
		bool vb = vmcall_at(cs, insn, sec, len, addr, b, t);
		bool is = va == vb ? va : vmcall_at(cs, insn, sec, len, addr, 0, t);
		if (is) {
			memcpy(p, INT1F_NOP, 3);
			n++;
		}
	}
	return n;
}

unsigned vmcall_rewrite_elf(uint8_t *elf, size_t len)
{
	if (len < sizeof(Elf32_Ehdr) || memcmp(elf, ELFMAG, SELFMAG) != 0 ||
	    elf[EI_CLASS] != ELFCLASS32)
		return 0;
	csh cs;
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &cs) != CS_ERR_OK)
		return 0;
	cs_insn *insn = cs_malloc(cs);
	unsigned n = 0;
	uint32_t shoff = le32_get(elf + offsetof(Elf32_Ehdr, e_shoff));
	unsigned shnum = le16_get(elf + offsetof(Elf32_Ehdr, e_shnum));
	unsigned shentsize = le16_get(elf + offsetof(Elf32_Ehdr, e_shentsize));
	bool by_section = shoff && shnum && shentsize == sizeof(Elf32_Shdr) &&
			  (uint64_t)shoff + (uint64_t)shnum * sizeof(Elf32_Shdr) <= len;
	if (by_section) {
		/* Executable sections: .text, .init.text, .sched.text, ... */
		for (unsigned i = 0; i < shnum && insn; i++) {
			const uint8_t *sh = elf + shoff + (size_t)i * sizeof(Elf32_Shdr);
			uint32_t type = le32_get(sh + offsetof(Elf32_Shdr, sh_type));
			uint32_t flags = le32_get(sh + offsetof(Elf32_Shdr, sh_flags));
			uint32_t off = le32_get(sh + offsetof(Elf32_Shdr, sh_offset));
			uint32_t size = le32_get(sh + offsetof(Elf32_Shdr, sh_size));
			uint32_t addr = le32_get(sh + offsetof(Elf32_Shdr, sh_addr));
			if (type != SHT_PROGBITS || !(flags & SHF_EXECINSTR) || off > len ||
			    size > len - off)
				continue;
			n += sweep(cs, insn, elf, off, size, addr);
		}
	} else {
		/* No section table: every executable segment. */
		unsigned phnum = elf32_phnum(elf);
		for (unsigned i = 0; i < phnum && insn; i++) {
			struct elf32_seg s;
			if (!elf32_phdr(elf, len, i, &s))
				break;
			if (s.type != PT_LOAD || !(s.flags & PF_X) || s.off > len ||
			    s.filesz > len - s.off)
				continue;
			n += sweep(cs, insn, elf, s.off, s.filesz, s.vaddr);
		}
	}
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	return n;
}

/* #UD at ring 1 in a vmcall-era guest: a `vmcall` (or the `vmmcall` KVM may
 * have made of it) that the sweep missed.  Rewrite it in guest memory and let
 * the guest run it again, now as a hypercall.  False if it is an ordinary
 * #UD, for the guest's own handler. */
bool lg_fix_vmcall(struct vm *vm, struct mon_frame *f)
{
	struct lguest *lg = &vm->lg;
	uint8_t insn[3];

	if (!lg->abi->vmcall || (f->cs & 3) != 1 ||
	    !mmu_read(&vm->mem, lg->pgdir, lg->pae, f->eip, insn, sizeof(insn)) ||
	    (memcmp(insn, VMCALL, 3) != 0 && memcmp(insn, VMMCALL, 3) != 0))
		return false;
	/* Byte by byte: the three may straddle a page boundary, and kernel
	 * text is mapped read-only, so go by physical address. */
	for (unsigned i = 0; i < 3; i++) {
		uint32_t gpa;
		if (mmu_translate(&vm->mem, lg->pgdir, lg->pae, f->eip + i, false, &gpa) !=
			    MMU_OK ||
		    !gm_write(&vm->mem, gpa, &INT1F_NOP[i], 1))
			return false;
	}
	lg->stats_vmcall_fixups++;
	LOG_DEBUG(vm, "rewrote a vmcall at %#x to int $0x1f", f->eip);
	return true;
}
