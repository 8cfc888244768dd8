# The realistic OS with dracut inside: the cached trixie tree (tests/qemu/trixie-os.sh) plus
# trixie's own dracut, installed with apt inside a chroot of a hard-linked copy, cached once
# in CACHE/trixie-dracut/rootfs (built next to it, renamed into place when complete). dpkg
# replaces files by rename, so the hard links into the trixie-os cache are never written.
# Source it after tests/qemu/trixie-os.sh; trixie_dracut_build CACHE prints the tree's path.

# chroot_run ROOT CMD...: CMD inside ROOT with /proc, /sys and /dev, in a private mount
# namespace so nothing stays mounted on the host.
chroot_run() {
	local root=$1
	shift
	unshare -m --propagation private bash -c '
		root=$1; shift
		mount -t proc proc "$root/proc" && mount -t sysfs sysfs "$root/sys" && mount --rbind /dev "$root/dev" &&
		exec chroot "$root" "$@"' _ "$root" "$@"
}

trixie_dracut_build() {
	local cache=${1:?usage: trixie_dracut_build CACHE} dest rootfs tmp
	dest=$cache/trixie-dracut
	if [ -f "$dest/stamp" ] && [ -x "$dest/rootfs/usr/bin/dracut" ]; then
		echo "$dest/rootfs"
		return 0
	fi
	rootfs=$(trixie_os_build "$cache") || return 1
	tmp=$(mktemp -d "$cache/.trixie-dracut.XXXXXX") || return 1
	cp -al "$rootfs" "$tmp/rootfs" || { rm -rf "$tmp"; return 1; }
	# Name resolution for apt inside, only while installing.
	rm -f "$tmp/rootfs/etc/resolv.conf"
	cp /etc/resolv.conf "$tmp/rootfs/etc/resolv.conf"
	echo "trixie-dracut: apt-get install dracut inside a copy of the trixie OS (about 2 minutes)" >&2
	if ! chroot_run "$tmp/rootfs" env DEBIAN_FRONTEND=noninteractive sh -c \
		'apt-get update -q && apt-get install -y -q --no-install-recommends dracut-core zstd' > "$tmp/apt.log" 2>&1; then
		echo "trixie-dracut: apt-get in the chroot failed, last lines of $tmp/apt.log:" >&2
		tail -n 20 "$tmp/apt.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	rm -f "$tmp/rootfs/etc/resolv.conf"
	rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
	date -u > "$tmp/stamp"
	mkdir -p "$dest.new.$$"
	mv "$tmp/rootfs" "$dest.new.$$/rootfs" && mv "$tmp/stamp" "$dest.new.$$/stamp" && rm -rf "$tmp"
	if ! mv -T "$dest.new.$$" "$dest" 2>/dev/null; then
		rm -rf "$dest.new.$$" # someone else finished first
	fi
	echo "$dest/rootfs"
}
