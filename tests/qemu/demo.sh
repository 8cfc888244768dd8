#!/bin/bash
# `make demo`: builds a small demo OS (the test OS: a static /sbin/init that reports what it
# sees), its composefs image and object store on an ext4 disk, enables fs-verity in an install
# boot, then boots it verified under QEMU with the console streamed here, so a person sees
# cfsroot check the image digest and switch into the overlay root. Ends with the digest, the
# kernel arguments and where the log is.
set -u
. "$(dirname "$0")/../lib.sh"
QWORK=$B/demo QLOGS=$B/test-logs/demo
. "$TOP/tests/qemu/qemu-lib.sh"

say() { printf '\n=== %s\n' "$*"; }

say "Preparing: test kernels (cached in $CACHE/kernels), initramfs, demo OS image, ext4 disk"
qemu_prepare
r=$?
if [ $r = 2 ]; then echo "demo: cannot run: $QEMU_REASON" >&2; exit 1; fi
if [ $r != 0 ]; then echo "demo: preparation failed" >&2; exit 1; fi
if ! log_has "$INSTALL_LOG" ", 0 failures"; then
	echo "demo: the install boot (enabling fs-verity inside the guest) failed: see $INSTALL_LOG" >&2
	exit 1
fi
echo "kernel $KVER_612; initramfs $INITRD_612 ($(stat -c %s "$INITRD_612") bytes); install boot log $INSTALL_LOG"

append="console=ttyS0 panic=-1 root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfsroot.on_failure=poweroff cfstest.sha256=$BIG_FILE"
disk=$QWORK/demo.qcow2
rm -f "$disk"
overlay_of "$DISK_BASE" "$disk"
log=$QLOGS/demo-boot.log

say "Booting the verified image (serial console follows)"
timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 \
	-no-reboot -nodefaults -display none -serial stdio \
	-kernel "$VMLINUZ_612" -initrd "$INITRD_612" -append "$append" \
	-drive "file=$disk,if=virtio,format=qcow2" < /dev/null | tee "$log"

say "Result"
if log_has "$log" "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)" && log_has "$log" "CFSTEST: init started"; then
	echo "verified boot: OK"
	log_line "$log" "cfsroot: verified"
	log_line "$log" "cfsroot: timing:"
	rc=0
else
	echo "verified boot: FAILED"
	rc=1
fi
echo "image digest:     sha256:$DIGEST"
echo "kernel arguments: $append"
echo "console log:      $log"
exit $rc
