#!/bin/bash
# Boot benchmark: boots the verified test disk under QEMU (TCG) a few times, parses cfsroot's
# "cfsroot: timing:" line (CLOCK_BOOTTIME milliseconds at each point it reached) and prints the
# points, each step's duration, the share of verification + mounts in start->exec (target under
# 5%), the static binary's size and the initramfs's compressed size.
#
# Usage: tests/bench/bench-boot.sh   (BENCH_BOOTS=N boots, default 3; B, CACHE as for make)
set -u
. "$(dirname "$0")/../lib.sh"
QWORK=$B/bench-qemu QLOGS=$B/test-logs/bench-boot
. "$TOP/tests/qemu/qemu-lib.sh"

boots=${BENCH_BOOTS:-3}
# Arithmetic through awk (always present; bc may not be).
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }

qemu_prepare
r=$?
if [ $r = 2 ]; then skip "bench-boot: $QEMU_REASON"; exit 0; fi
if [ $r != 0 ] || ! log_has "$INSTALL_LOG" ", 0 failures"; then
	fail "bench-boot: preparing the verified test disk failed (see $QLOGS/install.log)"
	exit 1
fi

points="start modules device rootfs verified mounted exec"
declare -A sum
for p in $points; do sum[$p]=0; done
ok=0
for i in $(seq 1 "$boots"); do
	q=$QWORK/bench-$i.qcow2
	rm -f "$q"
	overlay_of "$DISK_BASE" "$q"
	log=$QLOGS/bench-$i.log
	t0=$(date +%s.%N)
	qemu_boot "$log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST" \
		-drive "file=$q,if=virtio,format=qcow2"
	t1=$(date +%s.%N)
	line=$(log_line "$log" "cfsroot: timing: ")
	if [ -z "$line" ] || ! log_has "$log" "CFSTEST: init started"; then
		echo "bench-boot: boot $i did not reach the new root's init (see $log)"
		continue
	fi
	ok=$((ok + 1))
	printf 'boot %d: %s  (QEMU wall %.1f s)\n' "$i" "${line#*cfsroot: }" "$(calc "$t1 - $t0")"
	for p in $points; do
		v=$(grep -oE "(^| )$p=[0-9.]+" <<< "$line" | cut -d= -f2)
		[ -n "$v" ] || { echo "bench-boot: no $p= in: $line"; ok=$((ok - 1)); continue 2; }
		sum[$p]=$(calc "${sum[$p]} + $v")
	done
done
if [ $ok = 0 ]; then
	fail "bench-boot: no boot produced a timing line"
	exit 1
fi

declare -A avg
for p in $points; do avg[$p]=$(calc "${sum[$p]} / $ok"); done

echo
echo "cfsroot boot timing, mean of $ok boot(s), kernel $KVER_612, QEMU TCG (CLOCK_BOOTTIME ms)"
printf '%-18s %12s %14s\n' "point" "at (ms)" "step (ms)"
prev=''
for p in $points; do
	if [ -z "$prev" ]; then
		printf '%-18s %12.3f %14s\n' "$p" "${avg[$p]}" "-"
	else
		printf '%-18s %12.3f %14.3f  (%s -> %s)\n' "$p" "${avg[$p]}" "$(calc "${avg[$p]} - ${avg[$prev]}")" "$prev" "$p"
	fi
	prev=$p
done
total=$(calc "${avg[exec]} - ${avg[start]}")
vm=$(calc "${avg[mounted]} - ${avg[rootfs]}")
share=$(calc "($total > 0) ? 100 * $vm / $total : 0")
printf '%-18s %12.3f ms\n' "start -> exec" "$total"
printf '%-18s %12.3f ms = %.2f%% of start -> exec (target < 5%%; rootfs -> mounted: measuring the image, EROFS and overlayfs mounts)\n' "verify + mounts" "$vm" "$share"

bin=$(stat -c %s "$B/cfsroot")
binxz=$(xz --check=crc32 -9e -c < "$B/cfsroot" | wc -c)
ird=$(stat -c %s "$INITRD_612")
printf '%-18s %12d bytes (%d bytes xz)\n' "cfsroot binary" "$bin" "$binxz"
printf '%-18s %12d bytes compressed (target < 3 MB)\n' "initramfs" "$ird"

if [ "$(calc "($share < 5) ? 1 : 0")" = 1.000000 ]; then
	pass "bench-boot: verify + mounts take $(printf '%.2f' "$share")% of start -> exec"
else
	echo "NOTE: verify + mounts take $(printf '%.2f' "$share")% of start -> exec, above the 5% target"
fi
exit 0
