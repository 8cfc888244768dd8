#!/bin/bash
# One idempotent setup step for a fresh Debian 12 machine: the Debian packages the
# build and the tests need, the bookworm-backports and deb-src apt entries (derived
# from the apt sources already configured, never a host name written here), and a
# static libkmod built from Debian's own kmod source package into the cache.
#
# Usage: tools/setup-deps.sh CACHE_DIR
# Writes CACHE_DIR/kmod/{include,lib} and CACHE_DIR/setup.stamp.
set -euo pipefail

cache=${1:?usage: setup-deps.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

PKGS=(
	# build
	gcc make pkg-config clang libclang-rt-14-dev
	libblkid-dev libssl-dev liblzma-dev zlib1g-dev
	autoconf automake libtool dpkg-dev
	# tests
	fsverity e2fsprogs attr acl diffutils cpio xz-utils zstd gzip python3
	qemu-system-x86 qemu-utils util-linux kmod file fdisk
	# dracut module (issue 7): manual pages, dracut 059 with systemd/udev for the systemd
	# flavour, Debian's ostree dracut module to coexist with, debugfs for planted files
	scdoc man-db groff-base dracut-core cpio udev systemd ostree-boot zstd
	# ostree (issue 6): mkcfs --ostree reads commits with libostree; the tests use the CLI
	libostree-dev ostree
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

# The URI of the configured entry whose suites include plain "bookworm".
derive_uri() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN{RS=""; FS="\n"}
		     { uri=""; ok=0
		       for (i=1;i<=NF;i++) {
		         if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/,"",$i); split($i,u,/[ \t]+/); uri=u[1] }
		         if ($i ~ /^Suites:/) { n=split($i,s,/[ \t]+/); for (j=2;j<=n;j++) if (s[j]=="bookworm") ok=1 }
		         if ($i ~ /^Enabled:[ \t]*no/) ok=0
		       }
		       if (ok && uri!="") { print uri; exit } }' "$f"
	done
	if [ -f /etc/apt/sources.list ]; then
		awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list
	fi
}

extra=/etc/apt/sources.list.d/cfsroot-extra.sources
need_update=0
if [ ! -f "$extra" ]; then
	uri=$(derive_uri | head -n1)
	if [ -z "$uri" ]; then
		echo "setup-deps: no apt source for bookworm found; cannot add backports/deb-src" >&2
		exit 1
	fi
	tmp=$(mktemp)
	cat > "$tmp" <<EOT
# Added by cfsroot's tools/setup-deps.sh (derived from the existing bookworm entry).
Types: deb deb-src
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: $uri
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	as_root install -m 0644 "$tmp" "$extra"
	rm -f "$tmp"
	need_update=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $need_update = 1 ] || ! ls /var/lib/apt/lists/*bookworm-backports*Packages* >/dev/null 2>&1; then
	as_root apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup-deps: installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Static libkmod: bookworm's libkmod-dev ships only a shared library. kmod itself refuses
# --enable-static, but its normal build leaves static convenience archives that link.
if [ ! -f "$cache/kmod/lib/libkmod.a" ]; then
	src="$cache/kmod-build"
	rm -rf "$src"; mkdir -p "$src"
	(cd "$src" && apt-get source --download-only -qq kmod >/dev/null 2>&1 && dpkg-source -x kmod_*.dsc kmod >/dev/null 2>&1)
	cd "$src/kmod"
	mkdir -p libkmod/docs
	[ -f libkmod/docs/gtk-doc.make ] || echo 'EXTRA_DIST =' > libkmod/docs/gtk-doc.make
	autoreconf -fi >/dev/null 2>&1
	./configure -q --disable-manpages --with-xz --without-zstd --without-openssl \
		CFLAGS="-Os -ffunction-sections -fdata-sections" >/dev/null
	make -s -j"$(nproc)" >/dev/null
	mkdir -p "$cache/kmod/lib" "$cache/kmod/include"
	# One archive holding libkmod and the helpers it uses.
	rm -f "$cache/kmod/lib/"*
	ar -M <<EOA
create $cache/kmod/lib/libkmod.a.tmp
addlib libkmod/.libs/libkmod-internal.a
addlib shared/.libs/libshared.a
save
end
EOA
	cp libkmod/libkmod.h "$cache/kmod/include/"
	mv "$cache/kmod/lib/libkmod.a.tmp" "$cache/kmod/lib/libkmod.a"
	cd "$cache"; rm -rf "$src"
fi
touch "$cache/setup.stamp"
echo "setup-deps: ready"
