#!/bin/bash
# Host tests of cfs-info (and, through it, the image reader): dump round trips over the
# reference vectors (the project's tests/data/vectors/random, plus ../shared/vectors/public
# when present), `digest` against fsverity-utils, `check` and `objects` on an
# object store, usage and non-image errors.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

INFO=$B/cfs-info
MKCFS=$B/mkcfs
VEC_DIRS=("$TOP/tests/data/vectors/random")
EXTRA=${CFS_VECTORS:-$TOP/../shared/vectors/public}
[ -f "$EXTRA/EXPECTED.tsv" ] && VEC_DIRS+=("$EXTRA")
tmp=$(mktemp -d)
mnt=
cleanup() {
	[ -n "$mnt" ] && umount "$mnt" 2> /dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -x "$INFO" ]; then
	fail "cfs-info: not built ($INFO)"
	finish
fi

# ---- usage ----
"$INFO" --help > "$tmp/help" 2>&1; check "usage: --help exits 0" [ $? = 0 ]
check "usage: --help mentions every command" grep -q "check IMAGE BASEDIR" "$tmp/help"
v=$("$INFO" --version); check "usage: --version" [ -n "$v" ]
for args in "" "bogus" "dump" "dump a b" "objects" "check img" "digest" "--no-such-option dump x"; do
	# shellcheck disable=SC2086
	"$INFO" $args > /dev/null 2>&1
	rc=$?
	check "usage: 'cfs-info $args' exits 2" [ $rc = 2 ]
done

# ---- digest vs fsverity-utils ----
if command -v fsverity > /dev/null; then
	files=()
	for n in 0 1 4095 4096 4097 65536 1048576 1048577; do
		head -c $n /dev/urandom > "$tmp/f$n"
		files+=("$tmp/f$n")
	done
	ok=1
	for f in "${files[@]}"; do
		want=$(fsverity digest --block-size=4096 "$f")
		got=$("$INFO" digest "$f")
		if [ "$want" != "$got" ]; then ok=0; echo "mismatch: want '$want' got '$got'"; fi
	done
	check "digest: equals 'fsverity digest --block-size=4096' for ${#files[@]} sizes" [ $ok = 1 ]
	"$INFO" digest "${files[@]}" > "$tmp/multi"
	fsverity digest --block-size=4096 "${files[@]}" > "$tmp/multi.want"
	check "digest: several files in one call" cmp -s "$tmp/multi" "$tmp/multi.want"
else
	skip "digest: fsverity (package fsverity) not installed"
fi
"$INFO" digest "$tmp/does-not-exist" > /dev/null 2> "$tmp/err"; rc=$?
check "digest: missing file exits 1" [ $rc = 1 ]
check "digest: error names the file" grep -q "does-not-exist" "$tmp/err"

# ---- not an image ----
printf 'hello world\n' > "$tmp/text"
head -c 65536 /dev/urandom > "$tmp/random"
: > "$tmp/empty"
for f in text random empty; do
	"$INFO" dump "$tmp/$f" > "$tmp/out" 2> "$tmp/err"; rc=$?
	check "non-image: '$f' exits 1" [ $rc = 1 ]
	check "non-image: '$f' gives one error naming the file" \
		bash -c '[ "$(wc -l < "$1")" = 1 ] && grep -q "^cfs-info: .*'"$f"'.*not a valid composefs image" "$1"' _ "$tmp/err"
	check "non-image: '$f' prints nothing on stdout" [ ! -s "$tmp/out" ]
done
"$INFO" dump "$tmp/nope" > /dev/null 2> "$tmp/err"; rc=$?
check "non-image: missing file exits 1" [ $rc = 1 ]

# ---- the kernel's view of an image must be the reader's ----
cat > "$tmp/kcmp.py" <<'PYEOF'
# Compares the reader's view of an image (cfs-info dump) with the kernel's (the same image
# mounted as EROFS): paths, types, modes, ids, nlink, mtime, sizes, rdev, symlink targets,
# inline content, metacopy digest and redirect of external files, hard links, whiteouts
# (escaped in the kernel view), and xattrs (overlay ones escaped in the kernel view).
import os, re, stat, sys

def unescape(s):
    out = bytearray(); i = 0
    while i < len(s):
        c = s[i]
        if c == 0x5c and i + 1 < len(s):
            n = s[i + 1]
            if n == ord('x'):
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
            out.append({ord('n'): 10, ord('r'): 13, ord('t'): 9, 0x5c: 0x5c}.get(n, n)); i += 2; continue
        out.append(c); i += 1
    return bytes(out)

dump, mnt = sys.argv[1], os.fsencode(sys.argv[2])
entries = {}
for line in open(dump, 'rb').read().split(b'\n'):
    if not line:
        continue
    f = line.split(b' ')
    path = unescape(f[0])
    e = dict(size=int(f[1]), link=f[2].startswith(b'@'), mode=int(f[2].lstrip(b'@'), 8), nlink=int(f[3]),
             uid=int(f[4]), gid=int(f[5]), rdev=int(f[6]), mtime=f[7],
             payload=None if f[8] == b'-' else unescape(f[8]),
             content=None if f[9] == b'-' else unescape(f[9]),
             digest=None if f[10] == b'-' else bytes.fromhex(f[10].decode()),
             xattrs={})
    for x in f[11:]:
        k, v = x.split(b'=', 1)
        e['xattrs'][unescape(k)] = unescape(v)
    entries[path] = e

errors = []
def err(p, msg):
    if len(errors) < 20:
        print('mismatch: %s: %s' % (p.decode(errors='replace'), msg))
    errors.append(p)

kpaths = set()
for d, dirs, files in os.walk(mnt):
    for n in dirs + files:
        p = os.path.join(d, n)[len(mnt):]
        st = os.lstat(os.path.join(d, n))
        if d == mnt and re.fullmatch(rb'[0-9a-f]{2}', n) and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            continue  # the image's own overlay whiteouts
        kpaths.add(p)
kpaths.add(b'/')
dpaths = set(entries)
for p in sorted(kpaths - dpaths):
    err(p, 'only in the kernel view')
for p in sorted(dpaths - kpaths):
    err(p, 'only in the reader view')

def kx(path):
    xs = {}
    for k in os.listxattr(path, follow_symlinks=False):
        try:
            xs[os.fsencode(k)] = os.getxattr(path, k, follow_symlinks=False)
        except OSError:
            xs[os.fsencode(k)] = None  # the kernel refuses to return it (an ACL it cannot parse)
    return xs

for p in sorted(dpaths & kpaths):
    e = entries[p]
    kp = mnt + (p if p != b'/' else b'')
    kp = kp or mnt
    st = os.lstat(kp)
    if e['link']:
        t = os.lstat(mnt + e['payload'])
        if (st.st_ino, st.st_dev) != (t.st_ino, t.st_dev):
            err(p, 'hard link not to the same inode as its target')
        continue
    xs = kx(kp)
    whiteout = stat.S_ISCHR(e['mode']) and e['rdev'] == 0
    if whiteout:
        if not stat.S_ISREG(st.st_mode) or st.st_size != 0 or b'trusted.overlay.overlay.whiteout' not in xs:
            err(p, 'whiteout is not an escaped whiteout in the kernel view')
    elif stat.S_IFMT(st.st_mode) != stat.S_IFMT(e['mode']):
        err(p, 'type %o vs %o' % (stat.S_IFMT(st.st_mode), stat.S_IFMT(e['mode'])))
        continue
    if stat.S_IMODE(st.st_mode) != stat.S_IMODE(e['mode']):
        err(p, 'permissions %o vs %o' % (stat.S_IMODE(st.st_mode), stat.S_IMODE(e['mode'])))
    if (st.st_uid, st.st_gid, st.st_nlink) != (e['uid'], e['gid'], e['nlink']):
        err(p, 'uid/gid/nlink %s vs %s' % ((st.st_uid, st.st_gid, st.st_nlink), (e['uid'], e['gid'], e['nlink'])))
    sec, nsec = e['mtime'].split(b'.')
    if st.st_mtime_ns != int(sec) * 10**9 + int(nsec):
        err(p, 'mtime %d vs %s' % (st.st_mtime_ns, e['mtime'].decode()))
    if not whiteout and st.st_size != e['size']:
        err(p, 'size %d vs %d' % (st.st_size, e['size']))
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        if st.st_rdev != e['rdev']:
            err(p, 'rdev %d vs %d' % (st.st_rdev, e['rdev']))
    if stat.S_ISLNK(st.st_mode) and os.readlink(kp) != e['payload']:
        err(p, 'symlink target differs')
    if stat.S_ISREG(st.st_mode) and not whiteout:
        if e['content'] is not None:
            if open(kp, 'rb').read() != e['content']:
                err(p, 'inline content differs')
        elif e['size'] > 0:
            mc = xs.get(b'trusted.overlay.metacopy')
            if mc is None:
                err(p, 'external file without metacopy')
            elif (mc[4:] if len(mc) == 36 else None) != e['digest']:
                err(p, 'digest differs')
            rd = xs.get(b'trusted.overlay.redirect')
            if (rd[1:] if rd else None) != e['payload']:
                err(p, 'redirect differs')
    # Every user-visible xattr of the reader is in the kernel view (escaped if overlay's),
    # and everything else the kernel shows is an overlay marker.
    want = {}
    for k, v in e['xattrs'].items():
        if k.startswith(b'trusted.overlay.'):
            k = b'trusted.overlay.overlay.' + k[len(b'trusted.overlay.'):]
        want[k] = v
    for k, v in want.items():
        if k in xs and xs[k] is None:
            continue
        if xs.get(k) != v:
            err(p, 'xattr %s differs' % k.decode(errors='replace'))
    for k in xs:
        if k in want:
            continue
        if k.startswith(b'trusted.overlay.') and not k.startswith(b'trusted.overlay.overlay.'):
            continue
        if k in (b'trusted.overlay.overlay.whiteout', b'trusted.overlay.overlay.whiteouts', b'user.overlay.whiteout',
                 b'user.overlay.whiteouts', b'trusted.overlay.overlay.opaque', b'user.overlay.opaque'):
            continue
        err(p, 'kernel shows unexplained xattr %s' % k.decode(errors='replace'))

print('%d entries compared, %d mismatches' % (len(dpaths & kpaths), len(errors)))
sys.exit(1 if errors else 0)
PYEOF
kernel_ok=
mkdir -p "$tmp/mnt"
if [ "$(id -u)" != 0 ]; then
	skip "kernel view: not root, cannot mount images"
elif ! command -v python3 > /dev/null; then
	skip "kernel view: python3 not installed"
elif ! mount -t erofs -o ro,loop "$TOP/tests/fuzz/corpus/fuzz-image/tiny-handmade.img" "$tmp/mnt" 2> "$tmp/err"; then
	skip "kernel view: cannot mount EROFS here: $(head -n 1 "$tmp/err")"
else
	umount "$tmp/mnt"
	kernel_ok=1
fi
# kernel_compare NAME IMAGE: PASS when the reader and the kernel agree on IMAGE.
kernel_compare() {
	[ -n "$kernel_ok" ] || return 0
	if ! mount -t erofs -o ro,loop "$2" "$tmp/mnt" 2> "$tmp/err"; then
		fail "$1: the kernel does not mount it: $(head -n 1 "$tmp/err")"
		return
	fi
	mnt=$tmp/mnt
	if "$INFO" dump "$2" > "$tmp/k.dump" && python3 "$tmp/kcmp.py" "$tmp/k.dump" "$tmp/mnt" > "$tmp/k.out" 2>&1; then
		pass "$1: reader and kernel agree ($(tail -n 1 "$tmp/k.out"))"
	else
		fail "$1: reader and kernel disagree: $(head -n 3 "$tmp/k.out" | tr '\n' ' ')"
	fi
	umount "$tmp/mnt"
	mnt=
}
for img in "$TOP"/tests/fuzz/corpus/fuzz-image/*.img; do
	kernel_compare "kernel view: $(basename "$img")" "$img"
done

# ---- a hand-made image (not from our writer): compact inodes, inline and chunk-based data,
# inline and shared xattrs, an escaped whiteout ----
cat > "$tmp/tiny.want" <<'EOF'
/ 94 40755 3 0 0 0 100.0 - - - user.a=1 user.shared=v
/d 27 40700 2 0 0 0 100.0 - - -
/ext 100000 100644 1 0 0 0 100.0 ab/cd - 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f user.shared=v
/f 6 100644 1 0 0 0 100.0 - hello\n -
/l 1 120777 1 0 0 0 100.0 f - -
/w 0 20000 1 0 0 0 100.0 - - -
EOF
tiny=$TOP/tests/fuzz/corpus/fuzz-image/tiny-handmade.img
"$INFO" dump "$tiny" > "$tmp/tiny.dump" 2>&1
check "hand-made image: dump as expected" cmp -s "$tmp/tiny.dump" "$tmp/tiny.want"
"$INFO" objects "$tiny" > "$tmp/tiny.obj"
check "hand-made image: objects" [ "$(cat "$tmp/tiny.obj")" = ab/cd ]
head -c 3000 "$tiny" | "$INFO" dump - > /dev/null 2> "$tmp/err"; rc=$?
check "hand-made image: truncated on stdin exits 1 with the reason" \
	bash -c '[ $1 = 1 ] && grep -q "truncated" "$2"' _ $rc "$tmp/err"

if [ ! -x "$MKCFS" ]; then
	skip "mkcfs: not built ($MKCFS), image tests skipped"
	finish
fi

# ---- reference vectors: dump -> image -> dump -> image ----
# Sorts the xattrs (fields 12...) of each dump line: the image keeps them in key order.
norm='{ n = split($0, f, " "); line = f[1]; for (i = 2; i <= 11 && i <= n; i++) line = line " " f[i];
  m = 0; for (i = 12; i <= n; i++) x[++m] = f[i];
  for (i = 2; i <= m; i++) { v = x[i]; j = i - 1; while (j >= 1 && x[j] > v) { x[j + 1] = x[j]; j-- } x[j + 1] = v }
  for (i = 1; i <= m; i++) line = line " " x[i]; print line }'
n_ok=0
for VEC in "${VEC_DIRS[@]}"; do
	[ -f "$VEC/EXPECTED.tsv" ] || { fail "vectors: $VEC/EXPECTED.tsv missing"; continue; }
	while IFS=$'\t' read -r file options sha digest notes; do
		[ "$file" = file ] && continue
		[ "$sha" = must-fail ] && continue
		opts=()
		[ "$options" != "(default)" ] && read -r -a opts <<< "$options"
		case $file in
		*.gz) zcat "$VEC/$file" > "$tmp/in.dump" ;;
		*) cp "$VEC/$file" "$tmp/in.dump" ;;
		esac
		name="vector $file"
		[ "$options" != "(default)" ] && name="$name ($options)"
		if ! "$MKCFS" "${opts[@]}" --from-dump "$tmp/in.dump" "$tmp/a.img" 2> "$tmp/err"; then
			case $notes in
			*non-strict*) skip "$name: mkcfs refuses this non-strict dump ($(head -n 1 "$tmp/err"))" ;;
			*) fail "$name: mkcfs --from-dump failed: $(head -n 2 "$tmp/err")" ;;
			esac
			continue
		fi
		# When our writer reproduces upstream's bytes, this also reads upstream's image.
		if [ "$(sha256sum < "$tmp/a.img" | cut -d' ' -f1)" = "$sha" ]; then
			up=", upstream's exact image"
		else
			up=", image differs from upstream's"
		fi
		if ! "$INFO" dump "$tmp/a.img" > "$tmp/a.dump" 2> "$tmp/err"; then
			fail "$name: cfs-info dump failed: $(head -n 2 "$tmp/err")"
			continue
		fi
		# The dump read back is the source dump, up to the canonical xattr order, for
		# dumps that need no normalising (strict ones; a device's size is not stored).
		case $notes:$file in
		*STRICT=1*:honggfuzz-chardev-nonzero-size.dump | *non-strict*) ;;
		*STRICT=1*)
			if ! cmp -s <(LC_ALL=C awk "$norm" "$tmp/in.dump") <(LC_ALL=C awk "$norm" "$tmp/a.dump"); then
				fail "$name: dump of the image differs from the source dump"
				continue
			fi
			up="$up, dump equals the source" ;;
		esac
		if ! "$MKCFS" "${opts[@]}" --from-dump "$tmp/a.dump" "$tmp/b.img" 2> "$tmp/err"; then
			fail "$name: mkcfs of cfs-info's dump failed: $(head -n 2 "$tmp/err")"
			continue
		fi
		if ! cmp -s "$tmp/a.img" "$tmp/b.img"; then
			fail "$name: dump -> image -> dump -> image is not byte-identical"
			continue
		fi
		"$INFO" dump "$tmp/b.img" > "$tmp/b.dump"
		if ! cmp -s "$tmp/a.dump" "$tmp/b.dump"; then
			fail "$name: dump of the rebuilt image differs"
			continue
		fi
		"$INFO" dump - < "$tmp/a.img" > "$tmp/c.dump"
		if ! cmp -s "$tmp/a.dump" "$tmp/c.dump"; then
			fail "$name: dump from standard input differs"
			continue
		fi
		pass "$name: image -> dump -> image byte-identical ($(stat -c %s "$tmp/a.img") bytes$up)"
		n_ok=$((n_ok + 1))
		kernel_compare "$name" "$tmp/a.img"
	done < "$VEC/EXPECTED.tsv"
done
check "vectors: at least 10 round trips done" [ $n_ok -ge 10 ]

# ---- objects and check, on a store we lay out ourselves ----
mkdir -p "$tmp/store/ab" "$tmp/store/cd" "$tmp/store2/ef"
head -c 10000 /dev/urandom > "$tmp/store/ab/one"
head -c 1 /dev/urandom > "$tmp/store/cd/two"
head -c 5000 /dev/urandom > "$tmp/store2/ef/three"
dig() { "$INFO" digest "$1" | sed 's/^sha256:\([0-9a-f]*\) .*/\1/'; }
d1=$(dig "$tmp/store/ab/one"); d2=$(dig "$tmp/store/cd/two"); d3=$(dig "$tmp/store2/ef/three")
cat > "$tmp/store.dump" <<EOF
/ 0 40755 2 0 0 0 0.0 - - -
/a 10000 100644 1 0 0 0 0.0 ab/one - $d1
/b 1 100644 1 0 0 0 0.0 cd/two - $d2
/c 10000 100644 1 0 0 0 0.0 ab/one - $d1
/d 5000 100600 1 0 0 0 0.0 ef/three - $d3
/e 3 100644 1 0 0 0 0.0 - abc -
EOF
if "$MKCFS" --from-dump "$tmp/store.dump" "$tmp/store.img" 2> "$tmp/err"; then
	printf 'ab/one\ncd/two\nef/three\n' > "$tmp/objects.want"
	"$INFO" objects "$tmp/store.img" > "$tmp/objects"; rc=$?
	check "objects: exits 0" [ $rc = 0 ]
	check "objects: sorted, unique backing paths" cmp -s "$tmp/objects" "$tmp/objects.want"

	"$INFO" check "$tmp/store.img" "$tmp/store" "$tmp/store2" > "$tmp/out" 2>&1; rc=$?
	check "check: good store (two basedirs) exits 0" [ $rc = 0 ]
	"$INFO" check "$tmp/store.img" "$tmp/store" > "$tmp/out" 2>&1; rc=$?
	check "check: object only in a basedir not given is missing (exit 1)" [ $rc = 1 ]
	check "check: names the missing object" grep -q "missing: ef/three" "$tmp/out"

	# Corrupt one object, delete another.
	cp -a "$tmp/store" "$tmp/bad"
	printf 'X' | dd of="$tmp/bad/ab/one" bs=1 seek=4242 conv=notrunc status=none
	rm "$tmp/bad/cd/two"
	"$INFO" check "$tmp/store.img" "$tmp/bad" "$tmp/store2" > "$tmp/out" 2> "$tmp/err"; rc=$?
	check "check: corrupted and missing objects exit 1" [ $rc = 1 ]
	check "check: lists the corrupted object" grep -q "^corrupt: ab/one" "$tmp/out"
	check "check: lists the missing object" grep -q "^missing: cd/two" "$tmp/out"
	check "check: good object not listed" bash -c '! grep -q "ef/three" "$1"' _ "$tmp/out"
	check "check: summary on stderr" grep -q "1 of 3 objects missing, 1 corrupt" "$tmp/err"
	# The first basedir holding an object decides, as in overlayfs' data layers.
	cp -a "$tmp/store" "$tmp/good2"
	"$INFO" check "$tmp/store.img" "$tmp/bad" "$tmp/good2" "$tmp/store2" > "$tmp/out" 2>&1; rc=$?
	check "check: corrupt object in an earlier basedir is not excused by a later one" [ $rc = 1 ]
	"$INFO" check "$tmp/store.img" "$tmp/nonexistent" > /dev/null 2>&1; rc=$?
	check "check: missing basedir exits 1" [ $rc = 1 ]
else
	fail "objects/check: mkcfs --from-dump failed: $(head -n 2 "$tmp/err")"
fi

# ---- a real tree through mkcfs --store ----
mkdir -p "$tmp/tree/sub"
head -c 20000 /dev/urandom > "$tmp/tree/big"
head -c 70000 /dev/urandom > "$tmp/tree/sub/bigger"
echo small > "$tmp/tree/small"
ln -s big "$tmp/tree/link"
if "$MKCFS" --store "$tmp/ostore" "$tmp/tree" "$tmp/tree.img" 2> "$tmp/err"; then
	"$INFO" check "$tmp/tree.img" "$tmp/ostore" > "$tmp/out" 2>&1; rc=$?
	check "store: mkcfs --store output passes check" [ $rc = 0 ]
	"$INFO" objects "$tmp/tree.img" > "$tmp/objects"
	(cd "$tmp/ostore" && find . -type f | sed 's|^\./||' | sort) > "$tmp/objects.want"
	check "store: objects lists exactly the files in the store" cmp -s "$tmp/objects" "$tmp/objects.want"
	check "store: at least the 2 big files are external" [ "$(wc -l < "$tmp/objects")" -ge 2 ]
	"$INFO" dump "$tmp/tree.img" > "$tmp/tree.dump"
	check "store: dump shows the symlink" grep -q "^/link 3 120777 .* big - -" "$tmp/tree.dump"
else
	fail "store: mkcfs --store failed: $(head -n 2 "$tmp/err")"
fi

finish
