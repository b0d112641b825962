#!/bin/sh
# tests/bench/batch.sh LGKVM GUESTDIR N — what a farm pays per guest (busybox sh).
#
# N demo-guest jobs through `lgkvm batch` at --jobs 1 and --jobs 2, against
# the baseline of N bare `lgkvm run`s one after another in this same run:
# guests per minute, and the batch's overhead per guest over a bare run.
# Then the memory a running guest costs beyond its RAM: the peak RSS of an
# `lgkvm run` whose guest (spin.elf) touches almost none of its 64 MiB.
# Numbers only; nothing passes or fails on them.
set -u
lgkvm=$1
cd "$2" || exit 2
n=${3:-200}
now() { awk '{ print $1 }' /proc/uptime; }

m=/tmp/bench-batch.json
{
	echo '{ "defaults": { "timeout": 60, "mem": "64M" }, "jobs": ['
	i=0
	while [ "$i" -lt "$n" ]; do
		printf '  { "name": "demo%03d", "kernel": "%s/demo.elf" }' "$i" "$PWD"
		i=$((i + 1))
		[ "$i" -lt "$n" ] && echo ','
	done
	echo '] }'
} >"$m"

t0=$(now)
i=0
while [ "$i" -lt "$n" ]; do
	"$lgkvm" run -q --timeout 60 demo.elf >/dev/null 2>&1
	i=$((i + 1))
done
t1=$(now)
bare=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

for j in 1 2; do
	rm -rf "/tmp/bench-batch-$j"
	t0=$(now)
	"$lgkvm" batch --jobs "$j" --out "/tmp/bench-batch-$j" "$m" >/dev/null 2>&1
	rc=$?
	t1=$(now)
	met=$(grep -c '"status":"met"' "/tmp/bench-batch-$j/results.jsonl" 2>/dev/null)
	awk -v a="$t0" -v b="$t1" -v n="$n" -v bare="$bare" -v j="$j" -v rc="$rc" -v met="$met" 'BEGIN {
		t = b - a
		printf "batch --jobs %d: %d jobs in %.1f s (%d met, exit %d): %.0f guests/min; %.1f ms per guest over a bare run\n",
			j, n, t, met, rc, n * 60 / t, (t - bare) * 1000 / n
	}'
	rm -rf "/tmp/bench-batch-$j"
done
awk -v t="$bare" -v n="$n" 'BEGIN { printf "baseline, %d bare lgkvm runs in a row: %.1f s (%.0f guests/min)\n", n, t, n * 60 / t }'
rm -f "$m"

"$lgkvm" run -q --timeout 2 spin.elf >/dev/null 2>&1 &
pid=$!
sleep 1
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
wait "$pid"
echo "peak RSS of a running guest's lgkvm (64 MiB RAM, almost all untouched): $((${rss:-0} / 1024)) MiB"
