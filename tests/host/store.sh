#!/bin/bash
# The object store trusts nothing already there: mkcfs --store reuses an existing object only
# when it is a regular file of the right size (and, with fs-verity, measures to its name; with
# --verify-store, re-hashes to it). A bad object is replaced by a verified copy in one rename
# and named on one line. Here (no fs-verity on the host's /var/tmp) the cheap check is the
# size; the fs-verity case runs in a guest (tests/qemu/suite-store.sh).
. "$(dirname "$0")/../lib.sh"

MKCFS=$B/mkcfs
INFO=$B/cfs-info
[ -x "$MKCFS" ] && [ -x "$INFO" ] || { fail "store: $MKCFS or $INFO not built"; finish; }

W=$(mktemp -d /var/tmp/test-store.XXXXXX)
trap 'rm -rf "$W"' EXIT

# A tree of 40 files big enough to be objects, sizes from 100 bytes to 300 KB.
mkdir -p "$W/src/d"
for i in $(seq 1 40); do
	head -c $((i * i * 200 + 100)) /dev/urandom > "$W/src/d/f$i"
done
S=$W/store
"$MKCFS" --store "$S" "$W/src" "$W/ref.cfs" > /dev/null 2>&1 || { fail "store: first build failed"; finish; }
mapfile -t OBJS < <("$INFO" objects "$W/ref.cfs")
check "store: first build wrote ${#OBJS[@]} objects" [ ${#OBJS[@]} = 40 ]
src_of() { # object name -> source file with that content
	local f
	for f in "$W"/src/d/*; do
		[ "$(fsverity digest --block-size=4096 "$f" | cut -d' ' -f1)" = "sha256:${1%%/*}${1#*/}" ] && { echo "$f"; return; }
	done
}

# build NAME [mkcfs options]: rebuild into $S; $rc, $W/err, $W/out
build() {
	local name=$1; shift
	"$MKCFS" -v "$@" --store "$S" "$W/src" "$W/$name.cfs" > "$W/out" 2> "$W/err"
	rc=$?
}
store_ok() { "$INFO" check "$W/ref.cfs" "$S" > /dev/null 2>&1 && [ -z "$(find "$S" -name '.tmp-*')" ]; }
warned() { # object: exactly one warning line naming it
	[ "$(grep -c "Object '$S/$1' was damaged" "$W/err")" = 1 ]
}

# ---- a corrupt object of the right size ----
o=${OBJS[7]}
src=$(src_of "$o")
printf 'XXXX' | dd of="$S/$o" bs=1 seek=10 conv=notrunc status=none
build a
check "corrupt object, same size, no --verify-store: reused on a filesystem without fs-verity (the size is the cheap check)" \
	sh -c '[ $0 = 0 ] && ! grep -q "was damaged" "$1"' $rc "$W/err"
check "  ... and cfs-info check notices it" sh -c '! "$0" check "$1" "$2" > /dev/null 2>&1' "$INFO" "$W/ref.cfs" "$S"
build b --verify-store
check "corrupt object with --verify-store: exit 0, one line names it ($(grep damaged "$W/err" | head -c 200))" \
	sh -c '[ $0 = 0 ]' $rc
check "  ... the line gives the reason" grep -q "its content does not match its name" "$W/err"
check "  ... one warning for that object only" sh -c '[ "$(grep -c "was damaged" "$0")" = 1 ]' "$W/err"
warned "$o" && pass "  ... names '$S/$o'" || fail "  ... warning does not name $o: $(cat "$W/err")"
check "  ... replaced by the right content" cmp -s "$S/$o" "$src"
check "  ... store checks clean, no temporary files" store_ok
check "  ... the image is the same" cmp -s "$W/ref.cfs" "$W/b.cfs"
check "  ... the summary counts it" grep -q "1 replaced" "$W/err"
build b2 --verify-store
check "a clean store with --verify-store: nothing replaced" sh -c '[ $0 = 0 ] && ! grep -q "was damaged" "$1"' $rc "$W/err"

# ---- a truncated object, and one that grew ----
o1=${OBJS[3]} o2=${OBJS[30]}
truncate -s -1 "$S/$o1"
printf 'tail' >> "$S/$o2"
build c
check "truncated object and grown object, no --verify-store: exit 0" [ $rc = 0 ]
check "  ... truncated one reported as such" sh -c 'grep "$0" "$1" | grep -q "truncated"' "$S/$o1" "$W/err"
check "  ... grown one reported" sh -c 'grep "$0" "$1" | grep -q "larger than its content"' "$S/$o2" "$W/err"
check "  ... both repaired, store checks clean" store_ok

# ---- not a regular file under an object's name ----
n=0
for kind in empty-dir full-dir fifo chardev symlink symlink-to-good; do
	o=${OBJS[n]}; n=$((n + 5))
	good=$(src_of "$o")
	rm -f "$S/$o"
	case $kind in
	empty-dir) mkdir "$S/$o" ;;
	full-dir) mkdir "$S/$o"; echo x > "$S/$o/inside" ;;
	fifo) mkfifo "$S/$o" ;;
	chardev) mknod "$S/$o" c 1 3 ;; # /dev/null's numbers: never opened, only replaced
	symlink) ln -s /etc/passwd "$S/$o" ;;
	symlink-to-good) ln -s "$good" "$S/$o" ;; # right content, still not an object
	esac
	timeout 60 "$MKCFS" -v --store "$S" "$W/src" "$W/k.cfs" > "$W/out" 2> "$W/err"; rc=$?
	if [ $rc = 0 ] && warned "$o" && [ -f "$S/$o" ] && [ ! -L "$S/$o" ] && cmp -s "$S/$o" "$good" && store_ok; then
		pass "$kind under an object's name: replaced by the object, one line: $(grep damaged "$W/err" | sed "s|$W||g")"
	else
		fail "$kind under an object's name: rc=$rc, $(head -c 300 "$W/err")"
	fi
	case $kind in
	full-dir) check "  ... the non-empty directory is kept aside, named" \
		sh -c 'd=$(find "$0" -name ".damaged-*" -type d) && [ -n "$d" ] && [ -f "$d/inside" ] && grep -q "kept as" "$1"' "$S" "$W/err"
		find "$S" -name '.damaged-*' -exec rm -rf {} + ;;
	esac
done

# ---- two builds racing to repair the same objects; a watcher checks that no object name is
# ever missing meanwhile ----
for o in "${OBJS[@]}"; do truncate -s 1 "$S/$o"; done
( missing=0
  while [ ! -e "$W/stop" ]; do
	for o in "${OBJS[@]}"; do [ -e "$S/$o" ] || missing=$((missing + 1)); done
  done
  echo $missing > "$W/missing" ) &
watcher=$!
"$MKCFS" --store "$S" "$W/src" "$W/r1.cfs" > /dev/null 2> "$W/err1" & p1=$!
"$MKCFS" --store "$S" "$W/src" "$W/r2.cfs" > /dev/null 2> "$W/err2" & p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
touch "$W/stop"; wait $watcher
rep=$(cat "$W/err1" "$W/err2" | grep -c "was damaged")
check "two builds repairing the same 40 objects at once: both exit 0 ($rc1, $rc2)" [ $rc1 = 0 -a $rc2 = 0 ]
check "  ... every damaged object reported at least once ($rep lines)" [ "$rep" -ge 40 ]
check "  ... the store checks clean, no temporary files" store_ok
check "  ... no object name was ever missing while they ran (watcher saw $(cat "$W/missing") misses)" [ "$(cat "$W/missing")" = 0 ]
check "  ... both images identical to the reference" sh -c 'cmp -s "$0" "$1" && cmp -s "$0" "$2"' "$W/ref.cfs" "$W/r1.cfs" "$W/r2.cfs"
finish
