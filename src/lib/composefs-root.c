/* SPDX-License-Identifier: MIT */
/* The composefs root: the image opened and verified from the root device, mounted as EROFS
 * from that same fd, and the overlayfs over it with the basedirs as data-only layers. The
 * overlay options go one per fsconfig() call; the legacy mount(2) fallback escapes every
 * path, so a basedir containing "," or "verity=off" cannot add an option, and refuses a
 * string longer than the page mount(2) copies (it would be cut, not refused). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "composefs-root.h"
#include "escape.h"
#include "log.h"
#include "mount.h"
#include "uapi/mount.h"
#include "util.h"

_Static_assert(sizeof(struct cfs_loop_config) == 304, "struct loop_config layout");

int cfs_image_open_verified(int sysroot_fd, const char *image, const uint8_t *digest, int verity_check) {
        struct stat st;
        int r;

        /* O_PATH first: the root device's content must not make us open a FIFO (that open
         * blocks forever, so no failure policy would ever run) or a device node (opening one
         * can have effects of its own). Only a regular file is then opened for reading,
         * through the magic link of that same inode, never by its path again. */
        _cleanup_close_ int pfd = cfs_open_in_root(sysroot_fd, image, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (pfd == -ENOSYS)
                return log_error_errno(pfd, "cannot open image %s inside the root device: this kernel has no openat2() (Linux 5.6+ needed)",
                                       CFS_ESC(image));
        if (pfd == -EXDEV)
                return log_error_errno(pfd, "cannot open image %s on the root device: its path leaves the root device's mount",
                                       CFS_ESC(image));
        if (pfd < 0)
                return log_error_errno(pfd, "cannot open image %s on the root device: %m", CFS_ESC(image));
        if (fstat(pfd, &st) < 0)
                return log_error_errno(errno, "cannot stat image %s: %m", CFS_ESC(image));
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "image %s is not a regular file", CFS_ESC(image));
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
        _cleanup_close_ int fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "cannot open image %s on the root device: %m", CFS_ESC(image));

        if (!digest)
                return TAKE_FD(fd);

        uint8_t got[CFS_DIGEST_SIZE];
        char want_hex[2 * CFS_DIGEST_SIZE + 1], got_hex[2 * CFS_DIGEST_SIZE + 1];

        r = cfs_verity_measure_fd(fd, got);
        if (r == -EOPNOTSUPP && verity_check == 2)
                return log_error_errno(r, "this kernel cannot enforce cfsroot.verity_check=2: the root filesystem has no fs-verity");
        if (r == -ENODATA || r == -EOPNOTSUPP)
                return log_error_errno(r, "image %s has no fs-verity: cannot verify it", CFS_ESC(image));
        if (r == -EBADMSG)
                return log_error_errno(r, "image %s has an fs-verity digest that is not SHA-256: cannot verify it", CFS_ESC(image));
        if (r < 0)
                return log_error_errno(r, "cannot measure the fs-verity digest of image %s: %m", CFS_ESC(image));

        hex_encode(digest, CFS_DIGEST_SIZE, want_hex);
        hex_encode(got, CFS_DIGEST_SIZE, got_hex);
        if (memcmp_ct(got, digest, CFS_DIGEST_SIZE) != 0)
                return log_error_errno(EBADMSG, "digest mismatch for %s: expected sha256:%s, got sha256:%s", CFS_ESC(image),
                                       want_hex, got_hex);
        log_info("verified %s (sha256:%s)", CFS_ESC(image), got_hex);
        return TAKE_FD(fd);
}

/* A read-only loop device bound to the open image: the path is never looked up again. */
static int loop_attach(int image_fd, char *ret_dev, size_t devlen) {
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return -errno;

        for (unsigned attempt = 0; attempt < 16; attempt++) {
                int n = ioctl(ctl, CFS_LOOP_CTL_GET_FREE);
                if (n < 0)
                        return -errno;
                char dev[32];
                snprintf(dev, sizeof dev, "/dev/loop%d", n);
                _cleanup_close_ int lfd = open(dev, O_RDWR | O_CLOEXEC);
                if (lfd < 0)
                        return -errno;
                struct cfs_loop_config cfg = {
                        .fd = (uint32_t) image_fd,
                        .info.lo_flags = CFS_LO_FLAGS_READ_ONLY | CFS_LO_FLAGS_AUTOCLEAR,
                };
                if (ioctl(lfd, CFS_LOOP_CONFIGURE, &cfg) < 0) {
                        if (errno == EBUSY)
                                continue; /* somebody else took it: ask again */
                        return -errno;
                }
                snprintf(ret_dev, devlen, "%s", dev);
                return TAKE_FD(lfd);
        }
        return -EBUSY;
}

int cfs_erofs_mount_fd(int image_fd) {
        char src[64], kmsg[256];

        snprintf(src, sizeof src, "/proc/self/fd/%d", image_fd);
        int m = cfs_fsmount("erofs", src, NULL, 0, true, NULL, kmsg, sizeof kmsg);
        if (m >= 0)
                return m;
        if (m == -ENOSYS || m == -ENODEV)
                return m;
        /* Without CONFIG_EROFS_FS_BACKED_BY_FILE the source must be a block device. */
        log_debug("file-backed EROFS mount failed (%s), using a loop device", kmsg[0] ? kmsg : strerror(-m));

        char dev[32];
        _cleanup_close_ int lfd = loop_attach(image_fd, dev, sizeof dev);
        if (lfd < 0)
                return lfd;
        /* The mount keeps the device open; autoclear detaches it once unmounted. */
        return cfs_fsmount("erofs", dev, NULL, 0, true, NULL, NULL, 0);
}

char *cfs_ovl_escape_path(const char *path) {
        size_t n = 0;
        for (const char *p = path; *p; p++)
                n += (*p == ',' || *p == ':' || *p == '\\') ? 2 : 1;
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return NULL;
        for (const char *p = path; *p; p++) {
                if (*p == ',' || *p == ':' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o = '\0';
        return out;
}

/* Appends to a malloc'd string; frees it and returns NULL on failure. */
static char *append(char *s, const char *a, const char *b) {
        char *n = NULL;
        if (!s)
                return NULL;
        if (asprintf(&n, "%s%s%s", s, a, b ?: "") < 0)
                n = NULL;
        free(s);
        return n;
}

int cfs_ovl_legacy_options(const char *lower, char *const *datadirs, size_t n_datadirs, const char *verity_mode,
                           char **ret) {
        /* The fixed options first: should anything ever cut the string short, what is lost
         * is a path (and the mount fails), never verity=. */
        char *s = strdup("metacopy=on,redirect_dir=on");
        if (verity_mode)
                s = append(s, ",verity=", verity_mode);
        _cleanup_free_ char *l = cfs_ovl_escape_path(lower);
        if (!l) {
                free(s);
                return -ENOMEM;
        }
        s = append(s, ",lowerdir=", l);
        for (size_t i = 0; i < n_datadirs; i++) {
                _cleanup_free_ char *d = cfs_ovl_escape_path(datadirs[i]);
                if (!d) {
                        free(s);
                        return -ENOMEM;
                }
                s = append(s, "::", d);
        }
        if (!s)
                return -ENOMEM;
        /* mount(2) copies one page of options and silently ends the string at its last
         * byte: a longer string would mount with options we did not ask for. */
        if (strlen(s) > CFS_MOUNT_DATA_MAX) {
                free(s);
                return -E2BIG;
        }
        *ret = s;
        return 0;
}

const char *cfs_ovl_verity_option(int verity_check) {
        switch (verity_check) {
        case 1:
                return "on";
        case 2:
                return "require";
        default:
                return NULL;
        }
}

size_t cfs_ovl_fs_options(const char *lower, char *const *datadirs, size_t n_datadirs, const char *verity_mode,
                          struct cfs_fs_option *ret) {
        size_t k = 0;

        ret[k++] = (struct cfs_fs_option) { "lowerdir+", lower };
        for (size_t i = 0; i < n_datadirs; i++)
                ret[k++] = (struct cfs_fs_option) { "datadir+", datadirs[i] };
        ret[k++] = (struct cfs_fs_option) { "metacopy", "on" };
        ret[k++] = (struct cfs_fs_option) { "redirect_dir", "on" };
        if (verity_mode)
                ret[k++] = (struct cfs_fs_option) { "verity", verity_mode };
        return k;
}

static int overlay_legacy(const char *target, const char *lower, char *const *datadirs, size_t n,
                          const char *verity_mode) {
        _cleanup_free_ char *opts = NULL;
        int r = cfs_ovl_legacy_options(lower, datadirs, n, verity_mode, &opts);
        if (r < 0)
                return r;
        if (mount("composefs", target, "overlay", MS_RDONLY, opts) < 0)
                return -errno;
        return 0;
}

static int overlay_mount(const char *target, const char *lower, char *const *datadirs, size_t n,
                         const char *verity_mode, char *kmsg, size_t kmsglen) {
        _cleanup_free_ struct cfs_fs_option *opts = calloc(n + 4, sizeof(struct cfs_fs_option));
        const char *failed;
        int r;

        if (!opts)
                return -ENOMEM;
        size_t k = cfs_ovl_fs_options(lower, datadirs, n, verity_mode, opts);

        _cleanup_close_ int m = cfs_fsmount("overlay", "composefs", opts, k, true, &failed, kmsg, kmsglen);
        if (m >= 0) {
                r = cfs_move_mount_fd(m, target);
                return r;
        }
        /* lowerdir+/datadir+ exist since 6.8; older kernels (or a legacy fs context, which
         * accepts every key and fails at create) get the escaped option string. */
        if (m != -EINVAL && m != -ENOSYS)
                return m;
        log_debug("new mount API for overlayfs failed at '%s' (%s), trying mount(2)", failed ?: "create",
                  kmsg && kmsg[0] ? kmsg : strerror(-m));
        return overlay_legacy(target, lower, datadirs, n, verity_mode);
}

/* Called when the composefs overlay was refused: find the missing feature by mounting the
 * smallest overlays that need it, each on the (still empty) target. */
static const char *diagnose_overlay(const char *target, const char *lower, char *const *datadirs,
                                    int verity_check) {
        if (verity_check > 0) {
                int r = overlay_legacy(target, lower, NULL, 0, "require");
                if (r == -EINVAL)
                        return "overlayfs has no 'verity=' option (Linux 6.6+ needed)";
                if (r == 0)
                        (void) umount2(target, MNT_DETACH);
        }
        int r = overlay_legacy(target, lower, datadirs, 1, NULL);
        if (r == -EINVAL)
                return "no data-only lower layers (Linux 6.5+ needed)";
        if (r == 0)
                (void) umount2(target, MNT_DETACH);
        return NULL;
}

int cfs_composefs_mount(const struct cfs_composefs *c, int image_fd) {
        size_t n = c->n_basedirs;
        char kmsg[256] = "";
        _cleanup_close_ int erofs = -EBADF;
        int r;

        if (n == 0)
                return log_error_errno(EINVAL, "no basedir given");
        _cleanup_free_ int *fds = calloc(n, sizeof(int));
        _cleanup_free_ char **paths = calloc(n, sizeof(char *));
        _cleanup_free_ char *bufs = calloc(n, 64);
        if (!fds || !paths || !bufs)
                return log_error_errno(ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                fds[i] = -EBADF;

        /* Each basedir is resolved inside the root device (a symlink cannot lead out of it,
         * nor onto another mount) and handed to overlayfs as the magic link of the opened
         * directory, /proc/self/fd/N: the kernel follows it to that very directory. Never
         * the readlink() text of it: those bytes are the root device's choice (a symlink to
         * a directory named with commas, control characters, or long enough to push an
         * option out of mount(2)'s page), and they would reach the option string,
         * mountinfo and the console. mountinfo shows the fd path instead. */
        for (size_t i = 0; i < n; i++) {
                fds[i] = cfs_open_in_root(c->sysroot_fd, c->basedirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fds[i] == -EXDEV) {
                        r = log_error_errno(fds[i], "basedir %s is not on the root device: its path leaves the root device's mount",
                                            CFS_ESC(c->basedirs[i]));
                        goto out;
                }
                if (fds[i] < 0) {
                        r = log_error_errno(fds[i], "basedir %s not found on the root device: %m", CFS_ESC(c->basedirs[i]));
                        goto out;
                }
                paths[i] = bufs + (size_t) 64 * i;
                snprintf(paths[i], 64, "/proc/self/fd/%d", fds[i]);
                if (log_get_max_level() >= LOG_LEVEL_DEBUG) {
                        /* For the operator only (escaped): where the basedir led. */
                        char where[PATH_MAX];
                        ssize_t k = readlink(paths[i], where, sizeof where - 1);
                        where[k > 0 ? k : 0] = '\0';
                        log_debug("basedir %s is %s on the root device (passed as %s)", CFS_ESC(c->basedirs[i]),
                                  CFS_ESC(where), paths[i]);
                }
        }

        erofs = cfs_erofs_mount_fd(image_fd);
        if (erofs < 0) {
                r = log_error_errno(erofs, "cannot mount the composefs image as EROFS: %m");
                goto out;
        }
        /* overlayfs (before 6.15) only takes layers attached in our mount namespace. */
        r = cfs_move_mount_fd(erofs, c->workdir);
        if (r < 0) {
                log_error_errno(r, "cannot attach the EROFS image at %s: %m", c->workdir);
                goto out;
        }

        const char *mode = cfs_ovl_verity_option(c->verity_check);
        r = overlay_mount(c->target, c->workdir, paths, n, mode, kmsg, sizeof kmsg);
        if (r == -EINVAL) {
                const char *missing = diagnose_overlay(c->target, c->workdir, paths, c->verity_check);
                if (missing)
                        log_error_errno(r, "this kernel cannot enforce cfsroot.verity_check=%d: %s", c->verity_check,
                                        missing);
                else
                        log_error_errno(r, "cannot mount the composefs overlay on %s: %m%s%s%s", c->target,
                                        kmsg[0] ? " (kernel: " : "", kmsg, kmsg[0] ? ")" : "");
        } else if (r == -E2BIG)
                log_error_errno(r, "cannot mount the composefs overlay on %s: its options do not fit in the %d bytes mount(2) takes (use fewer or shorter cfsroot.basedir= directories)",
                                c->target, CFS_MOUNT_DATA_MAX);
        else if (r < 0)
                log_error_errno(r, "cannot mount the composefs overlay on %s: %m%s%s%s", c->target,
                                kmsg[0] ? " (kernel: " : "", kmsg, kmsg[0] ? ")" : "");

        /* The overlay holds its own private clone of the layer; the attached copy goes. */
        (void) umount2(c->workdir, MNT_DETACH);
out:
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
        return r;
}
