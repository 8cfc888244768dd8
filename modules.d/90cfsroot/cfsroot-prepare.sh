#!/bin/sh
# SPDX-License-Identifier: MIT
# dracut pre-pivot hook (non-systemd initramfs): the root device is mounted on $NEWROOT;
# verify the composefs image and mount the verified root over it before switch_root.
# Sourced by dracut: no exit here. Whatever happens to the exit status, a failure leaves
# $NEWROOT covered by an empty read-only mount, and --apply-policy makes cfsroot apply
# cfsroot.on_failure itself (halt, poweroff or reboot); it never comes back on failure.
# Without a cfsroot key on the command line it does nothing.
/usr/bin/cfsroot prepare --apply-policy "${NEWROOT:-/sysroot}"
