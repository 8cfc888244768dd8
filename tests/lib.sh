# Shared helpers for shell tests: source it. Prints the PASS/FAIL/SKIP lines run-all.sh counts.
B=${B:-build}
CACHE=${CACHE:-.cache}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case $B in /*) ;; *) B=$TOP/$B ;; esac
case $CACHE in /*) ;; *) CACHE=$TOP/$CACHE ;; esac
_failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; _failed=1; }
skip() { echo "SKIP: $*"; }
# check NAME COMMAND...: PASS when the command succeeds.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
finish() { exit $_failed; }
