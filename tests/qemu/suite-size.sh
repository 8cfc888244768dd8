#!/bin/bash
# QEMU scenario for the lean cfsroot (issue 9): the static cfsroot links a decoder-only
# liblzma (tools/setup-deps.sh, $CACHE/xz-dec). The standalone initramfs normally ships its
# modules decompressed, so the other boots never decode xz; here an initramfs keeps Debian's
# .ko.xz files (mkinitramfs.sh --keep-compressed), and cfsroot must load the disk driver, ext4,
# erofs, overlay and loop through libkmod, which decompresses them in user space (kmod 30)
# with that liblzma. Without working xz decoding there is no disk and no verified boot.
# Console log: $B/test-logs/qemu/size-xz-modules.log.
#
# Usage: tests/qemu/suite-size.sh
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

# The cfsroot timing line's modules phase, in ms (start= to modules=).
modules_ms() {
	tr -d '\r' < "$1" | sed -n 's/.*cfsroot: timing: start=\([0-9.]*\) modules=\([0-9.]*\) .*/\1 \2/p' |
		awk 'NR == 1 { printf "%d", $2 - $1 }'
}

sc_xz_modules() {
	local initrd=$QWORK/initramfs-6.12-xz.img log=$QLOGS/size-xz-modules.log q m list err=''
	if [ ! -f "$initrd" ] || [ "$initrd" -ot "$B/cfsroot" ] || [ "$initrd" -ot "$TOP/initramfs/mkinitramfs.sh" ]; then
		"$TOP/initramfs/mkinitramfs.sh" -q --keep-compressed -c gzip -k "$KVER_612" \
			-r "$CACHE/kernels/6.12/root" -i "$B/cfsroot" -o "$initrd" ||
			{ fail "xz-modules: cannot build an initramfs with --keep-compressed"; return; }
	fi
	# The archive must really hold the compressed modules, and no decompressed one.
	list=$(gzip -dc "$initrd" | cpio -t --quiet 2>/dev/null)
	for m in virtio_blk ext4 erofs overlay loop; do
		grep -q "/$m\.ko\.xz\$" <<< "$list" || err+="no $m.ko.xz in the initramfs; "
	done
	grep -q '\.ko$' <<< "$list" && err+="a decompressed .ko in the initramfs; "
	[ -z "$err" ] || { fail "xz-modules: $err"; return; }

	mkdir -p "$QWORK/disks"
	q=$QWORK/disks/size-xz-modules.qcow2
	rm -f "$q"
	overlay_of "$DISK_BASE" "$q" || { fail "xz-modules: cannot create the disk overlay"; return; }
	qemu_boot "$log" "$VMLINUZ_612" "$initrd" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfstest.cat=/proc/modules" \
		-drive "file=$q,if=virtio,format=qcow2"
	[ $? = 124 ] && err+="QEMU timed out after ${QEMU_TIMEOUT}s; "
	log_has "$log" "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)" || err+="no verified line; "
	log_has "$log" "CFSTEST: init started (pid 1)" || err+="init did not run; "
	# Loaded as modules (in /proc/modules), not built in: each came from its .ko.xz.
	for m in virtio_blk ext4 erofs overlay loop; do
		log_has "$log" "CFSTEST: cat /proc/modules: $m " || err+="$m not in /proc/modules; "
	done
	log_has "$log" "cfsroot: boot failed" && err+="cfsroot refused the boot; "
	if [ -n "$err" ]; then
		fail "xz-modules: ${err}log: $log"
	else
		pass "xz-modules: initramfs with Debian's .ko.xz kept: virtio_blk, ext4, erofs, overlay, loop loaded by cfsroot through libkmod and the decoder-only liblzma, verified boot (modules phase $(modules_ms "$log") ms; $(modules_ms "$QLOGS/install.log") ms in the install boot with decompressed modules)"
	fi
}

main() {
	local start=$SECONDS r
	qemu_prepare
	r=$?
	if [ $r = 2 ]; then skip "qemu-size: $QEMU_REASON"; finish; fi
	if [ $r != 0 ]; then fail "qemu-size: preparing the test disk, kernels or initramfs failed"; finish; fi
	if ! log_has "$INSTALL_LOG" "CFSTEST: measure /sysroot$IMAGE_PATH: sha256:$DIGEST"; then
		fail "qemu-size: the install boot failed (see $INSTALL_LOG)"; finish
	fi
	sc_xz_modules
	echo "qemu-size: 1 scenario in $((SECONDS - start)) s"
	finish
}

main "$@"
