/* SPDX-License-Identifier: MIT */
/* The dump format: parse -> print round trips, escaping, hard links in any order, the
 * inputs upstream accepts only in non-strict mode, and every rejected input with the line
 * its error names. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"
#include "util.h"

static cfs_node *parse_ok(const char *text) {
        struct cfs_parse_error err;
        cfs_node *root = NULL;
        int r = cfs_dump_parse_buffer(text, strlen(text), &root, &err);
        if (r < 0)
                fprintf(stderr, "unexpected parse error at line %u: %s\n", err.line, err.msg);
        CHECK(r == 0 && root);
        return root;
}

static char *print(cfs_node *root) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        CHECK(f);
        CHECK(cfs_dump_write(f, root) == 0);
        CHECK(fclose(f) == 0);
        return buf;
}

/* Canonical input: printing it gives the same text back. */
static const char canonical[] =
        "/ 4096 40755 3 0 0 0 1700000000.5 - - - security.selinux=system_u:object_r:root_t:s0\\x00 user.a\\x3db=c\\x3dd\n"
        "/a\\x20dir 0 40700 2 1000 1000 0 1700000001.0 - - -\n"
        "/a\\x20dir/big 123456789012 100644 2 1000 1000 0 1700000002.999999999 ab/cdef - "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff trusted.overlay.x=y\n"
        "/a\\x20dir/inline 10 100600 1 0 0 0 1.0 - hi\\tthere\\n\\\\ -\n"
        "/a\\x20dir/link 123456789012 @100644 2 1000 1000 0 1700000002.999999999 /a\\x20dir/big - "
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff trusted.overlay.x=y\n"
        "/dash 1 100644 1 0 0 0 0.0 - \\x2d -\n"
        "/dev 0 20600 1 0 0 259 0.0 - - -\n"
        "/neg 0 100644 1 0 0 0 -5.3 \\x2d - -\n"
        "/sym 7 120777 1 0 0 0 0.0 /target - -\n"
        "/\\xff\\n 0 10644 1 0 0 0 0.0 - - - user.bin=\\x00\\x01\\xff\n";

static void test_round_trip(void) {
        _cleanup_node_ cfs_node *root = parse_ok(canonical);
        _cleanup_free_ char *out = print(root);

        if (!streq(out, canonical))
                fprintf(stderr, "got:\n%s\nexpected:\n%s", out, canonical);
        CHECK(streq(out, canonical));

        /* spot checks of what the parser stored */
        cfs_node *d = cfs_node_lookup_child(root, "a dir");
        CHECK(d && S_ISDIR(d->mode) && d->uid == 1000);
        cfs_node *inl = cfs_node_lookup_child(d, "inline");
        CHECK(inl && inl->size == 10 && memcmp(inl->content, "hi\tthere\n\\", 10) == 0);
        cfs_node *big = cfs_node_lookup_child(d, "big");
        CHECK(big->size == 123456789012ULL && big->has_digest && big->digest[31] == 0xff);
        CHECK(streq(big->payload, "ab/cdef") && big->mtime_nsec == 999999999);
        CHECK(cfs_node_lookup_child(d, "link")->link_to == big);
        CHECK(cfs_node_lookup_child(root, "neg")->mtime_sec == -5);
        CHECK(streq(cfs_node_lookup_child(root, "neg")->payload, "-"));
        CHECK(cfs_node_lookup_child(root, "dev")->rdev == 259);
        const struct cfs_xattr *x = cfs_node_get_xattr(root, "user.a=b");
        CHECK(x && x->value_len == 3 && memcmp(x->value, "c=d", 3) == 0);
        x = cfs_node_get_xattr(root, "security.selinux");
        CHECK(x && x->value_len == 28 && x->value[27] == 0);
        CHECK(cfs_node_lookup_child(root, "\xff\n"));
        printf("PASS: dump: parse -> print round trip is identical\n");
}

static void test_file_and_buffer_agree(void) {
        _cleanup_node_ cfs_node *a = parse_ok(canonical), *b = NULL;
        struct cfs_parse_error err;
        FILE *f = fmemopen((void *) canonical, strlen(canonical), "r");
        CHECK(f);
        CHECK(cfs_dump_parse(f, &b, &err) == 0);
        fclose(f);
        _cleanup_free_ char *pa = print(a), *pb = print(b);
        CHECK(streq(pa, pb));
        printf("PASS: dump: FILE and buffer parsers agree\n");
}

static void test_unsorted_and_links(void) {
        /* children out of order; a link before its target; a chain of links */
        const char *text =
                "/ 0 40755 2 0 0 0 0.0 - - -\n"
                "/z 0 40755 2 0 0 0 0.0 - - -\n"
                "/l2 0 @100644 1 0 0 0 0.0 /l1 - -\n"
                "/l1 0 @100644 1 0 0 0 0.0 /z/f - -\n"
                "/z/f 5 100644 3 0 0 0 0.0 - hello -\n"
                "/a 0 100644 1 0 0 0 0.0 - - -\n";
        _cleanup_node_ cfs_node *root = parse_ok(text);
        _cleanup_free_ char *out = print(root);
        const char *expect =
                "/ 0 40755 2 0 0 0 0.0 - - -\n"
                "/a 0 100644 1 0 0 0 0.0 - - -\n"
                "/l1 5 @100644 3 0 0 0 0.0 /z/f hello -\n"
                "/l2 5 @100644 3 0 0 0 0.0 /z/f hello -\n"
                "/z 0 40755 2 0 0 0 0.0 - - -\n"
                "/z/f 5 100644 3 0 0 0 0.0 - hello -\n";
        if (!streq(out, expect))
                fprintf(stderr, "got:\n%s", out);
        CHECK(streq(out, expect));
        printf("PASS: dump: unsorted input, links before targets, link chains\n");
}

static void test_non_strict_accepted(void) {
        /* no final newline; rdev on a non-device (dropped); symlink size != target length
         * (the length wins); a symlink line without CONTENT/DIGEST; high MODE bits. */
        const char *text =
                "/ 0 40755 2 0 0 7 0.0 - - - \n"
                "/s 99 120777 1 0 0 0 0.0 abc - -\n"
                "/t 0 20120777 1 0 0 0 0.0 xyz\n"
                "/f 0 100644 1 0 0 0 0.0 - - -";
        _cleanup_node_ cfs_node *root = parse_ok(text);
        CHECK(root->rdev == 0);
        CHECK(cfs_node_lookup_child(root, "s")->size == 3);
        CHECK(cfs_node_lookup_child(root, "t")->mode == (S_IFLNK | 0777));
        CHECK(cfs_node_lookup_child(root, "f"));
        printf("PASS: dump: inputs upstream accepts by default are accepted\n");
}

static const struct {
        const char *text;
        unsigned line;
        const char *msg;
} bad[] = {
        { "", 0, "no root" },
        { "\n", 1, "empty line" },
        { "/a 0 100644 1 0 0 0 0.0 - - -\n", 1, "root directory" },
        { "/ 0 100644 1 0 0 0 0.0 - - -\n", 1, "root must be a directory" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/ 0 40755 2 0 0 0 0.0 - - -\n", 2, "second root" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n/a 0 100644 1 0 0 0 0.0 - - -\n", 3, "already exists" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/. 0 40755 2 0 0 0 0.0 - - -\n", 2, "'.' or '..'" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/.. 0 40755 2 0 0 0 0.0 - - -\n", 2, "'.' or '..'" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n// 0 40755 2 0 0 0 0.0 - - -\n", 2, "empty" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\nrel 0 40755 2 0 0 0 0.0 - - -\n", 2, "not absolute" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/a/b 0 100644 1 0 0 0 0.0 - - -\n", 2, "does not exist" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/f 0 100644 1 0 0 0 0.0 - - -\n/f/x 0 100644 1 0 0 0 0.0 - - -\n", 3, "not a directory" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/d 0 @40755 2 0 0 0 0.0 / - -\n", 2, "directories cannot be hard links" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/d 0 40755 2 0 0 0 0.0 - - -\n/l 0 @100644 1 0 0 0 0.0 /d - -\n", 3, "hard link to directory" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/l 0 @100644 1 0 0 0 0.0 /l - -\n", 2, "self-referential" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/l 0 @100644 1 0 0 0 0.0 /nope - -\n", 2, "does not exist" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/a 0 @100644 1 0 0 0 0.0 /b - -\n/b 0 @100644 1 0 0 0 0.0 /a - -\n", 2, "cycle" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/l 0 @100644 1 0 0 0 0.0 - - -\n", 2, "without a target" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/s 0 120777 1 0 0 0 0.0 - - -\n", 2, "symlink without a target" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/s 0 120777 1 0 0 0 0.0 \\x00 - -\n", 2, "NUL" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 3 0 1 0 0 0 0.0 foo - -\n", 2, "no valid file type" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 3 644 1 0 0 0 0.0 foo - -\n", 2, "no valid file type" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100648 1 0 0 0 0.0 - - -\n", 2, "MODE: invalid number" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n -1 100644 1 0 0 0 0.0 - - -\n", 2, "SIZE: invalid number" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 18446744073709551616 100644 1 0 0 0 0.0 - - -\n", 2, "out of range" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 4294967296 0 0 0.0 - - -\n", 2, "UID: '4294967296' is out of range" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0 - - -\n", 2, "MTIME" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.1000000000 - - -\n", 2, "MTIME" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - -\n", 2, "expected 11 fields" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0\n", 2, "expected 11 fields" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 3 100644 1 0 0 0 0.0 - ab -\n", 2, "CONTENT has 2 bytes but SIZE is 3" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 20644 1 0 0 0 0.0 - x -\n", 2, "only for regular files" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 1 100644 1 0 0 0 0.0 - - abcd\n", 2, "DIGEST must be 64 hex digits" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - =v\n", 2, "empty xattr key" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a\n", 2, "missing '='" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - foo=bar\n", 2, "no known namespace" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a=1 user.a=2\n", 2, "given twice" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a=1  \n", 2, "missing '='" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a=\\q\n", 2, "unsupported escape" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a=\\x4\n", 2, "two hex digits" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n 0 100644 1 0 0 0 0.0 - - - user.a=\\\n", 2, "no character after" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/n\0x 0 100644 1 0 0 0 0.0 - - -\n", 2, "NUL byte in line" },
        { "/ 0 40755 2 0 0 0 0.0 - - -\n/big 9500000000000000 100777 1 0 0 0 0.0 - - -\n", 2, "too large" },
};

static void test_rejected(void) {
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct cfs_parse_error err;
                cfs_node *root = NULL;
                size_t len = strlen(bad[i].text);
                if (strstr(bad[i].msg, "NUL byte"))
                        len = strlen(bad[i].text) + 1 + strlen(bad[i].text + strlen(bad[i].text) + 1);
                int r = cfs_dump_parse_buffer(bad[i].text, len, &root, &err);
                if (r >= 0 || err.line != bad[i].line || !strstr(err.msg, bad[i].msg))
                        fprintf(stderr, "case %zu: r=%d line=%u msg='%s', expected line %u '%s'\n", i, r, err.line,
                                err.msg, bad[i].line, bad[i].msg);
                CHECK(r < 0 && root == NULL);
                CHECK(err.line == bad[i].line);
                CHECK(strstr(err.msg, bad[i].msg));
        }
        printf("PASS: dump: %zu malformed inputs rejected with their line number\n", ELEMENTSOF(bad));
}

static void test_limits(void) {
        /* inline content: 5000 bytes is the limit; long symlink target; long xattr key and
         * value; the per-file xattr budget */
        size_t cap = 200000;
        _cleanup_free_ char *t = malloc(cap);
        struct cfs_parse_error err;
        cfs_node *root = NULL;
        int n;
        CHECK(t);

#define HDR "/ 0 40755 2 0 0 0 0.0 - - -\n"
        n = snprintf(t, cap, HDR "/f 5000 100644 1 0 0 0 0.0 - %0*d -\n", 5000, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) == 0);
        root = cfs_node_free(root);
        n = snprintf(t, cap, HDR "/f 5001 100644 1 0 0 0 0.0 - %0*d -\n", 5001, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) < 0 && err.line == 2 && strstr(err.msg, "exceeds maximum 5000"));

        n = snprintf(t, cap, HDR "/s 1 120777 1 0 0 0 0.0 %0*d - -\n", 4095, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) == 0);
        root = cfs_node_free(root);
        n = snprintf(t, cap, HDR "/s 1 120777 1 0 0 0 0.0 %0*d - -\n", 4096, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) < 0 && err.line == 2 && strstr(err.msg, "PAYLOAD is longer"));

        n = snprintf(t, cap, HDR "/f 0 100644 1 0 0 0 0.0 - - - user.%0*d=v\n", 250, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) == 0);
        root = cfs_node_free(root);
        n = snprintf(t, cap, HDR "/f 0 100644 1 0 0 0 0.0 - - - user.%0*d=v\n", 251, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) < 0 && err.line == 2 && strstr(err.msg, "longer than 255"));

        n = snprintf(t, cap, HDR "/f 0 100644 1 0 0 0 0.0 - - - user.a=%0*d\n", 30000, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) == 0);
        root = cfs_node_free(root);
        n = snprintf(t, cap, HDR "/f 0 100644 1 0 0 0 0.0 - - - user.a=%0*d user.b=%0*d\n", 20000, 0, 20000, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) < 0 && err.line == 2 && strstr(err.msg, "exceed"));
        n = snprintf(t, cap, HDR "/f 0 100644 1 0 0 0 0.0 - - - user.a=%0*d\n", 70000, 0);
        CHECK(cfs_dump_parse_buffer(t, n, &root, &err) < 0 && err.line == 2 && strstr(err.msg, "too many xattrs"));
        printf("PASS: dump: size limits (inline content, symlink, xattr key/value/budget)\n");
}

int main(void) {
        test_round_trip();
        test_file_and_buffer_agree();
        test_unsorted_and_links();
        test_non_strict_accepted();
        test_rejected();
        test_limits();
        return 0;
}
