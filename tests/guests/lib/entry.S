/* lguest_entry, as the generation we speak spells it (docs/abi.md §H1.4).
 *
 * lgkvm recognises an lguest kernel by these bytes -- the first things a real
 * kernel's lguest_entry executes -- and picks the ABI generation from them
 * (docs/abi.md §H3.1).  Our guests start at _start and make their own
 * LGUEST_INIT from C, so this copy is never executed: it is the guest's
 * "built with CONFIG_LGUEST_GUEST" badge, byte for byte the real thing. */
#ifndef LGUEST_GEN
#define LGUEST_GEN 1
#endif
#define LHCALL_LGUEST_INIT 1
#define LHCALL_NEW_PGTABLE 4

	.section .text.entry, "ax"
	.globl lguest_entry
lguest_entry:
	movl	$LHCALL_LGUEST_INIT, %eax
#if LGUEST_GEN <= 3
	movl	$lguest_data, %edx
	int	$0x1f
#if LGUEST_GEN <= 2
	/* 2.6.24-2.6.28 copy the boot PDEs up to PAGE_OFFSET themselves. */
	movl	lguest_data + 1116, %esi
#else
	movl	$boot_stack_top, %esp
#endif
#else
	movl	$lguest_data, %ebx
#if LGUEST_GEN == 4 || LGUEST_GEN == 5
	vmcall
#else
	int	$0x1f
#endif
#if LGUEST_GEN >= 7
	/* 3.1+: switch to our own tables at once. */
	movl	$LHCALL_NEW_PGTABLE, %eax
#ifdef LGUEST_PAE
	movl	$initial_page_table, %ebx
#else
	movl	$0, %ebx
#endif
	int	$0x1f
#else
	movl	$boot_stack_top, %esp
#endif
#endif
	ud2

#ifdef LGUEST_PAE
/* A PAE kernel's first directory-pointer table, filled in at build time as
 * head_32.S does (PGD_IDENT_ATTR = present only): how lgkvm tells a PAE image
 * from a non-PAE one (docs/abi.md §H3.1 item 6).  Never loaded here. */
	.data
	.balign 4096
	.globl initial_page_table
initial_page_table:
	.long	initial_pg_pmd + 1, 0
	.long	0, 0
	.long	0, 0
	.long	initial_pg_pmd + 1, 0
	.balign 4096
initial_pg_pmd:
	.fill	1024, 4, 0
#endif

/* The banner a vmlinux carries, with a version of the generation we speak:
 * lgkvm reads it to pick the generation inside lguest_entry's class. */
	.section .rodata
	.globl linux_banner
linux_banner:
#if LGUEST_GEN == 1
	.asciz "Linux version 2.6.24 (lgkvm test guest)"
#elif LGUEST_GEN == 2
	.asciz "Linux version 2.6.27 (lgkvm test guest)"
#elif LGUEST_GEN == 3
	.asciz "Linux version 2.6.29 (lgkvm test guest)"
#elif LGUEST_GEN == 4
	.asciz "Linux version 2.6.30 (lgkvm test guest)"
#elif LGUEST_GEN == 5
	.asciz "Linux version 2.6.32 (lgkvm test guest)"
#elif LGUEST_GEN == 6
	.asciz "Linux version 2.6.34 (lgkvm test guest)"
#elif LGUEST_GEN == 7
	.asciz "Linux version 3.10.0 (lgkvm test guest)"
#elif LGUEST_GEN == 8
	.asciz "Linux version 4.0.0 (lgkvm test guest)"
#elif LGUEST_GEN == 9
	.asciz "Linux version 4.4.0 (lgkvm test guest)"
#else
	.asciz "Linux version 4.10.0 (lgkvm test guest)"
#endif

	.section .note.GNU-stack, "", @progbits
