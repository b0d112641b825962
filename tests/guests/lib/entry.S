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
#if LGUEST_GEN == 0
/* 2.6.23 (§H1.4): no subarch hook.  The Launcher looks for this string and
 * starts right after it, at the *virtual* address (PAGE_OFFSET + physical),
 * on tables that map RAM at PAGE_OFFSET and nowhere else.  The first three
 * instructions are 2.6.23's own (lgkvm reads PAGE_OFFSET from the third);
 * where Linux then jumps to lguest_init() at PAGE_OFFSET, we make
 * LGUEST_INIT, build tables that map the first 128 MiB both 1:1 and at
 * PAGE_OFFSET (so the library, linked 1:1, runs), switch to them and jump to
 * _start.  No stack yet: only stores through PAGE_OFFSET, and hypercalls
 * (which switch to the monitor's stack).  The tables live in .data, which
 * _start does not clear. */
#define PAGE_OFFSET 0xC0000000
#define G0_PTS	    32 /* page tables: 128 MiB */
	.ascii	"GenuineLguest"
	.globl lguest_entry
lguest_entry:
	movl	$boot_stack_top, %esp
	movl	%esi, %eax
	addl	$PAGE_OFFSET, %eax
	movl	%eax, g0_boot_params + PAGE_OFFSET
	movl	$1, g0_entered_virtual + PAGE_OFFSET
	movl	$LHCALL_LGUEST_INIT, %eax
	movl	$lguest_data, %edx
	int	$0x1f
	/* PTEs: page i -> i * 4096, present, writable, user. */
	movl	$g0_pts + PAGE_OFFSET, %edi
	movl	$0x7, %eax
	movl	$G0_PTS * 1024, %ecx
1:	movl	%eax, (%edi)
	addl	$4, %edi
	addl	$4096, %eax
	decl	%ecx
	jnz	1b
	/* PDEs 0.. and 768..: the same tables. */
	movl	$g0_pgdir + PAGE_OFFSET, %edi
	movl	$g0_pts + 0x7, %eax
	movl	$G0_PTS, %ecx
2:	movl	%eax, (%edi)
	movl	%eax, (PAGE_OFFSET >> 20)(%edi)
	addl	$4, %edi
	addl	$4096, %eax
	decl	%ecx
	jnz	2b
	movl	$LHCALL_NEW_PGTABLE, %eax
	movl	$g0_pgdir, %edx
	int	$0x1f
	movl	$_start, %eax
	jmp	*%eax

	.data
	.globl g0_boot_params, g0_entered_virtual
g0_boot_params:
	.long	0
g0_entered_virtual:
	.long	0
	.balign 4096
g0_pgdir:
	.fill	1024, 4, 0
g0_pts:
	.fill	G0_PTS * 1024, 4, 0
	.section .text.entry, "ax"
#else
	.globl lguest_entry
lguest_entry:
	movl	$LHCALL_LGUEST_INIT, %eax
#endif
#if LGUEST_GEN == 0
#elif LGUEST_GEN <= 3
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
#if LGUEST_GEN == 0
	.asciz "Linux version 2.6.23 (lgkvm test guest)"
#elif LGUEST_GEN == 1
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
