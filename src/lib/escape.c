/* SPDX-License-Identifier: MIT */
/* Escaping of untrusted names for console lines (see escape.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

char *cfs_escape_for_log(const char *s, char *buf, size_t n) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        if (!s)
                s = "(null)";
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
                size_t need = plain ? 1 : 4;
                if (o + need + 4 > n) { /* keep room for "..." and the NUL */
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (plain)
                        buf[o++] = (char) *p;
                else {
                        buf[o++] = '\\';
                        buf[o++] = 'x';
                        buf[o++] = hex[*p >> 4];
                        buf[o++] = hex[*p & 15];
                }
        }
        buf[o] = '\0';
        return buf;
}
