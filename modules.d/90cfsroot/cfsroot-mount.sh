#!/bin/sh
# SPDX-License-Identifier: MIT
# dracut mount hook (non-systemd initramfs), sourced just before rootfs-block's
# 99-mount-root.sh. dracut takes a mounted root only when it looks like one (059: /proc,
# /sys and /dev on it), and a composefs root device need not: when the command line asks for
# cfsroot, mount the root device here with rootfs-block's own hook and turn it into the
# verified root at once, before dracut looks at it. A failure leaves $NEWROOT covered
# (the root device detached, an empty read-only mount in its place) and --apply-policy
# makes cfsroot apply cfsroot.on_failure itself: it does not come back.
# Sourced by dracut: no exit here, names prefixed.
type ismounted > /dev/null 2>&1 || . /lib/dracut-lib.sh

cfsroot_wanted() {
    local w
    set -f
    # shellcheck disable=SC2013
    for w in $(cat /proc/cmdline); do
        w=${w#\"}
        case $w in
        cfsroot=* | cfsroot.*)
            set +f
            return 0
            ;;
        esac
    done
    set +f
    return 1
}

if [ ! -e /run/cfsroot/prepared ] && cfsroot_wanted; then
    if ! ismounted "$NEWROOT" && [ -f "$hookdir/mount/99-mount-root.sh" ]; then
        . "$hookdir/mount/99-mount-root.sh"
    fi
    if ismounted "$NEWROOT"; then
        /usr/bin/cfsroot prepare --apply-policy "$NEWROOT" && mkdir -p /run/cfsroot && : > /run/cfsroot/prepared
    fi
fi
