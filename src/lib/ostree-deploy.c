/* SPDX-License-Identifier: MIT */
/* Finding an ostree deployment through libostree's OstreeSysroot, and the immutable
 * attribute ostree puts on deployment directories. See ostree-deploy.h. */
#include <fcntl.h>
#include <gio/gio.h>
#include <limits.h>
#include <linux/fs.h>
#include <ostree.h>
#include <sys/ioctl.h>

/* glib defines these too, identically; ours follow. */
#undef MIN
#undef MAX

#include "log.h"
#include "ostree-deploy.h"
#include "util.h"

void cfs_ostree_deployment_done(struct cfs_ostree_deployment *d) {
        if (d->sysroot_obj) {
                ostree_sysroot_unlock(d->sysroot_obj);
                g_object_unref(d->sysroot_obj);
        }
        free(d->sysroot);
        free(d->repo);
        free(d->dir);
        free(d->osname);
        *d = (struct cfs_ostree_deployment) {};
}

/* Opens, locks and loads the sysroot at an absolute path. */
static int load_sysroot(const char *path, OstreeSysroot **ret) {
        g_autoptr(GFile) f = g_file_new_for_path(path);
        g_autoptr(OstreeSysroot) sysroot = ostree_sysroot_new(f);
        g_autoptr(GError) err = NULL;
        gboolean acquired = FALSE;

        /* On a booted ostree system the sysroot is mounted read-only: like ostree's own admin
         * commands, work in a private mount namespace where locking remounts it writable
         * (nothing happens when the sysroot is not the booted one, or without root). */
        if (!ostree_sysroot_initialize_with_mount_namespace(sysroot, NULL, &err))
                return log_error_errno(-EIO, "Failed to prepare the ostree sysroot '%s': %s", path, err->message);
        if (!ostree_sysroot_load(sysroot, NULL, &err))
                return log_error_errno(-EINVAL, "'%s' is not an ostree sysroot: %s", path, err->message);
        /* Held until done: `ostree admin cleanup` must not remove the deployment meanwhile. */
        if (!ostree_sysroot_try_lock(sysroot, &acquired, &err))
                return log_error_errno(-EIO, "Failed to lock the ostree sysroot '%s': %s", path, err->message);
        if (!acquired)
                return log_error_errno(-EBUSY, "The ostree sysroot '%s' is locked by another ostree command; try again when it is done", path);
        /* Loaded again under the lock, so the list cannot be stale. */
        if (!ostree_sysroot_load(sysroot, NULL, &err)) {
                ostree_sysroot_unlock(sysroot);
                return log_error_errno(-EINVAL, "Failed to load the ostree sysroot '%s': %s", path, err->message);
        }
        *ret = g_steal_pointer(&sysroot);
        return 0;
}

static int fill(OstreeSysroot *sysroot, const char *sysroot_path, OstreeDeployment *dep, int index,
                struct cfs_ostree_deployment *ret) {
        g_autofree char *rel = ostree_sysroot_get_deployment_dirpath(sysroot, dep);
        const char *csum = ostree_deployment_get_csum(dep);
        struct cfs_ostree_deployment d = { .index = index };

        if (!csum || !ostree_validate_checksum_string(csum, NULL))
                return log_error_errno(-EINVAL, "Deployment %d of '%s' has no valid commit checksum", index, sysroot_path);
        memcpy(d.commit, csum, CFS_OSTREE_CHECKSUM_HEX);
        d.sysroot = strdup(sysroot_path);
        d.osname = strdup(ostree_deployment_get_osname(dep) ?: "");
        if (!d.sysroot || !d.osname || asprintf(&d.repo, "%s/ostree/repo", streq(sysroot_path, "/") ? "" : sysroot_path) < 0 ||
            asprintf(&d.dir, "%s/%s", streq(sysroot_path, "/") ? "" : sysroot_path, rel) < 0) {
                cfs_ostree_deployment_done(&d);
                return log_error_errno(-ENOMEM, "Out of memory");
        }
        d.sysroot_obj = g_object_ref(sysroot);
        *ret = d;
        return 0;
}

int cfs_ostree_deployment_by_index(const char *sysroot_path, unsigned index, struct cfs_ostree_deployment *ret) {
        g_autoptr(OstreeSysroot) sysroot = NULL;
        char abs[PATH_MAX];
        int r;

        if (!realpath(sysroot_path, abs))
                return log_error_errno(-errno, "Cannot open the ostree sysroot '%s': %m", sysroot_path);
        r = load_sysroot(abs, &sysroot);
        if (r < 0)
                return r;
        GPtrArray *deps = ostree_sysroot_get_deployments(sysroot);
        guint n = deps ? deps->len : 0;
        if (index >= n) {
                r = log_error_errno(-ENOENT, "The ostree sysroot '%s' has no deployment %u (it has %u; `ostree admin status` lists them)",
                                    abs, index, n);
                ostree_sysroot_unlock(sysroot);
        } else {
                r = fill(sysroot, abs, deps->pdata[index], (int) index, ret);
                if (r < 0)
                        ostree_sysroot_unlock(sysroot);
        }
        if (deps)
                g_ptr_array_unref(deps);
        return r;
}

int cfs_ostree_deployment_by_dir(const char *deploy_dir, struct cfs_ostree_deployment *ret) {
        g_autoptr(OstreeSysroot) sysroot = NULL;
        char abs[PATH_MAX];
        int r;

        if (!realpath(deploy_dir, abs))
                return log_error_errno(-errno, "Cannot open the deployment '%s': %m", deploy_dir);
        /* SYSROOT/ostree/deploy/OS/deploy/CHECKSUM.SERIAL: the sysroot is what precedes it. */
        char *p = NULL;
        for (char *q = strstr(abs, "/ostree/deploy/"); q; q = strstr(q + 1, "/ostree/deploy/"))
                p = q;
        if (!p)
                return log_error_errno(-EINVAL, "'%s' is not an ostree deployment: expected SYSROOT/ostree/deploy/OS/deploy/CHECKSUM.SERIAL", abs);
        _cleanup_free_ char *sysroot_path = p == abs ? strdup("/") : strndup(abs, (size_t) (p - abs));
        if (!sysroot_path)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = load_sysroot(sysroot_path, &sysroot);
        if (r < 0)
                return r;

        GPtrArray *deps = ostree_sysroot_get_deployments(sysroot);
        r = -ENOENT;
        for (guint i = 0; deps && i < deps->len; i++) {
                g_autofree char *rel = ostree_sysroot_get_deployment_dirpath(sysroot, deps->pdata[i]);
                if (rel && streq(rel, p + 1)) {
                        r = fill(sysroot, sysroot_path, deps->pdata[i], (int) i, ret);
                        break;
                }
        }
        if (deps)
                g_ptr_array_unref(deps);
        if (r == -ENOENT)
                log_error_errno(r, "'%s' is not a deployment of the ostree sysroot '%s' (`ostree admin status` lists them)", abs, sysroot_path);
        if (r < 0)
                ostree_sysroot_unlock(sysroot);
        return r;
}

int cfs_immutable_lift(int dfd, bool *ret_was) {
        int flags = 0;
        if (ioctl(dfd, FS_IOC_GETFLAGS, &flags) < 0) {
                if (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL) {
                        *ret_was = false;
                        return 0;
                }
                return -errno;
        }
        if (!(flags & FS_IMMUTABLE_FL)) {
                *ret_was = false;
                return 0;
        }
        flags &= ~FS_IMMUTABLE_FL;
        if (ioctl(dfd, FS_IOC_SETFLAGS, &flags) < 0)
                return -errno;
        *ret_was = true;
        return 0;
}

int cfs_immutable_set(int dfd) {
        int flags = 0;
        if (ioctl(dfd, FS_IOC_GETFLAGS, &flags) < 0)
                return -errno;
        if (flags & FS_IMMUTABLE_FL)
                return 0;
        flags |= FS_IMMUTABLE_FL;
        if (ioctl(dfd, FS_IOC_SETFLAGS, &flags) < 0)
                return -errno;
        return 0;
}
