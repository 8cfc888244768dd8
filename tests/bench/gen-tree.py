#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Generates the mkcfs benchmark tree, always the same for the same arguments (fixed seed):
# FILES regular files spread over DIRS directories (two levels: DIRS/10 top directories of
# 10 each), about a tenth of them 0..64 bytes (inlined by mkcfs), the rest log-normally
# distributed up to 48 KiB, about 190 MB in all for the defaults. Contents are pseudo-random
# (no two files alike, so a store keeps every one). Writes into a temporary directory and
# renames it into place, so a half-written tree is never mistaken for a finished one.
#
# Usage: gen-tree.py DEST [FILES [DIRS [SEED]]]
import math
import os
import random
import shutil
import sys


def main():
    dest = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    dirs = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20261125
    rng = random.Random(seed)

    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    top = max(1, dirs // 10)
    dirpaths = []
    for i in range(dirs):
        d = os.path.join(tmp, "d%03d" % (i % top), "s%04d" % i)
        os.makedirs(d, exist_ok=True)
        dirpaths.append(d)

    total = 0
    small = 0
    for i in range(files):
        if rng.random() < 0.10:
            size = rng.randint(0, 64)
            small += 1
        else:
            size = int(math.exp(rng.gauss(6.95, 1.2)))
            size = min(max(size, 65), 48 * 1024)
        total += size
        with open(os.path.join(dirpaths[i % dirs], "f%06d" % i), "wb") as f:
            f.write(rng.randbytes(size))
    os.rename(tmp, dest)
    print("gen-tree: %d files (%d of 0..64 bytes) in %d directories, %.1f MB"
          % (files, small, dirs, total / 1e6))


if __name__ == "__main__":
    main()
