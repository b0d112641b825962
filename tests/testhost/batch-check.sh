#!/bin/sh
# tests/testhost/batch-check.sh — `lgkvm batch` on real KVM, with our own guests.
#
# Usage: batch-check.sh LGKVM GUESTDIR
#
# Plain POSIX sh (busybox in the test host has grep, sed and awk).  Runs one batch of
# conformance guests -- a pass, a crash expected as exit 4, a spin with a 2 s timeout
# expected as 6, console patterns that must and must not appear, a job retried until its
# retries run out, a job writing its private copy of a disk, a matrix -- and checks every
# record of results.jsonl, junit.xml, the summary and --resume; then interrupts a second
# batch with SIGINT and checks that it stops at once, exits 8 and keeps what finished.
# Then the control socket of a running guest (`lgkvm run --api-sock`, `lgkvm api`).
# TAP out; the last line is "N passed, N failed"; exit status 1 if any check failed.
set -u
script=batch-check.sh
# shellcheck source=tests/testhost/check-lib.sh
. "$(dirname "$0")/check-lib.sh"
# record NAME: that job's line of results.jsonl
record() { grep -F "{\"name\":\"$1\"," out/results.jsonl; }
# has NAME TEXT...: the job's record contains every TEXT
has() {
	r=$(record "$1") || return 1
	shift
	for t in "$@"; do
		case $r in *"$t"*) ;; *) return 1 ;; esac
	done
}
lines() { [ "$(wc -l <"$1")" -eq "$2" ]; }
empty_dir() { [ -z "$(ls -A "$1")" ]; }

cp "$g/blk-test.img" blk.img
sum_before=$(md5sum <blk.img)
cat >m.json <<EOF
{"defaults": {"timeout": 20},
 "jobs": [
  {"name": "demo", "kernel": "$g/demo.elf", "tags": ["smoke"],
   "console": {"match": "Hello from an lguest guest on KVM!"}},
  {"name": "crash", "kernel": "$g/crash.elf", "expect": 4, "console": {"absent": "PASS"}},
  {"name": "spin", "kernel": "$g/spin.elf", "timeout": 2, "expect": "timeout"},
  {"name": "hello-arg", "kernel": "$g/hello.elf", "args": ["hello-arg=42"],
   "console": {"match": ["hello: PASS", "hello-arg=42"]}},
  {"name": "must-not-appear", "kernel": "$g/demo.elf", "console": {"absent": "Hello from"}},
  {"name": "retried", "kernel": "$g/crash.elf", "retries": 2},
  {"name": "disk", "kernel": "$g/virtio_blk.elf", "disks": ["blk.img"],
   "console": {"match": "virtio_blk: PASS"}},
  {"name": "mx", "matrix": {"kernels": ["$g/hello.elf", "$g/hello.bzimage"],
   "args": [["hello-arg=42"]]}, "console": {"match": "hello: PASS"}}
 ]}
EOF
echo "1..29"
"$lgkvm" batch -j 3 --out out m.json >summary 2>stderr
status=$?
sed 's/^/# /' summary
check "batch exits 9: two jobs are meant to miss (got $status)" [ "$status" = 9 ]
check "results.jsonl: one record per job (9)" lines out/results.jsonl 9
check "demo: met, exit 0, its tag" has demo '"status":"met","exit":0,' '"tags":["smoke"]' '"retries":0'
check "demo: its console log has the greeting" grep -q "Hello from an lguest guest on KVM!" out/logs/00000-demo.console
check "demo: the record names that log" has demo '"log":"out/logs/00000-demo.console"'
check "crash: met with exit 4, the guest's message as reason" \
	has crash '"status":"met","exit":4,' '"meaning":"guest crashed or panicked"' 'boom from the guest'
check "spin: met with exit 6 after its 2 s timeout" has spin '"status":"met","exit":6,' '"reason":"timed out after 2 s"'
# Not a timing assertion: at least the timeout, and stopped by it (the test
# host may be slow or busy; a SAN build under load took 4.3 s).
check "spin: wall time at least its 2 s timeout, and bounded" sh -c "grep -F '\"name\":\"spin\"' out/results.jsonl | grep -Eq '\"wall_s\":([2-9]|1[0-9])\\.'"
check "hello-arg: met, both patterns seen" has hello-arg '"status":"met","exit":0,'
check "must-not-appear: unmet, and says why" \
	has must-not-appear '"status":"unmet","exit":0,' "\"problem\":\"console has 'Hello from'\""
check "retried: unmet after 2 retries" has retried '"status":"unmet","exit":4,' '"retries":2' \
	'"problem":"exit 4 (guest crashed or panicked), expected 0 (guest powered off)"'
check "disk: the guest wrote its private copy and passed" has disk '"status":"met","exit":0,'
check "disk: the manifest's image is unchanged" [ "$(md5sum <blk.img)" = "$sum_before" ]
check "disk: no copy left behind" empty_dir out/tmp
check "matrix: hello.elf job met" has "mx:hello.elf:a0" '"status":"met"'
check "matrix: hello.bzimage job met" has "mx:hello.bzimage:a0" '"status":"met"'
check "junit.xml: 9 tests, 2 failures" grep -q 'tests="9" failures="2"' out/junit.xml
check "junit.xml: the failure says why" grep -q "message=\"console has &apos;Hello from&apos;\"" out/junit.xml
check "summary: the totals" grep -q "^9 jobs: 7 met, 2 unmet$" summary
check "stderr: quiet (not a terminal)" [ ! -s stderr ]

# --resume: every job has its record, nothing runs again.
"$lgkvm" batch --resume -j 3 --out out m.json >summary 2>stderr
status=$?
check "resume: nothing to run, same verdict (exit $status)" [ "$status" = 9 ]
check "resume: says so, records kept" sh -c 'grep -q "resuming: 9 of 9 jobs" stderr && [ "$(wc -l <out/results.jsonl)" -eq 9 ]'

# SIGINT: the running guest is stopped, what finished is kept, exit 8.
cat >m2.json <<EOF
{"jobs": [{"name": "quick", "kernel": "$g/demo.elf"},
          {"name": "long", "kernel": "$g/spin.elf", "timeout": 60, "expect": 6}]}
EOF
"$lgkvm" batch -j 2 --out out2 m2.json >summary2 2>stderr2 &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q '"name":"quick"' out2/results.jsonl 2>/dev/null; do
	sleep 0.2
	i=$((i + 1))
done
sleep 0.5
start=$(date +%s)
kill -INT $pid
wait $pid
status=$?
took=$(($(date +%s) - start))
check "interrupt: exit 8 (got $status)" [ "$status" = 8 ]
check "interrupt: stopped within 10 s (took $took s)" [ "$took" -le 10 ]
check "interrupt: the finished job kept, the stopped one not recorded" \
	sh -c 'grep -q "\"name\":\"quick\",.*\"status\":\"met\"" out2/results.jsonl && [ "$(wc -l <out2/results.jsonl)" -eq 1 ]'
check "interrupt: says how to go on" grep -q "resume runs the rest" stderr2

# A kernel many jobs boot is prepared once for the batch (src/batch_prep.c):
# the 2.6.30-style gzip-ELF bzImage, its vmcalls to rewrite, twice, and a 3.x one.
cat >m3.json <<EOF
{"defaults": {"timeout": 20, "console": {"match": "abi_gen: PASS"}},
 "jobs": [
  {"name": "g4a", "kernel": "$g/g4/abi_gen.bzimage"},
  {"name": "g4b", "kernel": "$g/g4/abi_gen.bzimage"},
  {"name": "g7", "kernel": "$g/g7/abi_gen.bzimage"},
  {"name": "restart", "kernel": "$g/g2/restart.elf", "expect": "restart",
   "console": {"match": "restart: booted"}}
 ]}
EOF
"$lgkvm" batch -j 2 --out out3 m3.json >/dev/null 2>stderr3
status=$?
check "prepared kernels: every job met (exit $status)" [ "$status" = 0 ]
check "prepared kernels: removed after the batch" sh -c '[ ! -e out3/tmp/kernels ]'
check "a guest that keeps restarting: exit 3 after --max-reboots, met" \
	sh -c 'grep -q "\"name\":\"restart\",.*\"status\":\"met\",\"exit\":3," out3/results.jsonl'

# The control socket of a running guest (lgkvm run --api-sock, src/api.c): on a
# halted guest (the vCPU asleep in the halt) and a spinning one (kicked out of
# KVM_RUN), status, pause, resume, a bad request, stop.
api() { "$lgkvm" api "$sock" "$1"; }
state_is() { api '{"cmd":"status"}' | grep -q "\"state\":\"$1\""; }
for guest in halt_forever spin; do
	sock=$w/$guest.sock
	"$lgkvm" run --timeout 60 --api-sock "$sock" "$g/$guest.elf" >"api-$guest.out" 2>&1 &
	apid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	check "api $guest: the socket is owner-only" sh -c "ls -l '$sock' | grep -q '^s..[x-]------'"
	check "api $guest: status: running" state_is running
	check "api $guest: pause" api '{"cmd":"pause"}'
	check "api $guest: status: paused" state_is paused
	check "api $guest: resume" api '{"cmd":"resume"}'
	check "api $guest: status: running again" state_is running
	check "api $guest: a bad request is answered (exit 1), not fatal" \
		sh -c "'$lgkvm' api '$sock' 'not json'; [ \$? = 1 ]"
	check "api $guest: a snapshot without a path is refused, and says why" \
		sh -c "'$lgkvm' api '$sock' '{\"cmd\":\"snapshot\"}' | grep -q 'needs a'"
	check "api $guest: stop" api '{"cmd":"stop"}'
	wait $apid
	status=$?
	check "api $guest: the stopped guest exits 8 (exit $status)" [ "$status" = 8 ]
	check "api $guest: the reason says the API" grep -q "stopped through the API socket" "api-$guest.out"
	check "api $guest: the socket is gone after" [ ! -e "$sock" ]
done
check "api: a socket path that exists is refused (exit 2)" \
	sh -c "touch taken; '$lgkvm' run --api-sock taken '$g/hello.elf'; [ \$? = 2 ]"
check "api: no lgkvm at the socket: exit 2" sh -c "'$lgkvm' api '$w/none.sock' '{}'; [ \$? = 2 ]"

if [ $failed != 0 ]; then
	for f in stderr stderr2 out/logs/*.stderr api-*.out; do
		[ -f "$f" ] && sed "s|^|# $f: |" "$f" | tail -n 5
	done
	sed 's/^/# /' out/results.jsonl
fi
echo "$passed passed, $failed failed"
[ $failed = 0 ]
