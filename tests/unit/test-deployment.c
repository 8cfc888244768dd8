/* SPDX-License-Identifier: MIT */
/* Finding an ostree deployment (src/lib/deployment.c) on a fake sysroot in /tmp: the
 * deployment path's shape, ostree= resolved inside the root (a symlink that climbs out
 * stays inside; one that leads elsewhere is refused), the deployment's dev/ino, and the
 * digest-only scan's refusal when nothing can be measured (the host has no fs-verity; the
 * QEMU suite covers matches and duplicates). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cmdline.h"
#include "log.h"
#include "deployment.h"
#include "util.h"

static void parse_path(const char *p, const char *want) {
        char *os = NULL;
        int r = cfs_ostree_parse_deploy_path(p, &os);
        if (want) {
                if (r != 0 || !streq(os, want))
                        fprintf(stderr, "for %s: %d %s\n", p, r, os ?: "(null)");
                CHECK(r == 0 && streq(os, want));
        } else
                CHECK(r == -EINVAL);
        free(os);
}

static void mkdirs(const char *root, const char *const *dirs, size_t n) {
        char p[4096];
        for (size_t i = 0; i < n; i++) {
                snprintf(p, sizeof p, "%s%s", root, dirs[i]);
                CHECK(mkdir(p, 0755) == 0);
        }
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        parse_path("/ostree/deploy/debian/deploy/0123abc.0", "debian");
        parse_path("/ostree/deploy/a/deploy/b", "a");
        parse_path("/ostree/deploy/debian/deploy/", NULL);
        parse_path("/ostree/deploy/debian/deploy/x/y", NULL);
        parse_path("/ostree/deploy/../deploy/x", NULL);
        parse_path("/ostree/deploy/debian/deploy/..", NULL);
        parse_path("/ostree/deploy/debian/var/x", NULL);
        parse_path("/ostree/deploy//deploy/x", NULL);
        parse_path("/ostree/boot.1/debian/abc/0", NULL);
        parse_path("ostree/deploy/debian/deploy/x", NULL);
        printf("PASS: deployment path shape /ostree/deploy/OS/deploy/NAME\n");

        CHECK(cfs_ostree_init("/ostree/boot.1/os/abc/0/usr/lib/ostree/ostree-prepare-root") == NULL);
        CHECK(streq(cfs_ostree_init("/usr/lib/systemd/systemd"), "/usr/lib/systemd/systemd"));
        CHECK(cfs_ostree_init(NULL) == NULL);
        printf("PASS: ostree's init=.../ostree-prepare-root (initramfs-less entries) is dropped, other init= kept\n");

        char tmp[] = "/tmp/test-ostree-deploy.XXXXXX", p[4096];
        CHECK(mkdtemp(tmp));
        static const char *const dirs[] = {
                "/ostree", "/ostree/deploy", "/ostree/deploy/os", "/ostree/deploy/os/var", "/ostree/deploy/os/deploy",
                "/ostree/deploy/os/deploy/abc.0", "/ostree/deploy/os/deploy/abc.0/etc", "/ostree/boot.1",
                "/ostree/boot.1/os", "/ostree/boot.1/os/bootcsum", "/elsewhere",
        };
        mkdirs(tmp, dirs, ELEMENTSOF(dirs));
        snprintf(p, sizeof p, "%s/ostree/deploy/os/deploy/abc.0/%s", tmp, CFS_OSTREE_IMAGE);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0 && write(fd, "x", 1) == 1);
        close(fd);
        /* ostree's own relative link, and one that climbs above the root (stays inside). */
        snprintf(p, sizeof p, "%s/ostree/boot.1/os/bootcsum/0", tmp);
        CHECK(symlink("../../../deploy/os/deploy/abc.0", p) == 0);
        snprintf(p, sizeof p, "%s/ostree/boot.1/os/bootcsum/1", tmp);
        CHECK(symlink("../../../../../../../../ostree/deploy/os/deploy/abc.0", p) == 0);
        snprintf(p, sizeof p, "%s/ostree/boot.1/os/bootcsum/2", tmp);
        CHECK(symlink("/elsewhere", p) == 0);

        int root = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(root >= 0);
        struct stat st;
        snprintf(p, sizeof p, "%s/ostree/deploy/os/deploy/abc.0", tmp);
        CHECK(stat(p, &st) == 0);

        log_set_prefix("test-ostree-deploy");
        for (int i = 0; i < 2; i++) {
                char arg[64];
                snprintf(arg, sizeof arg, "/ostree/boot.1/os/bootcsum/%d", i);
                struct cfsroot_config c = { .ostree = arg, .verity_check = 0 };
                struct cfs_ostree_deployment d = {};
                int ifd = cfs_ostree_open_image(root, &c, &d);
                CHECK(ifd >= 0);
                CHECK(streq(d.path, "/ostree/deploy/os/deploy/abc.0"));
                CHECK(streq(d.stateroot, "os"));
                CHECK(d.dev == st.st_dev && d.ino == st.st_ino);
                char b;
                CHECK(read(ifd, &b, 1) == 1 && b == 'x');
                close(ifd);
                cfs_ostree_deployment_done(&d);
        }
        {
                struct cfsroot_config c = { .ostree = (char *) "/ostree/boot.1/os/bootcsum/2", .verity_check = 0 };
                struct cfs_ostree_deployment d = {};
                CHECK(cfs_ostree_open_image(root, &c, &d) == -EINVAL);
                CHECK(!d.path);
                c.ostree = (char *) "/ostree/boot.1/os/bootcsum/9";
                CHECK(cfs_ostree_open_image(root, &c, &d) == -ENOENT);
        }
        printf("PASS: ostree= resolved inside the root device to the deployment, its image and dev/ino; a link elsewhere refused\n");

        /* Digest alone: nothing on this host has fs-verity, so nothing matches. */
        {
                struct cfsroot_config c = { .ostree_scan = true, .have_digest = true, .verity_check = 2 };
                struct cfs_ostree_deployment d = {};
                CHECK(cfs_ostree_open_image(root, &c, &d) == -ENOENT);
                CHECK(!d.path);
        }
        printf("PASS: cfsroot.ostree refuses when no deployment's image has the digest\n");
        close(root);

        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        CHECK(system(cmd) == 0);
        return 0;
}
