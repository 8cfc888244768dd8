#!/bin/bash
# Reference vectors: every dump listed in an EXPECTED.tsv goes through `mkcfs --from-dump`
# with the row's options; the image must be byte-identical to the one upstream mkcomposefs
# 1.0.8 wrote (sha256), and must-fail rows must be rejected (exit 1) with a message that
# names the offending line.
# The vectors the project carries (tests/data/vectors/random: random trees dumped and
# imaged by upstream) always run. The shared reference set (../shared/vectors/public, or
# $CFS_VECTORS) is an extra when present: a clone without it skips nothing.
# A few rows may be rejected on purpose because our parser is stricter than upstream's (see
# the header of src/lib/dump.c); they are listed in DELIBERATE below with the message we
# expect, and counted apart from the byte-identical ones.
source "$(dirname "$0")/../lib.sh"

VEC_DIRS=("$TOP/tests/data/vectors/random")
EXTRA=${CFS_VECTORS:-$TOP/../shared/vectors/public}
if [ -f "$EXTRA/EXPECTED.tsv" ]; then
	VEC_DIRS+=("$EXTRA")
else
	echo "note: no extra reference vectors at $EXTRA; the project's own vectors run"
fi
MKCFS=$B/mkcfs

if [ ! -f "${VEC_DIRS[0]}/EXPECTED.tsv" ]; then
	fail "vectors: ${VEC_DIRS[0]}/EXPECTED.tsv missing from the tree"
	finish
fi
if [ ! -x "$MKCFS" ]; then
	fail "vectors: $MKCFS not built"
	finish
fi

# file -> regex the error must match. Each is a documented stricter rule, not a gap.
# (None at the moment: every accepted upstream vector is accepted and byte-identical.)
declare -A DELIBERATE=()

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

total=0 identical=0 deliberate=0
for VEC in "${VEC_DIRS[@]}"; do
while IFS=$'\t' read -r file opts sha fsv notes; do
	[ "$file" = file ] && continue
	[ -n "$file" ] || continue
	name=vector-${file%%.*}
	[ "$opts" != "(default)" ] && name="$name ($opts)"
	src=$VEC/$file
	if [[ $file == *.gz ]]; then
		zcat "$src" > "$tmp/in.dump" || { fail "$name: cannot decompress"; continue; }
		src=$tmp/in.dump
	fi
	args=()
	[ "$opts" != "(default)" ] && read -r -a args <<< "$opts"
	rm -f "$tmp/out.img"
	"$MKCFS" "${args[@]}" --from-dump "$src" "$tmp/out.img" > "$tmp/log" 2>&1
	rc=$?
	msg=$(head -n 3 "$tmp/log" | tr '\n' ' ')

	if [ "$sha" = must-fail ]; then
		if [ $rc = 1 ] && grep -Eq ':[0-9]+: ' "$tmp/log"; then
			pass "$name: rejected: $msg"
		else
			fail "$name: must fail with exit 1 and a line number, got exit $rc: $msg"
		fi
		continue
	fi

	total=$((total + 1))
	if [ -n "${DELIBERATE[$file]:-}" ]; then
		if [ $rc = 1 ] && grep -Eq "${DELIBERATE[$file]}" "$tmp/log"; then
			deliberate=$((deliberate + 1))
			pass "$name: rejected on purpose (stricter than upstream): $msg"
		else
			fail "$name: expected the deliberate rejection /${DELIBERATE[$file]}/, got exit $rc: $msg"
		fi
		continue
	fi
	if [ $rc != 0 ]; then
		fail "$name: mkcfs exit $rc: $msg"
		continue
	fi
	got=$(sha256sum < "$tmp/out.img" | cut -d' ' -f1)
	if [ "$got" = "$sha" ]; then
		identical=$((identical + 1))
		pass "$name: byte-identical ($(stat -c %s "$tmp/out.img") bytes)"
		# The fs-verity digest upstream's image has (what a command line would pin).
		if [[ $fsv =~ ^[0-9a-f]{64}$ ]] && [ -x "$B/cfs-info" ]; then
			d=$("$B/cfs-info" digest "$tmp/out.img" | cut -d' ' -f1)
			if [ "$d" = "sha256:$fsv" ]; then
				pass "$name: fs-verity digest sha256:${fsv:0:16}… as upstream's"
			else
				fail "$name: fs-verity digest $d, upstream's image has sha256:$fsv"
			fi
		fi
	else
		fail "$name: sha256 $got, expected $sha (size $(stat -c %s "$tmp/out.img"))"
	fi
	# Round trip through the reader: image -> dump -> image gives the same bytes.
	if [ -x "$B/cfs-info" ]; then
		if "$B/cfs-info" dump "$tmp/out.img" > "$tmp/rt.dump" 2> "$tmp/log" &&
			"$MKCFS" "${args[@]}" --from-dump "$tmp/rt.dump" "$tmp/rt.img" >> "$tmp/log" 2>&1 &&
			cmp -s "$tmp/out.img" "$tmp/rt.img"; then
			pass "$name-roundtrip: image -> cfs-info dump -> mkcfs is identical"
		else
			fail "$name-roundtrip: image -> cfs-info dump -> mkcfs differs: $(head -n 2 "$tmp/log" | tr '\n' ' ')"
		fi
	fi
done < "$VEC/EXPECTED.tsv"
done

echo "vectors: $identical/$total byte-identical ($deliberate rejected on purpose)"

# The host kernel must mount what we write: one image per feature mix, checked through
# the kernel's own view (listing, file content, xattrs, symlinks).
mount_check() { # name dump [mkcfs options]; sets $mnt
	local name=$1 dump=$2; shift 2
	local img=$tmp/$name.img
	mnt=$tmp/mnt-$name
	mkdir -p "$mnt"
	if ! "$MKCFS" "$@" --from-dump "$dump" "$img" > "$tmp/log" 2>&1; then
		fail "mount-$name: mkcfs: $(head -n 2 "$tmp/log" | tr '\n' ' ')"
		return 1
	fi
	if ! mount -t erofs -o ro,loop "$img" "$mnt" 2> "$tmp/log"; then
		fail "mount-$name: mount -t erofs: $(head -n 2 "$tmp/log" | tr '\n' ' ')"
		return 1
	fi
}
have_erofs() { grep -qw erofs /proc/filesystems || modprobe erofs 2> /dev/null; }
if [ "$(id -u)" != 0 ] || ! have_erofs; then
	skip "vectors-mount: needs root and an erofs-capable kernel"
else
	# upstream's special_v1 (inline data, whiteouts, escaped xattrs) when the shared set
	# is there; the project's random vectors go through the kernel in tests/host/cfs-info.sh.
	VEC=$EXTRA
	if [ ! -f "$VEC/special_v1.dump" ]; then
		echo "note: vectors-mount: no $VEC/special_v1.dump (extra), the big-directory check runs"
	elif mount_check special "$VEC/special_v1.dump" --min-version 1 --max-version 1; then
		ok=1
		[ "$(cat "$mnt/inline")" = "$(printf 'FOOBAR\nINAFILE')" ] || { ok=0; echo "inline content differs"; }
		[ "$(stat -c %s "$mnt/inline-large3")" = 4097 ] || { ok=0; echo "inline-large3 size"; }
		cmp -s <(head -c 4095 "$mnt/inline-large1" | wc -c) <(echo 4095) || { ok=0; echo "inline-large1 unreadable"; }
		getfattr -n trusted.overlay.opaque --only-values "$mnt" 2> /dev/null | grep -qx y || { ok=0; echo "root not opaque"; }
		getfattr -n trusted.overlay.overlay.redirect "$mnt/escaped-xattr" > /dev/null 2>&1 || { ok=0; echo "escaped xattr missing"; }
		getfattr -n user.overlay.whiteout "$mnt/whiteout" > /dev/null 2>&1 || { ok=0; echo "whiteout marker missing"; }
		[ "$(stat -c %F "$mnt/whiteout")" = "regular empty file" ] || { ok=0; echo "whiteout not a file"; }
		[ "$(stat -c %t:%T "$mnt/00")" = 0:0 ] || { ok=0; echo "no 00 whiteout in root"; }
		n_dump=$(wc -l < "$VEC/special_v1.dump")
		n_img=$(find "$mnt" | wc -l)
		[ "$n_img" -ge "$n_dump" ] || { ok=0; echo "image lists $n_img entries, dump $n_dump"; }
		umount "$mnt"
		[ $ok = 1 ] && pass "vectors-mount: special_v1 image mounts; content, xattrs, whiteouts as expected" \
			|| fail "vectors-mount: special_v1 image content differs (see log)"
	fi
	# A directory of 5000 entries (many dirent blocks), long symlinks, hard links.
	awk 'BEGIN {
		print "/ 4096 40755 3 0 0 0 1000.0 - - -"
		print "/big 4096 40755 2 0 0 0 1000.0 - - -"
		for (i = 1; i <= 5000; i++) {
			pad = ""; for (k = 0; k < i % 90; k++) pad = pad "x"
			printf "/big/entry-%05d-%s 0 100644 1 %d 0 0 %d.0 - - -\n", i, pad, i * 17, 1000 + i % 3
		}
		print "/big/link 0 @100644 1 0 0 0 0.0 /big/entry-00001-x - -"
		t = ""; for (k = 0; k < 300; k++) t = t "y"
		print "/sym 300 120777 1 0 0 0 1000.0 " t " - -"
	}' > "$tmp/bigdir.dump"
	if mount_check bigdir "$tmp/bigdir.dump"; then
		n=$(ls -1 "$mnt/big" | wc -l)
		target=$(readlink "$mnt/sym")
		ino1=$(stat -c %i "$mnt/big/entry-00001-x")
		ino2=$(stat -c %i "$mnt/big/link")
		uid=$(stat -c %u "$mnt/big/entry-04999-$(printf '%*s' $((4999 % 90)) '' | tr ' ' x)")
		umount "$mnt"
		if [ "$n" = 5001 ] && [ "${#target}" = 300 ] && [ "$ino1" = "$ino2" ] && [ "$uid" = $((4999 * 17)) ]; then
			pass "vectors-mount: 5001-entry directory, hard link, long symlink read back through the kernel"
		else
			fail "vectors-mount: big directory lists $n entries (want 5001), symlink length ${#target}, inodes $ino1/$ino2, uid $uid"
		fi
	fi
fi
finish
