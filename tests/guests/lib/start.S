/* Entry point of every test guest.
 *
 * The VMM enters here at ring 1 with paging on, CS 0x61, DS/ES/SS 0x69,
 * all general registers 0 and ESP 0 (§2.7).  ESP 0 means there is no stack:
 * the first push would land at 0xFFFFFFFC, inside the host's top 4 MiB.  So we
 * record the registers with plain stores, take our own stack, clear BSS (the
 * VMM zero-fills RAM, but a bzImage payload stops at the end of .data and
 * Linux clears its own BSS too) and call the test. */

	.section .text.start, "ax"
	.globl _start
_start:
	movl	%eax, boot_regs + 0
	movl	%ebx, boot_regs + 4
	movl	%ecx, boot_regs + 8
	movl	%edx, boot_regs + 12
	movl	%esi, boot_regs + 16
	movl	%edi, boot_regs + 20
	movl	%ebp, boot_regs + 24
	movl	%esp, boot_regs + 28
	movw	%cs, boot_regs + 36
	movw	%ds, boot_regs + 40
	movw	%es, boot_regs + 44
	movw	%ss, boot_regs + 48
	movw	%fs, boot_regs + 52
	movw	%gs, boot_regs + 56

	movl	$boot_stack_top, %esp
	/* EFLAGS needs a push, so only now; nothing above changed it. */
	pushfl
	popl	boot_regs + 32

	cld
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	xorl	%ebp, %ebp
	call	test_main
	/* test_main should end in pass() or fail(); returning is a bug. */
	call	returned_from_test_main
1:	jmp	1b

	.data
	.globl boot_regs
	.align 4
boot_regs:
	.fill 15, 4, 0

	.bss
	.align 16
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip 16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
