#!/bin/bash
# Fault injection on the way to the root: `cfsroot prepare SYSROOT` (dynamically linked test
# build, $B/faults/cfsroot) runs once per system call it makes, with that one call failing
# (tests/faults/shim.c, LD_PRELOAD): ENOMEM, EIO, EINTR and EAGAIN, where each applies to the
# call. Every run must end either in a refusal (exit 1, an error line naming what failed,
# SYSROOT covered: the root device detached and an empty read-only tmpfs in its place, or no
# mount at all when the cover's own mount was the failing call) or, where cfsroot may tolerate the failure (an
# optional step), in the complete root; never a crash, a hang (20 s), a half-mounted SYSROOT
# or a success without the root.
# The host kernel has no fs-verity: the mounts are reached in the unverified mode
# (cfsroot.verity_check=0); the verified mode (a digest) is injected too, and since the host
# cannot verify, each of its runs must refuse. PID-1 mode (device wait, switch_root) needs a
# guest and is not covered here.
. "$(dirname "$0")/../lib.sh"
set -u

if [ "$(id -u)" != 0 ] || ! command -v unshare > /dev/null; then
	skip "faults: needs root and unshare(1) for private mount namespaces"
	finish
fi
make -s -C "$TOP" B="$B" "$B/faults/cfsroot" "$B/faults/shim.so" > /dev/null ||
	{ fail "faults: building $B/faults/cfsroot and the shim"; finish; }

w=$(mktemp -d /tmp/cfsroot-faults.XXXXXX)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/tree/etc" "$w/tree/sbin" "$w/disk/cfs/images" "$w/sysroot"
for d in sysroot dev proc sys run; do mkdir -p "$w/tree/$d"; done
echo "hello from the composefs root" > "$w/tree/etc/greeting"
head -c 200000 /dev/urandom > "$w/tree/sbin/init"
"$B/mkcfs" --store "$w/disk/cfs/objects" "$w/tree" "$w/disk/cfs/images/os.cfs" > /dev/null ||
	{ fail "faults: mkcfs failed"; finish; }
digest=$("$B/mkcfs" --print-digest "$w/tree" "$w/again.cfs" | tail -n1)
mkfs.ext4 -q -F -b 4096 -O verity -L faults -d "$w/disk" "$w/disk.img" 32M 2> /dev/null ||
	{ fail "faults: mkfs.ext4 failed"; finish; }

# One namespace for all runs (the root device mounted once, /run a private tmpfs); each run
# in its own nested mount namespace, so whatever it mounted goes with it.
cat > "$w/runs.sh" <<'INNER'
set -u
w=$1 shim=$2 cfsroot=$3 mode=$4
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mount -o ro,loop "$w/disk.img" "$w/sysroot"
mount --bind "$w/cmdline-$mode" /proc/cmdline

# one N ERRNO: a run with the N-th call failing (N=0: none); prints the outcome as key=value.
one() {
	rm -f "$w/log"
	# A PID namespace too: cfsroot prepare refuses to run outside PID 1's mount namespace,
	# so the shell that starts it is PID 1 of the run (its /proc/cmdline bound again).
	unshare -m -p -f --mount-proc bash -c '
		mount --bind "$1/cmdline-$6" /proc/cmdline
		FAULT_LOG=$1/log FAULT_AT=$2 FAULT_ERRNO=$3 LD_PRELOAD=$4 timeout 20 "$5" prepare "$1/sysroot" > "$1/out" 2>&1
		echo "rc=$?"
		echo "fstype=$(findmnt -n -o FSTYPE --mountpoint "$1/sysroot" | tail -n1)"
		[ -f "$1/sysroot/etc/greeting" ] && echo "greeting=$(cat "$1/sysroot/etc/greeting")"
		[ -d "$1/sysroot/sysroot/cfs/objects" ] && echo "physical=yes"
		true' _ "$w" "$1" "$2" "$shim" "$cfsroot" "$mode"
}
errnos_for() { # call name -> the errnos that call can return
	case $1 in
	syscall-437) echo "12 5 4 11" ;;            # openat2: ENOMEM EIO EINTR EAGAIN (RESOLVE_IN_ROOT race)
	open | open64 | openat | openat64 | ioctl) echo "12 5 4" ;; # ENOMEM EIO EINTR
	read | pread | pread64 | write) echo "5 4 11" ;;          # EIO EINTR EAGAIN
	poll) echo "12 4" ;;
	*) echo "12 5" ;;                           # ENOMEM EIO
	esac
}

one 0 0 > "$w/base"
cp "$w/log" "$w/calls"
echo "calls=$(wc -l < "$w/calls")"
echo "base=$(tr '\n' ' ' < "$w/base")"
while read -r n name where; do
	for e in $(errnos_for "$name"); do
		res=$(one "$n" "$e" | tr '\n' ' ')
		inj=$(grep '^injected ' "$w/log" 2> /dev/null | head -n1)
		last=$(grep '^cfsroot: ' "$w/out" | grep -v ': timing: ' | tail -n1)
		left=$(ls /run | grep -c cfsroot)
		rm -rf /run/cfsroot-*
		printf 'run n=%s name=%s errno=%s site=%s | %s| left=%s | injected=%s | last=%s\n' \
			"$n" "$name" "$e" "$where" "$res" "$left" "${inj:+yes}" "$last"
	done
done < "$w/calls"
INNER

run_mode() { # mode cmdline
	printf '%s\n' "$2" > "$w/cmdline-$1"
	unshare -m bash "$w/runs.sh" "$w" "$B/faults/shim.so" "$B/faults/cfsroot" "$1" > "$w/result-$1" 2>&1
}
ok_root='fstype=overlay greeting=hello from the composefs root physical=yes'

# ---- unverified mode: reaches every mount ----
run_mode unverified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0"
calls=$(sed -n 's/^calls=//p' "$w/result-unverified")
if grep -q "^base=rc=0 $ok_root" "$w/result-unverified"; then
	pass "faults: without injection the unverified prepare mounts the root ($calls wrapped calls on the way)"
else
	fail "faults: the run without injection did not mount the root: $(grep '^base=' "$w/result-unverified")"
fi
runs=0 refused=0 tolerated=0 bad=0 notreached=0
sites=()
while IFS= read -r line; do
	runs=$((runs + 1))
	case $line in *'injected=yes'*) ;; *) notreached=$((notreached + 1)); continue ;; esac
	sites+=("$(sed 's/.* name=\([^ ]*\) .* site=\([^ ]*\) .*/\1@\2/' <<< "$line")")
	if [[ $line =~ \|\ rc=1\ fstype=(tmpfs)?\  ]] && [[ $line != *"greeting="* ]] && [[ $line =~ \|\ last=cfsroot:\ .+ ]]; then
		refused=$((refused + 1))
	elif [[ $line == *"| rc=0 $ok_root "* ]]; then
		tolerated=$((tolerated + 1))
	else
		bad=$((bad + 1))
		fail "faults: unverified: $line"
	fi
done < <(grep '^run ' "$w/result-unverified")
nsites=$(printf '%s\n' "${sites[@]}" | sort -u | wc -l)
echo "unverified mode: $runs runs over $calls calls ($nsites distinct call sites): $refused refused, $tolerated tolerated with the full root, $notreached not reached, $bad wrong"
check "faults: unverified mode: every one of $runs injected failures ($nsites call sites, $calls calls) ends refused ($refused) or with the full root ($tolerated)" \
	[ "$bad" = 0 -a "$runs" -gt 0 -a "$notreached" = 0 ]

# ---- verified mode: the host cannot verify, so every run must refuse ----
run_mode verified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$digest"
vcalls=$(sed -n 's/^calls=//p' "$w/result-verified")
check "faults: without injection the verified prepare refuses on this host (no fs-verity)" \
	grep -q '^base=rc=1 fstype=tmpfs' "$w/result-verified"
vruns=0 vbad=0
while IFS= read -r line; do
	vruns=$((vruns + 1))
	if [[ $line =~ \|\ rc=1\ fstype=(tmpfs)?\  ]] && [[ $line != *"greeting="* ]] && [[ $line =~ \|\ last=cfsroot:\ .+ ]]; then
		:
	else
		vbad=$((vbad + 1))
		fail "faults: verified: $line"
	fi
done < <(grep '^run ' "$w/result-verified")
check "faults: verified mode: all $vruns injected failures ($vcalls calls) refuse, SYSROOT covered" [ "$vbad" = 0 -a "$vruns" -gt 0 ]
[ -n "${FAULTS_KEEP:-}" ] && cp "$w"/result-* "$FAULTS_KEEP"/
finish
