#!/bin/bash
# Secure Boot under QEMU (OVMF with our own PK/KEK/db enrolled by virt-fw-vars): UKIs built
# by kernel-cmdline/cfsroot-uki, booted from an ESP image as \EFI\BOOT\BOOTX64.EFI.
#   sb-signed          the signed UKI boots the verified root
#   sb-unsigned        the same UKI without its signature: the firmware refuses it
#   sb-other-key       signed with a key not in db: refused
#   sb-cmdline-byte    one byte of the signed .cmdline changed: refused
#   sb-append-ignored  booted with a command line from outside (QEMU -kernel/-append, which
#                      OVMF hands over as load options): systemd-stub ignores it
#   sb-append-control  the same without Secure Boot: the outside command line is taken
#   sb-wrong-digest    a correctly signed UKI pinning another digest: cfsroot refuses the disk
#   sb-pcr11           with a TPM (swtpm): PCR 11 in the guest equals cfsroot-uki's prediction,
#                      PCR 15 the one predicted from the digest
#
# Usage: tests/qemu/suite-secureboot.sh [SCENARIO...]
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

start=$SECONDS
SB=$QWORK/secureboot
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
UKI_TOOL=$TOP/kernel-cmdline/cfsroot-uki
GUID=5c7c4d3e-6f2a-4b1e-9a77-1f0c2b8e9d10
SB_TIMEOUT=${SB_TIMEOUT:-150}

_sc_name='' _sc_log='' _sc_err=''
sc_begin() { _sc_name=$1; _sc_log=$QLOGS/$1.log; _sc_err=''; }
want() { log_has "$_sc_log" "$1" || _sc_err+="missing '$1'; "; }
want_not() { if log_has "$_sc_log" "$1"; then _sc_err+="unexpected '$1'; "; fi; }
sc_end() { if [ -z "$_sc_err" ]; then pass "$_sc_name: $1"; else fail "$_sc_name: ${_sc_err}log: $_sc_log"; fi; }

# The rest of the signed command line of every UKI here (what qemu_boot would append).
uki_cmdline() {
	echo "console=ttyS0 panic=-1 no_timer_check cfsroot.on_failure=poweroff"
}

# make_uki OUT KEY DIGEST [EXTRA]: a UKI of the 6.12 kernel and the cfsroot initramfs.
make_uki() {
	local out=$1 key=$2 digest=$3 extra=${4:-}
	"$UKI_TOOL" --kernel "$VMLINUZ_612" --initrd "$INITRD_612" --digest "sha256:$digest" \
		--image-path "$IMAGE_PATH" --root "LABEL=$LABEL" --append "$(uki_cmdline) $extra" \
		--key "$SB/$key.key" --cert "$SB/$key.crt" -o "$out" > "$out.log" 2>&1
}

# An ESP image holding one UKI as the removable-media boot path.
make_esp() { # uki, esp
	rm -f "$2"
	mkfs.vfat -C -n ESP "$2" 49152 > /dev/null &&
		mmd -i "$2" ::/EFI ::/EFI/BOOT && mcopy -i "$2" "$1" ::/EFI/BOOT/BOOTX64.EFI
}

# sb_boot NAME [QEMU ARGS...]: OVMF with Secure Boot and our keys, the test disk; the console
# goes to the log. A firmware refusal leaves OVMF waiting in its boot menu or shell, so the
# boot also ends when "Access Denied" appears (QEMU stopped by its own pid).
sb_boot() {
	local name=$1 q vars log=$QLOGS/$1.log pid i
	shift
	q=$SB/$name.qcow2; vars=$SB/$name.vars.fd
	rm -f "$q" "$log"
	overlay_of "$DISK_BASE" "$q" || return 1
	cp "${SB_VARS_FILE:-$SB/vars.fd}" "$vars"
	timeout "$SB_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 \
		-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
		-drive "if=pflash,format=raw,unit=0,file=${SB_CODE_FILE:-$OVMF_CODE},readonly=on" \
		-drive "if=pflash,format=raw,unit=1,file=$vars" \
		-no-reboot -nodefaults -display none -serial stdio \
		-drive "file=$q,format=qcow2,if=none,id=root" -device virtio-blk-pci,drive=root \
		"$@" > "$log" 2>&1 < /dev/null &
	pid=$!
	for ((i = 0; i < SB_TIMEOUT * 2; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		if [ -f "$log" ] && tr -d '\r' < "$log" | grep -qE 'Access Denied|Shell> '; then
			sleep 1; kill "$pid" 2>/dev/null; break
		fi
		sleep 0.5
	done
	wait "$pid" 2>/dev/null
	rc=$?
}
esp_args() { echo "-drive file=$1,format=raw,if=none,id=esp -device virtio-blk-pci,drive=esp,bootindex=0"; }

prepare_sb() {
	local t
	for t in mkfs.vfat mcopy mmd openssl sbsign sbattach objcopy python3; do
		command -v $t > /dev/null || { SB_REASON="$t not installed (run make setup)"; return 2; }
	done
	[ -f "$OVMF_CODE" ] && [ -f "$OVMF_VARS" ] || { SB_REASON="OVMF 4M Secure Boot firmware not installed (package ovmf)"; return 2; }
	TOOLS=$("$TOP/tools/fetch-uki-tools.sh" "$CACHE" 2> "$QLOGS/fetch-uki-tools.log") ||
		{ SB_REASON="cannot unpack virt-fw-vars/ukify from backports (see $QLOGS/fetch-uki-tools.log)"; return 2; }
	mkdir -p "$SB"
	for k in PK KEK db other; do
		[ -f "$SB/$k.key" ] && continue
		openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$SB/$k.key" -out "$SB/$k.crt" \
			-subj "/CN=cfsroot test $k/" -days 3650 > /dev/null 2>&1 || return 1
	done
	PYTHONPATH=$TOOLS/root/usr/lib/python3/dist-packages python3 "$TOOLS/root/usr/bin/virt-fw-vars" \
		--input "$OVMF_VARS" --output "$SB/vars.fd" --set-pk "$GUID" "$SB/PK.crt" --add-kek "$GUID" "$SB/KEK.crt" \
		--add-db "$GUID" "$SB/db.crt" --no-microsoft --secure-boot > "$QLOGS/virt-fw-vars.log" 2>&1 ||
		{ echo "virt-fw-vars failed (see $QLOGS/virt-fw-vars.log)" >&2; return 1; }
	make_uki "$SB/good.efi" db "$DIGEST" "cfstest.cat=/proc/cmdline" || { cat "$SB/good.efi.log" >&2; return 1; }
	return 0
}

sc_signed() {
	make_esp "$SB/good.efi" "$SB/esp-good.img" || { fail "sb-signed: cannot make the ESP"; return; }
	# shellcheck disable=SC2046
	sb_boot sb-signed $(esp_args "$SB/esp-good.img")
	sc_begin sb-signed
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want "cfsroot.digest=sha256:$DIGEST"
	want_not "Access Denied"
	sc_end "the signed UKI (db key) booted under Secure Boot from \\EFI\\BOOT\\BOOTX64.EFI and cfsroot verified sha256:$DIGEST"
}

refused_by_firmware() { # name, uki, what
	make_esp "$2" "$SB/esp-$1.img" || { fail "$1: cannot make the ESP"; return; }
	# shellcheck disable=SC2046
	sb_boot "$1" $(esp_args "$SB/esp-$1.img")
	sc_begin "$1"
	want "Access Denied"
	want_not "Linux version"
	want_not "cfsroot: "
	want_not "CFSTEST: init started"
	sc_end "$3: the firmware refused it ('Access Denied'), the kernel never started"
}

sc_unsigned() {
	sbattach --remove "$SB/good.efi" --output "$SB/unsigned.efi" > /dev/null 2>&1 ||
		{ cp "$SB/good.efi" "$SB/unsigned.efi" && sbattach --remove "$SB/unsigned.efi" > /dev/null 2>&1; } ||
		{ fail "sb-unsigned: sbattach --remove failed"; return; }
	refused_by_firmware sb-unsigned "$SB/unsigned.efi" "the signed UKI with its signature removed (sbattach --remove)"
}

sc_other_key() {
	make_uki "$SB/other.efi" other "$DIGEST" || { fail "sb-other-key: building the UKI failed: $(cat "$SB/other.efi.log")"; return; }
	refused_by_firmware sb-other-key "$SB/other.efi" "a UKI signed with a key that is not in db"
}

sc_cmdline_byte() {
	local off
	cp "$SB/good.efi" "$SB/flipped.efi"
	off=$(grep -obUaF "cfsroot.digest=sha256:$DIGEST" "$SB/flipped.efi" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || { fail "sb-cmdline-byte: the digest is not in the UKI"; return; }
	# The last digest digit becomes another hex digit: a command line that would pin another image.
	local c
	c=$(dd if="$SB/flipped.efi" bs=1 skip=$((off + 22 + 63)) count=1 status=none)
	printf '%s' "$([ "$c" = 0 ] && echo 1 || echo 0)" | dd of="$SB/flipped.efi" bs=1 seek=$((off + 22 + 63)) conv=notrunc status=none
	refused_by_firmware sb-cmdline-byte "$SB/flipped.efi" "the last digit of the signed cfsroot.digest= changed (one byte)"
}

# A complete command line (console, root, image) that pins another digest and names another
# init: taken, it makes cfsroot refuse the disk; ignored, the signed one boots.
outside_cmdline() {
	echo "$(uki_cmdline) root=LABEL=$LABEL cfsroot=$IMAGE_PATH cfsroot.digest=sha256:$(printf '0%.0s' {1..64}) init=/bin/sh outside-cmdline-marker"
}

sc_append_ignored() {
	# OVMF loads -kernel through its own loader (the signature is checked) and passes -append
	# as the image's load options. A wrong digest and init=/bin/sh there must change nothing.
	local outside
	outside=$(outside_cmdline)
	sb_boot sb-append-ignored -kernel "$SB/good.efi" -append "$outside"
	sc_begin sb-append-ignored
	want "cfsroot: verified $IMAGE_PATH (sha256:$DIGEST)"
	want "CFSTEST: init started"
	want "CFSTEST: cat /proc/cmdline: "
	want_not "outside-cmdline-marker"
	want_not "/bin/sh"
	sc_end "QEMU -append '$outside' ignored under Secure Boot: /proc/cmdline is the signed one and the pinned root booted"
}

sc_append_control() {
	# The control for sb-append-ignored: the same boot without Secure Boot (plain OVMF, no
	# keys), where systemd-stub does take the load options. Proves that -append reaches the
	# stub, so that its absence above is Secure Boot's doing.
	local outside
	outside=$(outside_cmdline)
	[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || { skip "sb-append-control: no /usr/share/OVMF/OVMF_CODE_4M.fd"; return; }
	SB_CODE_FILE=/usr/share/OVMF/OVMF_CODE_4M.fd SB_VARS_FILE=$OVMF_VARS \
		sb_boot sb-append-control -kernel "$SB/good.efi" -append "$outside"
	sc_begin sb-append-control
	want "outside-cmdline-marker"
	want "cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$(printf '0%.0s' {1..64}), got sha256:$DIGEST"
	want_not "CFSTEST: init started"
	sc_end "without Secure Boot the same -append replaces the UKI's command line (and cfsroot refuses its digest): the -append test above can fail"
}

sc_wrong_digest() {
	local other
	other=$(printf 'cfsroot test: another image' | sha256sum | cut -d' ' -f1)
	make_uki "$SB/wrong.efi" db "$other" || { fail "sb-wrong-digest: building the UKI failed"; return; }
	make_esp "$SB/wrong.efi" "$SB/esp-wrong.img" || { fail "sb-wrong-digest: cannot make the ESP"; return; }
	# shellcheck disable=SC2046
	sb_boot sb-wrong-digest $(esp_args "$SB/esp-wrong.img")
	sc_begin sb-wrong-digest
	want "cfsroot: digest mismatch for $IMAGE_PATH: expected sha256:$other, got sha256:$DIGEST"
	want "cfsroot: boot failed; powering off (cfsroot.on_failure=poweroff)"
	want_not "CFSTEST: init started"
	[ "$rc" = 124 ] && _sc_err+="QEMU timed out; "
	sc_end "a correctly signed UKI pinning sha256:$other: the firmware ran it, cfsroot refused the disk (digest mismatch) and powered off"
}

sc_pcr11() {
	# Measured boot through the whole chain: OVMF + systemd-stub measure the UKI's sections
	# into PCR 11, cfsroot measures the image into PCR 15; both as predicted on the host.
	command -v swtpm > /dev/null || { skip "sb-pcr11: swtpm not installed"; return; }
	local d=$SB/swtpm want11 want15 got11 got15
	make_uki "$SB/pcr.efi" db "$DIGEST" "cfstest.cat=/sys/class/tpm/tpm0/pcr-sha256/11 cfstest.cat=/sys/class/tpm/tpm0/pcr-sha256/15" ||
		{ fail "sb-pcr11: building the UKI failed: $(cat "$SB/pcr.efi.log")"; return; }
	want11=$(sed -n 's/^  sections only (while cfsroot runs): \([0-9a-f]\{64\}\)$/\1/p' "$SB/pcr.efi.log")
	[ -n "$want11" ] || { skip "sb-pcr11: cfsroot-uki predicted no PCR 11: $(grep 'PCR 11' "$SB/pcr.efi.log")"; return; }
	want15=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(bytes(32) + hashlib.sha256(sys.argv[1].encode()).digest()).hexdigest())' "cfsroot:sha256:$DIGEST")
	make_esp "$SB/pcr.efi" "$SB/esp-pcr.img" || { fail "sb-pcr11: cannot make the ESP"; return; }
	rm -rf "$d"; mkdir -p "$d"
	swtpm socket --tpm2 --tpmstate dir="$d" --ctrl type=unixio,path="$d/sock" --pid file="$d/pid" --log file="$d/log" --daemon ||
		{ fail "sb-pcr11: swtpm did not start"; return; }
	# shellcheck disable=SC2046
	sb_boot sb-pcr11 $(esp_args "$SB/esp-pcr.img") -chardev "socket,id=chrtpm,path=$d/sock" \
		-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0
	[ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null
	sc_begin sb-pcr11
	want "CFSTEST: init started"
	got11=$(tr -d '\r' < "$_sc_log" | sed -n 's|.*CFSTEST: cat /sys/class/tpm/tpm0/pcr-sha256/11: \([0-9A-Fa-f]*\)$|\1|p' | tr A-F a-f)
	got15=$(tr -d '\r' < "$_sc_log" | sed -n 's|.*CFSTEST: cat /sys/class/tpm/tpm0/pcr-sha256/15: \([0-9A-Fa-f]*\)$|\1|p' | tr A-F a-f)
	[ "$got11" = "$want11" ] || _sc_err+="PCR 11 is '${got11:-not read}', cfsroot-uki predicted $want11; "
	[ "$got15" = "$want15" ] || _sc_err+="PCR 15 is '${got15:-not read}', predicted $want15; "
	sc_end "under Secure Boot with a TPM: PCR 11 = $want11 as cfsroot-uki printed (systemd-measure), PCR 15 = $want15 from the digest"
}

main() {
	local all="signed unsigned other_key cmdline_byte append_ignored append_control wrong_digest pcr11" s r
	qemu_prepare
	case $? in
	0) ;;
	2) skip "secureboot: $QEMU_REASON"; finish ;;
	*) fail "secureboot: preparing the test disk failed"; finish ;;
	esac
	prepare_sb
	r=$?
	if [ $r = 2 ]; then skip "secureboot: $SB_REASON"; finish; fi
	if [ $r != 0 ]; then fail "secureboot: preparing keys, variables or the UKI failed"; finish; fi
	for s in ${*:-$all}; do "sc_$s"; done
	echo "suite-secureboot: $((SECONDS - start)) s"
	finish
}
main "$@"
