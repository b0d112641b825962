/* hostile_gen: the interfaces later generations added, abused
 * (docs/abi.md part H).  Built once per generation like abi_gen; the guest
 * command line names the case.  Each case must end as tests.list says: killed
 * with a reason (exit 5), or, where the host only has to keep its own rules,
 * passed by the guest's own checks (exit 0).  A host that lets a killing case
 * through gets a CRASH (exit 4), which fails the test. */
#include "guest.h"
#include "virtio.h"

const char test_name[] = "hostile_gen";

/* LOAD_GDT_ENTRY (2.6.30+) past the table. */
static void gdt_entry_past_end(void)
{
	hcall(LHCALL_LOAD_GDT_ENTRY, GDT_ENTRIES + 1, 0x0000FFFF, 0x00CF9300);
}

/* LOAD_GDT_ENTRY aimed at the host's own slots: ignored, and the host's
 * ring-0 segments keep working (we would not get back otherwise). */
static void gdt_entry_host_slots(void)
{
	static const unsigned slots[] = {10, 11, 16, 31};
	for (unsigned i = 0; i < 4; i++)
		hcall(LHCALL_LOAD_GDT_ENTRY, slots[i], 0x0000FFFF, 0x00CFFB00);
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	pass();
}

/* A call this generation does not have: LOAD_GDT after 2.6.29, SET_PMD(13)
 * without PAE. */
static void removed_call(void)
{
#if GEN_GDT_ENTRY
	hcall(LHCALL_LOAD_GDT, 0x1000, 1, 0);
#else
	hcall(LHCALL_LOAD_GDT_ENTRY, 1, 0, 0);
#endif
}

static void pae_call_without_pae(void)
{
	hcall(LHCALL_SET_PMD_PAE, 0x1000, 1, 0);
}

/* PAE: a PMD index past 511, and a directory-pointer table that is not one. */
static void pae_bad_pmd_index(void)
{
	hcall(LHCALL_SET_PMD_PAE, 0x1000, 600, 0);
}

static void pae_bad_pdpt(void)
{
	hcall(LHCALL_NEW_PGTABLE, 0x00123454, 0, 0); /* not 32-byte aligned */
}

/* Aligned, but its entry 3 (the kernel's gigabyte) is not present: there is
 * no PMD to put the monitor in. */
static uint64_t pdpt_no_kernel[4] __attribute__((aligned(32))) = {0, 0, 0, 0};

static void pae_pdpt_no_kernel(void)
{
	hcall(LHCALL_NEW_PGTABLE, (uint32_t)pdpt_no_kernel, 0, 0);
}

/* SEND_INTERRUPTS in a storm, with nothing pending and with interrupts off:
 * nothing to do, nothing to break. */
static void send_interrupts_storm(void)
{
	lguest_data.irq_enabled = 0;
	for (unsigned i = 0; i < 2000; i++)
		hcall(LHCALL_SEND_INTERRUPTS, i, ~i, i * 7);
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	pass();
}

/* Device page v2: scribble on every record's status, feature-ack and config
 * bytes, and NOTIFY every address of the page, aligned or not.  The host
 * believes only its own copy of what it wrote, resets what it is told to,
 * and never crashes; afterwards we can still print and power off. */
static void devpage_scribble(void)
{
#if GEN_NOTIFY
	virtio_init();
	volatile uint8_t *page = (volatile uint8_t *)0x80000000u;
	uint32_t dev = ram_size();
	for (unsigned i = 0; i < 512; i++)
		page[i] = (uint8_t)(i * 37 + 11);
	for (unsigned off = 0; off < 600; off++)
		hcall(LHCALL_NOTIFY, dev + off, 0, 0);
	hcall(LHCALL_NOTIFY, dev + PAGE_SIZE - 1, 0, 0);
	printf("hostile_gen: device page scribbled, host still here\n");
	pass();
#else
	/* 4.0+ have no device page and no NOTIFY (hostile_pci.c instead). */
	fail("devpage_scribble needs the lguest device page (G1-G7)");
#endif
}

/* SHUTDOWN with an unknown reason: a power-off request by any other name
 * (the reference host restarted only on 2). */
static void shutdown_odd_reason(void)
{
	static const char msg[128] = "Power down";
	hcall(LHCALL_SHUTDOWN, (uint32_t)msg, 77, 0);
}

void test_main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{"gdt_entry_past_end", gdt_entry_past_end},
		{"gdt_entry_host_slots", gdt_entry_host_slots},
		{"removed_call", removed_call},
		{"pae_call_without_pae", pae_call_without_pae},
		{"pae_bad_pmd_index", pae_bad_pmd_index},
		{"pae_bad_pdpt", pae_bad_pdpt},
		{"pae_pdpt_no_kernel", pae_pdpt_no_kernel},
		{"send_interrupts_storm", send_interrupts_storm},
		{"devpage_scribble", devpage_scribble},
		{"shutdown_odd_reason", shutdown_odd_reason},
	};
	guest_init();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cmdline_has(cases[i].name))
			continue;
		printf("hostile_gen: %s (G%d)\n", cases[i].name, LGUEST_GEN);
		cases[i].fn();
		fail("the host let %s through", cases[i].name);
	}
	fail("no case named on the command line");
}
