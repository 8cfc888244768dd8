/* SPDX-License-Identifier: MIT */
/* Module loading with libkmod: what udev and modprobe would do in a bigger initramfs,
 * reduced to "load the driver of every device that is there" and "load this alias". */
#include <fcntl.h>
#include <libkmod.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kmod.h"
#include "log.h"
#include "util.h"

#define MAX_SYSFS_DEPTH 40

struct alias_result {
        int result;
        char alias[]; /* the key */
};

struct cfs_kmod {
        struct kmod_ctx *ctx;
        void *tried; /* tsearch tree of struct alias_result, by alias */
        unsigned loaded;
        char *const *blacklist; /* modprobe.blacklist=, not owned */
};

_printf_(6, 0) static void kmod_log(void *data, int priority, const char *file, int line, const char *fn,
                                     const char *format, va_list args) {
        char buf[1024];

        vsnprintf(buf, sizeof buf, format, args);
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        /* libkmod's priorities are syslog's, like ours; its info messages ("context
         * released") are debug output for us. */
        int level = priority < LOG_LEVEL_ERR ? LOG_LEVEL_ERR : priority > LOG_LEVEL_WARNING ? LOG_LEVEL_DEBUG : priority;
        log_internal(level, 0, "libkmod: %s", buf);
}

int cfs_kmod_new(const char *dirname, struct cfs_kmod **ret) {
        struct cfs_kmod *k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        k->ctx = kmod_new(dirname, NULL);
        if (!k->ctx) {
                free(k);
                return -ENOMEM;
        }
        kmod_set_log_fn(k->ctx, kmod_log, NULL);
        kmod_set_log_priority(k->ctx, log_get_max_level());
        int r = kmod_load_resources(k->ctx);
        if (r < 0) {
                cfs_kmod_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

static int cmp_alias(const void *a, const void *b) {
        return strcmp(((const struct alias_result *) a)->alias, ((const struct alias_result *) b)->alias);
}

struct cfs_kmod *cfs_kmod_free(struct cfs_kmod *k) {
        if (!k)
                return NULL;
        tdestroy(k->tried, free);
        kmod_unref(k->ctx);
        free(k);
        return NULL;
}

static void unref_listp(struct kmod_list **l) {
        if (*l)
                kmod_module_unref_list(*l);
}

void cfs_kmod_set_blacklist(struct cfs_kmod *k, char *const *names) {
        k->blacklist = names;
}

/* The entry of names equal to name ('-' and '_' alike), or NULL. */
static const char *listed_entry(char *const *names, const char *name) {
        for (char *const *p = names; p && *p; p++) {
                const char *x = *p, *y = name;
                for (; *x && *y; x++, y++)
                        if (*x != *y && !((*x == '-' || *x == '_') && (*y == '-' || *y == '_')))
                                break;
                if (!*x && !*y)
                        return *p;
        }
        return NULL;
}

bool cfs_module_name_listed(char *const *names, const char *name) {
        return listed_entry(names, name) != NULL;
}

/* The blacklisted module that loading m would insert (m itself, one of its dependencies,
 * which modules.dep lists in full, or a soft dependency), or NULL. modprobe applies modprobe.blacklist= the same way
 * to every module it inserts. */
static const char *blacklisted(struct cfs_kmod *k, struct kmod_module *m) {
        const char *hit;

        if (!k->blacklist)
                return NULL;
        hit = listed_entry(k->blacklist, kmod_module_get_name(m));
        if (hit)
                return hit;
        /* Soft dependencies (pre: and post:) are inserted along with m too. */
        _cleanup_(unref_listp) struct kmod_list *deps = kmod_module_get_dependencies(m);
        _cleanup_(unref_listp) struct kmod_list *pre = NULL;
        _cleanup_(unref_listp) struct kmod_list *post = NULL;
        (void) kmod_module_get_softdeps(m, &pre, &post);
        struct kmod_list *lists[] = { deps, pre, post };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                struct kmod_list *e;
                kmod_list_foreach(e, lists[i]) {
                        struct kmod_module *d = kmod_module_get_module(e);
                        hit = listed_entry(k->blacklist, kmod_module_get_name(d));
                        kmod_module_unref(d);
                        if (hit)
                                return hit;
                }
        }
        return NULL;
}

static int load_uncached(struct cfs_kmod *k, const char *alias) {
        _cleanup_(unref_listp) struct kmod_list *list = NULL;
        struct kmod_list *e;
        int r, first_error = 0;
        bool any = false;

        r = kmod_module_new_from_lookup(k->ctx, alias, &list);
        if (r < 0)
                return r;
        if (!list)
                return -ENOENT;

        kmod_list_foreach(e, list) {
                struct kmod_module *m = kmod_module_get_module(e);
                const char *bl = blacklisted(k, m);
                if (bl) {
                        log_info("not loading module %s for %s: %s is in modprobe.blacklist=", kmod_module_get_name(m),
                                 alias, bl);
                        if (first_error == 0)
                                first_error = -EPERM;
                        kmod_module_unref(m);
                        continue;
                }
                /* No flags: a module already in the kernel (live or built in) is success. */
                r = kmod_module_probe_insert_module(m, 0, NULL, NULL, NULL, NULL);
                if (r == -EEXIST)
                        r = 0;
                if (r < 0) {
                        log_debug("loading module %s for %s failed: %s", kmod_module_get_name(m), alias, strerror(-r));
                        if (first_error == 0)
                                first_error = r;
                } else {
                        log_debug("module %s loaded for %s", kmod_module_get_name(m), alias);
                        any = true;
                }
                kmod_module_unref(m);
        }
        return any ? 0 : first_error;
}

int cfs_kmod_load(struct cfs_kmod *k, const char *alias) {
        size_t n = strlen(alias);
        struct alias_result *key = malloc(sizeof *key + n + 1);
        if (!key)
                return -ENOMEM;
        memcpy(key->alias, alias, n + 1);

        struct alias_result **found = tfind(key, &k->tried, cmp_alias);
        if (found) {
                free(key);
                return (*found)->result;
        }
        key->result = load_uncached(k, alias);
        if (key->result == 0)
                k->loaded++;
        if (!tsearch(key, &k->tried, cmp_alias)) {
                int r = key->result;
                free(key);
                return r;
        }
        return key->result;
}

static int scan_dir(int dfd, unsigned depth, cfs_modalias_cb cb, void *userdata) {
        _cleanup_closedir_ DIR *d = fdopendir(dfd);
        int count = 0;

        if (!d) {
                safe_close(dfd);
                return -errno;
        }
        if (depth > MAX_SYSFS_DEPTH)
                return 0;

        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                unsigned char type = de->d_type;
                if (type == DT_UNKNOWN) {
                        struct stat st;
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
                }
                if (type == DT_DIR) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue;
                        int r = scan_dir(sub, depth + 1, cb, userdata);
                        if (r > 0)
                                count += r;
                } else if (type == DT_REG && streq(de->d_name, "modalias")) {
                        char buf[4096];
                        _cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                        if (fd < 0)
                                continue;
                        ssize_t n = loop_read(fd, buf, sizeof buf - 1);
                        if (n <= 0)
                                continue;
                        buf[n] = '\0';
                        buf[strcspn(buf, "\n")] = '\0';
                        if (buf[0]) {
                                cb(buf, userdata);
                                count++;
                        }
                }
        }
        return count;
}

int cfs_modalias_scan(const char *dir, cfs_modalias_cb cb, void *userdata) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return scan_dir(fd, 0, cb, userdata);
}

static void load_one(const char *modalias, void *userdata) {
        (void) cfs_kmod_load(userdata, modalias);
}

int cfs_kmod_load_modaliases(struct cfs_kmod *k, const char *dir) {
        unsigned before = k->loaded;
        int r = cfs_modalias_scan(dir, load_one, k);
        if (r < 0)
                return r;
        return (int) (k->loaded - before);
}
