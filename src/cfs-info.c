/* SPDX-License-Identifier: MIT */
/* cfs-info: look into composefs images. Prints an image as a dump, lists the backing objects
 * it needs, checks an object store against it (presence and fs-verity digest, computed in
 * user space), and prints the fs-verity digest of any file. */
#include <fcntl.h>
#include <getopt.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "log.h"
#include "tree.h"
#include "util.h"
#include "verity.h"

static void help(void) {
        printf("Usage: %s [OPTIONS] COMMAND ARGS...\n"
               "\n"
               "Commands:\n"
               "  dump IMAGE               print the image as a composefs dump\n"
               "  objects IMAGE            list the backing objects the image refers to\n"
               "  check IMAGE BASEDIR...   check that every object is present in one of the\n"
               "                           BASEDIRs (searched in order) with the fs-verity\n"
               "                           digest the image records; lists bad ones\n"
               "  digest FILE...           print the fs-verity digest (SHA-256, 4096-byte\n"
               "                           blocks) of each FILE, as `fsverity digest` does\n"
               "\n"
               "IMAGE may be \"-\" for standard input.\n"
               "\n"
               "Options:\n"
               "  -h --help                show this help\n"
               "     --version             show the version\n"
               "\n"
               "Exit status: 0 success, 1 failure (or bad objects found), 2 usage error.\n",
               program_invocation_short_name);
}

/* The reader says why an image is invalid in a debug message; while reading, we catch that
 * message so the user gets one error line with the reason. */
static char read_reason[512];

static void capture_sink(int level, const char *line, void *userdata) {
        if (level >= LOG_LEVEL_DEBUG) {
                /* Drop "cfs-info: Invalid composefs image: ". */
                const char *p = strstr(line, "image: ");
                snprintf(read_reason, sizeof read_reason, "%s", p ? p + strlen("image: ") : line);
                return;
        }
        fprintf(stderr, "%s\n", line);
}

static int load_image(const char *path, cfs_node **ret) {
        _cleanup_close_ int fd = -EBADF;
        int r, saved_level = log_get_max_level();

        if (streq(path, "-"))
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open image '%s': %m", path);

        read_reason[0] = '\0';
        log_set_sink(capture_sink, NULL);
        log_set_max_level(LOG_LEVEL_DEBUG);
        r = cfs_image_read(fd, ret);
        log_set_max_level(saved_level);
        log_set_sink(NULL, NULL);

        if (r == -EBADMSG)
                return log_error_errno(r, "'%s' is not a valid composefs image: %s", path,
                                       read_reason[0] ? read_reason : "malformed");
        if (r < 0)
                return log_error_errno(r, "Failed to read image '%s': %m", path);
        return 0;
}

static int flush_stdout(void) {
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(errno ?: EIO, "Failed to write to standard output: %m");
        return 0;
}

static int cmd_dump(const char *image) {
        _cleanup_node_ cfs_node *root = NULL;
        int r = load_image(image, &root);
        if (r < 0)
                return r;
        r = cfs_dump_write(stdout, root);
        if (r < 0)
                return log_error_errno(r, "Failed to write the dump of '%s': %m", image);
        return flush_stdout();
}

/* ---- objects ---- */

struct object {
        const char *path; /* the node's payload (owned by the tree) */
        const uint8_t *digest; /* NULL if the image records none */
};

struct objects {
        struct object *v;
        size_t n, alloc;
};

static int collect_object(cfs_node *n, void *userdata) {
        struct objects *o = userdata;

        /* A hard link shares its inode's payload: count it once, at the inode. */
        if (n->link_to || !S_ISREG(n->mode) || !n->payload)
                return 0;
        if (GROW_ARRAY(o->v, o->alloc, o->n + 1, 64) < 0)
                return -ENOMEM;
        o->v[o->n++] = (struct object) { n->payload, n->has_digest ? n->digest : NULL };
        return 0;
}

static int cmp_object(const void *a, const void *b) {
        const struct object *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        if (c != 0)
                return c;
        if (!x->digest || !y->digest)
                return (x->digest != NULL) - (y->digest != NULL);
        return memcmp(x->digest, y->digest, CFS_DIGEST_SIZE);
}

static bool same_object(const struct object *a, const struct object *b) {
        return cmp_object(a, b) == 0;
}

/* Sorted, without duplicates (path and digest equal). */
static int list_objects(cfs_node *root, struct objects *ret) {
        struct objects o = {};
        int r = cfs_node_walk(root, collect_object, &o);
        if (r < 0) {
                free(o.v);
                return r;
        }
        if (o.n > 0)
                qsort(o.v, o.n, sizeof(*o.v), cmp_object);
        size_t w = 0;
        for (size_t i = 0; i < o.n; i++)
                if (w == 0 || !same_object(&o.v[w - 1], &o.v[i]))
                        o.v[w++] = o.v[i];
        o.n = w;
        *ret = o;
        return 0;
}

static int cmd_objects(const char *image) {
        _cleanup_node_ cfs_node *root = NULL;
        struct objects o = {};
        int r = load_image(image, &root);
        if (r < 0)
                return r;
        r = list_objects(root, &o);
        if (r < 0)
                return log_error_errno(r, "Failed to list the objects of '%s': %m", image);
        for (size_t i = 0; i < o.n; i++)
                if (i == 0 || !streq(o.v[i - 1].path, o.v[i].path))
                        printf("%s\n", o.v[i].path);
        free(o.v);
        return flush_stdout();
}

/* ---- check ---- */

/* Opens path below dir without letting "..", absolute symlinks or magic links leave it:
 * overlayfs resolves redirects inside its data layer only. */
static int open_beneath(int dir, const char *path) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
        if (fd < 0 && errno == ENOSYS) {
                /* Kernels before 5.6: no openat2; refuse ".." components ourselves. */
                for (const char *p = path; (p = strstr(p, "..")); p += 2)
                        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                                return -EXDEV;
                fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        }
        return fd < 0 ? -errno : (int) fd;
}

enum { OBJ_OK, OBJ_MISSING, OBJ_CORRUPT };

static int check_one(const int *dirs, char **dirnames, size_t n_dirs, const struct object *o) {
        char want[2 * CFS_DIGEST_SIZE + 1], got[2 * CFS_DIGEST_SIZE + 1];

        for (size_t i = 0; i < n_dirs; i++) {
                _cleanup_close_ int fd = open_beneath(dirs[i], o->path);
                if (fd == -ENOENT || fd == -ENOTDIR)
                        continue;
                if (fd < 0) {
                        printf("corrupt: %s: cannot open in %s: %s\n", o->path, dirnames[i], strerror(-fd));
                        return OBJ_CORRUPT;
                }
                struct stat st;
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        printf("corrupt: %s: not a regular file in %s\n", o->path, dirnames[i]);
                        return OBJ_CORRUPT;
                }
                if (!o->digest)
                        return OBJ_OK; /* the image records no digest: presence is all we can check */

                uint8_t d[CFS_DIGEST_SIZE];
                int r = cfs_verity_digest_fd(fd, d);
                if (r < 0) {
                        printf("corrupt: %s: cannot read in %s: %s\n", o->path, dirnames[i], strerror(-r));
                        return OBJ_CORRUPT;
                }
                if (memcmp(d, o->digest, CFS_DIGEST_SIZE) != 0) {
                        hex_encode(o->digest, CFS_DIGEST_SIZE, want);
                        hex_encode(d, CFS_DIGEST_SIZE, got);
                        printf("corrupt: %s: in %s, digest sha256:%s, expected sha256:%s\n", o->path,
                               dirnames[i], got, want);
                        return OBJ_CORRUPT;
                }
                return OBJ_OK;
        }
        printf("missing: %s\n", o->path);
        return OBJ_MISSING;
}

static int cmd_check(const char *image, char **basedirs, size_t n_dirs) {
        _cleanup_node_ cfs_node *root = NULL;
        _cleanup_free_ int *dirs = NULL;
        struct objects o = {};
        size_t missing = 0, corrupt = 0;
        int r;

        r = load_image(image, &root);
        if (r < 0)
                return r;

        dirs = calloc(n_dirs, sizeof(int));
        if (!dirs)
                return log_error_errno(ENOMEM, "Out of memory");
        for (size_t i = 0; i < n_dirs; i++)
                dirs[i] = -EBADF;
        for (size_t i = 0; i < n_dirs; i++) {
                dirs[i] = open(basedirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dirs[i] < 0) {
                        r = log_error_errno(errno, "Failed to open object directory '%s': %m", basedirs[i]);
                        goto out;
                }
        }

        r = list_objects(root, &o);
        if (r < 0) {
                r = log_error_errno(r, "Failed to list the objects of '%s': %m", image);
                goto out;
        }
        for (size_t i = 0; i < o.n; i++) {
                switch (check_one(dirs, basedirs, n_dirs, &o.v[i])) {
                case OBJ_MISSING: missing++; break;
                case OBJ_CORRUPT: corrupt++; break;
                }
        }
        r = flush_stdout();
        if (r < 0)
                goto out;
        if (missing + corrupt > 0)
                r = log_error_errno(EBADMSG, "%s: %zu of %zu objects missing, %zu corrupt", image,
                                    missing, o.n, corrupt);
        else
                log_info("%s: all %zu objects present and intact", image, o.n);
out:
        free(o.v);
        for (size_t i = 0; i < n_dirs; i++)
                safe_close(dirs[i]);
        return r;
}

/* ---- digest ---- */

static int cmd_digest(char **files, size_t n) {
        int ret = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                uint8_t d[CFS_DIGEST_SIZE];
                char hex[2 * CFS_DIGEST_SIZE + 1];
                int r;

                if (fd < 0) {
                        ret = log_error_errno(errno, "Failed to open '%s': %m", files[i]);
                        continue;
                }
                r = cfs_verity_digest_fd(fd, d);
                if (r < 0) {
                        ret = log_error_errno(r, "Failed to compute the fs-verity digest of '%s': %m", files[i]);
                        continue;
                }
                hex_encode(d, CFS_DIGEST_SIZE, hex);
                printf("sha256:%s %s\n", hex, files[i]);
        }
        int r = flush_stdout();
        return ret < 0 ? ret : r;
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c, r;

        /* "+": options end at the command, so file names after it may start with '-'. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cfs-info %s\n", CFS_VERSION);
                        return 0;
                default:
                        return 2;
                }
        }

        if (optind >= argc) {
                log_error("Missing command. See --help.");
                return 2;
        }
        const char *cmd = argv[optind];
        char **args = argv + optind + 1;
        size_t n_args = (size_t) (argc - optind - 1);

        if (streq(cmd, "dump") || streq(cmd, "objects")) {
                if (n_args != 1) {
                        log_error("'%s' takes exactly one IMAGE. See --help.", cmd);
                        return 2;
                }
                r = streq(cmd, "dump") ? cmd_dump(args[0]) : cmd_objects(args[0]);
        } else if (streq(cmd, "check")) {
                if (n_args < 2) {
                        log_error("'check' takes an IMAGE and at least one BASEDIR. See --help.");
                        return 2;
                }
                r = cmd_check(args[0], args + 1, n_args - 1);
        } else if (streq(cmd, "digest")) {
                if (n_args < 1) {
                        log_error("'digest' takes at least one FILE. See --help.");
                        return 2;
                }
                r = cmd_digest(args, n_args);
        } else {
                log_error("Unknown command '%s'. See --help.", cmd);
                return 2;
        }
        return r < 0 ? 1 : 0;
}
