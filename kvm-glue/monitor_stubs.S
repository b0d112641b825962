/* The monitor's code: 32-bit, ring 0, mapped at MON_GVA inside every guest.
 *
 * It is assembled into lgkvm's own (64-bit) binary as data and copied into the
 * monitor's read-only pages; nothing here ever runs on the host.  Offsets must
 * match kvm-glue/monitor.h. */
#include "kvm-glue/monitor.h"

	.section .rodata
	.code32

/* 256 stubs, 16 bytes apart, so the IDT can point at stub N by arithmetic.
 * The CPU pushes an error code for vectors 8, 10-14 and 17; every other stub
 * pushes a zero in its place so the frame has one shape. */
	.balign 16
	.globl monitor_stubs_start
monitor_stubs_start:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp monitor_stubs_start + (MON_CODE_OFF - MON_STUBS_OFF)
	.set vec, vec + 1
	.endr
	.balign 16
	/* 256 x 16 bytes: the common code follows at exactly +0x1000. */
	.globl monitor_stubs_end
monitor_stubs_end:

/* The common path and the fast path, at MON_CODE_OFF: an i386 image of their
 * own (kvm-glue/monitor/), linked at MON_GVA + MON_CODE_OFF. */
	.globl monitor_code_start
monitor_code_start:
	.incbin MONITOR_BIN
	.globl monitor_code_end
monitor_code_end:
	.code64

/* Sizes as data, so C need not subtract pointers to different objects. */
	.balign 4
	.globl monitor_stubs_size, monitor_code_size
monitor_stubs_size:
	.long monitor_stubs_end - monitor_stubs_start
monitor_code_size:
	.long monitor_code_end - monitor_code_start
	.section .note.GNU-stack,"",@progbits
