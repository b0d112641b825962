/* Trap entry stubs and lguest_iret.
 *
 * One 16-byte stub per vector, so C can find vector v's entry at
 * trap_stubs + 16 * v without a table.  Each stub makes the frame uniform
 * (a dummy error code where the CPU/host pushes none: every vector except
 * 8, 10-14 and 17, §5.4), pushes its vector and joins trap_common, which
 * saves the rest and calls trap_dispatch(struct trap_frame *). */

#include "lguest.h"

#define LGUEST_DATA_irq_enabled 0

	.text
	.align 16
	.globl trap_stubs
trap_stubs:
	vector = 0
	.rept 256
	.align 16
	.if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17)
	.else
	pushl	$0
	.endif
	pushl	$vector
	jmp	trap_common
	vector = vector + 1
	.endr

trap_common:
	pushal
	pushl	%ds
	pushl	%es
	pushl	%fs
	pushl	%gs
	/* From ring 3 the data segments are the user's; use our own. */
	movl	$0x69, %eax
	movl	%eax, %ds
	movl	%eax, %es
	pushl	%esp
	call	trap_dispatch
	addl	$4, %esp
	popl	%gs
	popl	%fs
	popl	%es
	popl	%ds
	popal
	addl	$8, %esp		/* vector, error code */
	jmp	lguest_iret

/* The guest's iret (§5.6).  At CPL 1 a real iret cannot change IF, so the
 * virtual IF must come from the frame's EFLAGS image: store it into
 * lguest_data.irq_enabled, then iret.  Between the store and the iret an
 * interrupt would be wrong (it would be taken with interrupts "enabled" but
 * on the not-yet-consumed frame).  The %ss override: when returning to ring 3
 * DS may already be the user's. */
	.globl lguest_iret
#if GEN_NOIRQ_IRET
/* 4.1+ (layout L4): the EFLAGS image goes straight from the frame into
 * irq_enabled (push 8(%esp), pop into memory), so the only instruction the
 * host must not interrupt is the iret itself, whose EIP lguest_data.noirq_iret
 * names. */
	.globl lguest_noirq_iret
lguest_iret:
	pushl	8(%esp)
	popl	%ss:lguest_data + LGUEST_DATA_irq_enabled
lguest_noirq_iret:
	iret
#else
/* Up to 4.0 the host is told never to inject inside
 * [lguest_noirq_start, lguest_noirq_end). */
	.globl lguest_noirq_start, lguest_noirq_end
lguest_iret:
	pushl	%eax
	movl	12(%esp), %eax		/* saved EAX, EIP, CS, then EFLAGS */
lguest_noirq_start:
	movl	%eax, %ss:lguest_data + LGUEST_DATA_irq_enabled
	popl	%eax
	iret
lguest_noirq_end:
#endif

	.section .note.GNU-stack, "", @progbits
