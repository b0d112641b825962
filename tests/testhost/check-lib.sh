# tests/testhost/check-lib.sh — what the scripted checks share (batch-check.sh,
# snapshot-check.sh), sourced by them after `set -u`, with their own name in $script.
#
# Takes LGKVM GUESTDIR from the script's arguments; leaves lgkvm (absolute), g (the
# guest directory, absolute) and w (a temporary directory, removed at exit, and the
# working directory), and check().  A script may define on_failure(), run after each
# failed check (say, to show a log's tail).
[ $# = 2 ] || {
	echo "usage: $script LGKVM GUESTDIR" >&2
	exit 2
}
lgkvm=$1
case $lgkvm in
/*) ;;
*/*) lgkvm=$PWD/$lgkvm ;;
esac
g=$(cd "$2" && pwd) || exit 2
w=$(mktemp -d "${TMPDIR:-/tmp}/lgkvm-check.XXXXXX") || exit 2
trap 'rm -rf "$w"' EXIT
cd "$w" || exit 2

n=0 passed=0 failed=0
# check DESCRIPTION COMMAND...: one TAP line
check() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@" >/dev/null 2>&1; then
		passed=$((passed + 1))
		echo "ok $n - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n - $desc"
		if command -v on_failure >/dev/null 2>&1; then on_failure; fi
	fi
}
