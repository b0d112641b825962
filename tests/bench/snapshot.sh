#!/bin/sh
# tests/bench/snapshot.sh LGKVM GUESTDIR — snapshots and restores (busybox sh).
#
# The conformance guest snapshot.elf ("long": 200 rounds of a 1 MiB RAM pattern,
# a disk record and a 20 ms timer each) with 64 MiB and with 512 MiB of RAM:
# snapshotted while it runs -- the time the guest is held, and the size of the
# files on disk -- then restored: lgkvm's set-up until the guest's first
# instruction, against the baseline of a fresh boot's set-up of the same guest
# in this same run.  Then live migration between two lgkvm processes on this
# host (a unix socket): an idle 512 MiB guest (halt_forever.elf) and a busy one
# (snapshot.elf, 1 MiB rewritten every 20 ms): rounds, bytes sent, total time
# and the time the guest was paused.  Numbers only; nothing passes or fails on
# them.
set -u
lgkvm=$1
cd "$2" || exit 2
w=/tmp/bench-snap
rm -rf "$w"
mkdir -p "$w"
setup_ms() { sed -n 's/.*set-up \([0-9.]*\) ms.*/\1/p' | head -n 1; }

for mem in 64M 512M; do
	cp blk-test.img "$w/d.img"
	sock=$w/s.sock
	rm -f "$sock" "$w/src.out"
	# The baseline: a fresh boot of the same guest (-v says how long its
	# set-up took); then the run to snapshot, quiet, so its console lines
	# can be watched for.
	boot=$("$lgkvm" run -v --timeout 120 -m "$mem" --disk "$w/d.img" snapshot.elf -- disk 2>&1 |
		setup_ms)
	cp blk-test.img "$w/d.img"
	"$lgkvm" run --timeout 120 -m "$mem" --api-sock "$sock" --disk "$w/d.img" snapshot.elf \
		-- disk long >"$w/src.out" 2>&1 &
	pid=$!
	i=0
	while ! grep -q "snapshot: round 10," "$w/src.out" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	# As a user moving a guest does: pause, snapshot, stop (a guest that
	# ran on would change its disk under the snapshot).
	"$lgkvm" api "$sock" '{"cmd":"pause"}' >/dev/null
	reply=$("$lgkvm" api "$sock" "{\"cmd\":\"snapshot\",\"path\":\"$w/s.state\"}")
	"$lgkvm" api "$sock" '{"cmd":"stop"}' >/dev/null
	wait $pid
	held=$(echo "$reply" | sed -n 's/.*"ms":\([0-9]*\).*/\1/p')
	written=$(echo "$reply" | sed -n 's/.*"mem_bytes":\([0-9]*\).*/\1/p')
	disk_k=$(du -k "$w/s.state.mem" | cut -f1)
	state_b=$(wc -c <"$w/s.state")
	t0=$(awk '{ print $1 }' /proc/uptime)
	"$lgkvm" restore -v --timeout 120 "$w/s.state" >"$w/r.out" 2>&1
	rc=$?
	t1=$(awk '{ print $1 }' /proc/uptime)
	restore=$(setup_ms <"$w/r.out")
	[ "$rc" = 0 ] || tail -n 3 "$w/r.out"
	t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	awk -v m="$mem" -v held="${held:-0}" -v wr="${written:-0}" -v dk="$disk_k" -v sb="$state_b" \
		-v boot="${boot:-0}" -v rs="${restore:-0}" -v rc="$rc" -v t="$t" 'BEGIN {
		printf "%s guest: snapshot took %d ms (the guest paused); memory file %.1f MiB written, %.1f MiB on disk; state file %d KiB\n",
			m, held, wr / 1048576, dk / 1024, sb / 1024
		printf "%s guest: restore to first instruction %.1f ms (a fresh boot to first instruction: %.1f ms; ratio %.2fx); restored guest ran to exit %d in %.1f s\n",
			m, rs, boot, (boot > 0 ? rs / boot : 0), rc, t
	}'
	rm -f "$w/s.state" "$w/s.state.mem"
done

# Live migration.
ip link set lo up 2>/dev/null
field() { echo "$2" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
for what in idle:halt_forever.elf: busy:snapshot.elf:disk; do
	kind=${what%%:*}
	rest=${what#*:}
	elf=${rest%%:*}
	word=${rest#*:}
	cp blk-test.img "$w/d.img"
	rm -f "$w/s.sock" "$w/in.sock" "$w/src.out"
	"$lgkvm" run -q --timeout 120 --incoming "unix:$w/in.sock" >"$w/dst.out" 2>&1 &
	dpid=$!
	"$lgkvm" run -q --timeout 120 -m 512M --api-sock "$w/s.sock" --disk "$w/d.img" "$elf" \
		-- $word long >"$w/src.out" 2>&1 &
	spid=$!
	i=0
	while { [ ! -S "$w/s.sock" ] || [ ! -S "$w/in.sock" ]; } && [ $i -lt 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	sleep 1
	reply=$("$lgkvm" api "$w/s.sock" "{\"cmd\":\"migrate\",\"to\":\"unix:$w/in.sock\"}")
	wait $spid
	kill "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
	awk -v k="$kind" -v r="$(field rounds "$reply")" -v b="$(field mem_bytes "$reply")" \
		-v t="$(field total_ms "$reply")" -v d="$(field downtime_ms "$reply")" 'BEGIN {
		if (t == "") { printf "migrate, %s 512 MiB guest: failed\n", k; exit }
		printf "migrate, %s 512 MiB guest: %d rounds, %.1f MiB sent, %d ms in all, %d ms paused\n",
			k, r, b / 1048576, t, d
	}'
done
rm -rf "$w"
