#!/bin/bash
# Builds a realistic Debian trixie OS tree once (debootstrap minbase + systemd, udev and
# trixie's ostree) into CACHE/trixie-os/rootfs, for the QEMU suites that boot a real OS
# (the ostree suite, the dracut suite). The build happens in a temporary directory next
# to it and is renamed into place only when complete, so concurrent or interrupted runs
# never see a half-built tree. The archive URI comes from the apt sources at run time.
#
# Usage: tests/qemu/trixie-os.sh [CACHE_DIR]      (default: .cache)
# Prints the path of the tree (CACHE_DIR/trixie-os/rootfs) on stdout.
# Sourced instead, it defines trixie_os_build CACHE_DIR (prints the path too).
#
# Consumers must not modify the tree: copy it (cp -al then replace, never edit in place,
# is enough for moving directories around) before making it ostree-ready or bootable.
# Sourcing it changes no shell options of the caller (set -e/pipefail only when run).

. "$(dirname "${BASH_SOURCE[0]}")/../../tools/apt-uri.sh"

trixie_os_build() {
	local cache=${1:?usage: trixie_os_build CACHE_DIR}
	local dest="$cache/trixie-os" uri tmp start
	if [ -f "$dest/rootfs/usr/lib/os-release" ] && [ -f "$dest/stamp" ]; then
		echo "$dest/rootfs"
		return 0
	fi
	command -v debootstrap >/dev/null || { echo "trixie-os: debootstrap is not installed" >&2; return 1; }
	[ -f /usr/share/debootstrap/scripts/trixie ] || { echo "trixie-os: this debootstrap has no trixie script" >&2; return 1; }
	[ "$(id -u)" = 0 ] || { echo "trixie-os: debootstrap needs root" >&2; return 1; }
	uri=$(apt_archive_uri | head -n1)
	[ -n "$uri" ] || { echo "trixie-os: no apt source for bookworm found to derive the archive from" >&2; return 1; }
	mkdir -p "$cache" || return 1
	tmp=$(mktemp -d "$cache/.trixie-os.XXXXXX") || return 1
	start=$(date +%s)
	echo "trixie-os: debootstrap trixie (minbase+systemd,udev,ostree) into $tmp (about 4 minutes)" >&2
	if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,ostree,udev \
		trixie "$tmp/rootfs" "$uri" >"$tmp/debootstrap.log" 2>&1; then
		echo "trixie-os: debootstrap failed, last lines of $tmp/debootstrap.log:" >&2
		tail -n 20 "$tmp/debootstrap.log" >&2
		return 1
	fi
	# Nothing of the build host's identity or apt state belongs in a test image.
	rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
	: > "$tmp/rootfs/etc/machine-id"
	echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start ))s from trixie" > "$tmp/stamp"
	# Atomic publish: a concurrent builder that lost the race throws its copy away.
	if ! mv -T "$tmp" "$dest" 2>/dev/null; then
		rm -rf "$tmp"
		[ -f "$dest/stamp" ] || { echo "trixie-os: $dest exists but is incomplete" >&2; return 1; }
	fi
	echo "trixie-os: ready in $(( $(date +%s) - start ))s: $dest/rootfs" >&2
	echo "$dest/rootfs"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	trixie_os_build "${1:-.cache}"
fi
