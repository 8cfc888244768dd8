/* SPDX-License-Identifier: MIT */
/* rootfstype= lists and the root device's mount data (see rootfs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rootfs.h"
#include "util.h"

void cfs_list_free(char **list) {
        if (!list)
                return;
        for (char **p = list; *p; p++)
                free(*p);
        free(list);
}

int cfs_list_append_split(char ***list, size_t *n, const char *s) {
        size_t items = 1;
        for (const char *p = s; *p; p++)
                items += *p == ',';
        char **l = realloc(*list, (*n + items + 1) * sizeof(char *));
        if (!l)
                return -ENOMEM;
        *list = l;
        l[*n] = NULL;
        for (const char *p = s;;) {
                size_t len = strcspn(p, ",");
                if (len > 0) {
                        char *item = strndup(p, len);
                        if (!item)
                                return -ENOMEM; /* what was added so far stays valid */
                        l[(*n)++] = item;
                        l[*n] = NULL;
                }
                if (!p[len])
                        break;
                p += len + 1;
        }
        return 0;
}

bool cfs_fstype_has_disk_error_policy(const char *fstype) {
        return fstype && (streq(fstype, "ext4") || streq(fstype, "ext3") || streq(fstype, "ext2"));
}

static bool has_errors_option(const char *flags) {
        for (const char *p = flags; p && *p;) {
                if (strncmp(p, "errors=", 7) == 0)
                        return true;
                p = strchr(p, ',');
                if (p)
                        p++;
        }
        return false;
}

int cfs_rootflags_for(const char *fstype, const char *rootflags, char **ret) {
        char *s = NULL;

        if (cfs_fstype_has_disk_error_policy(fstype) && !has_errors_option(rootflags)) {
                if (asprintf(&s, "%s%serrors=remount-ro", rootflags ?: "", rootflags && *rootflags ? "," : "") < 0)
                        return -ENOMEM;
        } else if (rootflags) {
                s = strdup(rootflags);
                if (!s)
                        return -ENOMEM;
        }
        *ret = s;
        return 0;
}

bool cfs_mount_error_try_next(int error) {
        error = error < 0 ? -error : error;
        return error == EINVAL || error == EACCES || error == ENODEV;
}
