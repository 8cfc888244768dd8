#!/bin/bash
# mkcfs --ostree against mkcfs DIR on the same tree: the mkcfs benchmark tree
# (tests/bench/gen-tree.py, 100,000 files in 1,000 directories) committed once into a bare
# repository, and `ostree checkout` of that commit (both kept in $CACHE/bench-ostree,
# built in a temporary directory and renamed into place). mkcfs --ostree checks every
# object against its ostree checksum (a second SHA-256 over all content), which mkcfs DIR
# does not do. Target: no slower than mkcfs DIR.
#
# With a warm page cache, RUNS rounds (default 11, at least 3) run both modes back to back,
# alternating which goes first, so a change in the machine's load hits both alike. Other
# load only ever makes a run slower, so the best run of each mode counts, for wall clock
# and CPU time (user + system) separately. CPU time is what this machine's other users
# disturb least; wall clock is what a user waits for. Both ratios get a PASS or FAIL line.
# On the shared 2-CPU development machine one round's ratio moves by 10% either way, and
# 5 rounds once gave 0.96 where 15 gave 1.10: hence 11 rounds, and the medians, the
# paired ratios and the user / system split printed beside the verdict.
#
# Then, unless BENCH_CALLGRIND=0 or valgrind is missing, both modes run once under
# callgrind on a 10,000-file tree (BENCH_CG_FILES, cached like the big one): instruction
# counts, immune to load. Under valgrind OpenSSL cannot use the CPU's SHA instructions,
# so hashing weighs several times more there than on real hardware: it is a comparison
# of work, not a forecast of time. BENCH_STRICT=1 makes a missed target the exit status.
set -u
. "$(dirname "$0")/../lib.sh"

MKCFS=$B/mkcfs
RUNS=${RUNS:-11}
[ "$RUNS" -ge 3 ] 2>/dev/null || RUNS=3
FILES=${BENCH_FILES:-100000}
DIRS=${BENCH_DIRS:-1000}
CG_FILES=${BENCH_CG_FILES:-10000}
[ -x "$MKCFS" ] || { echo "bench-ostree: $MKCFS not built" >&2; exit 1; }
command -v ostree > /dev/null || { skip "bench-ostree: the ostree CLI is not installed (run make setup)"; exit 0; }
mkdir -p "$CACHE"

# prepare FILES DIRS: the tree, its commit and checkout in the cache (made once); sets BO.
prepare() {
	local files=$1 dirs=$2 tree=$CACHE/bench-tree tmp t0
	BO=$CACHE/bench-ostree
	if [ "$files" != 100000 ] || [ "$dirs" != 1000 ]; then tree=$CACHE/bench-tree-$files-$dirs; BO=$CACHE/bench-ostree-$files-$dirs; fi
	if [ ! -d "$tree" ]; then
		echo "bench-ostree: generating $tree (once)"
		python3 "$TOP/tests/bench/gen-tree.py" "$tree" "$files" "$dirs" || return 1
	fi
	[ -d "$BO" ] && return 0
	echo "bench-ostree: committing $tree into a bare repository and checking it out (once)"
	tmp=$(mktemp -d "$BO.tmp.XXXXXX")
	t0=$(date +%s.%N)
	if ostree --repo="$tmp/repo" init --mode=bare &&
	   ostree --repo="$tmp/repo" commit --branch=bench --subject=bench --tree=dir="$tree" > /dev/null &&
	   ostree --repo="$tmp/repo" checkout bench "$tmp/checkout"; then
		mv "$tmp" "$BO"
		echo "bench-ostree: done in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
	else
		rm -rf "$tmp"
		return 1
	fi
}

prepare "$FILES" "$DIRS" || { echo "FAIL: bench-ostree: building the repository failed"; exit 0; }
nfiles=$(find "$BO/checkout" -type f | wc -l)

echo "bench-ostree: warming the page cache (objects and checkout)"
find "$BO/repo/objects" "$BO/checkout" -type f -print0 | xargs -0 -P 2 -n 2000 cat > /dev/null

OUT=$(mktemp -d "$CACHE/bench-ostree-out.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# measure ARGS...: prints "wall-seconds cpu-seconds maxrss-KiB user-seconds system-seconds"
# of one run.
measure() {
	python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:])
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
if r.returncode != 0:
    sys.exit(r.returncode)
print("%.3f %.3f %d %.3f %.3f" % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, ru.ru_utime, ru.ru_stime))
PY
}

# run MODE: one run of mkcfs --ostree (MODE=ostree) or mkcfs DIR (MODE=dir), appended to
# $OUT/MODE.runs.
run() {
	local line
	if [ "$1" = ostree ]; then line=$(measure "$MKCFS" --ostree "$BO/repo" bench "$OUT/ostree.cfs")
	else line=$(measure "$MKCFS" "$BO/checkout" "$OUT/dir.cfs"); fi || { echo "FAIL: bench-ostree: mkcfs ($1) failed"; exit 0; }
	echo "$line" >> "$OUT/$1.runs"
	set -- "$1" $line
	printf '  round %d: %-6s wall %s s, cpu %s s (user %s, system %s), peak RSS %d MiB\n' "$i" "$1" "$2" "$3" "$5" "$6" $(( $4 / 1024 ))
}

# col_min / col_median FILE N: the smallest / the median value of column N.
col_min() { sort -g -k"$2" "$1" | head -1 | cut -d' ' -f"$2"; }
col_median() { sort -g -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-ostree: $nfiles files, $(nproc) CPUs, $RUNS rounds, load average now: $load0"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then run ostree; run dir; else run dir; run ostree; fi
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

ow=$(col_min "$OUT/ostree.runs" 1) oc=$(col_min "$OUT/ostree.runs" 2) orss=$(col_min "$OUT/ostree.runs" 3)
dw=$(col_min "$OUT/dir.runs" 1) dc=$(col_min "$OUT/dir.runs" 2) drss=$(col_min "$OUT/dir.runs" 3)
ou=$(col_min "$OUT/ostree.runs" 4) os=$(col_min "$OUT/ostree.runs" 5)
du=$(col_min "$OUT/dir.runs" 4) ds=$(col_min "$OUT/dir.runs" 5)
wall_ratio=$(awk -v a="$ow" -v b="$dw" 'BEGIN{printf "%.2f", a / b}')
cpu_ratio=$(awk -v a="$oc" -v b="$dc" 'BEGIN{printf "%.2f", a / b}')
printf 'bench-ostree: mkcfs --ostree REPO REV: best wall %.3f s, best cpu %.3f s, peak RSS %d MiB, with every object checked\n' "$ow" "$oc" $((orss / 1024))
printf 'bench-ostree: mkcfs CHECKOUT:          best wall %.3f s, best cpu %.3f s, peak RSS %d MiB\n' "$dw" "$dc" $((drss / 1024))
echo "bench-ostree: ratio --ostree / DIR: wall clock $wall_ratio, CPU time $cpu_ratio (load average before: $load0, after: $load1)"
printf 'bench-ostree: median of %d rounds: --ostree wall %s s, cpu %s s; DIR wall %s s, cpu %s s (ratios %s / %s)\n' "$RUNS" \
	"$(col_median "$OUT/ostree.runs" 1)" "$(col_median "$OUT/ostree.runs" 2)" "$(col_median "$OUT/dir.runs" 1)" "$(col_median "$OUT/dir.runs" 2)" \
	"$(awk -v a="$(col_median "$OUT/ostree.runs" 1)" -v b="$(col_median "$OUT/dir.runs" 1)" 'BEGIN{printf "%.2f", a / b}')" \
	"$(awk -v a="$(col_median "$OUT/ostree.runs" 2)" -v b="$(col_median "$OUT/dir.runs" 2)" 'BEGIN{printf "%.2f", a / b}')"
# Each round ran both modes back to back: the ratio within a round cancels the load that
# drifts from minute to minute, so the median of those paired ratios is the steadiest figure.
paste -d' ' "$OUT/ostree.runs" "$OUT/dir.runs" | awk '
	{ w[NR] = $1 / $6; c[NR] = $2 / $7; if ($1 < $6) bw++; if ($2 < $7) bc++ }
	function median(v, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	END { printf "bench-ostree: paired ratio within each round, median: wall clock %.2f (--ostree faster in %d of %d), CPU time %.2f (faster in %d of %d)\n",
	      median(w, NR), bw, NR, median(c, NR), bc, NR }'
# Where the CPU time goes: the object check's second SHA-256 is user time; the directory
# scan that --ostree does without (getdents, statx by name) is system time.
printf 'bench-ostree: best user / system CPU: --ostree %s / %s s, DIR %s / %s s (ratios %s / %s)\n' "$ou" "$os" "$du" "$ds" \
	"$(awk -v a="$ou" -v b="$du" 'BEGIN{printf "%.2f", a / b}')" "$(awk -v a="$os" -v b="$ds" 'BEGIN{printf "%.2f", a / b}')"
busy=$(awk -v l="${load1%% *}" -v n="$(nproc)" 'BEGIN{print (l > n / 2) ? 1 : 0}')
[ "$busy" = 1 ] && echo "bench-ostree: note: the machine was busy (load average above half the CPUs): the wall-clock ratio is the less reliable one"
if awk -v r="$cpu_ratio" 'BEGIN{exit !(r <= 1.0)}'; then pass "bench-ostree: mkcfs --ostree no slower than mkcfs DIR in CPU time (ratio $cpu_ratio)"
else fail "bench-ostree: mkcfs --ostree slower than mkcfs DIR in CPU time (ratio $cpu_ratio)"; fi
if awk -v r="$wall_ratio" 'BEGIN{exit !(r <= 1.0)}'; then pass "bench-ostree: mkcfs --ostree no slower than mkcfs DIR in wall clock (ratio $wall_ratio)"
else fail "bench-ostree: mkcfs --ostree slower than mkcfs DIR in wall clock (ratio $wall_ratio)"; fi

# Instruction counts on the smaller tree.
if [ "${BENCH_CALLGRIND:-1}" = 0 ]; then
	echo "bench-ostree: callgrind comparison off (BENCH_CALLGRIND=0)"
elif ! command -v valgrind > /dev/null; then
	skip "bench-ostree: callgrind comparison: valgrind is not installed"
elif ! prepare "$CG_FILES" $((CG_FILES / 100 > 10 ? CG_FILES / 100 : 10)); then
	echo "FAIL: bench-ostree: building the $CG_FILES-file repository failed"
else
	# cg ARGS...: the instruction count of one mkcfs run under callgrind.
	cg() {
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$MKCFS" "$@" 2>&1 |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
	}
	oi=$(cg --ostree "$BO/repo" bench "$OUT/cg-ostree.cfs")
	di=$(cg "$BO/checkout" "$OUT/cg-dir.cfs")
	if [ -z "$oi" ] || [ -z "$di" ] || [ ! -s "$OUT/cg-ostree.cfs" ] || [ ! -s "$OUT/cg-dir.cfs" ]; then
		echo "FAIL: bench-ostree: a callgrind run failed"
	else
		echo "bench-ostree: callgrind, $CG_FILES files: mkcfs --ostree $oi instructions, mkcfs DIR $di," \
		     "ratio $(awk -v a="$oi" -v b="$di" 'BEGIN{printf "%.2f", a / b}') (software SHA-256 under valgrind: hashing weighs more than on the CPU)"
	fi
fi
[ "${BENCH_STRICT:-0}" = 1 ] && finish
exit 0
