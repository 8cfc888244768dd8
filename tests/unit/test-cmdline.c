/* SPDX-License-Identifier: MIT */
/* Unit tests for the kernel command line contract (src/lib/cmdline.c), the overlayfs
 * legacy option escaping (src/lib/mount.c), the root= forms (blockdev.c), the modalias
 * walker (kmod.c) over a fake sysfs tree, and the switch-root deletion walker. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "blockdev.h"
#include "cmdline.h"
#include "composefs-root.h"
#include "kmod.h"
#include "mount.h"
#include "switchroot.h"
#include "util.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D64_UPPER "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define D64_OTHER "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char err[1024];

static void parse_ok(const char *cmdline, struct cfsroot_config *c) {
        int r = cfsroot_config_parse(cmdline, c, err, sizeof err);
        if (r != 0)
                fprintf(stderr, "unexpected error for [%s]: %s\n", cmdline, err);
        CHECK(r == 0);
}

/* Fails to parse, with exactly this message. */
static void parse_fails(const char *cmdline, const char *message) {
        struct cfsroot_config c;
        int r = cfsroot_config_parse(cmdline, &c, err, sizeof err);
        if (r != -EINVAL || !streq(err, message))
                fprintf(stderr, "for [%s]: got %d [%s], wanted [%s]\n", cmdline, r, err, message);
        CHECK(r == -EINVAL);
        CHECK(streq(err, message));
        cfsroot_config_done(&c);
}

static void test_basic(void) {
        struct cfsroot_config c;
        bool unverified = true;

        parse_ok("BOOT_IMAGE=/vmlinuz console=ttyS0 root=LABEL=os ro quiet cfsroot=/cfs/images/os.cfs "
                 "cfsroot.digest=sha256:" D64 "\n",
                 &c);
        CHECK(c.active);
        CHECK(streq(c.image, "/cfs/images/os.cfs"));
        CHECK(c.have_digest);
        CHECK(c.digest[0] == 0x01 && c.digest[1] == 0x23 && c.digest[31] == 0xef);
        CHECK(streq(c.root, "LABEL=os"));
        CHECK(!c.rw);
        CHECK(c.verity_check == -1);
        CHECK(c.on_failure == CFSROOT_ON_FAILURE_HALT);
        CHECK(!c.debug);
        CHECK(!c.rootwait);
        CHECK(c.basedirs == NULL);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(!unverified);
        CHECK(c.verity_check == 2);
        CHECK(c.n_basedirs == 1 && streq(c.basedirs[0], "/cfs/objects") && c.basedirs[1] == NULL);
        CHECK(streq(cfsroot_verity_mode(c.verity_check), "require"));
        cfsroot_config_done(&c);
        printf("PASS: basic command line, defaults\n");

        parse_ok("", &c);
        CHECK(!c.active);
        cfsroot_config_done(&c);
        parse_ok("   \n", &c);
        CHECK(!c.active);
        cfsroot_config_done(&c);
        parse_ok("root=/dev/vda cfsrootx=1 mycfsroot.digest=zz", &c);
        CHECK(!c.active);
        cfsroot_config_done(&c);
        printf("PASS: not active without cfsroot keys\n");
}

static void test_quoting(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=\"/cfs/images/my os.cfs\" cfsroot.verity_check=0", &c);
        CHECK(streq(c.image, "/cfs/images/my os.cfs"));
        cfsroot_config_done(&c);

        /* The whole parameter quoted: the kernel drops the outer quotes. */
        parse_ok("\"cfsroot=/a b\" cfsroot.verity_check=1", &c);
        CHECK(streq(c.image, "/a b"));
        CHECK(c.verity_check == 1);
        cfsroot_config_done(&c);

        /* Quotes in the middle group but stay, like next_arg(). */
        parse_ok("cfsroot=/a\"b c\"d cfsroot.verity_check=1", &c);
        CHECK(streq(c.image, "/a\"b c\"d"));
        cfsroot_config_done(&c);

        /* A quoted value hides spaces and other keys. */
        parse_ok("init=\"/sbin/init cfsroot.digest=bad\" cfsroot=/x cfsroot.verity_check=1", &c);
        CHECK(streq(c.init, "/sbin/init cfsroot.digest=bad"));
        CHECK(!c.have_digest);
        cfsroot_config_done(&c);

        /* Unterminated quote runs to the end. */
        parse_ok("cfsroot=\"/x y cfsroot.bogus=1", &c);
        CHECK(streq(c.image, "/x y cfsroot.bogus=1"));
        cfsroot_config_done(&c);

        /* Tabs and newlines separate too. */
        parse_ok("cfsroot=/x\tcfsroot.verity_check=0\nrw", &c);
        CHECK(streq(c.image, "/x") && c.verity_check == 0 && c.rw);
        cfsroot_config_done(&c);

        /* The kernel's isspace() is Latin-1: 0xa0 (NBSP) separates arguments, so the digest
         * below is a key of its own, as the kernel (and whoever signed this) reads it. */
        parse_ok("cfsroot=/x ro\xa0" "cfsroot.digest=" D64 "\xa0" "cfsroot.verity_check=0\xa0\xa0" "rw", &c);
        CHECK(streq(c.image, "/x") && c.have_digest && c.verity_check == 0 && c.rw);
        cfsroot_config_done(&c);
        parse_ok("\xa0" "cfsroot=/x\xa0", &c);
        CHECK(streq(c.image, "/x"));
        cfsroot_config_done(&c);
        /* Other high bytes are not spaces. */
        parse_ok("cfsroot=/x\xe9" "y", &c);
        CHECK(streq(c.image, "/x\xe9" "y"));
        cfsroot_config_done(&c);
        printf("PASS: quoting and whitespace like the kernel's next_arg\n");
}

static void test_dashdash(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=/x cfsroot.verity_check=1 -- cfsroot.bogus=1 cfsroot.digest=zz single", &c);
        CHECK(streq(c.image, "/x"));
        CHECK(!c.have_digest);
        cfsroot_config_done(&c);

        parse_ok("root=/dev/vda -- cfsroot=/x", &c);
        CHECK(!c.active);
        cfsroot_config_done(&c);

        /* "--=x" is a parameter, not the end marker. */
        parse_fails("--=x cfsroot.bogus", "unknown option cfsroot.bogus");
        printf("PASS: -- ends the kernel arguments\n");
}

static void test_dash_underscore(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=/x cfsroot.verity-check=1 cfsroot.on-failure=reboot", &c);
        CHECK(c.verity_check == 1);
        CHECK(c.on_failure == CFSROOT_ON_FAILURE_REBOOT);
        cfsroot_config_done(&c);

        parse_ok("cfsroot=/x cfsroot.verity-check=1 cfsroot.verity_check=1", &c);
        CHECK(c.verity_check == 1);
        cfsroot_config_done(&c);

        parse_fails("cfsroot=/x cfsroot.verity-check=1 cfsroot.verity_check=0",
                    "conflicting values for cfsroot.verity_check: '1' and '0'");
        printf("PASS: - and _ are the same in key names\n");
}

static void test_duplicates(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=/x cfsroot=/x cfsroot.digest=" D64 " cfsroot.digest=" D64, &c);
        CHECK(c.have_digest);
        cfsroot_config_done(&c);

        /* Same digest, other spelling: same value. */
        parse_ok("cfsroot=/x cfsroot.digest=" D64 " cfsroot.digest=sha256:" D64_UPPER, &c);
        CHECK(c.have_digest);
        cfsroot_config_done(&c);

        parse_ok("cfsroot=/x cfsroot.debug cfsroot.debug=1 cfsroot.verity_check=1", &c);
        CHECK(c.debug);
        cfsroot_config_done(&c);

        parse_fails("cfsroot=/a cfsroot=/b", "conflicting values for cfsroot: '/a' and '/b'");
        parse_fails("cfsroot=/x cfsroot.digest=" D64 " cfsroot.digest=" D64_OTHER,
                    "conflicting values for cfsroot.digest: '" D64 "' and '" D64_OTHER "'");
        parse_fails("cfsroot=/x cfsroot.on_failure=halt cfsroot.on_failure=reboot",
                    "conflicting values for cfsroot.on_failure: 'halt' and 'reboot'");
        parse_fails("cfsroot=/x cfsroot.basedir=/a cfsroot.basedir=/a:/b",
                    "conflicting values for cfsroot.basedir: '/a' and '/a:/b'");
        parse_fails("cfsroot=/x cfsroot.debug cfsroot.debug=0", "conflicting values for cfsroot.debug: '1' and '0'");

        /* The kernel's own keys: last one wins. */
        parse_ok("root=/dev/vda root=LABEL=b cfsroot=/x ro rw", &c);
        CHECK(streq(c.root, "LABEL=b"));
        CHECK(c.rw);
        cfsroot_config_done(&c);
        parse_ok("rw ro", &c);
        CHECK(!c.rw);
        cfsroot_config_done(&c);
        printf("PASS: duplicates: equal ones fine, conflicting ones refused\n");
}

static void test_unknown(void) {
        parse_fails("cfsroot=/x cfsroot.verity_chek=2", "unknown option cfsroot.verity_chek");
        parse_fails("cfsroot.foo", "unknown option cfsroot.foo");
        parse_fails("cfsroot.=1", "unknown option cfsroot.");
        parse_fails("cfsroot.Digest=" D64, "unknown option cfsroot.Digest");
        printf("PASS: unknown cfsroot keys refused\n");
}

static void test_digest(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=/x cfsroot.digest=" D64_UPPER, &c);
        CHECK(c.have_digest && c.digest[5] == 0xab);
        cfsroot_config_done(&c);
        parse_ok("cfsroot=/x cfsroot.digest=SHA256:" D64, &c);
        CHECK(c.have_digest);
        cfsroot_config_done(&c);

        parse_fails("cfsroot=/x cfsroot.digest=" D64 "0",
                    "invalid cfsroot.digest=" D64 "0: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest=123", "invalid cfsroot.digest=123: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
                    "invalid cfsroot.digest=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest=", "invalid cfsroot.digest=: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest", "invalid cfsroot.digest=: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest=sha256:", "invalid cfsroot.digest=sha256:: expected 64 hex digits");
        parse_fails("cfsroot=/x cfsroot.digest=g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "invalid cfsroot.digest=g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef: non-hex character");
        parse_fails("cfsroot=/x cfsroot.digest=md5:0123", "invalid cfsroot.digest=md5:0123: unknown digest prefix 'md5:'");
        parse_fails("cfsroot=/x cfsroot.digest=sha512:" D64,
                    "invalid cfsroot.digest=sha512:" D64 ": unknown digest prefix 'sha512:'");
        parse_fails("cfsroot=/x cfsroot.digest=sha256:sha256:" D64,
                    "invalid cfsroot.digest=sha256:sha256:" D64 ": non-hex character");
        parse_fails("cfsroot=/x cfsroot.digest=\" " D64 "\"", "invalid cfsroot.digest= " D64 ": non-hex character");
        printf("PASS: digest forms\n");
}

static void test_values(void) {
        struct cfsroot_config c;

        for (int v = 0; v <= 2; v++) {
                char line[64];
                snprintf(line, sizeof line, "cfsroot=/x cfsroot.verity_check=%d", v);
                parse_ok(line, &c);
                CHECK(c.verity_check == v);
                cfsroot_config_done(&c);
        }
        CHECK(streq(cfsroot_verity_mode(0), "off") && streq(cfsroot_verity_mode(1), "on"));
        parse_fails("cfsroot=/x cfsroot.verity_check=3", "invalid cfsroot.verity_check=3: expected 0, 1 or 2");
        parse_fails("cfsroot=/x cfsroot.verity_check=", "invalid cfsroot.verity_check=: expected 0, 1 or 2");
        parse_fails("cfsroot=/x cfsroot.verity_check", "invalid cfsroot.verity_check=: expected 0, 1 or 2");
        parse_fails("cfsroot=/x cfsroot.verity_check=01", "invalid cfsroot.verity_check=01: expected 0, 1 or 2");
        parse_fails("cfsroot=/x cfsroot.verity_check=-1", "invalid cfsroot.verity_check=-1: expected 0, 1 or 2");

        static const struct {
                const char *v;
                enum cfsroot_on_failure f;
        } fv[] = { { "halt", CFSROOT_ON_FAILURE_HALT },
                   { "poweroff", CFSROOT_ON_FAILURE_POWEROFF },
                   { "reboot", CFSROOT_ON_FAILURE_REBOOT } };
        for (size_t i = 0; i < ELEMENTSOF(fv); i++) {
                char line[64];
                snprintf(line, sizeof line, "cfsroot.on_failure=%s", fv[i].v);
                parse_ok(line, &c);
                CHECK(c.on_failure == fv[i].f);
                CHECK(streq(cfsroot_on_failure_to_string(c.on_failure), fv[i].v));
                CHECK(c.active);
                cfsroot_config_done(&c);
        }
        parse_fails("cfsroot.on_failure=shell", "invalid cfsroot.on_failure=shell: expected halt, poweroff or reboot");
        parse_fails("cfsroot.on_failure=Reboot", "invalid cfsroot.on_failure=Reboot: expected halt, poweroff or reboot");

        /* on_failure survives a later error, so the failure policy is still honoured. */
        CHECK(cfsroot_config_parse("cfsroot.on_failure=poweroff cfsroot.bogus=1", &c, err, sizeof err) == -EINVAL);
        CHECK(c.on_failure == CFSROOT_ON_FAILURE_POWEROFF);
        cfsroot_config_done(&c);

        parse_fails("cfsroot.debug=yes", "invalid cfsroot.debug=yes: expected cfsroot.debug, cfsroot.debug=0 or cfsroot.debug=1");
        parse_ok("cfsroot.debug=0", &c);
        CHECK(!c.debug && c.active);
        cfsroot_config_done(&c);

        parse_fails("cfsroot=relative/path", "invalid cfsroot=relative/path: expected the absolute path of the image on the root device");
        parse_fails("cfsroot=", "invalid cfsroot=: expected the absolute path of the image on the root device");
        parse_fails("cfsroot", "invalid cfsroot=: expected the absolute path of the image on the root device");
        printf("PASS: verity_check, on_failure, debug and image values\n");
}

static void test_activation(void) {
        struct cfsroot_config c;
        bool unverified = false;

        parse_ok("cfsroot=/x", &c);
        CHECK(c.active);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == -EINVAL);
        CHECK(streq(err, "no cfsroot.digest= given: refusing to boot an unverified root (add cfsroot.digest=, or cfsroot.verity_check=0|1 to accept an unverified root)"));
        cfsroot_config_done(&c);

        parse_ok("cfsroot=/x cfsroot.verity_check=2", &c);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == -EINVAL);
        CHECK(strncmp(err, "no cfsroot.digest= given", 24) == 0);
        cfsroot_config_done(&c);

        for (int v = 0; v <= 1; v++) {
                char line[64];
                snprintf(line, sizeof line, "cfsroot=/x cfsroot.verity_check=%d", v);
                parse_ok(line, &c);
                unverified = false;
                CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
                CHECK(unverified);
                CHECK(c.verity_check == v);
                cfsroot_config_done(&c);
        }

        parse_ok("cfsroot.digest=" D64, &c);
        CHECK(c.active);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == -EINVAL);
        CHECK(streq(err, "no cfsroot= on the kernel command line: add cfsroot=IMAGE cfsroot.digest=sha256:HEX"));
        cfsroot_config_done(&c);

        parse_ok("cfsroot.verity_check=0", &c);
        CHECK(c.active);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == -EINVAL);
        cfsroot_config_done(&c);

        parse_ok("cfsroot=/x cfsroot.digest=" D64 " cfsroot.verity_check=1", &c);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(!unverified && c.verity_check == 1);
        cfsroot_config_done(&c);
        printf("PASS: activation rules\n");
}

/* Fails the activation rules (parse succeeds) with exactly this message. */
static void check_fails(const char *cmdline, const char *message) {
        struct cfsroot_config c;
        bool unverified = false;

        parse_ok(cmdline, &c);
        int r = cfsroot_config_check(&c, &unverified, err, sizeof err);
        if (r != -EINVAL || !streq(err, message))
                fprintf(stderr, "for [%s]: got %d [%s], wanted [%s]\n", cmdline, r, err, message);
        CHECK(r == -EINVAL);
        CHECK(streq(err, message));
        cfsroot_config_done(&c);
}

static void test_ostree(void) {
        struct cfsroot_config c;
        bool unverified = true;

        /* The BLS entry's ostree= plus the digest: the deployment names the image. */
        parse_ok("root=LABEL=os rw ostree=/ostree/boot.1/debian/abc/0 cfsroot.digest=" D64, &c);
        CHECK(c.active);
        CHECK(streq(c.ostree, "/ostree/boot.1/debian/abc/0"));
        CHECK(!c.ostree_scan && !c.image);
        CHECK(c.etc == CFSROOT_ETC_PERSISTENT);
        CHECK(cfsroot_config_is_ostree(&c));
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(!unverified && c.verity_check == 2);
        CHECK(c.n_basedirs == 1 && streq(c.basedirs[0], CFSROOT_OSTREE_DEFAULT_BASEDIR));
        cfsroot_config_done(&c);

        /* ostree= alone does not activate cfsroot (ostree's own initramfs keys). */
        parse_ok("ostree=/ostree/boot.1/debian/abc/0", &c);
        CHECK(!c.active && c.ostree);
        cfsroot_config_done(&c);

        /* The UKI case: digest alone; an explicit basedir still wins. */
        parse_ok("cfsroot.ostree cfsroot.digest=" D64 " cfsroot.etc=transient cfsroot.basedir=/o", &c);
        CHECK(c.ostree_scan && !c.ostree && c.etc == CFSROOT_ETC_TRANSIENT);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(c.n_basedirs == 1 && streq(c.basedirs[0], "/o"));
        cfsroot_config_done(&c);
        parse_ok("cfsroot.ostree=1 cfsroot.ostree cfsroot.digest=" D64 " cfsroot.etc=persistent", &c);
        CHECK(c.ostree_scan && c.etc == CFSROOT_ETC_PERSISTENT);
        cfsroot_config_done(&c);
        parse_ok("cfsroot.ostree=0 cfsroot=/x cfsroot.digest=" D64, &c);
        CHECK(!c.ostree_scan && c.active);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(streq(c.basedirs[0], CFSROOT_DEFAULT_BASEDIR));
        cfsroot_config_done(&c);

        /* The explicit unverified rule applies to ostree= as to cfsroot= (the install boot). */
        parse_ok("ostree=/ostree/boot.1/d/a/0 cfsroot.verity_check=0", &c);
        unverified = false;
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == 0);
        CHECK(unverified);
        cfsroot_config_done(&c);

        check_fails("ostree=/ostree/boot.1/d/a/0 cfsroot=/cfs/x.cfs cfsroot.digest=" D64,
                    "ostree= and cfsroot=/cfs/x.cfs both name the image to boot: give one of them");
        check_fails("cfsroot.ostree cfsroot=/cfs/x.cfs cfsroot.digest=" D64,
                    "cfsroot.ostree and cfsroot=/cfs/x.cfs both name the image to boot: give one of them");
        check_fails("ostree=/ostree/boot.1/d/a/0 cfsroot.ostree",
                    "no cfsroot.digest= given: refusing to boot an unverified root (add cfsroot.digest=, or cfsroot.verity_check=0|1 to accept an unverified root)");
        check_fails("cfsroot.ostree cfsroot.verity_check=0",
                    "cfsroot.ostree finds the deployment by its digest: add cfsroot.digest=sha256:HEX (or ostree=PATH)");
        check_fails("cfsroot=/x cfsroot.digest=" D64 " cfsroot.etc=transient",
                    "cfsroot.etc= applies to ostree roots only: add ostree= or cfsroot.ostree, or remove it");
        check_fails("ostree=boot.1/d/a/0 cfsroot.digest=" D64,
                    "invalid ostree=boot.1/d/a/0: expected an absolute path such as /ostree/boot.1/OS/CHECKSUM/0");

        parse_fails("cfsroot.etc=volatile", "invalid cfsroot.etc=volatile: expected persistent or transient");
        parse_fails("cfsroot.etc", "invalid cfsroot.etc=: expected persistent or transient");
        parse_fails("cfsroot.etc=transient cfsroot.etc=persistent",
                    "conflicting values for cfsroot.etc: 'transient' and 'persistent'");
        parse_fails("cfsroot.ostree=yes", "invalid cfsroot.ostree=yes: expected cfsroot.ostree, cfsroot.ostree=0 or cfsroot.ostree=1");
        parse_fails("cfsroot.ostree cfsroot.ostree=0", "conflicting values for cfsroot.ostree: '1' and '0'");
        parse_fails("ostree=/ostree/boot.1/d/a/0 ostree=/ostree/boot.1/d/b/0",
                    "conflicting values for ostree: '/ostree/boot.1/d/a/0' and '/ostree/boot.1/d/b/0'");
        parse_ok("ostree=/ostree/boot.1/d/a/0 ostree=/ostree/boot.1/d/a/0 cfsroot.etc=transient", &c);
        CHECK(streq(c.ostree, "/ostree/boot.1/d/a/0") && c.etc == CFSROOT_ETC_TRANSIENT);
        cfsroot_config_done(&c);
        printf("PASS: ostree=, cfsroot.ostree, cfsroot.etc and their rules\n");
}

static void test_kernel_keys(void) {
        struct cfsroot_config c;

        parse_ok("root=PARTUUID=1234-5 rootfstype=ext4 rootflags=data=ordered,noatime rootwait rootdelay=3 init=/usr/lib/systemd/systemd", &c);
        CHECK(streq(c.root, "PARTUUID=1234-5"));
        CHECK(streq(c.rootfstype, "ext4"));
        CHECK(streq(c.rootflags, "data=ordered,noatime"));
        CHECK(c.rootwait && c.rootwait_sec == 0);
        CHECK(c.rootdelay == 3);
        CHECK(streq(c.init, "/usr/lib/systemd/systemd"));
        CHECK(!c.active);
        cfsroot_config_done(&c);

        parse_ok("rootwait=30", &c);
        CHECK(c.rootwait && c.rootwait_sec == 30);
        cfsroot_config_done(&c);
        parse_ok("root-wait=7", &c); /* the kernel's dash/underscore rule covers these too */
        CHECK(!c.rootwait);
        cfsroot_config_done(&c);
        parse_ok("root_fstype=xfs", &c);
        CHECK(!c.rootfstype);
        cfsroot_config_done(&c);
        parse_ok("ro=1 rw=0", &c); /* with a value they are not the flags */
        CHECK(!c.rw);
        cfsroot_config_done(&c);

        parse_fails("rootwait=abc", "invalid rootwait=abc: expected a number of seconds");
        parse_fails("rootwait=", "invalid rootwait=: expected a number of seconds");
        parse_fails("rootdelay=-1", "invalid rootdelay=-1: expected a number of seconds");
        parse_fails("rootwait=99999999999999999999", "invalid rootwait=99999999999999999999: expected a number of seconds");
        printf("PASS: root=, rootfstype=, rootflags=, ro/rw, rootwait, rootdelay, init=\n");
}

static void test_basedir(void) {
        struct cfsroot_config c;

        parse_ok("cfsroot=/x cfsroot.verity_check=1 cfsroot.basedir=/cfs/objects:/extra/objs:/third", &c);
        CHECK(c.n_basedirs == 3);
        CHECK(streq(c.basedirs[0], "/cfs/objects"));
        CHECK(streq(c.basedirs[1], "/extra/objs"));
        CHECK(streq(c.basedirs[2], "/third"));
        CHECK(c.basedirs[3] == NULL);
        CHECK(cfsroot_config_check(&c, NULL, err, sizeof err) == 0);
        CHECK(c.n_basedirs == 3); /* not replaced by the default */
        cfsroot_config_done(&c);

        parse_ok("cfsroot.basedir=\"/with space,and comma\"", &c);
        CHECK(c.n_basedirs == 1 && streq(c.basedirs[0], "/with space,and comma"));
        cfsroot_config_done(&c);

        parse_fails("cfsroot.basedir=", "invalid cfsroot.basedir=: expected absolute directories separated by ':'");
        parse_fails("cfsroot.basedir=/a::/b", "invalid cfsroot.basedir=/a::/b: expected absolute directories separated by ':'");
        parse_fails("cfsroot.basedir=/a:", "invalid cfsroot.basedir=/a:: expected absolute directories separated by ':'");
        parse_fails("cfsroot.basedir=rel", "invalid cfsroot.basedir=rel: expected absolute directories separated by ':'");
        printf("PASS: basedir split\n");
}

/* overlayfs's reading of a legacy option string (fs/overlayfs/params.c): options split at
 * ',' not escaped by '\\', key and value split at the first '=', lowerdir's layers split
 * at ':' not escaped ("::" before each data-only layer), then '\\' escapes removed. */
struct ovl_parsed {
        int n_opts;
        char keys[8][32];
        char values[8][512];
        int n_layers;
        char layers[8][512];
        int first_data_layer;
};

static void unescape(const char *s, size_t n, char *out) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n)
                        i++;
                out[k++] = s[i];
        }
        out[k] = '\0';
}

static void ovl_parse(const char *o, struct ovl_parsed *p) {
        *p = (struct ovl_parsed) { .first_data_layer = -1 };
        for (const char *opt = o;;) {
                const char *end = opt;
                while (*end && *end != ',')
                        end += (*end == '\\' && end[1]) ? 2 : 1;
                const char *eq = memchr(opt, '=', (size_t) (end - opt));
                CHECK(eq && p->n_opts < 8);
                CHECK((size_t) (eq - opt) < sizeof p->keys[0] && (size_t) (end - eq) < sizeof p->values[0]);
                memcpy(p->keys[p->n_opts], opt, (size_t) (eq - opt));
                p->keys[p->n_opts][eq - opt] = '\0';
                memcpy(p->values[p->n_opts], eq + 1, (size_t) (end - eq - 1));
                p->values[p->n_opts][end - eq - 1] = '\0';
                p->n_opts++;
                if (!*end)
                        break;
                opt = end + 1;
        }
        for (int i = 0; i < p->n_opts; i++) {
                if (!streq(p->keys[i], "lowerdir"))
                        continue;
                for (const char *l = p->values[i];;) {
                        const char *end = l;
                        while (*end && *end != ':')
                                end += (*end == '\\' && end[1]) ? 2 : 1;
                        CHECK(p->n_layers < 8);
                        unescape(l, (size_t) (end - l), p->layers[p->n_layers++]);
                        if (!*end)
                                break;
                        l = end + 1;
                        if (*l == ':') {
                                if (p->first_data_layer < 0)
                                        p->first_data_layer = p->n_layers;
                                l++;
                        } else
                                CHECK(p->first_data_layer < 0); /* no lower layer after data layers */
                }
        }
}

static const char *ovl_value(const struct ovl_parsed *p, const char *key) {
        const char *v = NULL;
        for (int i = 0; i < p->n_opts; i++)
                if (streq(p->keys[i], key)) {
                        CHECK(!v); /* each option exactly once */
                        v = p->values[i];
                }
        return v;
}

/* The string overlayfs gets holds exactly our options and layers, whatever the paths. */
static void check_legacy(const char *lower, char *const *dirs, size_t n, const char *mode) {
        _cleanup_free_ char *o = NULL;
        struct ovl_parsed p;

        CHECK(cfs_ovl_legacy_options(lower, dirs, n, mode, &o) == 0);
        ovl_parse(o, &p);
        CHECK(p.n_opts == (mode ? 4 : 3));
        CHECK(streq(ovl_value(&p, "metacopy"), "on"));
        CHECK(streq(ovl_value(&p, "redirect_dir"), "on"));
        CHECK(mode ? streq(ovl_value(&p, "verity"), mode) : !ovl_value(&p, "verity"));
        CHECK(ovl_value(&p, "lowerdir"));
        CHECK(p.n_layers == (int) n + 1 && streq(p.layers[0], lower));
        CHECK(n == 0 ? p.first_data_layer < 0 : p.first_data_layer == 1);
        for (size_t i = 0; i < n; i++)
                CHECK(streq(p.layers[i + 1], dirs[i]));
        /* verity= comes before every path: a string cut short loses a path, never verity=. */
        if (mode)
                CHECK(strstr(o, ",verity=") < strstr(o, "lowerdir="));
}

static void test_ovl_escape(void) {
        _cleanup_free_ char *a = cfs_ovl_escape_path("/plain/path");
        CHECK(streq(a, "/plain/path"));
        _cleanup_free_ char *b = cfs_ovl_escape_path("/a,verity=off");
        CHECK(streq(b, "/a\\,verity=off"));
        _cleanup_free_ char *e = cfs_ovl_escape_path("/x:y\\z,");
        CHECK(streq(e, "/x\\:y\\\\z\\,"));

        char *dirs[] = { (char *) "/objs,verity=off", (char *) "/o:2" };
        _cleanup_free_ char *o = NULL;
        CHECK(cfs_ovl_legacy_options("/run/lower", dirs, 2, "require", &o) == 0);
        CHECK(streq(o, "metacopy=on,redirect_dir=on,verity=require,lowerdir=/run/lower::/objs\\,verity=off::/o\\:2"));
        _cleanup_free_ char *o2 = NULL;
        CHECK(cfs_ovl_legacy_options("/l,x", NULL, 0, NULL, &o2) == 0);
        CHECK(streq(o2, "metacopy=on,redirect_dir=on,lowerdir=/l\\,x"));

        /* Paths made of every character that means something to overlayfs's parser. */
        char *evil[] = {
                (char *) "/a\\,verity=off",
                (char *) "/b\\",
                (char *) "/c,verity=off,metacopy=off",
                (char *) "/d:/e::/f",
                (char *) "/g=h,redirect_dir=off\\",
                (char *) "/\\\\,,::==verity=off",
        };
        check_legacy("/c,,", evil, ELEMENTSOF(evil), "require");
        check_legacy("/lower:verity=off", evil, ELEMENTSOF(evil), "on");
        check_legacy("/lower\\", evil, 3, NULL);
        check_legacy("/l", NULL, 0, "require");

        /* mount(2) would cut a string longer than one page: refused, never cut. */
        char *long_dir = malloc(5000);
        CHECK(long_dir);
        memset(long_dir, 'a', 4999);
        long_dir[0] = '/';
        long_dir[4999] = '\0';
        _cleanup_free_ char *o4 = NULL;
        CHECK(cfs_ovl_legacy_options("/l", &long_dir, 1, "require", &o4) == -E2BIG && !o4);
        /* The longest string that fits is fine, one byte more is not. */
        size_t fixed = strlen("metacopy=on,redirect_dir=on,verity=require,lowerdir=/l::");
        long_dir[CFS_MOUNT_DATA_MAX - fixed] = '\0';
        CHECK(cfs_ovl_legacy_options("/l", &long_dir, 1, "require", &o4) == 0 && strlen(o4) == CFS_MOUNT_DATA_MAX);
        free(o4);
        o4 = NULL;
        long_dir[CFS_MOUNT_DATA_MAX - fixed] = 'a';
        long_dir[CFS_MOUNT_DATA_MAX - fixed + 1] = '\0';
        CHECK(cfs_ovl_legacy_options("/l", &long_dir, 1, "require", &o4) == -E2BIG && !o4);
        /* Escaping counts. */
        memset(long_dir + 1, ',', 2100);
        long_dir[2101] = '\0';
        CHECK(cfs_ovl_legacy_options("/l", &long_dir, 1, "require", &o4) == -E2BIG && !o4);
        free(long_dir);
        printf("PASS: legacy overlayfs option escaping (',', ':', '\\', '=' and \"verity=off\" in paths add or change no option; over-long strings refused)\n");

        /* The new mount API: one option per call, paths passed verbatim (no escaping needed). */
        struct cfs_fs_option opts[6];
        size_t n = cfs_ovl_fs_options("/l", evil, 2, cfs_ovl_verity_option(2), opts);
        CHECK(n == 6);
        CHECK(streq(opts[0].key, "lowerdir+") && streq(opts[0].value, "/l"));
        CHECK(streq(opts[1].key, "datadir+") && streq(opts[1].value, "/a\\,verity=off"));
        CHECK(streq(opts[2].key, "datadir+") && streq(opts[2].value, "/b\\"));
        CHECK(streq(opts[3].key, "metacopy") && streq(opts[3].value, "on"));
        CHECK(streq(opts[4].key, "redirect_dir") && streq(opts[4].value, "on"));
        CHECK(streq(opts[5].key, "verity") && streq(opts[5].value, "require"));
        CHECK(streq(cfs_ovl_verity_option(1), "on"));
        CHECK(cfs_ovl_verity_option(0) == NULL);
        n = cfs_ovl_fs_options("/l", NULL, 0, cfs_ovl_verity_option(0), opts);
        CHECK(n == 3 && streq(opts[2].key, "redirect_dir"));
        printf("PASS: new mount API overlayfs options\n");
}

static void test_root_spec(void) {
        enum cfs_root_tag tag;
        const char *v;

        CHECK(cfs_root_spec_parse("UUID=abcd-1234", &tag, &v) == 0 && tag == CFS_ROOT_UUID && streq(v, "abcd-1234"));
        CHECK(cfs_root_spec_parse("LABEL=root fs", &tag, &v) == 0 && tag == CFS_ROOT_LABEL && streq(v, "root fs"));
        CHECK(cfs_root_spec_parse("PARTUUID=0a-01", &tag, &v) == 0 && tag == CFS_ROOT_PARTUUID);
        CHECK(cfs_root_spec_parse("PARTLABEL=os", &tag, &v) == 0 && tag == CFS_ROOT_PARTLABEL && streq(v, "os"));
        CHECK(cfs_root_spec_parse("/dev/vda1", &tag, &v) == 0 && tag == CFS_ROOT_PATH && streq(v, "/dev/vda1"));
        CHECK(cfs_root_spec_parse("/dev/disk/by-uuid/ab", &tag, &v) == 0 && tag == CFS_ROOT_UUID && streq(v, "ab"));
        CHECK(cfs_root_spec_parse("/dev/disk/by-label/L", &tag, &v) == 0 && tag == CFS_ROOT_LABEL && streq(v, "L"));
        CHECK(cfs_root_spec_parse("UUID=", &tag, &v) == -EINVAL);
        CHECK(cfs_root_spec_parse("/dev/", &tag, &v) == -EINVAL);
        CHECK(cfs_root_spec_parse("vda", &tag, &v) == -EINVAL);
        CHECK(cfs_root_spec_parse("8:1", &tag, &v) == -EINVAL);
        CHECK(cfs_root_spec_parse(NULL, &tag, &v) == -EINVAL);
        printf("PASS: root= forms\n");
}

static void write_file(const char *dir, const char *name, const char *content) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK(loop_write(fd, content, strlen(content)) == 0);
        close(fd);
}

static void make_dirs(const char *base, const char *rel) {
        char path[512];
        CHECK(mkdir(base, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof path, "%s/%s", base, rel);
        for (char *p = path + strlen(base) + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
                        *p = '/';
                }
        CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
}

struct seen {
        char list[16][128];
        int n;
};

static void collect(const char *modalias, void *userdata) {
        struct seen *s = userdata;
        CHECK(s->n < 16);
        snprintf(s->list[s->n++], sizeof s->list[0], "%s", modalias);
}

static bool seen_has(const struct seen *s, const char *v) {
        for (int i = 0; i < s->n; i++)
                if (streq(s->list[i], v))
                        return true;
        return false;
}

static void test_modalias_scan(const char *tmp) {
        char base[512], path[1300];
        snprintf(base, sizeof base, "%s/sys", tmp);
        make_dirs(base, "pci0000:00/0000:00:01.0/virtio0");
        make_dirs(base, "platform/serial8250");
        write_file(base, "pci0000:00/0000:00:01.0/modalias", "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00\n");
        write_file(base, "pci0000:00/0000:00:01.0/virtio0/modalias", "virtio:d00000002v00001AF4\n");
        write_file(base, "platform/serial8250/modalias", "platform:serial8250\n");
        write_file(base, "platform/serial8250/uevent", "DRIVER=serial8250\n");
        write_file(base, "platform/modalias", "\n"); /* empty: skipped */
        /* A symlink loop, as sysfs has (subsystem, driver links): must not be followed. */
        snprintf(path, sizeof path, "%s/platform/serial8250/subsystem", base);
        CHECK(symlink("..", path) == 0);
        snprintf(path, sizeof path, "%s/platform/serial8250/link-modalias", base);
        CHECK(symlink("modalias", path) == 0);

        struct seen s = {};
        int n = cfs_modalias_scan(base, collect, &s);
        CHECK(n == 3);
        CHECK(s.n == 3);
        CHECK(seen_has(&s, "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00"));
        CHECK(seen_has(&s, "virtio:d00000002v00001AF4"));
        CHECK(seen_has(&s, "platform:serial8250"));
        snprintf(path, sizeof path, "%s/missing", tmp);
        CHECK(cfs_modalias_scan(path, collect, &s) == -ENOENT);
        printf("PASS: modalias scan over a fake sysfs tree\n");
}

static bool is_empty_dir(const char *path) {
        DIR *d = opendir(path);
        CHECK(d);
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n == 0;
}

static void test_rm_rf(const char *tmp) {
        char base[512], path[1300], outside[600];
        snprintf(base, sizeof base, "%s/initramfs", tmp);
        make_dirs(base, "usr/lib/modules/6.12/kernel");
        make_dirs(base, "dev");
        make_dirs(base, "mnt/point");
        write_file(base, "init", "#!/bin/false\n");
        write_file(base, "usr/lib/modules/6.12/kernel/x.ko", "ko");
        snprintf(outside, sizeof outside, "%s/outside", tmp);
        make_dirs(tmp, "outside");
        write_file(outside, "keep", "keep");
        /* A symlink to a directory outside: the link goes, the target stays. */
        snprintf(path, sizeof path, "%s/link-out", base);
        CHECK(symlink(outside, path) == 0);

        /* A mount point inside: left alone with its content (needs privileges). */
        snprintf(path, sizeof path, "%s/mnt/point", base);
        bool mounted = mount("tmpfs", path, "tmpfs", 0, NULL) == 0;
        if (mounted)
                write_file(path, "in-mount", "x");

        int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        int r = cfs_rm_rf_same_dev(fd);
        close(fd);

        snprintf(path, sizeof path, "%s/keep", outside);
        CHECK(access(path, F_OK) == 0);
        if (mounted) {
                /* Only the mount point (busy) and its parent remain. */
                snprintf(path, sizeof path, "%s/mnt/point/in-mount", base);
                CHECK(access(path, F_OK) == 0);
                snprintf(path, sizeof path, "%s/init", base);
                CHECK(access(path, F_OK) < 0 && errno == ENOENT);
                snprintf(path, sizeof path, "%s/usr", base);
                CHECK(access(path, F_OK) < 0 && errno == ENOENT);
                snprintf(path, sizeof path, "%s/mnt/point", base);
                CHECK(umount(path) == 0);
                printf("PASS: switch-root deletion stops at mount points\n");
        } else {
                CHECK(r == 0);
                CHECK(is_empty_dir(base));
                printf("SKIP: switch-root deletion at mount points: cannot mount tmpfs here\n");
        }
        fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(cfs_rm_rf_same_dev(fd) == 0);
        close(fd);
        CHECK(is_empty_dir(base));
        printf("PASS: switch-root deletion walker empties the tree, keeps symlink targets\n");
}

/* The image is whatever the root device holds at that path: a FIFO must not hang the boot
 * (the open would block forever and no failure policy would run), a device node must not be
 * opened, a symlink not followed, and lookups stay inside the root directory. */
static int image_open_in_child(int rootfd, const char *path) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                alarm(10); /* a hang ends the child with SIGALRM: the test fails, not hangs */
                int fd = cfs_image_open_verified(rootfd, path, NULL, 0);
                if (fd >= 0) {
                        char buf[16] = "";
                        ssize_t n = read(fd, buf, sizeof buf - 1);
                        _exit(n == 5 && streq(buf, "image") ? 0 : 100);
                }
                _exit(fd == -EINVAL ? 1 : fd == -ENOENT ? 2 : 99);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status)) {
                fprintf(stderr, "opening image %s: child killed by signal %d\n", path, WTERMSIG(status));
                return -1;
        }
        return WEXITSTATUS(status);
}

static void test_image_open(const char *tmp) {
        char root[PATH_MAX], p[PATH_MAX + 32];
        snprintf(root, sizeof root, "%s/imgroot", tmp);
        CHECK(mkdir(root, 0755) == 0);
        snprintf(p, sizeof p, "%s/img", root);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0 && write(fd, "image", 5) == 5);
        close(fd);
        snprintf(p, sizeof p, "%s/fifo", root);
        CHECK(mkfifo(p, 0644) == 0);
        snprintf(p, sizeof p, "%s/link", root);
        CHECK(symlink("img", p) == 0);
        snprintf(p, sizeof p, "%s/dir", root);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(p, sizeof p, "%s/up", root);
        CHECK(symlink("/", p) == 0); /* "/" means the root directory we give, not the host's */
        snprintf(p, sizeof p, "%s/null", root);
        bool have_dev = mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0;

        int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(rootfd >= 0);
        CHECK(image_open_in_child(rootfd, "/img") == 0);
        CHECK(image_open_in_child(rootfd, "/dir/../../../img") == 0);
        CHECK(image_open_in_child(rootfd, "/up/up/img") == 0);
        CHECK(image_open_in_child(rootfd, "/fifo") == 1);
        CHECK(image_open_in_child(rootfd, "/link") == 1);
        CHECK(image_open_in_child(rootfd, "/dir") == 1);
        CHECK(image_open_in_child(rootfd, "/missing") == 2);
        CHECK(image_open_in_child(rootfd, "/up/etc/passwd") == 2);
        if (have_dev)
                CHECK(image_open_in_child(rootfd, "/null") == 1);
        close(rootfd);
        printf("PASS: image open: a FIFO%s, a symlink or a directory is refused without hanging; lookups stay in the root\n",
               have_dev ? ", a device node" : "");
        if (!have_dev)
                printf("SKIP: image open of a device node: cannot mknod here\n");
}

static void rm_tmp(const char *tmp) {
        int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                (void) cfs_rm_rf_same_dev(fd);
                close(fd);
        }
        (void) rmdir(tmp);
}

/* cfsroot.pcr= and cfsroot.tpm= (measured boot). */
static void test_tpm_keys(void) {
        struct cfsroot_config c;
        bool unverified;

        parse_ok("cfsroot=/i cfsroot.digest=" D64, &c);
        CHECK(c.pcr == CFSROOT_DEFAULT_PCR && c.pcr == 15);
        CHECK(!c.tpm_require);
        cfsroot_config_done(&c);
        parse_ok("cfsroot=/i cfsroot.pcr=0 cfsroot.pcr=0 cfsroot.tpm=require", &c);
        CHECK(c.pcr == 0 && c.tpm_require);
        cfsroot_config_done(&c);
        parse_ok("cfsroot=/i cfsroot.pcr=23 cfsroot.tpm=auto", &c);
        CHECK(c.pcr == 23 && !c.tpm_require);
        cfsroot_config_done(&c);
        parse_ok("cfsroot=/i cfsroot.pcr=off", &c);
        CHECK(c.pcr == -1);
        cfsroot_config_done(&c);
        parse_ok("cfsroot=/i cfsroot.pcr=7", &c);
        CHECK(c.pcr == 7);
        cfsroot_config_done(&c);

        parse_fails("cfsroot.pcr=24", "invalid cfsroot.pcr=24: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=07", "invalid cfsroot.pcr=07: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=-1", "invalid cfsroot.pcr=-1: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=", "invalid cfsroot.pcr=: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr", "invalid cfsroot.pcr=: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=1x", "invalid cfsroot.pcr=1x: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=100", "invalid cfsroot.pcr=100: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=OFF", "invalid cfsroot.pcr=OFF: expected a PCR number 0-23 or off");
        parse_fails("cfsroot.pcr=7 cfsroot.pcr=8", "conflicting values for cfsroot.pcr: '7' and '8'");
        parse_fails("cfsroot.pcr=off cfsroot.pcr=15", "conflicting values for cfsroot.pcr: 'off' and '15'");
        parse_fails("cfsroot.tpm=yes", "invalid cfsroot.tpm=yes: expected auto or require");
        parse_fails("cfsroot.tpm", "invalid cfsroot.tpm=: expected auto or require");
        parse_fails("cfsroot.tpm=auto cfsroot.tpm=require", "conflicting values for cfsroot.tpm: 'auto' and 'require'");

        parse_ok("cfsroot=/i cfsroot.digest=" D64 " cfsroot.pcr=off cfsroot.tpm=require", &c);
        CHECK(cfsroot_config_check(&c, &unverified, err, sizeof err) == -EINVAL);
        CHECK(streq(err, "cfsroot.tpm=require contradicts cfsroot.pcr=off: remove one of them"));
        cfsroot_config_done(&c);
        printf("PASS: cfsroot.pcr= (0-23, off, default 15) and cfsroot.tpm= (auto, require): values, refusals, conflicts\n");
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        test_basic();
        test_quoting();
        test_dashdash();
        test_dash_underscore();
        test_duplicates();
        test_unknown();
        test_digest();
        test_values();
        test_activation();
        test_ostree();
        test_kernel_keys();
        test_basedir();
        test_ovl_escape();
        test_root_spec();
        test_tpm_keys();

        char tmp[] = "/tmp/test-cmdline.XXXXXX";
        CHECK(mkdtemp(tmp));
        test_modalias_scan(tmp);
        test_rm_rf(tmp);
        test_image_open(tmp);
        rm_tmp(tmp);
        return 0;
}
