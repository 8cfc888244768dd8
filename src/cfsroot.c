/* SPDX-License-Identifier: MIT */
/* cfsroot: the static initramfs /init that boots a verified composefs root, plus
 * `cfsroot prepare SYSROOT` for an initramfs that mounted the root device itself (dracut)
 * and `cfsroot verity enable|measure PATH...` for installers and tests.
 * This file only sequences the steps and applies the failure policy; the steps live in
 * src/lib (cmdline, kmod, blockdev, mount, switchroot, console). */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>

#include "blockdev.h"
#include "cmdline.h"
#include "composefs-root.h"
#include "console.h"
#include "deployment.h"
#include "escape.h"
#include "kmod.h"
#include "log.h"
#include "measure.h"
#include "mount.h"
#include "prepare.h"
#include "rootfs.h"
#include "switchroot.h"
#include "util.h"
#include "verity.h"

/* In the initramfs: private scratch directories on the rootfs, deleted with it. */
#define INIT_WORKDIR "/.cfsroot-lower"
#define INIT_NEWROOT "/.cfsroot-root"
#define SYSROOT "/sysroot"
#define DEFAULT_INIT "/sbin/init"

static struct {
        double start, modules, device, rootfs, verified, mounted, exec;
} T;

static double step_start;

/* cfsroot.debug: every step with its duration. */
static void step_done(const char *what) {
        double now = cfs_now_ms();
        log_debug("step %s done in %.3f ms", what, now - step_start);
        step_start = now;
}

static void log_timing(void) {
        log_info("timing: start=%.3f modules=%.3f device=%.3f rootfs=%.3f verified=%.3f mounted=%.3f exec=%.3f",
                 T.start, T.modules, T.device, T.rootfs, T.verified, T.mounted, T.exec);
}

/* PID 1 must never exit (the kernel panics): the policy ends in halt, poweroff or reboot. */
_Noreturn static void fail_boot(enum cfsroot_on_failure policy) {
        static const char *const verb[] = {
                [CFSROOT_ON_FAILURE_HALT] = "halting",
                [CFSROOT_ON_FAILURE_POWEROFF] = "powering off",
                [CFSROOT_ON_FAILURE_REBOOT] = "rebooting",
        };
        log_error("boot failed; %s (cfsroot.on_failure=%s)", verb[policy], cfsroot_on_failure_to_string(policy));
        sync();
        switch (policy) {
        case CFSROOT_ON_FAILURE_POWEROFF:
                reboot(RB_POWER_OFF);
                break;
        case CFSROOT_ON_FAILURE_REBOOT:
                reboot(RB_AUTOBOOT);
                break;
        default:
                reboot(RB_HALT_SYSTEM);
                break;
        }
        for (;;)
                pause();
}

static int read_cmdline(char **ret) {
        char buf[8192];
        _cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "cannot open /proc/cmdline: %m");
        ssize_t n = loop_read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return log_error_errno((int) n, "cannot read /proc/cmdline: %m");
        /* A cut command line could lose a cfsroot key: refuse rather than guess. */
        if ((size_t) n == sizeof buf - 1)
                return log_error_errno(E2BIG, "the kernel command line is longer than %zu bytes: cannot read all of it",
                                       sizeof buf - 2);
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : log_error_errno(ENOMEM, "out of memory");
}

/* Reads and checks the command line. Returns 1 when cfsroot should act, 0 when no cfsroot
 * key is there, -errno on a bad command line (c->on_failure is what it could parse). */
static int load_config(struct cfsroot_config *c) {
        _cleanup_free_ char *cmdline = NULL;
        char err[1024];
        bool unverified = false;
        int r;

        r = read_cmdline(&cmdline);
        if (r < 0) {
                *c = (struct cfsroot_config) { .verity_check = -1 };
                return r;
        }
        r = cfsroot_config_parse(cmdline, c, err, sizeof err);
        if (r < 0)
                return err[0] ? log_error_errno(r, "%s", err) : log_error_errno(r, "cannot parse /proc/cmdline: %m");
        if (!c->active)
                return 0;
        if (c->debug)
                log_set_max_level(LOG_LEVEL_DEBUG);
        r = cfsroot_config_check(c, &unverified, err, sizeof err);
        if (r < 0)
                return err[0] ? log_error_errno(r, "%s", err) : log_error_errno(r, "cannot apply the cfsroot defaults: %m");
        if (unverified)
                log_warning("booting UNVERIFIED root: no cfsroot.digest= given and cfsroot.verity_check=%d",
                            c->verity_check);
        else if (c->verity_check == 0)
                log_warning("cfsroot.verity_check=0: the image is verified, the files it names are not");
        return 1;
}

/* A feature cfsroot needs. No module for it (-ENOENT: built in, or not shipped) and one
 * in modprobe.blacklist= (-EPERM, said by the library) are normal; a module that is there
 * and fails to load is not: the mount that needs it fails next, and this line says why. */
static void load_module(struct cfs_kmod *k, const char *alias) {
        int r = cfs_kmod_load(k, alias);
        if (r == -ENOENT || r == -EPERM)
                log_debug("no module loaded for %s: %s", alias, strerror(-r));
        else if (r < 0)
                log_warning("cannot load the module for %s: %s", alias, strerror(-r));
}

static void rescan_modaliases(void *userdata) {
        int n = cfs_kmod_load_modaliases(userdata, "/sys/devices");
        if (n > 0)
                log_debug("loaded drivers for %d device aliases", n);
}

static int mount_root_device(const struct cfsroot_config *c, struct cfs_kmod *k) {
        _cleanup_free_ char *dev = NULL, *probed = NULL;
        _cleanup_(cfs_list_freep) char **types = NULL;
        size_t n_types = 0;
        int r;

        if (!c->root)
                return log_error_errno(EINVAL, "no root= on the kernel command line: add the device that holds %s (root=UUID=..., root=LABEL=... or root=/dev/...)",
                                       c->image ? CFS_ESC(c->image) : "the ostree sysroot");
        if (c->rootdelay > 0) {
                log_info("waiting %u s (rootdelay=%u)", c->rootdelay, c->rootdelay);
                sleep(c->rootdelay);
        }
        /* rootfstype= is a list, tried in order as the kernel does. */
        if (c->rootfstype && cfs_list_append_split(&types, &n_types, c->rootfstype) < 0)
                return log_error_errno(ENOMEM, "out of memory");
        if (c->rootfstype && n_types == 0)
                return log_error_errno(EINVAL, "invalid rootfstype=%s: no filesystem type in it", CFS_ESC(c->rootfstype));
        unsigned timeout = c->rootwait ? c->rootwait_sec : CFSROOT_DEFAULT_ROOT_WAIT_SEC;
        r = cfs_blockdev_wait(c->root, types, timeout, rescan_modaliases, k, &dev, &probed);
        if (r < 0)
                return r;
        T.device = cfs_now_ms();
        step_done("device");

        if (!types) {
                if (!probed)
                        return log_error_errno(EINVAL, "cannot tell the filesystem type of root device %s: add rootfstype=",
                                               CFS_ESC(dev));
                if (cfs_list_append_split(&types, &n_types, probed) < 0)
                        return log_error_errno(ENOMEM, "out of memory");
        }
        if (mkdir(SYSROOT, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create %s: %m", SYSROOT);
        /* ostree roots: the superblock stays writable for the /etc and /var bind mounts;
         * the /sysroot mount itself is made read-only once they exist. */
        bool rw = c->rw || cfsroot_config_is_ostree(c);
        for (size_t i = 0; i < n_types; i++) {
                const char *fstype = types[i];
                _cleanup_free_ char *flags = NULL;
                char alias[128];
                snprintf(alias, sizeof alias, "fs-%s", fstype);
                load_module(k, alias);
                /* ext2/3/4 take errors=panic from their superblock, which the root device
                 * chooses: the first corrupt block would panic the kernel before cfsroot
                 * could refuse. errors=remount-ro makes it an I/O error we report. */
                if (cfs_rootflags_for(fstype, c->rootflags, &flags) < 0)
                        return log_error_errno(ENOMEM, "out of memory");
                /* The root device is not covered by the digest, and the booted system keeps it at
                 * /sysroot: its setuid files and device nodes must not work there. The composefs
                 * root takes only file contents from it, which nosuid,nodev does not affect. */
                if (mount(dev, SYSROOT, fstype, MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY), flags) < 0) {
                        r = -errno;
                        if (i + 1 < n_types && cfs_mount_error_try_next(r)) {
                                log_debug("root device %s is not %s (%s): trying the next rootfstype=", CFS_ESC(dev),
                                          CFS_ESC(fstype), strerror(-r));
                                continue;
                        }
                        return log_error_errno(r, "cannot mount root device %s (%s) on %s: %m", CFS_ESC(dev), CFS_ESC(fstype),
                                               SYSROOT);
                }
                log_debug("mounted %s (%s%s%s) on %s %s, nosuid, nodev", CFS_ESC(dev), CFS_ESC(fstype), flags ? ", " : "",
                          flags ? CFS_ESC(flags) : "", SYSROOT, rw ? "read-write" : "read-only");
                T.rootfs = cfs_now_ms();
                step_done("rootfs");
                return 0;
        }
        return log_error_errno(EINVAL, "cannot mount root device %s: no filesystem type to try", CFS_ESC(dev));
}

/* Verifies the image on the mounted root device and mounts the composefs root at target. */
static int mount_composefs(const struct cfsroot_config *c, const char *sysroot, const char *workdir,
                           const char *target) {
        _cleanup_close_ int sysroot_fd = open(sysroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sysroot_fd < 0)
                return log_error_errno(errno, "cannot open %s: %m", sysroot);

        _cleanup_(cfs_ostree_deployment_done) struct cfs_ostree_deployment dep = {};
        _cleanup_close_ int image_fd = cfsroot_config_is_ostree(c)
                ? cfs_ostree_open_image(sysroot_fd, c, &dep)
                : cfs_image_open_verified(sysroot_fd, c->image, c->have_digest ? c->digest : NULL, c->verity_check);
        if (image_fd < 0)
                return image_fd;
        T.verified = cfs_now_ms();
        step_done("verify");

        struct cfs_composefs cfs = {
                .sysroot_fd = sysroot_fd,
                .basedirs = c->basedirs,
                .n_basedirs = c->n_basedirs,
                .verity_check = c->verity_check,
                .workdir = workdir,
                .target = target,
        };
        int r = cfs_composefs_mount(&cfs, image_fd);
        if (r < 0)
                return r;
        T.mounted = cfs_now_ms();
        step_done("mount");
        r = cfs_newroot_check(target);
        if (r >= 0 && cfsroot_config_is_ostree(c))
                r = cfs_ostree_assemble(&dep, sysroot_fd, sysroot, target, c->etc);
        return r;
}

static int make_dir(const char *path) {
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create %s: %m", path);
        return 0;
}

static int boot(const struct cfsroot_config *c, char **argv, char **envp) {
        _cleanup_(cfs_kmod_freep) struct cfs_kmod *k = NULL;
        int r;

        r = cfs_kmod_new(NULL, &k);
        if (r < 0)
                return log_error_errno(r, "cannot load the module index from /lib/modules: %m");
        cfs_kmod_set_blacklist(k, c->modprobe_blacklist);
        /* Drivers for what is there now; ext4 asks for crc32c only at mount time, and there is
         * no /sbin/modprobe for the kernel to call. */
        rescan_modaliases(k);
        load_module(k, "crypto-crc32c");
        load_module(k, "erofs");
        load_module(k, "overlay");
        load_module(k, "loop");
        T.modules = cfs_now_ms();
        step_done("modules");

        r = mount_root_device(c, k);
        if (r < 0)
                return r;

        r = make_dir(INIT_WORKDIR);
        if (r < 0)
                return r;
        r = make_dir(INIT_NEWROOT);
        if (r < 0)
                return r;
        r = mount_composefs(c, SYSROOT, INIT_WORKDIR, INIT_NEWROOT);
        if (r < 0)
                return r;

        /* Before the point of no return: the new root must have the init we will exec.
         * Resolved inside the new root, as the exec will be after chroot. */
        const char *init = (cfsroot_config_is_ostree(c) ? cfs_ostree_init(c->init) : c->init) ?: DEFAULT_INIT;
        {
                _cleanup_close_ int rootfd = open(INIT_NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
                _cleanup_close_ int initfd = rootfd < 0 ? -errno : cfs_open_in_root(rootfd, init, O_PATH | O_CLOEXEC);
                if (initfd < 0)
                        return log_error_errno(initfd, "cannot find init %s in the new root: %m", init);
        }

        /* Measured boot, the last step before the point of no return (tpm_crb and tpm_tis
         * are built into Debian's kernels; where they are modules, load them now). */
        if (c->pcr >= 0) {
                load_module(k, "tpm_crb");
                load_module(k, "tpm_tis");
        }
        r = cfs_measure_root(c);
        if (r < 0)
                return r;

        /* MS_MOVE refuses mounts under a shared parent. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return log_error_errno(errno, "cannot make the mounts private: %m");
        if (mount(SYSROOT, INIT_NEWROOT SYSROOT, NULL, MS_MOVE, NULL) < 0)
                return log_error_errno(errno, "cannot move %s into the new root: %m", SYSROOT);
        r = cfs_move_api_mounts(INIT_NEWROOT);
        if (r < 0)
                return r;

        log_info("switching root to /sysroot... exec %s", init);
        r = cfs_switch_root(INIT_NEWROOT);
        if (r < 0)
                return r;
        step_done("switch-root");

        /* init gets what the kernel gave us: our argv[1..] and the environment. */
        size_t argc = 0;
        while (argv[argc])
                argc++;
        _cleanup_free_ char **nargv = calloc(argc + 1, sizeof(char *));
        if (!nargv)
                return log_error_errno(ENOMEM, "out of memory");
        nargv[0] = (char *) init;
        for (size_t i = 1; i < argc; i++)
                nargv[i] = argv[i];

        T.exec = cfs_now_ms();
        log_timing();
        r = cfs_console_restore();
        if (r < 0)
                log_warning_errno(r, "cannot restore kernel.printk_devkmsg: %m");
        execve(init, nargv, envp);
        return log_error_errno(errno, "cannot execute %s in the new root: %m", init);
}

static int run_init(char **argv, char **envp) {
        struct cfsroot_config c;
        int r;

        T.start = step_start = cfs_now_ms();
        log_set_prefix("cfsroot");
        umask(022);
        r = cfs_mount_api_vfs();
        if (r >= 0)
                cfs_console_open();

        if (r >= 0) {
                r = load_config(&c);
                if (r == 0) {
                        log_error("no cfsroot= on the kernel command line: add cfsroot=IMAGE cfsroot.digest=sha256:HEX");
                        r = -EINVAL;
                }
                if (r > 0)
                        r = boot(&c, argv, envp);
        } else
                c = (struct cfsroot_config) { .verity_check = -1 };

        enum cfsroot_on_failure policy = c.on_failure;
        cfsroot_config_done(&c);
        if (getpid() == 1)
                fail_boot(policy);
        log_error("boot failed (not PID 1: exiting instead of cfsroot.on_failure=%s)", cfsroot_on_failure_to_string(policy));
        return 1;
}

/* The steps of `cfsroot prepare`, once the command line asked for cfsroot. Leaves SYSROOT as
 * it found it on failure; run_prepare() then covers it. */
static int prepare(const struct cfsroot_config *c, const char *sysroot) {
        _cleanup_(cfs_kmod_freep) struct cfs_kmod *k = NULL;
        char workdir[] = "/run/cfsroot-lower.XXXXXX", target[] = "/run/cfsroot-root.XXXXXX";
        bool have_workdir = false, have_target = false;
        const char *step = NULL;
        int r;

        /* A unit with PrivateMounts= or ProtectSystem= would mount the verified root in a
         * namespace that vanishes with it, and report success over an unverified /sysroot. */
        r = cfs_mount_ns_check();
        if (r == -EXDEV)
                return log_error_errno(r, "refusing to prepare %s: not running in PID 1's mount namespace (PrivateMounts=, ProtectSystem= or similar on the unit?), the verified root would not be the one that boots",
                                       sysroot);
        if (r < 0)
                return log_error_errno(r, "cannot compare this process's mount namespace with PID 1's: %m");

        /* The initramfs may have loaded them already, or have them built in. */
        if (cfs_kmod_new(NULL, &k) >= 0) {
                cfs_kmod_set_blacklist(k, c->modprobe_blacklist);
                load_module(k, "erofs");
                load_module(k, "overlay");
                load_module(k, "loop");
        }
        T.modules = T.device = T.rootfs = cfs_now_ms();
        step_done("modules");

        if (!(have_workdir = mkdtemp(workdir)) || !(have_target = mkdtemp(target))) {
                r = log_error_errno(errno, "cannot create a directory in /run: %m");
                goto out;
        }

        r = mount_composefs(c, sysroot, workdir, target);
        if (r < 0)
                goto out;
        r = cfs_measure_root(c);
        if (r < 0)
                goto out;

        r = cfs_prepare_attach(sysroot, target, &step);
        if (r == -ENOSYS)
                r = log_error_errno(r, "cannot %s: this kernel has no open_tree()/mount_setattr() (Linux 5.12+ needed)", step);
        else if (r < 0)
                r = log_error_errno(r, "cannot %s (%s): %m", step, sysroot);
out:
        /* The temporary mount goes either way: on success SYSROOT holds a clone of it. */
        if (have_target) {
                (void) umount2(target, MNT_DETACH);
                (void) rmdir(target);
        }
        if (have_workdir)
                (void) rmdir(workdir);
        if (r < 0)
                return r;
        T.exec = cfs_now_ms();
        log_info("prepared the verified root at %s (the root device is at %s%s, nosuid,nodev)", sysroot, sysroot,
                 SYSROOT);
        log_timing();
        return 0;
}

/* `cfsroot prepare [--apply-policy] SYSROOT`. Fails closed whatever the caller does with the
 * exit status: after any failure SYSROOT shows an empty read-only mount, not the disk. */
static int run_prepare(const char *sysroot, bool apply_policy) {
        struct cfsroot_config c;
        const char *how = NULL;
        int r;

        T.start = step_start = cfs_now_ms();
        if (apply_policy)
                cfs_console_open();
        r = load_config(&c);
        if (r == 0) {
                log_info("no cfsroot= on the kernel command line: nothing to do");
                cfsroot_config_done(&c);
                return 0;
        }
        if (r > 0)
                r = prepare(&c, sysroot);
        enum cfsroot_on_failure policy = c.on_failure;
        cfsroot_config_done(&c);
        if (r >= 0)
                return 0;

        /* A command line we could not read or parse may have asked for cfsroot: cover too. */
        int k = cfs_prepare_cover(sysroot, &how);
        if (k < 0)
                log_error_errno(k, "cannot make %s unbootable: %s: %m", sysroot, how);
        else
                log_error("%s is not bootable: %s", sysroot, how);
        if (apply_policy)
                fail_boot(policy);
        return 1;
}

static int run_verity(int argc, char **argv) {
        if (argc < 2 || (!streq(argv[0], "enable") && !streq(argv[0], "measure"))) {
                log_error("usage: cfsroot verity enable|measure PATH...");
                return 2;
        }
        bool enable = streq(argv[0], "enable");
        int ret = 0;

        for (int i = 1; i < argc; i++) {
                _cleanup_close_ int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        ret = log_error_errno(errno, "cannot open %s: %m", argv[i]);
                        continue;
                }
                if (enable) {
                        int r = cfs_verity_enable_fd(fd);
                        if (r == -EOPNOTSUPP)
                                ret = log_error_errno(r, "cannot enable fs-verity on %s: its filesystem (or this kernel) has no fs-verity", argv[i]);
                        else if (r < 0)
                                ret = log_error_errno(r, "cannot enable fs-verity on %s: %m", argv[i]);
                        continue;
                }
                uint8_t d[CFS_DIGEST_SIZE];
                char hex[2 * CFS_DIGEST_SIZE + 1];
                int r = cfs_verity_measure_fd(fd, d);
                if (r == -ENODATA)
                        ret = log_error_errno(r, "%s has no fs-verity", argv[i]);
                else if (r == -EOPNOTSUPP)
                        ret = log_error_errno(r, "cannot measure %s: its filesystem (or this kernel) has no fs-verity", argv[i]);
                else if (r < 0)
                        ret = log_error_errno(r, "cannot measure %s: %m", argv[i]);
                else {
                        hex_encode(d, sizeof d, hex);
                        printf("sha256:%s %s\n", hex, argv[i]);
                }
        }
        if (fflush(stdout) != 0)
                ret = -EIO;
        return ret < 0 ? 1 : 0;
}

static void help(void) {
        printf("Usage: cfsroot                          (as the initramfs /init)\n"
               "       cfsroot prepare [--apply-policy] SYSROOT\n"
               "                                        verify and mount the composefs root over SYSROOT;\n"
               "                                        on failure SYSROOT is covered by an empty read-only\n"
               "                                        mount, and --apply-policy (for initramfs hooks) then\n"
               "                                        applies cfsroot.on_failure instead of exiting 1\n"
               "       cfsroot verity enable PATH...    enable fs-verity on files\n"
               "       cfsroot verity measure PATH...   print \"sha256:HEX PATH\" for files with fs-verity\n"
               "\n"
               "Boots a composefs image whose fs-verity digest is on the kernel command line:\n"
               "  cfsroot=IMAGE cfsroot.digest=sha256:HEX [cfsroot.basedir=DIR[:DIR...]]\n"
               "  [cfsroot.verity_check=0|1|2] [cfsroot.on_failure=halt|poweroff|reboot] [cfsroot.debug]\n"
               "  [cfsroot.pcr=N|off] [cfsroot.tpm=auto|require]\n"
               "  root=DEVICE [rootfstype=] [rootflags=] [ro|rw] [rootwait[=SEC]] [rootdelay=SEC] [init=]\n"
               "An ostree deployment instead of cfsroot=IMAGE: ostree=PATH (its boot loader entry's) or\n"
               "cfsroot.ostree (found by the digest alone), [cfsroot.etc=persistent|transient].\n"
               "Without rootwait the root device gets %d s to appear.\n"
               "\n"
               "  -h --help     show this help\n"
               "  -V --version  show the version\n",
               CFSROOT_DEFAULT_ROOT_WAIT_SEC);
}

int main(int argc, char **argv, char **envp) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int opt;

        log_set_prefix("cfsroot");
        /* As /init the kernel passes its leftover arguments: never parse them as options.
         * Only PID 1 boots: a name ending in "init" (a copy run by hand, a symlink) must not
         * start mounting and switching roots under a running system. */
        if (getpid() == 1)
                return run_init(argv, envp);

        while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("cfsroot %s\n", CFS_VERSION);
                        return 0;
                default:
                        return 2;
                }

        if (optind >= argc) {
                log_error("missing command: prepare or verity (see --help)");
                return 2;
        }
        const char *cmd = argv[optind];
        if (streq(cmd, "prepare")) {
                bool apply_policy = argc - optind == 3 && streq(argv[optind + 1], "--apply-policy");
                if (argc - optind != 2 + apply_policy || argv[argc - 1][0] != '/') {
                        log_error("usage: cfsroot prepare [--apply-policy] /SYSROOT");
                        return 2;
                }
                return run_prepare(argv[argc - 1], apply_policy);
        }
        if (streq(cmd, "verity"))
                return run_verity(argc - optind - 1, argv + optind + 1);
        log_error("unknown command '%s' (see --help)", cmd);
        return 2;
}
