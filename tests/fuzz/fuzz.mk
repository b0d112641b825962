# libFuzzer harnesses: every tests/fuzz/fuzz_NAME.c is one harness.
#
#   make fuzz                 run each harness for FUZZ_SECONDS (default 30)
#   make fuzz FUZZ_SECONDS=600
#   make fuzz-smoke           each for 10 s: a quick "still no crash" for make check
#
# Harnesses are built with clang, -fsanitize=fuzzer,address,undefined, against
# a copy of liblgkvm built the same way (coverage needs the library
# instrumented too); like the unit tests they pull only the objects they call.
# That copy leaves out kvm-glue/: harnesses drive the pure layers (the loader,
# the hypercall dispatcher with a fake vCPU, the vring walker), which by design
# never touch /dev/kvm.  The one exception is the monitor's pages
# (kvm-glue/monitor.c and its stubs): plain memory writes, no ioctl, and the
# dispatcher cannot run without them.  A harness that needs kvm_kick() or
# kvm_arm_timer() includes tests/fuzz/no_kvm.h, which defines them.
# Everything lands in $(BUILD)/fuzz/:
#   fuzz_NAME              the harness
#   corpus/NAME/           what the fuzzer found interesting (grows run by run)
#   artifacts/NAME/        crash-*, leak-*, timeout-* inputs; rerun one with
#                          $(BUILD)/fuzz/fuzz_NAME FILE
# The committed seeds in tests/fuzz/corpus/NAME/ and the dictionary
# tests/fuzz/fuzz_NAME.dict, if present, are read but never written.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -O1 -g -std=gnu11 -Wall -Wextra -Werror -I. -D_GNU_SOURCE \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LIB_SRCS ?= $(filter-out kvm-glue/%,$(LIB_SRCS)) kvm-glue/monitor.c
FUZZ_LIB_ASM ?= kvm-glue/monitor_stubs.S
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_LIB_ASM:%.S=$(FUZZ_DIR)/obj/%.o)
FUZZ_LIB := $(FUZZ_DIR)/liblgkvm-fuzz.a
FUZZ_DEPS_STAMP := $(BUILD)/.fuzz-deps-ok

$(FUZZ_DEPS_STAMP): scripts/install-deps
	@mkdir -p $(BUILD)
	scripts/install-deps fuzz
	@touch $@

$(FUZZ_DIR)/obj/%.o: %.c | $(FUZZ_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/obj/%.o: %.S | $(FUZZ_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/obj/kvm-glue/monitor_stubs.o: $(MON_BIN)
$(FUZZ_DIR)/obj/kvm-glue/monitor_stubs.o: FUZZ_CFLAGS += -DMONITOR_BIN='"$(MON_BIN)"'

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) | $(FUZZ_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_LIB) $(LDLIBS)

# $(call fuzz_run,SECONDS): run every harness in turn; stop at the first that
# finds something (libFuzzer exits non-zero and says where the input went).
define fuzz_run
	@set -e; for n in $(FUZZ_NAMES); do \
		echo "== fuzz_$$n for $(1) s"; \
		mkdir -p $(FUZZ_DIR)/corpus/$$n $(FUZZ_DIR)/artifacts/$$n; \
		seeds=; if [ -d tests/fuzz/corpus/$$n ]; then seeds=tests/fuzz/corpus/$$n; fi; \
		dict=; if [ -f tests/fuzz/fuzz_$$n.dict ]; then dict=-dict=tests/fuzz/fuzz_$$n.dict; fi; \
		$(FUZZ_DIR)/fuzz_$$n -max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$n/ $$dict \
			$(FUZZ_DIR)/corpus/$$n $$seeds; \
	done
endef

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS))

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
