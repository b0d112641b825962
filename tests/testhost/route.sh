# shellcheck shell=bash disable=SC2034 # ROUTE and WHY are for the sourcing script
# tests/testhost/route.sh — sourced by kvm-tests and kvm-run (bash): where do guests run?
#
# choose_route LGKVM sets
#   ROUTE  direct    this machine's /dev/kvm runs 32-bit paged guests: use it
#          testhost  it cannot (kvm-pvm, no KVM, ...): use the nested test host
#          none      it cannot, and LGKVM_TESTHOST=never forbids the test host
#   WHY    one line saying why, for the user
#
# lgkvm itself answers the question: `lgkvm probe` runs a tiny 32-bit paged guest and
# exits 0 when that works, 7 when this KVM cannot run one (or there is no usable KVM).
# LGKVM_TESTHOST=always|never|auto (default auto) overrides.

choose_route() {
	local lgkvm=$1 mode=${LGKVM_TESTHOST:-auto} out status=0 said
	case $mode in
	auto | always | never) ;;
	*)
		echo "LGKVM_TESTHOST=$mode: want always, never or auto" >&2
		exit 2
		;;
	esac
	if [ "$mode" = always ]; then
		ROUTE=testhost
		WHY="LGKVM_TESTHOST=always"
		return
	fi
	# A KVM that hangs on the probe must not hang `make check`.
	out=$(timeout -k 5 60 "$lgkvm" probe 2>&1 </dev/null) || status=$?
	said=$(printf '%s\n' "$out" | tr -d '\r' | grep -v '^[[:space:]]*$' | tail -n 1)
	if [ "$status" = 0 ]; then
		ROUTE=direct
		WHY="lgkvm probe: ${said:-exit 0}"
		return
	fi
	case $status in
	7) said="lgkvm probe exit 7${said:+: $said}" ;;
	124 | 137) said="lgkvm probe hung (killed after 60 s)" ;;
	*) said="lgkvm probe failed with exit $status${said:+: $said}" ;;
	esac
	if [ "$mode" = never ]; then
		ROUTE=none
		WHY="$said, and LGKVM_TESTHOST=never"
	else
		ROUTE=testhost
		WHY=$said
	fi
}
