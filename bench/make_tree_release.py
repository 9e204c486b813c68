#!/usr/bin/env python3
"""Writes a synthetic release tree and its next version, for the tree apply
benchmark: FILES files (default 2000) in nested directories, sizes spread from
empty to a few hundred KiB (text-like and binary), a few symlinks and
executables. The next version edits 5% of the files, renames 1%, adds and
removes a few and changes some modes.
Usage: make_tree_release.py OLD_DIR NEW_DIR [FILES]"""
import os
import random
import shutil
import sys


def content(rng, size):
    if rng.random() < 0.5:
        words = [b"asset ", b"level ", b"texture ", b"0x%04x " % rng.randrange(65536), b"\n"]
        out = bytearray()
        while len(out) < size:
            out += rng.choice(words)
        return bytes(out[:size])
    return rng.randbytes(size)


def write(root, files, links):
    for path, (data, mode) in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, mode)
    for path, target in links.items():
        os.symlink(target, os.path.join(root, path))


def main():
    old_dir, new_dir = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rng = random.Random(2000)
    dirs = [f"pack{i}/sub{j}" for i in range(10) for j in range(5)]
    files = {}
    for i in range(count):
        size = 0 if rng.random() < 0.03 else min(int(rng.lognormvariate(8.5, 1.5)), 400000)
        files[f"{rng.choice(dirs)}/file{i}.dat"] = (content(rng, size), 0o755 if i % 50 == 0 else 0o644)
    links = {f"pack{i}/current": "sub0" for i in range(10)}
    new = dict(files)
    names = sorted(new)
    for path in rng.sample(names, count // 20):  # Edits.
        data, mode = new[path]
        at = rng.randrange(len(data) + 1)
        new[path] = (data[:at] + content(rng, 100) + data[at + 50:], mode)
    for path in rng.sample(names, count // 100):  # Renames.
        if path in new:
            new[path.replace("file", "renamed")] = new.pop(path)
    for path in rng.sample(names, 10):  # Removals and mode changes.
        if path in new:
            if rng.random() < 0.5:
                del new[path]
            else:
                new[path] = (new[path][0], 0o600)
    for i in range(10):  # Additions.
        new[f"pack{i}/new/added{i}.dat"] = (content(rng, 5000), 0o644)
    for d in (old_dir, new_dir):
        shutil.rmtree(d, ignore_errors=True)
    write(old_dir, files, links)
    write(new_dir, new, links)


if __name__ == "__main__":
    main()
