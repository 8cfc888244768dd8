/* SPDX-License-Identifier: MIT */
/* Mounting the physical root device the way the kernel would (rootfstype= as a list tried
 * in order), but without letting the device's own superblock choose to panic the kernel
 * on the first error it finds (ext2/3/4 errors=panic): cfsroot must get to refuse. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Splits a comma-separated list (empty items dropped) into a NULL-terminated malloc'd
 * array of malloc'd strings; appended to *list (which may be NULL) with *n updated.
 * Returns 0 or -ENOMEM. */
int cfs_list_append_split(char ***list, size_t *n, const char *s);
void cfs_list_free(char **list);
static inline void cfs_list_freep(char ***list) { cfs_list_free(*list); }

/* Whether the filesystem takes its error behaviour from its own superblock (ext2, ext3,
 * ext4: errors=continue|remount-ro|panic set by tune2fs -e). */
bool cfs_fstype_has_disk_error_policy(const char *fstype);

/* The mount data for fstype: rootflags as given, plus "errors=remount-ro" for a
 * filesystem whose superblock could say errors=panic, unless rootflags sets errors= itself.
 * Returns 0 and a malloc'd string (NULL when there is nothing to pass) or -ENOMEM. */
int cfs_rootflags_for(const char *fstype, const char *rootflags, char **ret);

/* Whether a failed mount with this error means "not this type, try the next one in
 * rootfstype=" (the kernel continues on EINVAL and EACCES; ENODEV is a type this
 * initramfs has no driver for). */
bool cfs_mount_error_try_next(int error);
