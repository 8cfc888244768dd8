/* SPDX-License-Identifier: MIT */
/* Finding an ostree deployment on the root device and assembling the booted system around
 * its verified composefs image, as ostree-prepare-root does when ostree has composefs:
 * the image is "/", the deployment's etc is /etc (or a transient overlay), the stateroot's
 * var is /var, the physical root stays at /sysroot read-only, and /run/ostree-booted tells
 * ostree which deployment was booted. Only the image is covered by the digest: /etc and
 * /var are the deployment's mutable state (see the README's threat model). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "composefs-root.h"
#include "escape.h"
#include "log.h"
#include "mount.h"
#include "booted-record.h"
#include "deployment.h"
#include "util.h"

#define DEPLOY_ROOT "/ostree/deploy"

void cfs_ostree_deployment_done(struct cfs_ostree_deployment *d) {
        free(d->path);
        free(d->stateroot);
        *d = (struct cfs_ostree_deployment) {};
}

const char *cfs_ostree_init(const char *init) {
        static const char prepare_root[] = "/usr/lib/ostree/ostree-prepare-root";
        size_t n = init ? strlen(init) : 0;

        if (n >= sizeof prepare_root - 1 && streq(init + n - (sizeof prepare_root - 1), prepare_root)) {
                log_info("ignoring init=%s: cfsroot prepares the ostree root itself", CFS_ESC(init));
                return NULL;
        }
        return init;
}

static bool is_component(const char *s, size_t n) {
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        return memchr(s, '/', n) == NULL;
}

int cfs_ostree_parse_deploy_path(const char *path, char **ret_stateroot) {
        static const char prefix[] = DEPLOY_ROOT "/";
        const char *os = path + sizeof prefix - 1, *slash, *name;

        if (strncmp(path, prefix, sizeof prefix - 1) != 0)
                return -EINVAL;
        slash = strchr(os, '/');
        if (!slash || !is_component(os, (size_t) (slash - os)) || strncmp(slash, "/deploy/", 8) != 0)
                return -EINVAL;
        name = slash + 8;
        if (!is_component(name, strlen(name)))
                return -EINVAL;
        char *s = strndup(os, (size_t) (slash - os));
        if (!s)
                return -ENOMEM;
        *ret_stateroot = s;
        return 0;
}

/* The path of an open fd as the kernel names it. */
static int fd_path(int fd, char **ret) {
        char link[64], buf[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, buf, sizeof buf - 1);
        if (n < 0)
                return errno > 0 ? -errno : -EIO; /* never 0 without *ret */
        if ((size_t) n >= sizeof buf - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* The deployment directory's path relative to the root device's mount: the kernel's name
 * of dfd with the name of sysroot_fd cut off. */
static int path_in_root(int sysroot_fd, int dfd, char **ret) {
        _cleanup_free_ char *root = NULL, *dir = NULL;
        int r;

        r = fd_path(sysroot_fd, &root);
        if (r < 0)
                return r;
        r = fd_path(dfd, &dir);
        if (r < 0)
                return r;
        size_t n = streq(root, "/") ? 0 : strlen(root);
        if (strncmp(dir, root, n) != 0 || dir[n] != '/')
                return -EXDEV;
        char *s = strdup(dir + n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int fill_deployment(int sysroot_fd, const char *path, struct cfs_ostree_deployment *ret) {
        _cleanup_free_ char *p = strdup(path), *stateroot = NULL;
        struct stat st;
        int r;

        if (!p)
                return log_error_errno(ENOMEM, "out of memory");
        r = cfs_ostree_parse_deploy_path(path, &stateroot);
        if (r < 0)
                return r == -ENOMEM ? log_error_errno(r, "out of memory")
                                    : log_error_errno(r, "%s is not an ostree deployment (" DEPLOY_ROOT "/STATEROOT/deploy/NAME)", CFS_ESC(path));
        _cleanup_close_ int dfd = cfs_open_in_root(sysroot_fd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(dfd, "cannot open the deployment %s: %m", CFS_ESC(path));
        if (fstat(dfd, &st) < 0)
                return log_error_errno(errno, "cannot stat the deployment %s: %m", CFS_ESC(path));
        *ret = (struct cfs_ostree_deployment) {
                .path = TAKE_PTR(p),
                .stateroot = TAKE_PTR(stateroot),
                .dev = st.st_dev,
                .ino = st.st_ino,
        };
        return 0;
}

/* ostree=PATH: the boot loader's symlink, resolved inside the root device. */
static int resolve_ostree_arg(int sysroot_fd, const char *arg, char **ret_path) {
        _cleanup_close_ int dfd = cfs_open_in_root(sysroot_fd, arg, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(dfd, "cannot resolve ostree=%s on the root device: %m", CFS_ESC(arg));
        int r = path_in_root(sysroot_fd, dfd, ret_path);
        if (r < 0)
                return log_error_errno(r, "cannot tell where ostree=%s leads on the root device: %m", CFS_ESC(arg));
        log_debug("ostree=%s resolves to %s", CFS_ESC(arg), CFS_ESC(*ret_path));
        return 0;
}

/* The fs-verity digest of DIR/.ostree.cfs (a regular file, no symlink followed), or -errno. */
static int measure_image(int dirfd, uint8_t ret[CFS_DIGEST_SIZE]) {
        struct stat st;
        _cleanup_close_ int pfd = openat(dirfd, CFS_OSTREE_IMAGE, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
        _cleanup_close_ int fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return cfs_verity_measure_fd(fd, ret);
}

struct matches {
        char **v;
        size_t n, alloc;
        unsigned measured;
};

static void matches_done(struct matches *m) {
        for (size_t i = 0; i < m->n; i++)
                free(m->v[i]);
        free(m->v);
}

/* cfsroot.ostree: every deployment of every stateroot whose image has the digest. */
static int scan_deployments(int sysroot_fd, const uint8_t *digest, struct matches *m) {
        _cleanup_close_ int root = cfs_open_in_root(sysroot_fd, DEPLOY_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return log_error_errno(root, "cannot open %s on the root device (cfsroot.ostree needs an ostree sysroot): %m",
                                       DEPLOY_ROOT);
        _cleanup_closedir_ DIR *osdir = fdopendir(root);
        if (!osdir)
                return log_error_errno(errno, "cannot read %s: %m", DEPLOY_ROOT);
        root = -EBADF; /* owned by osdir now */

        struct dirent *os;
        while ((errno = 0, os = readdir(osdir))) {
                if (!is_component(os->d_name, strlen(os->d_name)))
                        continue;
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/deploy", os->d_name) < 0)
                        return log_error_errno(ENOMEM, "out of memory");
                int dfd = openat(dirfd(osdir), sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0) {
                        log_debug("skipping %s/%s: %s", DEPLOY_ROOT, CFS_ESC(sub), strerror(errno));
                        continue;
                }
                _cleanup_closedir_ DIR *deploys = fdopendir(dfd);
                if (!deploys) {
                        safe_close(dfd);
                        return log_error_errno(errno, "cannot read %s/%s: %m", DEPLOY_ROOT, CFS_ESC(sub));
                }
                struct dirent *de;
                while ((errno = 0, de = readdir(deploys))) {
                        if (!is_component(de->d_name, strlen(de->d_name)))
                                continue;
                        _cleanup_close_ int one = openat(dirfd(deploys), de->d_name,
                                                         O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (one < 0)
                                continue; /* NAME.origin files and the like */
                        uint8_t got[CFS_DIGEST_SIZE];
                        int r = measure_image(one, got);
                        if (r < 0) {
                                log_debug("no measurable %s in %s/%s/%s: %s", CFS_OSTREE_IMAGE, DEPLOY_ROOT, CFS_ESC(sub),
                                          CFS_ESC(de->d_name), strerror(-r));
                                continue;
                        }
                        m->measured++;
                        if (memcmp_ct(got, digest, CFS_DIGEST_SIZE) != 0)
                                continue;
                        if (GROW_ARRAY(m->v, m->alloc, m->n + 1, 4) < 0 ||
                            asprintf(&m->v[m->n], "%s/%s/%s", DEPLOY_ROOT, sub, de->d_name) < 0)
                                return log_error_errno(ENOMEM, "out of memory");
                        m->n++;
                }
                if (errno != 0)
                        return log_error_errno(errno, "cannot read %s/%s: %m", DEPLOY_ROOT, CFS_ESC(sub));
        }
        if (errno != 0)
                return log_error_errno(errno, "cannot read %s: %m", DEPLOY_ROOT);
        return 0;
}

static int find_by_digest(int sysroot_fd, const uint8_t *digest, char **ret_path) {
        _cleanup_(matches_done) struct matches m = {};
        char hex[2 * CFS_DIGEST_SIZE + 1];
        int r;

        hex_encode(digest, CFS_DIGEST_SIZE, hex);
        r = scan_deployments(sysroot_fd, digest, &m);
        if (r < 0)
                return r;
        if (m.n == 0)
                return log_error_errno(ENOENT, "no ostree deployment has an %s with digest sha256:%s (%u images measured under %s/*/deploy/)",
                                       CFS_OSTREE_IMAGE, hex, m.measured, DEPLOY_ROOT);
        if (m.n > 1) {
                /* Two deployments of one commit share the image but not /etc: which one to
                 * boot is not the digest's to decide, so neither is booted. */
                size_t len = 1;
                for (size_t i = 0; i < m.n; i++)
                        len += CFS_ESCAPE_BUF + 2;
                _cleanup_free_ char *names = calloc(1, len);
                if (!names)
                        return log_error_errno(ENOMEM, "out of memory");
                for (size_t i = 0; i < m.n; i++) {
                        if (i > 0)
                                strcat(names, ", ");
                        strcat(names, CFS_ESC(m.v[i]));
                }
                return log_error_errno(ENOTUNIQ, "%zu deployments have digest sha256:%s: %s; one digest must pin one deployment: boot the boot loader entry with its ostree=, or undeploy the duplicate",
                                       m.n, hex, names);
        }
        log_info("found deployment %s by its digest (%u images measured)", CFS_ESC(m.v[0]), m.measured);
        *ret_path = TAKE_PTR(m.v[0]);
        m.n = 0;
        return 0;
}

int cfs_ostree_open_image(int sysroot_fd, const struct cfsroot_config *c, struct cfs_ostree_deployment *ret) {
        _cleanup_free_ char *path = NULL, *image = NULL;
        struct cfs_ostree_deployment d = {};
        int r;

        if (c->ostree)
                r = resolve_ostree_arg(sysroot_fd, c->ostree, &path);
        else
                r = find_by_digest(sysroot_fd, c->digest, &path);
        if (r < 0)
                return r;
        r = fill_deployment(sysroot_fd, path, &d);
        if (r < 0)
                return r;
        if (asprintf(&image, "%s/%s", path, CFS_OSTREE_IMAGE) < 0) {
                cfs_ostree_deployment_done(&d);
                return log_error_errno(ENOMEM, "out of memory");
        }
        /* The same check as any cfsroot image: with ostree= the deployment the boot loader
         * names must have the digest, never merely some deployment. */
        int fd = cfs_image_open_verified(sysroot_fd, image, c->have_digest ? c->digest : NULL, c->verity_check);
        if (fd < 0) {
                cfs_ostree_deployment_done(&d);
                return fd;
        }
        *ret = d;
        return fd;
}

static int make_dir(const char *path, mode_t mode) {
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* A bind mount of a directory of the root device (resolved inside it) onto dest. */
static int bind_from_root(int sysroot_fd, const char *path, const char *dest) {
        _cleanup_close_ int fd = cfs_open_in_root(sysroot_fd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(fd, "cannot open %s on the root device: %m", CFS_ESC(path));
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        if (mount(self, dest, NULL, MS_BIND, NULL) < 0)
                return log_error_errno(errno, "cannot bind-mount %s on %s: %m", CFS_ESC(path), CFS_ESC(dest));
        return 0;
}

static int mount_transient_etc(const char *target, const char *dest) {
        static const char *const dirs[] = { "/run/ostree", CFS_OSTREE_TRANSIENT_ETC,
                                            CFS_OSTREE_TRANSIENT_ETC "/upper", CFS_OSTREE_TRANSIENT_ETC "/work" };
        static const mode_t modes[] = { 0755, 0700, 0755, 0755 };
        _cleanup_free_ char *lower = NULL;
        char kmsg[256];
        const char *failed = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = make_dir(dirs[i], modes[i]);
                if (r < 0)
                        return log_error_errno(r, "cannot create %s: %m", dirs[i]);
        }
        if (asprintf(&lower, "%s/usr/etc", target) < 0)
                return log_error_errno(ENOMEM, "out of memory");
        const struct cfs_fs_option opts[] = {
                { "lowerdir", lower },
                { "upperdir", CFS_OSTREE_TRANSIENT_ETC "/upper" },
                { "workdir", CFS_OSTREE_TRANSIENT_ETC "/work" },
        };
        _cleanup_close_ int mnt = cfs_fsmount("overlay", "transient-etc", opts, ELEMENTSOF(opts), false, &failed, kmsg,
                                              sizeof kmsg);
        if (mnt < 0)
                return log_error_errno(mnt, "cannot mount the transient /etc (overlay of the image's /usr/etc%s%s%s%s): %m",
                                       failed ? ", option " : "", failed ?: "", kmsg[0] ? ": " : "", kmsg);
        r = cfs_move_mount_fd(mnt, dest);
        if (r < 0)
                return log_error_errno(r, "cannot attach the transient /etc on %s: %m", dest);
        return 0;
}

static int touch(const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        return fd < 0 ? -errno : 0;
}

/* Per-mount read-only, keeping the other per-mount flags: the superblock stays writable
 * for the /etc and /var bind mounts, as with ostree's sysroot.readonly. */
static int remount_ro(const char *path) {
        static const struct {
                unsigned long st, ms;
        } keep[] = {
                { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
                { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
        };
        struct statvfs sv;
        unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;

        if (statvfs(path, &sv) < 0)
                return -errno;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                if (sv.f_flag & keep[i].st)
                        flags |= keep[i].ms;
        if (mount(NULL, path, NULL, flags, NULL) < 0)
                return -errno;
        return 0;
}

/* /boot on the root device itself (boot/loader a symlink there, as ostree writes it when
 * /boot is no separate partition): bind it on the deployment's /boot like
 * ostree-prepare-root, or ostree in the booted system finds no boot loader entries. */
static int bind_boot(int sysroot_fd, const char *target) {
        struct stat st;
        _cleanup_free_ char *dest = NULL;

        _cleanup_close_ int boot = cfs_open_in_root(sysroot_fd, "/boot", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (boot < 0 || fstatat(boot, "loader", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode)) {
                log_debug("no /boot/loader symlink on the root device: /boot is not bound");
                return 0;
        }
        if (asprintf(&dest, "%s/boot", target) < 0)
                return log_error_errno(ENOMEM, "out of memory");
        return bind_from_root(sysroot_fd, "/boot", dest);
}

int cfs_ostree_assemble(const struct cfs_ostree_deployment *d, int sysroot_fd, const char *sysroot,
                        const char *target, enum cfsroot_etc etc) {
        _cleanup_free_ char *etc_src = NULL, *var_src = NULL, *etc_dest = NULL, *var_dest = NULL;
        int r;

        if (asprintf(&etc_src, "%s/etc", d->path) < 0 || asprintf(&etc_dest, "%s/etc", target) < 0 ||
            asprintf(&var_src, "%s/%s/var", DEPLOY_ROOT, d->stateroot) < 0 || asprintf(&var_dest, "%s/var", target) < 0)
                return log_error_errno(ENOMEM, "out of memory");

        r = make_dir("/run/ostree", 0755);
        if (r < 0)
                return log_error_errno(r, "cannot create /run/ostree: %m");
        /* PID-1 mode mounts the root device writable; an initramfs calling prepare decides. */
        struct statvfs sv;
        if (statvfs(sysroot, &sv) == 0 && (sv.f_flag & ST_RDONLY))
                log_warning("%s is mounted read-only: the deployment's /etc and /var will be read-only too (mount the root device read-write, e.g. with rw)",
                            sysroot);

        if (etc == CFSROOT_ETC_TRANSIENT)
                r = mount_transient_etc(target, etc_dest);
        else
                r = bind_from_root(sysroot_fd, etc_src, etc_dest);
        if (r < 0)
                return r;
        r = bind_from_root(sysroot_fd, var_src, var_dest);
        if (r < 0)
                return r;
        r = bind_boot(sysroot_fd, target);
        if (r < 0)
                return r;
        r = touch(CFS_OSTREE_INITRAMFS_MOUNT_VAR);
        if (r < 0)
                return log_error_errno(r, "cannot create %s: %m", CFS_OSTREE_INITRAMFS_MOUNT_VAR);

        struct cfs_ostree_booted booted = {
                .backing_dev = (uint64_t) d->dev,
                .backing_ino = (uint64_t) d->ino,
                .composefs = true,
                .sysroot_ro = true,
                .transient_etc = etc == CFSROOT_ETC_TRANSIENT ? CFS_OSTREE_TRANSIENT_ETC : NULL,
        };
        r = cfs_ostree_booted_write(&booted, CFS_OSTREE_BOOTED);
        if (r < 0)
                return log_error_errno(r, "cannot write %s: %m", CFS_OSTREE_BOOTED);

        /* Last: the bind mounts above were made from the writable mount. */
        r = remount_ro(sysroot);
        if (r < 0)
                return log_error_errno(r, "cannot make %s read-only: %m", sysroot);
        log_info("ostree deployment %s: /etc %s, /var from %s, %s read-only", CFS_ESC(d->path),
                 etc == CFSROOT_ETC_TRANSIENT ? "transient (lost at reboot)" : "persistent", CFS_ESC(var_src), CFS_ESC(sysroot));
        return 0;
}
