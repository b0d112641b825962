# tests/testhost/testhost.mk — the nested KVM test host (tests/testhost/README.md).
# Included by the top Makefile, which defines BUILD and LGKVM.  `make check` and
# `make run` reach the test host through tests/testhost/kvm-tests and kvm-run.
#
# The cache (kernel package, unpacked kernel and modules, base initramfs) is one fixed
# directory for normal and SAN=1 builds alike, so neither downloads what the other has.

TESTHOST_DIR := tests/testhost
TESTHOST_CACHE := build/testhost-cache

.PHONY: testhost testhost-shell testhost-clean

# Fetch and assemble the test host now rather than on first use (CI's warm-up step).
testhost:
	$(TESTHOST_DIR)/build-host >/dev/null

# An interactive shell in L1: this build's lgkvm on PATH, the guests in /work/guests.
# Leave the shell to power L1 off (or ^A x to kill QEMU).
testhost-shell: all
	LGKVM=$(LGKVM) LGKVM_TESTHOST_INTERACTIVE=1 $(TESTHOST_DIR)/run \
		$(if $(wildcard $(BUILD)/guests),--add $(BUILD)/guests) -- sh

testhost-clean:
	rm -rf $(TESTHOST_CACHE)
