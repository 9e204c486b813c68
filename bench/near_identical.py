#!/usr/bin/env python3
"""Makes the near-identical pair of issue 13: OLD is 100 MiB of the corpus's
executables concatenated (biome, then esbuild, newest first); NEW is OLD with
a few small edits, seeded so every run makes the same bytes.
  near_identical.py CORPUS OLD NEW a   # 20 runs of 100 bytes overwritten
  near_identical.py CORPUS OLD NEW b   # a 3,000-byte insertion near the start,
                                       # a 2,000-byte removal in the middle and
                                       # 10 runs of 100 bytes overwritten
"""
import glob
import os
import random
import sys

SIZE = 100 << 20


def main():
    corpus, old_path, new_path, kind = sys.argv[1:5]
    files = []
    for family in ("biome", "esbuild"):
        for path in sorted(glob.glob(os.path.join(corpus, family, "*", "*", "package", "**"),
                                     recursive=True), reverse=True):
            if os.path.isfile(path) and os.path.getsize(path) > (1 << 20):
                files.append(path)
    old = bytearray()
    for path in files:
        if len(old) >= SIZE:
            break
        with open(path, "rb") as f:
            old += f.read()
    del old[SIZE:]
    rng = random.Random(13)
    new = bytearray(old)
    if kind == "b":
        new[1 << 20:1 << 20] = rng.randbytes(3000)
        middle = len(new) // 2
        del new[middle:middle + 2000]
    runs = 20 if kind == "a" else 10
    for _ in range(runs):
        at = rng.randrange(len(new) - 100)
        new[at:at + 100] = rng.randbytes(100)
    with open(old_path, "wb") as f:
        f.write(old)
    with open(new_path, "wb") as f:
        f.write(new)


if __name__ == "__main__":
    main()
