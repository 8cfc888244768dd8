#!/bin/bash
# The dracut QEMU suite: modules.d/90cfsroot in initramfs images built by dracut 059
# (bookworm) and dracut-ng 106 (bookworm-backports), each in the systemd and the shell
# (99base init.sh) flavour, booting the core suite's test disk. Per build: a good digest boots
# the verified root; a wrong digest (cfsroot.on_failure=poweroff) and a tampered image
# (cfsroot.on_failure=reboot) fail closed with cfsroot's message and the policy applied.
# Plus: Debian's 98ostree module in the systemd builds (ostree-prepare-root masked when
# cfsroot owns the boot), a setuid file and a device node planted on the root device refused
# to uid 65534, and a careless hook that ignores cfsroot's exit status, with a wrong digest:
# the new root's init never runs.
# Console logs: $B/test-logs/qemu/dracut-*.log. Boots run one at a time.
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"
. "$TOP/tests/qemu/dracut-lib.sh"

t0=$(date +%s)
qemu_prepare
case $? in
0) ;;
2) skip "dracut: $QEMU_REASON"; finish ;;
*) fail "dracut: preparing the QEMU test disk failed (see $QLOGS)"; finish ;;
esac
dracut_setup
case $? in
0) ;;
2) skip "dracut: $DRACUT_REASON"; finish ;;
*) fail "dracut: cannot set up the private dracut trees in $DWORK"; finish ;;
esac
[ -n "$DRACUT_SKIPPED" ] && skip "dracut: $DRACUT_SKIPPED"

# ---- checking a console log (as in run.sh)
_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/$1.log; _sc_err=''; }
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
want_rc() { if [ "$1" = 124 ]; then _sc_err+="QEMU timed out after ${QEMU_TIMEOUT}s; "; fi; }
sc_end() { if [ -z "$_sc_err" ]; then pass "$_sc_name: $1"; else fail "$_sc_name: ${_sc_err}log: $_sc_log"; fi; }

# dboot NAME INITRD DISK APPEND: one boot of a qcow2 overlay of DISK; sets $rc and $secs.
dboot() {
	local name=$1 initrd=$2 disk=$3 q=$QWORK/disks/$1.qcow2 s
	mkdir -p "$QWORK/disks"
	rm -f "$q"
	overlay_of "$disk" "$q" || { rc=1; return; }
	s=$(date +%s%N)
	qemu_boot "$QLOGS/$name.log" "$VMLINUZ_612" "$initrd" \
		"console=ttyS0 panic=-1 root=LABEL=$LABEL ro rd.shell=0 cfsroot=$IMAGE_PATH $4" -drive "file=$q,if=virtio,format=qcow2"
	rc=$?
	secs=$(( ($(date +%s%N) - s) / 1000000000 ))
	rm -f "$q"
}

# ---- disks: a tampered image, and planted files on the root device
mkdir -p "$QWORK/disks"
flip_byte() { # file, offset
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
DISK_TAMPERED=$QWORK/disks/dracut-tampered.img
cp --sparse=always "$DISK_BASE" "$DISK_TAMPERED"
blk=$(debugfs -R "bmap $IMAGE_PATH 0" "$DISK_TAMPERED" 2>/dev/null | grep -E '^[0-9]+$')
# A byte in the image's first block (padding before the EROFS superblock): the stored Merkle
# tree is unchanged, so the measured digest still matches; reading that block fails.
[ -n "$blk" ] && flip_byte "$DISK_TAMPERED" $((blk * 4096 + 16))
DISK_PLANTED=$QWORK/disks/dracut-planted.img
cp --sparse=always "$DISK_BASE" "$DISK_PLANTED"
# Offline, on the root device (covered by no digest): a setuid-root copy of guest-init and a
# world-readable /dev/zero node.
debugfs -w -f - "$DISK_PLANTED" > "$QLOGS/dracut-planted-debugfs.log" 2>&1 <<EOF
write $QWORK/guest-init planted-suid
sif planted-suid uid 0
sif planted-suid gid 0
sif planted-suid mode 0104755
mknod planted-zero c 1 5
sif planted-zero mode 020666
EOF
planted_ok=1
debugfs -R "stat planted-suid" "$DISK_PLANTED" 2>/dev/null | grep -q 'Mode:  04755' || planted_ok=0
debugfs -R "stat planted-zero" "$DISK_PLANTED" 2>/dev/null | grep -q 'Type: character special' || planted_ok=0

wrong=$(printf '%s' "$DIGEST" | tr '0-9a-f' '1-9a-f0')
good="cfsroot.digest=sha256:$DIGEST cfstest.sha256=$BIG_FILE"

for v in $DRACUT_VERSIONS; do
	for f in systemd shell; do
		# DRACUT_ONLY="059-systemd 106-shell careless": a part of the matrix, for development.
		[ -n "${DRACUT_ONLY:-}" ] && [[ " $DRACUT_ONLY " != *" $v-$f "* ]] && continue
		n=dracut-$v-$f
		img=$DWORK/$n.img
		s=$(date +%s)
		if ! dracut_build "$v" "$f" "$img"; then
			fail "$n: dracut failed (see $img.log)"
			continue
		fi
		build_secs=$(( $(date +%s) - s ))
		# The module's parts for this flavour, and Debian's ostree module next to it.
		list=$(lsinitrd "$img" 2>/dev/null)
		sc_begin "$n-build"
		for p in usr/bin/cfsroot erofs.ko overlay.ko loop.ko crc32c; do
			grep -qF "$p" <<< "$list" || _sc_err+="no $p in the initramfs; "
		done
		if [ $f = systemd ]; then
			grep -qF 'initrd-root-fs.target.wants/cfsroot-prepare.service' <<< "$list" || _sc_err+="no cfsroot-prepare.service wants link; "
			grep -qF 'system-generators/cfsroot-generator' <<< "$list" || _sc_err+="no cfsroot-generator; "
			grep -qF 'ostree-prepare-root.service' <<< "$list" || _sc_err+="no ostree-prepare-root.service (98ostree); "
			grep -qF -e 'hooks/pre-pivot/05-cfsroot-prepare.sh' -e 'hooks/mount/99-cfsroot-mount.sh' <<< "$list" &&
				_sc_err+="a shell-flavour hook in a systemd build; "
		else
			grep -qF 'hooks/pre-pivot/05-cfsroot-prepare.sh' <<< "$list" || _sc_err+="no pre-pivot hook; "
			grep -qF 'hooks/mount/99-cfsroot-mount.sh' <<< "$list" || _sc_err+="no mount hook; "
		fi
		sc_end "dracut $v built the $f initramfs in ${build_secs}s with cfsroot, erofs, overlay, loop, crc32c$([ $f = systemd ] && echo ', the unit, the generator and 98ostree' || echo ' and the mount and pre-pivot hooks')"

		# good digest: the verified root boots. The systemd builds also show that the
		# generator masked ostree-prepare-root; 106 boots a disk with planted files.
		extra=$good disk=$DISK_BASE
		# "ostree" satisfies ostree-prepare-root's ConditionKernelCommandLine=ostree: only
		# the generator's mask keeps it from running.
		[ $f = systemd ] && extra+=" ostree"
		if [ $v = 106 ] && [ $f = systemd ] && [ $planted_ok = 1 ]; then
			disk=$DISK_PLANTED
			extra+=" cfstest.nobody=/sysroot/planted-suid cfstest.devread=/sysroot/planted-zero"
		fi
		dboot "$n-good" "$img" "$disk" "$extra cfsroot.on_failure=poweroff"
		sc_begin "$n-good"
		want_rc "$rc"
		want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
		want "cfsroot: prepared the verified root at /sysroot"
		want "CFSTEST: init started"
		want "CFSTEST: mount /: overlay ro"
		want "CFSTEST: mount /sysroot: ext4 ro"
		want "CFSTEST: sha256 $BIG_FILE: $BIG_SHA256"
		want_not "boot failed"
		what="verified root booted in ${secs}s ($f init: cfsroot prepare, then the new root's /sbin/init)"
		if [ $f = systemd ]; then
			want "cfsroot-generator: cfsroot owns this boot (cfsroot=$IMAGE_PATH): ostree-prepare-root.service masked"
			want_not "OSTree Prepare"
			what+="; with 'ostree' on the command line, 98ostree's ostree-prepare-root masked by our generator, never started"
		fi
		if [ "$disk" = "$DISK_PLANTED" ]; then
			want "ids: uid=65534 euid=65534"
			want "CFSTEST: devread /sysroot/planted-zero as uid 65534: EACCES"
			what+="; planted setuid-root binary ran with euid 65534, planted /dev/zero node refused (EACCES)"
		fi
		sc_end "$what"

		dboot "$n-wrong-digest" "$img" "$DISK_BASE" "cfsroot.digest=sha256:$wrong cfsroot.on_failure=poweroff"
		sc_begin "$n-wrong-digest"
		want_rc "$rc"
		want "cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$wrong, got sha256:$DIGEST"
		want "cfsroot: /sysroot is not bootable: root device detached, an empty read-only tmpfs mounted in its place"
		want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
		want "reboot: Power down"
		want_not "CFSTEST: init started"
		sc_end "digest mismatch on the console, /sysroot covered, powered off in ${secs}s, init never ran"

		dboot "$n-tampered" "$img" "$DISK_TAMPERED" "cfsroot.digest=sha256:$DIGEST cfsroot.on_failure=reboot"
		sc_begin "$n-tampered"
		want_rc "$rc"
		want "FILE CORRUPTED"
		want "cfsroot: cannot mount the composefs image as EROFS"
		want "cfsroot: /sysroot is not bootable: root device detached, an empty read-only tmpfs mounted in its place"
		want "cfsroot: boot failed; rebooting (cfsroot.on_failure=reboot)"
		want "reboot: Restarting system"
		want_not "CFSTEST: init started"
		sc_end "tampered image: fs-verity 'FILE CORRUPTED', cfsroot refused, /sysroot covered, rebooted in ${secs}s, init never ran"
	done
done

# A careless caller: a mount hook that runs cfsroot without --apply-policy and ignores its
# exit status (and no pre-pivot backstop), then lets dracut go on; with a wrong digest.
# /sysroot is covered and the root device detached, so whatever dracut does next (it
# unmounts what it finds, mounts the device again, finds no usable root, gives up), the new
# root's init never runs.
v=${DRACUT_VERSIONS# }
v=${v%% *}
n=dracut-$v-shell-careless
if [ -n "${DRACUT_ONLY:-}" ] && [[ " $DRACUT_ONLY " != *" careless "* ]]; then
	:
elif dracut_tree "$v" "$DWORK/careless-$v" \
	'ismounted "$NEWROOT" || . "$hookdir/mount/99-mount-root.sh"; /usr/bin/cfsroot prepare "$NEWROOT" || :' ':' &&
	dracut_build "$v" shell "$DWORK/$n.img" "$DWORK/careless-$v"; then
	QEMU_TIMEOUT=${QEMU_CARELESS_TIMEOUT:-90} dboot "$n" "$DWORK/$n.img" "$DISK_BASE" "cfsroot.digest=sha256:$wrong cfsroot.on_failure=poweroff"
	sc_begin "$n"
	want "cfsroot: digest mismatch for $IMAGE_PATH"
	want "cfsroot: /sysroot is not bootable: root device detached, an empty read-only tmpfs mounted in its place"
	want_not "CFSTEST: init started"
	want_not "boot failed; powering off"
	sc_end "hook ignoring the exit status, wrong digest: /sysroot covered, the new root's init never ran (dracut then: '$(tr -d '\r' < "$_sc_log" | grep -F 'dracut Warning: ' | sed 's/^\[ *[0-9.]*\] //' | uniq | head -n3 | tr '\n' ' ' | cut -c1-200)')"
else
	fail "$n: dracut failed (see $DWORK/$n.img.log)"
fi

echo "dracut suite: $(( $(date +%s) - t0 ))s"
finish
