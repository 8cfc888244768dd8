/* SPDX-License-Identifier: MIT */
/* Unit tests for the boot-path hardening (issue 9): escaping of disk-chosen names for the
 * console, the root device's mount data (errors=remount-ro), rootfstype= lists,
 * modprobe.blacklist=, openat2 without a fallback (a seccomp filter plays the old kernel),
 * calls in a child that may crash, and libblkid probing limited to what is needed. */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "blockdev.h"
#include "child.h"
#include "cmdline.h"
#include "escape.h"
#include "kmod.h"
#include "mount.h"
#include "rootfs.h"
#include "util.h"

static void test_escape(void) {
        char buf[CFS_ESCAPE_BUF];

        CHECK(streq(cfs_escape_for_log("/cfs/objects", buf, sizeof buf), "/cfs/objects"));
        CHECK(streq(cfs_escape_for_log("/cfs/\033[31mred,x", buf, sizeof buf), "/cfs/\\x1b[31mred,x"));
        CHECK(streq(cfs_escape_for_log("a\\b\nc\x7f\xc3\xa9", buf, sizeof buf), "a\\x5cb\\x0ac\\x7f\\xc3\\xa9"));
        CHECK(streq(cfs_escape_for_log(NULL, buf, sizeof buf), "(null)"));
        /* Cut, marked, and never a half escape. */
        char small[10];
        CHECK(streq(cfs_escape_for_log("abcdefghijkl", small, sizeof small), "abcdef..."));
        CHECK(streq(cfs_escape_for_log("ab\033\033\033", small, sizeof small), "ab\\x1b..."));
        CHECK(strlen(CFS_ESC("\033")) == 4);
        printf("PASS: escape: control bytes, backslash and non-ASCII as \\xNN; long names cut with '...'\n");
}

static void flags_are(const char *fstype, const char *rootflags, const char *want) {
        _cleanup_free_ char *got = NULL;
        CHECK(cfs_rootflags_for(fstype, rootflags, &got) == 0);
        if (!want != !got || (want && !streq(want, got)))
                fprintf(stderr, "%s [%s]: got [%s], wanted [%s]\n", fstype, rootflags ?: "(null)", got ?: "(null)",
                        want ?: "(null)");
        CHECK(!want == !got);
        CHECK(!want || streq(want, got));
}

static void test_rootflags(void) {
        flags_are("ext4", NULL, "errors=remount-ro");
        flags_are("ext3", "", "errors=remount-ro");
        flags_are("ext2", "noatime", "noatime,errors=remount-ro");
        flags_are("ext4", "errors=continue", "errors=continue");
        flags_are("ext4", "noatime,errors=panic", "noatime,errors=panic");
        flags_are("ext4", "data=ordered,noerrors=x", "data=ordered,noerrors=x,errors=remount-ro");
        flags_are("xfs", NULL, NULL);
        flags_are("btrfs", "compress=zstd", "compress=zstd");
        CHECK(cfs_fstype_has_disk_error_policy("ext4"));
        CHECK(!cfs_fstype_has_disk_error_policy("xfs"));
        CHECK(cfs_mount_error_try_next(-EINVAL) && cfs_mount_error_try_next(ENODEV) && cfs_mount_error_try_next(-EACCES));
        CHECK(!cfs_mount_error_try_next(-EIO) && !cfs_mount_error_try_next(-EUCLEAN));
        printf("PASS: rootflags: ext2/3/4 get errors=remount-ro unless rootflags= sets errors=; other types unchanged\n");
}

static void test_lists(void) {
        char **l = NULL;
        size_t n = 0;

        CHECK(cfs_list_append_split(&l, &n, "xfs,ext4") == 0);
        CHECK(cfs_list_append_split(&l, &n, ",,btrfs,") == 0);
        CHECK(n == 3 && streq(l[0], "xfs") && streq(l[1], "ext4") && streq(l[2], "btrfs") && !l[3]);
        cfs_list_free(l);
        l = NULL, n = 0;
        CHECK(cfs_list_append_split(&l, &n, "") == 0);
        CHECK(n == 0 && l && !l[0]);
        cfs_list_free(l);

        struct cfsroot_config c;
        char err[256];
        CHECK(cfsroot_config_parse("root=/dev/vda rootfstype=xfs,ext4 modprobe.blacklist=loop,dm-verity "
                                   "cfsroot=/i modprobe.blacklist=erofs modprobe.blacklist= modprobe.blacklist modprobe_blacklist=x",
                                   &c, err, sizeof err) == 0);
        CHECK(streq(c.rootfstype, "xfs,ext4"));
        CHECK(c.n_modprobe_blacklist == 3);
        CHECK(streq(c.modprobe_blacklist[0], "loop") && streq(c.modprobe_blacklist[1], "dm_verity") &&
              streq(c.modprobe_blacklist[2], "erofs") && !c.modprobe_blacklist[3]);
        CHECK(cfs_module_name_listed(c.modprobe_blacklist, "dm-verity"));
        CHECK(cfs_module_name_listed(c.modprobe_blacklist, "dm_verity"));
        CHECK(!cfs_module_name_listed(c.modprobe_blacklist, "dm_verit"));
        CHECK(!cfs_module_name_listed(c.modprobe_blacklist, "loop0"));
        CHECK(!cfs_module_name_listed(NULL, "loop"));
        cfsroot_config_done(&c);
        CHECK(!c.modprobe_blacklist);
        printf("PASS: lists: rootfstype=a,b kept in order; modprobe.blacklist= repeated and comma lists merged, '-' = '_'\n");
}

/* In a child: openat2 now fails with error e, as on a kernel without it (ENOSYS) or under a
 * rename storm (EAGAIN). The filter is a test fake for the kernel, nothing else. */
static void fake_openat2_error(int e) {
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned) e),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(f), .filter = f };
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
        CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static int open_with_fake(int rootfd, const char *path, int e) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                fake_openat2_error(e);
                int fd = cfs_open_in_root(rootfd, path, O_RDONLY | O_CLOEXEC);
                _exit(fd >= 0 ? 0 : -fd);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        return -WEXITSTATUS(status);
}

static void test_open_in_root(const char *tmp) {
        char p[256];
        _cleanup_close_ int dfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        snprintf(p, sizeof p, "%s/file", tmp);
        _cleanup_close_ int w = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(w >= 0);
        CHECK(symlinkat("/file", dfd, "abs") == 0); /* absolute: resolves inside tmp */

        int fd = cfs_open_in_root(dfd, "abs", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        safe_close(fd);

        /* No fallback to openat: a kernel without openat2 is refused. */
        CHECK(open_with_fake(dfd, "file", ENOSYS) == -ENOSYS);
        /* EAGAIN is retried, and the retries end. */
        CHECK(open_with_fake(dfd, "file", EAGAIN) == -EAGAIN);
        CHECK(open_with_fake(dfd, "file", EIO) == -EIO);

        /* RESOLVE_NO_XDEV: from "/", /proc is another mount. */
        struct stat a, b;
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root >= 0);
        if (stat("/", &a) == 0 && stat("/proc/self", &b) == 0 && a.st_dev != b.st_dev) {
                fd = cfs_open_in_root(root, "/proc/version", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        fprintf(stderr, "opened /proc/version across a mount\n");
                CHECK(fd == -EXDEV);
                printf("PASS: open_in_root: a path crossing into another mount (/proc from /) gives EXDEV\n");
        } else
                printf("SKIP: open_in_root: /proc is not a separate mount here\n");
        printf("PASS: open_in_root: absolute symlink stays inside; ENOSYS (no openat2) refused, no openat fallback; EAGAIN retried at most %d times, then returned\n",
               CFS_OPEN_IN_ROOT_ATTEMPTS);
}

static int answer_fn(void *userdata, void *out, size_t out_size, size_t *ret_len) {
        snprintf(out, out_size, "%s", (const char *) userdata);
        *ret_len = strlen(out) + 1;
        return 7;
}
static int error_fn(void *userdata, void *out, size_t out_size, size_t *ret_len) { return -ENOENT; }
static int kill_fn(void *userdata, void *out, size_t out_size, size_t *ret_len) {
        raise(SIGKILL);
        return 0;
}
static int segv_fn(void *userdata, void *out, size_t out_size, size_t *ret_len) {
        /* What a prober's bad pointer gets in cfsroot (default disposition: the child dies),
         * without undefined behaviour here and without ASan's own SEGV handler. */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return 0;
}
static int exit_fn(void *userdata, void *out, size_t out_size, size_t *ret_len) { _exit(0); }

static void test_child(void) {
        char out[64];
        size_t len = 0;
        int sig = -1;

        CHECK(cfs_call_in_child(answer_fn, "hello", out, sizeof out, &len, &sig) == 7);
        CHECK(len == 6 && streq(out, "hello") && sig == -1);
        CHECK(cfs_call_in_child(error_fn, NULL, out, sizeof out, &len, &sig) == -ENOENT);
        CHECK(cfs_call_in_child(kill_fn, NULL, out, sizeof out, &len, &sig) == -ECHILD);
        CHECK(sig == SIGKILL);
        sig = -1;
        CHECK(cfs_call_in_child(segv_fn, NULL, out, sizeof out, &len, &sig) == -ECHILD);
        CHECK(sig == SIGSEGV);
        CHECK(cfs_call_in_child(exit_fn, NULL, out, sizeof out, &len, &sig) == -ECHILD && sig == 0);
        printf("PASS: child: answers and errors come back; a child killed (SIGKILL), crashed (SIGSEGV) or gone without an answer is -ECHILD\n");
}

static void test_probe(const char *tmp) {
        char img[256], cmd[600];
        snprintf(img, sizeof img, "%s/ext4.img", tmp);
        snprintf(cmd, sizeof cmd, "mkfs.ext4 -q -F -L hardlabel %s 8M >/dev/null 2>&1", img);
        if (system(cmd) != 0) {
                printf("SKIP: probe: mkfs.ext4 not available\n");
                return;
        }
        bool match = false;
        char *type = NULL;
        int sig = 0;
        CHECK(cfs_blockdev_probe(img, CFS_ROOT_LABEL, "hardlabel", NULL, &match, &type, &sig) == 0);
        CHECK(match && type && streq(type, "ext4"));
        free(type);
        type = NULL;
        CHECK(cfs_blockdev_probe(img, CFS_ROOT_LABEL, "other", NULL, &match, &type, &sig) == 0);
        CHECK(!match && !type);
        /* Probers limited to rootfstype=: ext4's prober does not run, nothing is found. */
        char *const only_xfs[] = { "xfs", NULL };
        CHECK(cfs_blockdev_probe(img, CFS_ROOT_PATH, img, only_xfs, &match, &type, &sig) == 0);
        CHECK(match && !type);
        char *const ext4_too[] = { "xfs", "ext4", NULL };
        CHECK(cfs_blockdev_probe(img, CFS_ROOT_PATH, img, ext4_too, &match, &type, &sig) == 0);
        CHECK(match && type && streq(type, "ext4"));
        free(type);
        type = NULL;
        /* PARTUUID= reads partition tables only: a bare filesystem has no entry. */
        CHECK(cfs_blockdev_probe(img, CFS_ROOT_PARTUUID, "00000000-0000-0000-0000-000000000000", NULL, &match, &type,
                                 &sig) == 0);
        CHECK(!match && !type);
        printf("PASS: probe: LABEL= matches in a child probe; superblock probers limited to the list (ext4 unseen with only xfs); PARTUUID= finds no entry on a bare filesystem\n");
}

static void rm_tmp(const char *tmp) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        CHECK(system(cmd) == 0);
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        test_escape();
        test_rootflags();
        test_lists();
        test_child();

        char tmp[] = "/tmp/test-harden.XXXXXX";
        CHECK(mkdtemp(tmp));
        test_open_in_root(tmp);
        test_probe(tmp);
        rm_tmp(tmp);
        return 0;
}
