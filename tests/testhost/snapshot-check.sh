#!/bin/sh
# tests/testhost/snapshot-check.sh — snapshots and restores on real KVM, with our own guests.
#
# Usage: snapshot-check.sh LGKVM GUESTDIR
#
# Plain POSIX sh (busybox in the test host).  The conformance guest tests/guests/snapshot.c
# counts, checksums 1 MiB of its RAM, writes a disk record and sleeps on a timer, round
# after round, and checks at the end that nothing it did was lost or repeated.  For every
# generation it is snapshotted mid-way over the API socket (paused, snapshot, stopped) and
# restored; the restored guest must finish and pass.  Then the ways a restore must refuse:
# a disk that changed (exit 2, unless --force), missing files (2), corrupt or truncated
# state and memory files and a memory file of another snapshot (11), devices that do not
# match (2), options the snapshot fixes (2); and the API's refusals.  Then live migration
# between lgkvm processes (`migrate` to a `run --incoming`): over a unix socket and TCP,
# twice in a row, for a virtio-PCI guest; a destination that is not there or refuses
# leaves the source running to pass.
# TAP out; the last line is "N passed, N failed"; exit status 1 if any check failed.
set -u
script=snapshot-check.sh
# shellcheck source=tests/testhost/check-lib.sh
. "$(dirname "$0")/check-lib.sh"
# After a failed check: the tails of the guests' logs.
also_show=""
on_failure() {
	for f in src.out restore.out $also_show; do
		[ -f "$f" ] && sed "s|^|# $f: |" "$f" | grep -v "^snapshot: round" | tail -n 8
	done
	return 0
}
api() { "$lgkvm" api "$sock" "$1"; }
# status_is CODE COMMAND...: the command exits with CODE
status_is() {
	want=$1
	shift
	"$@"
	[ $? = "$want" ]
}
# wait_for FILE TEXT: until FILE says TEXT (at most 20 s)
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null && [ $i -lt 400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	grep -q "$2" "$1"
}

# start NAME ELF GUESTWORD ARGS...: boot ELF with a control socket, output in src.out
start() {
	name=$1
	elf=$2
	word=$3
	shift 3
	sock=$w/$name.sock
	rm -f src.out restore.out
	"$lgkvm" run --timeout 60 --api-sock "$sock" "$@" "$elf" -- $word >src.out 2>&1 &
	spid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
# take STATE: pause, snapshot to STATE, stop; the source's status in $sstatus
take() {
	api '{"cmd":"pause"}' && api "{\"cmd\":\"snapshot\",\"path\":\"$1\"}" &&
		api '{"cmd":"stop"}'
	r=$?
	wait $spid
	sstatus=$?
	return $r
}
restored_passes() {
	"$lgkvm" restore --timeout 60 "$@" >restore.out 2>&1 && grep -q "snapshot: PASS" restore.out
}

# Every generation: snapshot mid-way, restore, pass.  G0 (2.6.23) has no virtio disk;
# the rest write one record a round.
for v in g1:snapshot.elf g2:g2/snapshot.elf g3:g3/snapshot.elf g4:g4/snapshot.elf \
	g5:g5/snapshot.elf g5p:g5p/snapshot.elf g6:g6/snapshot.elf g7:g7/snapshot.elf \
	g8:g8/snapshot.elf g9:g9/snapshot.elf g9p:g9p/snapshot.elf g10:g10/snapshot.elf \
	g10p:g10p/snapshot.elf; do
	name=${v%%:*}
	cp "$g/blk-test.img" "$name.img"
	start "$name" "$g/${v#*:}" disk --disk "$name.img"
	wait_for src.out "snapshot: round 10" >/dev/null
	take "$name.state"
	check "$name: paused, snapshot and stopped (source exit $sstatus, 8 wanted)" [ "$sstatus" = 8 ]
	check "$name: the restored guest finishes and passes" restored_passes "$name.state"
done
start g0 "$g/g0/snapshot.bzimage" "" -m 32M
wait_for src.out "snapshot: round 10" >/dev/null
take g0.state
check "g0: snapshot of a 2.6.23-generation guest (no disk)" [ "$sstatus" = 8 ]
check "g0: the restored guest finishes and passes" restored_passes g0.state

# One guest at many points: rounds 20, 30, 40 and 50, each snapshot restored.  The guest
# runs its long course (200 rounds): with 60, a slow machine could see round 50 printed
# and the guest already finished before the pause arrived.
for at in 20 30 40 50; do
	cp "$g/blk-test.img" "at$at.img"
	start "at$at" "$g/snapshot.elf" "disk long" --disk "at$at.img"
	wait_for src.out "snapshot: round $at," >/dev/null
	take "at$at.state"
	check "g1 at round $at: snapshot, restore, pass" restored_passes "at$at.state"
done

# The guest's clock and HALT kept by lgkvm (no in-kernel LAPIC), and every call exiting.
for mode in no-irqchip no-fast-path; do
	cp "$g/blk-test.img" "$mode.img"
	start "$mode" "$g/snapshot.elf" disk --disk "$mode.img" "--$mode"
	wait_for src.out "snapshot: round 10" >/dev/null
	take "$mode.state"
	check "--$mode: restored, finishes and passes" restored_passes "$mode.state"
done

# Sizes: the state file is small, the memory file sparse (zero pages are holes).
check "the memory file is sparse: under 8 MiB on disk for a 64 MiB guest" \
	sh -c "[ \$(du -k g1.state.mem | cut -f1) -lt 8192 ]"
check "the state and memory files are owner-only" \
	sh -c "ls -l g1.state g1.state.mem | grep -qv '^-rw-------' && exit 1; true"

# A snapshot of a running guest leaves it running: it goes on and passes.
cp "$g/blk-test.img" live.img
start live "$g/snapshot.elf" disk --disk live.img
wait_for src.out "snapshot: round 10" >/dev/null
check "a running guest: snapshot answered" api '{"cmd":"snapshot","path":"live.state"}'
check "a running guest: running again after the snapshot" \
	sh -c "'$lgkvm' api '$sock' '{\"cmd\":\"status\"}' | grep -q '\"state\":\"running\"'"
check "the API refuses a path that exists (exit 1), and says why" \
	sh -c "'$lgkvm' api '$sock' '{\"cmd\":\"snapshot\",\"path\":\"live.state\"}' |
		grep -q 'already exists'; [ \$? = 0 ]"
check "the API refuses a snapshot without a path" \
	status_is 1 "$lgkvm" api "$sock" '{"cmd":"snapshot"}'
wait $spid
sstatus=$?
check "a running guest snapshotted goes on to pass (exit $sstatus)" \
	sh -c "[ $sstatus = 0 ] && grep -q 'snapshot: PASS' src.out"
# Its disk moved on since: the restore refuses it, then takes it with --force.
check "restore refuses a disk that changed since the snapshot (exit 2)" \
	status_is 2 "$lgkvm" restore --timeout 60 live.state
check "... and says which disk and why" \
	sh -c "'$lgkvm' restore live.state 2>&1 | grep -q 'live.img: its modification time changed'"
check "restore --force takes it; the guest rewrites what it redoes and passes" \
	restored_passes --force live.state

# The devices: given again they must match in number, kind and order.
check "restore with a missing disk argument: exit 2" \
	status_is 2 "$lgkvm" restore --disk g1.img --disk g2.img g1.state
check "restore with a net device for a disk: exit 2" \
	status_is 2 "$lgkvm" restore --net tap g1.state
check "a disk named on the command line is checked too (g2.img moved on: exit 2)" \
	status_is 2 "$lgkvm" restore --disk g2.img g2.state
check "restore --mem: the snapshot fixes it (exit 2)" \
	status_is 2 "$lgkvm" restore --mem 128M g1.state
check "restore with no state file: exit 2" status_is 2 "$lgkvm" restore none.state

# Damaged files: refused, exit 11, before any guest runs.
head -c 2000 g3.state >trunc.state
check "a truncated state file: exit 11" status_is 11 "$lgkvm" restore trunc.state
cp g3.state bad.state
printf 'X' | dd of=bad.state bs=1 seek=1 conv=notrunc 2>/dev/null
check "a state file with its magic damaged: exit 11" status_is 11 "$lgkvm" restore bad.state
printf 'lgkvm state? no' >junk.state
check "a file that is not a state file: exit 11" status_is 11 "$lgkvm" restore junk.state
# The memory file is found beside the state file, by the name the state file gives.
mkdir nomem short other
cp g4.state nomem/
check "a state file without its memory file: exit 2" status_is 2 "$lgkvm" restore nomem/g4.state
cp g4.state short/
head -c 1000000 g4.state.mem >short/g4.state.mem
check "a truncated memory file: exit 11" status_is 11 "$lgkvm" restore short/g4.state
cp g4.state other/
cp g6.state.mem other/g4.state.mem
check "another snapshot's memory file: exit 11, and said" \
	sh -c "'$lgkvm' restore other/g4.state 2>&1 | grep -q \"another snapshot's\" &&
		{ '$lgkvm' restore other/g4.state; [ \$? = 11 ]; }"
check "a damaged state file is named in the message" \
	sh -c "'$lgkvm' restore trunc.state 2>&1 | grep -q 'trunc.state: state file'"


# Live migration.  The guest runs 200 rounds (~4 s), so the move lands mid-way.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
# incoming NAME ADDR ARGS...: a destination waiting at ADDR, output in NAME.out
incoming() {
	iname=$1
	shift
	"$lgkvm" run --timeout 60 --incoming "$@" >"$iname.out" 2>&1 &
	ipid=$!
	i=0
	while ! grep -q "waiting for a guest" "$iname.out" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
# migrate_to ADDR: the source's migrate; its reply in mig.reply
migrate_to() {
	api "{\"cmd\":\"migrate\",\"to\":\"$1\"}" >mig.reply
}
for v in unix:g1:snapshot.elf tcp:g1:snapshot.elf unix:g9:g9/snapshot.elf; do
	kind=${v%%:*}
	rest=${v#*:}
	name=mig-$kind-${rest%%:*}
	case $kind in
	unix) addr=unix:$w/$name.in ;;
	*) addr=tcp:127.0.0.1:47$(printf '%03d' $n) ;;
	esac
	cp "$g/blk-test.img" "$name.img"
	incoming "$name-dst" "$addr"
	also_show="mig.reply $name-dst.out"
	# A tap too, which the destination must take over while the source
	# still holds it (a multi-queue tap).
	start "$name" "$g/${rest#*:}" "disk long" --disk "$name.img" --net "tap=lgm$n" \
		--net-ip "10.77.$((n % 200)).1/24"
	wait_for src.out "snapshot: round 10" >/dev/null
	check "$name: migrate answered ok" migrate_to "$addr"
	wait $spid
	sstatus=$?
	check "$name: the source exits 12, migrated (exit $sstatus)" [ "$sstatus" = 12 ]
	wait $ipid
	dstatus=$?
	check "$name: the destination runs the guest to pass (exit $dstatus)" \
		sh -c "[ $dstatus = 0 ] && grep -q 'snapshot: PASS' '$name-dst.out'"
done

# Twice: source -> A -> B, the guest passing at B.
cp "$g/blk-test.img" hop.img
"$lgkvm" run --timeout 60 --api-sock "$w/hopA.sock" --incoming "unix:$w/hopA.in" >hopA.out 2>&1 &
apid=$!
wait_for hopA.out "waiting for a guest" >/dev/null
incoming hopB "unix:$w/hopB.in"
start hop "$g/snapshot.elf" "disk long" --disk hop.img
wait_for src.out "snapshot: round 10" >/dev/null
check "two hops: the first migrate answered" migrate_to "unix:$w/hopA.in"
wait_for hopA.out "snapshot: round" >/dev/null
check "two hops: the second, from the first destination" \
	sh -c "'$lgkvm' api '$w/hopA.sock' '{\"cmd\":\"migrate\",\"to\":\"unix:$w/hopB.in\"}'"
wait $spid
s1=$?
wait $apid
s2=$?
wait $ipid
s3=$?
check "two hops: 12, 12, and the guest passes at the last (exit $s1 $s2 $s3)" \
	sh -c "[ $s1 = 12 ] && [ $s2 = 12 ] && [ $s3 = 0 ] && grep -q 'snapshot: PASS' hopB.out"

# --migrate-every: the guest moved every second while it works, and passes.
also_show="every.out every-net.out"
cp "$g/blk-test.img" every.img
"$lgkvm" run --timeout 60 --migrate-every 1 --disk every.img "$g/snapshot.elf" -- disk long \
	>every.out 2>&1
estatus=$?
check "--migrate-every 1: the guest passes, the status is its own (exit $estatus)" \
	sh -c "[ $estatus = 0 ] && grep -q 'snapshot: PASS' every.out"
check "--migrate-every 1: it moved at least twice, and no move failed" \
	sh -c "grep -q 'moved [2-9][0-9]* times (0 moves failed)' every.out ||
		grep -q 'moved [1-9][0-9][0-9]* times (0 moves failed)' every.out"

# --migrate-every with network traffic: 100 pings of the host over the tap, 30 ms apart,
# the tap handed over at every move; a ping lost in a move is sent again.
"$lgkvm" run --timeout 60 --migrate-every 1 --net tap=lgmev --net-ip 10.77.0.1/24 \
	"$g/virtio_net.elf" -- long >every-net.out 2>&1
estatus=$?
check "--migrate-every 1 with pings flowing: the guest passes (exit $estatus)" \
	sh -c "[ $estatus = 0 ] && grep -q 'virtio_net: PASS' every-net.out"
check "--migrate-every 1 with pings flowing: it moved, and no move failed" \
	sh -c "grep -q 'moved [1-9][0-9]* times (0 moves failed)' every-net.out"

# A destination that is not there, and one that refuses the guest: the source keeps it.
cp "$g/blk-test.img" stay.img
cp "$g/blk-test.img" other.img
incoming refuse "unix:$w/refuse.in" --disk other.img --disk stay.img
start stay "$g/snapshot.elf" "disk long" --disk stay.img
wait_for src.out "snapshot: round 10" >/dev/null
check "migrate to nobody: refused (exit 1), and said why" \
	sh -c "'$lgkvm' api '$sock' '{\"cmd\":\"migrate\",\"to\":\"unix:$w/nobody.in\"}' |
		grep -q 'nobody.in'; [ \$? = 0 ]"
check "migrate to a destination that refuses the guest: refused, with its reason" \
	sh -c "'$lgkvm' api '$sock' '{\"cmd\":\"migrate\",\"to\":\"unix:$w/refuse.in\"}' |
		grep -q 'did not take the guest'"
wait $ipid
check "migrate with a bad address: refused" \
	status_is 1 "$lgkvm" api "$sock" '{"cmd":"migrate","to":"tcp:nowhere"}'
wait $spid
sstatus=$?
check "the source that kept its guest runs it to pass (exit $sstatus)" \
	sh -c "[ $sstatus = 0 ] && grep -q 'snapshot: PASS' src.out"

# A destination whose disk another program holds (a third lgkvm here): it builds its
# VM early, without the disk's lock, finds the disk taken when the state comes, and
# refuses; the source keeps its guest, the holder its disk.
cp "$g/blk-test.img" mine.img
cp "$g/blk-test.img" held.img
"$lgkvm" run --timeout 60 --disk held.img "$g/snapshot.elf" -- disk long >holder.out 2>&1 &
hpid=$!
wait_for holder.out "snapshot: round 10" >/dev/null
incoming held "unix:$w/held.in" --disk held.img
also_show="mig.reply held.out holder.out"
start mine "$g/snapshot.elf" "disk long" --disk mine.img
wait_for src.out "snapshot: round 10" >/dev/null
migrate_to "unix:$w/held.in"
check "migrate to a destination whose disk another program holds: refused, and said" \
	grep -q "did not take the guest: a disk or tap of the guest is held here" mig.reply
wait $ipid
dstatus=$?
check "... that destination exits 2 and names the disk (exit $dstatus)" \
	sh -c "[ $dstatus = 2 ] && grep -q 'held.img: another program is using it' held.out"
wait $spid
sstatus=$?
wait $hpid
hstatus=$?
check "... the source and the holder both run their guests to pass (exit $sstatus $hstatus)" \
	sh -c "[ $sstatus = 0 ] && [ $hstatus = 0 ] && grep -q 'snapshot: PASS' src.out &&
		grep -q 'snapshot: PASS' holder.out"

echo "$passed passed, $failed failed"
[ $failed = 0 ]
