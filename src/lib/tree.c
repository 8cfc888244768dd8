/* SPDX-License-Identifier: MIT */
/* The inode tree: node life cycle, children, hard links, payload/content/xattrs and walks.
 * Pure data structure code; the rules that depend on the image format live in the writer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfs-format.h"
#include "tree.h"
#include "util.h"

cfs_node *cfs_node_new(uint32_t mode) {
        cfs_node *n = calloc(1, sizeof(*n));
        if (!n)
                return NULL;
        n->mode = mode;
        n->nlink = 1;
        return n;
}

static void node_free_fields(cfs_node *n) {
        free(n->name);
        free(n->payload);
        free(n->content);
        free(n->src_path);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                free(n->xattrs[i].key);
                free(n->xattrs[i].value);
        }
        free(n->xattrs);
        free(n->children);
        free(n);
}

cfs_node *cfs_node_free(cfs_node *n) {
        /* Iterative, so that a deep tree from untrusted input cannot exhaust the stack:
         * descend to a leaf, free it, and continue with its parent. The parent pointers
         * of the subtree root's ancestors are never followed. */
        cfs_node *top = n;

        while (n) {
                if (n->n_children > 0) {
                        cfs_node *c = n->children[--n->n_children];
                        c->parent = n; /* make sure we come back here */
                        n = c;
                        continue;
                }
                cfs_node *up = n == top ? NULL : n->parent;
                node_free_fields(n);
                n = up;
        }
        return NULL;
}

void cfs_node_freep(cfs_node **n) {
        if (*n)
                cfs_node_free(*n);
}

int cfs_name_valid(const char *name, size_t len) {
        if (!name || len == 0)
                return -EINVAL;
        if (len > CFS_NAME_MAX)
                return -ENAMETOOLONG;
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
                return -EINVAL;
        if (memchr(name, '/', len) || memchr(name, '\0', len))
                return -EINVAL;
        return 0;
}

static bool node_is_dir(const cfs_node *n) {
        return !n->link_to && S_ISDIR(n->mode);
}

int cfs_node_add_child(cfs_node *parent, cfs_node *child, const char *name, bool check_dup) {
        int r;

        if (!parent || !child || !name)
                return -EINVAL;
        if (!node_is_dir(parent))
                return -ENOTDIR;
        r = cfs_name_valid(name, strlen(name));
        if (r < 0)
                return r;
        if (child->parent || child->name || child == parent)
                return -EBUSY; /* a node has exactly one place in the tree */
        if (check_dup && cfs_node_lookup_child(parent, name))
                return -EEXIST;

        if (GROW_ARRAY(parent->children, parent->children_alloc, parent->n_children + 1, 8) < 0)
                return -ENOMEM;

        char *dup = strdup(name);
        if (!dup)
                return -ENOMEM;

        child->name = dup;
        child->parent = parent;
        parent->children[parent->n_children++] = child;
        return 0;
}

cfs_node *cfs_node_lookup_child(const cfs_node *dir, const char *name) {
        /* Linear: children may be in insertion order. Bulk builders (dump parser, directory
         * scanner) keep their own index or pass check_dup = false. */
        if (!dir || !name)
                return NULL;
        for (size_t i = 0; i < dir->n_children; i++)
                if (streq(dir->children[i]->name, name))
                        return dir->children[i];
        return NULL;
}

static int cmp_child(const void *a, const void *b) {
        const cfs_node *x = *(const cfs_node *const *) a, *y = *(const cfs_node *const *) b;
        return strcmp(x->name, y->name);
}

static int sort_one(cfs_node *n, void *userdata) {
        bool sorted = true;

        /* Most builders add entries in order already: check before sorting. */
        for (size_t i = 1; i < n->n_children; i++) {
                int c = strcmp(n->children[i - 1]->name, n->children[i]->name);
                if (c == 0)
                        return -EEXIST;
                if (c > 0) {
                        sorted = false;
                        break;
                }
        }
        if (sorted)
                return 0;
        qsort(n->children, n->n_children, sizeof(cfs_node *), cmp_child);
        for (size_t i = 1; i < n->n_children; i++)
                if (streq(n->children[i - 1]->name, n->children[i]->name))
                        return -EEXIST;
        return 0;
}

int cfs_node_sort_children(cfs_node *dir) {
        return cfs_node_walk(dir, sort_one, NULL);
}

int cfs_node_set_payload(cfs_node *n, const char *payload) {
        char *dup = NULL;

        if (payload) {
                if (strlen(payload) > CFS_PAYLOAD_MAX)
                        return -ENAMETOOLONG;
                dup = strdup(payload);
                if (!dup)
                        return -ENOMEM;
        }
        free(n->payload);
        n->payload = dup;
        return 0;
}

int cfs_node_set_content(cfs_node *n, const void *data, size_t len) {
        uint8_t *dup = NULL;

        if (len > CFS_INLINE_CONTENT_MAX)
                return -EFBIG;
        if (len > 0) {
                if (!data)
                        return -EINVAL;
                dup = malloc(len);
                if (!dup)
                        return -ENOMEM;
                memcpy(dup, data, len);
        }
        free(n->content);
        n->content = dup;
        n->size = len;
        return 0;
}

void cfs_node_set_digest(cfs_node *n, const uint8_t digest[CFS_DIGEST_SIZE]) {
        memcpy(n->digest, digest, CFS_DIGEST_SIZE);
        n->has_digest = true;
}

static bool xattr_key_valid(const char *key) {
        /* The kernel only stores these namespaces; anything else could never be set on a
         * real file, so it is an input error rather than something to carry along. */
        static const char *const prefixes[] = { "user.", "trusted.", "security.", "system." };
        size_t len = strlen(key);

        if (len == 0 || len > CFS_XATTR_NAME_MAX)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                size_t pl = strlen(prefixes[i]);
                if (len > pl && strncmp(key, prefixes[i], pl) == 0)
                        return true;
        }
        return false;
}

int cfs_node_set_xattr(cfs_node *n, const char *key, const void *value, size_t len) {
        if (!key || !xattr_key_valid(key))
                return -EINVAL;
        if (len > CFS_XATTR_VALUE_MAX)
                return -E2BIG;
        if (len > 0 && !value)
                return -EINVAL;

        /* +1 so that an empty value is still a valid allocation. */
        _cleanup_free_ uint8_t *v = malloc(len + 1);
        if (!v)
                return -ENOMEM;
        if (len > 0)
                memcpy(v, value, len);

        for (size_t i = 0; i < n->n_xattrs; i++)
                if (streq(n->xattrs[i].key, key)) {
                        free(n->xattrs[i].value);
                        n->xattrs[i].value = TAKE_PTR(v);
                        n->xattrs[i].value_len = len;
                        return 0;
                }

        _cleanup_free_ char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        struct cfs_xattr *x = reallocarray(n->xattrs, n->n_xattrs + 1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        n->xattrs = x;
        n->xattrs[n->n_xattrs++] = (struct cfs_xattr) {
                .key = TAKE_PTR(k),
                .value = TAKE_PTR(v),
                .value_len = len,
        };
        return 0;
}

const struct cfs_xattr *cfs_node_get_xattr(const cfs_node *n, const char *key) {
        for (size_t i = 0; i < n->n_xattrs; i++)
                if (streq(n->xattrs[i].key, key))
                        return &n->xattrs[i];
        return NULL;
}

int cfs_node_make_hardlink(cfs_node *n, cfs_node *target) {
        if (!n || !target)
                return -EINVAL;
        /* Keep link_to pointing at an inode, never at another link. */
        target = cfs_node_inode(target);
        if (target == n)
                return -ELOOP;
        if (S_ISDIR(target->mode) || node_is_dir(n))
                return -EPERM;
        n->link_to = target;
        return 0;
}

char *cfs_node_path(const cfs_node *n) {
        size_t len = 0;

        if (!n->parent)
                return strdup("/");
        for (const cfs_node *p = n; p->parent; p = p->parent)
                len += 1 + strlen(p->name);

        char *buf = malloc(len + 1);
        if (!buf)
                return NULL;
        buf[len] = '\0';
        for (const cfs_node *p = n; p->parent; p = p->parent) {
                size_t l = strlen(p->name);
                len -= l;
                memcpy(buf + len, p->name, l);
                buf[--len] = '/';
        }
        return buf;
}

static int walk(cfs_node *n, cfs_walk_fn fn, void *userdata, unsigned depth) {
        int r = fn(n, userdata);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        /* Paths are at most CFS_PATH_MAX bytes, so trees deeper than that are malformed. */
        if (depth > CFS_PATH_MAX / 2 + 1 && n->n_children > 0)
                return -ELOOP;
        for (size_t i = 0; i < n->n_children; i++) {
                r = walk(n->children[i], fn, userdata, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cfs_node_walk(cfs_node *root, cfs_walk_fn fn, void *userdata) {
        if (!root)
                return 0;
        return walk(root, fn, userdata, 0);
}
