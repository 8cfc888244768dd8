#!/bin/bash
# mkcfs and ostree on the host: `mkcfs --ostree` of the reference repository
# (tests/data/ostree) must have the digest ostree built with composefs recorded, as must
# `mkcfs --from-dump` of ostree's own image; images of the reference commit and of a commit
# made here with the ostree CLI (symlinks, setuid, xattrs, empty files, hard links, 1-byte
# and 1 MiB files, deep directories) are mounted with REPO/objects as the data-only layer
# and compared with `ostree checkout` (diff -r, stat, getfattr); bare and bare-user
# repositories of one tree give one digest, archive is refused; a corrupt, incomplete or
# wrong repository or rev gives a clear error and no image; --enable-verity fails naming
# the object where the filesystem has no fs-verity; the deployment install command writes
# <deployment>/.ostree.cfs under ostree's immutable attribute and restores it, also after
# a failure. Needs root (ownership, xattrs, mounts, chattr).
. "$(dirname "$0")/../lib.sh"

MKCFS=$B/mkcfs
DATA=$TOP/tests/data/ostree
REF_DIGEST=bac123907a94ad7e3bad31d8b36f1c091a11a5fbad284441ff45852a0189b3bc
ROOT_DIRS='usr|etc|boot|var|sysroot'
[ -x "$MKCFS" ] || { fail "ostree: $MKCFS not built"; finish; }
[ "$(id -u)" = 0 ] || { skip "ostree host tests: need root"; finish; }
command -v ostree > /dev/null || { skip "ostree host tests: the ostree CLI is not installed (run make setup)"; finish; }

W=$(mktemp -d /var/tmp/test-ostree.XXXXXX)
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null; done
	# ostree seals deployments immutable: lift it so they can be removed.
	[ -d "$W/sysroot" ] && chattr -R -i "$W/sysroot" 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT

digest_of() { "$MKCFS" "$@" --print-digest 2>"$W/err" | tail -n1; }

# ---- the reference repository: ostree's own digest ----
mkdir -p "$W/ref"
tar -C "$W/ref" --xattrs --xattrs-include='*' --numeric-owner -xzf "$DATA/repo-treeA.tar.gz"
REPO=$W/ref/repoA
d=$(digest_of --ostree "$REPO" treeA "$W/treeA.cfs")
check "mkcfs --ostree of ref treeA has ostree's digest ($d)" [ "$d" = "$REF_DIGEST" ]
d=$(digest_of --from-dump "$DATA/treeA-ostree-image.dump" "$W/treeA-dump.cfs")
check "mkcfs --from-dump of ostree's image dump has the same digest ($d)" [ "$d" = "$REF_DIGEST" ]
check "the two images are byte-identical" cmp -s "$W/treeA.cfs" "$W/treeA-dump.cfs"
commit=$(ostree --repo="$REPO" rev-parse treeA)
d=$(digest_of --ostree "$REPO" "$commit" "$W/treeA-c.cfs")
check "REV as a commit checksum gives the same digest" [ "$d" = "$REF_DIGEST" ]
for t in 1 2 7; do
	d=$(digest_of --threads $t --ostree "$REPO" treeA "$W/treeA-t$t.cfs")
	[ "$d" = "$REF_DIGEST" ] || break
done
check "the digest does not depend on the thread count (1, 2, 7)" [ "$d" = "$REF_DIGEST" ]
# The recorded digest, from the commit metadata itself.
v=$(ostree --repo="$REPO" show --print-metadata-key=ostree.composefs.digest.v0 treeA 2>/dev/null | grep -o '0x[0-9a-f][0-9a-f]' | sed 's/^0x//' | tr -d '\n')
if [ -n "$v" ]; then check "the commit records $REF_DIGEST as ostree.composefs.digest.v0" [ "$v" = "$REF_DIGEST" ]
else skip "reading ostree.composefs.digest.v0 with this ostree CLI"; fi

# compare_mounted NAME REPO REV: mounts mkcfs's image of REV (erofs + overlayfs with
# REPO/objects as the data-only layer, verity off: the host has no fs-verity) and compares it
# with `ostree checkout`, except the root directories ostree's image adds, mtimes and nlink.
compare_mounted() {
	local name=$1 repo=$2 rev=$3 w=$W/cmp-$1
	mkdir -p "$w/lower" "$w/mnt"
	if ! "$MKCFS" --ostree "$repo" "$rev" "$w/img.cfs" 2> "$w/err"; then
		fail "$name: mkcfs --ostree: $(cat "$w/err")"; return
	fi
	ostree --repo="$repo" checkout "$rev" "$w/co" 2> "$w/err" ||
		{ fail "$name: ostree checkout: $(cat "$w/err")"; return; }
	if ! mount -t erofs -o ro,loop "$w/img.cfs" "$w/lower" 2> "$w/err"; then
		fail "$name: mount erofs: $(cat "$w/err")"; return
	fi
	MOUNTS+=("$w/lower")
	if ! mount -t overlay overlay -o "ro,lowerdir=$w/lower::$repo/objects,metacopy=on,redirect_dir=on" "$w/mnt" 2> "$w/err"; then
		fail "$name: mount overlay with a data-only layer: $(cat "$w/err")"; return
	fi
	MOUNTS+=("$w/mnt")

	# The added root directories: only where the commit has none.
	local added=() x
	for x in usr etc boot var sysroot; do [ -e "$w/co/$x" ] || [ -L "$w/co/$x" ] || added+=("$x"); done
	local ok=1
	for x in "${added[@]}"; do
		[ "$(stat -c '%F %a %u %g' "$w/mnt/$x")" = "directory 755 0 0" ] || ok=0
	done
	check "$name: root directories ostree adds are there (${added[*]:-none}), 0755 0:0" [ $ok = 1 ]
	local excl=()
	for x in "${added[@]}"; do excl+=(-e "^Only in $w/mnt: $x\$"); done
	diff -r --no-dereference "$w/co" "$w/mnt" > "$w/diff" 2>&1
	[ ${#excl[@]} -gt 0 ] && { grep -v "${excl[@]}" "$w/diff" > "$w/diff2"; mv "$w/diff2" "$w/diff"; }
	if [ ! -s "$w/diff" ]; then pass "$name: mounted image equals ostree checkout (diff -r --no-dereference)"
	else fail "$name: mounted image differs from the checkout: $(head -c 600 "$w/diff")"; fi

	# Metadata: type, mode, owner, size of non-directories, symlink target.
	local re="^\./($(IFS='|'; echo "${added[*]:-@none@}")) "
	meta() { (cd "$1" && find . -printf '%p %y %m %U %G %l\n' && find . ! -type d -printf '%p size %s\n') | grep -Ev "$re" | sort; }
	meta "$w/co" > "$w/st-co"; meta "$w/mnt" > "$w/st-mnt"
	local n; n=$(wc -l < "$w/st-co")
	if diff "$w/st-co" "$w/st-mnt" > "$w/diff"; then pass "$name: stat (type, mode, uid, gid, size, target) equal for $n lines"
	else fail "$name: stat differs: $(head -c 600 "$w/diff")"; fi
	xat() { (cd "$1" && find . -print0 | xargs -0 getfattr -P -d -m - -e hex 2>/dev/null) |
		awk '/^# file:/ {f=$3; next} /=/ {print f, $0}' | grep -Ev "^\./($(IFS='|'; echo "${added[*]:-@none@}")) " | sort; }
	xat "$w/co" > "$w/x-co"; xat "$w/mnt" > "$w/x-mnt"
	n=$(wc -l < "$w/x-co")
	if diff "$w/x-co" "$w/x-mnt" > "$w/diff"; then pass "$name: getfattr -d -m - equal ($n xattrs)"
	else fail "$name: xattrs differ: $(head -c 600 "$w/diff")"; fi
	# Hard links are not kept (ostree's image has nlink 1 everywhere).
	n=$(cd "$w/mnt" && find . ! -type d -links +1 | wc -l)
	check "$name: every non-directory has nlink 1 in the image, as in ostree's" [ "$n" = 0 ]
}

"$MKCFS" -v --ostree "$REPO" treeA "$W/treeA-v.cfs" 2> "$W/err"
check "mkcfs -v: the image's digest matches the commit's ostree.composefs.digest.v0" grep -q "matches the commit's ostree.composefs.digest.v0" "$W/err"

compare_mounted ref "$REPO" treeA

# ---- a repository made here with the ostree CLI ----
T=$W/tree
mkdir -p "$T/usr/bin" "$T/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12" "$T/empty-dir" "$T/x"
: > "$T/empty"
printf 1 > "$T/one-byte"
head -c 1048576 /dev/urandom > "$T/one-mib"
printf 'deep\n' > "$T/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/deep"
printf 'suid\n' > "$T/usr/bin/suid"; chmod 4755 "$T/usr/bin/suid"
printf 'sgid\n' > "$T/usr/bin/sgid"; chmod 2711 "$T/usr/bin/sgid"
printf 'owned\n' > "$T/x/owned"; chown 1234:5678 "$T/x/owned"
mkdir "$T/x/owned-dir"; chown 42:43 "$T/x/owned-dir"; chmod 0700 "$T/x/owned-dir"
printf 'hard\n' > "$T/x/hard1"; ln "$T/x/hard1" "$T/d1/hard2"
ln -s ../one-byte "$T/x/rel-link"; ln -s /nonexistent/abs "$T/x/abs-link"; ln -s empty-dir "$T/dirlink"
printf 'x\n' > "$T/x/xattrs"
setfattr -n user.test -v hello "$T/x/xattrs"
setfattr -n user.bin -v 0x00ff00 "$T/x/xattrs"
setfattr -n trusted.test -v trusted-value "$T/x/xattrs"
setfattr -n trusted.overlay.foo -v bar "$T/x/xattrs" 2>/dev/null
setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 "$T/usr/bin/suid"
setfattr -n user.dirattr -v dirvalue "$T/d1"
printf 'same\n' > "$T/x/same-a"; printf 'same\n' > "$T/x/same-b"

mkrepo() { # mkrepo DIR MODE: a repository of mode MODE with $T committed as ref "t"
	ostree --repo="$1" init --mode="$2" > /dev/null &&
	ostree --repo="$1" commit --branch=t --subject=test --timestamp=2024-01-01T00:00:00Z --tree=dir="$T" > /dev/null 2> "$W/err"
}
if mkrepo "$W/bare" bare; then
	compare_mounted cli-bare "$W/bare" t
	d_bare=$(digest_of --ostree "$W/bare" t "$W/bare.cfs")
	check "cli-bare: image built ($d_bare)" [ ${#d_bare} = 64 ]
	# A commit recording a digest: the right one is confirmed, a wrong one is warned about.
	gv() { echo "[byte $(sed 's/../0x&, /g; s/, $//' <<< "$1")]"; }
	ostree --repo="$W/bare" commit --branch=t-right --tree=ref=t --add-metadata="ostree.composefs.digest.v0=$(gv "$d_bare")" > /dev/null
	ostree --repo="$W/bare" commit --branch=t-wrong --tree=ref=t --add-metadata="ostree.composefs.digest.v0=$(gv "$(printf '0%.0s' $(seq 64))")" > /dev/null
	"$MKCFS" -v --ostree "$W/bare" t-right "$W/right.cfs" 2> "$W/err"
	check "a commit recording our digest: mkcfs -v says it matches" grep -q "matches the commit's ostree.composefs.digest.v0" "$W/err"
	"$MKCFS" --ostree "$W/bare" t-wrong "$W/wrong.cfs" 2> "$W/err"
	check "a commit recording another digest: mkcfs warns: $(cat "$W/err")" grep -q "differs from the one commit .* records" "$W/err"
else
	fail "ostree commit into a bare repository: $(cat "$W/err")"
fi
if mkrepo "$W/bare-user" bare-user; then
	d_bu=$(digest_of --ostree "$W/bare-user" t "$W/bare-user.cfs")
	check "bare-user repository of the same tree: same digest as bare ($d_bu)" [ -n "$d_bu" ] && [ "$d_bu" = "$d_bare" ]
	compare_mounted cli-bare-user "$W/bare-user" t
	# The object check on bare-user objects too (they are read through ostree_repo_load_file).
	cp -a "$W/bare-user" "$W/bu-bad"
	o=$(cd "$W/bu-bad/objects" && for f in */*.file; do [ "$(stat -c %s "$f")" = 1048576 ] && echo "$f"; done | head -n1)
	chmod u+w "$W/bu-bad/objects/$o"; printf X | dd of="$W/bu-bad/objects/$o" bs=1 seek=1000 conv=notrunc status=none
	"$MKCFS" --ostree "$W/bu-bad" t "$W/bu-bad.cfs" 2> "$W/err"; rc=$?
	check "bare-user: a corrupt object (one-mib): exit 1, no image: $(cat "$W/err")" \
		sh -c '[ $0 = 1 ] && grep -q "Corrupt object .*/one-mib" "$1" && [ ! -e "$2" ]' $rc "$W/err" "$W/bu-bad.cfs"
	rm -f "$W/bu-bad/objects/$o"
	"$MKCFS" --ostree "$W/bu-bad" t "$W/bu-bad.cfs" 2> "$W/err"; rc=$?
	check "bare-user: a missing object: exit 1, no image: $(cat "$W/err")" \
		sh -c '[ $0 = 1 ] && grep -q "Missing object .*/one-mib" "$1" && [ ! -e "$2" ]' $rc "$W/err" "$W/bu-bad.cfs"
else
	fail "ostree commit into a bare-user repository: $(cat "$W/err")"
fi
if mkrepo "$W/archive" archive; then
	"$MKCFS" --ostree "$W/archive" t "$W/archive.cfs" 2> "$W/err"; rc=$?
	check "archive repository refused, exit 1, no image: $(cat "$W/err")" \
		sh -c '[ $0 = 1 ] && grep -q "mode archive" "$1" && [ ! -e "$2" ]' $rc "$W/err" "$W/archive.cfs"
else
	fail "ostree commit into an archive repository: $(cat "$W/err")"
fi

if ostree --repo="$W/buo" init --mode=bare-user-only > /dev/null 2>&1; then
	"$MKCFS" --ostree "$W/buo" t "$W/buo.cfs" 2> "$W/err"; rc=$?
	check "bare-user-only repository refused, exit 1, no image: $(cat "$W/err")" \
		sh -c '[ $0 = 1 ] && grep -q "mode bare-user-only" "$1" && [ ! -e "$2" ]' $rc "$W/err" "$W/buo.cfs"
fi

# Usage errors exit 2.
rc2=0
for args in "--ostree $REPO treeA" "--sysroot /x 0" "--ostree-deployment --sysroot /x abc" "--ostree --store /x $REPO treeA $W/u.cfs" \
	"--ostree-deployment"; do
	"$MKCFS" $args > /dev/null 2>&1; rc=$?
	[ $rc = 2 ] || { rc2=1; echo "  mkcfs $args: rc=$rc"; }
done
check "usage errors of --ostree/--ostree-deployment/--sysroot exit 2" [ $rc2 = 0 ]

# ---- errors: each names what is wrong, exits 1, and leaves no image ----
# expect_error NAME PATTERN REPO REV: mkcfs fails naming PATTERN; an existing image is untouched.
expect_error() {
	local name=$1 pat=$2 repo=$3 rev=$4 img=$W/err-img.cfs
	printf 'old image\n' > "$img"
	"$MKCFS" --ostree "$repo" "$rev" "$img" 2> "$W/err"; local rc=$?
	local leftovers; leftovers=$(find "$W" -maxdepth 1 -name '.err-img.cfs.tmp-*' | wc -l)
	if [ $rc = 1 ] && grep -q -- "$pat" "$W/err" && [ "$(cat "$img")" = "old image" ] && [ "$leftovers" = 0 ]; then
		pass "$name: exit 1, existing image untouched: $(head -n1 "$W/err")"
	else
		fail "$name: rc=$rc, leftovers=$leftovers, message: $(cat "$W/err")"
	fi
}
copy_repo() { rm -rf "$W/bad"; cp -a "$REPO" "$W/bad"; }
# One object, named by its content, in the reference repository: /bin/suid.
OBJ=$(cd "$REPO/objects" && ls */*.file | grep '^95/6842')
copy_repo; chmod u+w "$W/bad/objects/$OBJ"; printf X | dd of="$W/bad/objects/$OBJ" bs=1 conv=notrunc status=none
expect_error "corrupt object content" "Corrupt object .*$OBJ.*/bin/suid" "$W/bad" treeA
copy_repo; chmod 0700 "$W/bad/objects/$OBJ"
expect_error "corrupt object metadata (mode)" "Corrupt object .*$OBJ" "$W/bad" treeA
copy_repo; rm -f "$W/bad/objects/$OBJ"
expect_error "missing object" "Missing object .*$OBJ" "$W/bad" treeA
copy_repo; f=$(cd "$W/bad/objects" && ls */*.dirtree | head -n1); chmod u+w "$W/bad/objects/$f"
printf '\377' | dd of="$W/bad/objects/$f" bs=1 seek=3 conv=notrunc status=none
expect_error "corrupt dirtree" "Corrupt dirtree object ${f%%/*}" "$W/bad" treeA
expect_error "unknown ref" "Unknown ref or commit 'no-such-ref'" "$REPO" no-such-ref
expect_error "unknown commit checksum" "Unknown commit '0000" "$REPO" "$(printf '0%.0s' $(seq 64))"
expect_error "a directory that is not a repository" "'/tmp' is not an ostree repository" /tmp treeA
expect_error "a missing repository" "$W/nonexistent" "$W/nonexistent" treeA

# ---- --enable-verity: the host filesystem has no fs-verity here ----
if [ -n "$(cd "$REPO/objects" && ls */*.file)" ]; then
	rm -f "$W/ev.cfs"
	"$MKCFS" --enable-verity --ostree "$REPO" treeA "$W/ev.cfs" 2> "$W/err"; rc=$?
	if [ $rc = 0 ]; then
		skip "--enable-verity failure path: this filesystem supports fs-verity"
	else
		check "--enable-verity where the filesystem cannot: exit 1 naming the object, no image: $(cat "$W/err")" \
			sh -c '[ $0 = 1 ] && grep -q "fs-verity on object .*/objects/../.*\.file" "$1" && [ ! -e "$2" ]' $rc "$W/err" "$W/ev.cfs"
	fi
fi

# ---- installing into a deployment made by ostree admin ----
S=$W/sysroot
OS_T=$W/os-tree
mkdir -p "$OS_T/usr/lib/modules/6.0.0" "$OS_T/usr/etc" "$OS_T/usr/bin"
echo kernel > "$OS_T/usr/lib/modules/6.0.0/vmlinuz"
echo initrd > "$OS_T/usr/lib/modules/6.0.0/initramfs.img"
printf 'ID=testos\nPRETTY_NAME="Test OS"\n' > "$OS_T/usr/etc/os-release"
printf 'hello\n' > "$OS_T/usr/bin/hello"; chmod 755 "$OS_T/usr/bin/hello"
mkdir -p "$S"
if { ostree admin init-fs "$S" && ostree admin --sysroot="$S" os-init testos &&
     ostree --repo="$S/ostree/repo" commit --branch=testos/1 --tree=dir="$OS_T" &&
     ostree admin --sysroot="$S" deploy --os=testos testos/1; } > "$W/out" 2>&1; then
	DEP=$(ls -d "$S"/ostree/deploy/testos/deploy/*.0)
	immutable() { lsattr -d "$1" 2>/dev/null | cut -d' ' -f1 | grep -q i; }
	if immutable "$DEP"; then
		pass "ostree admin deploy sealed the deployment immutable"
	else
		skip "deployment install: ostree did not set the immutable attribute here (filesystem without it?)"
	fi
	want=$("$MKCFS" --print-digest --ostree "$S/ostree/repo" testos/1 "$W/dep-ref.cfs")
	out=$("$MKCFS" --ostree-deployment "$DEP" 2> "$W/err"); rc=$?
	check "--ostree-deployment DEPLOYDIR: exit 0" [ $rc = 0 ]
	check "prints the kernel arguments: cfsroot.digest= and the UKI form" \
		[ "$out" = "$(printf 'cfsroot.digest=sha256:%s\ncfsroot.ostree cfsroot.digest=sha256:%s' "$want" "$want")" ]
	check "<deployment>/.ostree.cfs is the commit's image" cmp -s "$DEP/.ostree.cfs" "$W/dep-ref.cfs"
	check "the deployment is immutable again after success" immutable "$DEP"
	check "no temporary file left in the deployment" [ -z "$(find "$DEP" -maxdepth 1 -name '..ostree.cfs.tmp-*')" ]
	out=$("$MKCFS" --ostree-deployment --sysroot "$S" 0 2> "$W/err"); rc=$?
	check "--ostree-deployment --sysroot SYSROOT 0 gives the same digest" [ $rc = 0 ] && [ "${out%%$'\n'*}" = "cfsroot.digest=sha256:$want" ]
	# Injected failure after the attribute was lifted: .ostree.cfs is a directory.
	chattr -i "$DEP"; rm -f "$DEP/.ostree.cfs"; mkdir "$DEP/.ostree.cfs"; chattr +i "$DEP"
	"$MKCFS" --ostree-deployment "$DEP" > /dev/null 2> "$W/err"; rc=$?
	check "a failed write exits 1 naming the image: $(cat "$W/err")" sh -c '[ $0 = 1 ] && grep -q "ostree.cfs" "$1"' $rc "$W/err"
	check "the deployment is immutable again after the failure" immutable "$DEP"
	chattr -i "$DEP"; rmdir "$DEP/.ostree.cfs"; chattr +i "$DEP"
	"$MKCFS" --enable-verity --ostree-deployment "$DEP" > /dev/null 2> "$W/err"; rc=$?
	if [ $rc != 0 ]; then
		check "--enable-verity on a filesystem without fs-verity: exit 1 naming the file, no image" \
			sh -c '[ $0 = 1 ] && grep -q "fs-verity on" "$1" && [ ! -e "$2/.ostree.cfs" ]' $rc "$W/err" "$DEP"
		check "the deployment is immutable after the --enable-verity failure" immutable "$DEP"
	fi
	"$MKCFS" --ostree-deployment --sysroot "$S" 1 > /dev/null 2> "$W/err"; rc=$?
	check "a deployment index that does not exist: exit 1: $(cat "$W/err")" sh -c '[ $0 = 1 ] && grep -q "no deployment 1" "$1"' $rc "$W/err"
	"$MKCFS" --ostree-deployment "$W" > /dev/null 2> "$W/err"; rc=$?
	check "a directory that is not a deployment: exit 1: $(cat "$W/err")" sh -c '[ $0 = 1 ] && grep -q "is not an ostree deployment" "$1"' $rc "$W/err"
else
	fail "ostree admin init-fs/os-init/deploy: $(tail -n3 "$W/out")"
fi

finish
