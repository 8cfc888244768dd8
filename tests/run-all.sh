#!/bin/bash
# Runs the test groups (unit, host, fuzz, qemu; all by default) and prints one summary line.
# Protocol: a test program prints "PASS: name", "FAIL: name: why" or "SKIP: name: reason"
# lines; a program that exits non-zero without a FAIL line counts as one failure, one that
# exits 0 and prints none counts as one pass. Full logs go to $B/test-logs/.
set -u
B=${B:-build}
CACHE=${CACHE:-.cache}
export B CACHE
groups=${*:-unit host fuzz qemu}
logs=$B/test-logs
mkdir -p "$logs"
pass=0 fail=0 skip=0

run_one() { # name, command...
	local name=$1; shift
	local log=$logs/$name.log start=$SECONDS rc
	"$@" > "$log" 2>&1 < /dev/null
	rc=$?
	local p f s
	p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL: $name: exit status $rc" >> "$log"; fi
	if [ "$rc" = 0 ] && [ $((p + f + s)) = 0 ]; then p=1; fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
	grep -E '^(FAIL|SKIP): ' "$log" | sed 's/^/    /'
	if [ "$f" != 0 ]; then echo "    --- last lines of $log:"; tail -n 15 "$log" | sed 's/^/    | /'; fi
}

for g in $groups; do
	case $g in
	unit)
		for t in "$B"/tests/test-* build-asan/tests/test-*; do
			[ -x "$t" ] || continue
			case $t in build-asan/*) n=asan-$(basename "$t") ;; *) n=$(basename "$t") ;; esac
			run_one "$n" "$t"
		done ;;
	host)
		for t in tests/host/*.sh; do
			[ -f "$t" ] && run_one "host-$(basename "$t" .sh)" bash "$t"
		done ;;
	fuzz)
		for f in "$B"/fuzz/fuzz-*; do
			[ -x "$f" ] || continue
			n=$(basename "$f")
			# New inputs go to a scratch corpus; the seeds in the tree are read only.
			rm -rf "$logs/$n-corpus"; mkdir -p "$logs/$n-corpus"
			run_one "$n" "$f" -max_total_time="${FUZZ_SMOKE_SECONDS:-20}" -artifact_prefix="$logs/$n-" \
				"$logs/$n-corpus" $( [ -d "tests/fuzz/corpus/$n" ] && echo "tests/fuzz/corpus/$n")
		done ;;
	qemu)
		# The core boot suite, then one suite per area (tests/qemu/suite-NAME.sh), each
		# sourcing qemu-lib.sh and printing its own PASS/FAIL/SKIP lines.
		[ -f tests/qemu/run.sh ] && run_one qemu bash tests/qemu/run.sh
		for t in tests/qemu/suite-*.sh; do
			[ -f "$t" ] && run_one "qemu-$(basename "$t" .sh | sed 's/^suite-//')" bash "$t"
		done ;;
	esac
done

if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail = 0 ]
