# Unit tests: every tests/unit/test_*.c is one cmocka program, linked against
# liblgkvm.a.  The archive is a static library, so a test pulls in only the
# objects it actually calls: a test of the loader does not need the rest of
# lgkvm to link.
#
#   make unit                build and run them all; fails if any test fails
#   make unit-boot           build and run just tests/unit/test_boot.c
#   make unit SAN=1          the same under ASan + UBSan (in build-san/)
#
# Output is cmocka's own ("[  PASSED  ] 12 test(s)." ...), which CI parses;
# CMOCKA_MESSAGE_OUTPUT=tap (or xml, subunit) in the environment changes it.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

$(BUILD)/unit/test_%: tests/unit/test_%.c $(LIB) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(LIB) -lcmocka $(LDLIBS)

# test_cli runs the real binary, on bad files made from two test guests.
$(BUILD)/unit/test_cli: $(LGKVM) $(GUEST_OUT)/hello.elf $(GUEST_OUT)/hello.bzimage
# test_batch_cli runs `lgkvm batch` on jobs that end before KVM.
$(BUILD)/unit/test_batch_cli: $(LGKVM)

# Run every test even after one fails, so one run shows every failure; then
# fail if any did.
.PHONY: unit
unit: $(UNIT_BINS)
	@failed=; \
	for t in $(UNIT_BINS); do \
		echo "== $$t"; \
		$$t || failed="$$failed $${t##*/}"; \
	done; \
	if [ -n "$$failed" ]; then echo "unit: FAILED:$$failed" >&2; exit 1; fi; \
	echo "unit: all $(words $(UNIT_BINS)) test programs passed"

unit-%: $(BUILD)/unit/test_%
	$<

-include $(wildcard $(BUILD)/unit/*.d)
