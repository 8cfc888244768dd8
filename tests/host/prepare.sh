#!/bin/bash
# `cfsroot prepare SYSROOT` on the host kernel, as an initramfs that mounted the root device
# itself (dracut) runs it: inside new PID and mount namespaces, with a kernel command line
# bind-mounted over /proc/cmdline. The host kernel has no fs-verity, so the boot that works
# is the documented unverified mode; every failure must leave SYSROOT covered by an empty
# read-only mount (fail closed whatever the caller does with the exit status).
. "$(dirname "$0")/../lib.sh"
set -u

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	skip "prepare: needs root and unshare(1) for a private mount namespace"
	finish
fi
w=$(mktemp -d /tmp/cfsroot-prepare.XXXXXX)
chmod 0755 "$w" # uid 65534 runs the planted files below it
trap 'rm -rf "$w"' EXIT

mkdir -p "$w/tree/etc" "$w/tree/sbin" "$w/disk/cfs/images"
for d in sysroot dev proc sys run; do mkdir -p "$w/tree/$d"; done
echo "hello from the verified root" > "$w/tree/etc/greeting"
head -c 200000 /dev/urandom > "$w/tree/sbin/init"
"$B/mkcfs" --store "$w/disk/cfs/objects" "$w/tree" "$w/disk/cfs/images/os.cfs" || { fail "prepare: mkcfs failed"; finish; }
# A new root without /sysroot: the failure comes after the composefs mount, mid-sequence.
cp -a "$w/tree" "$w/tree-nosysroot" && rmdir "$w/tree-nosysroot/sysroot"
"$B/mkcfs" --store "$w/disk/cfs/objects" "$w/tree-nosysroot" "$w/disk/cfs/images/nosysroot.cfs" ||
	{ fail "prepare: mkcfs failed"; finish; }
# Planted offline on the root device (not covered by any digest): a setuid-root copy of
# id(1) and a world-readable device node.
install -m 4755 -o root "$(command -v id)" "$w/disk/suid-id"
mknod -m 0666 "$w/disk/zero" c 1 5
mkfs.ext4 -q -F -b 4096 -O verity -L prep -d "$w/disk" "$w/disk.img" 32M || { fail "prepare: mkfs.ext4 failed"; finish; }

# run_prepare NAME CMDLINE [nested]: prints cfsroot's exit status and what SYSROOT shows
# afterwards. cfsroot runs in a new PID and mount namespace whose PID 1 (a shell) shares its
# mount namespace, as in an initramfs; "/" there is shared, as systemd leaves it.
# With "nested", cfsroot runs in a mount namespace of its own (a unit with PrivateMounts=).
run_prepare() {
	printf '%s\n' "$2" > "$w/cmdline-$1"
	mkdir -p "$w/sysroot-$1"
	unshare -m -p -f --mount-proc bash -c '
		set -e
		mount --make-rshared /
		mount --bind "$1" /proc/cmdline
		mount -o ro,loop "$2" "$3"
		set +e
		# The planted files work on the plain mount: the nosuid,nodev checks can fail.
		echo "before-suid-euid=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$3/suid-id" -u 2>&1)"
		echo "before-device-read=$(setpriv --reuid=65534 --regid=65534 --clear-groups head -c 1 "$3/zero" 2>&1 | od -An -tx1 | tr -d " ")"
		if [ "$6" = nested ]; then unshare -m --propagation unchanged "$4" prepare "$3" 2>&1; else "$4" prepare "$3" 2>&1; fi
		echo "rc=$?"
		echo "fstype=$(findmnt -n -o FSTYPE --mountpoint "$3" | tail -n1)"
		echo "options=$(findmnt -n -o OPTIONS --mountpoint "$3" | tail -n1)"
		echo "entries=$(ls -A "$3" 2>&1 | wc -l)"
		echo "root-propagation=$(findmnt -n -o PROPAGATION --mountpoint / | tail -n1)"
		[ -f "$3/etc/greeting" ] && echo "greeting=$(cat "$3/etc/greeting")"
		[ -d "$3/sysroot/cfs/objects" ] && echo "physical-root-at-sysroot=yes"
		echo "physical-options=$(findmnt -n -o OPTIONS --mountpoint "$3/sysroot" | tail -n1)"
		echo "suid-euid=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$3/sysroot/suid-id" -u 2>&1)"
		echo "device-read=$(setpriv --reuid=65534 --regid=65534 --clear-groups head -c 1 "$3/sysroot/zero" 2>&1 | tr -d "\0")"
		cmp -s "$3/sbin/init" "$5" && echo "init-content=same"
		ls /run | grep -q cfsroot && echo "leftovers-in-run=yes"
		awk '\''$5 ~ /^\/run\/cfsroot-/'\'' /proc/self/mountinfo | grep -q . && echo "leftover-mounts=yes"
		# A careless caller unmounts what it finds: the disk must not come back.
		[ "$(findmnt -n -o FSTYPE --mountpoint "$3" | tail -n1)" = tmpfs ] && umount "$3" &&
			echo "after-umount=$(findmnt -n -o FSTYPE --mountpoint "$3" | tail -n1)|$(ls -A "$3" | wc -l)"
		true' _ "$w/cmdline-$1" "$w/disk.img" "$w/sysroot-$1" "$B/cfsroot" "$w/tree/sbin/init" "${3:-}"
}

# covered NAME OUTPUT: SYSROOT shows an empty read-only noexec tmpfs, and once that is
# unmounted, an empty directory: nothing of the disk.
covered() {
	grep -qx 'rc=1' <<< "$2" && grep -qx 'fstype=tmpfs' <<< "$2" && grep -qx 'entries=0' <<< "$2" &&
		grep -q '^options=ro,.*nosuid.*nodev.*noexec' <<< "$2" && grep -q 'is not bootable: root device detached, an empty read-only tmpfs mounted in its place' <<< "$2" &&
		grep -qx 'after-umount=|0' <<< "$2" &&
		! grep -q 'leftovers-in-run\|leftover-mounts' <<< "$2"
}

out=$(run_prepare unverified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0")
if grep -qx 'rc=0' <<< "$out" && grep -qx 'fstype=overlay' <<< "$out" &&
	grep -qx 'greeting=hello from the verified root' <<< "$out" && grep -qx 'physical-root-at-sysroot=yes' <<< "$out" &&
	grep -qx 'init-content=same' <<< "$out" && grep -q 'booting UNVERIFIED root' <<< "$out" &&
	! grep -q 'leftovers-in-run\|leftover-mounts' <<< "$out"; then
	pass "prepare: verity_check=0 mounts the composefs root over SYSROOT, physical root at SYSROOT/sysroot, content through the store, warning printed"
else
	fail "prepare: unverified prepare: $(tr '\n' ' ' <<< "$out")"
fi
if grep -qx 'before-suid-euid=0' <<< "$out" && grep -qx 'suid-euid=65534' <<< "$out" && grep -qx 'before-device-read=00' <<< "$out" &&
	grep -q '^physical-options=.*nosuid.*nodev' <<< "$out" && grep -q '^device-read=.*Permission denied' <<< "$out"; then
	pass "prepare: the physical root at SYSROOT/sysroot is nosuid,nodev: a planted setuid-root id(1) runs as 65534 (0 before prepare), a planted /dev/zero node (readable before prepare) is refused to uid 65534"
else
	fail "prepare: nosuid,nodev on the physical root: $(tr '\n' ' ' <<< "$out")"
fi
if grep -qx 'root-propagation=shared' <<< "$out"; then
	pass "prepare: '/' keeps its shared propagation (no recursive make-private)"
else
	fail "prepare: propagation of / changed: $(grep root-propagation <<< "$out")"
fi

digest=$("$B/mkcfs" --print-digest "$w/tree" "$w/again.cfs" | tail -n1)
out=$(run_prepare verified "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$digest")
if covered verified "$out" && grep -q 'has no fs-verity' <<< "$out"; then
	pass "prepare: a digest on a root without fs-verity is refused (exit 1, 'has no fs-verity'), SYSROOT covered by an empty read-only noexec tmpfs"
else
	fail "prepare: verified prepare on a filesystem without fs-verity: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare nodigest "root=/dev/vda cfsroot=/cfs/images/os.cfs")
if covered nodigest "$out" && grep -q 'no cfsroot.digest= given: refusing' <<< "$out"; then
	pass "prepare: no digest and no verity_check=0|1 is refused, SYSROOT covered"
else
	fail "prepare: missing digest: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare badkey "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0 cfsroot.on_failure=explode")
if covered badkey "$out" && grep -q 'invalid cfsroot.on_failure=explode' <<< "$out"; then
	pass "prepare: a command line cfsroot cannot parse is refused, SYSROOT covered"
else
	fail "prepare: bad key: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare nosysroot "root=/dev/vda cfsroot=/cfs/images/nosysroot.cfs cfsroot.verity_check=0")
if covered nosysroot "$out" && grep -q 'the new root has no /sysroot directory' <<< "$out"; then
	pass "prepare: a failure after the composefs mount (new root without /sysroot) leaves SYSROOT covered, no mount or directory left in /run"
else
	fail "prepare: failure mid-sequence: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare nobasedir "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0 cfsroot.basedir=/cfs/objects:/cfs/gone")
if covered nobasedir "$out" && grep -q 'basedir /cfs/gone not found' <<< "$out"; then
	pass "prepare: a missing basedir (second of two) leaves SYSROOT covered"
else
	fail "prepare: missing basedir: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare nested "root=/dev/vda cfsroot=/cfs/images/os.cfs cfsroot.verity_check=0" nested)
if covered nested "$out" && grep -q "not running in PID 1's mount namespace" <<< "$out" &&
	grep -q "in PID 1's mount namespace" <<< "$out"; then
	pass "prepare: in a mount namespace other than PID 1's it refuses and covers SYSROOT in PID 1's namespace"
else
	fail "prepare: namespace refusal: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare none "root=/dev/vda quiet")
if grep -qx 'rc=0' <<< "$out" && grep -qx 'fstype=ext4' <<< "$out"; then
	pass "prepare: without cfsroot keys it does nothing and exits 0"
else
	fail "prepare: no cfsroot key: $(tr '\n' ' ' <<< "$out")"
fi
finish
