#!/bin/sh
# tests/bench/bench.sh LGKVM GUESTDIR — the benchmarks themselves (busybox sh).
#
# Runs where real KVM is: directly, or inside the nested test host (run-bench
# decides).  Every number is reported next to a baseline measured in this same
# run, as a ratio; nothing here passes or fails on timing.
set -u
lgkvm=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$2" || exit 2
runs=${LGKVM_BENCH_RUNS:-5}

# The median of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

# Field value "key=N" from a line of bench_hcall's output.
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -n 1; }

echo "== hypercall round trip vs in-VM trap (bench_hcall guest, TSC cycles per operation)"
out=$("$lgkvm" run --timeout 60 bench_hcall.elf 2>&1)
echo "$out" | grep '^bench:' | sed 's/^/  /'
trap_c=$(echo "$out" | grep 'bench: direct_trap' | field cycles)
hcall_c=$(echo "$out" | grep 'bench: hypercall' | field cycles)
io_c=$(echo "$out" | grep 'bench: emulated_io' | field cycles)
mon_c=$(echo "$out" | grep 'bench: monitor_hcall' | field cycles)
if [ -n "$trap_c" ] && [ -n "$hcall_c" ] && [ "$trap_c" != 0 ]; then
	awk -v t="$trap_c" -v h="$hcall_c" -v i="${io_c:-0}" -v m="${mon_c:-0}" 'BEGIN {
		printf "  ratio hypercall (exit to lgkvm) / direct trap (no exit): %.1fx\n", h / t
		if (m > 0) printf "  ratio hypercall in the monitor (no exit) / direct trap:  %.1fx\n", m / t
		if (m > 0) printf "  ratio hypercall (exit) / hypercall in the monitor:       %.1fx\n", h / m
		if (i > 0) printf "  ratio emulated port I/O (#GP exit) / hypercall:          %.2fx\n", i / h
	}'
else
	echo "  (bench_hcall gave no numbers: $(echo "$out" | tail -n 1))"
fi

echo "== interrupt delivery: a clock event's deadline to the guest's handler (bench_hcall)"
echo "$out" | grep 'bench: irq_latency' | sed 's/^/  /'
lat=$(echo "$out" | grep 'bench: irq_latency' | sed -n 's/.*spinning us=\([0-9]*\).*/\1/p')
if [ -n "$lat" ] && [ -n "$hcall_c" ] && [ -n "$io_c" ]; then
	awk -v l="$lat" -v h="$hcall_c" -v t="$(echo "$out" | grep 'bench: tsc_khz' | field tsc_khz)" 'BEGIN {
		if (t > 0) printf "  ratio irq latency (spinning) / hypercall round trip: %.1fx\n", l * t / 1000 / h
	}'
fi

echo "== boot to power-off, median of $runs (lgkvm -v timings, ms)"
for g in bench_null demo; do
	: >"/tmp/bench.$g"
	i=0
	while [ "$i" -lt "$runs" ]; do
		"$lgkvm" run -v --timeout 60 "$g.elf" 2>&1 >/dev/null |
			sed -n 's/.*boot to end: \([0-9.]*\) ms (lgkvm start to exit: \([0-9.]*\) ms).*/\1 \2/p' \
				>>"/tmp/bench.$g"
		i=$((i + 1))
	done
done
null_boot=$(awk '{ print $1 }' /tmp/bench.bench_null | median)
null_total=$(awk '{ print $2 }' /tmp/bench.bench_null | median)
demo_boot=$(awk '{ print $1 }' /tmp/bench.demo | median)
demo_total=$(awk '{ print $2 }' /tmp/bench.demo | median)
echo "  null guest (INIT, power off): boot $null_boot ms, whole lgkvm run $null_total ms"
echo "  demo guest (greeting):        boot $demo_boot ms, whole lgkvm run $demo_total ms"
awk -v n="$null_boot" -v d="$demo_boot" -v nt="$null_total" 'BEGIN {
	if (n > 0) printf "  ratio demo boot / null-guest boot: %.2fx\n", d / n
	printf "  lgkvm set-up before the first instruction (probe, VM, load): %.1f ms\n", nt - n
}'

# What still leaves the VM (docs/DESIGN.md §2.9): every exit to lgkvm, by
# cause, for one boot of a few guests of different eras.
echo "== exits to lgkvm per boot (lgkvm -v), by cause"
for g in demo g7/abi_gen g9/abi_gen; do
	[ -f "$g.elf" ] || continue
	"$lgkvm" run -v --timeout 60 "$g.elf" 2>&1 >/dev/null |
		sed -n "s|^lgkvm: exits to lgkvm: |  $g: |p; s|^lgkvm: hypercalls: |    hypercalls: |p"
done

# Snapshots: tests/bench/snapshot.sh (time held, size, restore vs boot set-up).
if [ -f snapshot.elf ] && [ -f "$here/snapshot.sh" ]; then
	echo "== snapshot and restore (tests/bench/snapshot.sh)"
	sh "$here/snapshot.sh" "$lgkvm" . | sed 's/^/  /'
fi

# A farm's cost per guest: tests/bench/batch.sh (lgkvm batch vs bare runs).
if [ -f "$here/batch.sh" ]; then
	echo "== farm: demo guests through lgkvm batch, vs bare lgkvm runs"
	sh "$here/batch.sh" "$lgkvm" . "${LGKVM_BENCH_BATCH_JOBS:-200}" | sed 's/^/  /'
fi

# The block device: tests/bench/blk.sh (guest vs dd on the same file).
if [ -f bench_blk.elf ] && [ -f "$here/blk.sh" ]; then
	echo "== block I/O (4 KiB sequential and random, guest vs host dd)"
	sh "$here/blk.sh" "$lgkvm" . "${LGKVM_BENCH_BLK_MIB:-16}" | sed 's/^/  /'
fi

# The network device: tests/bench/net.sh (guest pings and UDP over the tap vs
# this host's loopback).  It needs a tap, so root and /dev/net/tun.
if [ -f bench_net.elf ] && [ -f "$here/net.sh" ]; then
	echo "== network (ping round trip and UDP guest->host, vs loopback)"
	sh "$here/net.sh" "$lgkvm" . "${LGKVM_BENCH_NET_PINGS:-1000}" "${LGKVM_BENCH_NET_FRAMES:-20000}" |
		sed 's/^/  /'
fi
