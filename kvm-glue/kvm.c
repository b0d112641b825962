/* /dev/kvm: opening it, building the VM and its memory, and the vCPU's
 * initial state.  The run loop lives in vcpu.c. */
#include "kvm-glue/kvm.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>
#include <unistd.h>

#include "kvm-glue/vcpu.h"
#include "src/vm.h"

#define RAM_ALIGN    (2u << 20)	 /* first touch of a 2 MiB-aligned page is ~100x cheaper */
#define KVM_TSS_ADDR 0xFFFBD000u /* VMX needs three pages somewhere; above the monitor */

enum { SLOT_RAM = 0, SLOT_MON_RO = 1, SLOT_MON_RW = 2, SLOT_MON_GDT = 3 };

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The rate of the guest's TSC, for lguest_data.tsc_khz (docs/abi.md §H1.6).
 * A guest told 0 falls back to calibrating against the PIT, which lguest
 * does not have: a 4.x kernel loses ~2 s of every boot to that, and 2.6.24's
 * clock steps in 10 ms.  KVM knows the rate it gives the vCPU; a KVM that
 * says 0 (the nested test host's) runs the guest on the host's TSC
 * unscaled, so we time that against CLOCK_MONOTONIC ourselves: 5 ms, taken
 * twice, keeping the pass with the shortest clock reads around it. */
static uint32_t guest_tsc_khz(struct kvm_state *k)
{
	int khz = ioctl(k->vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0)
		return (uint32_t)khz;
	uint64_t best = 0, best_slop = UINT64_MAX;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t t0 = mono_ns(), c0 = __rdtsc(), t0b = mono_ns(), t1, c1, t1b;
		do {
			t1 = mono_ns();
			c1 = __rdtsc();
			t1b = mono_ns();
		} while (t1 - t0 < 5000000);
		uint64_t slop = (t0b - t0) + (t1b - t1);
		uint64_t ns = (t1 + t1b) / 2 - (t0 + t0b) / 2;
		if (slop < best_slop && ns) {
			best_slop = slop;
			best = (c1 - c0) * 1000000u / ns;
		}
	}
	k->tsc_measured = true;
	return best > UINT32_MAX ? 0 : (uint32_t)best;
}

/* The guest's TSC is the host's plus an offset KVM chose (unscaled: we never
 * ask for another rate).  Learn it once, so that lgkvm can read the guest's
 * TSC with a plain rdtsc: the monitor keeps lguest_data.time from the TSC,
 * anchored where the VMM last wrote it (kvm_guest_tsc). */
static void guest_tsc_offset(struct kvm_state *k)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {.hdr.nmsrs = 1, .e = {.index = 0x10 /* IA32_TSC */}};
	uint64_t c0 = __rdtsc();
	if (ioctl(k->vcpu_fd, KVM_GET_MSRS, &m) != 1)
		return;
	uint64_t c1 = __rdtsc();
	k->tsc_offset = m.e.data - (c0 + (c1 - c0) / 2);
	k->tsc_offset_ok = true;
}

void kvm_learn_tsc_offset(struct vm *vm)
{
	vm->kvm.tsc_offset_ok = false;
	guest_tsc_offset(&vm->kvm);
}

uint64_t kvm_guest_tsc(const struct vm *vm)
{
	return vm->kvm.tsc_offset_ok ? __rdtsc() + vm->kvm.tsc_offset : 0;
}

int kvm_open(struct kvm_state *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	k->kvm_fd = k->vm_fd = k->vcpu_fd = -1;
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0) {
		snprintf(err, errlen,
			 "cannot open /dev/kvm (%s); lgkvm needs KVM: load kvm_intel or kvm_amd, "
			 "or use the test host (tests/testhost/run)",
			 strerror(errno));
		return -1;
	}
	if (ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm speaks an unknown KVM API version");
		return -1;
	}
	/* What we cannot do without: sync regs (per-exit register ioctls cost
	 * more than the exit), read-only memslots (the monitor), and the
	 * userspace-irqchip interrupt path (KVM_INTERRUPT). */
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
		{KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
		{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
		{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			snprintf(err, errlen, "this host's KVM lacks %s, which lgkvm needs",
				 need[i].name);
			return -1;
		}
	}
	if (!(ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS)) {
		snprintf(err, errlen, "this host's KVM cannot sync x86 registers");
		return -1;
	}
	int sz = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return fail(err, errlen, "KVM_GET_VCPU_MMAP_SIZE");
	k->run_size = (size_t)sz;
	return 0;
}

uint8_t kvm_tr_type_for_vendor(const char vendor[12])
{
	/* The one vendor-dependent rule.  VMX's entry checks insist on a busy
	 * 32-bit TSS (type 11) in TR.  kvm_amd reports TR as busy too, but
	 * QEMU's emulated SVM (our nested test host) aborts the whole machine
	 * ("invalid tss type") when a guest interrupt changes privilege with a
	 * busy cached TR; SVM itself does not care, so AMD gets the available
	 * type 9. */
	if (memcmp(vendor, "AuthenticAMD", 12) == 0 || memcmp(vendor, "HygonGenuine", 12) == 0)
		return 9;
	return 11;
}

static void host_vendor(char vendor[12])
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	(void)a;
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
}

/* An AMD host without NRIP-save (next-RIP on #VMEXIT): KVM must decode an
 * instruction to step over it.  (QEMU's emulated SVM, our test host, is one.) */
static bool host_lacks_nrips(void)
{
	unsigned a, b, c, d;
	char vendor[12];
	host_vendor(vendor);
	if (memcmp(vendor, "AuthenticAMD", 12) != 0 && memcmp(vendor, "HygonGenuine", 12) != 0)
		return false;
	if (!__get_cpuid(0x8000000A, &a, &b, &c, &d))
		return true;
	return !(d & (1u << 3));
}

/* CPUID for an old guest: what KVM supports, minus what a 2.6.24 kernel
 * cannot know about.  The lguest guest filters leaf 1 itself (docs/abi.md §10.1);
 * we additionally hide the hypervisor leaves (a 2.6.24 guest has no use for
 * kvmclock and must not try) and report whether the TSC is invariant. */
static int setup_cpuid(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;
	int n = 128;
	struct kvm_cpuid2 *c = NULL;
	for (;;) {
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return fail(err, errlen, "allocating CPUID");
		c->nent = (uint32_t)n;
		if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		free(c);
		if (errno != E2BIG || n > 4096)
			return fail(err, errlen, "KVM_GET_SUPPORTED_CPUID");
		n *= 2;
	}
	uint32_t out = 0;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function >= 0x40000000 && e->function < 0x50000000)
			continue;
		if (e->function == 1)
			e->ecx &= ~(1u << 31); /* no "running under a hypervisor" */
		/* Guests before 2.6.29 believe family 6 model >= 0xD and read
		 * MSR_IA32_MISC_ENABLE in early_init_intel: a #GP at ring 1.
		 * 2.6.29 taught the guest to say family 5 itself; we say it for
		 * the older ones (docs/abi.md §H1.6). */
		if (e->function == 1 && k->cpuid_family5)
			e->eax = (e->eax & ~0x0FF00FF0u) | 0x500u;
		c->entries[out++] = *e;
	}
	c->nent = out;
	int r = ioctl(k->vcpu_fd, KVM_SET_CPUID2, c);
	if (r < 0) {
		free(c);
		return fail(err, errlen, "KVM_SET_CPUID2");
	}
	/* Keep what we told KVM: with CPUID faulting on, we answer. */
	k->ncpuid = c->nent;
	k->cpuid = malloc(c->nent * sizeof(c->entries[0]));
	if (k->cpuid)
		memcpy(k->cpuid, c->entries, c->nent * sizeof(c->entries[0]));
	free(c);
	/* CPUID faulting: CPUID below ring 0 raises #GP, which the monitor
	 * routes to us, instead of exiting to KVM.  KVM then never has to
	 * decode a CPUID to step over it -- which it must on an AMD host
	 * without NRIP-save, walking the guest's tables in software, and which
	 * fails on PAE tables whose directory-pointer entries carry bits it
	 * calls reserved (seen in the test host: docs/DESIGN.md §8.2).  Only
	 * there: every CPUID then costs a trip to us (a 3.10 boot makes ~3000),
	 * where KVM alone would have answered.  A KVM that cannot do it leaves
	 * CPUID to KVM, as before. */
	if (k->pae_guest && host_lacks_nrips()) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} m = {.hdr.nmsrs = 1,
		       .e = {.index = 0x140 /* MSR_MISC_FEATURES_ENABLES */, .data = 1}};
		k->cpuid_faults = k->cpuid && ioctl(k->vcpu_fd, KVM_SET_MSRS, &m) == 1;
	}
	k->tsc_khz = guest_tsc_khz(k);
	guest_tsc_offset(k);
	return 0;
}

static int add_slot(struct kvm_state *k, uint32_t slot, uint64_t gpa, uint64_t size, void *host,
		    uint32_t flags, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail(err, errlen, "KVM_SET_USER_MEMORY_REGION");
	return 0;
}

/* The LAPIC the monitor owns (the guest never sees it: lguest kernels mask
 * the APIC bits of CPUID and have no APIC code to run).  x2APIC, so the
 * monitor's EOI is a `wrmsr` -- no MMIO for KVM to decode, which it cannot
 * on AMD hosts without decode assists for PAE guests (§8.2) -- enabled, with
 * every LVT masked but the timer's: MSIs bring the kick vector, and the
 * timer, one-shot, counting nanoseconds (KVM's LAPIC runs at 1 GHz; divide
 * by 1), brings MON_TIMER_VECTOR.  The monitor programs it: the guest's
 * clock event, and its own re-check of an interrupt the guest held back
 * (kvm-glue/monitor/clock.c). */
#define MSR_APIC_BASE	     0x1B
#define APIC_BASE_BSP	     0x100
#define APIC_BASE_EXTD	     0x400
#define APIC_BASE_EN	     0x800
#define MSR_X2APIC_SVR	     0x80F
#define APIC_SVR_ENABLE	     0x100
#define APIC_SPURIOUS_VEC    0xFF
#define MSR_X2APIC_LVT_TIMER 0x832
#define MSR_X2APIC_TIMER_DIV 0x83E
#define APIC_TIMER_DIV_1     0xB

static int setup_lapic(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;
	if (!k->irqchip)
		return 0;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[4];
	} m = {.hdr.nmsrs = 4,
	       .e = {{.index = MSR_APIC_BASE,
		      .data = 0xFEE00000u | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP},
		     {.index = MSR_X2APIC_SVR, .data = APIC_SVR_ENABLE | APIC_SPURIOUS_VEC},
		     {.index = MSR_X2APIC_TIMER_DIV, .data = APIC_TIMER_DIV_1},
		     {.index = MSR_X2APIC_LVT_TIMER, .data = MON_TIMER_VECTOR}}};
	if (ioctl(k->vcpu_fd, KVM_SET_MSRS, &m) != 4)
		return fail(err, errlen, "enabling the in-kernel LAPIC (x2APIC)");
	monitor_set_x2apic_eoi(&k->mon, true);
	return 0;
}

int kvm_create_vm(struct vm *vm, uint64_t mem_size, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;

	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return fail(err, errlen, "KVM_CREATE_VM");
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0)
		return fail(err, errlen, "KVM_SET_TSS_ADDR");

	/* Guest memory: one anonymous mapping, 2 MiB aligned. */
	k->ram_alloc_size = mem_size + RAM_ALIGN;
	k->ram_alloc = mmap(NULL, k->ram_alloc_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (k->ram_alloc == MAP_FAILED) {
		k->ram_alloc = NULL;
		return fail(err, errlen, "allocating guest memory");
	}
	uintptr_t p = ((uintptr_t)k->ram_alloc + RAM_ALIGN - 1) & ~(uintptr_t)(RAM_ALIGN - 1);
	k->ram = (uint8_t *)p;
	k->ram_map_size = mem_size;
	madvise(k->ram, mem_size, MADV_HUGEPAGE);
	if (add_slot(k, SLOT_RAM, 0, mem_size, k->ram, 0, err, errlen))
		return -1;

	/* The monitor: IDT and code in a read-only memslot; the GDT/TSS page
	 * (which the monitor writes, kvm-glue/monitor.h), its page tables and
	 * its stack in writable ones (see MON_PT_OFF). */
	uint8_t *mon =
		mmap(NULL, MON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mon == MAP_FAILED)
		return fail(err, errlen, "allocating the monitor");
	monitor_init(&k->mon, mon);
	const uint32_t ro_end = (MON_RO_FIRST + MON_RO_PAGES) * 4096u;
	if (add_slot(k, SLOT_MON_GDT, MON_GPA, MON_RO_FIRST * 4096u, mon, 0, err, errlen) ||
	    add_slot(k, SLOT_MON_RO, MON_GPA + MON_RO_FIRST * 4096u, MON_RO_PAGES * 4096u,
		     mon + MON_RO_FIRST * 4096u, KVM_MEM_READONLY, err, errlen) ||
	    add_slot(k, SLOT_MON_RW, MON_GPA + ro_end, MON_SIZE - ro_end, mon + ro_end, 0, err,
		     errlen))
		return -1;

	/* The vmcall era (pvabi/vmcall.c): a ring-1 `vmcall` we failed to
	 * rewrite must come back to us as #UD, not be rewritten by KVM into
	 * `vmmcall` and answered with -KVM_EPERM.  AMD only has the quirk to
	 * switch off (Intel executes vmcall natively); a KVM too old to know it
	 * leaves only the load-time rewrite, which is the main line anyway. */
	if (k->vmcall_ud) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_DISABLE_QUIRKS2,
					     .args = {KVM_X86_QUIRK_FIX_HYPERCALL_INSN}};
		int q = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DISABLE_QUIRKS2);
		if (q > 0 && (q & KVM_X86_QUIRK_FIX_HYPERCALL_INSN))
			ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap);
	}

	/* An in-kernel LAPIC, where KVM has one and can take MSIs: the kick
	 * vector then goes in as an MSI from any thread (a device's completion
	 * reaches the monitor with no exit to us, kvm_signal_kick) and waits in
	 * the LAPIC for the guest's IF, instead of a KVM_INTERRUPT that only
	 * the vCPU thread may issue and an interrupt window.  Without it, the
	 * userspace-irqchip path, as before.  Not for a PAE guest on an AMD
	 * host without NRIP-save: KVM would have to decode the monitor's EOI
	 * `wrmsr` to step over it, and it cannot walk legacy-PAE tables there
	 * (docs/DESIGN.md §8.2; the 4.x PAE kernels died at it in the test
	 * host). */
	k->irqchip = !k->no_irqchip && !(k->pae_guest && host_lacks_nrips()) &&
		     ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) > 0 &&
		     ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0 &&
		     ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) == 0;

	k->vcpu_fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, 0);
	if (k->vcpu_fd < 0)
		return fail(err, errlen, "KVM_CREATE_VCPU");
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu_fd, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		return fail(err, errlen, "mapping kvm_run");
	}
	k->run->kvm_valid_regs = KVM_SYNC_X86_REGS;

	char vendor[12];
	host_vendor(vendor);
	k->tr_type = kvm_tr_type_for_vendor(vendor);
	if (setup_cpuid(vm, err, errlen))
		return -1;
	return setup_lapic(vm, err, errlen);
}

static struct kvm_segment flat(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xFFFFFFFF,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = sel & 3,
		.db = 1,
		.s = 1,
		.g = 1,
	};
}

int kvm_boot_vcpu(struct vm *vm, uint32_t entry, uint32_t pgdir, bool pae, char *err, size_t errlen)
{
	struct kvm_state *k = &vm->kvm;
	struct kvm_sregs s;
	if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return fail(err, errlen, "KVM_GET_SREGS");

	/* docs/abi.md §2.7: ring 1, flat segments, paging on with the boot tables. */
	s.cs = flat(SEL_KERNEL_CS, 0xB);
	s.ds = s.es = s.ss = flat(SEL_KERNEL_DS, 0x3);
	s.fs = s.gs = (struct kvm_segment){.unusable = 1};
	s.ldt = (struct kvm_segment){.type = 2, .unusable = 1};
	s.tr = (struct kvm_segment){
		.base = MON_GVA + MON_TSS_OFF,
		.limit = 0x67,
		.selector = SEL_TSS,
		.present = 1,
	};
	s.gdt.base = MON_GVA + MON_GDT_OFF;
	s.gdt.limit = 32 * 8 - 1;
	s.idt.base = MON_GVA + MON_IDT_OFF;
	s.idt.limit = 256 * 8 - 1;
	s.cr0 = LG_CR0;
	s.cr3 = pgdir;
	/* The guest cannot set OSFXSR/OSXMMEXCPT itself but uses fxsave and
	 * SSE when CPUID offers them; TSD clear so it may read the TSC. */
	s.cr4 = (1u << 9) | (1u << 10);
	/* A PAE guest never writes CR4 (it cannot): its paging mode is ours
	 * to choose, once, before its first page table (docs/abi.md §H1.5). */
	if (pae)
		s.cr4 |= 1u << 5;
	s.efer = 0;
	memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
	if (vcpu_set_sregs(vm, &s) < 0)
		return fail(err, errlen, "KVM_SET_SREGS");
	monitor_set_cr0(&k->mon, LG_CR0);
	/* The fast path reads the directory the guest runs on from here. */
	monitor_load_cr3(&k->mon, pgdir);

	struct kvm_regs r = {.rip = entry, .rflags = 0x202};
	if (ioctl(k->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return fail(err, errlen, "KVM_SET_REGS");
	return 0;
}

void kvm_destroy(struct vm *vm)
{
	struct kvm_state *k = &vm->kvm;
	if (k->timer_set)
		vcpu_timer_delete(vm);
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	if (k->mon.host)
		munmap(k->mon.host, MON_SIZE);
	free(k->cpuid);
	if (k->ram_alloc)
		munmap(k->ram_alloc, k->ram_alloc_size);
	memset(k, 0, sizeof(*k));
	k->kvm_fd = k->vm_fd = k->vcpu_fd = -1;
}

void kvm_dump_state(struct vm *vm)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vm->kvm.vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(vm->kvm.vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return;
	fprintf(stderr,
		"lgkvm: vcpu: eip %08llx eflags %08llx eax %08llx ebx %08llx ecx %08llx edx %08llx "
		"esi %08llx edi %08llx ebp %08llx esp %08llx\n",
		r.rip, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp);
	fprintf(stderr,
		"lgkvm: vcpu: cs %04x/%u ss %04x/%u ds %04x tr %04x type %u cr0 %08llx cr2 %08llx "
		"cr3 %08llx cr4 %08llx efer %llx gdt %08llx idt %08llx\n",
		s.cs.selector, s.cs.dpl, s.ss.selector, s.ss.dpl, s.ds.selector, s.tr.selector,
		s.tr.type, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.gdt.base, s.idt.base);
}
