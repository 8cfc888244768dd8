#!/faults/busybox sh
# PID 1 of the fault-injection guest (tests/qemu/suite-faults.sh boots it with
# rdinit=/faults/pid1-harness.sh): runs the dynamically linked test build of cfsroot as PID 1
# of a fresh PID and mount namespace, again and again, each time with one of its wrapped calls
# failing (tests/faults/shim.c). Each run gets a private tmpfs copy of this initramfs as its
# root (cfsroot's switch_root empties the root it leaves). The kernel command line carries the
# real cfsroot keys, plus init=/usr/bin/mkcfs: a run that reaches the verified root execs
# mkcfs, which exits 2 (no arguments) and so ends the namespace; a refusal ends in
# cfsroot.on_failure=poweroff, which in a PID namespace kills it with SIGINT.
# One run per distinct call site (its first call), with one errno that applies to it.
# Console protocol: "FAULTRUN n=N name=NAME errno=E site=SITE", cfsroot's own lines, then
# "FAULTEND n=N status=exit:C|signal:S injected=yes|no"; "FAULTCALLS N FAULTSITES M" and
# "FAULTSITE COUNT NAME SITE" once; "FAULTDONE".
/faults/busybox mount -t proc proc /proc
export PATH=/faults/bin
/faults/busybox --install -s /faults/bin
mkdir -p /r /faults-log

# run N ERRNO: one boot attempt with the N-th wrapped call failing (N=0: none).
run() {
	rm -f /faults-log/cur
	: > /faults-log/cur
	exec 7>> /faults-log/cur
	timeout -s KILL 120 unshare -m -p -f sh -c '
		mount --make-rprivate /
		mount -t tmpfs -o size=300m tmpfs /r || exit 125
		for e in /*; do
			case $e in /r | /proc | /sys | /faults-log) ;; *) cp -a "$e" /r/ ;; esac
		done
		mkdir -p /r/proc /r/sys /r/run /r/dev /r/sysroot
		cd /r && mount --move . / && exec chroot . /faults/busybox env \
			LD_PRELOAD=/faults/shim.so FAULT_AT=$1 FAULT_ERRNO=$2 FAULT_LOG_FD=7 /faults/cfsroot' _ "$1" "$2"
	st=$?
	exec 7>&-
	# busybox reports a child killed by signal S as 128+S.
	if [ $st -gt 128 ]; then st="signal:$((st - 128))"; else st="exit:$st"; fi
	# The call that failed (timing-dependent loops can shift the numbering).
	inj=$(awk '$1 == "injected" { print "yes at=" $3 "@" $5; exit }' /faults-log/cur)
	echo "FAULTEND n=$1 status=$st injected=${inj:-no}"
}

errno_for() { # call name, index -> one errno that call can return (rotating through them)
	case $1 in
	syscall-437) set -- "$2" 12 5 4 11 ;;
	open | open64 | openat | openat64 | ioctl) set -- "$2" 12 5 4 ;;
	read | pread | pread64 | write) set -- "$2" 5 4 11 ;;
	poll) set -- "$2" 12 4 ;;
	*) set -- "$2" 12 5 ;;
	esac
	i=$(($1 % ($# - 1) + 2))
	eval echo "\${$i}"
}

echo "FAULTRUN n=0 name=warmup errno=0 site=-"
run 0 0 # loads the modules: later runs find them loaded, so their calls line up
echo "FAULTRUN n=0 name=count errno=0 site=-"
run 0 0
cp /faults-log/cur /faults-log/calls
# Thousands of calls (the modalias scan of /sys alone makes most of them): one run per
# distinct call site, at its first call, keeps the guest within minutes.
awk '$1 ~ /^[0-9]+$/ && !seen[$2 " " $3]++' /faults-log/calls > /faults-log/sites
echo "FAULTCALLS $(grep -c . /faults-log/calls) FAULTSITES $(grep -c . /faults-log/sites)"
awk '$1 ~ /^[0-9]+$/ { c[$2 " " $3]++ } END { for (k in c) print "FAULTSITE", c[k], k }' /faults-log/calls
while read -r n name site; do
	case $n in *[!0-9]*) continue ;; esac
	e=$(errno_for "$name" "$n")
	echo "FAULTRUN n=$n name=$name errno=$e site=$site"
	run "$n" "$e"
done < /faults-log/sites
echo "FAULTDONE"
sync
poweroff -f
