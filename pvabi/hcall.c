/* Hypercalls (ABI doc section 3): the guest's only way to ask for anything.
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

void lg_flush_tlb(struct vm *vm)
{
	monitor_load_cr3(&vm->kvm.mon, vm->lg.pgdir);
}

void lg_init(struct vm *vm, uint32_t boot_pgdir)
{
	struct lguest *lg = &vm->lg;
	memset(lg, 0, sizeof(*lg));
	lg->abi = &lguest_abi_2_6_24;
	lg->boot_pgdir = lg->pgdir = boot_pgdir;
	/* ABI doc 2.7: the boot segments the guest starts on. */
	lg->gdt[12] = 0x00CFBB000000FFFFull;
	lg->gdt[13] = 0x00CFB3000000FFFFull;
}

static const char *hcall_name(uint32_t nr)
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
		[LHCALL_SET_PTE] = "SET_PTE",
		[LHCALL_SET_PMD] = "SET_PMD",
		[LHCALL_LOAD_TLS] = "LOAD_TLS",
		[LHCALL_NOTIFY] = "NOTIFY",
	};
	if (nr < sizeof(names) / sizeof(names[0]) && names[nr])
		return names[nr];
	return "?";
}

/* LHCALL_LGUEST_INIT (ABI doc 3.3). */
static void initialize(struct vm *vm, uint32_t gpa)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;

	if (!gm_ptr(&vm->mem, gpa, abi->ld_size)) {
		guest_kill(vm, "bad guest page %#x", gpa);
		return;
	}
	lg->lguest_data = gpa;
	uint32_t syscall_vec, kaddr;
	if (!ld_write32(vm, abi->ld_tsc_khz, vm->kvm.tsc_khz) ||
	    !ld_read32(vm, abi->ld_syscall_vec, &syscall_vec))
		return;
	if (syscall_vec != 0x80) {
		guest_kill(vm, "bad syscall vector %#x", syscall_vec);
		return;
	}
	if (!ld_read32(vm, abi->ld_noirq_start, &lg->noirq_start) ||
	    !ld_read32(vm, abi->ld_noirq_end, &lg->noirq_end) ||
	    !ld_read32(vm, abi->ld_kernel_address, &kaddr))
		return;
	lg_write_time(vm);
	if (vm->dead || !ld_write32(vm, abi->ld_reserve_mem, abi->reserve_mem) ||
	    !ld_write32(vm, abi->ld_pgdir, lg->boot_pgdir))
		return;
	if ((kaddr >> 22) >= 1023) {
		guest_kill(vm, "bad kernel address %#x", kaddr);
		return;
	}
	lg->kernel_address = kaddr;
	lg->initialized = true;
}

static void new_pgtable(struct vm *vm, uint32_t pgdir)
{
	/* Every directory the guest runs on must carry the monitor in its top
	 * slot: write it now, as the reference host forced slot 1023 of its
	 * shadow.  The guest reserved that slot; it never looks. */
	if ((pgdir & 0xFFF) || !gm_write32(&vm->mem, (uint64_t)pgdir + 1023 * 4, monitor_pde())) {
		guest_kill(vm, "bad page directory %#x", pgdir);
		return;
	}
	vm->lg.pgdir = pgdir;
	lg_flush_tlb(vm);
}

static void crash(struct vm *vm, uint32_t gpa)
{
	char msg[128];
	if (!gm_read(&vm->mem, gpa, msg, sizeof(msg))) {
		guest_kill(vm, "bad read address %#x len 128 (CRASH)", gpa);
		return;
	}
	msg[127] = '\0';
	/* Printable text only: the message goes to a terminal. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F)
			*p = (*p == '\n') ? ' ' : '?';
	if (strcmp(msg, "Power down") == 0)
		vm_stop(vm, EXIT_POWEROFF, "CRASH: %s", msg);
	else
		vm_stop(vm, EXIT_GUEST_CRASH, "CRASH: %s", msg);
}

static void do_hcall(struct vm *vm, uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3)
{
	struct lguest *lg = &vm->lg;

	LOG_DEBUG(vm, "hcall %s(%#x, %#x, %#x)", hcall_name(nr), a1, a2, a3);
	lg->stats_hcalls++;
	if (nr >= 32 || !(lg->abi->hcalls & (1u << nr))) {
		guest_kill(vm, "Bad hypercall %u", nr);
		return;
	}
	switch (nr) {
	case LHCALL_FLUSH_ASYNC:
		break; /* the ring was drained on the way in */
	case LHCALL_LGUEST_INIT:
		guest_kill(vm, "already have lguest_data");
		break;
	case LHCALL_CRASH:
		crash(vm, a1);
		break;
	case LHCALL_LOAD_GDT:
		lg_load_gdt(vm, a1, a2);
		break;
	case LHCALL_NEW_PGTABLE:
		new_pgtable(vm, a1);
		break;
	case LHCALL_FLUSH_TLB:
		lg_flush_tlb(vm);
		break;
	case LHCALL_LOAD_IDT_ENTRY:
		lg_load_idt_entry(vm, a1, a2, a3);
		break;
	case LHCALL_SET_STACK:
		lg_set_stack(vm, a1, a2, a3);
		break;
	case LHCALL_TS:
		lg->ts = a1 != 0;
		monitor_set_cr0(&vm->kvm.mon, LG_CR0 | (lg->ts ? CR0_TS : 0));
		break;
	case LHCALL_SET_CLOCKEVENT:
		lg_set_clockevent(vm, a1);
		break;
	case LHCALL_HALT:
		lg->halted = true;
		break;
	case LHCALL_SET_PTE:
		/* The guest already wrote the PTE; a2 says which translation
		 * went stale.  a3 is only a hint and never written anywhere. */
		if (a2 >= MON_GVA) {
			guest_kill(vm, "attempt to access switcher pages (SET_PTE %#x)", a2);
			break;
		}
		if (a1 == lg->pgdir || a2 >= lg->kernel_address)
			lg_flush_tlb(vm);
		break;
	case LHCALL_SET_PMD:
		if (a2 < 1023 && (a1 & ~0xFFFu) == lg->pgdir)
			lg_flush_tlb(vm);
		break;
	case LHCALL_LOAD_TLS:
		lg_load_tls(vm, a1);
		break;
	case LHCALL_NOTIFY:
		if (!vbus_notify(vm, a1))
			console_early(vm, a1);
		break;
	}
}

/* The async ring (ABI doc 3.6): calls the guest queued while lazy, run in
 * order before the synchronous call that made us look. */
static void drain_async(struct vm *vm)
{
	struct lguest *lg = &vm->lg;
	const struct lguest_abi *abi = lg->abi;
	uint32_t base = lg->lguest_data;
	uint8_t *status =
		gm_ptr(&vm->mem, (uint64_t)base + abi->ring_status_off, abi->ring_entries);
	if (!status) {
		guest_kill(vm, "bad async ring address %#x", base);
		return;
	}
	for (unsigned n = 0; n < abi->ring_entries && !vm->dead; n++) {
		unsigned i = lg->async_next;
		if (__atomic_load_n(&status[i], __ATOMIC_ACQUIRE) == 0xFF)
			break;
		lg->async_next = (i + 1) % abi->ring_entries;
		uint8_t slot[32];
		if (!gm_read(&vm->mem,
			     (uint64_t)base + abi->ring_slots_off +
				     (uint64_t)i * abi->ring_slot_size,
			     slot, abi->ring_slot_size)) {
			guest_kill(vm, "bad async hypercall slot %u", i);
			return;
		}
		uint32_t w[4];
		memcpy(&w[0], slot + abi->slot_nr_off, 4);
		for (int a = 0; a < 3; a++)
			memcpy(&w[a + 1], slot + abi->slot_arg_off[a], 4);
		do_hcall(vm, w[0], w[1], w[2], w[3]);
		__atomic_store_n(&status[i], 0xFF, __ATOMIC_RELEASE);
	}
}

static uint32_t arg(const struct guest_regs *r, const struct mon_frame *f, enum abi_reg reg)
{
	switch (reg) {
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
	uint32_t a1 = arg(r, f, abi->arg_reg[0]);

	if (!lg->initialized) {
		if (nr != LHCALL_LGUEST_INIT)
			guest_kill(vm, "hypercall %u before INIT", nr);
		else
			initialize(vm, a1);
		return;
	}
	drain_async(vm);
	if (vm->dead)
		return;
	do_hcall(vm, nr, a1, arg(r, f, abi->arg_reg[1]), arg(r, f, abi->arg_reg[2]));
}

void lg_handle_event(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	unsigned vec = f->vector & 0xFF;
	if (vec == 0x1F && (f->cs & 3) == 1)
		lg_hypercall(vm, r, f);
	else
		lg_handle_trap(vm, r, f);
}
