#!/bin/bash
# Builds the minimal cfsroot initramfs: /init (the static cfsroot binary), /dev/console, the
# mount points cfsroot uses, exactly the kernel modules it needs (with their dependencies) and
# the libkmod index files regenerated for that subset. Nothing else: no shell, no busybox.
#
# The newc archive is written by this script itself, so /dev/console (a device node) needs no
# root and no staging mknod, and the output is deterministic: sorted names, inode numbers
# counted from 1, owner 0:0, mtime 0.
set -euo pipefail

VERSION=0.1
prog=mkinitramfs
# What cfsroot may need: the root disk's driver (virtio_pci is built in on 6.12, a module on
# 6.1), the root filesystem (ext4 asks for the crc32c crypto alias at mount time, which either
# implementation satisfies), erofs and overlayfs for the image, loop for a loop-backed erofs.
DEFAULT_MODULES="virtio_pci virtio_blk ext4 crc32c_generic crc32c_intel erofs overlay loop"

usage() {
	cat <<EOT
Usage: $prog [OPTIONS] --kver KVER --root ROOT --init BINARY -o OUTPUT

Builds a compressed newc initramfs holding BINARY as /init and the modules it needs.

  -k, --kver KVER          kernel release (modules under ROOT/lib/modules/KVER)
  -r, --root ROOT          tree holding lib/modules/KVER (default /)
  -i, --init BINARY        static binary to install as /init
  -o, --output FILE        archive to write
  -m, --modules "M1 M2"    modules to ship with their dependencies
                           (default: $DEFAULT_MODULES)
  -c, --compress ALGO      xz, zstd, gzip or auto (default auto: the smallest the kernel's
                           config, if found in ROOT/boot, supports)
      --keep-compressed    ship the .ko.xz files as they are instead of decompressing them
                           (default: decompress, the archive compression covers them)
  -q, --quiet              print nothing but errors
  -h, --help               this help
  -V, --version            version
EOT
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "Try '$prog --help'." >&2; exit 2; }

kver='' root=/ init='' output='' modules=$DEFAULT_MODULES compress=auto keep_xz=0 quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	-k|--kver) [ $# -ge 2 ] || usage_error "$1 needs an argument"; kver=$2; shift 2 ;;
	-r|--root) [ $# -ge 2 ] || usage_error "$1 needs an argument"; root=$2; shift 2 ;;
	-i|--init) [ $# -ge 2 ] || usage_error "$1 needs an argument"; init=$2; shift 2 ;;
	-o|--output) [ $# -ge 2 ] || usage_error "$1 needs an argument"; output=$2; shift 2 ;;
	-m|--modules) [ $# -ge 2 ] || usage_error "$1 needs an argument"; modules=$2; shift 2 ;;
	-c|--compress) [ $# -ge 2 ] || usage_error "$1 needs an argument"; compress=$2; shift 2 ;;
	--kver=*) kver=${1#*=}; shift ;;
	--root=*) root=${1#*=}; shift ;;
	--init=*) init=${1#*=}; shift ;;
	--output=*) output=${1#*=}; shift ;;
	--modules=*) modules=${1#*=}; shift ;;
	--compress=*) compress=${1#*=}; shift ;;
	--keep-compressed) keep_xz=1; shift ;;
	-q|--quiet) quiet=1; shift ;;
	-h|--help) usage; exit 0 ;;
	-V|--version) echo "$prog $VERSION"; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
[ -n "$kver" ] || usage_error "--kver is required"
[ -n "$init" ] || usage_error "--init is required"
[ -n "$output" ] || usage_error "--output is required"
case $compress in xz|zstd|gzip|auto) ;; *) usage_error "unknown compression '$compress'" ;; esac

root=$(cd "$root" && pwd) || die "cannot access $root"
moddir=$root/lib/modules/$kver
[ -d "$moddir" ] || die "no module tree at $moddir"
[ -f "$init" ] || die "no such file: $init"
if command -v readelf >/dev/null && readelf -d "$init" 2>/dev/null | grep -q NEEDED; then
	die "$init is not a static binary: there is no libc in this initramfs"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage/lib/modules/$kver"

# Resolve every module to the files modprobe would insert (dependencies first); built-ins need
# nothing. modprobe needs the tree's modules.dep: index it if the package shipped none.
[ -f "$moddir/modules.dep" ] || depmod -b "$root" "$kver"
for m in $modules; do
	out=$(modprobe -d "$root" -S "$kver" --show-depends "$m" 2>&1) || die "cannot resolve module $m: $out"
	while read -r kind path _; do
		case $kind in
		insmod)
			rel=${path#"$root"/}
			rel=${rel#./}
			mkdir -p "$stage/$(dirname "$rel")"
			cp "$path" "$stage/$rel" ;;
		builtin) ;;
		*) die "unexpected modprobe output for $m: $kind $path" ;;
		esac
	done <<< "$out"
done
# libkmod's view of built-ins (a built-in module is "loaded" for kmod) and the module order.
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$stage/lib/modules/$kver/"
done
if [ $keep_xz = 0 ]; then
	find "$stage/lib/modules" -name '*.ko.xz' -exec xz -d {} +
	find "$stage/lib/modules" -name '*.ko.zst' -exec zstd -q -d --rm {} +
fi
# Indexes that describe exactly the shipped subset.
depmod -b "$stage" "$kver"
# The text copies duplicate the .bin indexes libkmod reads; modules.order only served depmod.
rm -f "$stage/lib/modules/$kver/"{modules.dep,modules.alias,modules.symbols,modules.order,modules.builtin.modinfo}

cp "$init" "$stage/init"
chmod 0755 "$stage/init"

# newc writer. Entries: "path mode" (dirs/files from the stage) plus the console node.
ino=0
cpio_hdr() { # name mode filesize rdevmajor rdevminor nlink
	local name=$1 mode=$2 size=$3 rmaj=$4 rmin=$5 nlink=$6 namesize pad
	ino=$((ino + 1))
	namesize=$(( ${#name} + 1 ))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" "$mode" 0 0 "$nlink" 0 "$size" 0 0 "$rmaj" "$rmin" "$namesize" 0
	printf '%s\0' "$name"
	pad=$(( (4 - (110 + namesize) % 4) % 4 ))
	head -c "$pad" /dev/zero
}
cpio_data_pad() { # size
	head -c $(( (4 - $1 % 4) % 4 )) /dev/zero
}

# Mount points cfsroot needs; console before anything could write to it.
for d in dev proc sys run sysroot; do mkdir -p "$stage/$d"; done
cpio=$work/initramfs.cpio
{
	(cd "$stage" && find . -mindepth 1 -print | LC_ALL=C sort) | while read -r p; do
		name=${p#./}
		f=$stage/$name
		if [ -d "$f" ]; then
			cpio_hdr "$name" $((0040755)) 0 0 0 2
			if [ "$name" = dev ]; then
				cpio_hdr dev/console $((0020600)) 0 5 1 1
			fi
		elif [ -f "$f" ]; then
			size=$(stat -c %s "$f")
			mode=0100644
			[ -x "$f" ] && mode=0100755
			cpio_hdr "$name" $((mode)) "$size" 0 0 1
			cat "$f"
			cpio_data_pad "$size"
		else
			die "unexpected file type: $f"
		fi
	done
	cpio_hdr TRAILER!!! 0 0 0 0 1
} > "$cpio"

# Compression: what the kernel supports (its config, when present), smallest wins.
supported="xz zstd gzip"
config=$root/boot/config-$kver
if [ -f "$config" ]; then
	supported=''
	grep -q '^CONFIG_RD_XZ=y' "$config" && supported="$supported xz"
	grep -q '^CONFIG_RD_ZSTD=y' "$config" && supported="$supported zstd"
	grep -q '^CONFIG_RD_GZIP=y' "$config" && supported="$supported gzip"
fi
if [ "$compress" = auto ]; then
	candidates=$supported
else
	case " $supported " in *" $compress "*) ;; *) die "the kernel's config does not support $compress initramfs" ;; esac
	candidates=$compress
fi
best='' best_size=0
for c in $candidates; do
	case $c in
	# The kernel's xz decoder needs CRC32 (not the default CRC64) checks.
	xz) xz --check=crc32 -9e -T1 -c < "$cpio" > "$work/out.xz" ;;
	zstd) zstd -q -19 -c < "$cpio" > "$work/out.zstd" ;;
	gzip) gzip -n -9 -c < "$cpio" > "$work/out.gzip" ;;
	esac
	s=$(stat -c %s "$work/out.$c")
	if [ -z "$best" ] || [ "$s" -lt "$best_size" ]; then best=$c best_size=$s; fi
done
[ -n "$best" ] || die "no initramfs compression the kernel supports"
mkdir -p "$(dirname "$output")"
cp "$work/out.$best" "$output.tmp"
mv "$output.tmp" "$output"

if [ $quiet = 0 ]; then
	nmods=$(find "$stage/lib/modules" -name '*.ko*' | wc -l)
	echo "$prog: $output: $best_size bytes ($best), $(stat -c %s "$cpio") bytes uncompressed, $nmods modules for $kver"
fi
