/* SPDX-License-Identifier: MIT */
/* What makes an EROFS image a composefs image: the composefs header in the first bytes of
 * block 0 (before the EROFS superblock at 1024), the overlayfs xattr names the writer derives
 * from the tree, the escaping of user-supplied "trusted.overlay.*" xattrs, and the limits
 * upstream composefs (mkcomposefs 1.0.8) applies, which we share so images stay
 * interchangeable. Layout facts only; the writer and the reader hold the logic. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "uapi/erofs_fs.h"

/* ---- The composefs header (32 bytes at offset 0; the rest of the first KiB is zero) ---- */

#define CFS_EROFS_MAGIC 0xd078629aU
#define CFS_EROFS_HEADER_VERSION 1 /* version of this header, not of the format */

/* Header flags. */
#define CFS_EROFS_FLAGS_HAS_ACL (1U << 0) /* some inode has a system.posix_acl_* xattr */

struct cfs_erofs_header {
        erofs_le32 magic;
        erofs_le32 version;           /* CFS_EROFS_HEADER_VERSION */
        erofs_le32 flags;             /* CFS_EROFS_FLAGS_* */
        erofs_le32 composefs_version; /* format version, CFS_FORMAT_VERSION_MIN..MAX */
        erofs_le32 unused[4];
} __attribute__((packed));
_Static_assert(sizeof(struct cfs_erofs_header) == 32, "composefs header");

/* Format versions. 0: whiteouts only marked with trusted/user.overlay.whiteout(s).
 * 1: directories holding whiteouts also get the "opaque" = "x" marker, which overlayfs needs
 * since 6.7 to recognise them. A writer picks 1 only when the tree has whiteouts. */
#define CFS_FORMAT_VERSION_MIN 0
#define CFS_FORMAT_VERSION_MAX 1

/* ---- overlayfs xattrs ---- */

#define CFS_XATTR_OVERLAY_PREFIX "trusted.overlay."
/* A user-supplied "trusted.overlay.X" is stored as "trusted.overlay.overlay.X": overlayfs
 * (when it reads a lower layer through another overlay) presents it back without the extra
 * "overlay.", and does not act on it itself. */
#define CFS_XATTR_OVERLAY_ESCAPE_PREFIX "trusted.overlay.overlay."

/* Regular files whose content lives in the object store: the fs-verity digest of the
 * content (struct below) and the absolute path of the object in the data-only layer. */
#define CFS_XATTR_METACOPY "trusted.overlay.metacopy"
#define CFS_XATTR_REDIRECT "trusted.overlay.redirect"
/* The image's root is opaque: nothing below it shows through from other layers. */
#define CFS_XATTR_OPAQUE "trusted.overlay.opaque"
#define CFS_XATTR_WHITEOUT "trusted.overlay.whiteout"
#define CFS_XATTR_WHITEOUTS "trusted.overlay.whiteouts"

/* A whiteout in the tree (character device 0:0) is stored as an empty regular file marked
 * with the escaped and the user.* form of the markers, so it reaches the overlay that mounts
 * the composefs image as a whiteout instead of hiding the file inside it. */
#define CFS_XATTR_ESCAPED_WHITEOUT "trusted.overlay.overlay.whiteout"
#define CFS_XATTR_ESCAPED_WHITEOUTS "trusted.overlay.overlay.whiteouts"
#define CFS_XATTR_ESCAPED_OPAQUE "trusted.overlay.overlay.opaque"
#define CFS_XATTR_USER_WHITEOUT "user.overlay.whiteout"
#define CFS_XATTR_USER_WHITEOUTS "user.overlay.whiteouts"
#define CFS_XATTR_USER_OPAQUE "user.overlay.opaque"

/* Value of trusted.overlay.metacopy: empty (no digest known), or this 36-byte struct. */
struct cfs_metacopy {
        uint8_t version;  /* 0 */
        uint8_t len;      /* sizeof(struct cfs_metacopy) */
        uint8_t flags;    /* 0 */
        uint8_t digest_algo; /* FS_VERITY_HASH_ALG_SHA256 */
        uint8_t digest[32];
} __attribute__((packed));
_Static_assert(sizeof(struct cfs_metacopy) == 36, "overlay metacopy");
#define CFS_METACOPY_VERSION 0
#define CFS_FSVERITY_HASH_ALG_SHA256 1

#define CFS_XATTR_ACL_ACCESS "system.posix_acl_access"
#define CFS_XATTR_ACL_DEFAULT "system.posix_acl_default"

/* ---- Limits (shared with upstream so the same inputs are accepted) ---- */

/* Inline content of a regular file (content stored in the image itself). */
#define CFS_INLINE_CONTENT_MAX 5000
/* External files are chunk-based with all chunks holes; the chunk table must fit one
 * block, which caps the size at 1024 chunks of 2^43 bytes (2^53 bytes). */
#define CFS_MAX_NONINLINE_CHUNKS 1024
/* Xattr names and values. */
#define CFS_XATTR_NAME_MAX 255
#define CFS_XATTR_VALUE_MAX 65535
/* Per-inode xattr budget for untrusted input (dump files), counted as upstream does:
 * 12 for the header, then (2 * 4 - 1) + name length + value length per xattr. */
#define CFS_XATTR_EXTERNAL_MAX (65535 / 2)
/* Symlink targets and payloads are shorter than PATH_MAX. */
#define CFS_PAYLOAD_MAX 4095

/* The hash of the EROFS xattr name filter (COMPAT_XATTR_FILTER): xxh32 of the name without
 * its prefix, seeded with EROFS_XATTR_FILTER_SEED + prefix index; bit (hash & 31) set in
 * the inode's filter means "present". Implemented in erofs-writer.c. */
#define EROFS_XATTR_FILTER_SEED 0x25BBE08FU
uint32_t cfs_xxh32(const void *data, size_t len, uint32_t seed);
