#!/bin/bash
# Measured boot under QEMU with a software TPM (swtpm, TPM 2.0 on tpm-tis): cfsroot extends
# PCR 15 with its measured string "cfsroot:sha256:DIGEST" and appends the event to systemd's
# /run/log/systemd/tpm2-measure.log. The guest reads the PCR from sysfs; the host predicts
# it from the digest alone (sha256(zeros || sha256(string))). Also: another image gives
# another value; a PCR the TPM refuses to extend from the OS (17, locality) fails the boot
# closed; no TPM boots with one warning line, or fails under cfsroot.tpm=require. systemd's
# own reading of the record (systemd-pcrlock in a booted trixie) is in suite-ostree.sh part b.
#
# Usage: tests/qemu/suite-tpm.sh [SCENARIO...]
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

start=$SECONDS
TWORK=$QWORK/tpm

_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/$1.log; _sc_err=''; }
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
sc_end() { if [ -z "$_sc_err" ]; then pass "$_sc_name: $1"; else fail "$_sc_name: ${_sc_err}log: $_sc_log"; fi; }

# swtpm_start NAME: a fresh TPM 2.0 state and a daemon serving it; prints the QEMU args.
swtpm_start() {
	local d=$TWORK/swtpm-$1
	rm -rf "$d"; mkdir -p "$d"
	swtpm socket --tpm2 --tpmstate dir="$d" --ctrl type=unixio,path="$d/sock" \
		--pid file="$d/pid" --log file="$d/log" --daemon || return 1
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$d/sock" ] && break; sleep 0.2; done
	echo "-chardev socket,id=chrtpm,path=$d/sock -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0"
}
swtpm_stop() { # the daemon normally exits with QEMU; stop it by its own pid if not
	local p=$TWORK/swtpm-$1/pid
	[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
	return 0
}

# boot NAME DISK APPEND-EXTRA [tpm]: rc in $rc.
boot() {
	local name=$1 disk=$2 extra=$3 tpm=${4:-} q targs=''
	q=$TWORK/$name.qcow2
	rm -f "$q"
	overlay_of "$disk" "$q" || { rc=1; return; }
	if [ -n "$tpm" ]; then targs=$(swtpm_start "$name") || { rc=1; return; }; fi
	# shellcheck disable=SC2086
	qemu_boot "$QLOGS/$name.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 cfsroot.on_failure=poweroff root=LABEL=$LABEL $extra" \
		-drive "file=$q,if=virtio,format=qcow2" $targs
	rc=$?
	[ -n "$tpm" ] && swtpm_stop "$name"
}

# The value PCR N must hold in bank ALG after one measurement of STRING into a fresh TPM.
predict_pcr() { # string, [alg]
	python3 -c 'import hashlib,sys; h=lambda d: hashlib.new(sys.argv[2], d).digest(); print((h(bytes(len(h(b""))) + h(sys.argv[1].encode()))).hex())' "$1" "${2:-sha256}"
}
# The PCR value guest-init printed (sysfs prints upper-case hex).
guest_pcr() { # log, pcr, [alg]
	tr -d '\r' < "$1" | sed -n "s|.*CFSTEST: cat /sys/class/tpm/tpm0/pcr-${3:-sha256}/$2: \([0-9A-Fa-f]*\)$|\1|p" | head -n1 |
		tr 'A-F' 'a-f'
}
cat_pcr() { echo "cfstest.cat=/sys/class/tpm/tpm0/pcr-${2:-sha256}/$1"; }
CAT_LOG=cfstest.cat=/run/log/systemd/tpm2-measure.log

sc_measured() {
	local s="cfsroot:sha256:$DIGEST" want_pcr got ev a banks='' n=0
	boot tpm-measured "$DISK_BASE" "cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST $(cat_pcr 15) $(cat_pcr 15 sha1) $(cat_pcr 15 sha384) $(cat_pcr 15 sha512) $CAT_LOG" tpm
	sc_begin tpm-measured
	want "cfsroot: measured $s into PCR 15 (banks "
	want "CFSTEST: init started"
	want_pcr=$(predict_pcr "$s")
	# Every bank swtpm allocates (sha1, sha256, sha384, sha512 by default) was extended with
	# the string's hash in that bank's algorithm.
	for a in sha256 sha1 sha384 sha512; do
		got=$(guest_pcr "$_sc_log" 15 $a)
		if [ -z "$got" ]; then continue; fi
		n=$((n + 1)); banks+=" $a"
		[ "$got" = "$(predict_pcr "$s" $a)" ] || _sc_err+="PCR 15 ($a) is '$got', predicted $(predict_pcr "$s" $a); "
	done
	[ "$(guest_pcr "$_sc_log" 15)" = "$want_pcr" ] || _sc_err+="no sha256 PCR 15 read; "
	# The event log record, as systemd writes them (RS, JSON, LF): for each bank the
	# digest of the measured string, and the string itself.
	ev=$(tr -d '\r' < "$_sc_log" | grep -F 'CFSTEST: cat /run/log/systemd/tpm2-measure.log: ' | head -n1 |
		sed 's|.*CFSTEST: cat /run/log/systemd/tpm2-measure.log: ||')
	if ! python3 - "$ev" "$s" $banks <<'EOF'
import hashlib, json, sys
line, s, banks = sys.argv[1], sys.argv[2], sys.argv[3:]
assert line.startswith("\x1e"), "no RS before the record"
r = json.loads(line[1:])
assert r["pcr"] == 15, r
assert r["content_type"] == "systemd", r
assert r["content"] == {"string": s}, r
assert sorted(d["hashAlg"] for d in r["digests"]) == sorted(banks), r
for d in r["digests"]:
    assert d["digest"] == hashlib.new(d["hashAlg"], s.encode()).hexdigest(), d
EOF
	then _sc_err+="event log record wrong or missing: '$ev'; "; fi
	sc_end "PCR 15 = $want_pcr (sha256) as predicted on the host from sha256:$DIGEST, and $n banks ($banks ) each extended with the string's hash; the event log record names pcr 15, content.string $s and the same digests"
}

# A second image on a disk of our own (same store plus its new objects), verity enabled by
# an install boot like qemu_prepare's.
make_disk2() {
	local os2=$TWORK/os2 tree=$TWORK/disktree out
	rm -rf "$os2" "$tree"
	cp -a "$QWORK/os" "$os2"
	echo "second image" > "$os2/usr/share/cfstest/second.txt"
	cp -a "$QWORK/disktree" "$tree"
	out=$("$B/mkcfs" --store "$tree/cfs/objects" --print-digest "$os2" "$tree/cfs/images/os2.cfs") || return 1
	DIGEST2=$(grep -oE '[0-9a-f]{64}' <<< "$out" | head -n1)
	DISK2=$TWORK/disk2.img
	rm -f "$DISK2"
	mkfs.ext4 -q -F -b 4096 -O verity -L "$LABEL" -d "$tree" "$DISK2" 64M > /dev/null || return 1
	qemu_boot "$QLOGS/tpm-install2.log" "$VMLINUZ_612" "$INITRD_612" \
		"console=ttyS0 panic=-1 root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.verity_check=0 cfsroot.on_failure=poweroff rw cfstest.install cfstest.measure=/sysroot/cfs/images/os2.cfs" \
		-drive "file=$DISK2,if=virtio,format=raw"
	log_has "$QLOGS/tpm-install2.log" "CFSTEST: measure /sysroot/cfs/images/os2.cfs: sha256:$DIGEST2"
}

sc_other_image() {
	sc_begin tpm-other-image
	if ! make_disk2; then fail "tpm-other-image: could not build the second disk (log: $QLOGS/tpm-install2.log)"; return; fi
	local s="cfsroot:sha256:$DIGEST2" want_pcr got first
	boot tpm-other-image "$DISK2" "cfsroot=/cfs/images/os2.cfs cfsroot.digest=sha256:$DIGEST2 $(cat_pcr 15)" tpm
	sc_begin tpm-other-image
	want "cfsroot: measured $s into PCR 15"
	want "CFSTEST: init started"
	want_pcr=$(predict_pcr "$s")
	first=$(predict_pcr "cfsroot:sha256:$DIGEST")
	got=$(guest_pcr "$_sc_log" 15)
	[ "$got" = "$want_pcr" ] || _sc_err+="PCR 15 is '${got:-not printed}', predicted $want_pcr; "
	[ "$got" != "$first" ] || _sc_err+="same PCR 15 as the first image; "
	sc_end "another image (sha256:$DIGEST2) gives PCR 15 = $want_pcr, not the first image's $first"
}

sc_pcr_off() {
	boot tpm-pcr-off "$DISK_BASE" "cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfsroot.pcr=off $(cat_pcr 15) $CAT_LOG" tpm
	sc_begin tpm-pcr-off
	want "CFSTEST: init started"
	want_not "cfsroot: measured"
	[ "$(guest_pcr "$_sc_log" 15)" = "$(printf '0%.0s' {1..64})" ] || _sc_err+="PCR 15 not all zeros; "
	want "CFSTEST: cat /run/log/systemd/tpm2-measure.log: ! ENOENT"
	sc_end "cfsroot.pcr=off: booted, PCR 15 untouched (zeros), no event log"
}

sc_locality() {
	# The TPM refuses PCR 17 from locality 0 (DRTM PCRs): a real TPM command failure.
	boot tpm-locality "$DISK_BASE" "cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfsroot.pcr=17" tpm
	sc_begin tpm-locality
	want "cfsroot: the TPM failed to extend PCR 17 with cfsroot:sha256:$DIGEST: TPM response code 0x907"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	[ "$rc" = 124 ] && _sc_err+="QEMU timed out; "
	sc_end "a TPM command that fails (PCR_Event on PCR 17: TPM_RC_LOCALITY) fails the boot closed"
}

sc_none_auto() {
	boot tpm-none-auto "$DISK_BASE" "cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST"
	sc_begin tpm-none-auto
	want "cfsroot: no TPM found: the image digest is not measured into PCR 15 (boot goes on; cfsroot.tpm=require refuses this)"
	want "CFSTEST: init started"
	local n
	n=$(tr -d '\r' < "$_sc_log" | grep -F 'cfsroot: ' | grep -ciE 'tpm|pcr')
	[ "$n" = 1 ] || _sc_err+="$n console lines about the TPM, wanted 1; "
	sc_end "no TPM, default cfsroot.tpm=auto: one console line, and the verified root booted"
}

sc_none_require() {
	boot tpm-none-require "$DISK_BASE" "cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$DIGEST cfsroot.tpm=require"
	sc_begin tpm-none-require
	want "cfsroot: no TPM found, and cfsroot.tpm=require: refusing to boot without measuring the image into PCR 15"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	sc_end "no TPM with cfsroot.tpm=require: refused"
}

main() {
	local all="measured other_image pcr_off locality none_auto none_require" s
	if ! command -v swtpm > /dev/null; then
		skip "tpm: swtpm not installed (package swtpm; run make setup)"; finish
	fi
	mkdir -p "$TWORK"
	qemu_prepare
	case $? in
	0) ;;
	2) skip "tpm: $QEMU_REASON"; finish ;;
	*) fail "tpm: preparing the test disk failed"; finish ;;
	esac
	for s in ${*:-$all}; do "sc_$s"; done
	echo "suite-tpm: $((SECONDS - start)) s"
	finish
}
main "$@"
