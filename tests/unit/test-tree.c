/* SPDX-License-Identifier: MIT */
/* The inode tree API: adding and looking up children, name rules, duplicate detection,
 * bytewise sorting, hard link rules, xattrs/payload/content limits, paths and walks. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cfs-format.h"
#include "tree.h"
#include "util.h"

static cfs_node *add(cfs_node *parent, const char *name, uint32_t mode) {
        cfs_node *n = cfs_node_new(mode);
        CHECK(n);
        CHECK(cfs_node_add_child(parent, n, name, true) == 0);
        return n;
}

static void test_names(void) {
        char long_name[CFS_NAME_MAX + 2];

        CHECK(cfs_name_valid("a", 1) == 0);
        CHECK(cfs_name_valid("...", 3) == 0);
        CHECK(cfs_name_valid(".a", 2) == 0);
        CHECK(cfs_name_valid("", 0) == -EINVAL);
        CHECK(cfs_name_valid(".", 1) == -EINVAL);
        CHECK(cfs_name_valid("..", 2) == -EINVAL);
        CHECK(cfs_name_valid("a/b", 3) == -EINVAL);
        CHECK(cfs_name_valid("a\0b", 3) == -EINVAL);
        memset(long_name, 'x', sizeof(long_name));
        CHECK(cfs_name_valid(long_name, CFS_NAME_MAX) == 0);
        CHECK(cfs_name_valid(long_name, CFS_NAME_MAX + 1) == -ENAMETOOLONG);
        printf("PASS: tree: name rules\n");
}

static void test_children(void) {
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        CHECK(root);

        cfs_node *f = add(root, "file", S_IFREG | 0644);
        cfs_node *d = add(root, "dir", S_IFDIR | 0755);
        add(d, "inner", S_IFREG | 0600);
        CHECK(cfs_node_lookup_child(root, "file") == f);
        CHECK(cfs_node_lookup_child(root, "dir") == d);
        CHECK(cfs_node_lookup_child(root, "nope") == NULL);
        CHECK(f->parent == root && streq(f->name, "file"));

        /* bad parents and names leave the child with the caller */
        cfs_node *c = cfs_node_new(S_IFREG | 0644);
        CHECK(cfs_node_add_child(f, c, "x", true) == -ENOTDIR);
        CHECK(cfs_node_add_child(root, c, "file", true) == -EEXIST);
        CHECK(cfs_node_add_child(root, c, "..", true) == -EINVAL);
        CHECK(cfs_node_add_child(root, c, "a/b", true) == -EINVAL);
        CHECK(cfs_node_add_child(root, f, "again", true) == -EBUSY); /* already placed */
        CHECK(c->parent == NULL && c->name == NULL);
        cfs_node_free(c);

        /* unchecked duplicates are caught by the sort */
        c = cfs_node_new(S_IFREG | 0644);
        CHECK(cfs_node_add_child(root, c, "file", false) == 0);
        CHECK(cfs_node_sort_children(root) == -EEXIST);
        printf("PASS: tree: add/lookup children, duplicate detection\n");
}

static void test_sort(void) {
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        const char *names[] = { "b", "a", "\xff", "B", "a b", ".hidden", "aa", "-", "Z" };
        const char *sorted[] = { "-", ".hidden", "B", "Z", "a", "a b", "aa", "b", "sub", "\xff" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                add(root, names[i], S_IFREG | 0644);
        cfs_node *sub = add(root, "sub", S_IFDIR | 0755);
        add(sub, "z", S_IFREG | 0644);
        add(sub, "y", S_IFREG | 0644);

        CHECK(cfs_node_sort_children(root) == 0);
        for (size_t i = 0; i < ELEMENTSOF(sorted); i++)
                CHECK(streq(root->children[i]->name, sorted[i]));
        CHECK(streq(sub->children[0]->name, "y")); /* recursive */
        CHECK(cfs_node_sort_children(root) == 0); /* idempotent */
        printf("PASS: tree: children sort bytewise, recursively\n");
}

static void test_hardlinks(void) {
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        cfs_node *f = add(root, "f", S_IFREG | 0644);
        cfs_node *d = add(root, "d", S_IFDIR | 0755);
        cfs_node *l1 = add(root, "l1", S_IFREG | 0644);
        cfs_node *l2 = add(root, "l2", S_IFREG | 0644);
        cfs_node *ld = add(root, "ld", S_IFREG | 0644);

        CHECK(cfs_node_make_hardlink(ld, d) == -EPERM);
        CHECK(cfs_node_make_hardlink(f, f) == -ELOOP);
        CHECK(cfs_node_make_hardlink(l1, f) == 0);
        CHECK(cfs_node_inode(l1) == f);
        /* a link to a link names the inode itself */
        CHECK(cfs_node_make_hardlink(l2, l1) == 0);
        CHECK(l2->link_to == f);
        /* f -> l1 -> f would be a loop */
        CHECK(cfs_node_make_hardlink(f, l1) == -ELOOP);
        printf("PASS: tree: hard link rules\n");
}

static void test_attrs(void) {
        _cleanup_node_ cfs_node *n = cfs_node_new(S_IFREG | 0644);
        _cleanup_free_ uint8_t *big = calloc(1, CFS_XATTR_VALUE_MAX + 1);
        char path[CFS_PAYLOAD_MAX + 2];
        const struct cfs_xattr *x;

        CHECK(n && big);
        CHECK(cfs_node_set_xattr(n, "user.a", "1", 1) == 0);
        CHECK(cfs_node_set_xattr(n, "security.selinux", "ctx\0", 4) == 0);
        CHECK(cfs_node_set_xattr(n, "user.a", "22", 2) == 0); /* replace */
        CHECK(n->n_xattrs == 2);
        x = cfs_node_get_xattr(n, "user.a");
        CHECK(x && x->value_len == 2 && memcmp(x->value, "22", 2) == 0);
        CHECK(cfs_node_set_xattr(n, "user.empty", NULL, 0) == 0);
        CHECK(cfs_node_get_xattr(n, "user.empty")->value_len == 0);
        CHECK(cfs_node_set_xattr(n, "", "v", 1) == -EINVAL);
        CHECK(cfs_node_set_xattr(n, "noprefix", "v", 1) == -EINVAL);
        CHECK(cfs_node_set_xattr(n, "user.", "v", 1) == -EINVAL);
        CHECK(cfs_node_set_xattr(n, "user.big", big, CFS_XATTR_VALUE_MAX) == 0);
        CHECK(cfs_node_set_xattr(n, "user.big", big, CFS_XATTR_VALUE_MAX + 1) == -E2BIG);
        CHECK(cfs_node_get_xattr(n, "user.nope") == NULL);

        memset(path, 'p', sizeof(path));
        path[CFS_PAYLOAD_MAX] = '\0';
        CHECK(cfs_node_set_payload(n, path) == 0);
        path[CFS_PAYLOAD_MAX] = 'p';
        path[CFS_PAYLOAD_MAX + 1] = '\0';
        CHECK(cfs_node_set_payload(n, path) == -ENAMETOOLONG);
        CHECK(cfs_node_set_payload(n, NULL) == 0 && n->payload == NULL);

        CHECK(cfs_node_set_content(n, big, CFS_INLINE_CONTENT_MAX) == 0 && n->size == CFS_INLINE_CONTENT_MAX);
        CHECK(cfs_node_set_content(n, big, CFS_INLINE_CONTENT_MAX + 1) == -EFBIG);
        CHECK(cfs_node_set_content(n, NULL, 0) == 0 && n->content == NULL && n->size == 0);

        uint8_t digest[CFS_DIGEST_SIZE] = { 1, 2, 3 };
        cfs_node_set_digest(n, digest);
        CHECK(n->has_digest && n->digest[2] == 3);
        printf("PASS: tree: xattrs, payload, content, digest limits\n");
}

struct walk_log {
        char buf[256];
        const char *stop_at;
};

static int log_node(cfs_node *n, void *userdata) {
        struct walk_log *l = userdata;
        _cleanup_free_ char *p = cfs_node_path(n);
        CHECK(p);
        strcat(l->buf, p);
        strcat(l->buf, ";");
        if (l->stop_at && streq(p, l->stop_at))
                return -ECANCELED;
        return streq(p, "/skip") ? 1 : 0;
}

static void test_paths_walk(void) {
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        cfs_node *a = add(root, "a", S_IFDIR | 0755);
        cfs_node *b = add(a, "b c", S_IFREG | 0644);
        cfs_node *s = add(root, "skip", S_IFDIR | 0755);
        add(s, "hidden", S_IFREG | 0644);
        add(root, "z", S_IFREG | 0644);
        _cleanup_free_ char *p1 = cfs_node_path(root), *p2 = cfs_node_path(b);

        CHECK(streq(p1, "/") && streq(p2, "/a/b c"));

        struct walk_log l = {};
        CHECK(cfs_node_walk(root, log_node, &l) == 0);
        CHECK(streq(l.buf, "/;/a;/a/b c;/skip;/z;"));
        struct walk_log l2 = { .stop_at = "/a/b c" };
        CHECK(cfs_node_walk(root, log_node, &l2) == -ECANCELED);
        CHECK(streq(l2.buf, "/;/a;/a/b c;"));
        printf("PASS: tree: paths and pre-order walk (skip, stop)\n");
}

static int count_node(cfs_node *n, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

static void test_deep_free(void) {
        /* Freeing must not recurse: a deep chain from untrusted input cannot blow the stack. */
        cfs_node *root = cfs_node_new(S_IFDIR | 0755), *cur = root;
        for (int i = 0; i < 200000; i++)
                cur = add(cur, "d", S_IFDIR | 0755);
        size_t count = 0;
        /* walks refuse trees deeper than any valid path could be */
        CHECK(cfs_node_walk(root, count_node, &count) == -ELOOP);
        CHECK(count > 2000 && count < 3000);
        cfs_node_free(root);
        CHECK(cfs_node_free(NULL) == NULL);
        printf("PASS: tree: deep trees free without recursion\n");
}

int main(void) {
        test_names();
        test_children();
        test_sort();
        test_hardlinks();
        test_attrs();
        test_paths_walk();
        test_deep_free();
        return 0;
}
