/* Segments and gates: the guest may describe its GDT, TLS slots and IDT, but
 * the tables the CPU uses are ours (in the monitor), so every entry passes
 * through the rules below on its way in (docs/abi.md §5.2, 6.3 - 6.5). */
#include <string.h>

#include "pvabi/desc_rules.h"
#include "pvabi/internal.h"
#include "pvabi/irq_rules.h"
#include "pvabi/mmu.h"
#include "src/le.h"
#include "src/vm.h"

/* The GDT the CPU uses, in the monitor, is the only copy: the monitor's fast
 * path writes TLS slots there too, so a copy of ours would go stale.  The
 * fix-ups are pvabi/desc_rules.h's, shared with the monitor.  The guest can
 * reach that page by building its own mapping of it (docs/DESIGN.md §3.2),
 * so what we read back is believed only as far as memory accesses through
 * the guest-memory accessor believe anything. */
static uint64_t gdt_get(struct vm *vm, unsigned i)
{
	return le64_get(vm->kvm.mon.host + MON_GDT_OFF + i * 8);
}

static void gdt_put(struct vm *vm, unsigned i, uint64_t d)
{
	if (!desc_host_slot(i))
		monitor_set_gdt(&vm->kvm.mon, i, desc_fixup(d));
}

void lg_load_gdt(struct vm *vm, uint32_t gpa, uint32_t count)
{
	/* The reference host copies even after deciding to kill; we don't. */
	if (count > LG_GDT_ENTRIES) {
		guest_kill(vm, "too many gdt entries %u", count);
		return;
	}
	uint64_t tmp[LG_GDT_ENTRIES];
	if (!gm_read(&vm->mem, gpa, tmp, count * 8u)) {
		guest_kill(vm, "bad read address %#x len %u (LOAD_GDT)", gpa, count * 8u);
		return;
	}
	/* Entries past `count` keep what they held (TLS included), fixed up
	 * again as the reference does: desc_fixup is idempotent. */
	for (unsigned i = 0; i < LG_GDT_ENTRIES; i++)
		gdt_put(vm, i, i < count ? tmp[i] : gdt_get(vm, i));
}

/* LHCALL_LOAD_GDT_ENTRY (2.6.30+): one descriptor at a time, because the
 * guest's GDT may sit at a non-linear address (a per-cpu area) that a physical
 * LOAD_GDT could not name.  The host's own slots stay the host's. */
void lg_load_gdt_entry(struct vm *vm, uint32_t idx, uint32_t lo, uint32_t hi)
{
	if (idx >= LG_GDT_ENTRIES) {
		guest_kill(vm, "too many gdt entries %u", idx);
		return;
	}
	gdt_put(vm, idx, (uint64_t)hi << 32 | lo);
}

void lg_load_tls(struct vm *vm, uint32_t gpa)
{
	uint64_t tls[DESC_TLS_COUNT];
	if (!gm_read(&vm->mem, gpa, tls, sizeof(tls))) {
		guest_kill(vm, "bad read address %#x len 24 (LOAD_TLS)", gpa);
		return;
	}
	for (unsigned i = 0; i < DESC_TLS_COUNT; i++)
		gdt_put(vm, DESC_TLS_FIRST + i, tls[i]);
}

bool lg_seg_base(struct vm *vm, uint32_t sel, uint32_t *base)
{
	unsigned i = (sel & 0xFFFF) >> 3;
	if ((sel & 4) || i >= LG_GDT_ENTRIES)
		return false;
	*base = desc_base(gdt_get(vm, i));
	return true;
}

_Static_assert(DESC_IRQS == LG_IRQS && DESC_IDT_ENTRIES == LG_IDT_ENTRIES &&
		       DESC_GDT_ENTRIES == LG_GDT_ENTRIES,
	       "pvabi/desc_rules.h and pvabi/lguest.h agree");

/* The guest's gates live in the monitor (MON_GATES_OFF), the only copy: the
 * monitor's fast path files LOAD_IDT_ENTRY too.  Read back like the GDT. */
struct lg_gate lg_gate_get(struct vm *vm, unsigned vec)
{
	const uint8_t *p = vm->kvm.mon.host + MON_GATES_OFF + (vec & 0xFF) * 8;
	return (struct lg_gate){le32_get(p), le32_get(p + 4)};
}

/* LHCALL_LOAD_IDT_ENTRY: the rules are pvabi/desc_rules.h's (the monitor
 * applies them too); the real IDT entry follows the guest's gate. */
void lg_load_idt_entry(struct vm *vm, uint32_t vec, uint32_t lo, uint32_t hi)
{
	uint32_t glo, ghi;
	switch (idt_guest_gate(vec, lo, hi, &glo, &ghi)) {
	case IDT_IGNORE:
		return;
	case IDT_BAD_VECTOR:
		guest_kill(vm, "bad idt entry %u", vec);
		return;
	case IDT_BAD_TYPE:
		guest_kill(vm, "bad idt entry %u type %#x", vec, (hi >> 8) & 0xF);
		return;
	case IDT_SET:
		break;
	}
	uint8_t *p = vm->kvm.mon.host + MON_GATES_OFF + vec * 8;
	le32_put(p, glo);
	le32_put(p + 4, ghi);
	monitor_set_idt(&vm->kvm.mon, vec, idt_real_entry(vec, glo, ghi, vm->lg.abi->vmcall));
}

void lg_set_stack(struct vm *vm, uint32_t ss, uint32_t esp, uint32_t pages)
{
	if (!stack_args_ok(ss, pages)) {
		if ((ss & 3) != 1)
			guest_kill(vm, "bad stack segment %#x", ss);
		else
			guest_kill(vm, "bad stack pages %u", pages);
		return;
	}
	/* A direct trap from ring 3 lands on this stack with no chance for us
	 * to intervene: make sure it is really there and writable now. */
	for (uint32_t i = 0; i < (pages ? pages : 1); i++) {
		uint32_t gpa;
		if (mmu_translate(&vm->mem, vm->lg.pgdir, vm->lg.pae, esp - 1 - i * 4096, true,
				  &gpa) != MMU_OK) {
			guest_kill(vm, "bad stack page %#x", esp - 1 - i * 4096);
			return;
		}
	}
	/* The TSS is the only copy (the monitor's fast path writes it too). */
	monitor_set_stack1(&vm->kvm.mon, ss & 0xFFFF, esp);
}
