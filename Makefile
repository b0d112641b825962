# lgkvm — a KVM home for lguest kernels.
#
#   make            build lgkvm and the test guests (installs missing packages)
#   make run        ... and boot the bundled demo guest (directly or in the test host)
#   make check      the whole test suite: unit tests, then guests on real KVM
#   make check SAN=1    the same, built with ASan + UBSan
#   make bench      benchmarks (ratios against a baseline measured in the same run)
#   make lint       clang-format check + cppcheck
#
# Everything is built under $(BUILD); nothing is installed outside it except the
# Debian packages that scripts/install-deps adds when they are missing.

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= gcc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -I. -D_GNU_SOURCE $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
LDLIBS := -luring -lfdt -lpthread -lseccomp -lcapstone -lz -lbz2 -llzma -llzo2 -llz4 -ljson-c

LGKVM := $(BUILD)/lgkvm
LIB_SRCS := $(wildcard kvm-glue/*.c pvabi/*.c virtio/*.c) $(filter-out src/main.c,$(wildcard src/*.c))
LIB_ASM := $(wildcard kvm-glue/*.S)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)
LIB := $(BUILD)/liblgkvm.a

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all run check unit kvm-tests bench lint format clean deps testhost-shell
all: $(LGKVM) guests

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps
	@mkdir -p $(BUILD)
	scripts/install-deps build
	@touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LGKVM): $(BUILD)/obj/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

include kvm-glue/monitor/monitor.mk
include tests/guests/guests.mk
include tests/unit/unit.mk
include tests/testhost/testhost.mk
include tests/bench/bench.mk
include tests/fuzz/fuzz.mk

# The demo: the bundled greeting guest, on this host's KVM if it can run a
# 32-bit paged guest, otherwise inside the nested test host.
run: all
	tests/testhost/kvm-run $(LGKVM) $(BUILD)/guests/demo.elf

check: all unit fuzz-smoke $(BUILD)/.slurm-deps-ok
	tests/testhost/kvm-tests $(LGKVM) $(BUILD)/guests
	tests/testhost/batch-test $(LGKVM) $(BUILD)/guests
	tests/testhost/batch-test --script snapshot-check.sh $(LGKVM) $(BUILD)/guests
	tests/slurm/slurm-test $(LGKVM)

# A one-node Slurm for tests/slurm/slurm-test (Debian's packages; nothing is
# started until the test starts it, in a private directory).
$(BUILD)/.slurm-deps-ok: scripts/install-deps
	@mkdir -p $(BUILD)
	scripts/install-deps slurm
	@touch $@

lint:
	scripts/lint

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san
