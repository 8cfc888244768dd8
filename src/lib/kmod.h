/* SPDX-License-Identifier: MIT */
/* Kernel module loading through libkmod, for an initramfs without udev: the drivers of
 * the devices present (their sysfs modalias files) and the filesystems cfsroot mounts.
 * libkmod applies "module.param=" options from /proc/cmdline and the initramfs's
 * modprobe.d; its messages go to our logger. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cfs_kmod;

/* dirname NULL: /lib/modules/`uname -r`. Needs /proc mounted (libkmod reads the kernel
 * command line for module options). */
int cfs_kmod_new(const char *dirname, struct cfs_kmod **ret);
struct cfs_kmod *cfs_kmod_free(struct cfs_kmod *k);
static inline void cfs_kmod_freep(struct cfs_kmod **k) { cfs_kmod_free(*k); }

/* Loads every module the alias resolves to, with dependencies and soft dependencies.
 * Built-in and already loaded modules count as loaded. Returns 0 when at least one module
 * is (now) in the kernel, -ENOENT when nothing provides the alias, or the first load error.
 * Each alias is resolved once; repeated calls return the first result. */
int cfs_kmod_load(struct cfs_kmod *k, const char *alias);

/* modprobe.blacklist=: names (NULL-terminated, kept by reference, must outlive k) are never
 * inserted, nor any module that depends on one of them (cfs_kmod_load then returns -EPERM
 * for that module and logs it). */
void cfs_kmod_set_blacklist(struct cfs_kmod *k, char *const *names);

/* Whether name is in names, '-' and '_' counting as the same character. */
bool cfs_module_name_listed(char *const *names, const char *name);

/* Calls cb for the content of every "modalias" file below dir (a sysfs devices tree),
 * without following symlinks. Returns the number of files seen or -errno. */
typedef void (*cfs_modalias_cb)(const char *modalias, void *userdata);
int cfs_modalias_scan(const char *dir, cfs_modalias_cb cb, void *userdata);

/* Loads the drivers for every device below dir (normally /sys/devices). Aliases tried
 * before are skipped, so calling this again while waiting for a device is cheap.
 * Returns the number of modules newly loaded or -errno. */
int cfs_kmod_load_modaliases(struct cfs_kmod *k, const char *dir);
