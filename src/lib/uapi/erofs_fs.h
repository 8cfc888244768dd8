/* SPDX-License-Identifier: MIT */
/* The EROFS on-disk structures we read and write, written from the kernel's
 * Documentation/filesystems/erofs.rst and fs/erofs/erofs_fs.h (the authoritative layout).
 * Only the uncompressed subset composefs uses: superblock, compact/extended inodes, flat and
 * chunk-based data, inline xattrs and the shared xattr area, directory entries.
 *
 * Every multi-byte field is little-endian on disk. The field types (erofs_le16/32/64) are
 * plain integers named for their byte order: convert with htole*()/le*toh() on every access,
 * so the code stays correct on a big-endian host. */
#pragma once

#include <endian.h>
#include <stdint.h>

typedef uint16_t erofs_le16;
typedef uint32_t erofs_le32;
typedef uint64_t erofs_le64;

#define EROFS_SUPER_MAGIC_V1 0xE0F5E1E2U
#define EROFS_SUPER_OFFSET 1024 /* the superblock sits 1 KiB into block 0 */

#define EROFS_BLKSIZ_BITS 12 /* composefs always uses 4096-byte blocks */
#define EROFS_BLKSIZ (1U << EROFS_BLKSIZ_BITS)

/* A nid addresses metadata in 32-byte slots from meta_blkaddr. */
#define EROFS_ISLOTBITS 5
#define EROFS_SLOTSIZE (1U << EROFS_ISLOTBITS)

#define EROFS_FEATURE_COMPAT_SB_CHKSUM 0x00000001
#define EROFS_FEATURE_COMPAT_MTIME 0x00000002
#define EROFS_FEATURE_COMPAT_XATTR_FILTER 0x00000004

#define EROFS_FEATURE_INCOMPAT_ZERO_PADDING 0x00000001
#define EROFS_FEATURE_INCOMPAT_BIG_PCLUSTER 0x00000002
#define EROFS_FEATURE_INCOMPAT_CHUNKED_FILE 0x00000004
#define EROFS_FEATURE_INCOMPAT_DEVICE_TABLE 0x00000008
#define EROFS_FEATURE_INCOMPAT_ZTAILPACKING 0x00000010
#define EROFS_FEATURE_INCOMPAT_FRAGMENTS 0x00000020
#define EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES 0x00000040

struct erofs_super_block {
        erofs_le32 magic;
        erofs_le32 checksum; /* crc32c of the block from offset 1024, when COMPAT_SB_CHKSUM */
        erofs_le32 feature_compat;
        uint8_t blkszbits;
        uint8_t sb_extslots;
        erofs_le16 root_nid;
        erofs_le64 inos; /* number of inodes */
        erofs_le64 build_time; /* compact inodes take their mtime from here */
        erofs_le32 build_time_nsec;
        erofs_le32 blocks; /* image size in blocks */
        erofs_le32 meta_blkaddr;
        erofs_le32 xattr_blkaddr; /* shared xattr id = (offset from here) / 4 */
        uint8_t uuid[16];
        uint8_t volume_name[16];
        erofs_le32 feature_incompat;
        erofs_le16 available_compr_algs;
        erofs_le16 extra_devices;
        erofs_le16 devt_slotoff;
        uint8_t dirblkbits;
        uint8_t xattr_prefix_count;
        erofs_le32 xattr_prefix_start;
        erofs_le64 packed_nid;
        uint8_t xattr_filter_reserved;
        uint8_t reserved2[23];
} __attribute__((packed));

/* i_format: bit 0 = layout (compact/extended), bits 1-3 = data layout. */
#define EROFS_I_VERSION_BIT 0
#define EROFS_I_VERSION_MASK 0x01
#define EROFS_I_DATALAYOUT_BIT 1
#define EROFS_I_DATALAYOUT_MASK 0x07
#define EROFS_I_ALL 0x0f /* any other bit set is unknown to the kernel */

#define EROFS_INODE_LAYOUT_COMPACT 0
#define EROFS_INODE_LAYOUT_EXTENDED 1

enum {
        EROFS_INODE_FLAT_PLAIN = 0,
        EROFS_INODE_COMPRESSED_FULL = 1,
        EROFS_INODE_FLAT_INLINE = 2, /* whole blocks, then the tail right after the inode */
        EROFS_INODE_COMPRESSED_COMPACT = 3,
        EROFS_INODE_CHUNK_BASED = 4,
};

/* Chunk-based inodes: i_u holds {format, reserved}; format's low 5 bits are
 * log2(chunk size) - blkszbits; INDEXES means 8-byte chunk indexes instead of 4-byte block
 * addresses. composefs uses 4-byte entries, all EROFS_NULL_ADDR (holes). */
#define EROFS_CHUNK_FORMAT_BLKBITS_MASK 0x001f
#define EROFS_CHUNK_FORMAT_INDEXES 0x0020
#define EROFS_NULL_ADDR 0xffffffffU
#define EROFS_BLOCK_MAP_ENTRY_SIZE 4

union erofs_inode_i_u {
        erofs_le32 raw_blkaddr; /* flat inodes: first data block */
        erofs_le32 rdev;        /* character and block devices */
        erofs_le32 compressed_blocks;
        struct {
                erofs_le16 format;
                erofs_le16 reserved;
        } __attribute__((packed)) c; /* chunk-based inodes */
} __attribute__((packed));

/* 32 bytes. mtime is the superblock's build_time. */
struct erofs_inode_compact {
        erofs_le16 i_format;
        erofs_le16 i_xattr_icount;
        erofs_le16 i_mode;
        erofs_le16 i_nlink;
        erofs_le32 i_size;
        erofs_le32 i_reserved;
        union erofs_inode_i_u i_u;
        erofs_le32 i_ino;
        erofs_le16 i_uid;
        erofs_le16 i_gid;
        erofs_le32 i_reserved2;
} __attribute__((packed));

/* 64 bytes. */
struct erofs_inode_extended {
        erofs_le16 i_format;
        erofs_le16 i_xattr_icount;
        erofs_le16 i_mode;
        erofs_le16 i_reserved;
        erofs_le64 i_size;
        union erofs_inode_i_u i_u;
        erofs_le32 i_ino;
        erofs_le32 i_uid;
        erofs_le32 i_gid;
        erofs_le64 i_mtime;
        erofs_le32 i_mtime_nsec;
        erofs_le32 i_nlink;
        uint8_t i_reserved2[16];
} __attribute__((packed));

/* Inline xattrs follow the inode: this header, h_shared_count 4-byte shared xattr ids, then
 * entries each padded to 4 bytes. i_xattr_icount = 1 + (xattr area size - 12) / 4; 0 means
 * no xattr area at all. */
struct erofs_xattr_ibody_header {
        erofs_le32 h_name_filter; /* bloom filter, bit set = name absent (COMPAT_XATTR_FILTER) */
        uint8_t h_shared_count;
        uint8_t h_reserved2[7];
} __attribute__((packed));

#define EROFS_XATTR_INDEX_USER 1
#define EROFS_XATTR_INDEX_POSIX_ACL_ACCESS 2
#define EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT 3
#define EROFS_XATTR_INDEX_TRUSTED 4
#define EROFS_XATTR_INDEX_LUSTRE 5
#define EROFS_XATTR_INDEX_SECURITY 6
#define EROFS_XATTR_LONG_PREFIX 0x80 /* index refers to the long prefix table */

/* 4 bytes, followed by the name (without the prefix named by e_name_index) and the value. */
struct erofs_xattr_entry {
        uint8_t e_name_len;
        uint8_t e_name_index;
        erofs_le16 e_value_size;
} __attribute__((packed));

static inline unsigned erofs_xattr_ibody_size(unsigned icount) {
        return icount ? sizeof(struct erofs_xattr_ibody_header) + 4 * (icount - 1) : 0;
}

/* Directory blocks: an array of dirents, then the names (not NUL-terminated; a name ends at
 * the next entry's nameoff, the last one at the block end or at a NUL). The first nameoff
 * gives the number of entries (nameoff / 12). Entries in each block and across blocks are
 * sorted by name (bytewise). */
struct erofs_dirent {
        erofs_le64 nid;
        erofs_le16 nameoff;
        uint8_t file_type;
        uint8_t reserved;
} __attribute__((packed));

enum {
        EROFS_FT_UNKNOWN = 0,
        EROFS_FT_REG_FILE = 1,
        EROFS_FT_DIR = 2,
        EROFS_FT_CHRDEV = 3,
        EROFS_FT_BLKDEV = 4,
        EROFS_FT_FIFO = 5,
        EROFS_FT_SOCK = 6,
        EROFS_FT_SYMLINK = 7,
};

#define EROFS_NAME_LEN 255

_Static_assert(sizeof(struct erofs_super_block) == 128, "erofs superblock");
_Static_assert(sizeof(struct erofs_inode_compact) == 32, "erofs compact inode");
_Static_assert(sizeof(struct erofs_inode_extended) == 64, "erofs extended inode");
_Static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "erofs xattr header");
_Static_assert(sizeof(struct erofs_xattr_entry) == 4, "erofs xattr entry");
_Static_assert(sizeof(struct erofs_dirent) == 12, "erofs dirent");
