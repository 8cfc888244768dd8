/* SPDX-License-Identifier: MIT */
/* mkcfs: build a composefs image from a directory tree (optionally filling an object store),
 * from a composefs dump file, or from an ostree commit (its objects are the store), also
 * straight into an ostree deployment. The image appears under its final name only when
 * complete and on disk; on failure nothing is left behind and an existing image is untouched. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#ifdef CFS_HAVE_OSTREE
#include "ostree-commit.h"
#include "ostree-deploy.h"
#endif
#include "scan.h"
#include "store.h"
#include "tree.h"
#include "util.h"
#include "verity.h"

struct args {
        const char *source, *image;
        const char *rev; /* --ostree: source is the repository */
        const char *sysroot; /* --ostree-deployment --sysroot: source is the index */
        const char *store;
        const char *cmdline_path;
        bool from_dump, ostree, deployment, enable_verity, verify_store, print_digest, one_file_system, verbose;
        unsigned threads;
        unsigned index; /* --ostree-deployment --sysroot */
        struct cfs_write_options wopts;
};

static void help(void) {
        printf("Usage: mkcfs [OPTIONS] DIR IMAGE\n"
               "       mkcfs [OPTIONS] --from-dump FILE IMAGE\n"
               "       mkcfs [OPTIONS] --ostree REPO REV IMAGE\n"
               "       mkcfs [OPTIONS] --ostree-deployment DEPLOYDIR\n"
               "       mkcfs [OPTIONS] --ostree-deployment --sysroot SYSROOT INDEX\n"
               "Build a composefs image (EROFS metadata + overlayfs xattrs) from a directory\n"
               "tree, from a composefs dump file ('-' reads stdin), or from an ostree commit\n"
               "(REV a ref or commit checksum: the image is ostree's own, backed by REPO/objects).\n\n"
               "  --store DIR           copy file contents into the object store DIR/xx/yyyy...\n"
               "  --enable-verity       enable fs-verity on the store objects and the image\n"
               "  --verify-store        re-hash every object already in the store before reusing it\n"
               "  --print-digest        print the image's fs-verity digest (hex)\n"
               "  --print-cmdline=PATH  print the kernel command line for the image at PATH\n"
               "  --from-dump           the source is a dump file, not a directory\n"
               "  --ostree              the source is commit REV of the ostree repository REPO;\n"
               "                        with --enable-verity, fs-verity goes on its objects too\n"
               "  --ostree-deployment   write the image of an ostree deployment's commit to\n"
               "                        <deployment>/.ostree.cfs and print the kernel arguments\n"
               "                        that pin it; --enable-verity: on it and its objects\n"
               "  --sysroot SYSROOT     the deployment is number INDEX of SYSROOT (as listed by\n"
               "                        ostree admin status), not a directory\n"
               "  --min-version N       lowest composefs format version to use (default 0)\n"
               "  --max-version N       highest composefs format version to use (default 1)\n"
               "  --one-file-system     do not descend into directories on other filesystems\n"
               "  --threads N           worker threads (default: one per CPU; output is the same)\n"
               "  -v, --verbose         report what was done\n"
               "  -h, --help            show this help\n"
               "      --version         show the version\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || *s == '-' || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* 0 to go on, 1 for a clean exit (--help), -EINVAL for a usage error (already reported). */
static int parse_args(int argc, char **argv, struct args *a) {
        enum {
                ARG_STORE = 0x100,
                ARG_ENABLE_VERITY,
                ARG_PRINT_DIGEST,
                ARG_PRINT_CMDLINE,
                ARG_FROM_DUMP,
                ARG_OSTREE,
                ARG_OSTREE_DEPLOYMENT,
                ARG_SYSROOT,
                ARG_MIN_VERSION,
                ARG_MAX_VERSION,
                ARG_ONE_FS,
                ARG_THREADS,
                ARG_VERSION,
                ARG_VERIFY_STORE,
        };
        static const struct option options[] = {
                { "store", required_argument, NULL, ARG_STORE },
                { "enable-verity", no_argument, NULL, ARG_ENABLE_VERITY },
                { "print-digest", no_argument, NULL, ARG_PRINT_DIGEST },
                { "print-cmdline", required_argument, NULL, ARG_PRINT_CMDLINE },
                { "from-dump", no_argument, NULL, ARG_FROM_DUMP },
                { "ostree", no_argument, NULL, ARG_OSTREE },
                { "ostree-deployment", no_argument, NULL, ARG_OSTREE_DEPLOYMENT },
                { "sysroot", required_argument, NULL, ARG_SYSROOT },
                { "min-version", required_argument, NULL, ARG_MIN_VERSION },
                { "max-version", required_argument, NULL, ARG_MAX_VERSION },
                { "one-file-system", no_argument, NULL, ARG_ONE_FS },
                { "threads", required_argument, NULL, ARG_THREADS },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "verify-store", no_argument, NULL, ARG_VERIFY_STORE },
                {},
        };
        bool min_set = false, max_set = false;
        int c;

        a->wopts = (struct cfs_write_options) { .min_version = 0, .max_version = 1 };
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case ARG_STORE:
                        a->store = optarg;
                        break;
                case ARG_ENABLE_VERITY:
                        a->enable_verity = true;
                        break;
                case ARG_VERIFY_STORE:
                        a->verify_store = true;
                        break;
                case ARG_PRINT_DIGEST:
                        a->print_digest = true;
                        break;
                case ARG_PRINT_CMDLINE:
                        if (optarg[0] != '/' || strpbrk(optarg, " \t\n\"")) {
                                log_error("--print-cmdline needs an absolute path without spaces or quotes: '%s'", optarg);
                                return -EINVAL;
                        }
                        a->cmdline_path = optarg;
                        break;
                case ARG_FROM_DUMP:
                        a->from_dump = true;
                        break;
                case ARG_OSTREE:
                        a->ostree = true;
                        break;
                case ARG_OSTREE_DEPLOYMENT:
                        a->deployment = true;
                        break;
                case ARG_SYSROOT:
                        a->sysroot = optarg;
                        break;
                case ARG_MIN_VERSION:
                case ARG_MAX_VERSION: {
                        unsigned v;
                        if (parse_uint(optarg, 1, &v) < 0) {
                                log_error("Invalid format version '%s' (0 or 1)", optarg);
                                return -EINVAL;
                        }
                        if (c == ARG_MIN_VERSION) {
                                a->wopts.min_version = v;
                                min_set = true;
                        } else {
                                a->wopts.max_version = v;
                                max_set = true;
                        }
                        break;
                }
                case ARG_ONE_FS:
                        a->one_file_system = true;
                        break;
                case ARG_THREADS:
                        if (parse_uint(optarg, 64, &a->threads) < 0 || a->threads == 0) {
                                log_error("Invalid thread count '%s' (1..64)", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'v':
                        a->verbose = true;
                        break;
                case 'h':
                        help();
                        return 1;
                case ARG_VERSION:
                        printf("mkcfs " CFS_VERSION "\n");
                        return 1;
                default:
                        log_error("Try 'mkcfs --help'.");
                        return -EINVAL;
                }

        /* One bound given: the other follows it rather than contradicting it. */
        if (min_set && !max_set && a->wopts.max_version < a->wopts.min_version)
                a->wopts.max_version = a->wopts.min_version;
        if (max_set && !min_set && a->wopts.min_version > a->wopts.max_version)
                a->wopts.min_version = a->wopts.max_version;
        if (a->wopts.min_version > a->wopts.max_version) {
                log_error("--min-version %u is above --max-version %u", a->wopts.min_version, a->wopts.max_version);
                return -EINVAL;
        }
        if (a->sysroot && !a->deployment) {
                log_error("--sysroot goes with --ostree-deployment");
                return -EINVAL;
        }
        if (a->deployment) {
                if (a->ostree || a->from_dump || a->store || a->one_file_system || a->cmdline_path) {
                        log_error("--ostree-deployment takes no --ostree, --from-dump, --store, --one-file-system or --print-cmdline");
                        return -EINVAL;
                }
                if (argc - optind != 1) {
                        log_error("Expected %s, got %d argument(s). Try 'mkcfs --help'.", a->sysroot ? "INDEX" : "DEPLOYDIR", argc - optind);
                        return -EINVAL;
                }
                a->source = argv[optind];
                if (!*a->source || (a->sysroot && !*a->sysroot)) {
                        log_error("Empty argument given");
                        return -EINVAL;
                }
                if (a->sysroot && parse_uint(a->source, 4096, &a->index) < 0) {
                        log_error("Invalid deployment index '%s' (0 is the first deployment)", a->source);
                        return -EINVAL;
                }
                return 0;
        }
        if (a->ostree) {
                if (a->from_dump || a->store || a->one_file_system) {
                        log_error("--ostree takes no --from-dump, --store or --one-file-system: the repository's objects are the store");
                        return -EINVAL;
                }
                if (argc - optind != 3) {
                        log_error("Expected REPO, REV and IMAGE, got %d argument(s). Try 'mkcfs --help'.", argc - optind);
                        return -EINVAL;
                }
                a->source = argv[optind];
                a->rev = argv[optind + 1];
                a->image = argv[optind + 2];
                if (!*a->source || !*a->rev || !*a->image) {
                        log_error("Empty argument given");
                        return -EINVAL;
                }
                return 0;
        }
        if (argc - optind != 2) {
                log_error("Expected %s and IMAGE, got %d argument(s). Try 'mkcfs --help'.",
                          a->from_dump ? "FILE" : "DIR", argc - optind);
                return -EINVAL;
        }
        a->source = argv[optind];
        a->image = argv[optind + 1];
        if (!*a->source || !*a->image) {
                log_error("Empty path given");
                return -EINVAL;
        }
        if (a->from_dump && a->store) {
                log_error("--store needs a source directory: a dump file carries no file contents");
                return -EINVAL;
        }
        return 0;
}

static int load_dump(const char *path, cfs_node **ret_root) {
        _cleanup_fclose_ FILE *f = NULL;
        struct cfs_parse_error err = {};
        FILE *in = stdin;
        int r;

        if (!streq(path, "-")) {
                f = fopen(path, "re");
                if (!f)
                        return log_error_errno(-errno, "Failed to open dump file '%s': %m", path);
                in = f;
        }
        r = cfs_dump_parse(in, ret_root, &err);
        if (r < 0) {
                if (err.msg[0] == '\0')
                        snprintf(err.msg, sizeof err.msg, "%s", strerror(-r));
                if (err.line > 0)
                        return log_error_errno(r, "%s:%u: %s", path, err.line, err.msg);
                return log_error_errno(r, "%s: %s", path, err.msg);
        }
        return 0;
}

#ifdef CFS_HAVE_OSTREE
/* A commit made by ostree with composefs records the digest of ostree's image of it, which
 * ours is meant to equal byte for byte: say so when it does not. */
static void compare_recorded(const struct cfs_ostree_commit_info *info, const uint8_t digest[CFS_DIGEST_SIZE], bool verbose) {
        char ours[CFS_DIGEST_SIZE * 2 + 1], theirs[CFS_DIGEST_SIZE * 2 + 1];
        if (!info->has_recorded_digest)
                return;
        hex_encode(digest, CFS_DIGEST_SIZE, ours);
        hex_encode(info->recorded_digest, CFS_DIGEST_SIZE, theirs);
        if (!streq(ours, theirs))
                log_warning("The image's digest %s differs from the one commit %s records (ostree.composefs.digest.v0 %s): "
                            "ostree's own image of it is not this one", ours, info->commit, theirs);
        else if (verbose)
                log_info("the image's digest matches the commit's ostree.composefs.digest.v0");
}
#endif

static int load_ostree(const struct args *a, cfs_node **ret_root, void *ret_info) {
#ifdef CFS_HAVE_OSTREE
        struct cfs_ostree_options oo = { .n_threads = a->threads };
        struct cfs_ostree_commit_info *info = ret_info;
        int r = cfs_ostree_read_commit(a->source, a->rev, &oo, ret_root, info);
        if (r >= 0 && a->verbose)
                log_info("'%s' in '%s' is commit %s", a->rev, a->source, info->commit);
        return r;
#else
        return log_error_errno(-EOPNOTSUPP, "--ostree: this mkcfs was built without ostree support");
#endif
}

/* A temporary file next to the image (same filesystem, so rename() is atomic). */
struct tmpfile {
        char *path;
        int fd;
};

static void tmpfile_done(struct tmpfile *t) {
        safe_close(t->fd);
        if (t->path) {
                (void) unlink(t->path);
                free(t->path);
        }
}

static int tmpfile_create(const char *image, struct tmpfile *ret) {
        _cleanup_free_ char *a = strdup(image), *b = strdup(image);
        if (!a || !b)
                return -ENOMEM;
        char *path;
        if (asprintf(&path, "%s/.%s.tmp-XXXXXX", dirname(a), basename(b)) < 0)
                return -ENOMEM;
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                free(path);
                return r;
        }
        *ret = (struct tmpfile) { .path = path, .fd = fd };
        return 0;
}

static int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *a = strdup(path);
        if (!a)
                return -ENOMEM;
        _cleanup_close_ int fd = open(dirname(a), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

static int write_image(const struct args *a, cfs_node *root, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        _cleanup_(tmpfile_done) struct tmpfile t = { .fd = -EBADF };
        struct stat st;
        int r;

        if (stat(a->image, &st) == 0 && S_ISDIR(st.st_mode))
                return log_error_errno(-EISDIR, "'%s' is a directory, expected an image file name", a->image);

        r = tmpfile_create(a->image, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to create a temporary file next to '%s': %m", a->image);
        CHECK(t.path); /* success sets it (clang's analyzer thinks -errno may be 0) */

        r = cfs_image_write(root, t.fd, &a->wopts);
        if (r < 0)
                return log_error_errno(r, "Failed to write the image '%s': %m", a->image);

        /* mkostemp() makes 0600; an image is not secret. */
        mode_t um = umask(0);
        umask(um);
        if (fchmod(t.fd, 0644 & ~um) < 0)
                return log_error_errno(-errno, "Failed to set the mode of '%s': %m", t.path);
        if (fsync(t.fd) < 0)
                return log_error_errno(-errno, "Failed to write '%s': %m", t.path);
        r = cfs_verity_digest_fd(t.fd, ret_digest);
        if (r < 0)
                return log_error_errno(r, "Failed to read back '%s': %m", t.path);
        if (close(TAKE_FD(t.fd)) < 0)
                return log_error_errno(-errno, "Failed to write '%s': %m", t.path);

        if (a->enable_verity) {
                /* fs-verity wants a read-only fd and no writers left. */
                _cleanup_close_ int fd = open(t.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return log_error_errno(-errno, "Failed to open '%s': %m", t.path);
                r = cfs_verity_enable_fd(fd);
                if (r == -EOPNOTSUPP) {
                        char buf[16];
                        return log_error_errno(r, "Cannot enable fs-verity on the image '%s': the filesystem (%s) or the kernel does not support it "
                                               "(for ext4: mkfs/tune2fs -O verity, 4096-byte blocks)",
                                               a->image, cfs_fs_name(fd, buf));
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to enable fs-verity on the image '%s': %m", a->image);
                /* The kernel's digest must be the one we will print and put on a command line. */
                uint8_t measured[CFS_DIGEST_SIZE];
                r = cfs_verity_measure_fd(fd, measured);
                if (r < 0)
                        return log_error_errno(r, "Failed to measure the image '%s': %m", a->image);
                if (memcmp(measured, ret_digest, CFS_DIGEST_SIZE) != 0)
                        return log_error_errno(-EBADMSG, "The kernel's fs-verity digest of '%s' differs from ours", a->image);
        }

        if (rename(t.path, a->image) < 0)
                return log_error_errno(-errno, "Failed to move the image into place as '%s': %m", a->image);
        free(t.path);
        t.path = NULL; /* renamed: nothing to remove any more */
        r = fsync_parent_dir(a->image);
        if (r < 0)
                return log_error_errno(r, "Failed to flush the directory of '%s': %m", a->image);
        return 0;
}

#ifdef CFS_HAVE_OSTREE
/* Installs the image into an ostree deployment. ostree seals deployment directories with
 * the immutable attribute: it is lifted only around the write and always put back. */
static int run_deployment(const struct args *a) {
        _cleanup_(cfs_ostree_deployment_done) struct cfs_ostree_deployment d = {};
        _cleanup_node_ cfs_node *root = NULL;
        _cleanup_free_ char *image = NULL;
        _cleanup_close_ int dfd = -EBADF;
        uint8_t digest[CFS_DIGEST_SIZE];
        bool was_immutable = false;
        int r, q;

        r = a->sysroot ? cfs_ostree_deployment_by_index(a->sysroot, a->index, &d) : cfs_ostree_deployment_by_dir(a->source, &d);
        if (r < 0)
                return r;
        if (a->verbose)
                log_info("deployment %d of '%s': '%s', commit %s of '%s'", d.index, d.sysroot, d.dir, d.commit, d.repo);

        struct cfs_ostree_options oo = { .n_threads = a->threads };
        struct cfs_ostree_commit_info info;
        r = cfs_ostree_read_commit(d.repo, d.commit, &oo, &root, &info);
        if (r < 0)
                return r;
        if (a->enable_verity) {
                r = cfs_ostree_enable_verity(d.repo, root);
                if (r < 0)
                        return r;
        }

        if (asprintf(&image, "%s/.ostree.cfs", d.dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        dfd = open(d.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(-errno, "Failed to open the deployment '%s': %m", d.dir);
        r = cfs_immutable_lift(dfd, &was_immutable);
        if (r < 0)
                return log_error_errno(r, "Failed to lift the immutable attribute of the deployment '%s': %m", d.dir);

        struct args wa = *a;
        wa.image = image;
        r = write_image(&wa, root, digest); /* its temporary file is gone when it returns */

        if (was_immutable) {
                q = cfs_immutable_set(dfd);
                if (q < 0) {
                        log_error_errno(q, "Failed to restore the immutable attribute of the deployment '%s': %m (chattr +i restores it)", d.dir);
                        if (r >= 0)
                                r = q;
                }
        }
        if (r < 0)
                return r;

        compare_recorded(&info, digest, a->verbose);
        char hex[CFS_DIGEST_SIZE * 2 + 1];
        hex_encode(digest, CFS_DIGEST_SIZE, hex);
        if (a->verbose)
                log_info("wrote '%s'%s", image, was_immutable ? " (immutable attribute lifted and restored)" : "");
        /* With ostree's own boot entry (ostree=...), then for a UKI (the digest alone). */
        printf("cfsroot.digest=sha256:%s\n", hex);
        printf("cfsroot.ostree cfsroot.digest=sha256:%s\n", hex);
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(-EIO, "Failed to write to standard output");
        return 0;
}
#else
static int run_deployment(const struct args *a) {
        return log_error_errno(-EOPNOTSUPP, "--ostree-deployment: this mkcfs was built without ostree support");
}
#endif

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int run(const struct args *a) {
        _cleanup_node_ cfs_node *root = NULL;
        uint8_t digest[CFS_DIGEST_SIZE];
        double t0 = now(), t1, t2;
        int r;
#ifdef CFS_HAVE_OSTREE
        struct cfs_ostree_commit_info info = {};
#else
        char info; /* unused */
#endif

        if (a->deployment)
                return run_deployment(a);

        if (a->from_dump)
                r = load_dump(a->source, &root);
        else if (a->ostree)
                r = load_ostree(a, &root, &info);
        else {
                struct cfs_scan_options so = { .n_threads = a->threads, .one_file_system = a->one_file_system };
                r = cfs_scan(a->source, &so, &root);
        }
        if (r < 0)
                return r;
        t1 = now();
        if (a->verbose)
                log_info("read '%s' in %.3f s", a->source, t1 - t0);

        /* Objects first: once the image is in place, everything it refers to is on disk. */
#ifdef CFS_HAVE_OSTREE
        if (a->ostree && a->enable_verity) {
                r = cfs_ostree_enable_verity(a->source, root);
                if (r < 0)
                        return r;
        }
#endif
        if (a->store) {
                struct cfs_store_options so = { .n_threads = a->threads, .enable_verity = a->enable_verity,
                                                 .verify_store = a->verify_store };
                struct cfs_store_stats stats;
                r = cfs_store_fill(a->store, a->source, root, &so, &stats);
                if (r < 0)
                        return r;
                if (a->verbose)
                        log_info("store '%s': %zu objects, %zu new (%" PRIu64 " bytes), %zu replaced in %.3f s", a->store,
                                 stats.n_objects, stats.n_new, stats.new_bytes, stats.n_replaced, now() - t1);
        }

        t2 = now();
        r = write_image(a, root, digest);
        if (r < 0)
                return r;
        if (a->verbose)
                log_info("wrote '%s' in %.3f s", a->image, now() - t2);
#ifdef CFS_HAVE_OSTREE
        if (a->ostree)
                compare_recorded(&info, digest, a->verbose);
#endif

        char hex[CFS_DIGEST_SIZE * 2 + 1];
        hex_encode(digest, CFS_DIGEST_SIZE, hex);
        if (a->print_digest)
                printf("%s\n", hex);
        if (a->cmdline_path)
                printf("cfsroot=%s cfsroot.digest=sha256:%s\n", a->cmdline_path, hex);
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(-EIO, "Failed to write to standard output");
        return 0;
}

int main(int argc, char **argv) {
        struct args a = {};
        int r;

        log_set_prefix("mkcfs");
        r = parse_args(argc, argv, &a);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        return run(&a) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
