#!/bin/bash
# `make install` into a DESTDIR, with PREFIX=/usr and with the default /usr/local: the
# programs (cfsroot in sbin, mkcfs and cfs-info in bin), the manual pages (rendered by man
# without a single groff warning), and the dracut module where dracut looks for it, told
# where cfsroot was installed.
. "$(dirname "$0")/../lib.sh"
set -u

for t in scdoc man; do
	command -v "$t" >/dev/null || { skip "install: $t not installed (run make setup)"; finish; }
done
w=$(mktemp -d /tmp/cfsroot-install.XXXXXX)
trap 'rm -rf "$w"' EXIT

# install_into NAME MAKE-ARGS...: prints make's output on failure.
install_into() {
	local n=$1
	shift
	if ! make -s -C "$TOP" B="$B" CACHE="$CACHE" DESTDIR="$w/$n" "$@" install > "$w/$n.log" 2>&1; then
		fail "install: make install $* failed: $(tail -n5 "$w/$n.log" | tr '\n' ' ')"
		return 1
	fi
}

if install_into usr PREFIX=/usr; then
	d=$w/usr
	missing=''
	for f in usr/sbin/cfsroot usr/bin/mkcfs usr/bin/cfs-info usr/bin/cfsroot-uki usr/share/man/man8/cfsroot.8 usr/share/man/man1/mkcfs.1 \
		usr/share/man/man1/cfs-info.1 usr/lib/dracut/modules.d/90cfsroot/module-setup.sh \
		usr/lib/dracut/modules.d/90cfsroot/cfsroot-prepare.service usr/lib/dracut/modules.d/90cfsroot/cfsroot-generator.sh \
		usr/lib/dracut/modules.d/90cfsroot/cfsroot-mount.sh usr/lib/dracut/modules.d/90cfsroot/cfsroot-prepare.sh; do
		[ -f "$d/$f" ] || missing+=" $f"
	done
	if [ -z "$missing" ]; then
		pass "install: PREFIX=/usr DESTDIR=...: cfsroot in sbin, mkcfs, cfs-info and cfsroot-uki in bin, 3 manual pages, the dracut module in usr/lib/dracut/modules.d/90cfsroot"
	else
		fail "install: missing after make install PREFIX=/usr:$missing"
	fi
	check "install: the installed programs run (--version) and cfsroot is static" \
		bash -c '"$1/usr/sbin/cfsroot" --version | grep -q "^cfsroot " && "$1/usr/bin/mkcfs" --version >/dev/null &&
			"$1/usr/bin/cfs-info" --version >/dev/null && ! readelf -d "$1/usr/sbin/cfsroot" | grep -q NEEDED' _ "$d"
	modes=$(stat -c '%a %n' "$d/usr/sbin/cfsroot" "$d"/usr/lib/dracut/modules.d/90cfsroot/* "$d"/usr/share/man/man*/* | sed "s|$d/||")
	if grep -qx '755 usr/sbin/cfsroot' <<< "$modes" && grep -qx '755 usr/lib/dracut/modules.d/90cfsroot/module-setup.sh' <<< "$modes" &&
		grep -qx '644 usr/lib/dracut/modules.d/90cfsroot/cfsroot-prepare.service' <<< "$modes" &&
		grep -qx '644 usr/share/man/man8/cfsroot.8' <<< "$modes"; then
		pass "install: modes: programs and module scripts 0755, unit and manual pages 0644"
	else
		fail "install: modes: $(tr '\n' ' ' <<< "$modes")"
	fi
	if grep -qx 'cfsroot_installed="/usr/sbin/cfsroot"' "$d/usr/lib/dracut/modules.d/90cfsroot/module-setup.sh" &&
		! grep -q '@SBINDIR@' "$d/usr/lib/dracut/modules.d/90cfsroot/module-setup.sh"; then
		pass "install: the dracut module knows where cfsroot was installed (/usr/sbin/cfsroot)"
	else
		fail "install: module-setup.sh: $(grep -n 'cfsroot_installed=' "$d/usr/lib/dracut/modules.d/90cfsroot/module-setup.sh")"
	fi
	for p in man8/cfsroot.8 man1/mkcfs.1 man1/cfs-info.1; do
		page=$d/usr/share/man/$p
		warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 > /dev/null)
		name=$(MANWIDTH=80 man -l "$page" 2>/dev/null | sed -n '/^NAME/{n;p;q}' | sed 's/^ *//')
		if [ -z "$warnings" ] && [ -n "$name" ]; then
			pass "install: man -l $p renders without warnings ('$name')"
		else
			fail "install: man -l $p: warnings: ${warnings:-none}; NAME: ${name:-missing}"
		fi
	done
fi

if install_into local; then
	d=$w/local
	if [ -x "$d/usr/local/sbin/cfsroot" ] && [ -x "$d/usr/local/bin/mkcfs" ] && [ -f "$d/usr/local/share/man/man8/cfsroot.8" ] &&
		grep -q 'cfsroot_installed="/usr/local/sbin/cfsroot"' "$d/usr/local/lib/dracut/modules.d/90cfsroot/module-setup.sh" &&
		[ -z "$(find "$d" -path "$d/usr/local" -prune -o -type f -print)" ]; then
		pass "install: the default PREFIX is /usr/local, nothing is written outside DESTDIR/usr/local"
	else
		fail "install: default prefix: $(cd "$d" && find . -type f | head -n 20 | tr '\n' ' ')"
	fi
fi
finish
