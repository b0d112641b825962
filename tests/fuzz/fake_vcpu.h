/* A fake vCPU over fake guest memory, for driving the lguest host (pvabi/)
 * and the device bus (virtio/) with no KVM at all: the libFuzzer harnesses
 * (fuzz_hcall.c, fuzz_desc.c) and the hostile unit tests
 * (tests/unit/test_hostile.c) share it.
 *
 * What the real vCPU loop (kvm-glue/vcpu.c) does on a monitor exit, this
 * does on a decoded "event": it writes the frame the monitor stubs would have
 * left on the ring-0 stack (vector, error code, EIP, CS, EFLAGS, ESP, SS, EAX,
 * CR2) into a real monitor page set, calls lg_handle_event(), lets time pass
 * for a halted guest, and offers an interrupt with lg_maybe_interrupt().
 * Guest memory is one heap buffer: RAM, then the device page and rings, then
 * the rest of the device area, which the guest may not name; under ASan that
 * rest is poisoned, so a host access past the guest's limit is caught on the
 * spot, as is one past the buffer.
 *
 * After every event fake_check() tests what must hold whatever the guest
 * did: the host's GDT slots are untouched, no descriptor the guest can load
 * reaches ring 0, every IDT gate is a present interrupt or trap gate whose
 * selector is the guest's ring-1 code segment or the monitor's (and a monitor
 * gate points at its own stub), the TSS's ring-0 stack is the monitor's, and
 * a frame the host rewrote never gains privilege.
 *
 * The input format is a stream of operations (fake_step()); running out of
 * input reads zeros, so every byte string is a valid program. */
#ifndef LGKVM_FAKE_VCPU_H
#define LGKVM_FAKE_VCPU_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvabi/host.h"
#include "src/vm.h"
#include "virtio/ring.h"

#if defined(__SANITIZE_ADDRESS__)
#define FAKE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAKE_ASAN 1
#endif
#endif
#ifdef FAKE_ASAN
#include <sanitizer/asan_interface.h>
#define FAKE_POISON(p, n)   __asan_poison_memory_region((p), (n))
#define FAKE_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define FAKE_POISON(p, n)   ((void)(p), (void)(n))
#define FAKE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Guest-physical layout of the fake guest. */
#define FAKE_RAM      0x40000u /* 256 KiB: the device page follows at 0x40000 */
#define FAKE_MEM_SIZE (FAKE_RAM + VBUS_AREA_SIZE)
#define FAKE_PGDIR    0x1000u /* boot page directory */
#define FAKE_PT	      0x2000u /* its one page table: identity map of RAM */
#define FAKE_LDATA    0x3000u /* where the guest usually puts lguest_data */
#define FAKE_MAX_OPS  4096    /* events per input: a guest can loop forever, we don't */

struct fake {
	struct vm *vm;
	uint8_t *mem;	      /* guest memory, FAKE_MEM_SIZE bytes */
	uint8_t *mon;	      /* the monitor's pages, MON_SIZE bytes */
	uint64_t host_gdt[4]; /* slots 10, 11, 16, 31 as monitor_init left them */
	uint32_t tss_esp0, tss_ss0;
	uint64_t fake_now;	      /* time, in ns, as the fake sees it */
	uint64_t dirty;		      /* guest memory below this may be non-zero */
	int in_w;		      /* write end of the pipe that is the console's stdin */
	const char *violation;	      /* set by fake_check() */
	const struct lguest_abi *abi; /* the generation to play (NULL: G1) */
};

/* The input. */
struct fake_rd {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t rd8(struct fake_rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static inline uint16_t rd16(struct fake_rd *r)
{
	uint16_t lo = rd8(r);
	return (uint16_t)(lo | rd8(r) << 8);
}

static inline uint32_t rd32(struct fake_rd *r)
{
	uint32_t lo = rd16(r);
	return lo | (uint32_t)rd16(r) << 16;
}

/* A 32-bit value a guest might pass: one tag byte picks a neighbourhood the
 * host cares about (RAM, the rings, the edge of the limit, the monitor's
 * window, wrap-around), so the fuzzer reaches the interesting cases without
 * guessing 32-bit constants. */
static inline uint32_t rd_val(struct fake *fk, struct fake_rd *r)
{
	uint32_t limit = (uint32_t)fk->vm->mem.limit;

	switch (rd8(r) & 7) {
	case 0:
		return rd32(r);
	case 1:
		return (uint32_t)rd16(r) << 2; /* somewhere in RAM (or just past) */
	case 2:
		return rd8(r);
	case 3:
		return limit - 16 + (rd8(r) & 31); /* straddling the limit */
	case 4:
		return FAKE_RAM + rd16(r); /* device page and rings */
	case 5:
		return MON_GVA + ((uint32_t)rd16(r) << 6); /* the monitor's window */
	case 6:
		return FAKE_LDATA + (rd16(r) & 0xFFF);
	default:
		return 0xFFFFFFFFu - rd8(r); /* wraps */
	}
}

static inline void fake_write32(struct fake *fk, uint32_t gpa, uint32_t v)
{
	memcpy(fk->mem + gpa, &v, 4);
}

/* The boot state: RAM zeroed, a page directory mapping RAM at 0 with the
 * monitor in its top slot (as boot_load() leaves it), the lguest host reset,
 * the console on the bus. */
static inline void fake_reset(struct fake *fk)
{
	struct vm *vm = fk->vm;
	char drain[256];

	vbus_teardown(vm);
	/* What the previous input left in the console's stdin goes. */
	while (fk->in_w > 0 && read(STDIN_FILENO, drain, sizeof(drain)) > 0)
		;
	memset(vm, 0, sizeof(*vm));
	vm->opt.mem = FAKE_RAM;
	vm->opt.console_log_max = 1u << 20;
	/* Only the part below the old limit can have been written (the rest
	 * is poisoned, and zero from fake_init). */
	FAKE_UNPOISON(fk->mem, FAKE_MEM_SIZE);
	memset(fk->mem, 0, fk->dirty ? fk->dirty : FAKE_MEM_SIZE);
	vm->mem = (struct guestmem){.base = fk->mem, .size = FAKE_MEM_SIZE, .limit = FAKE_MEM_SIZE};

	memset(fk->mon, 0, MON_SIZE);
	monitor_init(&vm->kvm.mon, fk->mon);
	vm->kvm.vcpu_fd = -1;
	for (unsigned i = 0; i < 4; i++) {
		static const unsigned slot[4] = {10, 11, 16, 31};
		memcpy(&fk->host_gdt[i], fk->mon + MON_GDT_OFF + slot[i] * 8, 8);
	}
	memcpy(&fk->tss_esp0, fk->mon + MON_TSS_OFF + 4, 4);
	memcpy(&fk->tss_ss0, fk->mon + MON_TSS_OFF + 8, 4);

	for (uint32_t i = 0; i < FAKE_RAM / 4096; i++)
		fake_write32(fk, FAKE_PT + i * 4, i * 4096 | 0x7);
	fake_write32(fk, FAKE_PGDIR, FAKE_PT | 0x7);
	fake_write32(fk, FAKE_PGDIR + 1023 * 4, monitor_pde());
	/* lguest_data at its usual place, statically initialised as Linux's is
	 * (all async slots free, syscall vector 0x80, a kernel at 3 GiB, a
	 * no-interrupt window), so that INIT can succeed. */
	const struct lguest_abi *abi = fk->abi ? fk->abi : abi_get(GEN_G1);
	memset(fk->mem + FAKE_LDATA + abi->ring_status_off, 0xFF, 64);
	fake_write32(fk, FAKE_LDATA + abi->ld_blocked, 1);
	/* (Fields the generation's layout lacks are LD_NONE: not written.) */
	const unsigned fields[4][2] = {{abi->ld_noirq_start, 0x100100},
				       {abi->ld_noirq_end, 0x100110},
				       {abi->ld_kernel_address, 0xC0000000u},
				       {abi->ld_syscall_vec, 0x80}};
	for (unsigned i = 0; i < 4; i++)
		if (fields[i][0] != LD_NONE)
			fake_write32(fk, FAKE_LDATA + fields[i][0], fields[i][1]);

	lg_init(vm, FAKE_PGDIR, abi);
	if (vbus_init(vm) < 0 || vbus_add_console(vm) < 0 || vbus_finish(vm) < 0) {
		fprintf(stderr, "fake_vcpu: cannot set up the bus\n");
		abort();
	}
	vm->mem.limit = vbus_limit(vm);
	/* Everything past the limit is off-limits to the host too. */
	FAKE_POISON(fk->mem + vm->mem.limit, FAKE_MEM_SIZE - vm->mem.limit);
	fk->dirty = vm->mem.limit;
	fk->fake_now = now_ns();
	fk->violation = NULL;
}

/* Once per process: stdin becomes a non-blocking pipe we feed, stdout goes to
 * /dev/null (the console prints whatever the guest says).  The caller saves
 * the real ones first if it wants them back. */
static inline void fake_stdio(struct fake *fk)
{
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		perror("fake_vcpu: pipe");
		abort();
	}
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	fk->in_w = p[1];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0) {
		perror("fake_vcpu: /dev/null");
		abort();
	}
	dup2(null, STDOUT_FILENO);
	close(null);
}

/* Everything, including the stdio swap (save stdin and stdout first if they
 * are wanted back). */
static inline void fake_init(struct fake *fk)
{
	memset(fk, 0, sizeof(*fk));
	fk->vm = calloc(1, sizeof(*fk->vm));
	fk->mem = malloc(FAKE_MEM_SIZE);
	fk->mon = malloc(MON_SIZE);
	if (!fk->vm || !fk->mem || !fk->mon) {
		fprintf(stderr, "fake_vcpu: out of memory\n");
		abort();
	}
	fake_stdio(fk);
	fake_reset(fk);
}

static inline void fake_free(struct fake *fk)
{
	vbus_teardown(fk->vm);
	FAKE_UNPOISON(fk->mem, FAKE_MEM_SIZE);
	free(fk->mem);
	free(fk->mon);
	free(fk->vm);
	if (fk->in_w > 0)
		close(fk->in_w);
}

/*
 * The invariants.
 */

static inline uint64_t mon_desc(const struct fake *fk, unsigned off, unsigned i)
{
	uint64_t d;
	memcpy(&d, fk->mon + off + i * 8, 8);
	return d;
}

/* The real GDT: host slots as built, and nothing else that reaches ring 0. */
static inline const char *fake_check_gdt(const struct fake *fk)
{
	static const unsigned slot[4] = {10, 11, 16, 31};

	for (unsigned i = 0; i < 4; i++)
		if (mon_desc(fk, MON_GDT_OFF, slot[i]) != fk->host_gdt[i])
			return "a host GDT slot (10, 11, 16 or 31) changed";
	for (unsigned i = 0; i < 32; i++) {
		uint32_t hi = (uint32_t)(mon_desc(fk, MON_GDT_OFF, i) >> 32);

		if (i == 10 || i == 11 || i == 16 || i == 31 || !(hi & 0x8000))
			continue;
		if (!(hi & 0x1000))
			/* A TSS, task gate, call gate or LDT: a far jump
			 * through one would load CS from somewhere else. */
			return "a present system descriptor in a guest GDT slot";
		if (((hi >> 13) & 3) == 0)
			return "a DPL-0 descriptor in a guest GDT slot";
		if (!(hi & 0x100))
			return "a present segment without its accessed bit (the GDT is read-only)";
	}
	return NULL;
}

/* The real IDT: every gate is the monitor's stub for its vector (selector
 * 0x50) or a direct trap gate into the guest (selector 0x61); no task gates,
 * nothing the guest can reach with a ring-0 selector of its choosing. */
static inline const char *fake_check_idt(const struct fake *fk)
{
	for (unsigned v = 0; v < 256; v++) {
		uint64_t g = mon_desc(fk, MON_IDT_OFF, v);
		uint32_t lo = (uint32_t)g, hi = (uint32_t)(g >> 32);
		unsigned type = (hi >> 8) & 0x1F, dpl = (hi >> 13) & 3, sel = lo >> 16;
		uint32_t off = (hi & 0xFFFF0000u) | (lo & 0xFFFF);

		if (!(hi & 0x8000))
			return "a non-present IDT gate (every vector must reach the monitor)";
		if (type != 0xE && type != 0xF)
			return "an IDT gate that is not a 32-bit interrupt or trap gate";
		if (sel == SEL_LGUEST_CS) {
			if (off != MON_GVA + MON_STUBS_OFF + v * 16)
				return "a ring-0 IDT gate that does not point at its monitor stub";
			if (v == 0x1F && dpl != 1)
				return "the hypercall gate's DPL is not 1";
			if ((MON_HOST_VECTOR(v) || (v >= 32 && v < 64)) && dpl != 0)
				return "an interrupt vector software can raise";
		} else if (sel == SEL_KERNEL_CS) {
			if (type != 0xF || v == 2 || v == 7 || v == 8 || v == 13 || v == 14 ||
			    v == 15 || v == 31 || (v >= 32 && v != 0x80))
				return "a direct guest gate on a vector the host must see";
		} else {
			return "an IDT gate with a selector other than 0x50 or 0x61";
		}
	}
	return NULL;
}

static inline const char *fake_check(struct fake *fk)
{
	const char *why = fake_check_gdt(fk);
	uint32_t esp0, ss0, ss1;

	if (!why)
		why = fake_check_idt(fk);
	memcpy(&esp0, fk->mon + MON_TSS_OFF + 4, 4);
	memcpy(&ss0, fk->mon + MON_TSS_OFF + 8, 4);
	memcpy(&ss1, fk->mon + MON_TSS_OFF + 16, 4);
	if (!why && (esp0 != fk->tss_esp0 || ss0 != fk->tss_ss0))
		why = "the TSS's ring-0 stack changed";
	if (!why && ss1 && (ss1 & 3) != 1)
		why = "the TSS's ring-1 stack selector is not RPL 1";
	if (!why && fk->vm->mem.limit > FAKE_MEM_SIZE)
		why = "the guest's memory limit moved";
	return fk->violation = why;
}

/*
 * Events.
 */

/* One exit through the monitor, as kvm-glue/vcpu.c:monitor_event() handles
 * it.  `f` is already in the monitor's frame slot. */
static inline void fake_exit(struct fake *fk, struct guest_regs *g)
{
	struct vm *vm = fk->vm;
	struct mon_frame *f = monitor_frame(&vm->kvm.mon);
	struct mon_frame before = *f;

	vm->lg.stats_exits++;
	lg_handle_event(vm, g, f);
	lg_tick(vm, fk->fake_now);
	(void)lg_next_wake(vm, fk->fake_now);
	/* A halted guest sleeps until an interrupt is deliverable.  The clock
	 * event is the only thing that can still come: let its time pass;
	 * if even that brings nothing, it would sleep until --timeout. */
	if (!vm->dead && vm->lg.halted && !lg_irq_deliverable(vm, f->eip)) {
		if (vm->lg.clock_deadline_ns) {
			fk->fake_now = vm->lg.clock_deadline_ns;
			lg_tick(vm, fk->fake_now);
		}
		if (!lg_irq_deliverable(vm, f->eip))
			vm_stop(vm, EXIT_TIMEOUT, "halted with nothing to wake it");
	}
	if (!vm->dead) {
		lg_maybe_interrupt(vm, f);
		(void)lg_irq_deliverable(vm, f->eip);
	}
	/* The host may send the guest elsewhere, but never up a ring and
	 * never with more EFLAGS bits (IOPL, say) than it had. */
	if (f->cs != before.cs && f->cs != SEL_KERNEL_CS)
		fk->violation = "a rewritten frame with a CS other than the guest kernel's";
	else if (f->ss != before.ss && (f->ss & 3) != 1)
		fk->violation = "a rewritten frame with a stack selector not at ring 1";
	else if (f->eflags & ~before.eflags)
		fk->violation = "a rewritten frame with EFLAGS bits the guest did not have";
}

static inline uint32_t rd_sel(struct fake_rd *r)
{
	static const uint16_t sel[8] = {0x61, 0x73, 0x69, 0x7B, 0x60, 0x50, 0x58, 0};
	uint8_t t = rd8(r);

	return t < 0xF8 ? sel[t & 7] : rd16(r);
}

/* A hypercall: vector 0x1F from ring 1, EAX = nr, arguments where the ABI
 * generation says they travel. */
static inline void fake_hcall(struct fake *fk, uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3,
			      uint32_t eip)
{
	struct vm *vm = fk->vm;
	struct mon_frame *f = monitor_frame(&vm->kvm.mon);
	struct guest_regs g = {0};
	const uint32_t a[4] = {a1, a2, a3, a1 ^ a2};

	*f = (struct mon_frame){
		.vector = 0x1F,
		.eax = nr,
		.eip = eip,
		.cs = SEL_KERNEL_CS,
		.eflags = 0x202,
		.esp = 0x3F000,
		.ss = SEL_KERNEL_DS,
	};
	for (unsigned i = 0; i < 4; i++) {
		switch (vm->lg.abi->arg_reg[i]) {
		case REG_NONE:
			break;
		case REG_EAX:
			f->eax = a[i];
			break;
		case REG_EBX:
			g.ebx = a[i];
			break;
		case REG_ECX:
			g.ecx = a[i];
			break;
		case REG_EDX:
			g.edx = a[i];
			break;
		case REG_ESI:
			g.esi = a[i];
			break;
		}
	}
	fake_exit(fk, &g);
}

/* Decode and run one operation.  False when the run is over (input spent,
 * guest dead, or an invariant broken). */
static inline bool fake_step(struct fake *fk, struct fake_rd *r)
{
	struct vm *vm = fk->vm;
	uint32_t limit = (uint32_t)vm->mem.limit;
	uint8_t op = rd8(r);

	switch (op % 12) {
	case 0: { /* guest writes bytes somewhere it may */
		uint32_t gpa = ((uint32_t)rd16(r) << 2) % limit;
		uint32_t len = rd8(r);
		if (len > limit - gpa)
			len = limit - gpa;
		for (uint32_t i = 0; i < len; i++)
			fk->mem[gpa + i] = rd8(r);
		break;
	}
	case 1: { /* one 32-bit word: a PTE, a ring index, a descriptor half */
		uint32_t gpa = (((uint32_t)rd16(r) << 2) % limit) & ~3u;
		uint32_t v = rd_val(fk, r);
		fake_write32(fk, gpa, v);
		break;
	}
	case 2:
	case 3: { /* a hypercall, any number, any arguments */
		uint8_t t = rd8(r);
		uint32_t nr = t < 0xF0 ? t % 20u : rd32(r);
		uint32_t a1 = rd_val(fk, r);
		uint32_t a2 = rd_val(fk, r);
		uint32_t a3 = rd_val(fk, r);
		fake_hcall(fk, nr, a1, a2, a3, rd_val(fk, r));
		break;
	}
	case 4: { /* a trap or interrupt, any frame */
		/* One read per statement: the order of evaluation inside an
		 * initializer list is unspecified, the input's is not. */
		struct mon_frame *f = monitor_frame(&vm->kvm.mon);
		struct guest_regs g = {0};
		uint8_t v = rd8(r);
		f->vector = v < 0xE0 ? v % 34u : rd32(r);
		f->errcode = rd_val(fk, r);
		f->eip = rd_val(fk, r);
		f->cs = rd_sel(r);
		f->eflags = rd32(r);
		f->esp = rd_val(fk, r);
		f->ss = rd_sel(r);
		f->eax = rd32(r);
		f->cr2 = rd_val(fk, r);
		g.ebx = rd32(r);
		g.ecx = rd32(r);
		g.edx = rd32(r);
		fake_exit(fk, &g);
		break;
	}
	case 5: /* LGUEST_INIT with lguest_data at its usual place, or anywhere */
		fake_hcall(fk, LHCALL_LGUEST_INIT, rd8(r) < 0xF0 ? FAKE_LDATA : rd_val(fk, r), 0, 0,
			   0x100000);
		break;
	case 6: { /* queue an async hypercall, as lib/async.c does */
		const struct lguest_abi *abi = vm->lg.abi;
		uint32_t base = vm->lg.initialized ? vm->lg.lguest_data : FAKE_LDATA;
		unsigned slot = rd8(r) % abi->ring_entries;
		uint8_t t = rd8(r);
		uint32_t nr = t < 0xF0 ? t % 20u : rd32(r);
		uint32_t a[3];
		for (unsigned i = 0; i < 3; i++)
			a[i] = rd_val(fk, r);
		uint8_t status = rd8(r) < 0xF0 ? 0 : 0xFF;
		uint64_t at = (uint64_t)base + abi->ring_slots_off + slot * abi->ring_slot_size;
		uint64_t st = (uint64_t)base + abi->ring_status_off + slot;
		if (at + abi->ring_slot_size <= limit && st < limit) {
			memcpy(fk->mem + at + abi->slot_nr_off, &nr, 4);
			for (unsigned i = 0; i < 3; i++)
				if (abi->slot_arg_off[i] != LD_NONE)
					memcpy(fk->mem + at + abi->slot_arg_off[i], &a[i], 4);
			fk->mem[st] = status;
		}
		break;
	}
	case 7: /* a device interrupt from another thread */
		vm_raise_irq(vm, rd8(r) % 40u);
		break;
	case 8: { /* time passes */
		uint64_t ns = rd32(r);
		fk->fake_now += ns << (rd8(r) & 15);
		lg_tick(vm, fk->fake_now);
		(void)lg_next_wake(vm, fk->fake_now);
		break;
	}
	case 9: { /* a few bytes typed on the console, then the host looks */
		uint8_t buf[64];
		unsigned n = rd8(r) % sizeof(buf);
		for (unsigned i = 0; i < n; i++)
			buf[i] = rd8(r);
		if (n && write(fk->in_w, buf, n) < 0) {
			/* The pipe is full: nothing lost that matters. */
		}
		vbus_poll(vm);
		break;
	}
	case 10: { /* kick one of the console's rings */
		uint32_t gpa = vm->bus.queues[rd8(r) & 1].gpa;
		fake_hcall(fk, LHCALL_NOTIFY, gpa + (rd8(r) & 0xF), 0, 0, 0x100000);
		break;
	}
	default: { /* a guest-style console ring write: one descriptor, offered */
		struct vqueue *q = &vm->bus.queues[rd8(r) & 1];
		uint8_t *ring = fk->mem + q->gpa;
		uint16_t idx;
		uint16_t d = rd8(r) % q->num;
		struct vring_desc desc;
		desc.addr = rd_val(fk, r);
		desc.len = rd_val(fk, r);
		desc.flags = rd8(r) & 3;
		desc.next = rd8(r);
		memcpy(ring + d * 16, &desc, 16);
		memcpy(&idx, ring + vring_avail_off(q->num) + 2, 2);
		memcpy(ring + vring_avail_off(q->num) + 4 + (idx % q->num) * 2, &d, 2);
		idx = (uint16_t)(idx + 1 + (rd8(r) >= 0xF8 ? rd16(r) : 0));
		memcpy(ring + vring_avail_off(q->num) + 2, &idx, 2);
		break;
	}
	}
	if (fk->violation || fake_check(fk))
		return false;
	return !vm->dead && r->n;
}

#endif
