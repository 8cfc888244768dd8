#!/bin/bash
# QEMU suite for mkcfs and ostree: the success path of --enable-verity, which needs a kernel
# and filesystem with fs-verity (the host has none). The host's mkcfs is linked with
# libostree (glib), so it cannot be built static for the guest: it goes onto the test disk
# with its shared libraries and runs through their loader (cfstest.exec). One boot of the
# test OS (unverified install mode, physical root rw) runs:
#   1. mkcfs --enable-verity --print-digest --ostree REPO t IMAGE on a bare repository made
#      on the host with the ostree CLI: exit 0, the host's digest;
#   2. the same again: objects that already have fs-verity are left alone, exit 0;
#   3. mkcfs --enable-verity --ostree-deployment DEPLOYDIR on a sysroot made on the host with
#      ostree admin init-fs / os-init / deploy;
# then the kernel measures the images and every object: each must have fs-verity, with the
# digests computed on the host.
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

START=$SECONDS
command -v ostree > /dev/null || { skip "ostree-mkcfs qemu: the ostree CLI is not installed (run make setup)"; finish; }
[ "$(id -u)" = 0 ] || { skip "ostree-mkcfs qemu: needs root (repository ownership and xattrs)"; finish; }
qemu_prepare
r=$?
if [ $r = 2 ]; then skip "ostree-mkcfs qemu: $QEMU_REASON"; finish; fi
if [ $r != 0 ]; then fail "ostree-mkcfs qemu: preparing the test disk, kernels or initramfs failed"; finish; fi

# The guest's static mkcfs (qemu_prepare built it without libostree) refuses --ostree clearly.
out=$("$QWORK/mkcfs-static" --ostree /x t /x.cfs 2>&1); rc=$?
if [ $rc = 1 ] && grep -q "built without ostree support" <<< "$out"; then
	pass "static guest mkcfs: --ostree exits 1 with '$out'"
else
	fail "static guest mkcfs: --ostree gave rc=$rc: $out"
fi

W=$QWORK/ostree-mkcfs
rm -rf "$W"
mkdir -p "$W"
T=$W/disktree
cp -a "$QWORK/disktree" "$T"
O=$T/omk

# mkcfs and its shared libraries, run as LOADER --library-path LIB MKCFS.
mkdir -p "$O/lib"
loader=$(ldd "$B/mkcfs" | awk '/ld-linux/ {print $1}')
cp -L "$loader" "$O/ld.so"
ldd "$B/mkcfs" | awk '/=> \// {print $3}' | while read -r l; do cp -L "$l" "$O/lib/"; done
cp "$B/mkcfs" "$O/mkcfs"
RUN="/sysroot/omk/ld.so,--library-path,/sysroot/omk/lib,/sysroot/omk/mkcfs"

# A repository with regular files (empty, small, big), a symlink, xattrs and a setuid file.
src=$W/src
mkdir -p "$src/usr/bin" "$src/etc"
: > "$src/etc/empty"
printf 'small\n' > "$src/etc/small"
head -c 300000 /dev/urandom > "$src/usr/big"
printf 'suid\n' > "$src/usr/bin/suid"; chmod 4755 "$src/usr/bin/suid"
setfattr -n user.test -v value "$src/etc/small"
ln -s ../usr/big "$src/etc/link"
REPO=$O/repo
if ! { ostree --repo="$REPO" init --mode=bare && ostree --repo="$REPO" commit --branch=t --tree=dir="$src"; } > "$W/ostree.log" 2>&1; then
	fail "ostree-mkcfs qemu: ostree init/commit failed: $(tail -n2 "$W/ostree.log")"; finish
fi
want_digest=$("$B/mkcfs" --print-digest --ostree "$REPO" t "$W/t.cfs") || { fail "ostree-mkcfs qemu: host mkcfs --ostree failed"; finish; }

# A sysroot with one deployment.
S=$O/sysroot
os=$W/os
mkdir -p "$os/usr/lib/modules/6.0.0" "$os/usr/etc"
echo kernel > "$os/usr/lib/modules/6.0.0/vmlinuz"
printf 'ID=testos\nPRETTY_NAME="Test OS"\n' > "$os/usr/etc/os-release"
printf 'payload\n' > "$os/usr/payload"
mkdir -p "$S"
if ! { ostree admin init-fs "$S" && ostree admin --sysroot="$S" os-init testos &&
       ostree --repo="$S/ostree/repo" commit --branch=testos/1 --tree=dir="$os" &&
       ostree admin --sysroot="$S" deploy --os=testos testos/1; } > "$W/admin.log" 2>&1; then
	chattr -R -i "$S" 2> /dev/null
	fail "ostree-mkcfs qemu: ostree admin deploy failed: $(tail -n2 "$W/admin.log")"; finish
fi
DEP=$(cd "$S" && ls -d ostree/deploy/testos/deploy/*.0)
want_dep=$("$B/mkcfs" --print-digest --ostree "$S/ostree/repo" testos/1 "$W/dep.cfs")
chattr -R -i "$S" 2> /dev/null # mkfs.ext4 -d copies the tree; the guest needs none of it sealed

# Every object the two images need, with the fs-verity digest the host computes for it.
objects=()
for pair in "$REPO:$W/t.cfs" "$S/ostree/repo:$W/dep.cfs"; do
	repo=${pair%%:*} img=${pair#*:}
	while read -r obj; do
		obj=${obj#/}
		objects+=("${repo#"$T"}/objects/$obj=$("$B/cfs-info" digest "$repo/objects/$obj" | grep -oE '[0-9a-f]{64}' | head -n1)")
	done < <("$B/cfs-info" objects "$img")
done

DISK=$W/disk.img
size=$(( $(du -sm "$T" | cut -f1) + 64 ))
if ! mkfs.ext4 -q -F -b 4096 -O verity -L "$LABEL" -d "$T" "$DISK" "${size}M" > "$W/mkfs.log" 2>&1; then
	fail "ostree-mkcfs qemu: mkfs.ext4 failed: $(cat "$W/mkfs.log")"; finish
fi

append="$(base_append) cfsroot.verity_check=0 cfsroot.on_failure=poweroff rw"
append+=" cfstest.exec=$RUN,--enable-verity,--print-digest,--ostree,/sysroot/omk/repo,t,/sysroot/omk/t.cfs"
append+=" cfstest.exec=$RUN,--enable-verity,--print-digest,--ostree,/sysroot/omk/repo,t,/sysroot/omk/t.cfs"
append+=" cfstest.exec=$RUN,--enable-verity,--ostree-deployment,/sysroot/omk/sysroot/$DEP"
append+=" cfstest.measure=/sysroot/omk/t.cfs cfstest.measure=/sysroot/omk/sysroot/$DEP/.ostree.cfs"
for o in "${objects[@]}"; do append+=" cfstest.measure=/sysroot${o%%=*}"; done
# The kernel keeps 2048 bytes of command line on x86; more would be cut silently.
if [ ${#append} -ge 2000 ]; then fail "ostree-mkcfs qemu: command line of ${#append} bytes is too long"; finish; fi
LOG=$QLOGS/ostree-mkcfs-verity.log
qemu_boot "$LOG" "$VMLINUZ_612" "$INITRD_612" "$append" -drive "file=$DISK,if=virtio,format=raw"
rc=$?

err=''
[ "$rc" = 124 ] && err+="QEMU timed out after ${QEMU_TIMEOUT}s; "
log_has "$LOG" "CFSTEST: init started" || err+="the test OS did not start; "
label="CFSTEST: exec /sysroot/omk/ld.so"
n_ok=$(tr -d '\r' < "$LOG" | grep -cF "$label: exit 0")
n_digest=$(tr -d '\r' < "$LOG" | grep -cF "$label: $want_digest")
[ "$n_ok" = 3 ] || err+="expected 3 runs with exit 0, got $n_ok ($(tr -d '\r' < "$LOG" | grep -F "$label" | tail -n3 | tr '\n' '|')); "
[ "$n_digest" = 2 ] || err+="expected the host's digest $want_digest printed twice, got $n_digest; "
log_has "$LOG" "$label: cfsroot.digest=sha256:$want_dep" || err+="--ostree-deployment did not print cfsroot.digest=sha256:$want_dep; "
log_has "$LOG" "CFSTEST: measure /sysroot/omk/t.cfs: sha256:$want_digest" || err+="the image's kernel digest is not $want_digest; "
log_has "$LOG" "CFSTEST: measure /sysroot/omk/sysroot/$DEP/.ostree.cfs: sha256:$want_dep" || err+="the deployment image's kernel digest is not $want_dep; "
bad=0
for o in "${objects[@]}"; do
	log_has "$LOG" "CFSTEST: measure /sysroot${o%%=*}: sha256:${o#*=}" || { bad=$((bad + 1)); err+="object /sysroot${o%%=*} not measured as ${o#*=}; "; }
done
if [ -z "$err" ]; then
	pass "ostree-mkcfs-verity: in the guest, mkcfs --enable-verity --ostree (twice) and --ostree-deployment exit 0; the kernel measures both images and all ${#objects[@]} objects with the host's digests"
else
	fail "ostree-mkcfs-verity: ${err}log: $LOG"
fi
echo "ostree-mkcfs qemu: done in $((SECONDS - START)) s"
finish
