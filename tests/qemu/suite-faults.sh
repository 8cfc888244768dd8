#!/bin/bash
# Fault injection in PID-1 mode, inside one QEMU guest (the 6.12 kernel has fs-verity, so
# this is the verified boot): tests/faults/pid1-harness.sh, as the guest's first process,
# runs the dynamically linked test build of cfsroot ($B/faults/cfsroot) as PID 1 of a fresh
# PID and mount namespace once per distinct call site of a wrapped call on the way to
# switch_root (its first call; the modalias scan of /sys alone makes thousands of calls from
# a few sites), that call failing (tests/faults/shim.c) with one of ENOMEM, EIO, EINTR,
# EAGAIN that applies to it (tests/host/faults.sh tries every call with every applicable
# errno in prepare mode). Each run must end
# in the refusal line and the policy (cfsroot: boot failed; ...), or, where the step
# may fail harmlessly, in the verified root (its init, init=/usr/bin/mkcfs, runs); never a
# crash, a hang, or a root without "cfsroot: verified". Module loading happens in a warm-up
# run only (later runs find the modules loaded), so it is not injected here.
# Console log: $B/test-logs/qemu/faults-pid1.log.
set -u
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/qemu/qemu-lib.sh"

start=$SECONDS
qemu_prepare
case $? in
0) ;;
2) skip "faults-pid1: $QEMU_REASON"; finish ;;
*) fail "faults-pid1: preparing the QEMU test disk failed"; finish ;;
esac
log_has "$INSTALL_LOG" "CFSTEST: install: fs-verity enabled on" ||
	{ fail "faults-pid1: the install boot did not enable fs-verity (log: $INSTALL_LOG)"; finish; }
BUSYBOX=$(command -v busybox)
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
	skip "faults-pid1: needs a static busybox (package busybox-static)"
	finish
fi
make -s -C "$TOP" B="$B" "$B/faults/cfsroot" "$B/faults/shim.so" > /dev/null ||
	{ fail "faults-pid1: building $B/faults/cfsroot and the shim"; finish; }

# The initramfs: an uncompressed cpio with the harness, the test cfsroot, the shim and the
# shared libraries they load, then the product's initramfs (modules, /dev/console...).
ov=$QWORK/faults-overlay
rm -rf "$ov"
mkdir -p "$ov/faults"
cp "$BUSYBOX" "$ov/faults/busybox"
cp "$TOP/tests/faults/pid1-harness.sh" "$ov/faults/"
cp "$B/faults/cfsroot" "$B/faults/shim.so" "$ov/faults/"
for lib in $(ldd "$B/faults/cfsroot" "$B/faults/shim.so" | awk '/=>/ { print $3 } /^\t\// { print $1 }' | sort -u); do
	mkdir -p "$ov$(dirname "$lib")"
	cp -L "$lib" "$ov$lib"
done
initrd=$QWORK/faults-initrd.img
(cd "$ov" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$initrd.tmp" &&
	cat "$INITRD_612" >> "$initrd.tmp" && mv "$initrd.tmp" "$initrd" ||
	{ fail "faults-pid1: building the initramfs failed"; finish; }

log=$QLOGS/faults-pid1.log
mkdir -p "$QWORK/disks"
q=$QWORK/disks/faults-pid1.qcow2
rm -f "$q"
overlay_of "$DISK_BASE" "$q" || { fail "faults-pid1: qemu-img failed"; finish; }
QEMU_TIMEOUT=${FAULTS_QEMU_TIMEOUT:-1500} qemu_boot "$log" "$VMLINUZ_612" "$initrd" \
	"$(base_append) cfsroot.digest=sha256:$DIGEST cfsroot.on_failure=poweroff rdinit=/faults/pid1-harness.sh init=/usr/bin/mkcfs quiet" \
	-drive "file=$q,if=virtio,format=qcow2"
rc=$?
[ "$rc" = 124 ] && fail "faults-pid1: QEMU timed out (the whole run)"
log_has "$log" FAULTDONE || fail "faults-pid1: the harness did not finish (log: $log)"

# Split the console log into runs and judge each.
rm -rf "$QWORK/faults-runs"; mkdir -p "$QWORK/faults-runs"
tr -d '\r' < "$log" | awk -v out="$QWORK/faults-runs" '
	/FAULTRUN / { n++; file = sprintf("%s/%05d", out, n) }
	file { print > file }'
calls=$(tr -d '\r' < "$log" | sed -n 's/.*FAULTCALLS \([0-9]*\).*/\1/p' | head -n1)
tr -d '\r' < "$log" | grep 'FAULTSITE ' | sed 's/.*FAULTSITE //' | sort -rn > "$QWORK/faults-sites.txt"
runs=0 refused=0 reached=0 bad=0 notreached=0
sites=()
policy='cfsroot: boot failed; '
for f in "$QWORK"/faults-runs/*; do
	head=$(grep -m1 'FAULTRUN ' "$f" | sed 's/.*FAULTRUN //')
	end=$(grep -m1 'FAULTEND ' "$f" | sed 's/.*FAULTEND //')
	n=$(sed 's/^n=\([0-9]*\).*/\1/' <<< "$head")
	verified=no; grep -q 'cfsroot: verified ' "$f" && verified=yes
	switched=no; grep -q 'cfsroot: switching root to ' "$f" && switched=yes
	unverified=no; grep -q 'booting UNVERIFIED' "$f" && unverified=yes
	refusal=$(grep 'cfsroot: ' "$f" | grep -vF -e "$policy" -e 'cfsroot: timing:' | tail -n1 | sed 's/^\[ *[0-9.]*\] //')
	# The policy is the command line's (poweroff) once it is read, halt before that.
	if [ "$n" = 0 ]; then
		# The warm-up and the count: clean verified boots.
		if [[ $end == *"status=exit:2"* ]] && [ $verified = yes ] && [ $switched = yes ]; then
			pass "faults-pid1: without injection ($head): verified boot, the root's init ran"
		else
			fail "faults-pid1: run without injection ($head) did not boot: $end (log: $f)"
		fi
		continue
	fi
	runs=$((runs + 1))
	if [[ $end != *"injected=yes"* ]]; then
		notreached=$((notreached + 1))
		continue
	fi
	sites+=("$(sed 's/.* at=\([^ ]*\).*/\1/' <<< "$end")")
	if [[ $end == *"status=signal:2 "* ]] && grep -qF "$policy" "$f" && [ -n "$refusal" ] && [ $unverified = no ]; then
		refused=$((refused + 1))
	elif [[ $end == *"status=exit:2 "* ]] && [ $verified = yes ] && [ $switched = yes ] && [ $unverified = no ]; then
		reached=$((reached + 1))
	else
		bad=$((bad + 1))
		fail "faults-pid1: $head -> $end, verified=$verified, last line '$refusal' (log: $f)"
	fi
done
nsites=$(printf '%s\n' "${sites[@]}" | sort -u | grep -c .)
echo "faults-pid1: $runs runs over ${calls:-?} calls ($nsites distinct call sites): $refused refused with the policy, $reached reached the verified root, $notreached not reached, $bad wrong"
if [ "$runs" -gt 0 ] && [ "$bad" = 0 ] && [ "$notreached" -le $((runs / 10)) ]; then
	pass "faults-pid1: each of $nsites call sites on the way to switch_root failed once ($calls calls in a boot): $refused refused with the policy, $reached still booted the verified root, none crashed, hung or booted unverified"
else
	fail "faults-pid1: $runs runs, $bad wrong, $notreached where the failing call was not reached"
fi
echo "suite-faults: $((SECONDS - start)) s"
finish
