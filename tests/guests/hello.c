/* hello: the boot contract (§2) and LHCALL_LGUEST_INIT (§3.3).
 *
 * Run as `hello.elf -- hello-arg=42` and as the bzImage variant: checks the
 * registers we were entered with, what INIT wrote into lguest_data, the zero
 * page, the command line, the boot page tables (including Linux's trick of
 * adding the PAGE_OFFSET alias with plain stores), and that a hypercall
 * preserves every register but EAX. */
#include "guest.h"

const char test_name[] = "hello";

static void check_entry_state(void)
{
	const struct boot_regs *r = &boot_regs;

	CHECK(r->cs == KERNEL_CS, "entry CS %x, want 0x61", r->cs);
	CHECK(r->ds == KERNEL_DS && r->es == KERNEL_DS && r->ss == KERNEL_DS,
	      "entry DS/ES/SS %x/%x/%x, want 0x69", r->ds, r->es, r->ss);
	CHECK(r->fs == 0 && r->gs == 0, "entry FS/GS %x/%x, want 0", r->fs, r->gs);
	CHECK(!(r->eax | r->ebx | r->ecx | r->edx | r->edi | r->ebp),
	      "entry GPRs not zero: %x %x %x %x %x %x", r->eax, r->ebx, r->ecx, r->edx, r->edi,
	      r->ebp);
	CHECK(r->esi == 0, "entry ESI %x, want 0 (zero page)", r->esi);
	CHECK(r->esp == 0, "entry ESP %x, want 0", r->esp);
	CHECK(r->eflags == 0x202, "entry EFLAGS %x, want 0x202", r->eflags);
}

static void check_init_results(uint32_t mem)
{
	uint32_t pgdir = lguest_data.pgdir;

	CHECK(lguest_data.reserve_mem == LGUEST_RESERVE_MEM, "reserve_mem %x, want 0x400000",
	      lguest_data.reserve_mem);
	CHECK(!(pgdir & 0xFFF) && pgdir < mem && pgdir >= (uint32_t)_end,
	      "pgdir %x: not a page in free RAM below %x", pgdir, mem);
	CHECK(lguest_data.time.tv_sec > 1600000000, "time.tv_sec %d is not a plausible date",
	      lguest_data.time.tv_sec);
	CHECK((uint32_t)lguest_data.time.tv_nsec < 1000000000u, "time.tv_nsec %d",
	      lguest_data.time.tv_nsec);
	printf("hello: tsc_khz %u, time %d, pgdir %x\n", lguest_data.tsc_khz,
	       lguest_data.time.tv_sec, pgdir);
}

/* The boot tables (§2.6): identity map of all RAM with flags 0x7.  A/D bits
 * may have been set by the hardware since, so they are masked. */
static uint32_t boot_pte(uint32_t va)
{
	const uint32_t *pd = gpa_ptr(lguest_data.pgdir);
	uint32_t pde = pd[va >> 22];

	CHECK((pde & 7) == 7, "boot PDE %u is %x, want present/rw/user", va >> 22, pde);
	return ((const uint32_t *)(pde & ~0xFFFu))[(va >> 12) & 1023];
}

static void check_boot_tables(uint32_t mem)
{
	uint32_t probes[] = {0, (uint32_t)_start, lguest_data.pgdir, mem - PAGE_SIZE};

	for (unsigned i = 0; i < 4; i++) {
		uint32_t pte = boot_pte(probes[i]);
		CHECK((pte & ~0xFFFu) == probes[i] && (pte & 7) == 7,
		      "boot PTE for %x is %x, want identity | 7", probes[i], pte);
	}
}

/* lguest_entry copies PDEs 0-31 to 768-799 with no hypercall and then runs
 * at 0xC0000000+; the host must pick the new PDEs up by itself. */
static volatile uint32_t alias_probe = 0x600DF00D;

static void check_page_offset_alias(void)
{
	uint32_t *pd = gpa_ptr(lguest_data.pgdir);
	volatile uint32_t *alias = (volatile uint32_t *)(0xC0000000u + (uint32_t)&alias_probe);

	for (unsigned i = 0; i < 32; i++)
		pd[768 + i] = pd[i];
	CHECK(*alias == 0x600DF00D, "read through PAGE_OFFSET alias gave %x", *alias);
	*alias = 0xA11A5ED;
	CHECK(alias_probe == 0xA11A5ED, "write through PAGE_OFFSET alias not seen");
}

static void check_zero_page(uint32_t mem)
{
	const volatile uint8_t *zp = gpa_ptr(0);
	const volatile uint32_t *e820 = gpa_ptr(BP_E820_MAP);

	CHECK(*(volatile uint16_t *)(zp + BP_VERSION) == 0x0207, "boot protocol version %x",
	      *(volatile uint16_t *)(zp + BP_VERSION));
	CHECK(zp[BP_LOADFLAGS] & LOADFLAGS_KEEP_SEGMENTS, "loadflags %x lack KEEP_SEGMENTS",
	      zp[BP_LOADFLAGS]);
	CHECK(*(volatile uint32_t *)(zp + BP_HARDWARE_SUBARCH) == SUBARCH_LGUEST,
	      "hardware_subarch %u, want 1 (lguest)",
	      *(volatile uint32_t *)(zp + BP_HARDWARE_SUBARCH));
	CHECK(zp[BP_E820_ENTRIES] == 1, "e820_entries %u, want 1", zp[BP_E820_ENTRIES]);
	CHECK(e820[0] == 0 && e820[1] == 0 && e820[3] == 0 && e820[4] == E820_RAM,
	      "e820[0] = {%x%08x, %x%08x, %u}, want {0, mem, 1}", e820[1], e820[0], e820[3],
	      e820[2], e820[4]);
	CHECK(mem && !(mem & 0xFFF) && mem > (uint32_t)_end, "RAM size %x", mem);
	CHECK(*(volatile uint32_t *)(zp + BP_CMD_LINE_PTR) == 0x1000, "cmd_line_ptr %x",
	      *(volatile uint32_t *)(zp + BP_CMD_LINE_PTR));
	CHECK(cmdline_has("hello-arg=42"), "command line \"%s\" lacks hello-arg=42",
	      (const char *)gpa_ptr(0x1000));
}

/* All registers but EAX survive a hypercall, flags included (§3.1). */
uint32_t regs_after[8]; /* global: written only by the asm below */

static void check_hcall_preserves_registers(void)
{
	static const uint32_t want[8] = {0x11111111, 0x22222222, 0x33333333,
					 0x44444444, 0x55555555, 0x66666666};

	__asm__ volatile("pushl %%ebp\n\t"
			 "movl %%esp, regs_after + 24\n\t"
			 "movl $0x11111111, %%ebx\n\t"
			 "movl $0x22222222, %%ecx\n\t"
			 "movl $0x33333333, %%edx\n\t"
			 "movl $0x44444444, %%esi\n\t"
			 "movl $0x55555555, %%edi\n\t"
			 "movl $0x66666666, %%ebp\n\t"
			 "xorl %%eax, %%eax\n\t" /* LHCALL_FLUSH_ASYNC */
			 "stc\n\t"
			 "int $0x1f\n\t"
			 "pushfl\n\t"
			 "popl regs_after + 28\n\t"
			 "movl %%ebx, regs_after + 0\n\t"
			 "movl %%ecx, regs_after + 4\n\t"
			 "movl %%edx, regs_after + 8\n\t"
			 "movl %%esi, regs_after + 12\n\t"
			 "movl %%edi, regs_after + 16\n\t"
			 "movl %%ebp, regs_after + 20\n\t"
			 "subl %%esp, regs_after + 24\n\t" /* 0 if ESP unchanged */
			 "popl %%ebp"
			 :
			 :
			 : "eax", "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
	for (unsigned i = 0; i < 6; i++)
		CHECK(regs_after[i] == want[i], "hypercall changed register %u: %x", i,
		      regs_after[i]);
	CHECK(regs_after[6] == 0, "hypercall moved ESP by %x", regs_after[6]);
	CHECK((regs_after[7] & 1) && (regs_after[7] & X86_EFLAGS_IF) &&
		      !(regs_after[7] & X86_EFLAGS_IOPL),
	      "EFLAGS after hypercall %x: want CF kept, IF 1, IOPL 0", regs_after[7]);
}

/* The host must supply real CPUID leaves (§10.1, DESIGN: KVM_SET_CPUID2). */
static void check_cpuid(void)
{
	uint32_t a = 0, b, c, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	CHECK(a >= 1 && (b | c | d), "cpuid leaf 0 is empty (max %x)", a);
	a = 1;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	CHECK(d & 1, "cpuid leaf 1 reports no FPU (edx %x)", d);
}

void test_main(void)
{
	uint32_t mem;

	guest_init();	     /* first, so a failure can still be reported */
	check_entry_state(); /* start.S captured it before touching anything */
	mem = ram_size();
	check_zero_page(mem);
	check_init_results(mem);
	check_boot_tables(mem);
	check_page_offset_alias();
	check_hcall_preserves_registers();
	check_cpuid();
	printf("hello: %u MiB RAM, command line \"%s\"\n", mem >> 20,
	       (const char *)gpa_ptr(0x1000));
	pass();
}
