/* SPDX-License-Identifier: MIT */
/* Names chosen by the root device (symlink targets, directory names, labels) or by the
 * command line reach console lines. A name with ESC or other control bytes could rewrite
 * what an operator sees on a terminal, so every such name is escaped before it is logged. */
#pragma once

#include <stddef.h>

/* Room for a logged name: longer names are cut (and end in "..."). */
#define CFS_ESCAPE_BUF 512

/* Writes s into buf (n bytes, n >= 4) with every byte below 0x20, 0x7f and above, and '\\'
 * written as \xNN; NULL becomes "(null)". Returns buf. */
char *cfs_escape_for_log(const char *s, char *buf, size_t n);

/* For a log argument: the escaped copy lives until the end of the enclosing block. */
#define CFS_ESC(s) cfs_escape_for_log((s), (char[CFS_ESCAPE_BUF]) { 0 }, CFS_ESCAPE_BUF)
