/* SPDX-License-Identifier: MIT */
/* The /run/ostree-booted writer (src/lib/booted-record.c) against GLib itself: for many
 * records (device and inode numbers of every width, with and without transient-etc, paths
 * long enough to need 2-byte framing offsets), our bytes must equal those of GLib's own
 * GVariantBuilder for the same a{sv}, be in normal form, and read back through
 * g_variant_lookup with the types ostree uses. Links GLib; the product never does. */
#include <stdio.h>
#include <sys/stat.h>

#include "booted-record.h"
#include "util.h"
/* After util.h: GLib replaces MIN/MAX with its own equal definitions. */
#include <glib.h>

static GVariant *glib_record(const struct cfs_ostree_booted *b) {
        GVariantBuilder builder;
        g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&builder, "{sv}", "backing-root-device-inode",
                              g_variant_new("(tt)", (guint64) b->backing_dev, (guint64) b->backing_ino));
        g_variant_builder_add(&builder, "{sv}", "composefs", g_variant_new_boolean(b->composefs));
        g_variant_builder_add(&builder, "{sv}", "root.transient", g_variant_new_boolean(FALSE));
        g_variant_builder_add(&builder, "{sv}", "root.transient-ro", g_variant_new_boolean(FALSE));
        g_variant_builder_add(&builder, "{sv}", "sysroot-ro", g_variant_new_boolean(b->sysroot_ro));
        if (b->transient_etc)
                g_variant_builder_add(&builder, "{sv}", "transient-etc", g_variant_new_string(b->transient_etc));
        return g_variant_ref_sink(g_variant_builder_end(&builder));
}

static void check_record(const struct cfs_ostree_booted *b) {
        uint8_t *ours = NULL;
        size_t size = 0;

        CHECK(cfs_ostree_booted_serialize(b, &ours, &size) == 0);
        GVariant *want = glib_record(b);
        if (size != g_variant_get_size(want) || memcmp(ours, g_variant_get_data(want), size) != 0) {
                fprintf(stderr, "mismatch: ours %zu bytes, GLib %zu bytes\n", size, g_variant_get_size(want));
                CHECK(false);
        }

        /* Parsed by GLib as ostree does: trusted=FALSE makes GLib validate everything. */
        GBytes *bytes = g_bytes_new(ours, size);
        GVariant *got = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE("a{sv}"), bytes, FALSE));
        CHECK(g_variant_is_normal_form(got));
        guint64 dev = 0, ino = 0;
        gboolean cfs = !b->composefs, ro = !b->sysroot_ro, transient = TRUE;
        const char *etc = NULL;
        CHECK(g_variant_lookup(got, "backing-root-device-inode", "(tt)", &dev, &ino));
        CHECK(dev == b->backing_dev && ino == b->backing_ino);
        CHECK(g_variant_lookup(got, "composefs", "b", &cfs) && cfs == b->composefs);
        CHECK(g_variant_lookup(got, "sysroot-ro", "b", &ro) && ro == b->sysroot_ro);
        CHECK(g_variant_lookup(got, "root.transient", "b", &transient) && !transient);
        if (b->transient_etc) {
                CHECK(g_variant_lookup(got, "transient-etc", "&s", &etc));
                CHECK(streq(etc, b->transient_etc));
        } else
                CHECK(!g_variant_lookup(got, "transient-etc", "&s", &etc));
        g_variant_unref(got);
        g_bytes_unref(bytes);
        g_variant_unref(want);
        free(ours);
}

int main(void) {
        static const uint64_t numbers[] = {
                0, 1, 0x800001, 259, 0xffffffffull, 0x100000000ull, 0x0123456789abcdefull, UINT64_MAX,
        };
        char path[5000];
        unsigned n = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
                for (size_t j = 0; j < ELEMENTSOF(numbers); j++)
                        for (int flags = 0; flags < 4; flags++) {
                                struct cfs_ostree_booted b = {
                                        .backing_dev = numbers[i],
                                        .backing_ino = numbers[j],
                                        .composefs = flags & 1,
                                        .sysroot_ro = flags & 2,
                                };
                                check_record(&b);
                                b.transient_etc = "/run/ostree/transient-etc";
                                check_record(&b);
                                n += 2;
                        }
        /* Every path length around the 1- and 2-byte framing offset limits, and beyond. */
        for (size_t len = 1; len < 4096; len += (len > 300 && len < 3900 ? 97 : 1)) {
                memset(path, 'x', len);
                path[0] = '/';
                path[len] = '\0';
                struct cfs_ostree_booted b = { .backing_dev = 0x803, .backing_ino = 12345, .composefs = true,
                                               .sysroot_ro = true, .transient_etc = path };
                check_record(&b);
                n++;
        }
        printf("PASS: /run/ostree-booted: %u records byte-identical to GLib's a{sv}, normal form, read back with ostree's types\n", n);

        /* Too long a path is refused, not truncated. */
        memset(path, 'y', 4097);
        path[4097] = '\0';
        struct cfs_ostree_booted big = { .transient_etc = path };
        uint8_t *buf = NULL;
        size_t size;
        CHECK(cfs_ostree_booted_serialize(&big, &buf, &size) == -EINVAL);

        /* The file writer: written whole, and a second write (a retried step) replaces it. */
        char tmp[] = "/tmp/test-ostree-booted.XXXXXX", file[64];
        CHECK(mkdtemp(tmp));
        snprintf(file, sizeof file, "%s/ostree-booted", tmp);
        struct cfs_ostree_booted b = { .backing_dev = 1, .backing_ino = 2, .composefs = true, .sysroot_ro = true };
        CHECK(cfs_ostree_booted_write(&b, file) == 0);
        b.backing_ino = 3;
        CHECK(cfs_ostree_booted_write(&b, file) == 0);
        gchar *contents = NULL;
        gsize len = 0;
        CHECK(g_file_get_contents(file, &contents, &len, NULL));
        GVariant *v = g_variant_ref_sink(g_variant_new_from_data(G_VARIANT_TYPE("a{sv}"), contents, len, FALSE, NULL, NULL));
        guint64 dev = 0, ino = 0;
        CHECK(g_variant_lookup(v, "backing-root-device-inode", "(tt)", &dev, &ino) && dev == 1 && ino == 3);
        g_variant_unref(v);
        g_free(contents);
        CHECK(unlink(file) == 0);
        CHECK(rmdir(tmp) == 0);
        printf("PASS: /run/ostree-booted written atomically; a retried write replaces it\n");
        return 0;
}
