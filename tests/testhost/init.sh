#!/bin/sh
# /init of the nested test host (L1): PID 1 inside qemu-system-x86_64 -cpu max.
#
# Only busybox exists in here, so this is plain POSIX sh.  build-host packs this file
# as /init of the base initramfs; run adds /testhost/run.conf per run, which sets
#   MARK         a random string that brackets COMMAND's output on the serial line,
#                so the host can tell COMMAND's output from the kernel's and ours
#   INTERACTIVE  1 for `make testhost-shell`: COMMAND gets the terminal, no markers
# and ends with `set -- COMMAND ARGS...`.
#
# The console protocol the host's `run` parses (one line each, CR/LF as the tty makes it):
#   $MARK-FAIL <reason>            L1 could not be set up; power off follows
#   $MARK-BEGIN <uptime>           COMMAND starts on the next byte
#   $MARK-END <status> <uptime>    COMMAND has exited (may follow COMMAND's last
#                                  bytes on the same line if they had no newline)
#   $MARK-KWARN                    the kernel logged a warning/BUG while COMMAND ran;
#                                  the new kernel log follows
# Nothing here may use `set -e`: PID 1 exiting is a kernel panic, and every failure
# must instead reach the host as a FAIL line followed by a clean power-off.

export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/work LGKVM=/usr/local/bin/lgkvm

# The initramfs has no /dev/console node (building one needs mknod, i.e. root), so
# the kernel started us with no stdin/stdout at all.  devtmpfs gives us the nodes.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp

# Wait until everything written to the console has left the UART, then power off.
# A tty write returns once the bytes are in the tty buffer; without the drain the
# last line (the END marker!) can be lost when the machine stops.  busybox stty sets
# modes with tcsetattr(TCSADRAIN), so re-setting a mode that is already on drains.
halt_now() {
	stty onlcr 2>/dev/null
	sync
	poweroff -f
	# Not reached; if it were, PID 1 exiting panics and panic=-1 + -no-reboot still
	# stops QEMU.
	exit 1
}

# shellcheck source=/dev/null # written by run
if ! . /testhost/run.conf; then
	echo "testhost: /testhost/run.conf missing or broken"
	halt_now
fi

fail() {
	dmesg | tail -n 20
	echo "$MARK-FAIL $*"
	halt_now
}

uptime_s() {
	read -r up _ </proc/uptime
	echo "$up"
}

# kvm_amd and its dependencies, in dependency order (build-host computed it from the
# modules' own depends= fields).  "optional" modules (tun, for virtio-net tests) may fail.
while read -r name kind; do
	[ -n "$name" ] || continue
	if ! insmod "/lib/modules/testhost/$name.ko"; then
		[ "$kind" = optional ] || fail "insmod $name failed"
		echo "testhost: optional module $name did not load"
	fi
done </lib/modules/testhost/load-order

[ -c /dev/kvm ] || fail "/dev/kvm missing after loading kvm_amd (no svm in QEMU's CPU?)"
# For the serial log only: shadow paging works too, but is not what we measure with.
dmesg | grep -q 'Nested Paging enabled' || echo "testhost: warning: kvm_amd without nested paging"

mkdir -p /work
cd /work || fail "no /work"

if [ "$INTERACTIVE" = 1 ]; then
	echo "testhost: L1 ready in $(uptime_s) s: lgkvm on PATH, added files in /work."
	echo "testhost: leave the shell to power off (or Ctrl-A x to kill QEMU)."
	# cttyhack gives the shell a real controlling tty, so job control and ^C work.
	setsid cttyhack "$@"
else
	klines=$(dmesg | wc -l)
	echo "$MARK-BEGIN $(uptime_s)"
	# stdin: QEMU's serial input is not ours to read, and a COMMAND waiting on it would
	# hang until the timeout.
	"$@" </dev/null 2>&1
	status=$?
	echo "$MARK-END $status $(uptime_s)"
	# The console hides the kernel's warnings (loglevel=1), but a WARN_ON or BUG in
	# kvm/kvm_amd while COMMAND ran is exactly what a KVM test wants to hear about.
	if dmesg | tail -n +$((klines + 1)) | grep -qE 'WARNING:|BUG:|Oops|general protection|Call Trace:'; then
		echo "$MARK-KWARN"
		dmesg | tail -n +$((klines + 1)) | tail -n 80
	fi
fi
halt_now
