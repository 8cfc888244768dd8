#!/bin/bash
# Size benchmark: the static cfsroot as shipped (no libcrypto: the kernel measures, cfsroot
# hashes nothing) against the CFSROOT_CRYPTO=1 build (user-space digest and libcrypto in).
# Fails when the lean binary is above its 1.2 MB budget.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1

BUDGET=1200000
make -s B="$B" "$B/cfsroot" >/dev/null || { fail "bench-size: building $B/cfsroot"; finish; }
make -s B="$B/crypto" CACHE="$CACHE" CFSROOT_CRYPTO=1 "$B/crypto/cfsroot" >/dev/null 2>&1 ||
	{ fail "bench-size: building the CFSROOT_CRYPTO=1 cfsroot"; finish; }

lean=$(stat -c %s "$B/cfsroot")
crypto=$(stat -c %s "$B/crypto/cfsroot")
printf '%-28s %10d bytes stripped\n' "cfsroot (default, lean)" "$lean"
printf '%-28s %10d bytes stripped (+%d)\n' "cfsroot CFSROOT_CRYPTO=1" "$crypto" "$((crypto - lean))"
if readelf -d "$B/cfsroot" | grep -q NEEDED; then
	fail "bench-size: $B/cfsroot is not static"
elif [ "$lean" -le "$BUDGET" ]; then
	pass "bench-size: cfsroot is $lean bytes, within the $BUDGET-byte budget"
else
	fail "bench-size: cfsroot is $lean bytes, above the $BUDGET-byte budget"
fi
finish
