#!/bin/bash
# `cfsroot prepare SYSROOT` for an ostree deployment on the host kernel (the dracut path):
# a sysroot made by bookworm's ostree CLI, the deployment's .ostree.cfs from mkcfs's
# deployment install (--ostree-deployment),
# an ext4 disk, then prepare in a private mount namespace with a command line bind-mounted
# over /proc/cmdline and a private /run. The host kernel has no fs-verity, so this is the
# documented unverified mode (the QEMU suite tests/qemu/suite-ostree.sh covers verified
# boots); what is checked is the assembly: /, /etc, /var, /boot, read-only /sysroot,
# /run/ostree-booted, in both /etc modes, and the refusals.
. "$(dirname "$0")/../lib.sh"
set -u

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v ostree >/dev/null; then
	skip "ostree-prepare: needs root, unshare(1) and the ostree CLI"
	finish
fi
w=$(mktemp -d /tmp/cfsroot-ostree-prepare.XXXXXX)
trap 'find "$w" -type d -exec chattr -i {} + 2>/dev/null; rm -rf "$w"' EXIT

t=$w/tree sr=$w/sysroot
mkdir -p "$t/usr/etc" "$t/sbin" "$t/usr/lib/modules/6.0.0-test" "$sr"
for d in sysroot dev proc sys run tmp var; do mkdir -p "$t/$d"; done
echo "hello from usr/etc" > "$t/usr/etc/greeting"
printf 'ID=cfstest\n' > "$t/usr/lib/os-release"
head -c 100000 /dev/urandom > "$t/sbin/init"
echo "not a kernel" > "$t/usr/lib/modules/6.0.0-test/vmlinuz"
{
	ostree admin init-fs "$sr" && ostree admin os-init --sysroot="$sr" os &&
	ostree --repo="$sr/ostree/repo" commit --branch=os/test --tree=dir="$t" &&
	ostree admin deploy --sysroot="$sr" --os=os --karg=root=/dev/vda os/test
} > "$w/ostree.log" 2>&1 || { fail "ostree-prepare: building the sysroot failed: $(tail -n3 "$w/ostree.log" | tr '\n' ' ')"; finish; }
commit=$(ostree --repo="$sr/ostree/repo" rev-parse os/test)
dep=/ostree/deploy/os/deploy/$commit.0
"$B/mkcfs" --ostree-deployment "$sr$dep" > "$w/mkcfs.log" 2>&1 ||
	{ fail "ostree-prepare: mkcfs --ostree-deployment failed: $(cat "$w/mkcfs.log")"; finish; }
echo "state" > "$sr/ostree/deploy/os/var/marker"
arg=$(sed -n 's/^options .*\(ostree=[^ ]*\).*/\1/p' "$sr"/boot/loader/entries/*.conf | head -n1)
[ -n "$arg" ] || { fail "ostree-prepare: no ostree= in the boot loader entry"; finish; }
mkfs.ext4 -q -F -b 4096 -O verity -L ostprep -d "$sr" "$w/disk.img" 64M > /dev/null || { fail "ostree-prepare: mkfs.ext4 failed"; finish; }

# run_prepare NAME CMDLINE: cfsroot's exit status and what SYSROOT shows afterwards.
run_prepare() {
	printf '%s\n' "$2" > "$w/cmdline-$1"
	mkdir -p "$w/mnt-$1"
	unshare -m -p -f --mount-proc bash -c '
		set -e
		mount --make-rprivate /
		mount --bind "$1" /proc/cmdline
		mount -t tmpfs tmpfs /run
		mount -o loop "$2" "$3"
		set +e
		"$4" prepare "$3" 2>&1; echo "rc=$?"
		m=$3
		echo "root=$(findmnt -n -r -o FSTYPE,OPTIONS --mountpoint "$m" | tail -n1 | cut -d, -f1)"
		echo "etc=$(findmnt -n -r -o FSTYPE,SOURCE,OPTIONS --mountpoint "$m/etc" | tail -n1 | cut -d, -f1)"
		echo "var=$(findmnt -n -r -o SOURCE --mountpoint "$m/var" | tail -n1)"
		echo "boot=$(findmnt -n -r -o SOURCE --mountpoint "$m/boot" | tail -n1)"
		echo "sysroot=$(findmnt -n -r -o FSTYPE,OPTIONS --mountpoint "$m/sysroot" | tail -n1 | cut -d, -f1)"
		cat "$m/etc/greeting" 2>/dev/null | sed "s/^/greeting=/"
		cat "$m/var/marker" 2>/dev/null | sed "s/^/var-marker=/"
		echo x 2>/dev/null > "$m/etc/written" && echo "etc-writable=yes"
		[ -s /run/ostree-booted ] && echo "ostree-booted=yes"
		[ -e /run/ostree/initramfs-mount-var ] && echo "mount-var-stamp=yes"
		true' _ "$w/cmdline-$1" "$w/disk.img" "$w/mnt-$1" "$B/cfsroot"
}
has() { grep -qxF -- "$2" <<< "$1"; }

out=$(run_prepare persistent "root=/dev/vda rw $arg cfsroot.verity_check=0")
if has "$out" rc=0 && has "$out" "root=overlay ro" && grep -qE "^etc=ext4 /dev/loop[0-9]+\[$dep/etc\] rw$" <<< "$out" &&
	grep -qE "^var=/dev/loop[0-9]+\[/ostree/deploy/os/var\]$" <<< "$out" && grep -qE '^boot=/dev/loop[0-9]+\[/boot\]$' <<< "$out" &&
	has "$out" "sysroot=ext4 ro" && has "$out" "greeting=hello from usr/etc" && has "$out" "var-marker=state" &&
	has "$out" "etc-writable=yes" && has "$out" "ostree-booted=yes" && has "$out" "mount-var-stamp=yes"; then
	pass "ostree-prepare: ostree= from the BLS entry: composefs / (ro), deployment etc on /etc (rw), stateroot var, /boot, /sysroot ro, /run/ostree-booted"
else
	fail "ostree-prepare: persistent /etc: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare transient "root=/dev/vda rw $arg cfsroot.verity_check=0 cfsroot.etc=transient")
if has "$out" rc=0 && grep -qE '^etc=overlay transient-etc rw$' <<< "$out" && has "$out" "greeting=hello from usr/etc" &&
	has "$out" "etc-writable=yes" && has "$out" "ostree-booted=yes"; then
	pass "ostree-prepare: cfsroot.etc=transient: /etc is an overlay of the image's /usr/etc, writable"
else
	fail "ostree-prepare: transient /etc: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare both "root=/dev/vda rw $arg cfsroot=$dep/.ostree.cfs cfsroot.verity_check=0")
if has "$out" rc=1 && grep -q "both name the image to boot" <<< "$out" && has "$out" "root=tmpfs ro"; then
	pass "ostree-prepare: ostree= with cfsroot= refused, SYSROOT covered (empty read-only tmpfs)"
else
	fail "ostree-prepare: ostree= with cfsroot=: $(tr '\n' ' ' <<< "$out")"
fi

out=$(run_prepare scan "root=/dev/vda rw cfsroot.ostree cfsroot.digest=sha256:$(printf '%064d' 0)")
if has "$out" rc=1 && grep -q "no ostree deployment has an .ostree.cfs with digest" <<< "$out" && has "$out" "root=tmpfs ro"; then
	pass "ostree-prepare: digest alone with no matching deployment refused, SYSROOT covered (empty read-only tmpfs)"
else
	fail "ostree-prepare: digest alone: $(tr '\n' ' ' <<< "$out")"
fi
finish
