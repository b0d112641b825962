/* MMIO instructions KVM could not fetch (docs/DESIGN.md §7.3, §8.2).
 *
 * A 4.x guest drives its devices with plain `mov`s to an ioremapped BAR.  The
 * BAR has no memslot, so the access stops the vCPU and KVM decodes the
 * instruction -- normally.  On an AMD host without decode assists (our nested
 * test host, and AMD CPUs before family 10h) KVM must first fetch the
 * instruction itself, walking the guest's page tables in software, and for a
 * PAE guest that walk fails: the directory-pointer entries carry the accessed
 * bit, which is reserved in legacy PAE and which the (emulated) CPU's own
 * walk sets anyway.  KVM then injects a not-present #PF at the instruction,
 * the monitor hands it to us, and the guest would die of a fault it never
 * made ("unable to handle kernel paging request" at its own EIP).
 *
 * So a #PF whose address is the faulting EIP gets one more look here: if the
 * instruction is a `mov` (or `movzx`/`movsx`) between a register or an
 * immediate and memory that lies in a device's BAR, we do what the 4.x
 * Launcher did for every MMIO access -- decode it (Capstone, not a decoder of
 * our own), perform the access through the same vbus_mmio() KVM_EXIT_MMIO
 * uses, write the result and step over it.  Anything else is the guest's own
 * fault and is reflected as before. */
#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/internal.h"
#include "pvabi/mmu.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/bus.h"

/* Where register `reg` lives while the guest is in the monitor, and which
 * bytes of it are the operand: (shift, size) within the 32-bit register. */
struct gpr {
	uint32_t *p;
	unsigned shift, size;
};

static bool gpr(struct guest_regs *r, struct mon_frame *f, x86_reg reg, struct gpr *g)
{
	static const struct {
		x86_reg reg;
		unsigned n, shift, size;
	} map[] = {
		{X86_REG_EAX, 0, 0, 4}, {X86_REG_ECX, 1, 0, 4}, {X86_REG_EDX, 2, 0, 4},
		{X86_REG_EBX, 3, 0, 4}, {X86_REG_ESP, 4, 0, 4}, {X86_REG_EBP, 5, 0, 4},
		{X86_REG_ESI, 6, 0, 4}, {X86_REG_EDI, 7, 0, 4}, {X86_REG_AX, 0, 0, 2},
		{X86_REG_CX, 1, 0, 2},	{X86_REG_DX, 2, 0, 2},	{X86_REG_BX, 3, 0, 2},
		{X86_REG_BP, 5, 0, 2},	{X86_REG_SI, 6, 0, 2},	{X86_REG_DI, 7, 0, 2},
		{X86_REG_AL, 0, 0, 1},	{X86_REG_CL, 1, 0, 1},	{X86_REG_DL, 2, 0, 1},
		{X86_REG_BL, 3, 0, 1},	{X86_REG_AH, 0, 8, 1},	{X86_REG_CH, 1, 8, 1},
		{X86_REG_DH, 2, 8, 1},	{X86_REG_BH, 3, 8, 1},
	};
	uint32_t *regs[8] = {&f->eax, &r->ecx, &r->edx, &r->ebx,
			     &f->esp, &r->ebp, &r->esi, &r->edi};
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].reg == reg) {
			*g = (struct gpr){regs[map[i].n], map[i].shift, map[i].size};
			return true;
		}
	return false;
}

static uint32_t gpr_get(const struct gpr *g)
{
	uint32_t mask = g->size == 4 ? 0xFFFFFFFFu : (1u << (8 * g->size)) - 1;
	return (*g->p >> g->shift) & mask;
}

static void gpr_set(struct gpr *g, uint32_t v)
{
	uint32_t mask = g->size == 4 ? 0xFFFFFFFFu : (1u << (8 * g->size)) - 1;
	*g->p = (*g->p & ~(mask << g->shift)) | ((v & mask) << g->shift);
}

/* The flat linear address of a memory operand.  The guest kernel's data
 * segments start at 0; an fs/gs override (per-CPU data) never points at a
 * BAR, and is refused rather than guessed at. */
static bool effective_address(struct guest_regs *r, struct mon_frame *f, const x86_op_mem *m,
			      uint32_t *ea)
{
	struct gpr g;
	uint32_t a = (uint32_t)m->disp;
	if (m->segment != X86_REG_INVALID && m->segment != X86_REG_DS && m->segment != X86_REG_ES &&
	    m->segment != X86_REG_SS)
		return false;
	if (m->base != X86_REG_INVALID) {
		if (!gpr(r, f, m->base, &g) || g.size != 4)
			return false;
		a += gpr_get(&g);
	}
	if (m->index != X86_REG_INVALID) {
		if (!gpr(r, f, m->index, &g) || g.size != 4)
			return false;
		a += gpr_get(&g) * (uint32_t)m->scale;
	}
	*ea = a;
	return true;
}

/* Decode and perform one instruction at f->eip; false if it is not an MMIO
 * move we can do (nothing has changed then). */
static bool emulate(struct vm *vm, struct guest_regs *r, struct mon_frame *f, csh cs, cs_insn *insn)
{
	struct lguest *lg = &vm->lg;
	uint8_t code[15];
	uint32_t n = sizeof(code);
	/* The instruction may end on the next page: take what is mapped. */
	while (n && !mmu_read(&vm->mem, lg->pgdir, lg->pae, f->eip, code, n))
		n--;
	const uint8_t *p = code;
	size_t left = n;
	uint64_t addr = f->eip;
	if (!n || !cs_disasm_iter(cs, &p, &left, &addr, insn))
		return false;
	if (insn->id != X86_INS_MOV && insn->id != X86_INS_MOVZX && insn->id != X86_INS_MOVSX)
		return false;
	cs_x86 *x = &insn->detail->x86;
	if (x->op_count != 2 || x->prefix[0] /* rep, lock */)
		return false;
	bool write = x->operands[0].type == X86_OP_MEM;
	const cs_x86_op *mem = &x->operands[write ? 0 : 1], *other = &x->operands[write ? 1 : 0];
	if (mem->type != X86_OP_MEM || (mem->size != 1 && mem->size != 2 && mem->size != 4))
		return false;
	if (insn->id != X86_INS_MOV && write)
		return false;
	uint32_t ea, gpa;
	if (!effective_address(r, f, &mem->mem, &ea) ||
	    mmu_translate_io(&vm->mem, lg->pgdir, lg->pae, ea, write, &gpa) != MMU_OK ||
	    (ea & 0xFFFu) + mem->size > 0x1000u)
		return false;

	uint8_t data[4] = {0};
	struct gpr g;
	if (write) {
		uint32_t v;
		if (other->type == X86_OP_IMM)
			v = (uint32_t)other->imm;
		else if (other->type == X86_OP_REG && gpr(r, f, other->reg, &g))
			v = gpr_get(&g);
		else
			return false;
		for (unsigned i = 0; i < mem->size; i++)
			data[i] = (uint8_t)(v >> (8 * i));
		if (!vbus_mmio(vm, gpa, data, mem->size, true))
			return false;
	} else {
		if (other->type != X86_OP_REG || !gpr(r, f, other->reg, &g) ||
		    !vbus_mmio(vm, gpa, data, mem->size, false))
			return false;
		uint32_t v = 0;
		for (unsigned i = 0; i < mem->size; i++)
			v |= (uint32_t)data[i] << (8 * i);
		if (insn->id == X86_INS_MOVSX && mem->size < 4 && (v >> (8 * mem->size - 1)) & 1)
			v |= ~0u << (8 * mem->size);
		gpr_set(&g, v);
		r->dirty = true;
	}
	f->eip += insn->size;
	return true;
}

/* Capstone allocates, and the sandboxed vCPU thread may not grow its heap:
 * the decoder is made before the sandbox and kept. */
struct lg_decoder {
	csh cs;
	cs_insn *insn;
};

bool lg_decoder_open(struct vm *vm)
{
	struct lg_decoder *d = calloc(1, sizeof(*d));
	if (!d || cs_open(CS_ARCH_X86, CS_MODE_32, &d->cs) != CS_ERR_OK) {
		free(d);
		return false;
	}
	cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON);
	d->insn = cs_malloc(d->cs);
	if (!d->insn) {
		cs_close(&d->cs);
		free(d);
		return false;
	}
	/* Capstone builds some tables on its first instruction (and sorts
	 * them, which asks the kernel for sysinfo): have that happen here. */
	static const uint8_t warm[] = {0x88, 0x02, 0x66, 0x8B, 0x02, 0x0F, 0xB6, 0x02};
	const uint8_t *p = warm;
	size_t left = sizeof(warm);
	uint64_t addr = 0;
	while (cs_disasm_iter(d->cs, &p, &left, &addr, d->insn))
		;
	vm->lg.decoder = d;
	return true;
}

void lg_decoder_close(struct vm *vm)
{
	struct lg_decoder *d = vm->lg.decoder;
	if (!d)
		return;
	cs_free(d->insn, 1);
	cs_close(&d->cs);
	free(d);
	vm->lg.decoder = NULL;
}

bool lg_emulate_mmio(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	struct lguest *lg = &vm->lg;
	struct lg_decoder *d = lg->decoder;
	uint32_t gpa;
	/* Only the fault KVM makes up: at the instruction itself, on a page
	 * the guest's own tables map. */
	if (!d || f->cr2 != f->eip ||
	    mmu_translate(&vm->mem, lg->pgdir, lg->pae, f->eip, false, &gpa) != MMU_OK ||
	    !emulate(vm, r, f, d->cs, d->insn))
		return false;
	lg->mmio_emulated++;
	return true;
}
