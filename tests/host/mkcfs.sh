#!/bin/bash
# mkcfs on the host: a source tree with every feature the format carries (odd names, modes,
# owners, ns mtimes, xattrs incl. ACLs and user trusted.overlay.*, symlinks, hard links,
# devices, fifos, sockets, empty/small/big/10 GiB sparse files, a 5000-entry directory) is
# built twice from copies created in different orders and compared byte for byte; round
# tripped through `cfs-info dump` and `mkcfs --from-dump`; mounted with the real kernel
# (erofs + overlayfs with the store as a data-only layer) and compared with the source
# using diff, getfattr and stat. Needs root (mknod, chown, mounts).
. "$(dirname "$0")/../lib.sh"

MKCFS=$B/mkcfs
CFSINFO=$B/cfs-info
[ -x "$MKCFS" ] || { fail "mkcfs: $MKCFS not built"; finish; }
[ "$(id -u)" = 0 ] || { skip "mkcfs host tests: need root"; finish; }

W=$(mktemp -d /var/tmp/test-mkcfs.XXXXXX)
SPARSE_DIGEST=sha256:65f5fa9c6079ce15c4432c6160bccc7cd8da86e94e3bf7ea45b3d916b0aba5fb
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT

# make_tree DIR ORDER: ORDER "forward" or "reverse" decides the creation order of entries
# (so directory listing order differs); the resulting trees are otherwise identical.
make_tree() {
	local d=$1 order=$2 i seq
	mkdir -p "$d"
	if [ "$order" = forward ]; then seq=$(seq 0 4999); else seq=$(seq 4999 -1 0); fi

	local parts=(basics names modes xattrs links special big many)
	if [ "$order" = reverse ]; then parts=(many big special links xattrs modes names basics); fi
	for p in "${parts[@]}"; do "tree_$p" "$d"; done

	# Fixed mtimes everywhere (ns precision), deepest first so directories keep theirs.
	find "$d" -depth -print0 | sort -z -r | xargs -0 touch -h -d '2024-02-29 13:14:15.123456789'
	touch -h -d '2001-09-09 01:46:40.000000001' "$d/basics/small"
	touch -h -d '1970-01-01 00:00:00' "$d/basics/epoch"
	touch -h -d '2038-01-19 03:14:08.999999999' "$d/basics/y2038"
	touch -h -d '2024-02-29 13:14:15.123456789' "$d"
}

tree_basics() {
	local d=$1/basics
	mkdir -p "$d/empty-dir"
	: > "$d/empty"
	printf x > "$d/one"
	printf 'small file\n' > "$d/small"
	head -c 64 /dev/zero | tr '\0' 'a' > "$d/exactly64"
	head -c 65 /dev/zero | tr '\0' 'b' > "$d/exactly65"
	head -c 4096 /dev/zero | tr '\0' 'c' > "$d/block"
	: > "$d/epoch"; : > "$d/y2038"
	# Deterministic pseudo-random content (same in both trees).
	python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(1234567))' > "$d/random"
	cp "$d/random" "$d/random-copy" # same content: one object
}

tree_names() {
	local d=$1/names
	mkdir -p "$d"
	: > "$d/sp ace"; : > "$d/$(printf 'tab\there')"; : > "$d/$(printf 'new\nline')"
	: > "$d/$(printf '\xff\xfe\x01')"; : > "$d/é-ü-漢字"; : > "$d/-dash"; : > "$d/=eq"
	: > "$d/back\\slash"; : > "$d/.hidden"; : > "$d/..dots"; : > "$d/a.b"; mkdir "$d/a"; : > "$d/a/b"
	: > "$d/$(printf 'n%.0s' $(seq 255))"
	printf 'with content\n' > "$d/$(printf 'c\x7f')"
}

tree_modes() {
	local d=$1/modes
	mkdir -p "$d/sticky" "$d/setgid-dir"
	chmod 1777 "$d/sticky"; chmod 2775 "$d/setgid-dir"
	printf 'suid\n' > "$d/suid"; chmod 4755 "$d/suid"
	printf 'sgid\n' > "$d/sgid"; chmod 2711 "$d/sgid"
	printf 'none\n' > "$d/none"; chmod 0 "$d/none"
	printf 'owned\n' > "$d/owned"; chown 1234:5678 "$d/owned"
	printf 'nobody\n' > "$d/nobody"; chown 65534:65534 "$d/nobody"
	printf 'big ids\n' > "$d/bigid"; chown 4000000000:3000000000 "$d/bigid"
	mkdir "$d/owned-dir"; chown 42:43 "$d/owned-dir"; chmod 0700 "$d/owned-dir"
}

tree_xattrs() {
	local d=$1/xattrs
	mkdir -p "$d/dir"
	printf 'x\n' > "$d/user"
	setfattr -n user.foo -v bar "$d/user"
	setfattr -n user.empty "$d/user"
	setfattr -n user.bin -v 0x00ff0102 "$d/user"
	setfattr -n user.dir -v yes "$d/dir"
	printf 'sec\n' > "$d/security"
	setfattr -n security.cfstest -v label "$d/security"
	head -c 3000 /dev/zero | tr '\0' 'v' > "$d/long-value"
	setfattr -n user.long -v "$(head -c 2000 /dev/zero | tr '\0' 'L')" "$d/long-value"
	printf 'acl\n' > "$d/acl"
	setfacl -m u:1234:rwx,g:5678:r "$d/acl"
	mkdir "$d/default-acl"
	setfacl -d -m u:1234:rx "$d/default-acl"
	printf 'ovl\n' > "$d/trusted-overlay"
	setfattr -n trusted.overlay.foo -v userdata "$d/trusted-overlay"
	setfattr -n trusted.other -v t "$d/trusted-overlay"
	for i in $(seq 1 20); do printf '%s' "$i" > "$d/shared$i"; setfattr -n user.common -v same "$d/shared$i"; done
}

tree_links() {
	local d=$1/links
	mkdir -p "$d/sub"
	ln -s ../basics/small "$d/rel"
	ln -s /etc/passwd "$d/abs"
	ln -s does-not-exist "$d/dangling"
	ln -s "$(printf 'l%.0s' $(seq 1000))" "$d/long-target"
	printf 'hard link content, long enough to be an object: %s\n' "$(seq 1 30)" > "$d/hl-a"
	ln "$d/hl-a" "$d/sub/hl-b"; ln "$d/hl-a" "$d/hl-c"
	printf 'tiny\n' > "$d/hl-small"; ln "$d/hl-small" "$d/sub/hl-small2"
	: > "$d/hl-empty"; ln "$d/hl-empty" "$d/hl-empty2"
	ln -P "$d/rel" "$d/rel-hardlink" # a hard link to a symlink
}

tree_special() {
	local d=$1/special
	mkdir -p "$d"
	mknod "$d/null" c 1 3
	mknod "$d/loop" b 7 0
	mknod "$d/bigdev" c 300 70000
	mkfifo "$d/fifo"
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$d/socket"
	ln "$d/fifo" "$d/fifo-link"; ln "$d/null" "$d/null-link" # hard links to special files
}

tree_big() {
	local d=$1/big
	mkdir -p "$d"
	# Its fs-verity digest was computed once with fsverity-utils (reading 10 GiB of holes
	# fills the page cache and takes long; test-verity checks the same value).
	truncate -s 10G "$d/sparse-10G"
	printf hello | dd of="$d/sparse-10G" bs=1 seek=5000000000 conv=notrunc status=none
	truncate -s 5M "$d/all-hole"
}

tree_many() {
	local d=$1/many i
	mkdir -p "$d"
	for i in $seq; do
		if [ $((i % 10)) = 0 ]; then printf 'entry %d of a big directory, long enough to be stored\n' "$i" > "$d/e$i"
		else : > "$d/e$i"; fi
	done
}

# ---- build a tree twice, in different orders and at different times ----
make_tree "$W/a" forward
sleep 1.1
make_tree "$W/b" reverse

# diff -r reports special files it cannot compare; same type on both sides is equal for us.
# The 10 GiB sparse file is left out of diffs (reading it twice takes long); its digest and
# the bytes around its data are checked instead.
difftree() {
	diff -r --no-dereference -x sparse-10G "$1" "$2" | grep -Ev '^File .* is a (.+) while file .* is a \1$'
	return 0
}
check "two source trees have the same content" [ -z "$(difftree "$W/a" "$W/b")" ]

check "build tree A" "$MKCFS" "$W/a" "$W/a.cfs"
check "build tree B (reverse creation order)" "$MKCFS" "$W/b" "$W/b.cfs"
check "reproducible: A and B images byte-identical" cmp "$W/a.cfs" "$W/b.cfs"
check "build A with 1 thread" "$MKCFS" --threads 1 "$W/a" "$W/a1.cfs"
check "thread count does not change the image" cmp "$W/a.cfs" "$W/a1.cfs"
sleep 1.1
check "rebuild later" "$MKCFS" --threads 3 "$W/a" "$W/a2.cfs"
check "rebuild later is byte-identical" cmp "$W/a.cfs" "$W/a2.cfs"

# ---- digests ----
want=$(fsverity digest --block-size=4096 "$W/a.cfs" | sed 's/^sha256:\([0-9a-f]*\) .*/\1/')
got=$("$MKCFS" --print-digest "$W/a" "$W/a3.cfs")
check "--print-digest equals fsverity digest of the image" [ "$got" = "$want" ]
got=$("$MKCFS" --print-cmdline=/cfs/images/os.cfs "$W/a" "$W/a3.cfs")
check "--print-cmdline format" [ "$got" = "cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$want" ]
got=$("$MKCFS" --print-digest --print-cmdline=/x.cfs "$W/a" "$W/a3.cfs" | tr '\n' ' ')
check "--print-digest and --print-cmdline together" [ "$got" = "$want cfsroot=/x.cfs cfsroot.digest=sha256:$want " ]

# ---- round trip through the dump format ----
if [ -x "$CFSINFO" ]; then
	if "$CFSINFO" dump "$W/a.cfs" > "$W/a.dump" 2> "$W/err"; then
		check "dump -> mkcfs --from-dump" "$MKCFS" --from-dump "$W/a.dump" "$W/a-rt.cfs"
		check "dir -> image -> dump -> image is byte-identical" cmp "$W/a.cfs" "$W/a-rt.cfs"
		check "mkcfs --from-dump - (stdin)" sh -c '"$0" --from-dump - "$1" < "$2"' "$MKCFS" "$W/a-rt2.cfs" "$W/a.dump"
		check "stdin dump gives the same image" cmp "$W/a.cfs" "$W/a-rt2.cfs"
	else
		fail "cfs-info dump of the image: $(head -c 300 "$W/err")"
	fi
else
	skip "dump round trip: $CFSINFO not built"
fi

# ---- the real kernel: erofs + overlayfs with the store as data-only layer ----
S=$W/store
check "build with --store" "$MKCFS" --store "$S" "$W/a" "$W/s.cfs"
check "image with --store is the same image" cmp "$W/a.cfs" "$W/s.cfs"

mkdir -p "$W/lower" "$W/mnt"
if ! mount -t erofs -o ro,loop "$W/s.cfs" "$W/lower" 2> "$W/err"; then
	fail "mount erofs: $(cat "$W/err")"
else
	MOUNTS+=("$W/lower")
	if ! mount -t overlay overlay -o "ro,lowerdir=$W/lower::$S,metacopy=on,redirect_dir=on" "$W/mnt" 2> "$W/err"; then
		fail "mount overlay with a data-only layer: $(cat "$W/err")"
	else
		MOUNTS+=("$W/mnt")
		# The 10 GiB file is compared by digest, not by diff (20 GiB of reads).
		difftree "$W/a" "$W/mnt" > "$W/diff" 2>&1
		if [ ! -s "$W/diff" ]; then pass "mounted tree: diff -r --no-dereference equal"
		else fail "mounted tree differs: $(head -c 600 "$W/diff")"; fi
		v=$(dd if="$W/mnt/big/sparse-10G" bs=1 skip=4999999998 count=9 status=none | od -An -c | tr -s ' ')
		check "mounted 10 GiB sparse file: data in the middle ($v)" [ "$v" = " \0 \0 h e l l o \0 \0" ]
		v=$(tail -c 4096 "$W/mnt/big/sparse-10G" | tr -d '\0' | wc -c)
		check "mounted 10 GiB sparse file: zeros at the end" [ "$v" = 0 ]

		# xattrs: overlayfs hides trusted.overlay.* (its own), shows the user's unescaped.
		# One line per (file, xattr), sorted: listing order differs between filesystems.
		xattrs() {
			(cd "$1" && find . -print0 | xargs -0 getfattr -P -d -m - -e hex 2>/dev/null) |
				awk '/^# file: /{f=substr($0,9); next} NF{print f "\t" $0}' | sort
		}
		xattrs "$W/a" > "$W/x-src"; xattrs "$W/mnt" > "$W/x-mnt"
		if diff "$W/x-src" "$W/x-mnt" > "$W/diff"; then pass "mounted tree: getfattr -d -m - equal (ACLs, security, user, trusted)"
		else fail "xattrs differ: $(head -c 800 "$W/diff")"; fi
		v=$(getfattr -h --only-values -n trusted.overlay.foo "$W/mnt/xattrs/trusted-overlay" 2>/dev/null)
		check "user trusted.overlay.foo visible through overlayfs" [ "$v" = userdata ]
		(cd "$W/a" && find xattrs -print0 | sort -z | xargs -0 getfacl -P -p 2>/dev/null) > "$W/acl-src"
		(cd "$W/mnt" && find xattrs -print0 | sort -z | xargs -0 getfacl -P -p 2>/dev/null) > "$W/acl-mnt"
		check "ACLs equal (getfacl, $(grep -c '^user:[0-9]' "$W/acl-src") named-user entries)" cmp -s "$W/acl-src" "$W/acl-mnt"

		# Metadata: directories without size (ext4 and erofs size directories differently).
		statall() {
			(cd "$1" && find . ! -type d -print0 | sort -z | xargs -0 stat --printf '%n %f %u %g %s %Y %y %t %T %h\n'
			 find . -type d -print0 | sort -z | xargs -0 stat --printf '%n %f %u %g %Y %y %h\n')
		}
		statall "$W/a" > "$W/st-src"; statall "$W/mnt" > "$W/st-mnt"
		n=$(wc -l < "$W/st-src")
		if [ "$n" -gt 5000 ] && diff "$W/st-src" "$W/st-mnt" > "$W/diff"; then
			pass "mounted tree: stat (mode, uid, gid, size, mtime ns, rdev, nlink) equal for $n entries"
		else fail "stat differs: $(head -c 800 "$W/diff")"; fi
		ino1=$(stat -c %i "$W/mnt/links/hl-a"); ino2=$(stat -c %i "$W/mnt/links/sub/hl-b")
		check "hard links share an inode in the mount" [ "$ino1" = "$ino2" ]
		ino1=$(stat -c %i "$W/mnt/links/rel"); ino2=$(stat -c %i "$W/mnt/links/rel-hardlink")
		check "hard-linked symlinks share an inode in the mount" [ "$ino1" = "$ino2" ]
	fi
fi

# ---- the store ----
# Expected objects: distinct fs-verity digests of regular files over 64 bytes (fsverity-utils).
expected_objects() {
	{ find "$@" -type f -size +64c ! -name sparse-10G -print0 | xargs -0 fsverity digest --block-size=4096 | cut -d' ' -f1
	  find "$@" -name sparse-10G | sed "s/.*/$SPARSE_DIGEST/"; } | sort -u
}
expected_objects "$W/a" | sed 's/^sha256:\(..\)/\1\//' > "$W/want-objs"
(cd "$S" && find . -type f ! -name '.tmp*' | sed 's|^\./||' | sort) > "$W/have-objs"
check "store holds exactly the distinct objects ($(wc -l < "$W/want-objs"), named by fsverity digest)" cmp -s "$W/want-objs" "$W/have-objs"
bad=0
while read -r o; do
	d=$(fsverity digest --block-size=4096 "$S/$o" | cut -d' ' -f1)
	[ "sha256:${o/\//}" = "$d" ] || { bad=1; echo "object $o has digest $d"; }
done < <(grep -v "^${SPARSE_DIGEST:7:2}/${SPARSE_DIGEST:9}\$" "$W/have-objs")
check "every object's content matches its name" [ $bad = 0 ]
obj=${SPARSE_DIGEST:7:2}/${SPARSE_DIGEST:9}
blocks=$(stat -c %b "$S/$obj")
check "10 GiB sparse object stays sparse ($blocks blocks)" [ "$blocks" -lt 1000 ]
check "no temporary files left in the store" [ -z "$(find "$S" -name '.tmp*')" ]

# Dedup across images: a second tree sharing most files.
cp -a "$W/a/basics" "$W/c"
printf 'new file only in C, long enough for the store: %s\n' "$(seq 1 40)" > "$W/c/new"
printf 'modified%s\n' "$(seq 1 40)" > "$W/c/small"
(cd "$S" && find . -type f -printf '%P %i %Y %T@\n' | sort) > "$W/before"
out=$("$MKCFS" -v --store "$S" "$W/c" "$W/c.cfs" 2>&1 | grep "store")
check "second image into the same store" [ $? = 0 ]
(cd "$S" && find . -type f -printf '%P %i %Y %T@\n' | sort) > "$W/after"
check "existing objects not rewritten (inode and mtime unchanged)" sh -c 'comm -23 "$0" "$1" | grep -q . && exit 1; exit 0' "$W/before" "$W/after"
new=$(comm -13 "$W/before" "$W/after" | wc -l)
check "only the 2 new contents were added (got $new; mkcfs said: $out)" [ "$new" = 2 ]
total_want=$(expected_objects "$W/a" "$W/c" | wc -l)
total_have=$(find "$S" -type f | wc -l)
check "shared store holds $total_want distinct objects for both images" [ "$total_want" = "$total_have" ]

# Two builds creating the same new store at once: one installs its private directory as the
# store, the other moves its objects in one by one; either way the store ends up complete.
P=$W/pstore
"$MKCFS" --store "$P" "$W/a" "$W/p1.cfs" & pid1=$!
"$MKCFS" --store "$P" "$W/c" "$W/p2.cfs" & pid2=$!
wait $pid1; rc1=$?; wait $pid2; rc2=$?
check "two concurrent builds into one new store succeed" [ $rc1 = 0 -a $rc2 = 0 ]
check "  ... the store holds exactly the objects of both trees" [ "$(expected_objects "$W/a" "$W/c" | wc -l)" = "$(find "$P" -type f | wc -l)" ]
check "  ... no temporary files or private directories left" [ -z "$(find "$P" -name '.tmp*'; ls -d "$P".tmp-* 2>/dev/null)" ]

# ---- --enable-verity on a filesystem without fs-verity (the host) ----
echo old > "$W/v.cfs"
"$MKCFS" --enable-verity --store "$W/vstore" "$W/c" "$W/v.cfs" > "$W/out" 2> "$W/err"; rc=$?
if [ $rc = 1 ] && grep -q "fs-verity" "$W/err" && grep -q "vstore" "$W/err"; then
	pass "--enable-verity where the filesystem has none: exit 1 and a message naming file and filesystem"
else
	# A kernel with fs-verity on this filesystem would succeed: then it must have enabled it.
	if [ $rc = 0 ] && fsverity measure "$W/v.cfs" > /dev/null 2>&1; then pass "--enable-verity enabled fs-verity"
	else fail "--enable-verity: rc=$rc: $(cat "$W/err")"; fi
fi
check "  ... exactly one error line" [ "$(wc -l < "$W/err")" = 1 ]
check "  ... existing image untouched" [ "$(cat "$W/v.cfs")" = old ]
check "  ... no temporary files next to the image, no half-built store" \
	[ -z "$(find "$W" -maxdepth 1 -name '.*tmp*' -o -maxdepth 1 -name 'vstore*')" ]
"$MKCFS" --enable-verity "$W/c" "$W/v.cfs" 2> "$W/err"; rc=$?
check "--enable-verity without a store: exit 1 naming the image ($(cat "$W/err"))" \
	sh -c '[ "$0" = 1 ] && grep -q "v.cfs" "$1" && grep -q "fs-verity" "$1"' $rc "$W/err"

# A failure in the middle of filling a store: one fan-out directory is a file, so the
# objects under it cannot be written. (Damaged objects are repaired: tests/host/store.sh.)
S2=$W/store2
d=$(fsverity digest --block-size=4096 "$W/c/random" | cut -d' ' -f1 | sed 's/sha256:\(..\)/\1\//')
mkdir -p "$S2"; echo damaged > "$S2/$(dirname "$d")"
echo old > "$W/f.cfs"
"$MKCFS" --store "$S2" "$W/a" "$W/f.cfs" 2> "$W/err"; rc=$?
check "store with a file for a fan-out directory: exit 1 ($(head -c 200 "$W/err"))" [ $rc = 1 ]
check "  ... that file is not rewritten" [ "$(cat "$S2/$(dirname "$d")")" = damaged ]
check "  ... no temporary files left in the store" [ -z "$(find "$S2" -name '.tmp*')" ]
check "  ... existing image untouched" [ "$(cat "$W/f.cfs")" = old ]

# ---- bad input ----
expect_fail() { # name, expected exit code, message regex, command...
	local name=$1 code=$2 re=$3; shift 3
	"$@" > "$W/out" 2> "$W/err"; local rc=$?
	if [ $rc = "$code" ] && grep -qE "$re" "$W/err" && grep -q '^mkcfs: ' "$W/err"; then pass "$name"
	else fail "$name: rc=$rc (want $code), stderr: $(head -c 300 "$W/err")"; fi
}
echo old > "$W/keep.cfs"
expect_fail "nonexistent source dir -> exit 1" 1 "does-not-exist" "$MKCFS" "$W/does-not-exist" "$W/keep.cfs"
check "  ... existing image untouched" [ "$(cat "$W/keep.cfs")" = old ]
expect_fail "nonexistent source, new image -> exit 1" 1 "does-not-exist" "$MKCFS" "$W/does-not-exist" "$W/new.cfs"
check "  ... no image left behind" [ ! -e "$W/new.cfs" ]

printf '/ 0 40755 2 0 0 0 0.0 - - -\n/%s 0 100644 1 0 0 0 0.0 - - -\n' "$(printf 'x%.0s' $(seq 256))" > "$W/long.dump"
expect_fail "name over 255 bytes in a dump -> exit 1 with FILE:LINE" 1 "long.dump:2: " "$MKCFS" --from-dump "$W/long.dump" "$W/new.cfs"
check "  ... no image left behind" [ ! -e "$W/new.cfs" ]
printf '/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n/b this is not a dump line\n' > "$W/bad.dump"
expect_fail "unparsable dump line -> exit 1 with FILE:LINE" 1 "bad.dump:3: " "$MKCFS" --from-dump "$W/bad.dump" "$W/keep.cfs"
check "  ... existing image untouched" [ "$(cat "$W/keep.cfs")" = old ]
expect_fail "missing dump file -> exit 1" 1 "nope.dump" "$MKCFS" --from-dump "$W/nope.dump" "$W/keep.cfs"

# An unreadable file: run mkcfs as an unprivileged user on a tree with a mode-000 file.
mkdir -p "$W/unpriv/src/d" "$W/unpriv/out"
printf 'secret contents, long enough\n' > "$W/unpriv/src/d/secret"; chmod 000 "$W/unpriv/src/d/secret"
printf 'fine\n' > "$W/unpriv/src/ok"
chmod 755 "$W" "$W/unpriv" "$W/unpriv/src" "$W/unpriv/src/d"; chmod 777 "$W/unpriv/out"
if command -v setpriv > /dev/null; then
	expect_fail "unreadable file -> exit 1 naming it" 1 "d/secret" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$MKCFS" "$W/unpriv/src" "$W/unpriv/out/x.cfs"
	check "  ... no image and no temporary file left" [ -z "$(ls -A "$W/unpriv/out")" ]
else
	skip "unreadable file: setpriv not installed"
fi

# Another filesystem inside the tree: crossed by default, not with --one-file-system.
mkdir -p "$W/xfs/src/mnt" "$W/xfs/src/plain"
printf 'p\n' > "$W/xfs/src/plain/p"
if mount -t tmpfs -o size=1M tmpfs "$W/xfs/src/mnt" 2>/dev/null; then
	MOUNTS+=("$W/xfs/src/mnt")
	printf 'on tmpfs\n' > "$W/xfs/src/mnt/inner"
	"$MKCFS" "$W/xfs/src" "$W/xfs/cross.cfs" && "$MKCFS" --one-file-system "$W/xfs/src" "$W/xfs/one.cfs"
	mkdir -p "$W/xfs/m1" "$W/xfs/m2"
	if mount -t erofs -o ro,loop "$W/xfs/cross.cfs" "$W/xfs/m1" && MOUNTS+=("$W/xfs/m1") &&
	   mount -t erofs -o ro,loop "$W/xfs/one.cfs" "$W/xfs/m2" && MOUNTS+=("$W/xfs/m2"); then
		check "default: descends into another filesystem" [ -e "$W/xfs/m1/mnt/inner" ]
		check "--one-file-system: mount point recorded empty" sh -c '[ -d "$0/mnt" ] && [ -z "$(ls -A "$0/mnt")" ] && [ -e "$0/plain/p" ]' "$W/xfs/m2"
	else
		fail "mounting the --one-file-system images"
	fi
else
	skip "--one-file-system: cannot mount a tmpfs"
fi

# ---- usage ----
usage_err() { local name=$1; shift; "$MKCFS" "$@" > /dev/null 2> "$W/err"; check "usage: $name -> exit 2" [ $? = 2 ]; }
usage_err "no arguments"
usage_err "one argument" "$W/a"
usage_err "three arguments" "$W/a" "$W/x.cfs" extra
usage_err "unknown option" --bogus "$W/a" "$W/x.cfs"
usage_err "bad --min-version" --min-version 7 "$W/a" "$W/x.cfs"
usage_err "min above max" --min-version 1 --max-version 0 "$W/a" "$W/x.cfs"
usage_err "--threads 0" --threads 0 "$W/a" "$W/x.cfs"
usage_err "--store with --from-dump" --store "$W/s9" --from-dump "$W/a.dump" "$W/x.cfs"
check "usage: --help exits 0" sh -c '"$0" --help | grep -q Usage' "$MKCFS"
check "usage: --version exits 0" sh -c '"$0" --version | grep -q "^mkcfs "' "$MKCFS"
check "no x.cfs was created by usage errors" [ ! -e "$W/x.cfs" ]

# ---- versions ----
check "--max-version 0 builds" "$MKCFS" --max-version 0 "$W/c" "$W/v0.cfs"
check "--min-version 1 builds" "$MKCFS" --min-version 1 "$W/c" "$W/v1.cfs"

finish
