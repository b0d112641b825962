/* The monitor's fast path: what it finishes inside the VM, with no exit.
 *
 * This is i386 code that runs at ring 0 in every guest (built by
 * kvm-glue/monitor/monitor.mk, never linked into lgkvm itself).  It is the
 * first piece of lguest's Switcher that does real work again: where the
 * original host answered every hypercall in the host kernel, and lgkvm's VMM
 * answers them across an exit that costs 45-70 us in the test host (1-3 us on
 * hardware), the monitor answers the ones that need nothing but the CPU:
 *
 *   FLUSH_TLB, SET_PTE, SET_PMD/SET_PGD: a CR3 reload on the way out, decided
 *       by pvabi/tlb_rules.h, the very rules the VMM applies;
 *   SET_STACK: the arguments by pvabi/desc_rules.h, the stack pages by a
 *       write probe, then the TSS's ring-1 stack;
 *   LOAD_TLS: the three descriptors read from guest-physical memory, fixed
 *       up by pvabi/desc_rules.h, into GDT slots 6-8;
 *   LOAD_IDT_ENTRY: the guest's gate filed and the real IDT entry made by
 *       pvabi/desc_rules.h, as pvabi/desc.c does; LOAD_GDT_ENTRY likewise;
 *   FLUSH_ASYNC and the async ring in front of every call: the entries it can
 *       do itself, in order, stopping at the first it cannot;
 *   NOTIFY of a ring whose device waits on an eventfd (G1-G7 block, net
 *       receive): an `outl` of its page frame to MON_NOTIFY_PORT, which KVM
 *       turns into the eventfd signal the VMM's NOTIFY would have sent;
 *   the kick vector, when the VMM injected it for an interrupt, or a
 *       device sent it: the lguest IRQ delivered here, by pvabi/irq_rules.h,
 *       as lg_maybe_interrupt would -- and so after every event finished
 *       here (mon_deliver_irq);
 *   SET_CLOCKEVENT, HALT and the timer vector: clock.c;
 *   NEW_PGTABLE, TS, SEND_INTERRUPTS;
 *   page faults and `int n` through gates that cannot be direct, reflected
 *       to the guest's handler (enter_gate);
 *   a ring-1 `out` (a #GP): skipped where nothing listens, and on the 4.x
 *       platform logged for the VMM to replay at the next exit when all it
 *       touches is the PCI address latch or the console's PCI_CFG window
 *       aimed at emerg_wr -- the early console's eight port writes per
 *       character; a ring-1 `in`, unless it reads a PCI device's register
 *       (pio_access).
 *
 * The GDT/TSS and IDT pages are read-only in every mapping the guest runs
 * on, so those three write them under the monitor's private directory
 * (priv_begin .. priv_end), which maps them writable and has two window
 * slots for reading guest RAM by physical address.
 *
 * Anything else -- and anything odd: a nested fault, a call before
 * LGUEST_INIT, a rule that says TLB_HOST -- returns 0 and the entry path
 * exits to the VMM exactly as before, with the frame untouched and the ring
 * cursor (mon_shared.async_next) where the VMM will pick it up.  The VMM
 * believes nothing it reads from the monitor's pages (docs/DESIGN.md §3.2):
 * the monitor is the guest's side of the line.
 *
 * Rules for this file: no writable data of its own (its page is read-only;
 * monitor.ld checks), no libc, no floating point, and nothing it calls may
 * fault except the one probe that expects to (entry.S). */
#include <stdint.h>

#include "kvm-glue/monitor/inside.h"
#include "pvabi/desc_rules.h"
#include "pvabi/irq_rules.h"
#include "pvabi/pio_rules.h"
#include "pvabi/tlb_rules.h"

static uint32_t reg(const struct mon_regs *r, unsigned which)
{
	switch (which) {
	case MON_REG_EAX:
		return r->f.eax;
	case MON_REG_EBX:
		return r->ebx;
	case MON_REG_ECX:
		return r->ecx;
	case MON_REG_EDX:
		return r->edx;
	case MON_REG_ESI:
		return r->esi;
	}
	return 0;
}

static void flush(void)
{
	SHARED->flush = 1;
}

#define PTE_P		 0x001u
#define PTE_RW		 0x002u
#define PTE_A		 0x020u
#define PTE_D		 0x040u
#define TSS_ESP1	 12
#define TSS_SS1		 16
#define PDE_SLOT_MONITOR 1023 /* the non-PAE directory entry that maps us */
#define PMD_SLOT_MONITOR 510  /* ... and the PAE kernel PMD's */

/* Switch to the private directory, and back to the guest's.  Both are CR3
 * loads (a TLB flush: CR4.PGE is off), so any flush a call asked for is done
 * by the way back. */
static void priv_begin(void)
{
	uint32_t cr3 = MON_GPA + (CONFIG->pae ? MON_PRIV_PDPT_OFF : MON_PRIV_PD_OFF);
	__asm__ volatile("movl %0, %%cr3" : : "r"(cr3) : "memory");
}

static void priv_end(void)
{
	__asm__ volatile("movl %0, %%cr3" : : "r"(SHARED->cr3_want) : "memory");
	SHARED->flush = 0;
}

/* Under the private directory: window slot k shows guest-physical page pa
 * (writable for NEW_PGTABLE's directory entry, read-only otherwise). */
static void priv_window(unsigned k, uint32_t pa, bool rw)
{
	uint32_t slot = MON_PRIV_WIN_SLOT + k,
		 pte = (pa & ~0xFFFu) | PTE_P | PTE_A | (rw ? PTE_RW | PTE_D : 0);
	if (CONFIG->pae) {
		volatile uint32_t *pt = (volatile uint32_t *)(MON_GVA + MON_PRIV_PAE_PT_OFF);
		pt[slot * 2 + 1] = 0;
		pt[slot * 2] = pte;
	} else {
		((volatile uint32_t *)(MON_GVA + MON_PRIV_PT_OFF))[slot] = pte;
	}
	__asm__ volatile("invlpg (%0)" : : "r"(MON_PRIV_WIN_GVA + k * 4096u) : "memory");
}

extern int mon_probe_write(uint32_t addr) __attribute__((regparm(1)));

/* SET_STACK(ss, esp, pages): the VMM's rules (pvabi/desc.c), with a probe
 * where it walks the tables.  The VMM never finds a stack in the monitor's
 * own 4 MiB (its walk does not reach them): that case is its to refuse. */
static int set_stack(uint32_t ss, uint32_t esp, uint32_t pages)
{
	if (!stack_args_ok(ss, pages))
		return 0;
	for (uint32_t i = 0; i < (pages ? pages : 1); i++) {
		uint32_t a = esp - 1 - i * 4096u;
		if (a >= MON_GVA || !mon_probe_write(a))
			return 0;
	}
	priv_begin();
	*(volatile uint32_t *)(MON_GVA + MON_TSS_OFF + TSS_ESP1) = esp;
	*(volatile uint32_t *)(MON_GVA + MON_TSS_OFF + TSS_SS1) = ss & 0xFFFF;
	priv_end();
	return 1;
}

/* LOAD_TLS(gpa): three descriptors at a guest-physical address, read as the
 * VMM would (anywhere below the limit it accepts), fixed up, installed. */
static int load_tls(uint32_t gpa)
{
	const uint32_t len = DESC_TLS_COUNT * 8;
	if (gpa >= CONFIG->ram_size || CONFIG->ram_size - gpa < len)
		return 0; /* the VMM's "bad read address" */
	priv_begin();
	priv_window(0, gpa, false);
	priv_window(1, gpa + 4096u, false);
	const volatile uint32_t *src =
		(const volatile uint32_t *)(MON_PRIV_WIN_GVA + (gpa & 0xFFFu));
	volatile uint32_t *gdt = (volatile uint32_t *)(MON_GVA + MON_GDT_OFF);
	for (unsigned i = 0; i < DESC_TLS_COUNT; i++) {
		uint64_t d = desc_fixup((uint64_t)src[i * 2 + 1] << 32 | src[i * 2]);
		gdt[(DESC_TLS_FIRST + i) * 2] = (uint32_t)d;
		gdt[(DESC_TLS_FIRST + i) * 2 + 1] = (uint32_t)(d >> 32);
	}
	priv_end();
	return 1;
}

/* LOAD_IDT_ENTRY(vec, lo, hi): anything but a gate to file exits (the
 * VMM ignores the host's vectors and kills bad ones; both are rare). */
static int load_idt_entry(uint32_t vec, uint32_t lo, uint32_t hi)
{
	uint32_t glo, ghi;
	if (idt_guest_gate(vec, lo, hi, &glo, &ghi) != IDT_SET)
		return 0;
	uint64_t real = idt_real_entry(vec, glo, ghi, CONFIG->vmcall);
	priv_begin();
	volatile uint32_t *gates = (volatile uint32_t *)(MON_GVA + MON_GATES_OFF);
	volatile uint32_t *idt = (volatile uint32_t *)(MON_GVA + MON_IDT_OFF);
	gates[vec * 2] = glo;
	gates[vec * 2 + 1] = ghi;
	idt[vec * 2] = (uint32_t)real;
	idt[vec * 2 + 1] = (uint32_t)(real >> 32);
	priv_end();
	return 1;
}

/* LOAD_GDT_ENTRY(idx, lo, hi): a host slot is ignored, a bad index exits
 * (the VMM kills it). */
static int load_gdt_entry(uint32_t idx, uint32_t lo, uint32_t hi)
{
	if (idx >= DESC_GDT_ENTRIES)
		return 0;
	if (desc_host_slot(idx))
		return 1;
	uint64_t d = desc_fixup((uint64_t)hi << 32 | lo);
	priv_begin();
	volatile uint32_t *gdt = (volatile uint32_t *)(MON_GVA + MON_GDT_OFF);
	gdt[idx * 2] = (uint32_t)d;
	gdt[idx * 2 + 1] = (uint32_t)(d >> 32);
	priv_end();
	return 1;
}

/* NEW_PGTABLE(dir): pvabi/pgtable.c's rules, then the switch.  cr3_want is
 * the one home of the current directory: the VMM reads it back at its next
 * exit.  The monitor must be in the new tables first:
 *   non-PAE: a page-aligned directory the VMM could write; the monitor's
 *     entry goes in its slot 1023 (the guest reserved it);
 *   PAE (pae_install_monitor): a 32-byte aligned directory-pointer table
 *     whose entry 3 is present, below 4 GiB, and leads to a PMD the VMM
 *     could write; the monitor's entry goes in slot 510 of that PMD (Linux
 *     shares it between its directories: this mostly rewrites what is
 *     there). */
static int new_pgtable(uint32_t dir)
{
	const uint32_t limit = CONFIG->ram_size, pae = CONFIG->pae;
	if ((dir & (pae ? 0x1Fu : 0xFFFu)) || dir >= limit || limit - dir < (pae ? 32u : 4096u))
		return 0; /* the VMM's "bad (PAE) page directory" */
	priv_begin();
	uint32_t table = dir, slot = PDE_SLOT_MONITOR, entry = MON_PDE;
	int ok = 1;
	if (pae) {
		priv_window(0, dir, false);
		const volatile uint32_t *e =
			(const volatile uint32_t *)(MON_PRIV_WIN_GVA + (dir & 0xFFFu)) + 3 * 2;
		table = e[0] & 0xFFFFF000u;
		ok = (e[0] & PTE_P) && !e[1] && table < limit && limit - table >= 4096u;
		slot = PMD_SLOT_MONITOR * 2;
		entry = MON_PAE_PMD;
	}
	if (ok) {
		priv_window(1, table, true);
		volatile uint32_t *t = (volatile uint32_t *)(MON_PRIV_WIN_GVA + 4096u);
		if (pae)
			t[slot + 1] = 0;
		t[slot] = entry;
		SHARED->cr3_want = dir;
	}
	priv_end();
	return ok;
}

/* NOTIFY(addr): only a ring KVM has a doorbell for; the VMM compares page
 * frames (virtio/lguest_bus.c: vbus_notify), so does this. */
static int notify(uint32_t addr)
{
	const volatile struct mon_config *c = CONFIG;
	uint32_t pfn = addr >> 12, n = c->notify_n;
	for (uint32_t i = 0; i < n && i < MON_NOTIFY_MAX; i++)
		if (c->notify_pfn[i] == pfn) {
			__asm__ volatile("outl %0, %1"
					 :
					 : "a"(pfn), "Nd"(MON_NOTIFY_PORT)
					 : "memory");
			return 1;
		}
	return 0;
}

/* A page-table call's verdict (pvabi/tlb_rules.h), or -1 for the others. */
static int tlb_verdict(uint8_t action, const uint32_t a[4])
{
	uint32_t cur = SHARED->cr3_want;
	switch (action) {
	case MON_ACT_NOP:
		return TLB_NOTHING;
	case MON_ACT_FLUSH_TLB:
		return TLB_FLUSH;
	case MON_ACT_SET_PTE:
		return tlb_set_pte(cur, CONFIG->kernel_address, a[0], a[1]);
	case MON_ACT_SET_PMD:
		return tlb_set_pmd(cur, a[0], a[1]);
	case MON_ACT_SET_PGD_PAE:
		return tlb_set_pgd_pae(cur, a[0], a[1]);
	case MON_ACT_SET_PMD_PAE:
		return tlb_set_pmd_pae(a[1]);
	}
	return -1;
}

/* One call, synchronous or from the ring: 1 if done, 0 if the VMM must do it. */
static int do_call(uint32_t nr, const uint32_t a[4])
{
	if (nr >= 32)
		return 0;
	uint8_t action = CONFIG->action[nr];
	int v = tlb_verdict(action, a), ok;
	switch (v) {
	case TLB_HOST:
		return 0;
	case TLB_FLUSH:
		flush();
		ok = 1;
		break;
	case TLB_NOTHING:
		ok = 1;
		break;
	default:
		ok = action == MON_ACT_SET_STACK	? set_stack(a[0], a[1], a[2])
		     : action == MON_ACT_LOAD_TLS	? load_tls(a[0])
		     : action == MON_ACT_LOAD_GDT_ENTRY ? load_gdt_entry(a[0], a[1], a[2])
		     : action == MON_ACT_LOAD_IDT	? load_idt_entry(a[0], a[1], a[2])
		     : action == MON_ACT_NOTIFY		? notify(a[0])
		     : action == MON_ACT_CLOCK		? (clock_set(a[0]), 1)
		     : action == MON_ACT_NEW_PGTABLE	? new_pgtable(a[0])
		     : action == MON_ACT_TS ? (SHARED->cr0_want = LG_CR0 | (a[0] ? CR0_TS : 0), 1)
					    : 0;
		break;
	}
	if (ok)
		SHARED->handled_nr[nr]++;
	return ok;
}

/* The async ring (docs/abi.md §3.6), through the monitor's own mapping of
 * lguest_data: run what is queued, in order.  0 if an entry needs the VMM:
 * async_next then names it, and the VMM goes on from there. */
static int drain(void)
{
	const volatile struct mon_config *c = CONFIG;
	volatile struct mon_shared *s = SHARED;
	if (!c->ld_mapped)
		return 0;
	const uint32_t ld = MON_LD_GVA + c->ld_off;
	volatile uint8_t *status = (volatile uint8_t *)(ld + c->ring_status_off);
	unsigned entries = c->ring_entries;
	for (unsigned n = 0; n < entries; n++) {
		unsigned i = s->async_next;
		if (i >= entries)
			return 0; /* the guest wrote our page: let the VMM judge */
		if (status[i] == 0xFF)
			return 1;
		const volatile uint8_t *slot =
			(const volatile uint8_t *)(ld + c->ring_slots_off + i * c->ring_slot_size);
		uint32_t nr = *(const volatile uint32_t *)(slot + c->slot_nr_off);
		uint32_t a[4] = {0, 0, 0, 0};
		for (int j = 0; j < 4; j++)
			if (c->slot_arg_off[j] != MON_LD_NONE)
				a[j] = *(const volatile uint32_t *)(slot + c->slot_arg_off[j]);
		if (!do_call(nr, a))
			return 0;
		s->async_next = (i + 1) % entries;
		__atomic_store_n(&status[i], 0xFF, __ATOMIC_RELEASE);
	}
	return 1;
}

extern char mon_probe_insn[], mon_probe_fail[], mon_probe_read_insn[], mon_probe_read_fail[],
	mon_probe_store_insn[], mon_probe_store_fail[];
extern int mon_probe_store32(uint32_t addr, uint32_t val) __attribute__((regparm(2)));
extern int mon_probe_read8(uint32_t addr) __attribute__((regparm(1)));

/* Does the logged write change the monitor's copy of the console's window?
 * Bytes 4 (bar) and 8-15 (offset, length) are the writable ones
 * (virtio/pci.c: pci_set_window). */
static void cap_bytes(uint32_t reg, uint32_t size, uint32_t val, unsigned window)
{
	volatile struct mon_shared *s = SHARED;
	for (uint32_t i = 0; i < size; i++) {
		uint32_t at = reg + i - window;
		if (at == 4 || (at >= 8 && at < 16))
			s->con_cap[at - 4] = (uint8_t)(val >> (8 * i));
	}
}

static uint32_t cap32(unsigned at)
{
	const volatile uint8_t *c = SHARED->con_cap + (at - 4);
	return c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
}

/* A write to 0xCF8-0xCFF the VMM may see later: 1 if logged. */
static int pci_write(uint32_t port, uint32_t size, uint32_t val)
{
	const volatile struct mon_config *c = CONFIG;
	volatile struct mon_shared *s = SHARED;
	volatile struct mon_pio_log *log = (volatile struct mon_pio_log *)(MON_GVA + MON_PIO_OFF);
	uint32_t n = log->count;
	if (n >= MON_PIO_MAX)
		return 0; /* full: the VMM replays the log, then does this one */
	if (port < PCI_CONFIG_DATA) {
		/* The address latch, as pci_port_write keeps it. */
		uint32_t off = port - PCI_CONFIG_ADDRESS;
		if (off + size <= 4) {
			uint32_t m = pio_mask(size) << (8 * off);
			s->pci_latch = (s->pci_latch & ~m) | ((val << (8 * off)) & m);
		}
	} else {
		uint32_t off = port - PCI_CONFIG_DATA, a = s->pci_latch;
		if (off + size <= 4) { /* else the VMM ignores it too */
			if (!pio_pci_addressed(a, 1u << (c->con_slot & 31)))
				return 0; /* another function's register: the VMM's */
			uint32_t reg = (a & 0xFC) + off, w = c->con_window;
			if (!w)
				return 0;
			if (reg >= w + 4 && reg + size <= w + 16) {
				cap_bytes(reg, size, val, w);
			} else if (reg >= w + 16 && reg + size <= w + 20) {
				/* pci_cfg_data: a write through the window,
				 * which must be emerg_wr and nothing else. */
				uint32_t len = cap32(12);
				if (s->con_cap[0] != 0 || cap32(8) != c->con_emerg_off ||
				    !(len == 1 || len == 2 || len == 4) || cap32(8) % len)
					return 0;
			} else {
				return 0;
			}
		}
	}
	log->e[n].port = (uint16_t)port;
	log->e[n].size = (uint8_t)size;
	log->e[n].val = val;
	log->count = n + 1;
	return 1;
}

/* A ring-1 `in`, answered as pvabi/traps.c would: the PCI address latch,
 * all ones from a config data port that addresses no device (the early PCI
 * scan of a 4.x boot makes ~800 such reads), what an idle port reads
 * elsewhere; a register of a device that is there is the VMM's (0). */
static int pio_read(struct mon_regs *r, uint32_t port, unsigned size)
{
	const volatile struct mon_config *c = CONFIG;
	uint32_t val, latch = SHARED->pci_latch;
	if (c->pio_mode == MON_PIO_PCI && port >= PCI_CONFIG_ADDRESS && port < PCI_CONFIG_DATA) {
		uint32_t off = port - PCI_CONFIG_ADDRESS;
		val = off + size <= 4 ? latch >> (8 * off) : 0xFFFFFFFFu;
	} else if (c->pio_mode == MON_PIO_PCI && port >= PCI_CONFIG_DATA &&
		   port < PCI_CONFIG_DATA + 4) {
		if (port - PCI_CONFIG_DATA + size <= 4 && pio_pci_addressed(latch, c->pci_present))
			return 0;
		val = 0xFFFFFFFFu;
	} else {
		val = pio_idle_read(port, size);
	}
	uint32_t mask = pio_mask(size);
	r->f.eax = (r->f.eax & ~mask) | (val & mask);
	return 1;
}

/* A ring-1 `in` or `out` that faulted: 1 if finished here (EIP stepped
 * over it). */
static int pio_access(struct mon_regs *r)
{
	const volatile struct mon_config *c = CONFIG;
	uint8_t b[3];
	struct pio_insn p = {0, 0, false, 0};
	int d = -1;
	for (unsigned n = 0; d < 0 && n < sizeof(b); n++) {
		int v = mon_probe_read8(r->f.eip + n);
		if (v < 0)
			return 0;
		b[n] = (uint8_t)v;
		d = pio_decode(b, n + 1, &p);
	}
	if (d <= 0)
		return 0;
	uint32_t port = p.port == PIO_PORT_DX ? (r->edx & 0xFFFF) : p.port;
	uint32_t val = r->f.eax & pio_mask(p.size);
	if (!p.out) {
		if (!pio_read(r, port, p.size))
			return 0;
		r->f.eip += p.len;
		SHARED->handled_pio++;
		return 1;
	}
	if (port == 0x64)
		return 0; /* the keyboard controller: maybe a restart */
	if (c->pio_mode == MON_PIO_PCI && port >= PCI_CONFIG_ADDRESS &&
	    port < PCI_CONFIG_DATA + 4) {
		if (!pci_write(port, p.size, val))
			return 0;
	}
	/* Anything else is dropped, as the VMM drops it. */
	r->f.eip += p.len;
	SHARED->handled_pio++;
	return 1;
}

/* Enter the guest's handler for `vec` as pvabi/traps.c's lg_deliver would:
 * the frame pushed with probed stores on the ring-1 stack (the one SET_STACK
 * named, coming from ring 3), with the error code if the vector has one,
 * and the monitor's frame pointed at the handler.  -1: the guest has no
 * handler; 0: the stack cannot take the frame (or lies in the monitor's 4
 * MiB).  Either way nothing has changed, and the VMM's turn reports it. */
static int enter_gate(struct mon_regs *r, uint32_t ld, unsigned vec, int has_err, uint32_t err)
{
	const volatile struct mon_config *c = CONFIG;
	const volatile uint32_t *gates = (const volatile uint32_t *)(MON_GVA + MON_GATES_OFF);
	uint32_t glo = gates[vec * 2], ghi = gates[vec * 2 + 1];
	if (!(ghi & 0x8000))
		return -1;
	uint32_t enabled = *LD_AT(ld, c->ld_irq_enabled);
	/* From ring 3 the CPU would switch to the stack SET_STACK named. */
	bool sw = (r->f.cs & 3) != 1;
	uint32_t ss = r->f.ss, esp = r->f.esp;
	if (sw) {
		esp = *(const volatile uint32_t *)(MON_GVA + MON_TSS_OFF + TSS_ESP1);
		ss = *(const volatile uint32_t *)(MON_GVA + MON_TSS_OFF + TSS_SS1) & 0xFFFF;
		if (!ss)
			return 0;
	}
	if ((ss & 4) || (ss >> 3) >= DESC_GDT_ENTRIES)
		return 0;
	const volatile uint32_t *gdt = (const volatile uint32_t *)(MON_GVA + MON_GDT_OFF);
	uint32_t base = desc_base((uint64_t)gdt[(ss >> 3) * 2 + 1] << 32 | gdt[(ss >> 3) * 2]);
	uint32_t words[6], n = 0;
	if (sw) {
		words[n++] = r->f.ss;
		words[n++] = r->f.esp;
	}
	words[n++] = deliver_eflags(r->f.eflags, enabled);
	words[n++] = r->f.cs;
	words[n++] = r->f.eip;
	if (has_err)
		words[n++] = err;
	for (uint32_t i = 0; i < n; i++) {
		esp -= 4;
		uint32_t a = base + esp;
		if (a > MON_GVA - 4 || !mon_probe_store32(a, words[i]))
			return 0;
	}
	if (deliver_frame(&r->f, glo, ghi, esp, ss))
		*LD_AT(ld, c->ld_irq_enabled) = 0;
	return 1;
}

/* What the VMM does on the way back from every event (pvabi/traps.c's
 * lg_maybe_interrupt, docs/abi.md §5.5): deliver the IRQ that may go in now,
 * as lg_deliver would, or say in irq_pending why none does.  On the kick
 * vector (from_kick) that is the whole event; after a call or trap the
 * monitor finished, it is the last step.  0 leaves the delivery to the VMM
 * (no handler, no ring-1 stack, a stack the guest cannot write or in the
 * monitor's 4 MiB; on a kick, an IRQ held back with no clock to look again):
 * nothing is changed before the last push has succeeded. */
int mon_deliver_irq(struct mon_regs *r, uint32_t ld, int from_kick)
{
	const volatile struct mon_config *c = CONFIG;
	volatile struct mon_shared *s = SHARED;
	uint32_t cand = s->irq_pending & ~*LD_AT(ld, c->ld_blocked);
	uint32_t enabled = *LD_AT(ld, c->ld_irq_enabled);
	bool noirq = r->f.eip >= c->noirq_start && r->f.eip < c->noirq_end;
	int irq = -1;
	enum irq_wait why = irq_pick(cand, noirq, false, enabled, &irq);
	if (why == IRQ_NONE) {
		/* Already delivered (a kick can outlive its reason): nothing to
		 * do, as the VMM would find -- but say so in irq_pending.  One
		 * that is pending but masked is looked at again in 10 ms, as the
		 * VMM would (pvabi/time.c): a 2.6.24 guest's first tick comes
		 * before it unmasks IRQ 0, and the guest then spins waiting. */
		if (c->ld_irq_pending != MON_LD_ABSENT)
			*LD_AT(ld, c->ld_irq_pending) = 0;
		if (c->apic_clock && s->irq_pending)
			clock_recheck(MON_RECHECK_MASKED_NS);
		return 1;
	}
	if (why != IRQ_GO) {
		/* Held back by irq_enabled or the no-interrupt window: look
		 * again in 2 ms, as the VMM would (pvabi/time.c), on the
		 * LAPIC's timer (clock.c) -- and tell a 2.6.31+ guest to ask
		 * when it re-enables. */
		if (c->apic_clock) {
			clock_recheck(MON_RECHECK_NS);
			s->kick_rechecks += from_kick;
		} else if (from_kick) {
			s->kick_declined[why & 3]++;
			return 0;
		}
		int64_t note = irq_pending_note(why);
		if (c->ld_irq_pending != MON_LD_ABSENT && note >= 0)
			*LD_AT(ld, c->ld_irq_pending) = (uint32_t)note;
		return 1;
	}
	int done = enter_gate(r, ld, 32 + (unsigned)irq, 0, 0);
	if (done < 0 && from_kick)
		s->kick_declined[IRQ_GO]++;
	if (done <= 0)
		return 0;
	__atomic_fetch_and(&s->irq_pending, ~(1u << irq), __ATOMIC_SEQ_CST);
	s->handled_irqs++;
	if (c->apic_clock)
		clock_write_time(ld); /* as lg_maybe_interrupt does */
	return 1;
}

/* An event finished here whose interrupt the monitor could not deliver (no
 * handler, a stack that cannot take the frame): exit as for the kick vector,
 * so that the VMM delivers it -- or kills, with its reason -- and does not
 * do the event again. */
static int vmm_delivers(struct mon_regs *r)
{
	r->f.vector = MON_KICK_VECTOR;
	return 0;
}

/* The VMM's requests, after an exit (entry.S calls this when vmm_req is
 * set): the clock event it took from a hypercall the monitor left to it,
 * and the halt it hands back.  0 leaves an interrupt for the VMM: the frame
 * then says "kick vector", so that the VMM delivers and does nothing else. */
__attribute__((regparm(1), used)) int mon_request(struct mon_regs *r)
{
	volatile struct mon_shared *s = SHARED;
	uint32_t req = __atomic_exchange_n(&s->vmm_req, 0u, __ATOMIC_SEQ_CST);
	if ((uint32_t)r != REGS_AT || !CONFIG->apic_clock || !CONFIG->ld_mapped)
		return 1; /* a scribbled word: nothing was asked */
	if (req & MON_REQ_CLOCK)
		clock_set(s->req_clock_ns);
	if ((req & MON_REQ_HALT) && !clock_halt(r, MON_LD_GVA + CONFIG->ld_off))
		return vmm_delivers(r);
	return 1;
}

/* Called by entry.S for every event; nonzero means "done, back to the
 * guest as the frame says". */
__attribute__((regparm(1), used)) int mon_fast(struct mon_regs *r)
{
	/* The kick or timer vector from the in-kernel LAPIC: acknowledge it
	 * first, whatever happens next, or the next would wait behind it. */
	if (MON_HOST_VECTOR(r->f.vector & 0xFF) && CONFIG->x2apic_eoi)
		mon_wrmsr(0x80Bu, 0);
	/* The timer: settle the deadlines it was programmed for (clock.c);
	 * IRQ 0 may be pending now, and is delivered like any kick's. */
	if ((r->f.vector & 0xFF) == MON_TIMER_VECTOR && CONFIG->apic_clock)
		clock_fired();
	/* A fault inside the monitor itself nests on its stack.  The only one
	 * we expect is the probe's; anything else is the VMM's to report --
	 * but for the kick and timer vectors that end the `hlt` of a halt
	 * (clock.c): the halt loop looks at what they brought. */
	if ((uint32_t)r != REGS_AT) {
		if (MON_HOST_VECTOR(r->f.vector & 0xFF) && SHARED->halted && CONFIG->apic_clock)
			return 1;
		if ((r->f.vector & 0xFF) == 14 && r->f.eip == (uint32_t)mon_probe_insn) {
			r->f.eip = (uint32_t)mon_probe_fail;
			return 1;
		}
		if ((r->f.vector & 0xFF) == 14 && r->f.eip == (uint32_t)mon_probe_read_insn) {
			r->f.eip = (uint32_t)mon_probe_read_fail;
			return 1;
		}
		if ((r->f.vector & 0xFF) == 14 && r->f.eip == (uint32_t)mon_probe_store_insn) {
			r->f.eip = (uint32_t)mon_probe_store_fail;
			return 1;
		}
		return 0;
	}
	const volatile struct mon_config *c = CONFIG;
	unsigned vec = r->f.vector & 0xFF;
	if (!c->ld_mapped)
		return 0;
	if (MON_HOST_VECTOR(vec))
		return c->deliver && mon_deliver_irq(r, MON_LD_GVA + c->ld_off, 1);
	unsigned ring = r->f.cs & 3;
	int hcall = ring == 1 && vec == 0x1F,
	    pio = ring == 1 && vec == 13 && r->f.errcode == 0 && c->pio_mode != MON_PIO_EXIT,
	    pf = (ring == 1 || ring == 3) && vec == 14 && c->reflect_traps &&
		 !(c->pf_fetch_exits && r->f.cr2 == r->f.eip),
	    /* `int n` through a gate that could not be direct: from 4.2 the
	     * system call, an interrupt gate, whose delivery clears the
	     * virtual IF (pvabi/traps.c delivers these the same way).  IRQ
	     * vectors and ours have DPL 0: software never gets here. */
		soft = (ring == 1 || ring == 3) && vec >= 32 && c->reflect_traps &&
		       !MON_HOST_VECTOR(vec) && !idt_irq_vector(vec);
	if (!hcall && !pio && !pf && !soft)
		return 0;
	if (hcall && (r->f.eax >= 32 || c->action[r->f.eax] == MON_ACT_VMM))
		return 0;
	const uint32_t ld = MON_LD_GVA + c->ld_off;
	if (hcall) {
		uint32_t a[4];
		for (int j = 0; j < 4; j++)
			a[j] = reg(r, c->arg_reg[j]);
		/* The ring first, as the VMM would; then the call itself.
		 * HALT sleeps here and returns through the interrupt that
		 * ended it (clock.c). */
		if (!drain())
			return 0;
		if (c->action[r->f.eax] == MON_ACT_HALT) {
			SHARED->handled_nr[r->f.eax]++;
			SHARED->handled++;
			return clock_halt(r, ld) ? 1 : vmm_delivers(r);
		}
		if (!do_call(r->f.eax, a))
			return 0;
	} else if (pio) {
		if (!pio_access(r))
			return 0;
	} else if (pf) {
		/* A page fault: the guest reads CR2 from lguest_data. */
		*LD_AT(ld, c->ld_cr2) = r->f.cr2;
		if (enter_gate(r, ld, 14, 1, r->f.errcode) <= 0)
			return 0; /* the VMM's kill says why */
		SHARED->handled_pf++;
	} else {
		if (enter_gate(r, ld, vec, 0, 0) <= 0)
			return 0;
		SHARED->handled_soft++;
	}
	SHARED->handled++;
	/* The VMM delivers an interrupt on the way back from every event, and
	 * guests count on it (a 2.6.31+ guest's SEND_INTERRUPTS is nothing
	 * else): so does the monitor, on the frame as the event left it.  If
	 * it cannot, the event is done and the VMM only delivers. */
	if (c->deliver && !mon_deliver_irq(r, ld, 0))
		return vmm_delivers(r);
	return 1;
}
