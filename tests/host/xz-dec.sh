#!/bin/bash
# The static cfsroot's decoder-only liblzma ($CACHE/xz-dec, built by tools/setup-deps.sh):
# it holds no encoder, decodes what kbuild writes for .ko.xz modules (LZMA2, CRC32 check)
# and xz's default (CRC64) byte for byte, verifies the check (a flipped check byte fails),
# reports a check it cannot verify (SHA-256 is not built in), and decodes the test kernel's
# own .ko.xz modules exactly as xz does.
set -u
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1

lib=$CACHE/xz-dec/lib/liblzma.a
if [ ! -f "$lib" ]; then
	skip "xz-dec: $lib not built (run make setup)"
	finish
fi
work=$(mktemp -d /tmp/cfsroot-xz-dec.XXXXXX)
trap 'rm -rf "$work"' EXIT
dec=$work/xz-dec
if ! gcc -static -O2 -std=gnu11 -Wall -Wextra -Werror tests/host/xz-dec.c -o "$dec" "$lib" 2> "$work/cc.log"; then
	fail "xz-dec: building tests/host/xz-dec.c against $lib: $(head -c 300 "$work/cc.log")"
	finish
fi

# No encoder in the archive: the decoder-only build, not a copy of the system's library.
defined() { nm -g --defined-only "$lib" 2>/dev/null | grep -qw "$1"; }
if defined lzma_stream_decoder && ! defined lzma_stream_encoder && ! defined lzma_raw_encoder &&
	! defined lzma_easy_encoder; then
	pass "xz-dec: $lib defines lzma_stream_decoder and no encoder ($(stat -c %s "$lib") bytes)"
else
	fail "xz-dec: $lib is not a decoder-only liblzma"
fi

# Input that compresses, but not to nothing.
head -c 3000000 /dev/urandom | od -An -tx1 > "$work/data"
decodes() { # name, xz file: decoded output equals $work/data
	if "$dec" "$2" > "$work/out" 2> "$work/err" && cmp -s "$work/out" "$work/data"; then
		pass "xz-dec: $1 decoded byte for byte"
	else
		fail "xz-dec: $1: $(cat "$work/err")"
	fi
}
xz -c --check=crc32 --lzma2=dict=1MiB < "$work/data" > "$work/crc32.xz"
decodes "LZMA2 with a CRC32 check (as kbuild writes .ko.xz)" "$work/crc32.xz"
xz -c < "$work/data" > "$work/crc64.xz"
decodes "xz's default (LZMA2, CRC64)" "$work/crc64.xz"

# Flip a byte of the block's check field (the last 4 bytes of the block, by xz --robot -lvv):
# only the check can notice.
# Robot block line: $5 compressed offset, $7 total size (header, data, padding, check),
# $11 the check value, whose little-endian bytes must sit there.
read -r off want < <(xz --robot -lvv "$work/crc32.xz" | awk -F'\t' '$1 == "block" { print $5 + $7 - 4, $11; exit }')
got=$(od -An -tx1 -j "${off:-0}" -N4 "$work/crc32.xz" | awk '{ print $4 $3 $2 $1 }')
if [ -z "$off" ] || [ "$got" != "$want" ]; then
	fail "xz-dec: cannot locate the CRC32 field (offset '$off': '$got', xz -lvv says '$want')"
	finish
fi
cp "$work/crc32.xz" "$work/badcheck.xz"
b=$(od -An -tu1 -j "$off" -N1 "$work/badcheck.xz" | tr -d ' ')
printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$work/badcheck.xz" bs=1 seek="$off" conv=notrunc status=none
if "$dec" "$work/badcheck.xz" > /dev/null 2> "$work/err"; then
	fail "xz-dec: a stream with a flipped CRC32 byte (offset $off) decoded without error"
elif grep -q "check mismatch" "$work/err"; then
	pass "xz-dec: a flipped CRC32 byte (offset $off) is refused: $(cat "$work/err")"
else
	fail "xz-dec: a flipped CRC32 byte gave an unexpected error: $(cat "$work/err")"
fi

xz -c --check=sha256 < "$work/data" > "$work/sha256.xz"
if "$dec" "$work/sha256.xz" > /dev/null 2> "$work/err"; then
	fail "xz-dec: a SHA-256-checked stream decoded as if the check were built in"
elif grep -q "unsupported check" "$work/err"; then
	pass "xz-dec: SHA-256 check not built in, reported as such (libkmod would decode unchecked)"
else
	fail "xz-dec: SHA-256 stream: unexpected error: $(cat "$work/err")"
fi

# The test kernel's modules: every .ko.xz the standalone initramfs would ship, and more
# (kernel/fs and kernel/drivers/block), decoded as `xz -d` decodes them.
mods=$CACHE/kernels/6.12/root/lib/modules
if [ ! -d "$mods" ]; then
	skip "xz-dec: Debian 6.12 modules: $mods not fetched yet (tests/qemu/fetch-kernels.sh)"
	finish
fi
n=0 bad=0 t0=$SECONDS
while IFS= read -r -d '' m; do
	n=$((n + 1))
	if ! "$dec" "$m" > "$work/out" 2> "$work/err" || ! xz -dc "$m" | cmp -s - "$work/out"; then
		bad=$((bad + 1))
		[ $bad -le 3 ] && echo "xz-dec: ${m#"$mods"/}: $(cat "$work/err")"
	fi
done < <(find "$mods"/*/kernel/fs "$mods"/*/kernel/drivers/block -name '*.ko.xz' -print0)
if [ $n -gt 0 ] && [ $bad = 0 ]; then
	pass "xz-dec: all $n .ko.xz modules of Debian's 6.12 under kernel/fs and drivers/block decoded as xz -d does ($((SECONDS - t0))s)"
else
	fail "xz-dec: $bad of $n .ko.xz modules of Debian's 6.12 not decoded as xz -d does"
fi
finish
