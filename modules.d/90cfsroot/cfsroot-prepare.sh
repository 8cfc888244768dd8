#!/bin/sh
# SPDX-License-Identifier: MIT
# dracut pre-pivot hook (non-systemd initramfs): the backstop for a root that the mount
# hook did not prepare (mounted by another module's hook, say). Runs on every boot that got
# here without /run/cfsroot/prepared: cfsroot decides from the whole command line (without a
# cfsroot key it does nothing), so a command line that asks for cfsroot is never skipped.
# On failure $NEWROOT is covered and cfsroot applies cfsroot.on_failure itself.
# Sourced by dracut: no exit here.
[ -e /run/cfsroot/prepared ] || /usr/bin/cfsroot prepare --apply-policy "${NEWROOT:-/sysroot}"
