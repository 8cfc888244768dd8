# dracut for the QEMU suites and the boot benchmark: private copies of dracut 059 (bookworm,
# the host's /usr/lib/dracut) and dracut-ng 106 (bookworm-backports, extracted into the
# cache, never installed), each carrying modules.d/90cfsroot from this tree, and initramfs
# builds of the test kernel with them. Source after tests/lib.sh and tests/qemu/qemu-lib.sh.
#
# dracut_setup: returns 0, or 2 with DRACUT_REASON when no dracut at all can run here.
# DRACUT_VERSIONS then lists the versions that can run (059 and/or 106), DRACUT_SKIPPED says
# why one cannot.

DWORK=${DWORK:-$QWORK/dracut}
# The trixie ostree deployment made here is sealed immutable by ostree: lift the seal when
# the suite ends, so that the build directory (and the clone) can always be removed.
trap '[ -d "$DWORK" ] && find "$DWORK" -type d -exec chattr -i {} + 2>/dev/null' EXIT
DRACUT_VERSIONS=''
DRACUT_SKIPPED=''

# dracut-ng 106 from bookworm-backports into $CACHE/dracut-106 (built in a temporary dir and
# renamed, since the cache is shared).
dracut_fetch_106() {
	local dst=$CACHE/dracut-106 tmp
	[ -x "$dst/usr/bin/dracut" ] && [ -x "$dst/usr/lib/dracut/dracut-install" ] && return 0
	tmp=$(mktemp -d "$CACHE/.dracut-106.XXXXXX") || return 1
	if ! (cd "$tmp" && apt-get download -q dracut-core/bookworm-backports dracut-install/bookworm-backports) \
		> "$QLOGS/dracut-106-download.log" 2>&1; then
		rm -rf "$tmp"
		return 1
	fi
	local deb
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; return 1; }
	done
	rm -f "$tmp"/*.deb
	mv "$tmp/root" "$tmp/dracut-106" && mv -T "$tmp/dracut-106" "$dst" 2>/dev/null
	rm -rf "$tmp"
	[ -x "$dst/usr/bin/dracut" ]
}

# dracut_tree VERSION DIR [MOUNT-HOOK PRE-PIVOT-HOOK]: DIR/lib is a copy of that dracut's
# module tree with our module, and with Debian's 98ostree module when ostree-boot is
# installed on the host. The hooks, when given, replace the module's own (a test of a
# careless caller).
dracut_tree() {
	local v=$1 dir=$2 hook=${3:-} hook2=${4:-} src
	case $v in
	059) src=/usr/lib/dracut ;;
	106) src=$CACHE/dracut-106/usr/lib/dracut ;;
	esac
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a "$src" "$dir/lib" || return 1
	rm -rf "$dir/lib/modules.d/90cfsroot"
	cp -a "$TOP/modules.d/90cfsroot" "$dir/lib/modules.d/90cfsroot" || return 1
	if [ -d /usr/lib/dracut/modules.d/98ostree ] && [ ! -d "$dir/lib/modules.d/98ostree" ]; then
		cp -a /usr/lib/dracut/modules.d/98ostree "$dir/lib/modules.d/" || return 1
	fi
	if [ -n "$hook" ]; then
		printf '%s\n' '#!/bin/sh' "$hook" > "$dir/lib/modules.d/90cfsroot/cfsroot-mount.sh"
		printf '%s\n' '#!/bin/sh' "$hook2" > "$dir/lib/modules.d/90cfsroot/cfsroot-prepare.sh"
	fi
	mkdir -p "$dir/confdir"
}

dracut_setup() {
	DRACUT_REASON=''
	mkdir -p "$DWORK"
	if [ -x /usr/bin/dracut ] && [ -d /usr/lib/dracut/modules.d ]; then
		DRACUT_VERSIONS+=' 059'
	else
		DRACUT_SKIPPED+="dracut 059: not installed (package dracut-core); "
	fi
	if dracut_fetch_106; then
		DRACUT_VERSIONS+=' 106'
	else
		DRACUT_SKIPPED+="dracut 106: cannot download it from bookworm-backports (see $QLOGS/dracut-106-download.log); "
	fi
	if [ -z "$DRACUT_VERSIONS" ]; then
		DRACUT_REASON=$DRACUT_SKIPPED
		return 2
	fi
	local v
	for v in $DRACUT_VERSIONS; do
		dracut_tree "$v" "$DWORK/dracut-$v" || return 1
	done
	return 0
}

# The dracut modules of each flavour: the least that boots the test disk, plus ours (and
# Debian's ostree module next to it in the systemd flavour, to prove they coexist).
DRACUT_MODS_SHELL="bash udev-rules rootfs-block base fs-lib cfsroot"
DRACUT_MODS_SYSTEMD="bash udev-rules rootfs-block base fs-lib systemd systemd-initrd systemd-udevd systemd-journald systemd-tmpfiles systemd-modules-load dracut-systemd cfsroot"

# dracut_build VERSION FLAVOUR OUT [TREE]: an initramfs of the 6.12 test kernel (log next to OUT).
dracut_build() {
	local v=$1 flavour=$2 out=$3 tree=${4:-$DWORK/dracut-$1} mods bin
	mods=$DRACUT_MODS_SHELL
	if [ "$flavour" = systemd ]; then
		mods=$DRACUT_MODS_SYSTEMD
		[ -d "$tree/lib/modules.d/98ostree" ] && [ -x /usr/lib/ostree/ostree-prepare-root ] && mods+=" ostree"
	fi
	case $v in
	059) bin=/usr/bin/dracut ;;
	106) bin=$CACHE/dracut-106/usr/bin/dracut ;;
	esac
	# --conf/--confdir: nothing from the host's dracut configuration (ostree-boot's
	# ostree.conf, for one). No kernel-modules module: the two drivers the disk needs.
	cfsroot_binary=$B/cfsroot dracutbasedir=$tree/lib DRACUT_INSTALL=$tree/lib/dracut-install \
		bash "$bin" --force --no-hostonly --no-hostonly-cmdline --conf /dev/null --confdir "$tree/confdir" \
		--kver "$KVER_612" --kmoddir "$CACHE/kernels/6.12/root/lib/modules/$KVER_612" \
		--nostrip --no-early-microcode --compress "zstd -1 -q -T0" --add-drivers "virtio_blk ext4" \
		-m "$mods" "$out" > "$out.log" 2>&1
}
