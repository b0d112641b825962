#!/bin/sh
# tests/bench/blk.sh LGKVM GUESTDIR [MIB] — the block device benchmark (busybox sh).
#
# Sequential 4 KiB I/O over MIB MiB (default 16) of a scratch disk image, seen from
# the guest (bench_blk.elf through virtio_blk, lgkvm's I/O thread and io_uring) and
# from this host (dd with 4 KiB blocks on the same file, through the same page
# cache).  Reports both rates and their ratio; nothing passes or fails on timing.
#
# Then random-offset 4 KiB I/O from the guest (the same number of requests at
# offsets from an LCG in the guest).  The host has no random-I/O tool of its own
# here: busybox dd at a random skip= per block would time a fork and exec per
# 4 KiB, not the I/O.  So the baselines of the random numbers are (a) the guest's
# own sequential number for the same kind of request, and (b) the host's
# sequential dd.  The image sits in the host's page cache, so "random" measures
# lgkvm's per-request path at scattered offsets, not a disk's seeks.
# Run it where real KVM is, e.g. in the nested test host:
#   tests/testhost/run --add build/guests --add tests/bench/blk.sh -- sh blk.sh lgkvm guests 16
set -u
lgkvm=$1
cd "$2" || exit 2
mib=${3:-16}
img=blk-bench.img
blocks=$((mib * 256))

# Centiseconds since boot: busybox date has no %N, /proc/uptime is what we have.
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# rate_kib COMMAND...: run COMMAND (one pass over the image) until at least a
# second has gone by; print KiB per second.
rate_kib() {
	passes=0
	t0=$(now_cs)
	while :; do
		"$@" 2>/dev/null || return 1
		passes=$((passes + 1))
		t=$(($(now_cs) - t0))
		[ "$t" -lt 100 ] || break
	done
	echo $((passes * mib * 1024 * 100 / t))
}

# field KEY: the number after KEY= in the guest line on stdin.
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" | head -n 1; }

ratio() { awk -v g="$1" -v h="$2" 'BEGIN { if (h > 0) printf "%.3f", g / h; else print "n/a" }'; }

dd if=/dev/zero of="$img" bs=1048576 count="$mib" 2>/dev/null || exit 1
echo "== block I/O: sequential 4 KiB requests over $mib MiB"
out=$("$lgkvm" run --timeout 600 --disk "$img" bench_blk.elf -- "mib=$mib" 2>&1)
echo "$out" | grep '^bench:' | sed 's/^/  /'
g_write=$(echo "$out" | grep 'blk write qd1' | field kib_per_s)
g_read=$(echo "$out" | grep 'blk read qd1' | field kib_per_s)
g_read32=$(echo "$out" | grep 'blk read qd32' | field kib_per_s)
g_rwrite=$(echo "$out" | grep 'blk write rand qd1' | field kib_per_s)
g_rread=$(echo "$out" | grep 'blk read rand qd1' | field kib_per_s)
g_rread32=$(echo "$out" | grep 'blk read rand qd32' | field kib_per_s)
if [ -z "$g_read" ]; then
	echo "  (bench_blk gave no numbers: $(echo "$out" | tail -n 1))"
	exit 1
fi

h_write=$(rate_kib dd if=/dev/zero of="$img" bs=4096 count="$blocks" conv=notrunc,fsync)
h_read=$(rate_kib dd if="$img" of=/dev/null bs=4096 count="$blocks")
echo "  host dd, 4 KiB blocks: write+fsync $h_write KiB/s, read $h_read KiB/s"
echo "  ratio guest/host write (qd1, before the flush): $(ratio "$g_write" "$h_write")"
echo "  ratio guest/host read qd1:                      $(ratio "$g_read" "$h_read")"
echo "  ratio guest/host read qd32:                     $(ratio "$g_read32" "$h_read")"
if [ -n "$g_rread" ]; then
	echo "== block I/O: random 4 KiB requests over $mib MiB (guest LCG offsets)"
	echo "  baselines: the guest's sequential run of the same kind, and host sequential dd"
	echo "  ratio guest random/sequential write qd1:        $(ratio "$g_rwrite" "$g_write")"
	echo "  ratio guest random/sequential read qd1:         $(ratio "$g_rread" "$g_read")"
	echo "  ratio guest random/sequential read qd32:        $(ratio "$g_rread32" "$g_read32")"
	echo "  ratio guest random write qd1 / host seq write:  $(ratio "$g_rwrite" "$h_write")"
	echo "  ratio guest random read qd1 / host seq read:    $(ratio "$g_rread" "$h_read")"
	echo "  ratio guest random read qd32 / host seq read:   $(ratio "$g_rread32" "$h_read")"
fi
g_bwrite=$(echo "$out" | grep 'blk write 128k qd1' | field kib_per_s)
g_bread=$(echo "$out" | grep 'blk read 128k qd1' | field kib_per_s)
g_bread8=$(echo "$out" | grep 'blk read 128k qd8' | field kib_per_s)
if [ -n "$g_bread" ]; then
	echo "== block I/O: 128 KiB requests over $mib MiB (an ext2-style workload)"
	hb_write=$(rate_kib dd if=/dev/zero of="$img" bs=131072 count=$((blocks / 32)) conv=notrunc,fsync)
	hb_read=$(rate_kib dd if="$img" of=/dev/null bs=131072 count=$((blocks / 32)))
	echo "  host dd, 128 KiB blocks: write+fsync $hb_write KiB/s, read $hb_read KiB/s"
	echo "  ratio guest/host write 128k qd1 (no flush):     $(ratio "$g_bwrite" "$hb_write")"
	echo "  ratio guest/host read 128k qd1:                 $(ratio "$g_bread" "$hb_read")"
	echo "  ratio guest/host read 128k qd8:                 $(ratio "$g_bread8" "$hb_read")"
fi
rm -f "$img"
