#!/bin/bash
# dracut module for cfsroot: after dracut has mounted the root device on /sysroot,
# `cfsroot prepare` verifies the composefs image named on the kernel command line against
# cfsroot.digest= and mounts the verified root over /sysroot (the root device moves to
# /sysroot/sysroot, nosuid,nodev). Opt-in: `dracut --add cfsroot`.
# SPDX-License-Identifier: MIT

# The cfsroot to put into the initramfs: $cfsroot_binary (environment or a dracut.conf.d
# file), else the one `make install` put there (its path is written below at install
# time), else one in dracut's PATH.
cfsroot_installed="@SBINDIR@/cfsroot"
cfsroot_find() {
    local b
    for b in "${cfsroot_binary:-}" "$cfsroot_installed"; do
        [[ $b == /* && -x $dracutsysrootdir$b ]] && {
            echo "$dracutsysrootdir$b"
            return 0
        }
    done
    find_binary cfsroot
}

# called by dracut
check() {
    if ! cfsroot_find > /dev/null; then
        derror "cfsroot: no cfsroot binary (install it, or set cfsroot_binary=/path/to/cfsroot)"
        return 1
    fi
    # Never included unless asked for, like ostree's and bootc's modules.
    return 255
}

# called by dracut
depends() {
    echo base fs-lib
}

# called by dracut
installkernel() {
    # erofs for the image, overlay for the composefs root, loop when erofs cannot mount a
    # file directly, and the crc32c implementation ext4 (and erofs) ask for at mount time.
    hostonly='' instmods erofs overlay loop crc32c crc32c_generic
}

# called by dracut
install() {
    local bin
    bin=$(cfsroot_find) || return 1
    # Static: no libraries to follow. One fixed path for the unit and the hook.
    inst_simple "$bin" /usr/bin/cfsroot

    if dracut_module_included "systemd"; then
        inst_simple "$moddir/cfsroot-prepare.service" "$systemdsystemunitdir/cfsroot-prepare.service"
        mkdir -p "$initdir$systemdsystemunitdir/initrd-root-fs.target.wants"
        ln_r "$systemdsystemunitdir/cfsroot-prepare.service" \
            "$systemdsystemunitdir/initrd-root-fs.target.wants/cfsroot-prepare.service"
        inst_script "$moddir/cfsroot-generator.sh" "$systemdutildir/system-generators/cfsroot-generator"
    else
        # Sorted before rootfs-block's 99-mount-root.sh, which it calls itself.
        inst_hook mount 99 "$moddir/cfsroot-mount.sh"
        # Before any other pre-pivot hook reads the new root: it must be the verified one.
        inst_hook pre-pivot 05 "$moddir/cfsroot-prepare.sh"
    fi
}
