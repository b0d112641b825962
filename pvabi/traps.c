/* Traps and interrupts: what the reference host's interrupts_and_traps.c and
 * x86/core.c did, as frame rewrites in the monitor (docs/abi.md §5).
 *
 * When an event reaches us the guest is parked in the monitor with its
 * interrupted state in the frame (EIP, CS, EFLAGS, ESP, SS).  To deliver a
 * trap we push exactly what an i386 CPU would push onto the guest's stack,
 * then point the frame at the handler: the monitor's `iret` does the rest. */
#include <string.h>

#include "pvabi/internal.h"
#include "pvabi/irq_rules.h"
#include "pvabi/mmu.h"
#include "pvabi/desc_rules.h"
#include "pvabi/pio_rules.h"
#include "src/log.h"
#include "src/vm.h"
#include "virtio/bus.h"

static bool has_errcode(unsigned vec)
{
	return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
}

/* Push one word on the guest stack at base+*esp, translating every push (the
 * reference translated only the first and wrote downwards physically). */
static bool push(struct vm *vm, uint32_t base, uint32_t *esp, uint32_t val)
{
	*esp -= 4;
	return mmu_write(&vm->mem, vm->lg.pgdir, vm->lg.pae, base + *esp, &val, 4);
}

void lg_deliver(struct vm *vm, struct mon_frame *f, unsigned vec, bool has_err, uint32_t err)
{
	struct lguest *lg = &vm->lg;
	const struct lg_gate gate = lg_gate_get(vm, vec), *g = &gate;

	if (!(g->hi & 0x8000)) {
		guest_kill(vm, "unhandled trap %u at %#x (%#x)", vec, f->eip,
			   vec == 14 ? f->cr2 : err);
		return;
	}

	uint32_t irq_enabled = 0;
	if (!ld_read32(vm, lg->abi->ld_irq_enabled, &irq_enabled))
		return;

	/* From ring 3 (anything not ring 1) the CPU would switch to the stack
	 * SET_STACK named; from ring 1 it stays on the current one. */
	bool switch_stack = (f->cs & 3) != 1;
	uint32_t ss1, esp1;
	monitor_get_stack1(&vm->kvm.mon, &ss1, &esp1);
	uint32_t ss = switch_stack ? ss1 : f->ss;
	uint32_t esp = switch_stack ? esp1 : f->esp;
	uint32_t base;
	if (switch_stack && !ss1) {
		guest_kill(vm, "trap %u from ring %u before SET_STACK", vec, f->cs & 3);
		return;
	}
	if (!lg_seg_base(vm, ss, &base)) {
		guest_kill(vm, "trap %u: stack segment %#x unusable", vec, ss);
		return;
	}

	uint32_t eflags = deliver_eflags(f->eflags, irq_enabled);

	bool ok = true;
	if (switch_stack) {
		ok = push(vm, base, &esp, f->ss) && push(vm, base, &esp, f->esp);
	}
	ok = ok && push(vm, base, &esp, eflags) && push(vm, base, &esp, f->cs) &&
	     push(vm, base, &esp, f->eip);
	if (ok && has_err)
		ok = push(vm, base, &esp, err);
	if (!ok) {
		guest_kill(vm, "cannot push trap %u frame: stack %#x:%#x not writable", vec, ss,
			   esp);
		return;
	}

	/* Interrupt gates disable (virtual) interrupts; trap gates don't. */
	if (deliver_frame(f, g->lo, g->hi, esp, ss))
		ld_write32(vm, lg->abi->ld_irq_enabled, 0);
}

/* #GP from `in`/`out` at ring 1 (docs/abi.md §5.8): there is nothing there.  In
 * returns all ones in the accessed width, out is dropped -- except the
 * keyboard controller's reset command, which we take as a restart request. */
static bool emulate_io(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	uint8_t insn[3];
	struct pio_insn p;
	int d = -1;
	for (unsigned n = 0; d < 0 && n < sizeof(insn); n++) {
		if (!mmu_read(&vm->mem, vm->lg.pgdir, vm->lg.pae, f->eip + n, &insn[n], 1))
			return false;
		d = pio_decode(insn, n + 1, &p);
	}
	if (d <= 0)
		return false;
	unsigned port = p.port == PIO_PORT_DX ? (r->edx & 0xFFFF) : p.port;
	bool out = p.out;
	unsigned size = p.size, len = p.len;
	uint32_t mask = pio_mask(size);
	uint32_t val = f->eax & mask;
	if (out) {
		if (port == 0x64 && size == 1 && val == 0xFE) {
			vm_stop(vm, EXIT_RESTART,
				"guest requested a restart (keyboard controller)");
			return true;
		}
		/* PCI configuration mechanism #1 on the 4.x platform; any
		 * other write is ignored, as the Launcher did. */
		vbus_pio(vm, (uint16_t)port, size, true, &val);
	} else {
		/* The 4.x platform's PCI ports, or what idle ports read
		 * (pvabi/pio_rules.h, shared with the monitor). */
		if (!vbus_pio(vm, (uint16_t)port, size, false, &val))
			val = pio_idle_read(port, size);
		f->eax = (f->eax & ~mask) | (val & mask);
	}
	f->eip += len;
	return true;
}

/* `cli` at ring 1 (2.6.34+, docs/abi.md §H1.10): cmpxchg8b_emu brackets its
 * work with pushf/cli/popf, and the reference host simply stepped over the
 * cli.  Interrupts are virtual here anyway: irq_enabled is the only gate. */
static bool skip_cli(struct vm *vm, struct mon_frame *f)
{
	uint8_t op;
	if (!mmu_read(&vm->mem, vm->lg.pgdir, vm->lg.pae, f->eip, &op, 1) || op != 0xFA)
		return false;
	f->eip += 1;
	return true;
}

/* CPUID, faulting (kvm-glue/kvm.c turns CPUID faulting on where KVM can):
 * answer from the table we gave KVM, as KVM would, and step over it.  Any
 * ring: user programs ask too.  A leaf past the last basic one reads as the
 * last basic leaf, as on Intel; an unknown extended leaf reads as zeros. */
static bool emulate_cpuid(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	uint8_t op[2];
	uint32_t out[4], top[4];
	if (!vm->kvm.cpuid_faults || !mmu_read(&vm->mem, vm->lg.pgdir, vm->lg.pae, f->eip, op, 2) ||
	    op[0] != 0x0F || op[1] != 0xA2)
		return false;
	uint32_t fn = f->eax;
	if (!kvm_cpuid_lookup(&vm->kvm, fn, r->ecx, out) && fn < 0x80000000u &&
	    kvm_cpuid_lookup(&vm->kvm, 0, 0, top) && fn > top[0])
		kvm_cpuid_lookup(&vm->kvm, top[0], r->ecx, out);
	if (fn == 1)
		out[3] &= ~(1u << 9); /* no local APIC: the guest has none to use */
	f->eax = out[0];
	r->ebx = out[1];
	r->ecx = out[2];
	r->edx = out[3];
	r->dirty = true;
	f->eip += 2;
	return true;
}

/* `mov %cr4, reg` at ring 1 (0F 20 /r, mod 3, reg 4).  4.4.y stable kernels
 * read CR4 with the native "safe" read in i386_start_kernel, before they have
 * an IDT to take the #GP in -- under the reference host that was the end of
 * them ("unhandled trap 13").  We answer what the guest's own paravirt read
 * would have: the PAE bit for a PAE guest, nothing else (docs/DESIGN.md §11). */
static bool read_cr4(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	uint8_t insn[3];
	if (!mmu_read(&vm->mem, vm->lg.pgdir, vm->lg.pae, f->eip, insn, 3) || insn[0] != 0x0F ||
	    insn[1] != 0x20 || (insn[2] & 0xF8) != 0xE0)
		return false;
	uint32_t v = vm->lg.pae ? 0x20 : 0; /* X86_CR4_PAE */
	uint32_t *dst[8] = {&f->eax, &r->ecx, &r->edx, &r->ebx, NULL, &r->ebp, &r->esi, &r->edi};
	uint32_t *d = dst[insn[2] & 7];
	if (!d)
		return false; /* into %esp: no kernel does that */
	*d = v;
	r->dirty = true;
	f->eip += 3;
	return true;
}

void lg_handle_trap(struct vm *vm, struct guest_regs *r, struct mon_frame *f)
{
	unsigned vec = f->vector & 0xFF;
	struct lguest *lg = &vm->lg;

	LOG_DEBUG(vm, "trap %u at %#x:%#x error %#x cr2 %#x", vec, f->cs, f->eip, f->errcode,
		  f->cr2);
	switch (vec) {
	case 2: /* NMIs are the host's business */
		return;
	case 7:
		/* CR0.TS mirrors the virtual TS, so #NM means the guest asked
		 * for it; otherwise it was stale and the instruction will now
		 * simply run. */
		if (lg->ts)
			lg_deliver(vm, f, 7, false, 0);
		return;
	case 6:
		if (lg_fix_vmcall(vm, f))
			return;
		break;
	case 8:
		guest_kill(vm, "double fault at %#x", f->eip);
		return;
	case 13:
		if (f->errcode == 0 && emulate_cpuid(vm, r, f))
			return;
		if (f->errcode == 0 && (f->cs & 3) == 1 && emulate_io(vm, r, f))
			return;
		if (f->errcode == 0 && (f->cs & 3) == 1 && lg->abi->skip_cli && skip_cli(vm, f))
			return;
		if (f->errcode == 0 && (f->cs & 3) == 1 && read_cr4(vm, r, f))
			return;
		/* KVM's emulator refuses a privileged instruction below
		 * ring 0 before it looks at what it is: on AMD a ring-1
		 * vmcall arrives here as #GP(0). */
		if (f->errcode == 0 && lg_fix_vmcall(vm, f))
			return;
		break;
	case 14:
		if (lg_emulate_mmio(vm, r, f))
			return;
		/* The guest reads CR2 only from lguest_data. */
		if (lg->initialized && !ld_write32(vm, lg->abi->ld_cr2, f->cr2))
			return;
		break;
	default:
		break;
	}
	/* Vectors from 32 up come to us as software interrupts: our kick (the
	 * run loop's business), or a gate the guest opened to `int` that could
	 * not be direct.  From 4.2 that includes the system call, an
	 * interrupt gate: delivering it must clear the virtual IF, which only
	 * we can do.  IRQ vectors are never callable (DPL 0, desc.c). */
	if (MON_HOST_VECTOR(vec) || idt_irq_vector(vec))
		return;
	lg_deliver(vm, f, vec, has_errcode(vec), f->errcode);
}

static bool in_noirq(struct vm *vm, uint32_t eip)
{
	return eip >= vm->lg.noirq_start && eip < vm->lg.noirq_end;
}

/* The pending IRQ bits have one home, a word in the monitor's data page,
 * so that the monitor's fast path can take an interrupt as well as we can
 * (kvm-glue/monitor/fast.c delivers on the kick vector).  I/O threads set
 * bits there, whoever delivers clears them; all atomically.  The guest can
 * write that page: it can only raise interrupts to itself.  A vm without a
 * monitor (unit tests) keeps them in struct lguest. */
_Atomic uint32_t *lg_pending(struct vm *vm)
{
	if (vm->kvm.mon.host)
		return (_Atomic uint32_t *)&monitor_shared(&vm->kvm.mon)->irq_pending;
	return &vm->lg.pending;
}

/* Is the monitor asleep in `hlt` for the guest's HALT (kvm-glue/monitor/
 * clock.c)?  A hint from a page the guest can write: it decides how an
 * interrupt is announced, never what the VMM itself delivers. */
static bool mon_halted(struct vm *vm)
{
	return vm->lg.clock_in_vm && vm->kvm.mon.host &&
	       __atomic_load_n(&monitor_shared(&vm->kvm.mon)->halted, __ATOMIC_SEQ_CST);
}

/* From any thread, a hint: may the monitor deliver an interrupt right now?
 * Not while halted (the vCPU thread sleeps in lgkvm) nor with interrupts off
 * (the monitor would only hand the kick back to us, and a guest about to
 * HALT -- the usual case -- is better woken in its halt sleep).  A guest
 * that changes its mind a moment later meets the same rules either way. */
bool lg_kick_in_vm(struct vm *vm)
{
	struct lguest *lg = &vm->lg;
	uint32_t enabled = 0;
	if (!lg->initialized || lg->halted)
		return false;
	if (mon_halted(vm))
		return true; /* it sleeps in `hlt` inside the VM: the MSI wakes it */
	return gm_read32(&vm->mem, (uint64_t)lg->lguest_data + lg->abi->ld_irq_enabled, &enabled) &&
	       (enabled & EFLAGS_IF);
}

void lg_irq_set(struct vm *vm, uint32_t bits)
{
	atomic_fetch_or(lg_pending(vm), bits);
}

void lg_irq_clear(struct vm *vm, uint32_t bits)
{
	atomic_fetch_and(lg_pending(vm), ~bits);
}

/* The lowest pending, unmasked IRQ that may be delivered now; -1 if none,
 * and in *why the reason (pvabi/irq_rules.h, shared with the monitor). */
static int pick_irq_why(struct vm *vm, uint32_t eip, bool halted, enum irq_wait *why)
{
	struct lguest *lg = &vm->lg;
	*why = IRQ_NONE;
	if (!lg->initialized)
		return -1;
	uint32_t pending = atomic_load(lg_pending(vm));
	uint32_t blocked = 0, enabled = 0;
	if (pending && !ld_read32(vm, lg->abi->ld_blocked, &blocked))
		return -1;
	uint32_t cand = pending & ~blocked;
	if (cand && !in_noirq(vm, eip) && !halted &&
	    !ld_read32(vm, lg->abi->ld_irq_enabled, &enabled))
		return -1;
	int irq = -1;
	*why = irq_pick(cand, in_noirq(vm, eip), halted, enabled, &irq);
	if (*why != IRQ_GO)
		return -1;
	if (!(lg_gate_get(vm, 32 + (unsigned)irq).hi & 0x8000)) {
		*why = IRQ_NOT_HERE;
		return -1; /* no handler yet: it stays pending */
	}
	return irq;
}

/* irq_pending (2.6.31+), as irq_pending_note() says.  (2.6.31-4.0 never act on it
 * when they enable interrupts -- their `testl` is always false -- which is
 * why we look for deliverable interrupts on every exit and not only on
 * SEND_INTERRUPTS.) */
static void note_irq_pending(struct vm *vm, enum irq_wait why)
{
	unsigned off = vm->lg.abi->ld_irq_pending;
	int64_t v = irq_pending_note(why);
	if (off == LD_NONE || !vm->lg.initialized || v < 0)
		return;
	ld_write32(vm, off, (uint32_t)v);
}

bool lg_irq_deliverable(struct vm *vm, uint32_t eip)
{
	enum irq_wait why;
	return pick_irq_why(vm, eip, vm->lg.halted || mon_halted(vm), &why) >= 0;
}

void lg_maybe_interrupt(struct vm *vm, struct mon_frame *f)
{
	struct lguest *lg = &vm->lg;
	enum irq_wait why;
	int irq = pick_irq_why(vm, f->eip, lg->halted, &why);
	if (vm->dead)
		return;
	note_irq_pending(vm, why);
	if (irq < 0 || vm->dead)
		return;
	if (lg->halted) {
		/* safe_halt: "enable interrupts and wait" is one step. */
		lg->halted = false;
		if (!ld_write32(vm, lg->abi->ld_irq_enabled, 0x200))
			return;
	}
	lg_irq_clear(vm, 1u << irq);
	LOG_DEBUG(vm, "irq %d at %#x:%#x", irq, f->cs, f->eip);
	lg_deliver(vm, f, 32 + (unsigned)irq, false, 0);
	lg->stats_irqs++;
	lg_write_time(vm);
}
