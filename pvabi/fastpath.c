/* What the monitor may finish inside the VM for this guest (docs/DESIGN.md
 * §2.9), decided once at LGUEST_INIT from the generation table, the same
 * table the VMM's dispatcher (pvabi/hcall.c) obeys: a call the generation
 * lacks is never handed to the monitor, so it still exits and is killed as a
 * "Bad hypercall" by the VMM.  The monitor's rules for the calls it does take
 * are pvabi/tlb_rules.h's, shared with pvabi/pgtable.c. */
#include <string.h>

#include "pvabi/internal.h"
#include "src/vm.h"

/* enum abi_reg and enum mon_reg name the same registers in the same order:
 * the monitor's side is spelled without pvabi's headers. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(REG_NONE, MON_REG_NONE) && SAME(REG_EAX, MON_REG_EAX) &&
		       SAME(REG_EBX, MON_REG_EBX) && SAME(REG_ECX, MON_REG_ECX) &&
		       SAME(REG_EDX, MON_REG_EDX) && SAME(REG_ESI, MON_REG_ESI),
	       "enum abi_reg and enum mon_reg must agree");

static uint8_t action(const struct lguest *lg, unsigned nr)
{
	const struct lguest_abi *abi = lg->abi;
	uint32_t valid = abi->hcalls | (lg->pae ? abi->hcalls_pae : 0);
	if (!(valid & (1u << nr)))
		return MON_ACT_VMM;
	switch (nr) {
	case LHCALL_FLUSH_ASYNC:
		return MON_ACT_NOP;
	case LHCALL_FLUSH_TLB:
		return MON_ACT_FLUSH_TLB;
	case LHCALL_SET_PTE:
		return MON_ACT_SET_PTE;
	case LHCALL_SET_PMD:
		return lg->pae ? MON_ACT_SET_PGD_PAE : MON_ACT_SET_PMD;
	case LHCALL_SET_STACK:
		return MON_ACT_SET_STACK;
	case LHCALL_LOAD_TLS:
		return MON_ACT_LOAD_TLS;
	case LHCALL_SET_PMD_PAE: /* SEND_DMA in 2.6.23, which has no PAE */
		return lg->pae && abi->transport != TRANSPORT_DMA ? MON_ACT_SET_PMD_PAE
								  : MON_ACT_VMM;
	}
	return MON_ACT_VMM;
}

static uint8_t offset8(unsigned off)
{
	return off == LD_NONE ? MON_LD_NONE : (uint8_t)off;
}

void lg_fastpath_enable(struct vm *vm)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;
	struct monitor *m = &vm->kvm.mon;
	struct mon_config c;

	if (vm->opt.no_fast_path)
		return; /* every event exits, as before the monitor ran code */
	memset(&c, 0, sizeof(c));
	for (unsigned nr = 0; nr < 32; nr++)
		c.action[nr] = action(lg, nr);
	for (int j = 0; j < 4; j++)
		c.arg_reg[j] = (uint8_t)abi->arg_reg[j];
	c.kernel_address = lg->kernel_address;
	c.pae = lg->pae;
	/* LOAD_TLS: the VMM reads anywhere the guest may name. */
	c.ram_size = (uint32_t)vm->mem.limit;
	c.ld_off = monitor_map_ld(m, lg->lguest_data, abi->ld_size);
	c.ld_mapped = 1;
	c.ring_status_off = (uint16_t)abi->ring_status_off;
	c.ring_slots_off = (uint16_t)abi->ring_slots_off;
	c.ring_slot_size = (uint16_t)abi->ring_slot_size;
	c.ring_entries = (uint16_t)abi->ring_entries;
	c.ld_blocked = (uint16_t)abi->ld_blocked;
	c.ld_irq_enabled = (uint16_t)abi->ld_irq_enabled;
	c.noirq_start = lg->noirq_start;
	c.noirq_end = lg->noirq_end;
	c.ld_irq_pending =
		abi->ld_irq_pending == LD_NONE ? MON_LD_ABSENT : (uint16_t)abi->ld_irq_pending;
	c.slot_nr_off = offset8(abi->slot_nr_off);
	for (int j = 0; j < 4; j++)
		c.slot_arg_off[j] = offset8(abi->slot_arg_off[j]);
	monitor_configure(m, &c);
}
