#!/bin/bash
# QEMU suite for ostree deployments booted verified (issue 6), with the real ostree CLI:
#  a. bookworm's ostree on the host builds a sysroot (init, commit of the test OS carrying the
#     test kernel, admin init-fs / os-init / deploy of two commits and a second deployment of
#     the first), mkcfs --ostree-deployment writes each deployment's .ostree.cfs, an install boot enables
#     fs-verity, and every boot uses the kernel arguments of the boot loader entry ostree
#     wrote (its ostree=) plus cfsroot.digest=. Checks: / is the verified overlay, /etc is the
#     deployment's and writable (persists across a reboot; not in transient mode), /var is
#     the stateroot's, /sysroot read-only, a tampered object gives EIO, a wrong digest,
#     ostree= with cfsroot=, and the digest of two deployments are refused; rollback to the
#     first commit by its digest; boot by digest alone (cfsroot.ostree, the UKI case).
#  b. a Debian trixie OS (tests/qemu/trixie-os.sh, cached) made ostree-ready, committed,
#     deployed and booted verified to systemd's default target: trixie's ostree inside marks
#     the booted deployment in `ostree admin status`, systemd is not degraded by cfsroot,
#     and the boot phases are timed; with a swtpm attached, trixie's systemd-pcrlock inside
#     lists cfsroot's PCR 15 record and replays PCR 15 to the TPM's value.
# Console logs: $B/test-logs/qemu/ostree-*.log. Usage: tests/qemu/suite-ostree.sh [a] [b]
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"
. "$TOP/tests/qemu/trixie-os.sh"

SUITE_START=$(date +%s)
PARTS=${*:-a b}
OLABEL=cfsroot-ostree
OS_NAME=cfstest
OW=$QWORK/ostree
# ostree seals deployment directories immutable: lift the seal when the suite ends, so that
# its work tree (and the build directory, and the clone) can always be removed.
trap '[ -d "$OW" ] && find "$OW" -type d -exec chattr -i {} + 2>/dev/null' EXIT
BIG=/usr/share/cfstest/big.bin

# ---- checking a console log (the same shape as run.sh)
_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/ostree-$1.log; _sc_err=''; }
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
want_re() { [ -f "$_sc_log" ] && tr -d '\r' < "$_sc_log" | grep -qE -- "$1" || _sc_err+="missing /$1/; "; }
want_rc() { if [ "$1" = 124 ]; then _sc_err+="QEMU timed out after ${QEMU_TIMEOUT}s; "; fi; }
sc_end() { if [ -z "$_sc_err" ]; then pass "ostree-$_sc_name: $1"; else fail "ostree-$_sc_name: ${_sc_err}log: $_sc_log"; fi; }

# oboot NAME DISK APPEND [QEMU-ARG...]: one boot of a qcow2 disk, console to ostree-NAME.log; sets $rc.
oboot() {
	qemu_boot "$QLOGS/ostree-$1.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff $3" -drive "file=$2,if=virtio,format=qcow2" "${@:4}"
	rc=$?
}
fresh_disk() { # name -> a new qcow2 overlay over the verified base disk
	local q=$OW/disks/$1.qcow2
	mkdir -p "$OW/disks"; rm -f "$q"
	overlay_of "${2:-$ODISK}" "$q" && echo "$q"
}

# The `options` line of the boot loader entry whose ostree= leads to deployment DEPLOY_NAME
# (CHECKSUM.SERIAL), from the entries ostree wrote into the sysroot.
bls_options() { # sysroot, deployment name
	local e opts arg
	for e in "$1"/boot/loader/entries/*.conf; do
		opts=$(sed -n 's/^options[ \t]*//p' "$e")
		arg=$(tr ' ' '\n' <<< "$opts" | sed -n 's/^ostree=//p')
		[ -n "$arg" ] || continue
		if [ "$(basename "$(readlink -f "$1$arg")")" = "$2" ]; then echo "$opts"; return 0; fi
	done
	return 1
}

# ---- part a: the test OS through bookworm's ostree
prepare_a() {
	local os1=$OW/os1 os2=$OW/os2 repo=$OW/build-repo sr=$OW/sysroot out d
	command -v ostree >/dev/null || { A_REASON="the ostree CLI is not installed (package ostree)"; return 2; }
	# mkcfs --ostree-deployment restores ostree's immutable seal on deployment directories.
	[ -d "$OW" ] && find "$OW" -type d -exec chattr -i {} + 2>/dev/null
	rm -rf "$OW"; mkdir -p "$OW"

	# Two commits of the test OS, ostree-ready: /etc in /usr/etc, the kernel in
	# /usr/lib/modules/KVER, /ostree pointing into the physical root as ostree expects.
	for d in "$os1" "$os2"; do
		build_os_tree "$d" || return 1
		mkdir -p "$d/usr/lib/modules/$KVER_612" "$d/usr/lib" "$d/var" &&
		cp "$VMLINUZ_612" "$d/usr/lib/modules/$KVER_612/vmlinuz" &&
		mv "$d/etc" "$d/usr/etc" &&
		cp "$d/usr/etc/os-release" "$d/usr/lib/os-release" &&
		ln -s sysroot/ostree "$d/ostree" || return 1
	done
	cp "$os1$BIG" "$os2$BIG" # one content: the two commits share big.bin's object
	echo 1 > "$os1/usr/share/cfstest/commit"
	echo 2 > "$os2/usr/share/cfstest/commit"
	echo "from usr/etc of commit 2" > "$os2/usr/etc/cfstest-etc"

	ostree init --repo="$repo" --mode=bare > "$QLOGS/ostree-build.log" 2>&1 || return 1
	C1=$(ostree commit --repo="$repo" --branch="$OS_NAME/1" --subject=one --tree=dir="$os1" 2>>"$QLOGS/ostree-build.log") || return 1
	C2=$(ostree commit --repo="$repo" --branch="$OS_NAME/2" --subject=two --tree=dir="$os2" 2>>"$QLOGS/ostree-build.log") || return 1
	{
		mkdir -p "$sr" && ostree admin init-fs "$sr" &&
		ostree admin os-init --sysroot="$sr" "$OS_NAME" &&
		ostree --repo="$sr/ostree/repo" pull-local "$repo" "$OS_NAME/1" "$OS_NAME/2" &&
		# Deployments A (commit 1), B (commit 2), then A' (commit 1 again): the digest of
		# commit 1 then names two deployments.
		ostree admin deploy --sysroot="$sr" --os="$OS_NAME" --karg="root=LABEL=$OLABEL" --karg=rw "$OS_NAME/1" &&
		ostree admin deploy --sysroot="$sr" --os="$OS_NAME" --retain "$OS_NAME/2" &&
		ostree admin deploy --sysroot="$sr" --os="$OS_NAME" --retain "$OS_NAME/1"
	} >> "$QLOGS/ostree-build.log" 2>&1 || { echo "ostree: building the sysroot failed (see $QLOGS/ostree-build.log)" >&2; return 1; }

	# Deployments are CHECKSUM.SERIAL, serials counted per commit: A is commit 1's .0.
	local deps; deps=$(ls "$sr/ostree/deploy/$OS_NAME/deploy" | grep -v '\.origin$' | sort)
	[ "$(grep -c "^$C1\." <<< "$deps")" = 2 ] && [ "$(grep -c "^$C2\." <<< "$deps")" = 1 ] ||
		{ echo "ostree: unexpected deployments: $deps" >&2; return 1; }
	DEP_B=$(grep "^$C2\." <<< "$deps")
	DEP_A=$(grep "^$C1\." <<< "$deps" | head -n1)
	DEP_A2=$(grep "^$C1\." <<< "$deps" | tail -n1)

	# The images: mkcfs's deployment install writes <deployment>/.ostree.cfs (lifting and
	# restoring ostree's immutable seal) and prints the kernel arguments that pin it.
	for d in "$DEP_A" "$DEP_A2" "$DEP_B"; do
		out=$("$B/mkcfs" --ostree-deployment "$sr/ostree/deploy/$OS_NAME/deploy/$d" 2>&1) ||
			{ echo "ostree: mkcfs --ostree-deployment for $d failed: $out" >&2; return 1; }
		case $d in "$DEP_B") D2=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1) ;; *) D1=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1) ;; esac
	done
	[ -n "${D1:-}" ] && [ -n "${D2:-}" ] && [ "$D1" != "$D2" ] || { echo "ostree: no digests from mkcfs" >&2; return 1; }
	# The stateroot's /var carries a marker, so the guest can tell it is that /var.
	echo "stateroot var of $OS_NAME" > "$sr/ostree/deploy/$OS_NAME/var/cfstest-var"

	OPTS_A=$(bls_options "$sr" "$DEP_A") && OPTS_A2=$(bls_options "$sr" "$DEP_A2") && OPTS_B=$(bls_options "$sr" "$DEP_B") ||
		{ echo "ostree: no boot loader entry for each deployment in $sr/boot/loader/entries" >&2; return 1; }
	BIG_OBJ_O=$(find_object "$sr/ostree/repo/objects" "$os1$BIG" "$sr") || { echo "ostree: no object for $BIG" >&2; return 1; }

	# The disk, straight from the sysroot (mkfs -d keeps owners, modes, xattrs, hard links).
	local plain=$OW/disk-noverity.img
	ODISK=$OW/disk-base.img
	mkfs.ext4 -q -F -b 4096 -O verity -L "$OLABEL" -d "$sr" "$plain" 160M > /dev/null || return 1
	cp --sparse=always "$plain" "$ODISK"
	# The install boot: cfsroot's plain mode, unverified on purpose, the physical root rw, and
	# the guest enabling fs-verity on the repository's objects and the three images.
	qemu_boot "$QLOGS/ostree-install.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$OLABEL rw cfsroot=/ostree/deploy/$OS_NAME/deploy/$DEP_B/.ostree.cfs cfsroot.basedir=/ostree/repo/objects cfsroot.verity_check=0 cfstest.verity-enable=/sysroot/ostree/repo/objects cfstest.verity-enable=/sysroot/ostree/deploy/$OS_NAME/deploy/$DEP_A/.ostree.cfs cfstest.verity-enable=/sysroot/ostree/deploy/$OS_NAME/deploy/$DEP_A2/.ostree.cfs cfstest.verity-enable=/sysroot/ostree/deploy/$OS_NAME/deploy/$DEP_B/.ostree.cfs" \
		-drive "file=$ODISK,if=virtio,format=raw"
	return 0
}

run_a() {
	local q dep_b_path=/ostree/deploy/$OS_NAME/deploy/$DEP_B

	sc_begin install
	want "CFSTEST: install: fs-verity enabled on"
	want_re "CFSTEST: install: fs-verity enabled on [0-9]+ files, 0 failures"
	want_not "failures, [1-9]"
	sc_end "the install boot enabled fs-verity on the repository objects and the three .ostree.cfs"
	if ! log_has "$QLOGS/ostree-install.log" ", 0 failures"; then
		fail "ostree: the install boot failed; the remaining part a scenarios cannot run"
		return
	fi

	# 1. The BLS entry of deployment B plus its digest: verified root, the deployment's /etc
	#    writable, the stateroot's /var, /sysroot read-only; a marker in /etc for the reboot.
	q=$(fresh_disk persist)
	oboot good "$q" "$OPTS_B cfsroot.digest=sha256:$D2 cfstest.cat=/proc/self/mountinfo cfstest.sha256=$BIG cfstest.cat=/usr/share/cfstest/commit cfstest.cat=/etc/cfstest-etc cfstest.cat=/var/cfstest-var cfstest.write=/etc/cfstest-persist cfstest.write=/sysroot/cfstest-x cfstest.write=/usr/cfstest-x"
	sc_begin good
	want_rc "$rc"
	want "cfsroot: verified $dep_b_path/.ostree.cfs (sha256:$D2)"
	want "cfsroot: ostree deployment $dep_b_path: /etc persistent, /var from /ostree/deploy/$OS_NAME/var, /sysroot read-only"
	want "CFSTEST: mount /: overlay ro"
	want "CFSTEST: mount /sysroot: ext4 ro"
	want_re "CFSTEST: cat /proc/self/mountinfo: .* $dep_b_path/etc /etc rw,"
	want_re "CFSTEST: cat /proc/self/mountinfo: .* /ostree/deploy/$OS_NAME/var /var rw,"
	want_re "CFSTEST: cat /proc/self/mountinfo: .* /boot /boot rw,"
	want "CFSTEST: sha256 $BIG: $(sha256sum < "$OW/os1$BIG" | cut -d' ' -f1)"
	want "CFSTEST: cat /usr/share/cfstest/commit: 2"
	want "CFSTEST: cat /etc/cfstest-etc: from usr/etc of commit 2"
	want "CFSTEST: cat /var/cfstest-var: stateroot var of $OS_NAME"
	want "CFSTEST: write /etc/cfstest-persist: OK"
	want "CFSTEST: write /sysroot/cfstest-x: EROFS"
	want "CFSTEST: write /usr/cfstest-x: EROFS"
	sc_end "boot loader entry of B + digest: verified overlay /, /etc = B's etc (rw), /var = stateroot var, /boot = the root device's, /sysroot ro, image read-only"

	oboot persist "$q" "$OPTS_B cfsroot.digest=sha256:$D2 cfstest.cat=/etc/cfstest-persist"
	sc_begin persist
	want_rc "$rc"
	want "CFSTEST: cat /etc/cfstest-persist: written by guest-init"
	sc_end "a file written to /etc is there after a reboot"

	# 2. Transient /etc: writable, from the image's /usr/etc, gone at the next boot.
	q=$(fresh_disk transient)
	oboot transient "$q" "$OPTS_B cfsroot.digest=sha256:$D2 cfsroot.etc=transient cfstest.cat=/proc/self/mountinfo cfstest.cat=/etc/cfstest-etc cfstest.write=/etc/cfstest-transient"
	sc_begin transient
	want_rc "$rc"
	want "cfsroot: ostree deployment $dep_b_path: /etc transient (lost at reboot)"
	want_re "CFSTEST: cat /proc/self/mountinfo: .* /etc rw,.* - overlay transient-etc "
	want "CFSTEST: cat /etc/cfstest-etc: from usr/etc of commit 2"
	want "CFSTEST: write /etc/cfstest-transient: OK"
	sc_end "cfsroot.etc=transient: /etc is an overlay of the image's /usr/etc on tmpfs, writable"
	oboot transient-reboot "$q" "$OPTS_B cfsroot.digest=sha256:$D2 cfsroot.etc=transient cfstest.cat=/etc/cfstest-transient"
	sc_begin transient-reboot
	want_rc "$rc"
	want "CFSTEST: cat /etc/cfstest-transient: ! ENOENT"
	sc_end "cfsroot.etc=transient: the file written to /etc is gone after a reboot"

	# 3. Rollback: the boot loader entry of commit 1's deployment A with commit 1's digest.
	q=$(fresh_disk rollback)
	oboot rollback "$q" "$OPTS_A cfsroot.digest=sha256:$D1 cfstest.cat=/usr/share/cfstest/commit cfstest.cat=/etc/cfstest-etc"
	sc_begin rollback
	want_rc "$rc"
	want "cfsroot: verified /ostree/deploy/$OS_NAME/deploy/$DEP_A/.ostree.cfs (sha256:$D1)"
	want "CFSTEST: cat /usr/share/cfstest/commit: 1"
	want "CFSTEST: cat /etc/cfstest-etc: ! ENOENT"
	sc_end "back into commit 1 (deployment $DEP_A) by its entry and digest"

	# 4. The UKI case: digest alone, no ostree=.
	q=$(fresh_disk digest-only)
	oboot digest-only "$q" "root=LABEL=$OLABEL cfsroot.ostree cfsroot.digest=sha256:$D2 cfstest.cat=/usr/share/cfstest/commit cfstest.cat=/proc/self/mountinfo"
	sc_begin digest-only
	want_rc "$rc"
	want "cfsroot: found deployment $dep_b_path by its digest (3 images measured)"
	want "CFSTEST: cat /usr/share/cfstest/commit: 2"
	want_re "CFSTEST: cat /proc/self/mountinfo: .* $dep_b_path/etc /etc rw,"
	sc_end "cfsroot.ostree + digest, no ostree=: the one deployment whose image has the digest"

	# 5. Refusals.
	q=$(fresh_disk duplicate)
	oboot duplicate "$q" "root=LABEL=$OLABEL cfsroot.ostree cfsroot.digest=sha256:$D1"
	sc_begin duplicate
	want_rc "$rc"
	want_re "cfsroot: 2 deployments have digest sha256:$D1: /ostree/deploy/$OS_NAME/deploy/$C1\.[0-9], /ostree/deploy/$OS_NAME/deploy/$C1\.[0-9]; one digest must pin one deployment"
	want "cfsroot: boot failed; powering off"
	want_not "CFSTEST: init started"
	sc_end "digest alone naming two deployments of one commit: refused, both named"

	q=$(fresh_disk wrong-digest)
	oboot wrong-digest "$q" "$OPTS_B cfsroot.digest=sha256:$D1"
	sc_begin wrong-digest
	want_rc "$rc"
	want "cfsroot: digest mismatch for $dep_b_path/.ostree.cfs: expected sha256:$D1, got sha256:$D2"
	want_not "CFSTEST: init started"
	sc_end "ostree= of B with commit 1's digest: refused (the named deployment must have the digest)"

	q=$(fresh_disk two-images)
	oboot two-images "$q" "$OPTS_B cfsroot=/ostree/deploy/$OS_NAME/deploy/$DEP_B/.ostree.cfs cfsroot.digest=sha256:$D2"
	sc_begin two-images
	want_rc "$rc"
	want "cfsroot: ostree= and cfsroot=/ostree/deploy/$OS_NAME/deploy/$DEP_B/.ostree.cfs both name the image to boot: give one of them"
	want_not "CFSTEST: init started"
	sc_end "ostree= with cfsroot=PATH: refused"

	# 6. An object of the repository changed offline: EIO on read, through the deployment.
	local raw=$OW/disks/tampered.img blk
	cp --sparse=always "$ODISK" "$raw"
	blk=$(debugfs -R "bmap $BIG_OBJ_O 0" "$raw" 2>/dev/null | grep -E '^[0-9]+$')
	if [ -z "$blk" ]; then fail "ostree-tampered: cannot locate $BIG_OBJ_O on the disk"; else
		local off=$((blk * 4096 + 100)) b
		b=$(od -An -tu1 -j "$off" -N1 "$raw" | tr -d ' ')
		printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$raw" bs=1 seek="$off" conv=notrunc status=none
		q=$(fresh_disk tampered "$raw")
		oboot tampered "$q" "$OPTS_B cfsroot.digest=sha256:$D2 cfstest.read=$BIG cfstest.read=/usr/share/cfstest/small.txt"
		sc_begin tampered
		want_rc "$rc"
		want "CFSTEST: read $BIG: EIO"
		want "CFSTEST: read /usr/share/cfstest/small.txt: OK"
		sc_end "a repository object changed offline: reading its file gives EIO, others read fine"
	fi
}

# ---- part b: a Debian trixie OS through trixie's own ostree inside
TLABEL=cfsroot-trixie
T_OS=debian

# The check the booted trixie system runs once systemd has finished starting: everything
# goes to the console as CFSTEST lines, then the machine powers off.
write_trixie_check() { # tree
	mkdir -p "$1/usr/libexec" "$1/usr/lib/systemd/system" "$1/usr/etc/systemd/system/multi-user.target.wants"
	cat > "$1/usr/libexec/cfstest-check" <<'EOS'
#!/bin/sh
# cfsroot test: report the booted ostree system on the console, then power off.
exec > /dev/console 2>&1
say() { echo "CFSTEST: $*"; }
prefix() { while IFS= read -r l; do say "$1: $l"; done; }
say "check started"
state=$(systemctl is-system-running --wait 2>&1)
say "system state: $state"
systemctl --failed --no-legend --plain 2>&1 | prefix "failed unit"
ostree admin status 2>&1 | prefix "ostree admin status"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS / 2>&1 | prefix "findmnt"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /etc 2>&1 | prefix "findmnt"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /var 2>&1 | prefix "findmnt"
findmnt -n -o TARGET,SOURCE,FSTYPE,OPTIONS /sysroot 2>&1 | prefix "findmnt"
systemd-analyze 2>&1 | prefix "systemd-analyze"
systemd-analyze blame 2>&1 | head -n 8 | prefix "systemd-analyze blame"
# systemd's own reading of the measured boot (when the machine has a TPM): pcrlock's replay of
# PCR 15 from the event logs against the TPM; then the same without the userspace log (the
# negative control: cfsroot's record gone, the replay must stop matching).
if [ -e /dev/tpmrm0 ]; then
	t0=$(date +%s%N)
	/usr/lib/systemd/systemd-pcrlock log --no-pager 2>&1 | prefix "pcrlock"
	/usr/lib/systemd/systemd-pcrlock log --json=short 2> /dev/null | prefix "pcrlock json"
	SYSTEMD_MEASURE_LOG_USERSPACE=/dev/null /usr/lib/systemd/systemd-pcrlock log --json=short 2> /dev/null | prefix "pcrlock nolog json"
	say "pcrlock: the three runs took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
fi
say "check done"
systemctl poweroff
EOS
	chmod 0755 "$1/usr/libexec/cfstest-check"
	cat > "$1/usr/lib/systemd/system/cfstest-check.service" <<'EOS'
[Unit]
Description=cfsroot test: report the booted ostree system, then power off
After=multi-user.target

[Service]
# simple, not oneshot: the boot must be able to finish while this waits for it.
Type=simple
ExecStart=/usr/libexec/cfstest-check

[Install]
WantedBy=multi-user.target
EOS
	ln -sf /usr/lib/systemd/system/cfstest-check.service "$1/usr/etc/systemd/system/multi-user.target.wants/cfstest-check.service"
}

prepare_b() {
	local rootfs t=$OW/trixie sr=$OW/trixie-sysroot out plain
	command -v ostree >/dev/null || { B_REASON="the ostree CLI is not installed (package ostree)"; return 2; }
	command -v debootstrap >/dev/null || { B_REASON="debootstrap is not installed"; return 2; }
	rootfs=$(trixie_os_build "$CACHE") || { B_REASON="cannot build the trixie OS (tests/qemu/trixie-os.sh)"; return 2; }
	[ -d "$sr" ] && find "$sr" -type d -exec chattr -i {} + 2>/dev/null
	rm -rf "$t" "$sr"; mkdir -p "$OW"
	# Hard-linked copy of the cached tree: only renames and new files below, never an
	# in-place edit, so the cache stays as debootstrap made it.
	cp -al "$rootfs" "$t" &&
	mv "$t/etc" "$t/usr/etc" &&
	rm -rf "$t/dev" "$t/var" && mkdir "$t/dev" "$t/var" "$t/sysroot" &&
	ln -s sysroot/ostree "$t/ostree" &&
	mkdir -p "$t/usr/lib/modules" &&
	cp -a "$CACHE/kernels/6.12/root/lib/modules/$KVER_612" "$t/usr/lib/modules/" &&
	cp "$VMLINUZ_612" "$t/usr/lib/modules/$KVER_612/vmlinuz" &&
	# The product and the test init for the install boot (fs-verity on every object).
	cp "$B/cfsroot" "$t/usr/bin/cfsroot" &&
	mkdir -p "$t/usr/libexec" &&
	cp "$QWORK/guest-init" "$t/usr/libexec/cfstest-init" &&
	write_trixie_check "$t" || return 1
	# systemd dlopens tpm2-tss, which the minimal trixie OS lacks: the host's (tpm2-tools'
	# dependency) serves systemd-pcrlock in the guest. New files only, as above.
	T_TSS=''
	if ls /usr/lib/x86_64-linux-gnu/libtss2-{esys.so.0,mu.so.0,rc.so.0,sys.so.1,tctildr.so.0,tcti-device.so.0} > /dev/null 2>&1; then
		cp -n /usr/lib/x86_64-linux-gnu/libtss2-{esys,mu,rc,tctildr,tcti-device}.so.0* /usr/lib/x86_64-linux-gnu/libtss2-sys.so.1* \
			"$t/usr/lib/x86_64-linux-gnu/" && T_TSS=1 || return 1
	fi

	mkdir -p "$sr"
	{
		ostree admin init-fs "$sr" &&
		ostree admin os-init --sysroot="$sr" "$T_OS" &&
		TC=$(ostree --repo="$sr/ostree/repo" commit --branch="$T_OS/trixie" --subject="trixie for cfsroot" --tree=dir="$t") &&
		ostree admin deploy --sysroot="$sr" --os="$T_OS" --karg="root=LABEL=$TLABEL" --karg=console=ttyS0 "$T_OS/trixie"
	} > "$QLOGS/ostree-trixie-build.log" 2>&1 || { echo "ostree: building the trixie sysroot failed (see $QLOGS/ostree-trixie-build.log)" >&2; return 1; }
	TC=$(ostree --repo="$sr/ostree/repo" rev-parse "$T_OS/trixie") || return 1
	T_DEP=$TC.0
	# The stateroot's /var starts as the OS's own /var (ostree leaves /var to the OS).
	cp -a "$rootfs/var/." "$sr/ostree/deploy/$T_OS/var/" || return 1
	out=$("$B/mkcfs" --ostree-deployment "$sr/ostree/deploy/$T_OS/deploy/$T_DEP" 2>&1) ||
		{ echo "ostree: mkcfs --ostree-deployment for the trixie deployment failed: $out" >&2; return 1; }
	TD=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1)
	T_OPTS=$(bls_options "$sr" "$T_DEP") || { echo "ostree: no boot loader entry for $T_DEP" >&2; return 1; }

	plain=$OW/trixie-noverity.img
	TDISK=$OW/trixie-base.img
	mkfs.ext4 -q -F -b 4096 -O verity -L "$TLABEL" -d "$sr" "$plain" 1200M > /dev/null || return 1
	mv "$plain" "$TDISK"
	local img=/ostree/deploy/$T_OS/deploy/$T_DEP/.ostree.cfs
	QEMU_TIMEOUT=900 qemu_boot "$QLOGS/ostree-trixie-install.log" "$VMLINUZ_612" "$INITRD_612" 		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$TLABEL rw cfsroot=$img cfsroot.basedir=/ostree/repo/objects cfsroot.verity_check=0 init=/usr/libexec/cfstest-init cfstest.verity-enable=/sysroot/ostree/repo/objects cfstest.verity-enable=/sysroot$img" 		-drive "file=$TDISK,if=virtio,format=raw"
	return 0
}

# pcrlock_check JSON STRING [absent]: does systemd-pcrlock's `log --json=short` list the one
# event of STRING on PCR 15 (system-identity, its sha256) and replay PCR 15 to the TPM's
# value, which is also the host's prediction? With "absent": no such event, and pcrlock
# reports that PCR 15 does not match its log.
pcrlock_check() {
	python3 - "$@" <<'EOF'
import hashlib, json, re, sys
# systemd 257 C-escapes the raw firmware event tags in "description" (\244, \a), which is not
# JSON: keep such a backslash as a literal one, and every valid JSON escape as it is.
j = json.loads(re.sub(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])|\\', lambda m: m.group(0) if m.group(1) else "\\\\", sys.argv[1]))
s = sys.argv[2]
recs = [r for r in j["log"] if r.get("description") == s]
p = [p for p in j["pcrs"] if p["pcr"] == 15][0]
if len(sys.argv) > 3: # the negative control: what pcrlock says of PCR 15 without the record
    assert len(recs) == 0 and p["hashMatchesEventLog"] is False, p
    sys.exit(0)
assert len(recs) == 1, "records of %s: %d; pcrlock's PCR 15 events: %s" % (s, len(recs), [r.get("description") for r in j["log"] if r["pcr"] == 15])
r = recs[0]
assert r["pcr"] == 15 and r["pcrname"] == "system-identity", r
assert r["sha256"] == hashlib.sha256(s.encode()).hexdigest(), r
assert p["hashMatchesEventLog"] is True, p
assert p["calculatedSHA256"] == p["observedSHA256"], p
# and the host's own prediction from the digest alone (PCR 15 fresh before cfsroot)
assert p["observedSHA256"] == hashlib.sha256(bytes(32) + hashlib.sha256(s.encode()).digest()).hexdigest(), p
print(p["observedSHA256"])
EOF
}

# systemd-pcrlock, run by the check service in the booted trixie with swtpm attached, lists
# cfsroot's record from /run/log/systemd/tpm2-measure.log and replays PCR 15 to the TPM's
# value; without the userspace log (SYSTEMD_MEASURE_LOG_USERSPACE=/dev/null), the same check
# fails: it is the record cfsroot wrote that makes it pass.
trixie_pcrlock() {
	local s="cfsroot:sha256:$TD" j jn out
	sc_begin trixie
	j=$(tr -d '\r' < "$_sc_log" | grep -a -F 'CFSTEST: pcrlock json: {' | head -n1 | sed 's/.*CFSTEST: pcrlock json: //')
	jn=$(tr -d '\r' < "$_sc_log" | grep -a -F 'CFSTEST: pcrlock nolog json: {' | head -n1 | sed 's/.*CFSTEST: pcrlock nolog json: //')
	want "cfsroot: measured $s into PCR 15"
	if ! out=$(pcrlock_check "$j" "$s" 2>&1); then _sc_err+="pcrlock check: $(tail -n1 <<< "$out"); "
	elif [ -z "$jn" ]; then _sc_err+="no pcrlock output without the userspace log; "
	elif pcrlock_check "$jn" "$s" > /dev/null 2>&1; then _sc_err+="the check also passed without the userspace log; "
	elif ! pcrlock_check "$jn" "$s" absent > /dev/null 2>&1; then _sc_err+="without the userspace log, pcrlock did not report PCR 15 as unmatched; "; fi
	_sc_name=trixie-pcrlock
	sc_end "in the booted trixie, systemd-pcrlock log lists cfsroot's record (PCR 15 system-identity, '$s') and replays PCR 15 to the TPM's $out (the host's prediction); without the userspace log the same check fails and pcrlock reports PCR 15 unmatched"
	# pcrlock's table, PCR 15 only (the firmware's event tags print raw bytes).
	tr -d '\r' < "$_sc_log" | grep -a -E 'CFSTEST: pcrlock: +(PCR +PCRNAME| *15 |the three runs)' | sed 's/^\[ *[0-9.]*\] //; s/^/  trixie: /'
}

run_b() {
	local q
	sc_begin trixie-install
	want_re "CFSTEST: install: fs-verity enabled on [0-9]+ files, 0 failures"
	sc_end "the install boot enabled fs-verity on every object of the trixie commit and its .ostree.cfs"
	log_has "$QLOGS/ostree-trixie-install.log" ", 0 failures" || { fail "ostree-trixie: the install boot failed; cannot boot trixie"; return; }

	q=$(fresh_disk trixie "$TDISK")
	# With a software TPM when there is one: the same boot then also shows systemd-pcrlock
	# in the booted system reading cfsroot's measurement (trixie_pcrlock below).
	local targs='' sw=$OW/swtpm
	if [ -n "$T_TSS" ] && command -v swtpm > /dev/null; then
		rm -rf "$sw"; mkdir -p "$sw"
		if swtpm socket --tpm2 --tpmstate dir="$sw" --ctrl type=unixio,path="$sw/sock" \
			--pid file="$sw/pid" --log file="$sw/log" --daemon; then
			for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$sw/sock" ] && break; sleep 0.2; done
			targs="-chardev socket,id=chrtpm,path=$sw/sock -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0"
		fi
	fi
	# OSTREE_PCRLOCK_SELFTEST_OFF=1 (manual): the negative control of the whole pcrlock
	# scenario, a boot where cfsroot measures nothing; ostree-trixie-pcrlock must then fail.
	# shellcheck disable=SC2086
	QEMU_TIMEOUT=600 oboot trixie "$q" "$T_OPTS cfsroot.digest=sha256:$TD${OSTREE_PCRLOCK_SELFTEST_OFF:+ cfsroot.pcr=off}" $targs
	[ -f "$sw/pid" ] && kill "$(cat "$sw/pid")" 2> /dev/null
	sc_begin trixie
	want_rc "$rc"
	want "cfsroot: verified /ostree/deploy/$T_OS/deploy/$T_DEP/.ostree.cfs (sha256:$TD)"
	want "CFSTEST: check done"
	want_re "CFSTEST: ostree admin status: \* $T_OS $TC\.0"
	want "CFSTEST: system state: running"
	want_re "CFSTEST: findmnt: / +composefs overlay ro"
	want_re "CFSTEST: findmnt: /sysroot .* ext4 +ro"
	sc_end "trixie booted verified to systemd's default target: ostree admin status marks the booted deployment, systemd running"
	if [ -n "$targs" ]; then trixie_pcrlock; else
		skip "ostree-trixie-pcrlock: no swtpm or no host tpm2-tss libraries (packages swtpm, tpm2-tools)"; fi
	# The boot phases, as the console showed them.
	tr -d '\r' < "$_sc_log" | grep -a -E 'cfsroot: timing:|CFSTEST: (systemd-analyze|system state|failed unit)' | sed 's/^\[ *[0-9.]*\] //; s/^/  trixie: /'
}

r=0
qemu_prepare || r=$?
if [ $r = 2 ]; then skip "ostree: $QEMU_REASON"; finish; fi
if [ $r != 0 ]; then fail "ostree: preparing the QEMU test environment failed"; finish; fi

for part in $PARTS; do
	t0=$(date +%s)
	case $part in
	a)
		A_REASON=''
		prepare_a; r=$?
		if [ $r = 2 ]; then skip "ostree part a: $A_REASON"
		elif [ $r != 0 ]; then fail "ostree part a: preparing the ostree sysroot and disk failed (see $QLOGS/ostree-build.log)"
		else run_a; fi ;;
	b)
		B_REASON=''
		prepare_b; r=$?
		if [ $r = 2 ]; then skip "ostree part b: $B_REASON"
		elif [ $r != 0 ]; then fail "ostree part b: preparing the trixie OS failed"
		else run_b; fi ;;
	*) fail "ostree: unknown part '$part' (a or b)" ;;
	esac
	echo "ostree part $part took $(( $(date +%s) - t0 ))s"
done
echo "suite-ostree took $(( $(date +%s) - SUITE_START ))s"
finish
