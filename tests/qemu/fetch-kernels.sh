#!/bin/bash
# Fetches and caches the test kernels (idempotent): Debian's 6.12 from bookworm-security (the
# kernel the product targets) and bookworm's 6.1 (which lacks overlayfs verity; used only to
# prove that cfsroot refuses to boot there). Nothing is installed: each package is downloaded
# with apt-get and unpacked with dpkg-deb, then depmod indexes its module tree.
#
# Usage: fetch-kernels.sh CACHE_DIR [6.12|6.1]...
# Result: CACHE_DIR/kernels/<series>/{root/,vmlinuz,kver}; prints one line per kernel.
set -euo pipefail

cache=${1:?usage: fetch-kernels.sh CACHE_DIR [6.12|6.1]...}
shift
series_list=${*:-6.12 6.1}
kdir=$cache/kernels
mkdir -p "$kdir"

# The concrete image package a meta-package depends on, for the candidate of that series.
# For 6.1 the meta-package linux-image-amd64 may have a backports candidate too: pick the
# version whose dependency is a 6.1 image.
resolve() { # meta-package, wanted prefix of the image package
	apt-cache show "$1" 2>/dev/null | awk -v want="$2" '
		/^Depends:/ { n = split($0, d, /[ ,|]+/)
			for (i = 2; i <= n; i++) if (index(d[i], want) == 1) { print d[i]; exit } }'
}

fetch() { # series
	local series=$1 meta want pkg dir
	case $series in
	6.12) meta=linux-image-6.12-amd64; want=linux-image-6.12. ;;
	6.1) meta=linux-image-amd64; want=linux-image-6.1. ;;
	*) echo "fetch-kernels: unknown series $series" >&2; return 1 ;;
	esac
	dir=$kdir/$series
	if [ -f "$dir/kver" ] && [ -f "$dir/vmlinuz" ] && [ -d "$dir/root/lib/modules/$(cat "$dir/kver")" ]; then
		echo "fetch-kernels: $series: $(cat "$dir/kver") (cached)"
		return 0
	fi
	pkg=$(resolve "$meta" "$want")
	if [ -z "$pkg" ]; then
		echo "fetch-kernels: cannot resolve $meta to a $want* package (apt-get update?)" >&2
		return 1
	fi
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/deb"
	# apt warns that it downloads unsandboxed into a dir _apt cannot access: harmless.
	(cd "$dir.tmp/deb" && apt-get download -qq "$pkg" 2>&1 >/dev/null | grep -v "unsandboxed as root" >&2 || true)
	ls "$dir.tmp"/deb/*.deb >/dev/null
	dpkg-deb -x "$dir.tmp"/deb/*.deb "$dir.tmp/root"
	rm -rf "$dir.tmp/deb"
	local kver
	kver=$(ls "$dir.tmp/root/lib/modules" | head -n1)
	[ -n "$kver" ] || { echo "fetch-kernels: $pkg has no module tree" >&2; return 1; }
	# The package ships no modules.dep: index the tree so modprobe -d/depmod can resolve deps.
	depmod -b "$dir.tmp/root" "$kver"
	cp "$dir.tmp/root/boot/vmlinuz-$kver" "$dir.tmp/vmlinuz"
	echo "$kver" > "$dir.tmp/kver"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	echo "fetch-kernels: $series: $kver (from $pkg)"
}

for s in $series_list; do
	fetch "$s"
done
