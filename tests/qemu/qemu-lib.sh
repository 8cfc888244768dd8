# Shared by the QEMU boot suite (run.sh), the demo (demo.sh) and the boot benchmark
# (tests/bench/bench-boot.sh): fetch the test kernels, build the test OS (a tiny tree whose
# /sbin/init is guest-init.c, with the product's static cfsroot and mkcfs in /usr/bin), its
# composefs image and object store (mkcfs), the ext4 test disk, the cfsroot initramfs, and run
# the install boot that enables fs-verity inside a guest with `cfsroot verity enable` (the
# host kernel has none). Source it after tests/lib.sh; then call qemu_prepare.
#
# Results (globals): QWORK (work dir), QLOGS (console logs), KVER_612/VMLINUZ_612/INITRD_612,
# KVER_61/VMLINUZ_61/INITRD_61, DIGEST (hex), DISK_PLAIN (disk before the install boot),
# DISK_BASE (verified disk), BIG_OBJ / OSREL_OBJ (store paths of two objects), BIG_SHA256,
# QEMU_REASON (why the suite cannot run, when qemu_prepare returns 2).

QWORK=${QWORK:-$B/qemu}
QLOGS=${QLOGS:-$B/test-logs/qemu}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
LABEL=cfsroot-test
IMAGE_PATH=/cfs/images/os.cfs
BIG_FILE=/usr/share/cfstest/big.bin
OSREL_FILE=/etc/os-release

# qemu_boot LOG KERNEL INITRD APPEND [QEMU ARGS...]: one boot, console to LOG, under timeout.
# Returns QEMU's exit status (124 on timeout).
# no_timer_check: under TCG on a loaded host, the kernel's early IO-APIC timer check can
# fail and panic before /init runs ("IO-APIC + timer doesn't work", seen once with 6.1);
# the check exists for broken hardware, not for anything the tests look at.
qemu_boot() {
	local log=$1 kernel=$2 initrd=$3 append=$4
	shift 4
	timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 \
		-no-reboot -nodefaults -display none -serial stdio \
		-kernel "$kernel" -initrd "$initrd" -append "$append no_timer_check" "$@" > "$log" 2>&1 < /dev/null
}

# The kernel command line every boot of the test disk starts from.
base_append() {
	echo "console=ttyS0 panic=-1 root=LABEL=$LABEL cfsroot=$IMAGE_PATH"
}

# A qcow2 overlay over a raw disk, so parallel boots never share a writable image.
overlay_of() { # base, overlay
	qemu-img create -q -f qcow2 -b "$(realpath "$1")" -F raw "$2"
}

# The path (relative to PREFIX) of the store object whose content equals FILE (found by
# content, so the suite does not depend on the store's naming scheme).
find_object() { # store dir, file, prefix
	local o
	while IFS= read -r o; do
		if cmp -s "$o" "$2"; then echo "${o#"$3"}"; return 0; fi
	done < <(find "$1" -type f | LC_ALL=C sort)
	return 1
}

build_os_tree() { # dir
	local t=$1
	rm -rf "$t"
	mkdir -p "$t"/{sbin,etc,usr/bin,usr/share/cfstest,sysroot,dev,proc,sys,run,tmp}
	cp "$QWORK/guest-init" "$t/sbin/init"
	# The product itself, run by guest-init: the install boot enables fs-verity with
	# `cfsroot verity enable`, and a scenario builds an image with `mkcfs --enable-verity`.
	cp "$B/cfsroot" "$t/usr/bin/cfsroot"
	cp "$QWORK/mkcfs-static" "$t/usr/bin/mkcfs"
	# Longer than the image's inline limit, so it lives in the object store like big.bin.
	printf 'NAME="cfsroot test OS"\nPRETTY_NAME="cfsroot test OS (composefs root, fs-verity)"\nID=cfstest\nVERSION_ID=1\nHOME_URL="file:///usr/share/cfstest"\n' > "$t/etc/os-release"
	echo "small file" > "$t/usr/share/cfstest/small.txt"
	: > "$t/usr/share/cfstest/empty"
	ln -s small.txt "$t/usr/share/cfstest/link"
	# A few hundred KB of random bytes; the suite compares against their SHA-256 each run.
	head -c 307200 /dev/urandom > "$t/usr/share/cfstest/big.bin"
	chmod 0755 "$t/sbin/init"
}

# A static mkcfs for the guest (the Makefile builds mkcfs dynamically; the test OS has no libc),
# from the same sources as $B/mkcfs; rebuilt when a source is newer.
build_static_mkcfs() {
	local out=$QWORK/mkcfs-static version
	if [ -x "$out" ] && [ -z "$(find "$TOP/src/mkcfs.c" "$TOP/src/lib" -newer "$out" -print -quit)" ]; then
		return 0
	fi
	version=$(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")
	# Without the libostree-dependent sources (no static glib/libostree here): this mkcfs
	# says "built without ostree support" to --ostree.
	local srcs=() f
	for f in "$TOP"/src/lib/*.c; do case ${f##*/} in ostree-*) ;; *) srcs+=("$f") ;; esac; done
	gcc -static -Os -s -std=gnu11 -D_GNU_SOURCE -DCFS_VERSION="\"${version:-test}\"" \
		-I"$TOP/src/lib" -I"$CACHE/kmod-v2/include" -ffunction-sections -fdata-sections -Wl,--gc-sections \
		"$TOP/src/mkcfs.c" "${srcs[@]}" -o "$out.tmp" \
		-lcrypto -lblkid "$CACHE/kmod-v2/lib/libkmod.a" -llzma -lz -pthread -ldl > "$QLOGS/mkcfs-static.log" 2>&1 ||
		{ echo "qemu: building a static mkcfs failed (see $QLOGS/mkcfs-static.log)" >&2; return 1; }
	mv "$out.tmp" "$out"
}

# qemu_prepare: everything the boots need. Returns 0, 1 (a build step failed: the caller
# FAILs) or 2 (QEMU or kernels not available: the caller SKIPs with $QEMU_REASON).
qemu_prepare() {
	QEMU_REASON=''
	mkdir -p "$QWORK" "$QLOGS"
	if ! command -v qemu-system-x86_64 >/dev/null; then
		QEMU_REASON="qemu-system-x86_64 not installed (package qemu-system-x86; run make setup)"
		return 2
	fi
	local t
	for t in qemu-img mkfs.ext4 debugfs depmod modprobe xz gcc; do
		command -v "$t" >/dev/null || { QEMU_REASON="$t not installed (run make setup)"; return 2; }
	done
	if [ ! -f "$TOP/src/cfsroot.c" ] || [ ! -f "$TOP/src/mkcfs.c" ]; then
		QEMU_REASON="src/cfsroot.c or src/mkcfs.c not in the tree yet"
		return 2
	fi
	if [ ! -x "$B/cfsroot" ] || [ ! -x "$B/mkcfs" ]; then
		echo "qemu: $B/cfsroot or $B/mkcfs not built (run make B=$B first)" >&2
		return 1
	fi
	if ! "$TOP/tests/qemu/fetch-kernels.sh" "$CACHE" 6.12 6.1 > "$QLOGS/fetch-kernels.log" 2>&1; then
		QEMU_REASON="cannot fetch the test kernels (see $QLOGS/fetch-kernels.log)"
		return 2
	fi
	KVER_612=$(cat "$CACHE/kernels/6.12/kver"); VMLINUZ_612=$CACHE/kernels/6.12/vmlinuz
	KVER_61=$(cat "$CACHE/kernels/6.1/kver"); VMLINUZ_61=$CACHE/kernels/6.1/vmlinuz

	gcc -static -Os -s -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
		"$TOP/tests/qemu/guest-init.c" -o "$QWORK/guest-init" || return 1
	build_static_mkcfs || return 1

	# Initramfs for each kernel, rebuilt when cfsroot or the builder changed.
	INITRD_612=$QWORK/initramfs-6.12.img
	INITRD_61=$QWORK/initramfs-6.1.img
	local s k v
	for s in 6.12 6.1; do
		k=$QWORK/initramfs-$s.img
		v=$(cat "$CACHE/kernels/$s/kver")
		if [ ! -f "$k" ] || [ "$k" -ot "$B/cfsroot" ] || [ "$k" -ot "$TOP/initramfs/mkinitramfs.sh" ]; then
			"$TOP/initramfs/mkinitramfs.sh" -q -k "$v" -r "$CACHE/kernels/$s/root" -i "$B/cfsroot" -o "$k" || return 1
		fi
	done

	# The OS tree, its image and store, and the disk tree around them.
	local os=$QWORK/os disktree=$QWORK/disktree out
	build_os_tree "$os" || return 1
	rm -rf "$disktree"
	mkdir -p "$disktree/cfs/images"
	out=$("$B/mkcfs" --store "$disktree/cfs/objects" --print-digest "$os" "$disktree$IMAGE_PATH") || {
		echo "qemu: mkcfs failed: $out" >&2; return 1; }
	DIGEST=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1)
	[ -n "$DIGEST" ] || { echo "qemu: no digest in mkcfs output: $out" >&2; return 1; }
	if command -v fsverity >/dev/null; then
		local fd
		fd=$(fsverity digest --block-size=4096 "$disktree$IMAGE_PATH" | grep -oE '[0-9a-f]{64}')
		[ "$fd" = "$DIGEST" ] || { echo "qemu: mkcfs digest $DIGEST != fsverity digest $fd" >&2; return 1; }
	fi
	BIG_OBJ=$(find_object "$disktree/cfs/objects" "$os$BIG_FILE" "$disktree") ||
		{ echo "qemu: no store object holds $BIG_FILE" >&2; return 1; }
	OSREL_OBJ=$(find_object "$disktree/cfs/objects" "$os$OSREL_FILE" "$disktree") ||
		{ echo "qemu: no store object holds $OSREL_FILE" >&2; return 1; }
	BIG_SHA256=$(sha256sum < "$os$BIG_FILE" | cut -d' ' -f1)
	# Extra object dirs for the suite: hard links into the store (same inodes, so the install
	# boot's fs-verity covers them), except big.bin's object, a plain copy that stays without
	# fs-verity (the install boot skips /cfs/plain*). Reading big.bin through them must fail
	# under verity=require, and succeeds only if verification was weakened.
	#  plain/               for the "object without fs-verity" scenario;
	#  "plain,verity=off"/  a name that looks like mount options, for the smuggling scenarios.
	local d
	for d in plain 'plain,verity=off'; do
		cp -al "$disktree/cfs/objects" "$disktree/cfs/$d"
		rm -f "$disktree/cfs/$d${BIG_OBJ#/cfs/objects}"
		cp "$disktree$BIG_OBJ" "$disktree/cfs/$d${BIG_OBJ#/cfs/objects}"
	done

	DISK_PLAIN=$QWORK/disk-noverity.img
	DISK_BASE=$QWORK/disk-base.img
	rm -f "$DISK_PLAIN" "$DISK_BASE"
	mkfs.ext4 -q -F -b 4096 -O verity -L "$LABEL" -d "$disktree" "$DISK_PLAIN" 64M > /dev/null || return 1
	cp --sparse=always "$DISK_PLAIN" "$DISK_BASE"

	# The install boot: the documented unverified mode (no digest, verity_check=0), the
	# physical root rw, and guest-init enabling fs-verity on the store and the image.
	INSTALL_LOG=$QLOGS/install.log
	qemu_boot "$INSTALL_LOG" "$VMLINUZ_612" "$INITRD_612" \
		"$(base_append) cfsroot.verity_check=0 cfsroot.on_failure=poweroff rw cfstest.install cfstest.measure=/sysroot$IMAGE_PATH" \
		-drive "file=$DISK_BASE,if=virtio,format=raw"
	return 0
}

# log_has LOG TEXT: fixed-string match of a console line (CR from the serial port stripped).
log_has() { [ -f "$1" ] && tr -d '\r' < "$1" | grep -qF -- "$2"; }
log_line() { [ -f "$1" ] && tr -d '\r' < "$1" | grep -F -m1 -- "$2"; }
