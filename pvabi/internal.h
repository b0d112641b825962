/* Shared between the files of pvabi/ (not for the rest of lgkvm). */
#ifndef LGKVM_PVABI_INTERNAL_H
#define LGKVM_PVABI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm-glue/monitor.h"
#include "pvabi/host.h"

struct vm;

/* lguest_data fields, by ABI-table offset; failures kill the guest. */
bool ld_read32(struct vm *vm, unsigned off, uint32_t *val);
bool ld_write32(struct vm *vm, unsigned off, uint32_t val);
/* Refresh lguest_data.time from the host's wall clock. */

/* desc.c: the descriptor-table hypercalls and the real IDT. */
void lg_load_gdt(struct vm *vm, uint32_t gpa, uint32_t count);
void lg_load_gdt_entry(struct vm *vm, uint32_t idx, uint32_t lo, uint32_t hi);
void lg_load_tls(struct vm *vm, uint32_t gpa);
void lg_load_idt_entry(struct vm *vm, uint32_t vec, uint32_t lo, uint32_t hi);
void lg_set_stack(struct vm *vm, uint32_t ss, uint32_t esp, uint32_t pages);
/* Base of a segment selector in the guest's GDT image; false for the LDT or
 * a selector past the table. */
bool lg_seg_base(struct vm *vm, uint32_t sel, uint32_t *base);

/* traps.c: push a trap/interrupt frame and point the guest at the handler
 * of `vec` (docs/abi.md §5.4).  Kills the guest if it has no handler. */
void lg_deliver(struct vm *vm, struct mon_frame *f, unsigned vec, bool has_err, uint32_t err);
void lg_handle_trap(struct vm *vm, struct guest_regs *r, struct mon_frame *f);

/* vmcall.c: a `vmcall` the load-time rewrite missed, met as #UD. */
bool lg_fix_vmcall(struct vm *vm, struct mon_frame *f);

/* hcall.c */
void lg_hypercall(struct vm *vm, struct guest_regs *r, struct mon_frame *f);

/* pgtable.c: the page-table hypercalls and the boot mappings each
 * generation expects (docs/abi.md §7, §H1.4).  The guest's TLB cannot be
 * maintained from ring 1, so every one of them ends in a flush. */
void lg_flush_tlb(struct vm *vm);
void lg_new_pgtable(struct vm *vm, uint32_t pgdir);
void lg_set_pte(struct vm *vm, uint32_t pgdir, uint32_t va);
void lg_set_pmd(struct vm *vm, uint32_t page, uint32_t idx);
void lg_set_pmd_pae(struct vm *vm, uint32_t pmd, uint32_t idx);
/* At LGUEST_INIT: the boot mappings the generation expects. */
void lg_boot_paging_at_init(struct vm *vm);

/* shutdown.c: CRASH (2.6.24) and SHUTDOWN (2.6.25+). */
void lg_shutdown(struct vm *vm, uint32_t msg_gpa, uint32_t reason);

/* mmio.c: a #PF KVM raised at an MMIO instruction it could not fetch. */
bool lg_emulate_mmio(struct vm *vm, struct guest_regs *r, struct mon_frame *f);

#endif
