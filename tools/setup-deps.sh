#!/bin/bash
# One idempotent setup step for a fresh Debian 12 machine: the Debian packages the
# build and the tests need, the bookworm-backports and deb-src apt entries (derived
# from the apt sources already configured, never a host name written here), and a
# static libkmod and a decoder-only static liblzma (for the static cfsroot), built from
# Debian's own kmod and xz-utils source packages into the cache.
#
# Usage: tools/setup-deps.sh CACHE_DIR
# Writes CACHE_DIR/kmod-v2/{include,lib}, CACHE_DIR/xz-dec/lib and CACHE_DIR/setup.stamp.
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
	# signed UKI, Secure Boot and measured boot (kernel-cmdline/, suite-secureboot, suite-tpm);
	# ukify, systemd-measure and virt-fw-vars come from backports via tools/fetch-uki-tools.sh
	systemd-boot-efi sbsigntool binutils openssl ovmf dosfstools mtools swtpm swtpm-tools tpm2-tools
	# dracut module (issue 7): manual pages, dracut 059 with systemd/udev for the systemd
	# flavour, Debian's ostree dracut module to coexist with, debugfs for planted files
	scdoc man-db groff-base dracut-core cpio udev systemd ostree-boot zstd
	# ostree (issue 6): mkcfs --ostree reads commits with libostree; the tests use the CLI
	libostree-dev ostree
	# hardening depth (issue 9): gcc -fanalyzer and clang --analyze (make analyze) need only
	# gcc and clang above; the PID-1 fault-injection guest runs a static busybox
	busybox-static
	# ostree boot (issue 6): the trixie OS of tests/qemu/suite-ostree.sh; GLib (from
	# libostree-dev) for the /run/ostree-booted unit test; chattr (e2fsprogs) lifts ostree's seal
	debootstrap
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

. "$(dirname "${BASH_SOURCE[0]}")/apt-uri.sh"

extra=/etc/apt/sources.list.d/cfsroot-extra.sources
need_update=0
if [ ! -f "$extra" ]; then
	uri=$(apt_archive_uri | head -n1)
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

# Static libraries for the static cfsroot, each built from Debian's own source package into
# a cache directory of its own. A directory appears complete or not at all: built in a
# temporary directory, then renamed into place (other checkouts may share the cache, so an
# existing directory is never modified; a changed recipe gets a new directory name).
# build_into NAME FUNCTION: runs FUNCTION in a fresh source directory with $out to fill.
build_tmp=
trap '[ -z "$build_tmp" ] || rm -rf "$build_tmp"' EXIT
build_into() {
	local name=$1 fn=$2
	[ -d "$cache/$name" ] && return 0
	echo "setup-deps: building $cache/$name"
	build_tmp=$(mktemp -d "$cache/.$name.XXXXXX")
	mkdir -p "$build_tmp/src" "$build_tmp/out"
	# A plain command, so that set -e stops the build at its first failure.
	(cd "$build_tmp/src"; out="$build_tmp/out"; "$fn")
	# rename(2) refuses a non-empty target: a concurrent setup that finished first wins.
	mv -T "$build_tmp/out" "$cache/$name" 2>/dev/null || [ -d "$cache/$name" ]
	rm -rf "$build_tmp"; build_tmp=
}

# Static libkmod: bookworm's libkmod-dev ships only a shared library. kmod itself refuses
# --enable-static, but its normal build leaves static convenience archives that link.
# No unwind tables (C, nothing unwinds): 8 KB less in cfsroot.
build_kmod() {
	apt-get source --download-only -qq kmod >/dev/null 2>&1
	dpkg-source -x kmod_*.dsc kmod >/dev/null 2>&1
	cd kmod
	mkdir -p libkmod/docs
	[ -f libkmod/docs/gtk-doc.make ] || echo 'EXTRA_DIST =' > libkmod/docs/gtk-doc.make
	autoreconf -fi >/dev/null 2>&1
	./configure -q --disable-manpages --with-xz --without-zstd --without-openssl \
		CFLAGS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables" >/dev/null
	make -s -j"$(nproc)" >/dev/null
	mkdir -p "$out/lib" "$out/include"
	# One archive holding libkmod and the helpers it uses.
	ar -M <<EOA
create $out/lib/libkmod.a
addlib libkmod/.libs/libkmod-internal.a
addlib shared/.libs/libshared.a
save
end
EOA
	cp libkmod/libkmod.h "$out/include/"
}
build_into kmod-v2 build_kmod

# A decoder-only static liblzma for cfsroot alone (mkcfs and cfs-info use the system's):
# libkmod needs it only to decompress .ko.xz modules, which kbuild writes as one LZMA2
# filter with a CRC32 check (CRC64 is xz's default). No encoders, no threads, the small
# variant (CRC tables computed at run time, not stored): about 50 KB less than
# bookworm's liblzma.a. Single-threaded use only, which cfsroot is.
build_xz_dec() {
	apt-get source --download-only -qq xz-utils >/dev/null 2>&1
	dpkg-source -x xz-utils_*.dsc xz >/dev/null 2>&1
	cd xz
	./configure -q --disable-shared --enable-static --disable-encoders \
		--enable-decoders=lzma1,lzma2 --enable-checks=crc32,crc64 --disable-microlzma \
		--disable-lzip-decoder --disable-threads --enable-small --disable-nls --disable-sandbox \
		--disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo --disable-lzma-links \
		--disable-scripts --disable-doc \
		CFLAGS="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables" >/dev/null 2>&1
	make -s -j"$(nproc)" -C src/liblzma >/dev/null
	mkdir -p "$out/lib"
	cp src/liblzma/.libs/liblzma.a "$out/lib/"
}
build_into xz-dec build_xz_dec
touch "$cache/setup.stamp"
echo "setup-deps: ready"
