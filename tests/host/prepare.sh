#!/bin/bash
# `cfsroot prepare SYSROOT` on the host kernel, as an initramfs that mounted the root device
# itself (dracut) runs it: inside a private mount namespace, with a kernel command line
# bind-mounted over /proc/cmdline. The host kernel has no fs-verity, so the boot that works
# is the documented unverified mode; the verified modes must refuse and leave SYSROOT as it was.
. "$(dirname "$0")/../lib.sh"
set -u

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	skip "prepare: needs root and unshare(1) for a private mount namespace"
	finish
fi
w=$(mktemp -d /tmp/cfsroot-prepare.XXXXXX)
trap 'rm -rf "$w"' EXIT

mkdir -p "$w/tree/etc" "$w/tree/sbin" "$w/disk/cfs/images"
for d in sysroot dev proc sys run; do mkdir -p "$w/tree/$d"; done
echo "hello from the verified root" > "$w/tree/etc/greeting"
head -c 200000 /dev/urandom > "$w/tree/sbin/init"
"$B/mkcfs" --store "$w/disk/cfs/objects" "$w/tree" "$w/disk/cfs/images/os.cfs" || { fail "prepare: mkcfs failed"; finish; }
mkfs.ext4 -q -F -b 4096 -O verity -L prep -d "$w/disk" "$w/disk.img" 32M || { fail "prepare: mkfs.ext4 failed"; finish; }

# run_prepare NAME CMDLINE: prints cfsroot's exit status and what SYSROOT shows afterwards.
run_prepare() {
	printf '%s\n' "$2" > "$w/cmdline-$1"
	mkdir -p "$w/sysroot-$1"
	unshare -m bash -c '
		set -e
		mount --make-rprivate /
		mount --bind "$1" /proc/cmdline
		mount -o ro,loop "$2" "$3"
		set +e
		"$4" prepare "$3" 2>&1; echo "rc=$?"
		echo "fstype=$(findmnt -n -o FSTYPE --mountpoint "$3" | tail -n1)"
		echo "options=$(findmnt -n -o OPTIONS --mountpoint "$3" | tail -n1)"
		[ -f "$3/etc/greeting" ] && echo "greeting=$(cat "$3/etc/greeting")"
		[ -d "$3/sysroot/cfs/objects" ] && echo "physical-root-at-sysroot=yes"
		cmp -s "$3/sbin/init" "$5" && echo "init-content=same"
		ls /run | grep -q cfsroot && echo "leftovers-in-run=yes"
		true' _ "$w/cmdline-$1" "$w/disk.img" "$w/sysroot-$1" "$B/cfsroot" "$w/tree/sbin/init"
}

out=$(run_prepare unverified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0")
if grep -qx 'rc=0' <<< "$out" && grep -qx 'fstype=overlay' <<< "$out" &&
	grep -qx 'greeting=hello from the verified root' <<< "$out" && grep -qx 'physical-root-at-sysroot=yes' <<< "$out" &&
	grep -qx 'init-content=same' <<< "$out" && grep -q 'booting UNVERIFIED root' <<< "$out" &&
	! grep -q 'leftovers-in-run' <<< "$out"; then
	pass "prepare: verity_check=0 mounts the composefs root over SYSROOT, physical root at SYSROOT/sysroot, content through the store, warning printed"
else
	fail "prepare: unverified prepare: $(tr '\n' ' ' <<< "$out")"
fi

digest=$("$B/mkcfs" --print-digest "$w/tree" "$w/again.cfs" | tail -n1)
out=$(run_prepare verified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$digest")
if grep -qx 'rc=1' <<< "$out" && grep -q 'has no fs-verity' <<< "$out" && grep -qx 'fstype=ext4' <<< "$out"; then
	pass "prepare: a digest on a root without fs-verity is refused (exit 1, 'has no fs-verity'), SYSROOT left as the plain root"
else
	fail "prepare: verified prepare on a filesystem without fs-verity: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare nodigest "root=/dev/vda cfsroot=/cfs/images/os.cfs")
if grep -qx 'rc=1' <<< "$out" && grep -q 'no cfsroot.digest= given: refusing' <<< "$out" && grep -qx 'fstype=ext4' <<< "$out"; then
	pass "prepare: no digest and no verity_check=0|1 is refused, SYSROOT left as it was"
else
	fail "prepare: missing digest: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare none "root=/dev/vda quiet")
if grep -qx 'rc=0' <<< "$out" && grep -qx 'fstype=ext4' <<< "$out"; then
	pass "prepare: without cfsroot keys it does nothing and exits 0"
else
	fail "prepare: no cfsroot key: $(tr '\n' ' ' <<< "$out")"
fi
finish
