#!/bin/sh
# tests/testhost/suite.sh — run the conformance guests, print TAP.
#
# Usage: suite.sh LGKVM GUESTDIR LISTFILE
#        suite.sh --names LISTFILE        (the test names, one per line; for kvm-tests)
#
# Plain POSIX sh: it runs inside the test host, where only busybox exists, as well as
# directly on a host whose KVM can run our guests.
#
# LISTFILE has one test per line; blank lines and lines starting with # are ignored:
#
#   NAME|EXPECTED_EXIT|MARKER|LGKVM ARGS...
#   hello|0|HELLO: PASS|run --timeout 20 hello.elf
#
# For each test: `cd GUESTDIR && LGKVM ARGS...` (ARGS split on blanks, no quoting, no
# globbing), stdin from /dev/null -- or, when ARGS begins with `feed:SECONDS:WORD`,
# from a pipe that says WORD and a newline after SECONDS (console input that arrives
# while the guest idles) -- stdout+stderr to a log.  It passes if the exit status is EXPECTED_EXIT and
# the log contains MARKER (a fixed string; empty = no marker check).  MARKER cannot
# contain "|".  A failure prints the reason and the log's last lines as TAP comments.
# The last line is "N passed, N failed"; the exit status is 1 if any test failed.
#
# Environment:
#   LGKVM_TEST_TIMEOUT   per-test wall-clock limit, seconds (default 60): a hung lgkvm
#                        fails its test instead of hanging the suite
#   LGKVM_TEST_FILTER    run only the tests whose names match one of these
#                        blank-separated shell patterns (e.g. "hello irq-*")
#   LGKVM_TEST_LOGDIR    keep every test's log there (default: a temporary directory)
set -u

usage() {
	echo "usage: suite.sh LGKVM GUESTDIR LISTFILE | suite.sh --names LISTFILE" >&2
	exit 2
}

# trim WORD: WORD without leading and trailing blanks
trim() {
	t=$1
	t=${t#"${t%%[! 	]*}"}
	t=${t%"${t##*[! 	]}"}
	printf '%s' "$t"
}

# selected NAME: is NAME picked by LGKVM_TEST_FILTER (all are when it is unset)?
selected() {
	[ -n "${LGKVM_TEST_FILTER:-}" ] || return 0
	set -f
	for pat in $LGKVM_TEST_FILTER; do
		# shellcheck disable=SC2254 # the pattern is meant to match as a pattern
		case $1 in $pat)
			set +f
			return 0
			;;
		esac
	done
	set +f
	return 1
}

# each_test FUNCTION: call FUNCTION NAME EXPECTED MARKER ARGS for every selected line of
# $list; a line without its three "|" comes as FUNCTION "<line>" "" "" "" (malformed).
each_test() {
	cr=$(printf '\r')
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%"$cr"}
		case $(trim "$line") in
		'' | '#'*) continue ;;
		esac
		case $line in
		*'|'*'|'*'|'*)
			IFS='|' read -r name expected marker args <<EOF
$line
EOF
			name=$(trim "$name")
			selected "$name" || continue
			"$1" "$name" "$(trim "$expected")" "$(trim "$marker")" "$args"
			;;
		*)
			selected "$line" || continue
			"$1" "$(trim "$line")" "" "" ""
			;;
		esac
	done <"$list"
}

if [ "${1:-}" = --names ]; then
	[ $# = 2 ] || usage
	list=$2
	[ -r "$list" ] || {
		echo "suite.sh: cannot read $list" >&2
		exit 2
	}
	# shellcheck disable=SC2317 # called through each_test
	print_name() { printf '%s\n' "$1"; }
	each_test print_name
	exit 0
fi

[ $# = 3 ] || usage
lgkvm=$1 guestdir=$2 list=$3
# The tests run from GUESTDIR: make a relative lgkvm path survive the cd.
case $lgkvm in
/*) ;;
*/*) lgkvm=$PWD/$lgkvm ;;
esac
[ -d "$guestdir" ] || {
	echo "suite.sh: no guest directory $guestdir" >&2
	exit 2
}
[ -r "$list" ] || {
	echo "suite.sh: cannot read $list" >&2
	exit 2
}

limit=${LGKVM_TEST_TIMEOUT:-60}
# The guard: GNU coreutils and busybox timeout take the same arguments.  Without it a
# hung guest would stop the suite; tell the reader rather than silently go without.
guard=
if command -v timeout >/dev/null 2>&1; then
	guard="timeout -k 5 $limit"
else
	echo "# no timeout(1): a hung test will hang the suite"
fi

if [ -n "${LGKVM_TEST_LOGDIR:-}" ]; then
	logdir=$LGKVM_TEST_LOGDIR
	mkdir -p "$logdir" || exit 2
else
	logdir=$(mktemp -d "${TMPDIR:-/tmp}/lgkvm-suite.XXXXXX") || exit 2
	trap 'rm -rf "$logdir"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi

count() { total=$((total + 1)); }
total=0
each_test count
echo "1..$total"

n=0 passed=0 failed=0
run_one() {
	name=$1 expected=$2 marker=$3 args=$4
	n=$((n + 1))
	log=$logdir/$n-$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log
	if [ -z "$expected" ]; then
		failed=$((failed + 1))
		echo "not ok $n - $name (malformed line: want NAME|EXPECTED_EXIT|MARKER|ARGS)"
		return
	fi
	start=$(date +%s)
	# Word splitting of ARGS is the list's syntax; globbing is not.  The subshell must
	# not exec its last command (ash does that on its own unless something follows):
	# busybox timeout kills the process it runs in, and the shell waiting for a killed
	# process prints "Terminated" on its own stderr, i.e. into the TAP stream; from the
	# subshell the message lands in the test's log.
	set -f
	feed=
	case $(trim "$args") in
	feed:*)
		feed=$(trim "$args")
		feed=${feed%%[ 	]*}
		args=$(trim "$args")
		args=${args#"$feed"}
		;;
	esac
	if [ -n "$feed" ]; then
		delay=${feed#feed:}
		word=${delay#*:}
		delay=${delay%%:*}
		# shellcheck disable=SC2086 # split on purpose
		(
			cd "$guestdir" || exit 2
			(sleep "$delay" && printf '%s\n' "$word") | $guard "$lgkvm" $args
			st=$?
			exit "$st"
		) >"$log" 2>&1 </dev/null
	else
		# shellcheck disable=SC2086 # split on purpose
		(
			cd "$guestdir" || exit 2
			$guard "$lgkvm" $args
			st=$?
			exit "$st"
		) >"$log" 2>&1 </dev/null
	fi
	status=$?
	set +f
	elapsed=$(($(date +%s) - start))

	why=
	if [ "$status" != "$expected" ]; then
		why="exit $status, expected $expected"
		case $status in
		124 | 137 | 143)
			[ -z "$guard" ] || [ "$elapsed" -lt "$limit" ] ||
				why="$why: timed out after ${limit} s (LGKVM_TEST_TIMEOUT)"
			;;
		esac
	fi
	if [ -n "$marker" ] && ! grep -qF -- "$marker" "$log"; then
		why="${why:+$why; }marker \"$marker\" missing"
	fi

	if [ -z "$why" ]; then
		passed=$((passed + 1))
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name ($why)"
		echo "# cd $guestdir && $lgkvm $args"
		if [ -s "$log" ]; then
			tail -n 30 "$log" | tr -d '\r' | sed 's/^/# /'
		else
			echo "# (no output)"
		fi
	fi
}
each_test run_one

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
