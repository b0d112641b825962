/* pagefault: our own page tables and the TLB rules of §7.
 *
 * Builds a page directory (identity map of 0-4 MiB with one hole at T),
 * loads it with LHCALL_NEW_PGTABLE and then:
 *   - not-present read at T: #PF vector 14, error 0, cr2 = T, irq_enabled
 *     cleared (interrupt gate); the handler maps T -> P, SET_PTE, returns,
 *     the read re-executes and sees P's contents; the PTE gained ACCESSED;
 *   - write: no fault, PTE gains DIRTY;
 *   - read-only PTE (SET_PTE): ring-1 write faults with error 3 (WP is on);
 *   - read-only PTE (FLUSH_TLB(0)): the same through the other flush;
 *   - not-present PTE (SET_PTE value 0, like flush_tlb_single): error 2;
 *   - SET_PMD: a cleared PDE faults after the hypercall;
 *   - NEW_PGTABLE is a full CR3 load: a PTE changed (without hypercall) in
 *     a directory while another was current is seen after switching back
 *     (the reference host's cached shadows get this wrong, Appendix B);
 *   - SET_PTE of an address >= kernel_address reaches every address space,
 *     not just the directory it names (§3.5);
 * and, first, the harmless oddities of Linux's boot (§7.2, §3.5): SET_PMD
 * and SET_PTE naming a directory never loaded, FLUSH_TLB before the first
 * NEW_PGTABLE, SET_PMD of slot 1023 (ignored, never a kill). */
#include "guest.h"

const char test_name[] = "pagefault";

#define T 0x00300000u /* test address, hole in the identity map */
#define P 0x00301000u /* backing pages, also identity-mapped */
#define Q 0x00302000u
#define R 0x00303000u
#define V 0x00400000u /* second 4 MiB slot: SET_PMD and NEW_PGTABLE tests */
#define K 0xC0300000u /* at/above kernel_address: shared by all directories */

static uint32_t pd2[1024] __attribute__((aligned(4096)));
static uint32_t pt_v2[1024] __attribute__((aligned(4096)));

/* The #PF handler runs `pf_fix` once, then lets the access re-execute. */
static void (*volatile pf_fix)(void);
static struct {
	volatile uint32_t count, error, cr2, eip, eflags, irq_enabled;
} pf;

static void pf_handler(struct trap_frame *f)
{
	pf.count++;
	pf.error = f->error;
	pf.cr2 = lguest_data.cr2;
	pf.eip = f->eip;
	pf.eflags = f->eflags;
	pf.irq_enabled = lguest_data.irq_enabled;
	if (!pf_fix)
		fail("unexpected #PF at %x, cr2 %x, error %x", f->eip, lguest_data.cr2, f->error);
	pf_fix();
	pf_fix = 0;
}

static uint32_t probe_read(uint32_t va)
{
	uint32_t v;
	__asm__ volatile("movl $1f, trap_insn_eip\n1:\tmovl (%1), %0"
			 : "=r"(v)
			 : "r"(va)
			 : "memory");
	return v;
}

static void probe_write(uint32_t va, uint32_t v)
{
	__asm__ volatile("movl $1f, trap_insn_eip\n1:\tmovl %1, (%0)"
			 :
			 : "r"(va), "r"(v)
			 : "memory");
}

static uint32_t word_at(uint32_t gpa)
{
	return *(volatile uint32_t *)gpa;
}

/* Expect exactly one #PF since `before`, at the probe, with this error
 * code and address. */
static void expect_pf(const char *what, uint32_t before, uint32_t error, uint32_t addr)
{
	CHECK(pf.count == before + 1, "%s: %u page faults, want 1", what, pf.count - before);
	CHECK(pf.error == error, "%s: error code %x, want %x", what, pf.error, error);
	CHECK(pf.cr2 == addr, "%s: cr2 %x, want %x", what, pf.cr2, addr);
	CHECK(pf.eip == trap_insn_eip, "%s: fault EIP %x, want %x", what, pf.eip, trap_insn_eip);
	CHECK(pf.irq_enabled == 0, "%s: irq_enabled %x in the #PF handler (interrupt gate)", what,
	      pf.irq_enabled);
	CHECK(pf.eflags & X86_EFLAGS_IF, "%s: frame EFLAGS %x lacks the virtual IF", what,
	      pf.eflags);
	printf("pagefault: %s ok\n", what);
}

static uint32_t *pte_t(void)
{
	return &pt_low[T >> 12];
}

static void fix_map_rw(void)
{
	*pte_t() = P | PTE_P | PTE_W;
	hcall(LHCALL_SET_PTE, (uint32_t)pt_dir, T, *pte_t());
}

static void fix_rw_flush(void)
{
	*pte_t() |= PTE_W;
	hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
}

static uint32_t saved_pde;
static void fix_restore_pde(void)
{
	pt_dir[V >> 22] = saved_pde;
	hcall(LHCALL_SET_PMD, (uint32_t)pt_dir, V >> 22, 0);
}

static void test_basic_faults(void)
{
	uint32_t n = pf.count;

	lguest_data.irq_enabled = X86_EFLAGS_IF;
	pf_fix = fix_map_rw;
	uint32_t v = probe_read(T);
	expect_pf("not-present read", n, 0, T);
	CHECK(v == word_at(P), "read through the new PTE gave %x, want %x", v, word_at(P));
	CHECK(*pte_t() & PTE_A, "PTE %x: ACCESSED not set after a read", *pte_t());
	CHECK(!(*pte_t() & PTE_D), "PTE %x: DIRTY set by a read", *pte_t());

	probe_write(T, 0x12345678);
	CHECK(pf.count == n + 1, "write to a writable page faulted");
	CHECK(word_at(P) == 0x12345678, "write through T did not reach P");
	CHECK(*pte_t() & PTE_D, "PTE %x: DIRTY not set after a write", *pte_t());

	n = pf.count;
	*pte_t() = P | PTE_P | PTE_A; /* read-only */
	hcall(LHCALL_SET_PTE, (uint32_t)pt_dir, T, *pte_t());
	pf_fix = fix_map_rw;
	probe_write(T, 0xAAAA5555);
	expect_pf("ring-1 write to read-only page (SET_PTE)", n, 3, T);
	CHECK(word_at(P) == 0xAAAA5555, "write after the fix did not happen");

	n = pf.count;
	(void)probe_read(T); /* make sure a writable translation is cached */
	*pte_t() &= ~PTE_W;
	hcall(LHCALL_FLUSH_TLB, 0, 0, 0);
	pf_fix = fix_rw_flush;
	probe_write(T, 0x5555AAAA);
	expect_pf("ring-1 write to read-only page (FLUSH_TLB)", n, 3, T);
	CHECK(word_at(P) == 0x5555AAAA, "write after the fix did not happen");

	n = pf.count;
	*pte_t() = 0;
	hcall(LHCALL_SET_PTE, (uint32_t)pt_dir, T, 0);
	pf_fix = fix_map_rw;
	probe_write(T, 0x77777777);
	expect_pf("not-present write", n, 2, T);
	CHECK(word_at(P) == 0x77777777, "write after the fix did not happen");
}

static void test_set_pmd(void)
{
	uint32_t n;

	pt_map(pt_dir, V, Q, PTE_P | PTE_W);
	CHECK(probe_read(V) == word_at(Q), "new PDE + PTE for %x not used", V);
	n = pf.count;
	saved_pde = pt_dir[V >> 22];
	pt_dir[V >> 22] = 0;
	hcall(LHCALL_SET_PMD, (uint32_t)pt_dir, V >> 22, 0);
	pf_fix = fix_restore_pde;
	CHECK(probe_read(V) == word_at(Q), "read after restoring the PDE");
	expect_pf("cleared PDE (SET_PMD)", n, 0, V);
}

static void test_new_pgtable_flushes(void)
{
	/* pd2 shares the low identity map but maps V -> R. */
	memcpy(pd2, pt_dir, sizeof(pd2));
	memset(pt_v2, 0, sizeof(pt_v2));
	pt_v2[0] = R | PTE_P | PTE_W;
	pd2[V >> 22] = (uint32_t)pt_v2 | PTE_P | PTE_W | PTE_U;

	CHECK(probe_read(V) == word_at(Q), "V should map Q in pt_dir");
	pt_activate(pd2);
	CHECK(probe_read(V) == word_at(R), "V should map R in pd2");
	/* Change pt_dir's PTE for V while pd2 is current: no hypercall, as
	 * Linux does for a non-current mm (§7.2). */
	*pt_pte(pt_dir, V) = P | PTE_P | PTE_W;
	pt_activate(pt_dir);
	CHECK(probe_read(V) == word_at(P),
	      "stale translation survived NEW_PGTABLE: V reads %x, want P's %x", probe_read(V),
	      word_at(P));
	printf("pagefault: NEW_PGTABLE flushed the old translation ok\n");
}

static void test_kernel_set_pte(void)
{
	pt_map(pt_dir, K, Q, PTE_P | PTE_W);
	pd2[K >> 22] = pt_dir[K >> 22]; /* the kernel half is shared */
	pt_activate(pd2);
	CHECK(probe_read(K) == word_at(Q), "K should map Q");
	/* Name pt_dir (not current): a kernel address applies everywhere. */
	*pt_pte(pt_dir, K) = R | PTE_P | PTE_W;
	hcall(LHCALL_SET_PTE, (uint32_t)pt_dir, K, *pt_pte(pt_dir, K));
	CHECK(probe_read(K) == word_at(R),
	      "SET_PTE of a kernel address did not reach the current address space");
	pt_activate(pt_dir);
	printf("pagefault: SET_PTE above kernel_address ok\n");
}

void test_main(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(14, pf_handler);
	CHECK((uint32_t)_end <= T, "image end %x overlaps the test pages", (uint32_t)_end);

	*(volatile uint32_t *)P = 0xFEEDBEEF;
	*(volatile uint32_t *)Q = 0x0000C0DE;
	*(volatile uint32_t *)R = 0x00000BAD;
	pt_build_identity();
	*pte_t() = 0;
	hcall(LHCALL_FLUSH_TLB, 1, 0, 0);
	hcall(LHCALL_SET_PMD, (uint32_t)pt_dir, 0, 0);
	hcall(LHCALL_SET_PTE, (uint32_t)pt_dir, T, 0);
	hcall(LHCALL_SET_PMD, lguest_data.pgdir, 1023, 0);
	pt_activate(pt_dir);
	hcall(LHCALL_SET_PMD, (uint32_t)pt_dir, 1023, 0);
	printf("pagefault: running on our own page tables\n");

	test_basic_faults();
	test_set_pmd();
	test_new_pgtable_flushes();
	test_kernel_set_pte();
	/* The monitor reflected them without an exit (kvm-glue/monitor/fast.c). */
	if (MON_TRAPS_IN_VM) {
		CHECK(MON_PF_REFLECTED >= 5, "only %u page faults reflected inside the VM",
		      MON_PF_REFLECTED);
		printf("pagefault: %u page faults reflected inside the VM ok\n", MON_PF_REFLECTED);
	}
	pass();
}
