#!/bin/sh
# tests/bench/net.sh LGKVM GUESTDIR [PINGS [FRAMES]] — the network benchmark (busybox sh).
#
# bench_net.elf (10.77.0.2) on lgkvm's tap (host side 10.77.0.1/24), against
# this host's own stack measured in the same run:
#   latency     the guest pings the host PINGS times (default 1000), one at a
#               time, and times the mean round trip with its TSC.  Baseline:
#               busybox ping of 127.0.0.1, PINGS times, 10 ms apart (its
#               "avg": the same kernel ICMP echo code without tap, virtio or
#               any exit in the way).
#   throughput  the guest sends FRAMES (default 20000) UDP datagrams of 1472
#               bytes (full 1514-byte frames) to 10.77.0.1:5001 and times them.
#               Nobody listens there (busybox nc has no UDP), so the host stack
#               counts each one it received as Udp NoPorts in /proc/net/snmp:
#               the before/after difference says how many arrived (the tap's
#               own counters vanish with the tap).  Baseline: the same volume
#               over TCP on loopback (busybox nc), and dd to /dev/null (a
#               memory-copy ceiling), timed with /proc/uptime.
# Nothing passes or fails on timing.  Run it where real KVM is, e.g.
#   tests/testhost/run --add build/guests --add tests/bench/net.sh -- sh net.sh lgkvm guests
set -u
lgkvm=$1
cd "$2" || exit 2
pings=${3:-1000}
frames=${4:-20000}

# Centiseconds since boot: busybox date has no %N, /proc/uptime is what we have.
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# field KEY: the number after KEY= in the guest line on stdin.
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" | head -n 1; }

ratio() { awk -v g="$1" -v h="$2" 'BEGIN { if (h > 0) printf "%.3f", g / h; else print "n/a" }'; }

# The value of Udp's COLUMN in /proc/net/snmp (a header line, then values).
udp_stat() {
	awk -v col="$1" '$1 == "Udp:" { if (!hdr) { for (i = 2; i <= NF; i++) if ($i == col) c = i; hdr = 1 }
		else { print $c + 0; exit } }' /proc/net/snmp
}

# rate_kib BYTES COMMAND...: run COMMAND (moving BYTES) until at least a second
# has gone by; print KiB per second.
rate_kib() {
	bytes=$1
	shift
	passes=0
	t0=$(now_cs)
	while :; do
		"$@" 2>/dev/null || return 1
		passes=$((passes + 1))
		t=$(($(now_cs) - t0))
		[ "$t" -lt 100 ] || break
	done
	awk -v b="$bytes" -v p="$passes" -v t="$t" 'BEGIN { printf "%d\n", b * p / 1024 * 100 / t }'
}

bytes=$((frames * 1472))
# One pass of the loopback baseline: a listener that counts the bytes, the
# same volume pushed into it.  busybox nc quits at EOF on either side, so the
# listener's stdin is a FIFO we hold open (fd 3): it ends at the client's EOF.
tcp_lo() {
	nc -l -p 5002 <&3 | wc -c >/tmp/net-bench.lo &
	i=0
	while ! netstat -ltn 2>/dev/null | grep -q ':5002 '; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || break
		usleep 10000
	done
	dd if=/dev/zero bs=1472 count="$frames" 2>/dev/null | nc 127.0.0.1 5002 || return 1
	wait
	[ "$(cat /tmp/net-bench.lo)" = "$bytes" ]
}
rm -f /tmp/net-bench.hold
mkfifo /tmp/net-bench.hold && exec 3<>/tmp/net-bench.hold

ip link set lo up 2>/dev/null

echo "== network: guest 10.77.0.2 <-> host 10.77.0.1 over lgkvm's tap"
echo "  (lguest's published yardsticks, 2007 hardware: 1 GB TCP guest->host in 3.7-3.9 s,"
echo "   i.e. ~260 MB/s; 100k 1 KiB pings in 5 s, i.e. ~50 us a round trip)"
noports0=$(udp_stat NoPorts)
indg0=$(udp_stat InDatagrams)
out=$("$lgkvm" run --timeout 600 --net tap --net-ip 10.77.0.1/24 bench_net.elf -- \
	"pings=$pings" "frames=$frames" 2>&1)
got=$(($(udp_stat NoPorts) - noports0 + $(udp_stat InDatagrams) - indg0))
echo "$out" | grep '^bench:' | sed 's/^/  /'
g_rtt=$(echo "$out" | grep 'net ping' | field rtt_ns)
g_kib=$(echo "$out" | grep 'net udp' | field kib_per_s)
if [ -z "$g_rtt" ] || [ -z "$g_kib" ]; then
	echo "  (bench_net gave no numbers: $(echo "$out" | tail -n 1))"
	exit 1
fi
echo "  host received $got of $frames datagrams (Udp NoPorts+InDatagrams, /proc/net/snmp)"

# busybox ping's summary: "round-trip min/avg/max = 0.164/0.268/13.352 ms".
h_rtt=$(ping -q -c "$pings" -i 0.01 127.0.0.1 2>/dev/null |
	sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' | awk '{ printf "%d\n", $1 * 1000000 }')
h_tcp=$(rate_kib "$bytes" tcp_lo)
h_dd=$(rate_kib "$bytes" dd if=/dev/zero of=/dev/null bs=1472 count="$frames")
awk -v g="$g_rtt" -v h="${h_rtt:-0}" 'BEGIN {
	printf "  ping round trip: guest->host %.1f us, host ping 127.0.0.1 %.1f us\n", g / 1000, h / 1000 }'
echo "  ratio guest rtt / loopback rtt:      $(ratio "$g_rtt" "${h_rtt:-0}")"
echo "  guest UDP send $g_kib KiB/s; host TCP over loopback ${h_tcp:-?} KiB/s; dd to /dev/null ${h_dd:-?} KiB/s"
echo "  ratio guest UDP / loopback TCP:      $(ratio "$g_kib" "${h_tcp:-0}")"
echo "  ratio guest UDP / dd memory copy:    $(ratio "$g_kib" "${h_dd:-0}")"
exec 3>&-
rm -f /tmp/net-bench.hold /tmp/net-bench.lo
