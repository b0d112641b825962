/* usermode: ring 3 the way Linux runs processes (§5.4, §5.11, §6.5).
 *
 * Loads a Linux-like GDT (user code 0x73 / data 0x7B), LHCALL_SET_STACK for
 * the ring-3 -> ring-1 stack, and irets to ring-3 code which
 *   1. makes a system call with int $0x80: the ring-1 handler must see CS
 *      0x73, the user's SS:ESP in the frame, run on the SET_STACK stack, and
 *      its return value must reach ring 3;
 *   2. executes int $0x1f: only ring 1 may make hypercalls, so this must
 *      arrive as #GP with error code 0xFA (0x1F * 8 + 2), §3.1;
 *   3. executes inb: port I/O emulation is for ring 1 only, so #GP(0);
 *   4. reads an unmapped address: #PF, error code 4 (user, read,
 *      not present), cr2 = the address, irq_enabled cleared (§5.7);
 *   5. makes an "exit" system call, whose handler checks everything. */
#include "guest.h"

const char test_name[] = "usermode";

#define SYS_HELLO 0x5157
#define SYS_EXIT  0xE417
#define UNMAPPED  0xF0000000u /* below the host's 4 MiB, far above any RAM */

static uint8_t kstack[8192] __attribute__((aligned(8192)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));
static uint64_t gdt[GDT_ENTRIES];

/* Shared with the ring-3 code (the boot tables map all RAM user-accessible). */
volatile uint32_t user_esp_at_syscall, user_syscall_ret;
extern char user_entry[], user_hcall_insn[], user_hcall_next[], user_in_insn[], user_in_next[],
	user_pf_insn[], user_pf_next[];

__asm__(".text\n"
	".globl user_entry, user_hcall_insn, user_hcall_next, user_in_insn\n"
	".globl user_in_next, user_pf_insn, user_pf_next\n"
	"user_entry:\n\t"
	"movl %esp, user_esp_at_syscall\n\t"
	"movl $0x5157, %eax\n\t" /* SYS_HELLO */
	"movl $0xAAAA0001, %ebx\n\t"
	"int $0x80\n\t"
	"movl %eax, user_syscall_ret\n"
	"user_hcall_insn:\n\t"
	"int $0x1f\n"
	"user_hcall_next:\n"
	"user_in_insn:\n\t"
	"inb $0x60, %al\n"
	"user_in_next:\n"
	"user_pf_insn:\n\t"
	"movl 0xF0000000, %eax\n"
	"user_pf_next:\n\t"
	"movl $0xE417, %eax\n\t" /* SYS_EXIT */
	"int $0x80\n"
	"1:\tjmp 1b\n");

struct event {
	uint32_t count, vector, error, eip, cs, user_ss, frame, irq_enabled, cr2;
};
static struct event ev_sys, ev_hcall, ev_in, ev_pf;

static void record(struct event *e, struct trap_frame *f)
{
	e->count++;
	e->vector = f->vector;
	e->error = f->error;
	e->eip = f->eip;
	e->cs = f->cs;
	e->user_ss = (f->cs & 3) == 3 ? f->user_ss : 0;
	e->frame = (uint32_t)&f->eip;
	e->irq_enabled = lguest_data.irq_enabled;
	e->cr2 = lguest_data.cr2;
}

static int on_kstack(uint32_t a)
{
	return a >= (uint32_t)kstack && a < (uint32_t)kstack + sizeof(kstack);
}

static void check_event(const char *what, const struct event *e, unsigned vector, uint32_t error,
			const char *eip)
{
	CHECK(e->count == 1, "%s: seen %u times", what, e->count);
	CHECK(e->vector == vector && e->error == error, "%s: vector %u error %x, want %u error %x",
	      what, e->vector, e->error, vector, error);
	CHECK(e->eip == (uint32_t)eip, "%s: EIP %x, want %x", what, e->eip, (uint32_t)eip);
	CHECK(e->cs == USER_CS && e->user_ss == USER_DS, "%s: frame CS %x SS %x, want 0x73/0x7b",
	      what, e->cs, e->user_ss);
	CHECK(on_kstack(e->frame), "%s: frame at %x, not on the SET_STACK stack", what, e->frame);
}

static void finish(void) __attribute__((noreturn));
static void finish(void)
{
	CHECK(user_syscall_ret == 0x600D, "syscall return value %x did not reach ring 3",
	      user_syscall_ret);
	check_event("int $0x1f from ring 3", &ev_hcall, 13, 0xFA, user_hcall_insn);
	check_event("inb from ring 3", &ev_in, 13, 0, user_in_insn);
	check_event("user page fault", &ev_pf, 14, 4, user_pf_insn);
	CHECK(ev_pf.cr2 == UNMAPPED, "user page fault: cr2 %x, want %x", ev_pf.cr2, UNMAPPED);
	CHECK(ev_pf.irq_enabled == 0, "page fault (interrupt gate) left irq_enabled %x",
	      ev_pf.irq_enabled);
	printf("usermode: syscall, hypercall #GP, in #GP, user #PF all ok\n");
	pass();
}

static void syscall_handler(struct trap_frame *f)
{
	if (f->eax == SYS_EXIT) {
		CHECK((f->cs & 3) == 3, "exit syscall from CS %x", f->cs);
		finish();
	}
	record(&ev_sys, f);
	CHECK(f->eax == SYS_HELLO && f->ebx == 0xAAAA0001, "syscall args %x %x", f->eax, f->ebx);
	CHECK(f->cs == USER_CS && f->user_ss == USER_DS, "syscall frame CS %x SS %x", f->cs,
	      f->user_ss);
	CHECK(f->user_esp == user_esp_at_syscall, "syscall frame ESP %x, user had %x", f->user_esp,
	      user_esp_at_syscall);
	CHECK(on_kstack(ev_sys.frame), "syscall frame at %x, not on the SET_STACK stack",
	      ev_sys.frame);
	CHECK(f->ds == USER_DS, "user DS %x at syscall", f->ds);
	/* A trap gate: virtual IF is what lguest_iret set on the way out. */
	CHECK(lguest_data.irq_enabled & X86_EFLAGS_IF, "irq_enabled %x in syscall",
	      lguest_data.irq_enabled);
	f->eax = 0x600D;
}

static void fault_handler(struct trap_frame *f)
{
	if ((f->cs & 3) != 3)
		fail("kernel-mode trap %u err %x at %x", f->vector, f->error, f->eip);
	if (f->eip == (uint32_t)user_hcall_insn) {
		record(&ev_hcall, f);
		f->eip = (uint32_t)user_hcall_next;
	} else if (f->eip == (uint32_t)user_in_insn) {
		record(&ev_in, f);
		f->eip = (uint32_t)user_in_next;
	} else if (f->eip == (uint32_t)user_pf_insn) {
		record(&ev_pf, f);
		f->eip = (uint32_t)user_pf_next;
	} else {
		fail("unexpected user trap %u err %x at %x cr2 %x", f->vector, f->error, f->eip,
		     lguest_data.cr2);
	}
}

void test_main(void)
{
	guest_init();
	idt_init_linux();
	set_trap_handler(0x80, syscall_handler);
	set_trap_handler(13, fault_handler);
	set_trap_handler(14, fault_handler);

	gdt_fill_linux(gdt);
	gdt_load(gdt, GDT_ENTRIES);
	hcall(LHCALL_SET_STACK, KERNEL_DS, (uint32_t)kstack + sizeof(kstack), 2);

	/* Build the frame an iret to ring 3 pops, and leave through
	 * lguest_iret like Linux's return to userspace. */
	__asm__ volatile("movl %[uds], %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "pushl %[uds]\n\t"
			 "pushl %[usp]\n\t"
			 "pushl $0x202\n\t"
			 "pushl %[ucs]\n\t"
			 "pushl %[uip]\n\t"
			 "jmp lguest_iret"
			 :
			 : [uds] "i"(USER_DS), [ucs] "i"(USER_CS),
			   [usp] "i"(ustack + sizeof(ustack)), [uip] "i"(user_entry)
			 : "eax", "memory");
	__builtin_unreachable();
}
