/* The monitor's common path, at MON_CODE_OFF: every stub jumps here.
 *
 * Built for i386 with kvm-glue/monitor/fast.c into one flat image linked at
 * MON_GVA + MON_CODE_OFF (kvm-glue/monitor/monitor.ld) and carried in lgkvm's
 * binary as data (kvm-glue/monitor_stubs.S); nothing here runs on the host.
 *
 * Save the two words the VMM cannot read from kvm_run itself (the guest's EAX,
 * which we are about to use, and the real CR2, which needs a register to pass
 * through): that completes struct mon_frame at MON_FRAME_GVA.  Then ask the C
 * fast path whether it can finish the event inside the VM; if not, tell the
 * VMM with the one `out`.  Either way leave exactly as the frame now says. */
#include "kvm-glue/monitor.h"

	.code32

/* Call C function `fn` (regparm(1)) with struct mon_regs: the C code wants
 * every general register where it can read and change them, flat segments
 * and DF clear.  %ss is already the monitor's flat data segment; %ds and %es
 * still belong to whoever was interrupted, and go back as they were.  ZF
 * says what it returned (flags survive popal). */
	.macro CALL_C fn
	pushal
	pushl %ds
	pushl %es
	movl $SEL_LGUEST_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	cld
	leal 8(%esp), %eax	/* struct mon_regs */
	call \fn
	popl %es
	popl %ds
	testl %eax, %eax
	popal
	.endm

	.section .text.entry, "ax"
	.globl mon_entry
mon_entry:
	pushl %eax
	movl %cr2, %eax
	pushl %eax
	CALL_C mon_fast
	jnz 1f
	outb %al, $MON_PORT	/* the VMM's turn: it rewrites the frame */
	/* The VMM may ask for ring-0 work on the way back (mon_request:
	 * program the LAPIC clock, sleep the guest's HALT): the same call
	 * again, on the frame as the VMM left it. */
	cmpl $0, %ss:(MON_GVA + MON_VMM_REQ_OFF)
	je 1f
	CALL_C mon_request
	jnz 1f
	outb %al, $MON_PORT	/* an interrupt the VMM must deliver */
1:
	/* The VMM may have changed the virtual TS: load the CR0 it wants, but
	 * only when it differs (a CR0 write is not free). */
	movl %cr0, %eax
	xorl %ss:(MON_GVA + MON_CR0_WANT_OFF), %eax
	jz 2f
	movl %ss:(MON_GVA + MON_CR0_WANT_OFF), %eax
	movl %eax, %cr0
	/* A new page directory or a TLB flush: both are a CR3 load (CR4.PGE is
	 * off, so nothing survives it). */
2:	cmpl $0, %ss:(MON_GVA + MON_FLUSH_OFF)
	je 3f
	movl $0, %ss:(MON_GVA + MON_FLUSH_OFF)
	movl %ss:(MON_GVA + MON_CR3_WANT_OFF), %eax
	movl %eax, %cr3
3:	addl $4, %esp		/* cr2 */
	popl %eax
	addl $8, %esp		/* vector, error code */
	iret

/* Does a ring-1 write to `addr` (in %eax) succeed right now?  The write
 * changes nothing (an atomic OR of zero) but needs the page present and
 * writable, exactly what a CPU pushing a trap frame needs.  If it faults,
 * mon_fast sees a #PF from ring 0 at mon_probe_insn and resumes at
 * mon_probe_fail: the answer is 0. */
	.globl mon_probe_write, mon_probe_insn, mon_probe_fail
mon_probe_write:
mon_probe_insn:
	lock orb $0, (%eax)
	movl $1, %eax
	ret
mon_probe_fail:
	xorl %eax, %eax
	ret

/* Store %edx at `addr` (in %eax): 1, or 0 if the store faults (resumed at
 * mon_probe_store_fail).  Ring 0 with CR0.WP: a read-only page faults, as a
 * CPU pushing a frame for ring 1 would. */
	.globl mon_probe_store32, mon_probe_store_insn, mon_probe_store_fail
mon_probe_store32:
mon_probe_store_insn:
	movl %edx, (%eax)
	movl $1, %eax
	ret
mon_probe_store_fail:
	xorl %eax, %eax
	ret

/* The byte at `addr` (in %eax), or -1 if reading it faults (mon_fast resumes
 * a fault at mon_probe_read_insn at mon_probe_read_fail). */
	.globl mon_probe_read8, mon_probe_read_insn, mon_probe_read_fail
mon_probe_read8:
mon_probe_read_insn:
	movzbl (%eax), %eax
	ret
mon_probe_read_fail:
	movl $-1, %eax
	ret
	.section .note.GNU-stack,"",@progbits
