#!/bin/bash
# QEMU scenarios for the boot-path hardening (issue 9): a root device that asks for
# errors=panic, libblkid probing limited to what is needed, rootfstype= lists,
# modprobe.blacklist=, kernel.printk_devkmsg restored, a basedir whose name holds an ESC
# sequence and a comma, root=/dev/X on a drive whose medium arrives late, and a module
# that is shipped but cannot load.
# Console logs: $B/test-logs/qemu/hardening-<scenario>.log.
#
# Usage: tests/qemu/suite-hardening.sh [SCENARIO...]   (default: all, in the list at the end)
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

JOBS=${QEMU_JOBS:-2}

_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/hardening-${2:-$1}.log; _sc_err=''; }  # name [boot]
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
want_rc() { if [ "$1" = 124 ]; then _sc_err+="QEMU timed out after ${QEMU_TIMEOUT}s; "; fi; }
sc_end() { if [ -z "$_sc_err" ]; then pass "$_sc_name: $1"; else fail "$_sc_name: ${_sc_err}log: $_sc_log"; fi; }
policy_line="cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"

disk_for() { # scenario, raw base -> prints a fresh qcow2 overlay
	local q=$QWORK/disks/hardening-$1.qcow2
	mkdir -p "$QWORK/disks"
	rm -f "$q"
	overlay_of "$2" "$q" && echo "$q"
}
tampered_copy() { # scenario -> prints a fresh raw copy of the verified disk
	local d=$QWORK/disks/hardening-$1.img
	mkdir -p "$QWORK/disks"
	cp --sparse=always "$DISK_BASE" "$d" && echo "$d"
}
flip_byte() { # file, byte offset
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
good_append() { echo "cfsroot.digest=sha256:$DIGEST"; }

# boot SCENARIO DISK APPEND-EXTRA: ROOT_ARG replaces root=LABEL=... Sets $rc.
boot() {
	local name=$1 disk=$2 extra=$3 q
	q=$(disk_for "$name" "$disk") || { rc=1; return; }
	qemu_boot "$QLOGS/hardening-$name.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff ${ROOT_ARG-root=LABEL=$LABEL} cfsroot=$IMAGE_PATH $extra" \
		-drive "file=$q,if=virtio,format=qcow2"
	rc=$?
}

# ---- 1. The root device's superblock says errors=panic, and the directory holding the
# image has a corrupt block: the kernel would panic on the lookup. cfsroot mounts ext4 with
# errors=remount-ro, so the lookup fails with an error cfsroot reports.
sc_errors_panic() {
	local d blk
	d=$(tampered_copy errors-panic) || { fail "errors-panic: cannot copy the disk"; return; }
	tune2fs -e panic "$d" > /dev/null 2>&1
	if ! dumpe2fs -h "$d" 2>/dev/null | grep -qE '^Errors behavior: +Panic'; then
		fail "errors-panic: tune2fs -e panic did not take"; return
	fi
	blk=$(debugfs -R "bmap ${IMAGE_PATH%/*} 0" "$d" 2>/dev/null | grep -E '^[0-9]+$')
	[ -n "$blk" ] || { fail "errors-panic: cannot find ${IMAGE_PATH%/*}'s directory block"; return; }
	# Inside the first entry's name ("."), so the block checksum no longer matches.
	flip_byte "$d" $((blk * 4096 + 8))
	boot errors-panic "$d" "$(good_append)"
	sc_begin errors-panic
	want_rc "$rc"
	want "cfsroot: cannot open image $IMAGE_PATH on the root device: "
	want "$policy_line"
	want_not "Kernel panic"
	want_not "CFSTEST: init started"
	sc_end "superblock errors=panic + a corrupt block in ${IMAGE_PATH%/*}: no kernel panic; '$(log_line "$_sc_log" "cfsroot: cannot open image" | sed 's/^\[ *[0-9.]*\] //')' and the policy"
}

# ---- 2. libblkid's probers, seen through its own debug output (LIBBLKID_DEBUG reaches
# /init's environment: the kernel passes unknown KEY=value arguments to init).
ROOT_FSTYPES='ext4 ext3 ext2 xfs btrfs f2fs'
probers_called() { # log -> the probers libblkid reached (read magic or ran), sorted, unique
	# Superblock probers log "[N] NAME:", partition table probers "NAME: ---> call probefunc()".
	tr -d '\r' < "$1" | sed -n -e 's/.*libblkid: LOWPROBE: \[[0-9]*\] \([^ ]*\):$/\1/p' \
		-e 's/.*libblkid: LOWPROBE: \([^ ]*\): ---> call probefunc()$/\1/p' | LC_ALL=C sort -u
}
sc_blkid_probers() {
	local called extra
	boot blkid-probers "$DISK_BASE" "$(good_append) LIBBLKID_DEBUG=lowprobe"
	sc_begin blkid-probers
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	called=$(probers_called "$_sc_log")
	[ -n "$called" ] || _sc_err+="no libblkid debug output (LIBBLKID_DEBUG did not reach /init?); "
	extra=$(grep -vxF -f <(tr ' ' '\n' <<< "$ROOT_FSTYPES") <<< "$called" | tr '\n' ' ')
	[ -z "$extra" ] || _sc_err+="probers outside the root filesystem list ran: $extra; "
	grep -q 'chain safeprobe partitions ENABLED' <(tr -d '\r' < "$_sc_log") && _sc_err+="partition tables were probed for root=LABEL=; "
	sc_end "root=LABEL=: libblkid reached only the root filesystem probers ($(echo $called)), no partition table probing; verified boot"
}
# root=PARTUUID=: partition tables (GPT, MBR) only, then the root filesystem probers on the
# partition found. The GPT disk holds a byte copy of the verified ext4 at 1 MiB.
GPT_PARTUUID=5c7f1e2a-93b4-4d6e-a8f0-1b2c3d4e5f60
sc_blkid_partuuid() {
	local d=$QWORK/disks/hardening-gpt.img size called extra
	size=$(stat -c %s "$DISK_BASE")
	rm -f "$d"
	if ! truncate -s $((size + 2 * 1048576)) "$d" ||
		! sfdisk -q --no-reread --no-tell-kernel "$d" > /dev/null 2>&1 <<< "label: gpt
start=2048, size=$((size / 512)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$GPT_PARTUUID" ||
		! dd if="$DISK_BASE" of="$d" bs=1M seek=1 conv=notrunc,sparse status=none; then
		fail "blkid-partuuid: cannot build the GPT disk (sfdisk, package fdisk)"; return
	fi
	ROOT_ARG="root=PARTUUID=$GPT_PARTUUID" boot blkid-partuuid "$d" "$(good_append) LIBBLKID_DEBUG=lowprobe"
	sc_begin blkid-partuuid
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	called=$(probers_called "$_sc_log")
	[ -n "$called" ] || _sc_err+="no libblkid debug output; "
	extra=$(grep -vxF -f <(tr ' ' '\n' <<< "$ROOT_FSTYPES gpt dos") <<< "$called" | tr '\n' ' ')
	[ -z "$extra" ] || _sc_err+="probers outside GPT, MBR and the root filesystems ran: $extra; "
	sc_end "root=PARTUUID=: libblkid reached only $(echo $called); verified boot from the partition"
}

# ---- 3. root=/dev/vda rootfstype=ext4: libblkid never runs. The same boot shows
# modprobe.blacklist= (loop is not loaded; the 6.12 EROFS mounts from the file itself) and
# kernel.printk_devkmsg back at its default in the booted system.
DEVKMSG=/proc/sys/kernel/printk_devkmsg
LOOP_MAX_PART=/sys/module/loop/parameters/max_part
sc_pinned_root() {
	ROOT_ARG="root=/dev/vda rootfstype=ext4" boot pinned-root "$DISK_BASE" \
		"$(good_append) LIBBLKID_DEBUG=all modprobe.blacklist=dm_mod modprobe.blacklist=loop cfstest.cat=$DEVKMSG cfstest.cat=$LOOP_MAX_PART"
	sc_begin blkid-none pinned-root
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want_not "libblkid:"
	sc_end "root=/dev/vda rootfstype=ext4: libblkid never ran (no debug line with LIBBLKID_DEBUG=all); verified boot"
	sc_begin modprobe-blacklist pinned-root
	want "CFSTEST: init started"
	want "not loading module loop for loop: loop is in modprobe.blacklist="
	want "CFSTEST: cat $LOOP_MAX_PART: ! ENOENT"
	want_not "loop: module loaded"
	sc_end "modprobe.blacklist=dm_mod modprobe.blacklist=loop: 'not loading module loop', /sys/module/loop absent in the booted system, boot verified without it"
	sc_begin printk-devkmsg pinned-root
	want "CFSTEST: init started"
	want "CFSTEST: cat $DEVKMSG: ratelimit"
	sc_end "kernel.printk_devkmsg is 'ratelimit' (the kernel default) again in the booted system"
}

# rootfstype= as a list: xfs has no driver in this initramfs (tried, ENODEV), then ext4.
sc_rootfstype_list() {
	boot rootfstype-list "$DISK_BASE" "$(good_append) rootfstype=xfs,ext4 cfsroot.debug cfstest.cat=/proc/mounts"
	sc_begin rootfstype-list
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "cfsroot: root device /dev/vda is not xfs"
	want "CFSTEST: init started"
	want "CFSTEST: cat /proc/mounts: /dev/vda /sysroot ext4 ro"
	sc_end "rootfstype=xfs,ext4: xfs tried first (no driver here: 'root device /dev/vda is not xfs'), then mounted as ext4, verified boot"
}

# ---- 4. A basedir behind a symlink to a directory whose name holds an ESC sequence and a
# comma (hard links to the verified store's objects, so the boot is verified): the console
# shows the name escaped, mountinfo has no raw ESC, and files still read through it.
ESC=$'\033'
sc_basedir_escape() {
	local d dir rel script
	dir="/cfs/${ESC}[31mred,x"
	d=$(tampered_copy basedir-escape) || { fail "basedir-escape: cannot copy the disk"; return; }
	script="mkdir $dir"$'\n'
	while IFS= read -r rel; do
		rel=${rel#"$QWORK/disktree/cfs/objects/"}
		if [ -d "$QWORK/disktree/cfs/objects/$rel" ]; then script+="mkdir $dir/$rel"$'\n'
		else script+="link /cfs/objects/$rel $dir/$rel"$'\n'; fi
	done < <(find "$QWORK/disktree/cfs/objects" -mindepth 1 | LC_ALL=C sort)
	script+="symlink /cfs/esc $dir"$'\n'
	debugfs -w -f - "$d" > /dev/null 2>&1 <<< "$script"
	# debugfs itself lists the name escaped.
	if ! debugfs -R "ls -l /cfs" "$d" 2>/dev/null | grep -qF '\x1b[31mred,x' ||
		! debugfs -R "stat /cfs/esc" "$d" 2>/dev/null | grep -qF "Fast link dest: \"$dir\""; then
		fail "basedir-escape: debugfs did not create the directory"; return
	fi
	boot basedir-escape "$d" "$(good_append) cfsroot.debug cfsroot.basedir=/cfs/esc cfstest.read=$BIG_FILE cfstest.cat=/proc/self/mountinfo"
	sc_begin basedir-escape
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want "CFSTEST: read $BIG_FILE: OK"
	want 'cfsroot: basedir /cfs/esc is /sysroot/cfs/\x1b[31mred,x on the root device'
	if tr -d '\r' < "$_sc_log" | grep -F 'cfsroot: ' | grep -qF "$ESC"; then _sc_err+="a cfsroot line holds a raw ESC; "; fi
	if tr -d '\r' < "$_sc_log" | grep -F 'CFSTEST: cat /proc/self/mountinfo:' | grep -qF "$ESC"; then
		_sc_err+="mountinfo holds a raw ESC; "
	fi
	sc_end "basedir symlinked to '/cfs/<ESC>[31mred,x': logged as '/sysroot/cfs/\\x1b[31mred,x', no raw ESC in cfsroot's lines or mountinfo, verified boot, $BIG_FILE reads"
}

# ---- 5. root=/dev/sr0: a virtio-scsi CD drive, empty when /init starts; the verified disk
# goes in (QEMU monitor `change`) once the drive is there. cfsroot must wait for the medium
# (rootwait), not refuse the empty drive. Needs an initramfs with virtio_scsi and sr_mod.
sc_late_medium() {
	local log=$QLOGS/hardening-late-medium.log mon=$QWORK/mon-hardening pid catpid iso initrd t0
	initrd=$QWORK/initramfs-6.12-scsi.img
	if [ ! -f "$initrd" ] || [ "$initrd" -ot "$B/cfsroot" ]; then
		"$TOP/initramfs/mkinitramfs.sh" -q -k "$KVER_612" -r "$CACHE/kernels/6.12/root" -i "$B/cfsroot" -o "$initrd" \
			-m "virtio_pci virtio_blk ext4 crc32c_generic crc32c_intel erofs overlay loop virtio_scsi sr_mod" ||
			{ fail "late-medium: cannot build an initramfs with virtio_scsi and sr_mod"; return; }
	fi
	# A CD is read-only: the ext4 on it must need no journal replay.
	iso=$QWORK/disks/hardening-late-medium.img
	cp --sparse=always "$DISK_BASE" "$iso" && e2fsck -fy "$iso" > /dev/null 2>&1
	[ $? -le 1 ] || { fail "late-medium: e2fsck of the medium failed"; return; }
	rm -f "$log" "$mon.in" "$mon.out"
	mkfifo "$mon.in" "$mon.out"
	qemu_boot "$log" "$VMLINUZ_612" "$initrd" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=/dev/sr0 rootwait=90 cfsroot=$IMAGE_PATH $(good_append) cfstest.cat=/proc/mounts" \
		-device virtio-scsi-pci,id=scsi0 -drive if=none,id=cd0,media=cdrom -device scsi-cd,drive=cd0,bus=scsi0.0 \
		-monitor "pipe:$mon" &
	pid=$!
	cat "$mon.out" > /dev/null &
	catpid=$!
	t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$QEMU_TIMEOUT" ]; do
		log_has "$log" "[sr0] scsi3-mmc drive" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	sleep 3
	# Only to a running QEMU: opening the FIFO would block forever without a reader.
	if kill -0 "$pid" 2>/dev/null; then
		timeout 10 bash -c 'printf "change cd0 %s raw\n" "$1" > "$2"' _ "$iso" "$mon.in"
	fi
	wait "$pid"
	rc=$?
	kill "$catpid" 2>/dev/null
	wait "$catpid" 2>/dev/null
	rm -f "$mon.in" "$mon.out"
	sc_begin late-medium
	want_rc "$rc"
	want "[sr0] scsi3-mmc drive"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want "CFSTEST: cat /proc/mounts: /dev/sr0 /sysroot ext4 ro"
	want_not "cfsroot: cannot tell the filesystem type"
	sc_end "root=/dev/sr0 rootwait: the empty CD drive was waited for; medium inserted (monitor 'change') 3 s after the drive appeared; verified boot from it"
}

# ---- 6. A module cfsroot needs is shipped but cannot load: the initramfs's erofs.ko is
# not an ELF file (a copy of the module tree with that one file replaced). The insert
# fails, the console says which feature's module and why, and the EROFS mount that needs
# it fails closed.
sc_module_broken() {
	local root=$QWORK/modroot-broken initrd=$QWORK/initramfs-6.12-broken-erofs.img ko
	rm -rf "$root"
	mkdir -p "$root/lib/modules"
	cp -al "$CACHE/kernels/6.12/root/lib/modules/$KVER_612" "$root/lib/modules/" 2>/dev/null ||
		cp -a "$CACHE/kernels/6.12/root/lib/modules/$KVER_612" "$root/lib/modules/" ||
		{ fail "module-broken: cannot copy the module tree"; return; }
	ko=$(find "$root/lib/modules/$KVER_612/kernel/fs/erofs" -name 'erofs.ko*' | head -1)
	[ -n "$ko" ] || { fail "module-broken: no erofs module in the 6.12 tree (built in?)"; return; }
	# A new file under the old name: the cache's copy (a hard link) stays as it was.
	rm -f "$ko"
	case $ko in
	*.xz) printf 'not an ELF module\n' | xz -C crc32 > "$ko" ;;
	*) printf 'not an ELF module\n' > "$ko" ;;
	esac
	# depmod, indexing the staged tree, complains about the file; the index still lists it.
	"$TOP/initramfs/mkinitramfs.sh" -q -k "$KVER_612" -r "$root" -i "$B/cfsroot" -o "$initrd" 2> "$QLOGS/hardening-module-broken.mkinitramfs.log" ||
		{ fail "module-broken: cannot build the initramfs (see $QLOGS/hardening-module-broken.mkinitramfs.log)"; return; }
	rm -rf "$root"
	local q
	q=$(disk_for module-broken "$DISK_BASE") || { fail "module-broken: cannot make the disk"; return; }
	qemu_boot "$QLOGS/hardening-module-broken.log" "$VMLINUZ_612" "$initrd" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL cfsroot=$IMAGE_PATH $(good_append)" \
		-drive "file=$q,if=virtio,format=qcow2"
	rc=$?
	sc_begin module-broken
	want_rc "$rc"
	want "cfsroot: cannot load the module for erofs: Exec format error"
	want "cfsroot: cannot mount the composefs image as EROFS: "
	want "$policy_line"
	want_not "CFSTEST: init started"
	sc_end "erofs.ko not an ELF file: '$(log_line "$_sc_log" "cfsroot: cannot load the module" | sed 's/^\[ *[0-9.]*\] //')', then the EROFS mount refused and the policy; init never ran"
}

ALL="errors_panic blkid_probers blkid_partuuid pinned_root rootfstype_list basedir_escape late_medium module_broken"

main() {
	local start=$SECONDS r
	qemu_prepare
	r=$?
	if [ $r = 2 ]; then skip "qemu-hardening: $QEMU_REASON"; finish; fi
	if [ $r != 0 ]; then fail "qemu-hardening: preparing the test disk, kernels or initramfs failed"; finish; fi
	if ! log_has "$INSTALL_LOG" "CFSTEST: measure /sysroot$IMAGE_PATH: sha256:$DIGEST"; then
		fail "qemu-hardening: the install boot failed (see $INSTALL_LOG)"; finish
	fi
	local list=${*:-$ALL} res=$QWORK/results-hardening n=0 sc
	rm -rf "$res"; mkdir -p "$res"
	for sc in $list; do
		n=$((n + 1))
		( "sc_${sc//-/_}" ) > "$res/$(printf '%03d' $n)" 2>&1 &
		while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	done
	wait
	cat "$res"/*
	grep -q '^FAIL: ' "$res"/* && _failed=1
	echo "qemu-hardening: $n scenarios in $((SECONDS - start)) s"
	finish
}

main "$@"
