/* Hypercalls (docs/abi.md §3): the guest's only way to ask for anything.
 *
 * Policy, as in the reference host: no hypercall returns an error.  A valid
 * request takes effect before the guest runs again; an invalid one kills the
 * guest with a reason. */
#include <stdio.h>
#include <string.h>

#include "pvabi/internal.h"
#include "pvabi/mmu.h"
#include "src/log.h"
#include "src/vm.h"

void lg_set_clockevent(struct vm *vm, uint32_t delta_ns);

bool ld_read32(struct vm *vm, unsigned off, uint32_t *val)
{
	if (gm_read32(&vm->mem, (uint64_t)vm->lg.lguest_data + off, val))
		return true;
	guest_kill(vm, "bad read address %#x (lguest_data)", vm->lg.lguest_data + off);
	return false;
}

bool ld_write32(struct vm *vm, unsigned off, uint32_t val)
{
	if (gm_write32(&vm->mem, (uint64_t)vm->lg.lguest_data + off, val))
		return true;
	guest_kill(vm, "bad write address %#x (lguest_data)", vm->lg.lguest_data + off);
	return false;
}

void lg_init(struct vm *vm, uint32_t boot_pgdir, const struct lguest_abi *abi)
{
	struct lguest *lg = &vm->lg;
	memset(lg, 0, sizeof(*lg));
	lg->abi = abi;
	lg->boot_pgdir = lg->pgdir = boot_pgdir;
}

const char *lg_hcall_name(const struct lguest_abi *abi, uint32_t nr)
{
	static const char *names[] = {
		[LHCALL_FLUSH_ASYNC] = "FLUSH_ASYNC",
		[LHCALL_LGUEST_INIT] = "LGUEST_INIT",
		[LHCALL_CRASH] = "CRASH",
		[LHCALL_LOAD_GDT] = "LOAD_GDT",
		[LHCALL_NEW_PGTABLE] = "NEW_PGTABLE",
		[LHCALL_FLUSH_TLB] = "FLUSH_TLB",
		[LHCALL_LOAD_IDT_ENTRY] = "LOAD_IDT_ENTRY",
		[LHCALL_SET_STACK] = "SET_STACK",
		[LHCALL_TS] = "TS",
		[LHCALL_SET_CLOCKEVENT] = "SET_CLOCKEVENT",
		[LHCALL_HALT] = "HALT",
		[LHCALL_BIND_DMA] = "BIND_DMA",
		[LHCALL_SET_PMD_PAE] = "SET_PMD",
		[LHCALL_SET_PTE] = "SET_PTE",
		[LHCALL_SET_PMD] = "SET_PMD/SET_PGD",
		[LHCALL_LOAD_TLS] = "LOAD_TLS",
		[LHCALL_NOTIFY] = "NOTIFY",
		[LHCALL_LOAD_GDT_ENTRY] = "LOAD_GDT_ENTRY",
		[LHCALL_SEND_INTERRUPTS] = "SEND_INTERRUPTS",
	};
	if (nr == LHCALL_CRASH && abi->shutdown)
		return "SHUTDOWN";
	if (nr == LHCALL_SEND_DMA && abi->transport == TRANSPORT_DMA)
		return "SEND_DMA";
	if (nr < sizeof(names) / sizeof(names[0]) && names[nr])
		return names[nr];
	return "?";
}

/* Which lguest_data layout the page at `gpa` carries, judged by its static
 * initializer, still intact because LGUEST_INIT is the first thing
 * lguest_entry does (docs/abi.md §H3.2): every ring status byte 0xFF and
 * syscall_vec 0x80 where the layout keeps them, irq_pending 0 where there is
 * one.  NULL if it looks like none of the served layouts. */
static const char *layout_seen(struct vm *vm, uint32_t gpa)
{
	static const enum lg_gen probe[] = {GEN_G1, GEN_G5, GEN_G7};
	for (unsigned i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		const struct lguest_abi *a = abi_get(probe[i]);
		uint8_t status[64];
		uint32_t vec, pending = 0;
		if (!gm_read(&vm->mem, (uint64_t)gpa + a->ring_status_off, status,
			     sizeof(status)) ||
		    !gm_read32(&vm->mem, (uint64_t)gpa + a->ld_syscall_vec, &vec))
			continue;
		if (a->ld_irq_pending != LD_NONE &&
		    !gm_read32(&vm->mem, (uint64_t)gpa + a->ld_irq_pending, &pending))
			continue;
		bool free = true;
		for (unsigned j = 0; j < sizeof(status); j++)
			free = free && status[j] == 0xFF;
		if (free && vec == 0x80 && pending == 0)
			return a->layout;
	}
	return NULL;
}

/* LHCALL_LGUEST_INIT (docs/abi.md §3.3): the guest names its lguest_data.
 * The image told us the generation; the page must agree, or we would read
 * and write the wrong offsets for the rest of the guest's life. */
static void initialize(struct vm *vm, const struct guest_regs *r, uint32_t gpa)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;

	/* Before 2.6.30 the address travels in EDX, after in EBX: a guest of
	 * the other era leaves ours empty, and its page in the other one. */
	const char *seen = layout_seen(vm, gpa);
	uint32_t other = abi->arg_reg[0] == REG_EDX ? r->ebx : r->edx;
	const char *seen_other = seen ? NULL : layout_seen(vm, other);
	/* L0 (2.6.23) shares everything the probe looks at with L1 except
	 * syscall_vec, which it lacks: "L1" is what an L0 page may look like. */
	if (seen && abi->gen == GEN_G0 && strcmp(seen, "L1") == 0)
		seen = abi->layout;
	if ((seen && strcmp(seen, abi->layout) != 0) || seen_other) {
		guest_kill(vm,
			   "the image was taken for generation %s (%s, lguest_data layout %s) "
			   "but the lguest_data at %#x has layout %s; try --abi",
			   abi->name, abi->kernels, abi->layout, seen ? gpa : other,
			   seen ? seen : seen_other);
		return;
	}
	if (!gm_ptr(&vm->mem, gpa, abi->ld_size)) {
		guest_kill(vm, "bad guest page %#x", gpa);
		return;
	}
	lg->lguest_data = gpa;
	/* L0 has no syscall_vec (0x80 was fixed) and no kernel_address (the
	 * image told us PAGE_OFFSET before boot, pvabi/boot_g0.c). */
	uint32_t syscall_vec = 0x80, kaddr = lg->kernel_address;
	if (!ld_write32(vm, abi->ld_tsc_khz, vm->kvm.tsc_khz) ||
	    (abi->ld_syscall_vec != LD_NONE && !ld_read32(vm, abi->ld_syscall_vec, &syscall_vec)))
		return;
	if (syscall_vec != 0x80) {
		guest_kill(vm, "bad syscall vector %#x", syscall_vec);
		return;
	}
	if (!ld_read32(vm, abi->ld_noirq_start, &lg->noirq_start) ||
	    (abi->ld_kernel_address != LD_NONE && !ld_read32(vm, abi->ld_kernel_address, &kaddr)))
		return;
	/* 2.6.23's network driver makes its MAC of guestid (a u16; the two
	 * bytes after it are padding). */
	if (abi->ld_guestid != LD_NONE && !ld_write32(vm, abi->ld_guestid, vm->bus.dma.guestid))
		return;
	/* Layout L4 (4.1+) names one address, noirq_iret, where L1-L3 name a
	 * range: it is the range of that one instruction's first byte. */
	if (abi->ld_noirq_end == LD_NONE)
		lg->noirq_end = lg->noirq_start + 1;
	else if (!ld_read32(vm, abi->ld_noirq_end, &lg->noirq_end))
		return;
	lg_write_time(vm);
	if (vm->dead || !ld_write32(vm, abi->ld_reserve_mem, abi->reserve_mem))
		return;
	/* Only layouts L1 and L2 have pgdir: the same offset is noirq_start
	 * from 3.1 on. */
	if (abi->ld_pgdir != LD_NONE && !ld_write32(vm, abi->ld_pgdir, lg->boot_pgdir))
		return;
	if ((kaddr >> 22) >= 1023) {
		guest_kill(vm, "bad kernel address %#x", kaddr);
		return;
	}
	lg->kernel_address = kaddr;
	lg->initialized = true;
	lg_boot_paging_at_init(vm);
	if (!vm->dead)
		lg_fastpath_enable(vm);
}

/* Returns what goes back in EAX where a call answers (BIND_DMA only). */
static uint32_t do_hcall(struct vm *vm, uint32_t nr, const uint32_t a[4])
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;

	LOG_DEBUG(vm, "hcall %s(%#x, %#x, %#x, %#x)", lg_hcall_name(abi, nr), a[0], a[1], a[2],
		  a[3]);
	lg->stats_hcalls++;
	lg->stats_hcall_nr[nr & 31]++;
	uint32_t valid = abi->hcalls | (lg->pae ? abi->hcalls_pae : 0);
	if (nr >= 32 || !(valid & (1u << nr))) {
		guest_kill(vm, "Bad hypercall %u", nr);
		return 0;
	}
	switch (nr) {
	case LHCALL_FLUSH_ASYNC:
		break; /* the ring was drained on the way in */
	case LHCALL_LGUEST_INIT:
		guest_kill(vm, "already have lguest_data");
		break;
	case LHCALL_CRASH: /* SHUTDOWN from 2.6.25 */
		lg_shutdown(vm, a[0], a[1]);
		break;
	case LHCALL_LOAD_GDT:
		lg_load_gdt(vm, a[0], a[1]);
		break;
	case LHCALL_LOAD_GDT_ENTRY:
		lg_load_gdt_entry(vm, a[0], a[1], a[2]);
		break;
	case LHCALL_NEW_PGTABLE:
		lg_new_pgtable(vm, a[0]);
		break;
	case LHCALL_FLUSH_TLB:
		lg_flush_tlb(vm);
		break;
	case LHCALL_LOAD_IDT_ENTRY:
		lg_load_idt_entry(vm, a[0], a[1], a[2]);
		break;
	case LHCALL_SET_STACK:
		lg_set_stack(vm, a[0], a[1], a[2]);
		break;
	case LHCALL_TS:
		lg->ts = a[0] != 0;
		monitor_set_cr0(&vm->kvm.mon, LG_CR0 | (lg->ts ? CR0_TS : 0));
		break;
	case LHCALL_SET_CLOCKEVENT:
		lg_set_clockevent(vm, a[0]);
		break;
	case LHCALL_HALT:
		lg->halted = true;
		break;
	case LHCALL_SET_PTE:
		lg_set_pte(vm, a[0], a[1]);
		break;
	case LHCALL_SET_PMD: /* SET_PGD for a PAE guest */
		lg_set_pmd(vm, a[0], a[1]);
		break;
	case LHCALL_SET_PMD_PAE: /* = SEND_DMA in 2.6.23 */
		if (abi->transport == TRANSPORT_DMA)
			dma_send(vm, a[0], a[1]);
		else
			lg_set_pmd_pae(vm, a[0], a[1]);
		break;
	case LHCALL_BIND_DMA:
		return dma_bind(vm, a[0], a[1], a[2]);
	case LHCALL_LOAD_TLS:
		lg_load_tls(vm, a[0]);
		break;
	case LHCALL_NOTIFY:
		if (!vbus_notify(vm, a[0]))
			console_early(vm, a[0]);
		break;
	case LHCALL_SEND_INTERRUPTS:
		/* "I re-enabled interrupts and saw irq_pending": whatever is
		 * deliverable goes in on the way out (lg_maybe_interrupt). */
		break;
	}
	return 0;
}

/* The async ring (docs/abi.md §3.6): calls the guest queued while lazy, run in
 * order before the synchronous call that made us look.  The cursor lives in
 * the monitor's data page, because the monitor drains the ring too (it stops
 * at the first call it cannot do and exits; we go on from there).  The guest
 * can write that page, so the cursor is bounded before use. */
static void drain_async(struct vm *vm)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;
	struct mon_shared *sh = monitor_shared(&vm->kvm.mon);
	uint32_t base = lg->lguest_data;
	uint8_t *status =
		gm_ptr(&vm->mem, (uint64_t)base + abi->ring_status_off, abi->ring_entries);
	if (!status) {
		guest_kill(vm, "bad async ring address %#x", base);
		return;
	}
	for (unsigned n = 0; n < abi->ring_entries && !vm->dead; n++) {
		unsigned i = sh->async_next % abi->ring_entries;
		if (__atomic_load_n(&status[i], __ATOMIC_ACQUIRE) == 0xFF)
			break;
		sh->async_next = (i + 1) % abi->ring_entries;
		uint8_t slot[32];
		if (!gm_read(&vm->mem,
			     (uint64_t)base + abi->ring_slots_off +
				     (uint64_t)i * abi->ring_slot_size,
			     slot, abi->ring_slot_size)) {
			guest_kill(vm, "bad async hypercall slot %u", i);
			return;
		}
		uint32_t nr, a[4] = {0, 0, 0, 0};
		memcpy(&nr, slot + abi->slot_nr_off, 4);
		for (int j = 0; j < 4; j++)
			if (abi->slot_arg_off[j] != LD_NONE)
				memcpy(&a[j], slot + abi->slot_arg_off[j], 4);
		do_hcall(vm, nr, a);
		__atomic_store_n(&status[i], 0xFF, __ATOMIC_RELEASE);
	}
}

static uint32_t arg(const struct guest_regs *r, const struct mon_frame *f, enum abi_reg reg)
{
	switch (reg) {
	case REG_NONE:
		return 0;
	case REG_EAX:
		return f->eax;
	case REG_EBX:
		return r->ebx;
	case REG_ECX:
		return r->ecx;
	case REG_EDX:
		return r->edx;
	case REG_ESI:
		return r->esi;
	}
	return 0;
}

void lg_hypercall(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;
	uint32_t nr = f->eax;
	uint32_t a[4];
	for (int i = 0; i < 4; i++)
		a[i] = arg(r, f, abi->arg_reg[i]);

	if (!lg->initialized) {
		if (nr != LHCALL_LGUEST_INIT)
			guest_kill(vm, "hypercall %u before INIT", nr);
		else
			initialize(vm, r, a[0]);
		return;
	}
	drain_async(vm);
	if (vm->dead)
		return;
	uint32_t ret = do_hcall(vm, nr, a);
	/* 2.6.23's lguest_bind_dma() tests the answer; no other call has one
	 * a guest reads, so EAX is left alone for them, as before. */
	if (nr == LHCALL_BIND_DMA && !vm->dead)
		f->eax = ret;
}

void lg_handle_event(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	unsigned vec = f->vector & 0xFF;
	if (vec == 0x1F && (f->cs & 3) == 1)
		lg_hypercall(vm, r, f);
	else
		lg_handle_trap(vm, r, f);
}
