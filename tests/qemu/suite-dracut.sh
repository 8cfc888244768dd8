#!/bin/bash
# The dracut QEMU suite: modules.d/90cfsroot in initramfs images built by dracut 059
# (bookworm) and dracut-ng 106 (bookworm-backports), each in the systemd and the shell
# (99base init.sh) flavour, booting the core suite's test disk. Per build: a good digest boots
# the verified root; a wrong digest (cfsroot.on_failure=poweroff) and a tampered image
# (cfsroot.on_failure=reboot) fail closed with cfsroot's message and the policy applied.
# Plus: Debian's 98ostree module in the systemd builds (ostree-prepare-root masked when
# cfsroot owns the boot), a setuid file and a device node planted on the root device refused
# to uid 65534, and a careless hook that ignores cfsroot's exit status, with a wrong digest:
# the new root's init never runs. The default policy (halt) stays halted. And the realistic
# OS (Debian trixie with its own dracut) booted verified, plain and as an ostree deployment.
# Console logs: $B/test-logs/qemu/dracut-*.log. Boots run one at a time.
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"
. "$TOP/tests/qemu/dracut-lib.sh"
. "$TOP/tests/qemu/trixie-os.sh"
# trixie-os.sh sets -e and pipefail for itself; this suite checks statuses one by one, and
# with pipefail `tr < log | grep -q` fails whenever grep stops reading early (SIGPIPE).
set +e +o pipefail
. "$TOP/tests/qemu/trixie-dracut.sh"

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
# DBOOT_BASE replaces "root=LABEL=... ro cfsroot=IMAGE" (an ostree boot has its own).
dboot() {
	local name=$1 initrd=$2 disk=$3 q=$QWORK/disks/$1.qcow2 s
	mkdir -p "$QWORK/disks"
	rm -f "$q"
	overlay_of "$disk" "$q" || { rc=1; return; }
	s=$(date +%s%N)
	qemu_boot "$QLOGS/$name.log" "$VMLINUZ_612" "$initrd" \
		"console=ttyS0 panic=-1 ${DBOOT_BASE-root=LABEL=$LABEL ro cfsroot=$IMAGE_PATH} rd.shell=0 $4" -drive "file=$q,if=virtio,format=qcow2"
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

# The default policy, halt, in the systemd flavour: the machine must stay halted. QEMU does not
# end on a halt, so the boot runs in the background until the kernel reports the halt, then
# 5 s more to see that nothing follows, and is stopped.
v=${DRACUT_VERSIONS##* }
n=dracut-$v-systemd-halt
if [ -n "${DRACUT_ONLY:-}" ] && [[ " $DRACUT_ONLY " != *" halt "* ]]; then
	:
elif [ -f "$DWORK/dracut-$v-systemd.img" ] || dracut_build "$v" systemd "$DWORK/dracut-$v-systemd.img"; then
	q=$QWORK/disks/$n.qcow2
	rm -f "$q"
	overlay_of "$DISK_BASE" "$q"
	log=$QLOGS/$n.log
	QEMU_TIMEOUT=${QEMU_HALT_TIMEOUT:-180} qemu_boot "$log" "$VMLINUZ_612" "$DWORK/dracut-$v-systemd.img" \
		"console=ttyS0 panic=-1 root=LABEL=$LABEL ro rd.shell=0 cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$wrong" \
		-drive "file=$q,if=virtio,format=qcow2" &
	bg=$!
	halted=''
	for _ in $(seq 1 "${QEMU_HALT_TIMEOUT:-180}"); do
		if log_has "$log" "reboot: System halted"; then halted=1; break; fi
		kill -0 "$bg" 2>/dev/null || break
		sleep 1
	done
	[ -n "$halted" ] && sleep 5
	still_running=''
	kill -0 "$bg" 2>/dev/null && still_running=1
	# Stop the timeout(1) that qemu_boot runs (it passes the signal on to QEMU).
	for p in $(pgrep -P "$bg"); do kill "$p" 2>/dev/null; done
	wait "$bg" 2>/dev/null
	rm -f "$q"
	sc_begin "$n"
	want "cfsroot: digest mismatch for $IMAGE_PATH"
	want "cfsroot: boot failed; halting (cfsroot.on_failure=halt)"
	want "reboot: System halted"
	want_not "CFSTEST: init started"
	[ -n "$still_running" ] || _sc_err+="QEMU ended by itself: the machine did not stay halted; "
	after=$(tr -d '\r' < "$log" | sed -n '/reboot: System halted/,$p' | sed 1d | grep -v '^qemu-system-x86_64: terminating on signal' | grep -c .)
	[ "$after" = 0 ] || _sc_err+="$after console lines after the halt; "
	sc_end "default policy: wrong digest, 'boot failed; halting', the kernel halted, nothing ran for 5 s after, QEMU still up"
else
	fail "$n: dracut failed"
fi

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

# ---- The realistic OS: Debian trixie with its own dracut (106). cfsroot goes in with
# `make install DESTDIR= PREFIX=/usr`, dracut runs inside it (a chroot, as a kernel hook would)
# with --add cfsroot, the tree becomes a composefs image on a disk (plain layout), an install
# boot enables fs-verity, and the verified boot goes through the systemd flavour to systemd's
# default target, where a unit reports and powers off.
write_check_unit() { # tree
	mkdir -p "$1/usr/libexec" "$1/etc/systemd/system/multi-user.target.wants"
	cat > "$1/usr/libexec/cfstest-check" <<'EOS'
#!/bin/sh
# cfsroot test: report the booted system on the console, then power off.
exec > /dev/console 2>&1
say() { echo "CFSTEST: $*"; }
prefix() { while IFS= read -r l; do say "$1: $l"; done; }
say "check started"
state=$(systemctl is-system-running --wait 2>&1)
say "system state: $state"
systemctl --failed --no-legend --plain 2>&1 | prefix "failed unit"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS / 2>&1 | prefix "findmnt"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /sysroot 2>&1 | prefix "findmnt"
journalctl -b -o cat -u cfsroot-prepare.service 2>&1 | grep cfsroot: | prefix "journal"
systemd-analyze 2>&1 | prefix "systemd-analyze"
say "check done"
systemctl poweroff
EOS
	chmod 0755 "$1/usr/libexec/cfstest-check"
	cat > "$1/etc/systemd/system/cfstest-check.service" <<'EOS'
[Unit]
Description=cfsroot test: report the booted system, then power off
After=multi-user.target

[Service]
Type=simple
ExecStart=/usr/libexec/cfstest-check

[Install]
WantedBy=multi-user.target
EOS
	ln -sf /etc/systemd/system/cfstest-check.service "$1/etc/systemd/system/multi-user.target.wants/cfstest-check.service"
}

trixie_dracut_part() {
	local rootfs t=$DWORK/trixie-os d=$DWORK/trixie-disk img=$DWORK/trixie-disk.img out digest q k
	rootfs=$(trixie_dracut_build "$CACHE" 2> "$QLOGS/dracut-trixie-build.log") ||
		{ skip "dracut-trixie: cannot build the trixie OS with dracut (see $QLOGS/dracut-trixie-build.log)"; return; }
	rm -rf "$t" "$d"
	# Hard-linked copy: below, only new files and renames, never an in-place edit.
	cp -al "$rootfs" "$t" || { fail "dracut-trixie: cannot copy the trixie tree"; return; }
	if ! make -s -C "$TOP" B="$B" CACHE="$CACHE" DESTDIR="$t" PREFIX=/usr install > "$QLOGS/dracut-trixie-install.log" 2>&1; then
		fail "dracut-trixie: make install DESTDIR=$t PREFIX=/usr failed (see $QLOGS/dracut-trixie-install.log)"
		return
	fi
	mkdir -p "$t/usr/lib/modules" "$t/sysroot"
	cp -a "$CACHE/kernels/6.12/root/lib/modules/$KVER_612" "$t/usr/lib/modules/"
	# The install boot's init (guest-init) runs the product as /usr/bin/cfsroot.
	mkdir -p "$t/usr/libexec"
	cp "$QWORK/guest-init" "$t/usr/libexec/cfstest-init"
	ln -s ../sbin/cfsroot "$t/usr/bin/cfsroot"
	write_check_unit "$t"
	k=$(date +%s)
	if ! chroot_run "$t" dracut --force --no-hostonly --no-hostonly-cmdline --add cfsroot --kver "$KVER_612" \
		"/boot/initrd.img-$KVER_612" > "$QLOGS/dracut-trixie-dracut.log" 2>&1; then
		fail "dracut-trixie: dracut --add cfsroot inside the trixie OS failed (see $QLOGS/dracut-trixie-dracut.log)"
		return
	fi
	k=$(( $(date +%s) - k ))
	local list
	list=$(lsinitrd "$t/boot/initrd.img-$KVER_612" 2>/dev/null)
	sc_begin dracut-trixie-initramfs
	grep -qF 'usr/bin/cfsroot' <<< "$list" || _sc_err+="no usr/bin/cfsroot; "
	grep -qF 'initrd-root-fs.target.wants/cfsroot-prepare.service' <<< "$list" || _sc_err+="no cfsroot-prepare.service; "
	grep -qF 'erofs.ko' <<< "$list" || _sc_err+="no erofs.ko; "
	sc_end "make install DESTDIR=... PREFIX=/usr into trixie, then dracut $(sed -n 's/^DRACUT_VERSION=//p' "$t/usr/lib/dracut/dracut-version.sh") inside it (chroot) --add cfsroot: systemd initramfs with cfsroot, its unit and erofs in ${k}s"

	# The disk: the whole tree as a composefs image and object store (plain layout).
	mkdir -p "$d/cfs/images"
	out=$("$B/mkcfs" --store "$d/cfs/objects" --print-digest "$t" "$d$IMAGE_PATH" 2>&1) ||
		{ fail "dracut-trixie: mkcfs failed: $out"; return; }
	digest=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1)
	rm -f "$img"
	mkfs.ext4 -q -F -b 4096 -O verity -L "$LABEL" -d "$d" "$img" 1500M > /dev/null ||
		{ fail "dracut-trixie: mkfs.ext4 failed"; return; }
	rm -rf "$d"
	QEMU_TIMEOUT=900 qemu_boot "$QLOGS/dracut-trixie-install.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL rw cfsroot=$IMAGE_PATH cfsroot.verity_check=0 init=/usr/libexec/cfstest-init cfstest.install" \
		-drive "file=$img,if=virtio,format=raw"
	if ! log_has "$QLOGS/dracut-trixie-install.log" ", 0 failures"; then
		fail "dracut-trixie: the install boot did not enable fs-verity everywhere (see $QLOGS/dracut-trixie-install.log)"
		return
	fi
	QEMU_TIMEOUT=900 dboot dracut-trixie "$t/boot/initrd.img-$KVER_612" "$img" \
		"cfsroot.digest=sha256:$digest cfsroot.on_failure=poweroff"
	sc_begin dracut-trixie
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$digest)"
	want "cfsroot: prepared the verified root at /sysroot"
	want "CFSTEST: check done"
	want_not "boot failed"
	if ! tr -d '\r' < "$_sc_log" | grep -qE 'CFSTEST: findmnt: / +composefs overlay ro.*verity=require'; then
		_sc_err+="/ is not the verity=require composefs overlay; "
	fi
	want "cfsroot-generator: cfsroot owns this boot"
	local state
	state=$(tr -d '\r' < "$_sc_log" | grep -oE 'CFSTEST: system state: [a-z-]+' | head -n1 | sed 's/.*: //')
	case $state in running | degraded) ;; *) _sc_err+="system state '$state'; " ;; esac
	sc_end "trixie booted verified through its own dracut initramfs (systemd flavour) to the default target in ${secs}s: system state '$state', / composefs overlay verity=require$(tr -d '\r' < "$_sc_log" | sed -n 's/.*CFSTEST: failed unit: \([^ ]*\).*/\1/p' | tr '\n' ' ' | sed 's/^./; failed units: &/')"
	tr -d '\r' < "$_sc_log" | grep -E 'CFSTEST: (systemd-analyze|system state|failed unit|findmnt)' | sed 's/^.*CFSTEST: /  trixie: /'
}
if [ -z "${DRACUT_ONLY:-}" ] || [[ " $DRACUT_ONLY " == *" trixie "* ]]; then
	trixie_dracut_part
fi

# ---- The same trixie tree as an ostree deployment (trixie's ostree commits and deploys it,
# with the dracut initramfs built inside it as the deployment's initramfs), booted with the
# arguments of ostree's boot loader entry plus cfsroot.digest= through that initramfs.
# Needs the plain part's tree ($DWORK/trixie-os).
bls_options() { # sysroot, deployment name -> the options line of its boot loader entry
	local e opts arg
	for e in "$1"/boot/loader/entries/*.conf; do
		opts=$(sed -n 's/^options[ \t]*//p' "$e")
		arg=$(tr ' ' '\n' <<< "$opts" | sed -n 's/^ostree=//p')
		[ -n "$arg" ] || continue
		if [ "$(basename "$(readlink -f "$1$arg")")" = "$2" ]; then echo "$opts"; return 0; fi
	done
	return 1
}
trixie_ostree_part() {
	local t=$DWORK/trixie-os o=$DWORK/trixie-ostree sr=$DWORK/trixie-sysroot img=$DWORK/trixie-ostree.img
	local tc dep out td opts cfs
	command -v ostree >/dev/null || { skip "dracut-trixie-ostree: the ostree CLI is not installed"; return; }
	[ -f "$t/boot/initrd.img-$KVER_612" ] || { skip "dracut-trixie-ostree: the plain trixie part did not build its initramfs"; return; }
	[ -d "$sr" ] && find "$sr" -type d -exec chattr -i {} + 2>/dev/null
	rm -rf "$o" "$sr"
	cp -al "$t" "$o" || { fail "dracut-trixie-ostree: cannot copy the tree"; return; }
	# ostree's layout: /etc as /usr/etc, empty /var and /dev, /ostree -> sysroot/ostree; the
	# kernel and the dracut initramfs where ostree deploy takes them from.
	mv "$o/etc" "$o/usr/etc"
	rm -rf "$o/dev" "$o/var" "$o/boot" && mkdir "$o/dev" "$o/var" "$o/boot"
	ln -s sysroot/ostree "$o/ostree"
	cp "$VMLINUZ_612" "$o/usr/lib/modules/$KVER_612/vmlinuz"
	cp "$t/boot/initrd.img-$KVER_612" "$o/usr/lib/modules/$KVER_612/initramfs.img"
	mkdir -p "$sr"
	{
		ostree admin init-fs "$sr" &&
			ostree admin os-init --sysroot="$sr" debian &&
			ostree --repo="$sr/ostree/repo" commit --branch=debian/trixie --subject="trixie, dracut --add cfsroot" --tree=dir="$o" &&
			ostree admin deploy --sysroot="$sr" --os=debian --karg="root=LABEL=$LABEL" --karg=console=ttyS0 debian/trixie
	} > "$QLOGS/dracut-trixie-ostree-build.log" 2>&1 || { fail "dracut-trixie-ostree: ostree commit/deploy failed (see $QLOGS/dracut-trixie-ostree-build.log)"; return; }
	tc=$(ostree --repo="$sr/ostree/repo" rev-parse debian/trixie) || { fail "dracut-trixie-ostree: no commit"; return; }
	dep=$tc.0
	cp -a "$t/var/." "$sr/ostree/deploy/debian/var/"
	chattr -i "$sr/ostree/deploy/debian/deploy/$dep" 2>/dev/null
	cfs=/ostree/deploy/debian/deploy/$dep/.ostree.cfs
	out=$("$B/mkcfs" --print-digest --ostree "$sr/ostree/repo" "$tc" "$sr$cfs" 2>&1) ||
		{ fail "dracut-trixie-ostree: mkcfs --ostree failed: $out"; return; }
	td=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1)
	opts=$(bls_options "$sr" "$dep") || { fail "dracut-trixie-ostree: no boot loader entry for $dep"; return; }
	local initrd
	initrd=$(ls "$sr"/boot/ostree/debian-*/initramfs-* 2>/dev/null | head -n1)
	[ -n "$initrd" ] || { fail "dracut-trixie-ostree: ostree deploy did not install the dracut initramfs into /boot"; return; }
	rm -f "$img"
	mkfs.ext4 -q -F -b 4096 -O verity -L "$LABEL" -d "$sr" "$img" 1500M > /dev/null || { fail "dracut-trixie-ostree: mkfs.ext4 failed"; return; }
	QEMU_TIMEOUT=900 qemu_boot "$QLOGS/dracut-trixie-ostree-install.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL rw cfsroot=$cfs cfsroot.basedir=/ostree/repo/objects cfsroot.verity_check=0 init=/usr/libexec/cfstest-init cfstest.verity-enable=/sysroot/ostree/repo/objects cfstest.verity-enable=/sysroot$cfs" \
		-drive "file=$img,if=virtio,format=raw"
	if ! log_has "$QLOGS/dracut-trixie-ostree-install.log" ", 0 failures"; then
		fail "dracut-trixie-ostree: the install boot did not enable fs-verity everywhere (see $QLOGS/dracut-trixie-ostree-install.log)"
		return
	fi
	# The initramfs ostree put into /boot for this deployment; the entry's own arguments.
	DBOOT_BASE='' QEMU_TIMEOUT=900 dboot dracut-trixie-ostree "$initrd" "$img" "$opts rw cfsroot.digest=sha256:$td cfsroot.on_failure=poweroff"
	sc_begin dracut-trixie-ostree
	want_rc "$rc"
	want "cfsroot: verified $cfs (sha256:$td)"
	want "cfsroot: prepared the verified root at /sysroot"
	want "CFSTEST: check done"
	want_not "boot failed"
	want_not "OSTree Prepare"
	if ! tr -d '\r' < "$_sc_log" | grep -qE 'CFSTEST: findmnt: / +composefs overlay ro.*verity=require'; then
		_sc_err+="/ is not the verity=require composefs overlay; "
	fi
	want "cfsroot-generator: cfsroot owns this boot"
	local state
	state=$(tr -d '\r' < "$_sc_log" | grep -oE 'CFSTEST: system state: [a-z-]+' | head -n1 | sed 's/.*: //')
	case $state in running | degraded) ;; *) _sc_err+="system state '$state'; " ;; esac
	sc_end "trixie as an ostree deployment booted verified through the dracut initramfs ostree deployed (its BLS arguments + cfsroot.digest=) to the default target in ${secs}s: system state '$state'$(tr -d '\r' < "$_sc_log" | sed -n 's/.*CFSTEST: failed unit: \([^ ]*\).*/\1/p' | tr '\n' ' ' | sed 's/^./; failed units: &/')"
	tr -d '\r' < "$_sc_log" | grep -E 'CFSTEST: (systemd-analyze|system state|failed unit|findmnt)' | sed 's/^.*CFSTEST: /  trixie-ostree: /'
}
if [ -z "${DRACUT_ONLY:-}" ] || [[ " $DRACUT_ONLY " == *" trixie "* ]] || [[ " $DRACUT_ONLY " == *" trixie-ostree "* ]]; then
	trixie_ostree_part
fi

echo "dracut suite: $(( $(date +%s) - t0 ))s"
finish
