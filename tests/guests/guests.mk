# Conformance guests: tiny freestanding i386 lguest kernels (docs/DESIGN.md §10,
# layer 2).  Included by the top Makefile; everything lands in $(BUILD)/guests.
#
# Guests are built with their own compiler flags, never $(CFLAGS): SAN=1
# must not put sanitizers into code that runs with no libc at ring 1.

GUEST_DIR := tests/guests
GUEST_OUT := $(BUILD)/guests
GUEST_CC ?= gcc
OBJCOPY ?= objcopy
HOSTCC ?= $(CC)

GUEST_CFLAGS := -m32 -std=gnu11 -ffreestanding -fno-pic -fno-pie -nostdlib \
	-fno-stack-protector -mno-sse -mno-mmx -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fcf-protection=none \
	-fno-delete-null-pointer-checks -O2 -Wall -Wextra -Werror \
	-I$(GUEST_DIR)/lib
GUEST_LDFLAGS := -m32 -static -nostdlib -no-pie -Wl,-T,$(GUEST_DIR)/lib/guest.ld \
	-Wl,--build-id=none -Wl,--no-warn-rwx-segments
# 64-bit division (TSC arithmetic) comes from the compiler's own libgcc.
GUEST_LIBS := -lgcc

# One C file each.
GUEST_PLAIN := demo hello crash traps ioport usermode pagefault timer irq_storm async \
	fpu_ts gdt_tls spin halt_forever virtio_console
# The block and network devices (and the block benchmark, tests/bench/).
GUEST_PLAIN += virtio_blk virtio_net bench_blk bench_net snapshot
# Exit-cost and boot-time benchmarks (tests/bench/bench.sh).
GUEST_PLAIN += bench_hcall bench_null
# ABI violations the VMM must kill (exit 5): all from hostile.c, one ELF per
# case so each can be run by name.
GUEST_HOSTILE := hcall_before_init bad_hcall init_twice bad_gdt_count \
	idt_task_gate bad_stack crash_bad_addr lguest_data_outside \
	bad_syscall_vec bad_kernel_address bad_stack_pages set_pte_switcher \
	async_bad_hcall trap_no_idt idt_cleared_entry
# Also wrapped as bzImages.
GUEST_BZIMAGES := hello

GUEST_LIB_SRCS := $(wildcard $(GUEST_DIR)/lib/*.c $(GUEST_DIR)/lib/*.S)
GUEST_LIB_OBJS := $(patsubst $(GUEST_DIR)/%,$(GUEST_OUT)/obj/%.o,$(GUEST_LIB_SRCS))
GUEST_PLAIN_ELFS := $(GUEST_PLAIN:%=$(GUEST_OUT)/%.elf)
GUEST_HOSTILE_ELFS := $(GUEST_HOSTILE:%=$(GUEST_OUT)/%.elf)
GUEST_LD_SCRIPT := $(GUEST_DIR)/lib/guest.ld

.PHONY: guests
guests: $(GUEST_PLAIN_ELFS) $(GUEST_HOSTILE_ELFS) \
	$(GUEST_BZIMAGES:%=$(GUEST_OUT)/%.bzimage) $(GUEST_OUT)/tests.list

$(GUEST_OUT)/obj/%.c.o: $(GUEST_DIR)/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_OUT)/obj/%.S.o: $(GUEST_DIR)/%.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_PLAIN_ELFS): $(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/%.c.o $(GUEST_LIB_OBJS) $(GUEST_LD_SCRIPT)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^) $(GUEST_LIBS)

# A series of hostile guests: one source, one ELF per case, the case named at
# compile time.  $(1): the source's name, $(2): the series' ELFs.
define HOSTILE_SERIES
guests: $(2)
$(GUEST_OUT)/obj/$(1)-%.o: $(GUEST_DIR)/$(1).c | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$(GUEST_CC) $(GUEST_CFLAGS) -DHOSTILE_CASE='"$$*"' -MMD -MP -c -o $$@ $$<
$(2): $(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/$(1)-%.o $(GUEST_LIB_OBJS) $(GUEST_LD_SCRIPT)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(GUEST_LIBS)
endef
$(eval $(call HOSTILE_SERIES,hostile,$(GUEST_HOSTILE_ELFS)))

# bzImage variants: the loaded image as a flat binary (it starts at
# 0x100000, the linker script's one segment), behind a setup header.
$(GUEST_OUT)/%.bin: $(GUEST_OUT)/%.elf
	$(OBJCOPY) -O binary $< $@

$(GUEST_OUT)/%.bzimage: $(GUEST_OUT)/%.bin $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage $< $@

# A host tool: the host compiler, no sanitizers (it only shuffles bytes).
$(GUEST_OUT)/mkbzimage: $(GUEST_DIR)/mkbzimage.c
	@mkdir -p $(dir $@)
	$(HOSTCC) -O2 -std=gnu11 -Wall -Wextra -Werror -o $@ $< -lz

# The block test's disk image (virtio_blk.c checks its pattern): 1 MiB and a
# ragged 100-byte tail, written by a host tool.
guests: $(GUEST_OUT)/blk-test.img
$(GUEST_OUT)/mkblkimg: $(GUEST_DIR)/mkblkimg.c $(GUEST_DIR)/blk_pattern.h
	@mkdir -p $(dir $@)
	$(HOSTCC) -O2 -std=gnu11 -Wall -Wextra -Werror -o $@ $<

$(GUEST_OUT)/blk-test.img: $(GUEST_OUT)/mkblkimg
	$(GUEST_OUT)/mkblkimg $@ $$((1024 * 1024 + 100))

$(GUEST_OUT)/tests.list: $(GUEST_DIR)/tests.list
	@mkdir -p $(dir $@)
	cp $< $@

# Dependency files are only ever written by the compiler.  The empty rules
# stop make from trying to "remake" them through hostile-%.o and its
# built-in `%: %.o` link rule.
$(GUEST_OUT)/obj/%.d: ;
$(GUEST_OUT)/obj/lib/%.d: ;
-include $(wildcard $(GUEST_OUT)/obj/*.d $(GUEST_OUT)/obj/lib/*.d)

# The second series of hostile guests ("the guest is hostile"): the monitor's
# own pages, page tables past RAM or through themselves, descriptors aimed at
# ring 0, a garbage async ring, broken vrings, clock storms.  All from
# hostile2.c, one ELF per case; tests.list says how each must end (exit 5
# with the kill reason, 6 at --timeout, or 0 when the host must only keep its
# rules and the guest checks that it did).
GUEST_HOSTILE2 := mon_write_ro mon_write_pt mon_ring0 pte_past_ram stack_past_ram \
	recursive_pgdir set_stack_ring0 gdt_ring0 idt_sel async_garbage vring_loop \
	vring_huge_len vring_bad_addr vring_idx_jump vring_bad_head timer_storm halt_blocked
GUEST_HOSTILE2_ELFS := $(GUEST_HOSTILE2:%=$(GUEST_OUT)/%.elf)
# The monitor's fast path against hostile arguments: hostile_fast.c, one ELF
# per case, as above.
GUEST_HOSTILE_FAST := stack_unmapped stack_read_only stack_in_monitor stack_second_page \
	tls_past_limit async_then_bad_stack shared_scribble tls_fixups irq_stack_unmapped \
	irq_stack_in_monitor clock_scribble host_vector_int halt_stack_unmapped pf_stack_unmapped \
	pf_no_gate
GUEST_HOSTILE_FAST_ELFS := $(GUEST_HOSTILE_FAST:%=$(GUEST_OUT)/%.elf)
$(eval $(call HOSTILE_SERIES,hostile2,$(GUEST_HOSTILE2_ELFS)))
$(eval $(call HOSTILE_SERIES,hostile_fast,$(GUEST_HOSTILE_FAST_ELFS)))

# Per-generation guests (docs/abi.md §H1): the same sources, and the guest
# library, compiled once for each ABI generation with -DLGUEST_GEN=N into
# $(GUEST_OUT)/gN/, and for the PAE-capable ones (2.6.31+) also with
# -DLGUEST_PAE=1 into $(GUEST_OUT)/gNp/.  lib/lguest.h is where the
# generations differ.  Up to 3.19 (G7) devices are on the lguest device page
# (virtio_blk); from 4.0 (G8) on PCI (virtio_pci, hostile_pci).
GEN_LIST := 0 1 2 3 4 5 6 7 8 9 10
GEN_PAE_LIST := 5 6 7 8 9 10
GEN_GUESTS := abi_gen restart hostile_gen cpuid irq_storm
GEN_GUESTS_DEVPAGE := virtio_blk snapshot
GEN_GUESTS_PCI := virtio_pci hostile_pci snapshot
# 2.6.23 (G0) has no virtio: its devices are on the DMA bus (dma_bus.c).
GEN_GUESTS_DMA := dma_bus snapshot
# $(1): a generation number: its guests.
gen_guests = $(if $(filter 0,$(1)),$(GEN_GUESTS_DMA),$(GEN_GUESTS) \
	$(if $(filter 8 9 10,$(1)),$(GEN_GUESTS_PCI),$(GEN_GUESTS_DEVPAGE)))

# $(1): output folder name, $(2): compiler flags, $(3): the guests.
define GEN_RULES
$(GUEST_OUT)/$(1)/obj/%.c.o: $(GUEST_DIR)/%.c | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(GUEST_OUT)/$(1)/obj/%.S.o: $(GUEST_DIR)/%.S | $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$(GUEST_CC) $(GUEST_CFLAGS) $(2) -MMD -MP -c -o $$@ $$<
$(1)_LIB_OBJS := $(patsubst $(GUEST_DIR)/%,$(GUEST_OUT)/$(1)/obj/%.o,$(GUEST_LIB_SRCS))
$(1)_GUESTS := $(3)
$(GUEST_OUT)/$(1)/%.elf: $(GUEST_OUT)/$(1)/obj/%.c.o $$($(1)_LIB_OBJS) $(GUEST_LD_SCRIPT)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(GUEST_LIBS)
guests: $(3:%=$(GUEST_OUT)/$(1)/%.elf)
-include $$(wildcard $(GUEST_OUT)/$(1)/obj/*.d $(GUEST_OUT)/$(1)/obj/lib/*.d)
endef
$(foreach g,$(GEN_LIST),$(eval $(call GEN_RULES,g$(g),-DLGUEST_GEN=$(g),$(call gen_guests,$(g)))))
$(foreach g,$(GEN_PAE_LIST),$(eval $(call GEN_RULES,g$(g)p,-DLGUEST_GEN=$(g) -DLGUEST_PAE=1,$(call gen_guests,$(g)))))
# The per-generation objects are intermediate files of pattern rules: keep
# them, or every make would rebuild all of them.
.SECONDARY: $(foreach d,$(GEN_LIST:%=g%) $(GEN_PAE_LIST:%=g%p),$($(d)_LIB_OBJS) \
	$($(d)_GUESTS:%=$(GUEST_OUT)/$(d)/obj/%.c.o))

# A 2.6.26+-style bzImage of a per-generation guest: its ELF, gzip-compressed,
# with no decompressor in front; only a VMM that boots the decompressed ELF
# itself can run it (tests.list: g7-abi_gen.bzimage, g5p-abi_gen.bzimage).
GEN_BZIMAGES := g7/abi_gen g5p/abi_gen g4/abi_gen
guests: $(GEN_BZIMAGES:%=$(GUEST_OUT)/%.bzimage)
$(GEN_BZIMAGES:%=$(GUEST_OUT)/%.bzimage): $(GUEST_OUT)/%.bzimage: $(GUEST_OUT)/%.elf $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage --gzip-elf $< $@

# 2.6.23 bzImages (protocol 2.06, the flat kernel gzipped with OS byte 3):
# lgkvm unpacks them, finds the GenuineLguest marker and PAGE_OFFSET, and
# enters at the marker's virtual address, as the 2.6.23 Launcher did.
G0_BZIMAGES := g0/dma_bus g0/snapshot
guests: $(G0_BZIMAGES:%=$(GUEST_OUT)/%.bzimage)
$(G0_BZIMAGES:%=$(GUEST_OUT)/%.bzimage): $(GUEST_OUT)/%.bzimage: $(GUEST_OUT)/%.bin $(GUEST_OUT)/mkbzimage
	$(GUEST_OUT)/mkbzimage --g0 $< $@
