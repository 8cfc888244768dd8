#!/bin/bash
# The QEMU boot suite: boots the real static cfsroot in a real kernel (Debian's 6.12, and 6.1
# to prove the refusal where overlayfs cannot enforce verity) against an ext4 test disk holding
# a composefs image and its object store, and checks the console for the exact lines of
# cfsroot's message catalogue. One PASS/FAIL line per scenario; each names the line expected.
# Console logs: $B/test-logs/qemu/<scenario>.log. Boots run 2 at a time (QEMU_JOBS).
#
# Usage: tests/qemu/run.sh [SCENARIO...]   (default: all; names as in the list at the end)
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

JOBS=${QEMU_JOBS:-2}

# ---- checking a console log
_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/$1.log; _sc_err=''; }
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
want_rc() { # rc: QEMU must have ended by itself (power-off), not by the harness's timeout
	if [ "$1" = 124 ]; then _sc_err+="QEMU timed out after ${QEMU_TIMEOUT}s; "; fi
}
sc_end() {
	if [ -z "$_sc_err" ]; then pass "$_sc_name: $1"; else fail "$_sc_name: ${_sc_err}log: $_sc_log"; fi
}

# The cfsroot line that explains a refusal: the last one before the failure-policy line
# (libkmod's chatter skipped), without the kernel timestamp.
refusal_reason() {
	tr -d '\r' < "$1" | grep -F 'cfsroot: ' | grep -vF -e 'cfsroot: libkmod:' -e 'Command line' -e 'command line:' |
		sed -n '/cfsroot: boot failed; /q; p' | tail -n1 | sed 's/^\[ *[0-9.]*\] //'
}

# A per-scenario writable view of a raw disk.
disk_for() { # scenario, raw base -> prints the qcow2 path
	local q=$QWORK/disks/$1.qcow2
	mkdir -p "$QWORK/disks"
	rm -f "$q"
	overlay_of "$2" "$q" && echo "$q"
}
drive() { echo "file=$1,if=virtio,format=${2:-qcow2}"; }

# boot SCENARIO DISK APPEND-EXTRA [KERNEL INITRD]: a boot of the test disk with the default
# append line (failure policy poweroff first, so even a parse error knows it) plus EXTRA.
# ROOT_ARG replaces root=LABEL=... (so that no other root= can satisfy the boot), IMAGE_ARG
# replaces cfsroot=IMAGE. Sets $rc.
boot() {
	local name=$1 disk=$2 extra=$3 kernel=${4:-$VMLINUZ_612} initrd=${5:-$INITRD_612} q
	q=$(disk_for "$name" "$disk") || { rc=1; return; }
	qemu_boot "$QLOGS/$name.log" "$kernel" "$initrd" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff ${ROOT_ARG-root=LABEL=$LABEL} ${IMAGE_ARG-cfsroot=$IMAGE_PATH} $extra" \
		-drive "$(drive "$q")"
	rc=$?
}

# A boot that cfsroot must refuse with EXPECTED (a catalogue line), power off, and never run
# the new root's init.
refused() { # scenario, disk, extra append, expected line, [kernel initrd]
	local name=$1 disk=$2 extra=$3 expected=$4
	boot "$name" "$disk" "$extra" "${5:-$VMLINUZ_612}" "${6:-$INITRD_612}"
	sc_begin "$name"
	want_rc "$rc"
	want "$expected"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	sc_end "refused with '$expected'"
}

good_append() { echo "cfsroot.digest=sha256:$DIGEST"; }

# ---- offline tampering (host side, on raw copies of the verified disk)
inode_of() { debugfs -R "stat $2" "$1" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
first_block() { debugfs -R "bmap $2 0" "$1" 2>/dev/null | grep -E '^[0-9]+$'; }
# The physical block of the file's last logical block: ext4 keeps the fs-verity descriptor there
# (past EOF, after the Merkle tree).
last_block() {
	debugfs -R "ex $2" "$1" 2>/dev/null | awk '
		$1 ~ /^[0-9]+\/$/ || $1 ~ /^[0-9]+\/[0-9]+$/ {
			# "Level Entries Logical Physical Length": logical "a - b", physical "c - d"
			line = $0; gsub(/ *- */, "-", line); n = split(line, f, /[ \t]+/)
			for (i = 1; i <= n; i++) if (f[i] ~ /^[0-9]+-[0-9]+$/) { if (!lg) { lg = f[i] } else if (!ph) { ph = f[i] } }
			split(lg, l, "-"); split(ph, p, "-")
			if (l[2] + 0 >= best) { best = l[2] + 0; phys = p[2] + 0 }
			lg = ""; ph = ""
		}
		END { if (phys) print phys }'
}
flip_byte() { # disk, byte offset
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
tampered_copy() { # name -> prints path of a fresh raw copy of the verified disk
	local d=$QWORK/disks/$1.img
	mkdir -p "$QWORK/disks"
	cp --sparse=always "$DISK_BASE" "$d" && echo "$d"
}

# ---- scenarios
sc_install() { # (already booted by qemu_prepare)
	sc_begin install
	want "cfsroot: booting UNVERIFIED root"
	want "CFSTEST: init started"
	want "CFSTEST: mount /sysroot: ext4 rw"
	want ", 0 failures"
	want "CFSTEST: measure /sysroot$IMAGE_PATH: sha256:$DIGEST"
	log_has "$_sc_log" "CFSTEST: install: fs-verity enabled on 0 files" && _sc_err+="no file got fs-verity; "
	# fs-verity was enabled by the product (`cfsroot verity enable`, every run exit 0);
	# guest-init's own measurement of each file counted the successes above.
	local runs
	runs=$(log_line "$_sc_log" "CFSTEST: install: enabled with /usr/bin/cfsroot verity enable: " |
		sed -n 's/.*: \([0-9]*\) runs, \([0-9]*\) exited 0$/\1 \2/p')
	if [ -z "$runs" ] || [ "${runs% *}" = 0 ] || [ "${runs% *}" != "${runs#* }" ]; then
		_sc_err+="'cfsroot verity enable' did not run, or did not exit 0 every time ('${runs:-no summary line}'); "
	fi
	sc_end "unverified install boot (verity_check=0) warned; the product's '/usr/bin/cfsroot verity enable' (${runs% *} run(s), all exit 0) enabled fs-verity on the store and image in the guest; the guest kernel measures the image as mkcfs's digest sha256:$DIGEST"
}

check_initramfs() {
	# The archive the boots use: /init static, /dev/console made in the archive, the mount
	# points, modules with indexes, nothing else (no shell); under 3 MB; byte-identical when
	# rebuilt (gzip here, to keep the check quick).
	local list err='' size extra a b
	list=$(xz -dc "$INITRD_612" | cpio -itv --quiet 2>/dev/null) || err+="cannot list the archive; "
	grep -qE '^-rwxr-xr-x .* init$' <<< "$list" || err+="no executable /init; "
	grep -qE '^crw------- .* 5, +1 .* dev/console$' <<< "$list" || err+="no /dev/console (char 5,1); "
	for a in proc sys dev run sysroot; do grep -qE "^d.* $a\$" <<< "$list" || err+="no /$a; "; done
	for a in virtio_blk ext4 erofs overlay loop crc32c_generic jbd2; do
		grep -qE "/$a\.ko\$" <<< "$list" || err+="no $a.ko; "
	done
	grep -qE "/modules\.dep\.bin\$" <<< "$list" || err+="no modules.dep.bin; "
	extra=$(awk '{print $NF}' <<< "$list" | grep -vE '^(init|dev|dev/console|proc|sys|run|sysroot|lib|lib/modules|lib/modules/[^/]+|lib/modules/[^/]+/modules\.[a-z.]+|lib/modules/[^/]+/kernel(/.*)?)$')
	[ -z "$extra" ] && err+='' || err+="unexpected files: $(echo $extra); "
	size=$(stat -c %s "$INITRD_612")
	[ "$size" -lt 3145728 ] || err+="$size bytes, not under 3 MB; "
	mkdir -p "$QWORK/repro"
	"$TOP/initramfs/mkinitramfs.sh" -q -c gzip -k "$KVER_612" -r "$CACHE/kernels/6.12/root" -i "$B/cfsroot" -o "$QWORK/repro/a.img" &&
		"$TOP/initramfs/mkinitramfs.sh" -q -c gzip -k "$KVER_612" -r "$CACHE/kernels/6.12/root" -i "$B/cfsroot" -o "$QWORK/repro/b.img" &&
		cmp -s "$QWORK/repro/a.img" "$QWORK/repro/b.img" || err+="two builds differ; "
	if [ -z "$err" ]; then
		pass "initramfs: static /init, /dev/console 5,1, mount points, $(grep -c '\.ko$' <<< "$list") modules + indexes, nothing else; $size bytes xz (< 3 MB); reproducible"
	else
		fail "initramfs: $err($INITRD_612)"
	fi
}

sc_good() {
	boot good "$DISK_BASE" "$(good_append) cfstest.sha256=$BIG_FILE cfstest.read=$OSREL_FILE cfstest.cat=$LOOP_MAX_PART"
	sc_begin good
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "cfsroot: switching root to /sysroot... exec /sbin/init"
	want "cfsroot: timing: start="
	want "CFSTEST: init started (pid 1)"
	want "CFSTEST: mount /: overlay ro"
	want "CFSTEST: mount /sysroot: ext4 ro"
	want "CFSTEST: sysroot: cfs lost+found"
	want "CFSTEST: sha256 $BIG_FILE: $BIG_SHA256"
	want "CFSTEST: read $OSREL_FILE: OK"
	want "CFSTEST: cat $LOOP_MAX_PART: 0"  # the default, so that module-param's 7 means something
	want_not "cfsroot: booting UNVERIFIED"
	want_not "FILE CORRUPTED"
	sc_end "verified boot: 'cfsroot: verified $IMAGE_PATH (sha256:…)', init ran from the overlay root, physical root ro at /sysroot, $BIG_FILE reads back with its source SHA-256; loop's max_part is its default 0"
}

sc_guest_mkcfs() {
	# The product's success paths that need a kernel with fs-verity (the host has none): on
	# the verified root (physical root rw), the guest's static mkcfs builds an image and a
	# new store from /usr (cfsroot, mkcfs, /usr/share/cfstest) with --enable-verity, which
	# also compares the kernel's measurement of the image with its own digest; `cfsroot
	# verity measure` then reports the kernel's digests. The host builds the same tree with
	# its own mkcfs: same image digest, same object names; each object's measured digest is
	# its name. And `cfsroot verity measure` on an object without fs-verity (/cfs/plain)
	# says so and exits 1.
	local src=/usr plain host guest measured hex path rel n=0 line
	local pre='CFSTEST: mkcfs: cfsroot verity measure: '
	plain=/sysroot/cfs/plain${BIG_OBJ#/cfs/objects}
	boot guest-mkcfs "$DISK_BASE" "$(good_append) rw cfstest.mkcfs=$src cfstest.cfsmeasure=$plain"
	sc_begin guest-mkcfs
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: mount /sysroot: ext4 rw"
	want "CFSTEST: mkcfs: exit 0"
	want "${pre}exit 0"
	rm -rf "$QWORK/g-store" "$QWORK/g.cfs"
	host=$("$B/mkcfs" --store "$QWORK/g-store" --print-digest "$QWORK/os$src" "$QWORK/g.cfs" | grep -oE '^[0-9a-f]{64}$')
	guest=$(tr -d '\r' < "$_sc_log" | sed -n 's/.*CFSTEST: mkcfs: \([0-9a-f]\{64\}\)$/\1/p' | head -n1)
	measured=$(tr -d '\r' < "$_sc_log" | sed -n "s|.*${pre}sha256:\\([0-9a-f]\\{64\\}\\) /sysroot/cfs/images/g.cfs\$|\\1|p" | head -n1)
	[ -n "$host" ] || _sc_err+="the host's mkcfs printed no digest; "
	[ -n "$guest" ] || _sc_err+="the guest's mkcfs printed no digest; "
	[ -n "$measured" ] || _sc_err+="'cfsroot verity measure' printed no digest for g.cfs; "
	[ "$guest" = "$measured" ] || _sc_err+="mkcfs printed $guest, the kernel measures g.cfs as $measured; "
	[ "$guest" = "$host" ] || _sc_err+="the guest's mkcfs made $guest, the host's $host for the same tree; "
	# Objects: measured digest = file name; the set of names = the host store's.
	local gnames='' hnames
	while IFS= read -r line; do
		hex=${line%% *} path=${line#* }
		rel=${path#/sysroot/cfs/objects-g/}
		[ "$hex" = "${rel//\//}" ] || _sc_err+="object $path measures as $hex; "
		gnames+="$rel"$'\n'
		n=$((n + 1))
	done < <(tr -d '\r' < "$_sc_log" | sed -n "s|.*${pre}sha256:\\([0-9a-f]\\{64\\} /sysroot/cfs/objects-g/.*\\)\$|\\1|p")
	[ "$n" -gt 0 ] || _sc_err+="no object of the new store was measured; "
	hnames=$(cd "$QWORK/g-store" 2>/dev/null && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
	[ "$(printf '%s' "$gnames" | LC_ALL=C sort)" = "$hnames" ] || _sc_err+="the guest's store objects differ from the host's; "
	want "CFSTEST: cfsroot verity measure $plain: cfsroot: $plain has no fs-verity"
	want "CFSTEST: cfsroot verity measure $plain: exit 1"
	sc_end "in the guest, 'mkcfs --enable-verity --print-digest $src' exit 0 printed sha256:$guest = 'cfsroot verity measure' of the new image = the host mkcfs's digest of the same tree; $n new object(s) measured, each digest = its name, same names as the host's store; 'cfsroot verity measure' of a file without fs-verity: 'has no fs-verity', exit 1"
}

sc_wrong_digest() {
	local wrong
	wrong=$(printf '%s' "$DIGEST" | tr '0-9a-f' '1-9a-f0')
	refused wrong-digest "$DISK_BASE" "cfsroot.digest=sha256:$wrong" \
		"cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$wrong, got sha256:$DIGEST"
}
sc_digest_63() {
	local d=${DIGEST:0:63}
	refused digest-63-digits "$DISK_BASE" "cfsroot.digest=$d" "cfsroot: invalid cfsroot.digest=$d: expected 64 hex digits"
}
sc_digest_nonhex() {
	local d=${DIGEST:0:63}g
	refused digest-non-hex "$DISK_BASE" "cfsroot.digest=$d" "cfsroot: invalid cfsroot.digest=$d: non-hex character"
}
sc_digest_prefix() {
	refused digest-md5-prefix "$DISK_BASE" "cfsroot.digest=md5:$DIGEST" \
		"cfsroot: invalid cfsroot.digest=md5:$DIGEST: unknown digest prefix 'md5:'"
}
sc_no_digest() {
	refused no-digest "$DISK_BASE" "" \
		"cfsroot: no cfsroot.digest= given: refusing to boot an unverified root (add cfsroot.digest=, or cfsroot.verity_check=0|1 to accept an unverified root)"
}
sc_conflict() {
	local wrong
	wrong=$(printf '%s' "$DIGEST" | tr '0-9a-f' '1-9a-f0')
	refused conflicting-keys "$DISK_BASE" "cfsroot.digest=$DIGEST cfsroot.digest=$wrong" \
		"cfsroot: conflicting values for cfsroot.digest: '$DIGEST' and '$wrong'"
}
sc_duplicate_identical() {
	# Identical repeats are fine, and '-' equals '_' in key names.
	boot duplicate-identical "$DISK_BASE" "$(good_append) cfsroot.digest=sha256:$DIGEST cfsroot.verity-check=2 cfsroot.verity_check=2"
	sc_begin duplicate-identical
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	sc_end "identical repeated cfsroot.digest= and cfsroot.verity-check=2 / cfsroot.verity_check=2: accepted, verified boot"
}
sc_unknown_key() {
	refused unknown-key "$DISK_BASE" "$(good_append) cfsroot.verity_chek=0" "cfsroot: unknown option cfsroot.verity_chek"
}
sc_image_missing() {
	IMAGE_ARG=cfsroot=/cfs/images/missing.cfs refused image-missing "$DISK_BASE" "$(good_append)" \
		"cfsroot: cannot open image /cfs/images/missing.cfs on the root device: No such file or directory"
}
sc_image_noverity() {
	# The disk as mkfs made it, before the install boot: the image has no fs-verity.
	refused image-without-verity "$DISK_PLAIN" "$(good_append)" \
		"cfsroot: image $IMAGE_PATH has no fs-verity: cannot verify it"
}
sc_basedir_missing() {
	refused basedir-missing "$DISK_BASE" "$(good_append) cfsroot.basedir=/cfs/missing" \
		"cfsroot: basedir /cfs/missing not found on the root device: "
}
sc_rootdev_timeout() {
	refused rootdev-timeout "$DISK_BASE" "$(good_append) root=LABEL=no-such-disk rootwait=3" \
		"cfsroot: root device LABEL=no-such-disk did not appear within 3 s"
}
sc_kernel_61() {
	# 6.1 has neither overlayfs verity= (6.6+) nor data-only lower layers (6.5+): the refusal
	# must name the missing capability (whichever is probed first).
	boot kernel-6.1 "$DISK_BASE" "$(good_append)" "$VMLINUZ_61" "$INITRD_61"
	sc_begin kernel-6.1
	want_rc "$rc"
	want "cfsroot: this kernel cannot enforce cfsroot.verity_check=2: "
	if ! log_has "$_sc_log" "overlayfs has no 'verity=' option (Linux 6.6+ needed)" &&
		! log_has "$_sc_log" "no data-only lower layers (Linux 6.5+ needed)"; then
		_sc_err+="the refusal does not name the missing overlayfs capability; "
	fi
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	sc_end "Linux $KVER_61 refused: '$(refusal_reason "$_sc_log")'"
}

sc_image_data_tampered() {
	# One byte of the image's first block (the padding before the EROFS superblock: harmless
	# to EROFS, fatal to fs-verity). The stored Merkle tree is unchanged, so the measured
	# digest still matches; the read of that block is what fails.
	local d blk
	d=$(tampered_copy image-data-tampered) && blk=$(first_block "$d" "$IMAGE_PATH")
	if [ -z "${blk:-}" ]; then fail "image-data-tampered: cannot locate the image on the disk"; return; fi
	flip_byte "$d" $((blk * 4096 + 16))
	boot image-data-tampered "$d" "$(good_append)"
	sc_begin image-data-tampered
	want_rc "$rc"
	want "FILE CORRUPTED"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	sc_end "image byte changed offline: fs-verity 'FILE CORRUPTED' on the image read, boot refused: '$(refusal_reason "$_sc_log")'"
}
sc_image_meta_tampered() {
	# One byte of the root hash in the image's fs-verity descriptor: the kernel now measures a
	# different digest.
	local d blk
	d=$(tampered_copy image-verity-tampered) && blk=$(last_block "$d" "$IMAGE_PATH")
	if [ -z "${blk:-}" ]; then fail "image-verity-tampered: cannot locate the image's verity metadata"; return; fi
	flip_byte "$d" $((blk * 4096 + 16))
	boot image-verity-tampered "$d" "$(good_append)"
	sc_begin image-verity-tampered
	want_rc "$rc"
	want "cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$DIGEST, got sha256:"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	sc_end "image's fs-verity root hash changed offline: refused with 'cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$DIGEST, got sha256:…'"
}

# A copy of the verified disk whose big.bin object has one byte changed.
corrupt_object_disk() { # name
	local d blk
	d=$(tampered_copy "$1") && blk=$(first_block "$d" "$BIG_OBJ") || return 1
	[ -n "$blk" ] || return 1
	flip_byte "$d" $((blk * 4096 + 100))
	echo "$d"
}
sc_object_tampered() {
	local d
	d=$(corrupt_object_disk object-tampered) || { fail "object-tampered: cannot locate $BIG_OBJ on the disk"; return; }
	boot object-tampered "$d" "$(good_append) cfstest.read=$BIG_FILE cfstest.read=$OSREL_FILE"
	sc_begin object-tampered
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want "CFSTEST: read $BIG_FILE: EIO"
	want "CFSTEST: read $OSREL_FILE: OK"
	want "FILE CORRUPTED"
	sc_end "backing object changed offline: boot proceeds, 'CFSTEST: read $BIG_FILE: EIO' and the kernel logs 'FILE CORRUPTED'"
}
sc_object_swapped() {
	# Swap the directory entries of two objects: both still have fs-verity, but each has the
	# wrong digest for the file that names it.
	local d a b
	d=$(tampered_copy object-swapped) && a=$(inode_of "$d" "$BIG_OBJ") && b=$(inode_of "$d" "$OSREL_OBJ")
	if [ -z "${a:-}" ] || [ -z "${b:-}" ]; then fail "object-swapped: cannot find the objects' inodes"; return; fi
	debugfs -w -f - "$d" > /dev/null 2>&1 <<EOT
unlink $BIG_OBJ
unlink $OSREL_OBJ
link <$b> $BIG_OBJ
link <$a> $OSREL_OBJ
EOT
	if [ "$(inode_of "$d" "$BIG_OBJ")" != "$b" ]; then fail "object-swapped: debugfs did not swap the entries"; return; fi
	boot object-swapped "$d" "$(good_append) cfstest.read=$BIG_FILE cfstest.read=$OSREL_FILE cfstest.read=/usr/share/cfstest/small.txt"
	sc_begin object-swapped
	want_rc "$rc"
	want "CFSTEST: init started"
	want "CFSTEST: read $BIG_FILE: EIO"
	want "CFSTEST: read $OSREL_FILE: EIO"
	want "CFSTEST: read /usr/share/cfstest/small.txt: OK"
	want "has the wrong fs-verity digest"
	sc_end "two objects (both with fs-verity) swapped offline: reads of both files give EIO, overlayfs logs 'has the wrong fs-verity digest'"
}
sc_object_noverity() {
	# basedir /cfs/plain: the same objects, except big.bin's is a copy without fs-verity.
	boot object-without-verity "$DISK_BASE" "$(good_append) cfsroot.basedir=/cfs/plain cfstest.read=$BIG_FILE cfstest.read=$OSREL_FILE"
	sc_begin object-without-verity
	want_rc "$rc"
	want "CFSTEST: init started"
	want "CFSTEST: read $BIG_FILE: EIO"
	want "CFSTEST: read $OSREL_FILE: OK"
	want "has no fs-verity digest"
	sc_end "a backing object without fs-verity under verity_check=2 (verity=require): read gives EIO, overlayfs logs 'has no fs-verity digest'"
}
sc_basedir_smuggle() {
	# A basedir whose text looks like extra overlayfs options. "/cfs/plain,verity=off" really
	# exists, and so does "/cfs/plain": in both, big.bin's object has no fs-verity. If the
	# text reached overlayfs as options (verity=off), big.bin would read fine; verification
	# holds if the boot fails cleanly or big.bin still gives EIO.
	local arg name
	for arg in '/cfs/plain,verity=off' '"/cfs/plain,verity=off"' '/cfs/plain,verity=off:/cfs/objects' '/cfs/plain\,verity=off'; do
		case $arg in
		'/cfs/plain,verity=off') name=basedir-smuggle-comma ;;
		'"/cfs/plain,verity=off"') name=basedir-smuggle-quoted ;;
		'/cfs/plain,verity=off:/cfs/objects') name=basedir-smuggle-colon ;;
		*) name=basedir-smuggle-backslash ;;
		esac
		boot "$name" "$DISK_BASE" "$(good_append) cfsroot.basedir=$arg cfstest.read=$BIG_FILE"
		sc_begin "$name"
		want_rc "$rc"
		if log_has "$_sc_log" "CFSTEST: init started"; then
			want "CFSTEST: read $BIG_FILE: EIO"
			want_not "CFSTEST: read $BIG_FILE: OK"
			sc_end "cfsroot.basedir=$arg booted and big.bin (object without fs-verity there) still reads as EIO"
		else
			want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
			sc_end "cfsroot.basedir=$arg refused cleanly: '$(refusal_reason "$_sc_log")'"
		fi
	done
}
sc_basedir_long() {
	# The root device chooses how long the path of a basedir is: /cfs/long is a symlink to a
	# deep directory holding /cfs/plain's objects (big.bin's without fs-verity). fsconfig()
	# refuses strings of 256 bytes or more, and mount(2) silently cuts its options after
	# 4095 bytes: the depth is chosen so that a fallback to mount(2) with
	# "lowerdir=/.cfsroot-lower::/sysroot/<path>,metacopy=on,redirect_dir=on,verity=require"
	# would lose exactly ",verity=require". Verification holds if big.bin still gives EIO.
	local d deep=/cfs/deep n want=$((4095 - 54 - 8)) rel script
	d=$(tampered_copy basedir-long) || { fail "basedir-long: cannot copy the disk"; return; }
	script="mkdir $deep"$'\n'
	while [ $((${#deep} + 251)) -le "$want" ]; do
		deep+=/$(printf 'a%.0s' $(seq 250)); script+="mkdir $deep"$'\n'
	done
	n=$((want - ${#deep} - 1))
	deep+=/$(printf 'b%.0s' $(seq "$n")); script+="mkdir $deep"$'\n'
	while IFS= read -r rel; do
		rel=${rel#"$QWORK/disktree/cfs/plain/"}
		if [ -d "$QWORK/disktree/cfs/plain/$rel" ]; then script+="mkdir $deep/$rel"$'\n'
		else script+="link /cfs/plain/$rel $deep/$rel"$'\n'; fi
	done < <(find "$QWORK/disktree/cfs/plain" -mindepth 1 | LC_ALL=C sort)
	script+="symlink /cfs/long $deep"$'\n'
	debugfs -w -f - "$d" > /dev/null 2>&1 <<< "$script"
	if [ "$(debugfs -R 'stat /cfs/long' "$d" 2>/dev/null | grep -c 'Type: symlink')" != 1 ] ||
		! debugfs -R "ls $deep" "$d" 2>/dev/null | grep -q '[0-9a-f]'; then
		fail "basedir-long: debugfs did not build the deep store (${#deep} bytes)"; return
	fi
	boot basedir-long "$d" "$(good_append) cfsroot.basedir=/cfs/long cfstest.read=$BIG_FILE cfstest.read=$OSREL_FILE"
	sc_begin basedir-long
	want_rc "$rc"
	if log_has "$_sc_log" "CFSTEST: init started"; then
		want "CFSTEST: read $BIG_FILE: EIO"
		want_not "CFSTEST: read $BIG_FILE: OK"
		want "CFSTEST: read $OSREL_FILE: OK"
		sc_end "cfsroot.basedir=/cfs/long, a symlink to a $((${#deep} + 8))-byte path: verity=require kept (big.bin, object without fs-verity there, reads as EIO; os-release OK)"
	else
		want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
		sc_end "cfsroot.basedir=/cfs/long, a symlink to a $((${#deep} + 8))-byte path: refused cleanly: '$(refusal_reason "$_sc_log")'"
	fi
}
sc_sysroot_nodev() {
	# The root device is not covered by the digest and stays visible at /sysroot: a device
	# node on it (here /dev/null's numbers, put there offline) must not open.
	local d
	d=$(tampered_copy sysroot-nodev) || { fail "sysroot-nodev: cannot copy the disk"; return; }
	printf 'cd /cfs\nmknod null c 1 3\n' | debugfs -w -f - "$d" > /dev/null 2>&1
	if ! debugfs -R "stat /cfs/null" "$d" 2>/dev/null | grep -q 'Type: character special'; then
		fail "sysroot-nodev: debugfs did not create /cfs/null"; return
	fi
	boot sysroot-nodev "$d" "$(good_append) cfstest.read=/sysroot/cfs/null cfstest.read=/dev/null"
	sc_begin sysroot-nodev
	want_rc "$rc"
	want "CFSTEST: init started"
	want "CFSTEST: read /dev/null: OK"
	want "CFSTEST: read /sysroot/cfs/null: EACCES"
	sc_end "a device node on the root device does not open at /sysroot (EACCES: mounted nodev, and nosuid); /dev/null does"
}
sc_image_fifo() {
	# The image path on the root device names a FIFO: opening it for reading would wait for a
	# writer forever (no message, no failure policy). It must be refused at once.
	local d
	d=$(tampered_copy image-fifo) || { fail "image-fifo: cannot copy the disk"; return; }
	printf 'cd %s\nunlink %s\nmknod %s p\n' "${IMAGE_PATH%/*}" "${IMAGE_PATH##*/}" "${IMAGE_PATH##*/}" |
		debugfs -w -f - "$d" > /dev/null 2>&1
	if ! debugfs -R "stat $IMAGE_PATH" "$d" 2>/dev/null | grep -q 'Type: FIFO'; then
		fail "image-fifo: debugfs did not put a FIFO at $IMAGE_PATH"; return
	fi
	refused image-fifo "$d" "$(good_append)" "cfsroot: image $IMAGE_PATH is not a regular file"
}
sc_halt() {
	# Default policy halt: the failure line appears and the guest stays stopped (QEMU keeps
	# running) until the harness kills it.
	local log=$QLOGS/halt.log q pid i
	q=$(disk_for halt "$DISK_BASE")
	rm -f "$log"  # a previous run's log must not satisfy the waits below
	qemu_boot "$log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$(printf '%064d' 0)" \
		-drive "$(drive "$q")" &
	pid=$!
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$QEMU_TIMEOUT" ]; do
		log_has "$log" "cfsroot: boot failed; halting (cfsroot.on_failure=halt)" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	sleep 5
	sc_begin halt
	if ! kill -0 "$pid" 2>/dev/null; then _sc_err+="QEMU ended although the policy is halt; "; fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	want "cfsroot: digest mismatch for $IMAGE_PATH"
	want "cfsroot: boot failed; halting (cfsroot.on_failure=halt)"
	want_not "CFSTEST: init started"
	want_not "Kernel panic"
	sc_end "default on_failure=halt: 'cfsroot: boot failed; halting (cfsroot.on_failure=halt)' and the guest stays stopped (QEMU still running 5 s later, killed by the harness)"
}
sc_no_cfsroot_key() {
	# No cfsroot key at all: nothing tells cfsroot the policy, so it halts; check the message.
	local log=$QLOGS/no-cfsroot-key.log q pid i
	q=$(disk_for no-cfsroot-key "$DISK_BASE")
	rm -f "$log"  # a previous run's log must not satisfy the waits below
	qemu_boot "$log" "$VMLINUZ_612" "$INITRD_612" "console=ttyS0 panic=-1 root=LABEL=$LABEL" -drive "$(drive "$q")" &
	pid=$!
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$QEMU_TIMEOUT" ]; do
		log_has "$log" "cfsroot: boot failed; " && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	sleep 2
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sc_begin no-cfsroot-key
	want "cfsroot: no cfsroot= on the kernel command line: add cfsroot=IMAGE cfsroot.digest=sha256:HEX"
	want "cfsroot: boot failed; halting (cfsroot.on_failure=halt)"
	want_not "CFSTEST: init started"
	sc_end "no cfsroot key on the command line: 'cfsroot: no cfsroot= on the kernel command line: add cfsroot=IMAGE cfsroot.digest=sha256:HEX', halted"
}
sc_late_rootdev() {
	# The root disk is hot-plugged 3 s after the kernel started /init (cfsroot is then waiting
	# under rootwait, and must load virtio_blk for the new device itself).
	local log=$QLOGS/late-rootdev.log q mon=$QWORK/mon-late pid i
	q=$(disk_for late-rootdev "$DISK_BASE")
	rm -f "$log"  # a previous run's log must not satisfy the waits below
	rm -f "$mon.in" "$mon.out"
	mkfifo "$mon.in" "$mon.out"
	qemu_boot "$log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL rootwait cfsroot=$IMAGE_PATH $(good_append)" \
		-monitor "pipe:$mon" &
	pid=$!
	# Drain the monitor's output (its echo) so it never blocks.
	cat "$mon.out" > /dev/null &
	local catpid=$!
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$QEMU_TIMEOUT" ]; do
		log_has "$log" "Run /init as init process" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	sleep 3
	printf 'drive_add 0 if=none,id=late0,file=%s,format=qcow2\ndevice_add virtio-blk-pci,drive=late0,id=latedev0\n' "$q" > "$mon.in"
	wait "$pid"
	rc=$?
	kill "$catpid" 2>/dev/null
	wait "$catpid" 2>/dev/null
	rm -f "$mon.in" "$mon.out"
	sc_begin late-rootdev
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	# It really was late: the virtio disk's PCI function (vendor 1af4) was found after /init ran.
	local nd ni
	nd=$(tr -d '\r' < "$log" | grep -n -m1 -F '[1af4:' | cut -d: -f1)
	ni=$(tr -d '\r' < "$log" | grep -n -m1 -F 'Run /init as init process' | cut -d: -f1)
	if [ -z "$nd" ] || [ -z "$ni" ] || [ "$nd" -lt "$ni" ]; then
		_sc_err+="the disk did not appear after /init started; "
	fi
	sc_end "root disk hot-plugged (QEMU monitor drive_add + device_add virtio-blk-pci) 3 s after /init started, with rootwait: found, virtio_blk loaded, verified, booted"
}
sc_unverified_warning() {
	boot unverified-verity1 "$DISK_BASE" "cfsroot.verity_check=1 cfstest.read=$OSREL_FILE"
	sc_begin unverified-verity1
	want_rc "$rc"
	want "cfsroot: booting UNVERIFIED root"
	want "CFSTEST: init started"
	want "CFSTEST: read $OSREL_FILE: OK"
	sc_end "no digest with explicit cfsroot.verity_check=1: boots with the 'cfsroot: booting UNVERIFIED root' warning"
}

# ---- root= by GPT partition: a GPT disk whose one partition (at 1 MiB) holds a byte copy of
# the verified ext4 file system (its fs-verity state lives inside it, so it stays valid).
# The file system keeps its LABEL, and the boots name only the partition: a wrong PARTUUID
# must time out although root=LABEL= would have found the disk.
GPT_PARTUUID=5c7f1e2a-93b4-4d6e-a8f0-1b2c3d4e5f60
GPT_PARTLABEL=cfsroot-test-root
gpt_disk() { # name -> prints the path of a fresh raw GPT disk
	local d=$QWORK/disks/$1.img size got
	mkdir -p "$QWORK/disks"
	size=$(stat -c %s "$DISK_BASE")
	rm -f "$d"
	# 1 MiB before the partition, 1 MiB after it for the backup GPT.
	truncate -s $((size + 2 * 1048576)) "$d" || return 1
	sfdisk -q --no-reread --no-tell-kernel "$d" > /dev/null 2>&1 <<-EOT || return 1
		label: gpt
		start=2048, size=$((size / 512)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$GPT_PARTUUID, name="$GPT_PARTLABEL"
	EOT
	dd if="$DISK_BASE" of="$d" bs=1M seek=1 conv=notrunc,sparse status=none || return 1
	# The label as written, read back (sfdisk prints the UUID in upper case).
	got=$(sfdisk --part-uuid "$d" 1 2>/dev/null)
	[ "${got,,}" = "$GPT_PARTUUID" ] || return 1
	[ "$(sfdisk --part-label "$d" 1 2>/dev/null)" = "$GPT_PARTLABEL" ] || return 1
	cmp -s -n "$size" "$DISK_BASE" <(tail -c +$((1048576 + 1)) "$d") || return 1
	echo "$d"
}
gpt_good_boot() { # scenario, root= value
	local name=$1 root=$2 d
	d=$(gpt_disk "$name") || { fail "$name: cannot build the GPT disk (sfdisk, package fdisk)"; return; }
	ROOT_ARG="root=$root" boot "$name" "$d" "$(good_append) cfstest.cat=/proc/mounts"
	sc_begin "$name"
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started (pid 1)"
	want "CFSTEST: mount /: overlay ro"
	# The physical root is the partition, not the whole disk.
	want "CFSTEST: cat /proc/mounts: /dev/vda1 /sysroot ext4 ro"
	want_not "cfsroot: booting UNVERIFIED"
	sc_end "GPT disk, verified ext4 in partition 1 at 1 MiB: root=$root (no root=LABEL=) found /dev/vda1, 'cfsroot: verified $IMAGE_PATH (sha256:…)', init ran"
}
sc_root_partuuid() { gpt_good_boot root-partuuid "PARTUUID=$GPT_PARTUUID"; }
sc_root_partlabel() { gpt_good_boot root-partlabel "PARTLABEL=$GPT_PARTLABEL"; }
sc_root_partuuid_timeout() {
	local d wrong=${GPT_PARTUUID%?}1
	d=$(gpt_disk root-partuuid-timeout) || { fail "root-partuuid-timeout: cannot build the GPT disk (sfdisk, package fdisk)"; return; }
	ROOT_ARG="root=PARTUUID=$wrong rootwait=2" refused root-partuuid-timeout "$d" "$(good_append)" \
		"cfsroot: root device PARTUUID=$wrong did not appear within 2 s"
}

# ---- module parameters from the kernel command line reach the modules cfsroot loads with
# libkmod (the kernel itself applies them only to built-in code). loop is a module on 6.12.
LOOP_MAX_PART=/sys/module/loop/parameters/max_part
sc_module_param() {
	boot module-param "$DISK_BASE" "$(good_append) loop.max_part=7 cfstest.cat=$LOOP_MAX_PART"
	sc_begin module-param
	want_rc "$rc"
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "loop: module loaded"
	want "CFSTEST: init started (pid 1)"
	want "CFSTEST: cat $LOOP_MAX_PART: 7"
	sc_end "loop.max_part=7 on the command line: loop, loaded by cfsroot through libkmod, has max_part 7 (the good boot shows the default 0)"
}

ALL="good guest_mkcfs wrong_digest digest_63 digest_nonhex digest_prefix no_digest conflict duplicate_identical unknown_key image_missing
     image_noverity basedir_missing rootdev_timeout kernel_61 image_data_tampered image_meta_tampered
     object_tampered object_swapped object_noverity basedir_smuggle basedir_long sysroot_nodev image_fifo halt no_cfsroot_key late_rootdev
     unverified_warning root_partuuid root_partlabel root_partuuid_timeout module_param"

main() {
	local start=$SECONDS r
	qemu_prepare
	r=$?
	if [ $r = 2 ]; then skip "qemu: $QEMU_REASON"; finish; fi
	if [ $r != 0 ]; then fail "qemu: preparing the test disk, kernels or initramfs failed"; finish; fi
	echo "qemu: kernels $KVER_612 and $KVER_61; image digest sha256:$DIGEST; logs in $QLOGS"
	echo "qemu: initramfs $(stat -c %s "$INITRD_612") bytes (6.12), cfsroot $(stat -c %s "$B/cfsroot") bytes"
	check_initramfs
	# The guest's SHA-256 (which the boots compare against sha256sum) checked on the host.
	if [ "$("$QWORK/guest-init" "$QWORK/os$BIG_FILE" | cut -d' ' -f1)" = "$BIG_SHA256" ] &&
		[ "$("$QWORK/guest-init" /dev/null | cut -d' ' -f1)" = "$(sha256sum < /dev/null | cut -d' ' -f1)" ]; then
		pass "guest-init: its SHA-256 agrees with sha256sum on the host"
	else
		fail "guest-init: its SHA-256 disagrees with sha256sum"
	fi
	sc_install
	if [ $_failed != 0 ]; then
		fail "qemu: the install boot failed, the other scenarios cannot run (see $QLOGS/install.log)"
		finish
	fi
	local list=${*:-$ALL} res=$QWORK/results n=0 sc
	rm -rf "$res"; mkdir -p "$res"
	for sc in $list; do
		n=$((n + 1))
		( "sc_${sc//-/_}" ) > "$res/$(printf '%03d' $n)" 2>&1 &
		while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	done
	wait
	cat "$res"/*
	grep -q '^FAIL: ' "$res"/* && _failed=1
	echo "qemu: $n scenarios in $((SECONDS - start)) s"
	finish
}

main "$@"
