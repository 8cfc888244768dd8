#!/bin/bash
# mkcfs --ostree against mkcfs DIR on the same tree: the mkcfs benchmark tree
# (tests/bench/gen-tree.py, 100,000 files in 1,000 directories) committed once into a bare
# repository, and `ostree checkout` of that commit (both kept in $CACHE/bench-ostree,
# built in a temporary directory and renamed into place). With a warm page cache, best of
# RUNS (default 3), it prints both times and their ratio. mkcfs --ostree checks every
# object against its ostree checksum (a second SHA-256 over all content), which mkcfs DIR
# does not do. Target: no slower than mkcfs DIR.
set -u
. "$(dirname "$0")/../lib.sh"

MKCFS=$B/mkcfs
RUNS=${RUNS:-3}
FILES=${BENCH_FILES:-100000}
DIRS=${BENCH_DIRS:-1000}
TREE=$CACHE/bench-tree
BO=$CACHE/bench-ostree
if [ "$FILES" != 100000 ] || [ "$DIRS" != 1000 ]; then TREE=$CACHE/bench-tree-$FILES-$DIRS; BO=$CACHE/bench-ostree-$FILES-$DIRS; fi
[ -x "$MKCFS" ] || { echo "bench-ostree: $MKCFS not built" >&2; exit 1; }
command -v ostree > /dev/null || { skip "bench-ostree: the ostree CLI is not installed (run make setup)"; exit 0; }
mkdir -p "$CACHE"

if [ ! -d "$TREE" ]; then
	echo "bench-ostree: generating $TREE (once)"
	python3 "$TOP/tests/bench/gen-tree.py" "$TREE" "$FILES" "$DIRS" || exit 1
fi
if [ ! -d "$BO" ]; then
	echo "bench-ostree: committing $TREE into a bare repository and checking it out (once)"
	tmp=$(mktemp -d "$BO.tmp.XXXXXX")
	t0=$(date +%s.%N)
	if ostree --repo="$tmp/repo" init --mode=bare &&
	   ostree --repo="$tmp/repo" commit --branch=bench --subject=bench --tree=dir="$TREE" > /dev/null &&
	   ostree --repo="$tmp/repo" checkout bench "$tmp/checkout"; then
		mv "$tmp" "$BO"
		echo "bench-ostree: done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
	else
		rm -rf "$tmp"
		echo "FAIL: bench-ostree: building the repository failed"
		exit 0
	fi
fi
nfiles=$(find "$BO/checkout" -type f | wc -l)

echo "bench-ostree: warming the page cache (objects and checkout)"
find "$BO/repo/objects" "$BO/checkout" -type f -print0 | xargs -0 -P 2 -n 2000 cat > /dev/null

OUT=$(mktemp -d "$CACHE/bench-ostree-out.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# measure ARGS...: prints "seconds cpu-seconds maxrss-KiB".
measure() {
	python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:])
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
if r.returncode != 0:
    sys.exit(r.returncode)
print("%.3f %.3f %d" % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss))
EOF
}

# best LABEL ARGS...: the best of RUNS runs; sets BEST to "wall cpu rss".
best() {
	local label=$1 i line b=""
	shift
	for i in $(seq "$RUNS"); do
		line=$(measure "$MKCFS" "$@") || { echo "FAIL: bench-ostree: $label: mkcfs failed"; exit 0; }
		echo "  $label run $i: $line (wall s, cpu s, max RSS KiB)"
		if [ -z "$b" ] || awk -v a="${line%% *}" -v c="${b%% *}" 'BEGIN{exit !(a < c)}'; then b=$line; fi
	done
	BEST=$b
}

echo "bench-ostree: $nfiles files, $(nproc) CPUs, best of $RUNS, load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
best "mkcfs --ostree" --ostree "$BO/repo" bench "$OUT/ostree.cfs"; o=$BEST
best "mkcfs DIR" "$BO/checkout" "$OUT/dir.cfs"; d=$BEST
set -- $o; ow=$1 oc=$2 orss=$3
set -- $d; dw=$1 dc=$2 drss=$3
ratio=$(awk -v a="$ow" -v b="$dw" 'BEGIN{printf "%.2f", a / b}')
printf 'bench-ostree: mkcfs --ostree REPO REV: %.3f s (cpu %.2f s, peak RSS %d MiB), with every object checked\n' "$ow" "$oc" $((orss / 1024))
printf 'bench-ostree: mkcfs CHECKOUT:          %.3f s (cpu %.2f s, peak RSS %d MiB)\n' "$dw" "$dc" $((drss / 1024))
cpu_ratio=$(awk -v a="$oc" -v b="$dc" 'BEGIN{printf "%.2f", a / b}')
echo "bench-ostree: ratio --ostree / DIR = $ratio wall-clock, $cpu_ratio CPU time; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v r="$ratio" 'BEGIN{exit !(r <= 1.0)}'; then pass "mkcfs --ostree no slower than mkcfs DIR (ratio $ratio)"
else fail "mkcfs --ostree slower than mkcfs DIR (ratio $ratio)"; fi
# As in bench-mkcfs.sh: a missed target is reported, BENCH_STRICT=1 makes it the exit status.
[ "${BENCH_STRICT:-0}" = 1 ] && finish
exit 0
