#!/bin/bash
# QEMU scenario for the object store's trust rules (issue 9) where they need fs-verity (the
# host has none): on the verified root, with the physical root rw, the guest's static mkcfs
# builds a store of three objects with --enable-verity; then two objects of the same size
# (so the size check cannot tell) swap names before each of two rebuilds:
#  - a rebuild with no option: each swapped object is a verity-enabled file whose measured
#    digest (one ioctl) is not its name, so it is replaced, one line each, exit 0;
#  - the copies that rebuild wrote have no fs-verity; swapped again, a rebuild with
#    --enable-verity enables fs-verity on them, the kernel's measurement gives them away.
# At the end every object is measured by `cfsroot verity measure`: digest = name.
# Console log: $B/test-logs/qemu/store-swap.log.
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

start=$SECONDS
_sc_name='' _sc_log='' _sc_err=''
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_rc() { if [ "$1" = 124 ]; then _sc_err+="QEMU timed out after ${QEMU_TIMEOUT}s; "; fi; }
count() { tr -d '\r' < "$_sc_log" | grep -cF -- "$1"; }

qemu_prepare
case $? in
0) ;;
2) skip "store-swap: $QEMU_REASON"; finish ;;
*) fail "store-swap: preparing the QEMU test disk failed"; finish ;;
esac
if ! log_has "$INSTALL_LOG" "CFSTEST: install: fs-verity enabled on"; then
	fail "store-swap: the install boot did not enable fs-verity (log: $INSTALL_LOG)"
	finish
fi

_sc_name=store-swap _sc_log=$QLOGS/store-swap.log
mkdir -p "$QWORK/disks"
q=$QWORK/disks/store-swap.qcow2
rm -f "$q"
overlay_of "$DISK_BASE" "$q" || { fail "store-swap: qemu-img failed"; finish; }
qemu_boot "$_sc_log" "$VMLINUZ_612" "$INITRD_612" \
	"$(base_append) cfsroot.digest=sha256:$DIGEST cfsroot.on_failure=poweroff rw cfstest.storeswap" \
	-drive "file=$q,if=virtio,format=qcow2"
rc=$?
want_rc "$rc"
want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
want "CFSTEST: mount /sysroot: ext4 rw"
want "CFSTEST: storeswap build: exit 0"
[ "$(count 'CFSTEST: storeswap: swapped the objects of a and b (3 objects): OK')" = 2 ] ||
	_sc_err+="the two swaps did not both happen; "
for b in "storeswap rebuild" "storeswap rebuild --enable-verity"; do
	want "CFSTEST: $b: exit 0"
	n=$(tr -d '\r' < "$_sc_log" | grep -F "CFSTEST: $b: mkcfs: Object '/sysroot/cfs/objects-s/" |
		grep -cF "was damaged (its fs-verity digest is not its name): replaced by a verified copy of")
	[ "$n" = 2 ] || _sc_err+="'$b' reported $n replaced objects (want 2, the swapped ones); "
	tr -d '\r' < "$_sc_log" | grep -F "CFSTEST: $b: " | grep -q "store '/sysroot/cfs/objects-s': 3 objects, 0 new (0 bytes), 2 replaced" ||
		_sc_err+="'$b' summary is not '3 objects, 0 new, 2 replaced'; "
done
# Every object measured by the kernel: its digest is its name.
pre='CFSTEST: storeswap: cfsroot verity measure: '
want "${pre}exit 0"
n=0
while IFS= read -r line; do
	hex=${line%% *} path=${line#* }
	rel=${path#/sysroot/cfs/objects-s/}
	[ "$hex" = "sha256:${rel//\//}" ] || _sc_err+="object $path measures as $hex; "
	n=$((n + 1))
done < <(tr -d '\r' < "$_sc_log" | sed -n "s|.*${pre}\\(sha256:[0-9a-f]\\{64\\} /sysroot/cfs/objects-s/.*\\)\$|\\1|p")
[ "$n" = 3 ] || _sc_err+="$n objects measured (want 3); "
if [ -z "$_sc_err" ]; then
	pass "store-swap: verity objects swapped (same size) are found by their measured digest, without --verify-store: 2 replaced per rebuild (plain and --enable-verity), one line each, exit 0; all 3 objects then measure as their names"
else
	fail "store-swap: ${_sc_err}log: $_sc_log"
fi
echo "suite-store: $((SECONDS - start)) s"
finish
