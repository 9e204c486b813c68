#!/usr/bin/env bash
# Renamed and edited files that share most of their content: FILES old files
# (default 30,000), each a 3,000-byte boilerplate common to all and 300 bytes
# of its own, moved to another directory in the new tree with one byte edited.
# Each new file must find its old self among all the others sharing the
# boilerplate (core/tree/similarity.h). Times `patchfarm diff` on the trees
# and checks that `patchfarm apply` rebuilds the new tree.
# Usage: bench/tree_renames.sh [FILES]   (PF=BINARY times another patchfarm)
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-30000}"
PF="${PF:-$PWD/dist/bin/patchfarm}"
[ -x "$PF" ] || tools/build.sh > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$files" <<'PY'
import os, random, sys
work, files = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
boilerplate = rng.randbytes(3000)
os.makedirs(f"{work}/old/a"); os.makedirs(f"{work}/new/b")
for i in range(files):
    data = bytearray(boilerplate + rng.randbytes(300))
    open(f"{work}/old/a/f{i}.js", "wb").write(data)
    data[3100] ^= 1
    open(f"{work}/new/b/f{i}.js", "wb").write(data)
PY
/usr/bin/time -f "diff: %e s wall, %M KiB peak RSS" "$PF" diff "$work/old" "$work/new" "$work/pkg"
/usr/bin/time -f "apply: %e s wall, %M KiB peak RSS" "$PF" apply "$work/old" "$work/pkg" "$work/out"
diff -r "$work/new" "$work/out" > /dev/null && echo "applied: the new tree, file for file"
