#!/bin/bash
# Boot time side by side: the standalone cfsroot initramfs and a dracut initramfs (systemd
# flavour, dracut 059, with modules.d/90cfsroot) boot the same verified test disk with the
# same kernel to the same point: the new root's init starting (guest-init prints
# CLOCK_BOOTTIME as its first act). Prints each boot, the means and the ratio.
#
# Usage: tests/bench/bench-dracut.sh   (BENCH_BOOTS=N boots of each, default 3; B, CACHE as for make)
set -u
. "$(dirname "$0")/../lib.sh"
QWORK=$B/bench-qemu QLOGS=$B/test-logs/bench-dracut
. "$TOP/tests/qemu/qemu-lib.sh"
. "$TOP/tests/qemu/dracut-lib.sh"

boots=${BENCH_BOOTS:-3}
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

qemu_prepare
r=$?
if [ $r = 2 ]; then skip "bench-dracut: $QEMU_REASON"; exit 0; fi
if [ $r != 0 ] || ! log_has "$INSTALL_LOG" ", 0 failures"; then
	fail "bench-dracut: preparing the verified test disk failed (see $QLOGS/install.log)"
	exit 1
fi
if [ ! -x /usr/bin/dracut ]; then skip "bench-dracut: dracut 059 not installed (package dracut-core)"; exit 0; fi
dracut_tree 059 "$DWORK/dracut-059" || { fail "bench-dracut: cannot copy the dracut tree"; exit 1; }
DRACUT_INITRD=$DWORK/bench-059-systemd.img
if ! dracut_build 059 systemd "$DRACUT_INITRD"; then
	fail "bench-dracut: dracut failed (see $DRACUT_INITRD.log)"
	exit 1
fi

append="console=ttyS0 panic=-1 root=LABEL=$LABEL ro rd.shell=0 cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfsroot.on_failure=poweroff"
declare -A sum=([standalone]=0 [dracut]=0) n=([standalone]=0 [dracut]=0)
for i in $(seq 1 "$boots"); do
	for kind in standalone dracut; do
		initrd=$INITRD_612
		[ $kind = dracut ] && initrd=$DRACUT_INITRD
		q=$QWORK/bench-dracut-$kind.qcow2
		rm -f "$q"
		overlay_of "$DISK_BASE" "$q"
		log=$QLOGS/$kind-$i.log
		qemu_boot "$log" "$VMLINUZ_612" "$initrd" "$append" -drive "file=$q,if=virtio,format=qcow2"
		rm -f "$q"
		t=$(tr -d '\r' < "$log" | sed -n 's/^CFSTEST: init boottime \([0-9.]*\) ms$/\1/p' | head -n1)
		if [ -z "$t" ] || ! log_has "$log" "cfsroot: verified $IMAGE_PATH"; then
			echo "bench-dracut: $kind boot $i did not reach the verified root's init (see $log)"
			continue
		fi
		printf 'boot %d %-10s new root init at %10.1f ms\n' "$i" "$kind" "$t"
		sum[$kind]=$(calc "${sum[$kind]} + $t")
		n[$kind]=$((n[$kind] + 1))
	done
done
if [ "${n[standalone]}" = 0 ] || [ "${n[dracut]}" = 0 ]; then
	fail "bench-dracut: no timing for one of the two initramfs kinds"
	exit 1
fi
a=$(calc "${sum[standalone]} / ${n[standalone]}")
b=$(calc "${sum[dracut]} / ${n[dracut]}")
echo
echo "kernel start -> the new root's init, kernel $KVER_612, QEMU TCG, CLOCK_BOOTTIME (mean):"
printf '  %-44s %10.1f ms  (%d boots, initramfs %s bytes)\n' "standalone cfsroot initramfs" "$a" "${n[standalone]}" "$(stat -c %s "$INITRD_612")"
printf '  %-44s %10.1f ms  (%d boots, initramfs %s bytes)\n' "dracut 059, systemd flavour, --add cfsroot" "$b" "${n[dracut]}" "$(stat -c %s "$DRACUT_INITRD")"
printf '  ratio dracut / standalone: %.2f\n' "$(calc "$b / $a")"
