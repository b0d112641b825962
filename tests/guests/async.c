/* async: the asynchronous hypercall ring (§3.6, §3.7).
 *
 * Entries are {nr, arg2, arg3, arg1}; status 0 = queued, 0xFF = done.  We
 * check that LGUEST_INIT leaves the ring alone, that queued calls do nothing
 * until a hypercall (any hypercall) drains the ring, that they then all run
 * in order and every status byte is back to 0xFF, that a NOTIFY inside the
 * ring does not lose the entries after it, and that the host's cursor
 * follows ours around the ring for well over 64 entries, including one batch
 * that fills the ring completely.
 * Effects are observed through LHCALL_TS (the next FPU instruction raises
 * #NM) and LHCALL_LOAD_TLS (%gs with selector 0x33 reads at the new base). */
#include "guest.h"

const char test_name[] = "async";

static volatile uint32_t nm_count, nm_eip;

static void nm_handler(struct trap_frame *f)
{
	nm_count++;
	nm_eip = f->eip;
	CHECK(f->error == 0 && f->cs == KERNEL_CS, "#NM frame: error %x cs %x", f->error, f->cs);
	hcall(LHCALL_TS, 0, 0, 0); /* what Linux's clts does */
}

static void fpu_touch(void)
{
	__asm__ volatile("movl $1f, trap_insn_eip\n1:\tfninit" ::: "memory");
}

/* Expect `n` more #NMs from fpu_touch than before. */
static void expect_nm(const char *what, uint32_t n)
{
	uint32_t before = nm_count;
	fpu_touch();
	CHECK(nm_count == before + n, "%s: %u #NM, want %u", what, nm_count - before, n);
	if (n)
		CHECK(nm_eip == trap_insn_eip, "%s: #NM at %x, want %x", what, nm_eip,
		      trap_insn_eip);
}

static void expect_ring_drained(const char *what)
{
	for (unsigned i = 0; i < LHCALL_RING_SIZE; i++)
		CHECK(lguest_data.hcall_status[i] == 0xFF, "%s: status[%u] = %x after the drain",
		      what, i, lguest_data.hcall_status[i]);
}

static void flush(void)
{
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
}

/* TLS: two targets with different markers; entry 6 is selector 0x33 as a
 * user (DPL 3) descriptor, the way Linux's TLS entries look. */
static volatile uint32_t tls_target[2] = {0x7157A000, 0x7157B000};
static uint64_t tls_desc[2][3];

static uint32_t gs_read(void)
{
	uint32_t v;
	__asm__ volatile("movl %1, %%gs\n\t"
			 "movl %%gs:0, %0"
			 : "=r"(v)
			 : "r"(0x33)
			 : "memory");
	return v;
}

static void gs_clear(void)
{
	/* Linux zeroes %gs before LOAD_TLS (§6.4). */
	__asm__ volatile("movl %0, %%gs" : : "r"(0));
}

static void queue_load_tls(unsigned which)
{
	gs_clear();
	async_hcall(LHCALL_LOAD_TLS, (uint32_t)tls_desc[which], 0, 0);
}

/* One batch of `n` entries ending in a LOAD_TLS of target `which`. */
static void batch(unsigned n, unsigned which)
{
	for (unsigned i = 0; i + 1 < n; i++)
		async_hcall(LHCALL_TS, 0, 0, 0);
	queue_load_tls(which);
	flush();
	expect_ring_drained("batch");
	CHECK(gs_read() == tls_target[which], "batch of %u: %%gs:0 = %x, want %x", n, gs_read(),
	      tls_target[which]);
}

void test_main(void)
{
	/* Queued before INIT: INIT must not run it (§3.2), the next call must. */
	async_hcall(LHCALL_TS, 8, 0, 0);
	guest_init();
	CHECK(lguest_data.hcall_status[0] == 0, "LGUEST_INIT ran the async ring");
	set_trap_handler(7, nm_handler);
	idt_init_linux(); /* its LOAD_IDT_ENTRY calls drain the ring: TS is set */
	expect_ring_drained("after INIT");
	expect_nm("TS queued before INIT", 1);
	for (unsigned i = 0; i < 2; i++) {
		tls_desc[i][0] = seg_desc((uint32_t)&tls_target[i], 0xFFF, SEG_DATA_RW, 3, 0x4);
		tls_desc[i][1] = tls_desc[i][2] = 0;
	}

	/* Queued TS does nothing until the drain. */
	async_hcall(LHCALL_TS, 8, 0, 0);
	CHECK(lguest_data.hcall_status[1] == 0, "status byte not queued");
	expect_nm("TS queued, not flushed", 0);
	flush();
	expect_ring_drained("TS");
	expect_nm("TS after FLUSH_ASYNC", 1);
	expect_nm("TS cleared by the handler", 0);

	/* Any hypercall drains the ring first: here a console write. */
	async_hcall(LHCALL_TS, 8, 0, 0);
	printf("async: queued TS and LOAD_TLS ok\n");
	expect_ring_drained("NOTIFY");
	expect_nm("TS drained by NOTIFY", 1);

	/* LOAD_TLS through the ring. */
	queue_load_tls(0);
	flush();
	expect_ring_drained("LOAD_TLS");
	CHECK(gs_read() == tls_target[0], "%%gs:0 = %x after LOAD_TLS, want %x", gs_read(),
	      tls_target[0]);

	/* A NOTIFY in the ring is serviced first (§3.6); the entries after it
	 * and the FLUSH_ASYNC itself still run before we resume. */
	static const char ring_msg[] = "async: ring NOTIFY\n";
	async_hcall(LHCALL_TS, 8, 0, 0);
	async_hcall(LHCALL_NOTIFY, (uint32_t)ring_msg, 0, 0);
	async_hcall(LHCALL_TS, 0, 0, 0);
	flush();
	expect_ring_drained("NOTIFY in the ring");
	expect_nm("TS(8), NOTIFY, TS(0)", 0);

	/* In order: the last TS wins. */
	async_hcall(LHCALL_TS, 0, 0, 0);
	async_hcall(LHCALL_TS, 8, 0, 0);
	flush();
	expect_nm("TS(0), TS(8)", 1);
	async_hcall(LHCALL_TS, 8, 0, 0);
	async_hcall(LHCALL_TS, 0, 0, 0);
	flush();
	expect_nm("TS(8), TS(0)", 0);

	/* Around the ring: 11 entries so far, then 64 (a full ring), 5, 63, 7. */
	batch(64, 1);
	batch(5, 0);
	batch(63, 1);
	batch(7, 0);
	printf("async: 150 entries around the 64-entry ring ok\n");
	gs_clear();
	pass();
}
