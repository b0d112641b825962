/* fpu_ts: the virtual CR0.TS bit (§5.9).
 *
 * With TS clear the FPU just works, and its registers (x87 and, if the CPU
 * has SSE, XMM) survive hypercalls: any #NM the host takes for its own lazy
 * FPU switching must stay invisible.  After LHCALL_TS(8) the first FPU
 * instruction raises #NM on vector 7 at that instruction; the handler does
 * LHCALL_TS(0) like Linux's math_state_restore and returns, and the
 * instruction re-executes correctly.  SSE instructions must also work with
 * TS clear (the host sets CR4.OSFXSR, §10.3) and raise #NM with TS set. */
#include "guest.h"

const char test_name[] = "fpu_ts";

static volatile uint32_t nm_count, nm_eip;

static void nm_handler(struct trap_frame *f)
{
	nm_count++;
	nm_eip = f->eip;
	CHECK(f->error == 0 && f->cs == KERNEL_CS, "#NM frame: error %x cs %x", f->error, f->cs);
	hcall(LHCALL_TS, 0, 0, 0);
}

static void ud_handler(struct trap_frame *f)
{
	fail("#UD at %x: SSE unusable (is CR4.OSFXSR set?)", f->eip);
}

/* Load `in` into st(0), make a hypercall, store it back. */
static int32_t x87_across_hcall(int32_t in)
{
	int32_t out;
	__asm__ volatile("finit\n\t"
			 "fildl %1\n\t"
			 "xorl %%eax, %%eax\n\t" /* LHCALL_FLUSH_ASYNC */
			 "int $0x1f\n\t"
			 "fistpl %0"
			 : "=m"(out)
			 : "m"(in)
			 : "eax", "memory");
	return out;
}

static int32_t x87_one(void)
{
	int32_t out;
	__asm__ volatile("movl $1f, trap_insn_eip\n"
			 "1:\tfld1\n\t"
			 "fistpl %0"
			 : "=m"(out)
			 :
			 : "memory");
	return out;
}

static uint32_t xmm_in[4]
	__attribute__((aligned(16))) = {0x11111111, 0x22222222, 0x33333333, 0x44444444};
static uint32_t xmm_out[4] __attribute__((aligned(16)));

static void sse_across_hcall(void)
{
	__asm__ volatile("movl $1f, trap_insn_eip\n"
			 "1:\tmovaps %0, %%xmm0\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "int $0x1f\n\t"
			 "movaps %%xmm0, %1"
			 :
			 : "m"(xmm_in), "m"(xmm_out)
			 : "eax", "memory");
}

static int has_sse(void)
{
	uint32_t a = 1, b, c, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	return (d >> 25) & 1;
}

void test_main(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(7, nm_handler);
	set_trap_handler(6, ud_handler);

	for (int32_t i = 0; i < 20; i++)
		CHECK(x87_across_hcall(12345 + i) == 12345 + i,
		      "x87 register lost across a hypercall");
	CHECK(x87_one() == 1, "fld1 gave the wrong value");
	CHECK(nm_count == 0, "#NM with TS clear");
	printf("fpu_ts: x87 with TS clear ok\n");

	hcall(LHCALL_TS, 8, 0, 0);
	CHECK(x87_one() == 1, "fld1 after #NM gave the wrong value");
	CHECK(nm_count == 1, "TS set: %u #NM from fld1, want 1", nm_count);
	CHECK(nm_eip == trap_insn_eip, "#NM at %x, want the fld1 at %x", nm_eip, trap_insn_eip);
	CHECK(x87_one() == 1 && nm_count == 1, "second #NM after the handler cleared TS");
	printf("fpu_ts: TS set -> #NM on fld1 ok\n");

	if (has_sse()) {
		sse_across_hcall();
		CHECK(!memcmp(xmm_in, xmm_out, 16) && nm_count == 1,
		      "XMM register lost across a hypercall");
		hcall(LHCALL_TS, 8, 0, 0);
		memset(xmm_out, 0, 16);
		sse_across_hcall();
		CHECK(nm_count == 2 && nm_eip == trap_insn_eip,
		      "TS set: movaps gave %u #NM at %x, want 1 at %x", nm_count - 1, nm_eip,
		      trap_insn_eip);
		CHECK(!memcmp(xmm_in, xmm_out, 16), "movaps after #NM gave the wrong value");
		printf("fpu_ts: SSE with TS clear and set ok\n");
	} else {
		printf("fpu_ts: no SSE on this CPU, skipped\n");
	}
	pass();
}
