/* What the monitor may finish inside the VM for this guest (docs/DESIGN.md
 * §2.9), decided once at LGUEST_INIT from the generation table, the same
 * table the VMM's dispatcher (pvabi/hcall.c) obeys: a call the generation
 * lacks is never handed to the monitor, so it still exits and is killed as a
 * "Bad hypercall" by the VMM.  The monitor's rules for the calls it does take
 * are pvabi/tlb_rules.h's, shared with pvabi/pgtable.c. */
#include <string.h>

#include "pvabi/internal.h"
#include "src/vm.h"
#include "virtio/pci.h"
#include "virtio/transport.h"
#include "virtio/virtio_pci.h"

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
	case LHCALL_SEND_INTERRUPTS: /* what it asks for follows every call */
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
	case LHCALL_LOAD_IDT_ENTRY:
		return MON_ACT_LOAD_IDT;
	case LHCALL_LOAD_GDT_ENTRY:
		return MON_ACT_LOAD_GDT_ENTRY;
	case LHCALL_NEW_PGTABLE:
		return MON_ACT_NEW_PGTABLE;
	case LHCALL_TS:
		return MON_ACT_TS;
	case LHCALL_SET_PMD_PAE: /* SEND_DMA in 2.6.23, which has no PAE */
		return lg->pae && abi->transport != TRANSPORT_DMA ? MON_ACT_SET_PMD_PAE
								  : MON_ACT_VMM;
	}
	return MON_ACT_VMM;
}

/* NOTIFY inside the VM (G1-G7): the rings KVM rings an eventfd for at
 * MON_NOTIFY_PORT (virtio/lguest_bus.c registered them before the sandbox
 * closed); every other NOTIFY exits as before. */
static void notify_doorbells(struct vm *vm, struct mon_config *c)
{
	struct vbus *bus = &vm->bus;
	for (unsigned i = 0; i < bus->ndoorbells && c->notify_n < MON_NOTIFY_MAX; i++)
		c->notify_pfn[c->notify_n++] = bus->doorbell_pfn[i];
	uint32_t valid = vm->lg.abi->hcalls | (vm->lg.pae ? vm->lg.abi->hcalls_pae : 0);
	if (c->notify_n && (valid & (1u << LHCALL_NOTIFY)))
		c->action[LHCALL_NOTIFY] = MON_ACT_NOTIFY;
}

/* The clock event and HALT inside the VM (kvm-glue/monitor/clock.c): on the
 * in-kernel LAPIC, with the TSC's rate to keep the deadlines and the guest's
 * TSC readable here to anchor lguest_data.time. */
static void clock_in_vm(struct vm *vm, struct mon_config *c)
{
	struct lguest *lg = &vm->lg;
	uint64_t khz = vm->kvm.tsc_khz;
	uint32_t valid = lg->abi->hcalls | (lg->pae ? lg->abi->hcalls_pae : 0);
	if (!vm->kvm.irqchip || !khz || !vm->kvm.tsc_offset_ok ||
	    !(valid & (1u << LHCALL_SET_CLOCKEVENT)) || !(valid & (1u << LHCALL_HALT)))
		return;
	uint64_t per_ns = (khz << 32) / 1000000u, ns_per = (1000000ull << 32) / khz;
	c->tsc_per_ns[0] = (uint32_t)per_ns;
	c->tsc_per_ns[1] = (uint32_t)(per_ns >> 32);
	c->ns_per_tsc[0] = (uint32_t)ns_per;
	c->ns_per_tsc[1] = (uint32_t)(ns_per >> 32);
	c->ld_time = (uint16_t)lg->abi->ld_time;
	c->apic_clock = 1;
	c->action[LHCALL_SET_CLOCKEVENT] = MON_ACT_CLOCK;
	c->action[LHCALL_HALT] = MON_ACT_HALT;
	lg->clock_in_vm = true;
	lg->clock_deadline_ns = 0;
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
	c.vmcall = abi->vmcall;
	c.deliver = 1;
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
	/* Port writes: skipped where nothing listens; on the 4.x platform
	 * the early console's are logged (kvm-glue/monitor/fast.c). */
	unsigned slot, window;
	uint32_t emerg;
	c.pio_mode = MON_PIO_DROP;
	if (vm->bus.tp == &virtio_pci) {
		c.pio_mode = MON_PIO_EXIT;
		c.pci_present = vpci_present_slots(vm);
		if (vpci_console_window(vm, &slot, &window, &emerg)) {
			c.pio_mode = MON_PIO_PCI;
			c.con_slot = (uint8_t)slot;
			c.con_window = (uint8_t)window;
			c.con_emerg_off = emerg;
			lg->fast_pci = true;
		}
	}
	/* Page faults and `int n`: reflected in the VM, but for the fetch
	 * faults KVM makes up on the 4.x platform's MMIO, which pvabi/mmio.c
	 * may emulate. */
	c.reflect_traps = 1;
	c.pf_fetch_exits = vm->bus.tp == &virtio_pci;
	c.ld_cr2 = (uint16_t)abi->ld_cr2;
	notify_doorbells(vm, &c);
	clock_in_vm(vm, &c);
	monitor_configure(m, &c);
	lg_fastpath_publish(vm);
}

/* First thing on every exit: the port writes the monitor logged since the
 * last one happen now, in order, before anything else can look at the
 * state they change.  The log is in a page the guest can write, so each
 * entry is checked as the monitor would have: a PCI port, a real width. */
void lg_fastpath_drain(struct vm *vm)
{
	if (!vm->kvm.mon.host)
		return;
	/* The monitor may have switched directories (NEW_PGTABLE) or the
	 * virtual TS on its own: the words it loads CR3 and CR0 from are the
	 * state, and our copies follow them.  The guest can write them too;
	 * all it gains is page walks of a directory it chose, through the
	 * bounded accessor, and #NMs of its own. */
	const struct mon_shared *sh = monitor_shared(&vm->kvm.mon);
	if (vm->lg.initialized) {
		vm->lg.pgdir = sh->cr3_want;
		vm->lg.ts = (sh->cr0_want & CR0_TS) != 0;
	}
	struct mon_pio_log *log = monitor_pio_log(&vm->kvm.mon);
	uint32_t n = log->count;
	if (!n)
		return;
	log->count = 0;
	if (n > MON_PIO_MAX) {
		guest_kill(vm, "corrupt port-write log in the monitor (%u entries)", n);
		return;
	}
	for (uint32_t i = 0; i < n && !vm->dead; i++) {
		uint32_t port = log->e[i].port, size = log->e[i].size, val = log->e[i].val;
		if (!pci_is_port((uint16_t)port) || !(size == 1 || size == 2 || size == 4)) {
			guest_kill(vm,
				   "corrupt port-write log in the monitor (entry %u: port %#x, %u "
				   "bytes)",
				   i, port, size);
			return;
		}
		vbus_pio(vm, (uint16_t)port, size, true, &val);
	}
	vm->lg.stats_pio_replayed += n;
}

/* Last thing before every entry: what the monitor needs to judge the next
 * port writes, as the VMM's model has it now. */
void lg_fastpath_publish(struct vm *vm)
{
	if (!vm->lg.fast_pci)
		return;
	struct mon_shared *sh = monitor_shared(&vm->kvm.mon);
	uint32_t latch;
	uint8_t cap[12];
	vpci_console_cap(vm, &latch, cap);
	sh->pci_latch = latch;
	memcpy(sh->con_cap, cap, sizeof(cap));
}
