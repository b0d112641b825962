# The monitor's code page: i386, freestanding, built with its own flags (never
# $(CFLAGS): SAN=1 must not put sanitizers into code that runs at ring 0 inside
# the guest) into one flat image that kvm-glue/monitor_stubs.S carries as data.
# Included by the top Makefile; everything lands in $(BUILD)/monitor.

MON_DIR := kvm-glue/monitor
MON_OUT := $(BUILD)/monitor
MON_BIN := $(MON_OUT)/monitor.bin
MON_CC ?= gcc
MON_CFLAGS := -m32 -std=gnu11 -ffreestanding -fno-pic -fno-pie -nostdlib \
	-fno-stack-protector -mno-sse -mno-mmx -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -fcf-protection=none -Os \
	-Wall -Wextra -Werror -I.
MON_LDFLAGS := -m32 -static -nostdlib -no-pie -Wl,-T,$(MON_DIR)/monitor.ld \
	-Wl,--build-id=none -Wl,--no-warn-rwx-segments
MON_OBJS := $(MON_OUT)/entry.o $(MON_OUT)/fast.o $(MON_OUT)/clock.o

$(MON_OUT)/%.o: $(MON_DIR)/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(MON_CC) $(MON_CFLAGS) -MMD -MP -c -o $@ $<

$(MON_OUT)/%.o: $(MON_DIR)/%.S | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(MON_CC) $(MON_CFLAGS) -MMD -MP -c -o $@ $<

$(MON_OUT)/monitor.elf: $(MON_OBJS) $(MON_DIR)/monitor.ld
	$(MON_CC) $(MON_LDFLAGS) -o $@ $(MON_OBJS)

$(MON_BIN): $(MON_OUT)/monitor.elf
	$(OBJCOPY) -O binary $< $@

# The host-side objects that carry it.
$(BUILD)/obj/kvm-glue/monitor_stubs.o: $(MON_BIN)
$(BUILD)/obj/kvm-glue/monitor_stubs.o: CFLAGS += -DMONITOR_BIN='"$(MON_BIN)"'

-include $(wildcard $(MON_OUT)/*.d)
