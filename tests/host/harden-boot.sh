#!/bin/bash
# Boot-path hardening (issue 9) checks that run on the host kernel:
#  - cfsroot takes the PID-1 path only as PID 1, never because its name ends in "init";
#  - in prepare mode (tests/host/prepare.sh's setup: a private mount namespace, a command
#    line bind-mounted over /proc/cmdline) the image and the basedirs must be on the root
#    device itself: a mount placed under SYSROOT over them is refused (RESOLVE_NO_XDEV),
#    even in the unverified mode that would otherwise boot whatever image it finds.
. "$(dirname "$0")/../lib.sh"
set -u

w=$(mktemp -d /tmp/cfsroot-harden.XXXXXX)
trap 'rm -rf "$w"' EXIT

# ---- dispatch: a copy named "init" that is not PID 1 is the ordinary command. In a
# private mount namespace when possible, in case a regression makes it mount things.
cp "$B/cfsroot" "$w/init"
ns=()
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then ns=(unshare -m); fi
out=$("${ns[@]}" "$w/init" 2>&1 < /dev/null); rc=$?
if [ $rc = 2 ] && grep -q 'missing command' <<< "$out"; then
	pass "dispatch: a cfsroot named 'init' that is not PID 1 parses its arguments (exit 2, 'missing command'), no boot attempt"
else
	fail "dispatch: 'init' not as PID 1: exit $rc: $(tr '\n' ' ' <<< "$out")"
fi
out=$("${ns[@]}" "$w/init" --version 2>&1 < /dev/null); rc=$?
if [ $rc = 0 ] && grep -q '^cfsroot ' <<< "$out"; then
	pass "dispatch: 'init --version' not as PID 1 prints the version"
else
	fail "dispatch: 'init --version': exit $rc: $(tr '\n' ' ' <<< "$out")"
fi

# ---- prepare mode: mounts under SYSROOT.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	skip "prepare-xdev: needs root and unshare(1) for a private mount namespace"
	finish
fi
mkdir -p "$w/tree/etc" "$w/tree/sbin" "$w/disk/cfs/images" "$w/other/images"
for d in sysroot dev proc sys run; do mkdir -p "$w/tree/$d"; done
echo "hello" > "$w/tree/etc/greeting"
head -c 100000 /dev/urandom > "$w/tree/sbin/init"
"$B/mkcfs" --store "$w/disk/cfs/objects" "$w/tree" "$w/disk/cfs/images/os.cfs" > /dev/null || { fail "prepare-xdev: mkcfs failed"; finish; }
cp -a "$w/disk/cfs/images/os.cfs" "$w/other/images/os.cfs"
cp -a "$w/disk/cfs/objects" "$w/other/objects"
mkfs.ext4 -q -F -b 4096 -O verity -L prep -d "$w/disk" "$w/disk.img" 32M || { fail "prepare-xdev: mkfs.ext4 failed"; finish; }

# run_prepare NAME CMDLINE OVER: mounts a tmpfs holding $w/other/OVER's content over
# SYSROOT/cfs/OVER, then runs prepare; prints its output, exit status and SYSROOT's type.
run_prepare() {
	printf '%s\n' "$2" > "$w/cmdline-$1"
	mkdir -p "$w/sysroot-$1"
	unshare -m -p -f --mount-proc bash -c '
		set -e
		mount --make-rprivate /
		mount --bind "$1" /proc/cmdline
		mount -o ro,loop "$2" "$3"
		mount -t tmpfs tmpfs "$3/cfs/$5"
		cp -a "$6/$5/." "$3/cfs/$5/"
		set +e
		"$4" prepare "$3" 2>&1; echo "rc=$?"
		echo "fstype=$(findmnt -n -o FSTYPE --mountpoint "$3" | tail -n1)"
		true' _ "$w/cmdline-$1" "$w/disk.img" "$w/sysroot-$1" "$B/cfsroot" "$3" "$w/other"
}

out=$(run_prepare image "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0" images)
if grep -qx 'rc=1' <<< "$out" && grep -q "cannot open image /cfs/images/os.cfs on the root device: its path leaves the root device's mount" <<< "$out" &&
	grep -qx 'fstype=tmpfs' <<< "$out"; then
	pass "prepare-xdev: a tmpfs mounted over SYSROOT/cfs/images is refused ('its path leaves the root device's mount', exit 1), SYSROOT covered"
else
	fail "prepare-xdev: image under another mount: $(tr '\n' ' ' <<< "$out")"
fi
out=$(run_prepare basedir "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0" objects)
if grep -qx 'rc=1' <<< "$out" && grep -q "basedir /cfs/objects is not on the root device: its path leaves the root device's mount" <<< "$out"; then
	pass "prepare-xdev: a tmpfs mounted over SYSROOT/cfs/objects is refused as a basedir (exit 1)"
else
	fail "prepare-xdev: basedir under another mount: $(tr '\n' ' ' <<< "$out")"
fi
finish
