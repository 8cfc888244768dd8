#!/bin/bash
# kernel-cmdline/cfsroot-uki on the host: every refusal (exit 1, one line, no file written),
# usage errors (exit 2), and good builds whose .cmdline section, read back with objcopy, is
# exactly the command line asked for, signed so that sbverify accepts the right certificate
# and rejects another. Built with ukify (backports' systemd 254, unpacked by
# tools/fetch-uki-tools.sh) and with the objcopy fallback.
set -u
. "$(dirname "$0")/../lib.sh"

UKI=$TOP/kernel-cmdline/cfsroot-uki
T=$B/test-logs/host-uki
rm -rf "$T"; mkdir -p "$T"

for t in python3 openssl sbsign sbverify objcopy; do
	command -v $t > /dev/null || { skip "uki: $t not installed (run make setup)"; finish; }
done
STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$STUB" ] || { skip "uki: no systemd-stub ($STUB; package systemd-boot-efi)"; finish; }
[ -x "$B/mkcfs" ] || { fail "uki: $B/mkcfs not built"; finish; }
KERNEL=$CACHE/kernels/6.12/vmlinuz
[ -f "$KERNEL" ] || KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | head -n1)
[ -f "${KERNEL:-}" ] || { skip "uki: no kernel image to wrap (fetch the test kernels: tests/qemu/fetch-kernels.sh)"; finish; }
HAVE_UKIFY=0
if command -v ukify > /dev/null || "$TOP/tools/fetch-uki-tools.sh" "$CACHE" > "$T/fetch.log" 2>&1; then HAVE_UKIFY=1; fi

# Keys: the signer, and another one.
for k in db other; do
	openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$T/$k.key" -out "$T/$k.crt" \
		-subj "/CN=cfsroot test $k/" -days 3650 > /dev/null 2>&1 || { fail "uki: openssl cannot make keys"; finish; }
done
# A composefs image, and another.
mkdir -p "$T/tree/etc" "$T/tree2/etc"
echo one > "$T/tree/etc/hostname"; echo two > "$T/tree2/etc/hostname"
D1=$("$B/mkcfs" --print-digest "$T/tree" "$T/os.cfs" | grep -oE '[0-9a-f]{64}' | head -n1)
D2=$("$B/mkcfs" --print-digest "$T/tree2" "$T/os2.cfs" | grep -oE '[0-9a-f]{64}' | head -n1)
"$B/mkcfs" --print-cmdline=/cfs/images/os.cfs "$T/tree" "$T/os-b.cfs" > "$T/printed" 2>/dev/null
INITRD=$T/initrd.img
head -c 65536 /dev/urandom > "$INITRD"
export CFS_INFO=$B/cfs-info

uki() { # OUT, ARGS...: runs the tool with the common inputs; output in $T/out, rc in $rc
	local out=$1; shift
	rm -f "$out"
	"$UKI" --kernel "$KERNEL" --initrd "$INITRD" -o "$out" "$@" > "$T/out" 2>&1
	rc=$?
}
cmdline_of() { # the .cmdline section of a PE file, as bytes
	objcopy -O binary --only-section=.cmdline "$1" "$T/section" && tr -d '\0' < "$T/section"
}

# refused NAME EXPECTED-TEXT ARGS...
refused() {
	local name=$1 text=$2; shift 2
	uki "$T/refused.efi" "$@"
	if [ "$rc" = 1 ] && grep -qF -- "cfsroot-uki: $text" "$T/out" && [ ! -e "$T/refused.efi" ] &&
		[ "$(wc -l < "$T/out")" = 1 ]; then
		pass "uki-refuses-$name: exit 1, one line '$(head -c 150 "$T/out")', nothing written"
	else
		fail "uki-refuses-$name: rc=$rc, wanted 1 with 'cfsroot-uki: $text': $(cat "$T/out")"
	fi
}
GOOD=(--image "$T/os.cfs" --image-path /cfs/images/os.cfs --root LABEL=os --append "console=ttyS0 panic=-1")
refused missing-key "no signing key given" --cert "$T/db.crt" "${GOOD[@]}"
refused missing-cert "no certificate given" --key "$T/db.key" "${GOOD[@]}"
refused absent-key-file "signing key $T/nokey.pem not found" --key "$T/nokey.pem" --cert "$T/db.crt" "${GOOD[@]}"
refused cert-not-key "certificate $T/other.crt does not match the signing key $T/db.key" \
	--key "$T/db.key" --cert "$T/other.crt" "${GOOD[@]}"
printf 'root=LABEL=os cfsroot=/cfs/images/os.cfs' > "$T/nodigest"
refused no-digest "the command line has no cfsroot.digest=" --key "$T/db.key" --cert "$T/db.crt" --cmdline-from "$T/nodigest"
refused no-digest-append "the command line has no cfsroot.digest=" --key "$T/db.key" --cert "$T/db.crt" \
	--append "cfsroot=/cfs/images/os.cfs root=LABEL=os"
refused digest-not-image "digest sha256:$D2 differs from the image $T/os.cfs: its fs-verity digest is sha256:$D1" \
	--key "$T/db.key" --cert "$T/db.crt" --image "$T/os.cfs" --digest "sha256:$D2" --image-path /cfs/images/os.cfs
refused cmdline-not-image "cfsroot.digest=sha256:$D1 on the command line differs from $T/os2.cfs: sha256:$D2" \
	--key "$T/db.key" --cert "$T/db.crt" --image "$T/os2.cfs" --cmdline-from "$T/printed"
refused two-digests "the command line has two different cfsroot.digest= values" --key "$T/db.key" --cert "$T/db.crt" \
	--cmdline-from "$T/printed" --append "cfsroot.digest=sha256:$D2"
refused bad-digest "invalid digest sha256:1234" --key "$T/db.key" --cert "$T/db.crt" --digest sha256:1234 --image-path /x
mkdir -p "$T/deploy"; cp "$T/os.cfs" "$T/deploy/.ostree.cfs"
refused ostree-path "an ostree UKI pins its deployment by digest (cfsroot.ostree): remove ostree= from the command line" \
	--key "$T/db.key" --cert "$T/db.crt" --ostree-deployment "$T/deploy" --append "ostree=/ostree/boot.1/os/x/0"
refused ostree-no-image "ostree deployment $T/tree has no .ostree.cfs" --key "$T/db.key" --cert "$T/db.crt" \
	--ostree-deployment "$T/tree"

"$UKI" --initrd x -o y > "$T/out" 2>&1; rc=$?
check "uki-usage-error: missing --kernel exits 2" [ "$rc" = 2 ]
"$UKI" --help > "$T/out" 2>&1 && "$UKI" --version 2>&1 | grep -q '^cfsroot-uki ' &&
	pass "uki-help-version: --help and --version exit 0" || fail "uki-help-version"

# good NAME EXPECTED-CMDLINE ARGS...: built, signed, .cmdline exact, right cert only.
good() {
	local name=$1 want=$2 got; shift 2
	uki "$T/$name.efi" --key "$T/db.key" --cert "$T/db.crt" "$@"
	local err=''
	[ "$rc" = 0 ] || err+="exit $rc: $(tail -n3 "$T/out"); "
	if [ -f "$T/$name.efi" ]; then
		got=$(cmdline_of "$T/$name.efi")
		[ "$got" = "$want" ] || err+=".cmdline is '$got', wanted '$want'; "
		sbverify --cert "$T/db.crt" "$T/$name.efi" > /dev/null 2>&1 || err+="sbverify with the signing cert fails; "
		sbverify --cert "$T/other.crt" "$T/$name.efi" > /dev/null 2>&1 && err+="sbverify accepts another cert; "
		objcopy -O binary --only-section=.linux "$T/$name.efi" "$T/linux" && cmp -s "$T/linux" "$KERNEL" ||
			err+=".linux is not the kernel; "
	else
		err+="no file written; "
	fi
	grep -qF "cmdline: $want" "$T/out" || err+="does not print the command line; "
	grep -qE "^digest:  sha256:[0-9a-f]{64}$" "$T/out" || err+="does not print the digest; "
	grep -qF "wrote:   $T/$name.efi" "$T/out" || err+="does not print the file; "
	if [ -z "$err" ]; then pass "uki-$name: .cmdline '$want', sbverify OK with db.crt only ($(sed -n 's/.*(built with \([^,]*\),.*/\1/p' "$T/out"))"
	else fail "uki-$name: $err"; fi
}
W="cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$D1 root=LABEL=os console=ttyS0 panic=-1"
if [ "$HAVE_UKIFY" = 1 ]; then
	good image-ukify "$W" "${GOOD[@]}"
	if grep -qE '^  sections only \(while cfsroot runs\): [0-9a-f]{64}$' "$T/out"; then
		pass "uki-pcr11: expected PCR 11 printed ($(grep -m1 '^  sections only' "$T/out" | tr -s ' '); suite-secureboot checks it against a TPM)"
	else
		skip "uki-pcr11: systemd-measure not found or failed: $(grep -m1 'PCR 11' "$T/out")"
	fi
else
	skip "uki-image-ukify: no ukify (see $T/fetch.log)"
fi
good image-objcopy "$W" --ukify none "${GOOD[@]}"
# backports' ukify 254 grows the stub's .sbat: with bookworm's 252 stub that section would
# overlap .sdmagic. The tool notices instead of signing such a file.
if [ "$HAVE_UKIFY" = 1 ] && ! command -v ukify > /dev/null &&
	objcopy -O binary --only-section=.sdmagic "$STUB" /dev/stdout 2>/dev/null | grep -aq 'systemd-stub 252'; then
	refused sections-overlap "the built UKI has overlapping sections .sbat and .sdmagic" --stub "$STUB" \
		--key "$T/db.key" --cert "$T/db.crt" "${GOOD[@]}"
fi
good printed-cmdline "$(cat "$T/printed") root=LABEL=os" --cmdline-from "$T/printed" --root LABEL=os --image "$T/os.cfs"
good digest-only "cfsroot=/cfs/images/os.cfs cfsroot.digest=sha256:$D2 root=LABEL=os" --digest "SHA256:${D2^^}" \
	--image-path /cfs/images/os.cfs --root LABEL=os
good ostree "cfsroot.ostree cfsroot.digest=sha256:$D1 root=LABEL=os rw" --ostree-deployment "$T/deploy" --root LABEL=os --append rw
good ostree-digest "cfsroot.ostree cfsroot.digest=sha256:$D2 root=LABEL=os" --ostree --digest "sha256:$D2" --root LABEL=os
# One byte of the signed .cmdline changed: the signature no longer verifies.
if [ -f "$T/image-objcopy.efi" ]; then
	cp "$T/image-objcopy.efi" "$T/flipped.efi"
	off=$(grep -obUaF "cfsroot.digest=sha256:$D1" "$T/flipped.efi" | head -n1 | cut -d: -f1)
	printf 'X' | dd of="$T/flipped.efi" bs=1 seek=$((off + 30)) conv=notrunc status=none
	if sbverify --cert "$T/db.crt" "$T/flipped.efi" > /dev/null 2>&1; then fail "uki-one-byte: sbverify accepts a changed .cmdline"
	else pass "uki-one-byte: one byte of .cmdline changed: sbverify refuses it"; fi
fi
finish
