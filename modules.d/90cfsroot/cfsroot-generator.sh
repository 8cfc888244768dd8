#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd generator (initramfs): when the kernel command line has a cfsroot key, cfsroot
# owns /sysroot, including an ostree boot (ostree= with cfsroot.digest=): mask ostree's own
# ostree-prepare-root.service, so that it cannot rearrange /sysroot before or after us.
# A mask in the early directory wins over the unit and its wants link from 98ostree.
# cfsroot-prepare.service itself does not depend on this: it always runs.
set -f
early=${2:-/run/systemd/generator.early}
cmdline=$(cat /proc/cmdline 2>/dev/null) || exit 0
for word in $cmdline; do
    # The kernel removes one level of double quotes around values; '-' and '_' are the
    # same in key names, and every cfsroot key starts with "cfsroot" either way.
    word=${word#\"}
    case $word in
    cfsroot=* | cfsroot.*)
        mkdir -p "$early"
        ln -sf /dev/null "$early/ostree-prepare-root.service"
        echo "<6>cfsroot-generator: cfsroot owns this boot ($word): ostree-prepare-root.service masked" \
            > /dev/kmsg 2> /dev/null
        exit 0
        ;;
    esac
done
exit 0
