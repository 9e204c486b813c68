#!/usr/bin/env bash
# `patchfarm diff --max-memory`: a pair larger than the budget is diffed in
# bounded memory, exactly (apply gives new bit for bit), with peak resident
# memory under the budget, and moves across the whole file are still found.
# Trees take the same bound, and their packages apply in bounded memory.
# Bad budgets are refused with a message naming the flag.
set -u
PF="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 192 MiB of incompressible old; new moves its last quarter to the front,
# edits bytes in place, inserts 1 MiB of fresh data and drops 1 MiB.
python3 - "$T" <<'PY'
import os, random, sys
t = sys.argv[1]
r = random.Random(13)
mib = 1 << 20
old = bytearray(r.randbytes(192 * mib))
new = bytearray(old[144 * mib:] + old[:100 * mib] + r.randbytes(mib) + old[101 * mib:144 * mib])
for _ in range(500):
    new[r.randrange(len(new))] ^= 0x40
open(os.path.join(t, "old.pak"), "wb").write(old)
open(os.path.join(t, "new.pak"), "wb").write(new)
PY

# Runs a command; writes its peak resident set in KiB to $T/rss.
peak_rss() {
  python3 - "$T/rss" "$@" <<'PY'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)
PY
}

peak_rss "$PF" diff --max-memory 96M "$T/old.pak" "$T/new.pak" "$T/patch" 2>"$T/err" 1>"$T/out" \
  || fail "bounded diff exited non-zero: $(cat "$T/err")"
rss=$(cat "$T/rss")
grep -q "bounded memory" "$T/out" || fail "diff did not say it ran bounded: $(cat "$T/out")"
echo "bounded diff: peak RSS ${rss} KiB, patch $(stat -c %s "$T/patch") bytes"
[ "${rss:-999999}" -le $((96 * 1024)) ] || fail "peak RSS ${rss} KiB over the 96 MiB budget"
# The moved quarter and the edits cost little: the fresh MiB and change.
[ "$(stat -c %s "$T/patch")" -lt $((1024 * 1024 + 256 * 1024)) ] || fail "bounded patch too large"
"$PF" apply "$T/old.pak" "$T/patch" "$T/applied" || fail "apply exited $?"
cmp -s "$T/new.pak" "$T/applied" || fail "bounded patch does not rebuild new"
"$PF" info "$T/patch" | grep -q "method: streams" || fail "bounded patch is not method 1"

# Without a budget that small, the same pair is diffed whole-file.
"$PF" diff "$T/old.pak" "$T/new.pak" "$T/patch2" > "$T/out2" || fail "whole-file diff exited $?"
grep -q "bounded" "$T/out2" && fail "whole-file diff ran bounded"
"$PF" apply "$T/old.pak" "$T/patch2" "$T/applied2" || fail "apply exited $?"
cmp -s "$T/new.pak" "$T/applied2" || fail "whole-file patch does not rebuild new"

# Trees take the same bound: a release tree holding the pack (and a few small
# files) is diffed under --max-memory 96M, and its package is applied out of
# place and in place with peak RSS under the apply bound (64 MiB plus the
# process), bit-exact.
mkdir -p "$T/tree-old/data" "$T/tree-new/data"
ln "$T/old.pak" "$T/tree-old/data/assets.pak"
ln "$T/new.pak" "$T/tree-new/data/assets.pak"
for d in tree-old tree-new; do
  printf 'readme of %s\n' "$d" > "$T/$d/README"
  printf 'version %s\n' "$d" > "$T/$d/data/version.txt"
done
peak_rss "$PF" diff --max-memory 96M "$T/tree-old" "$T/tree-new" "$T/tree.pkg" 2>"$T/err" 1>"$T/out" \
  || fail "bounded tree diff exited non-zero: $(cat "$T/err")"
rss=$(cat "$T/rss")
echo "bounded tree diff: peak RSS ${rss} KiB, package $(stat -c %s "$T/tree.pkg") bytes"
grep -q "in bounded memory" "$T/out" || fail "tree diff did not say it ran bounded: $(cat "$T/out")"
[ "${rss:-999999}" -le $((96 * 1024)) ] || fail "tree diff peak RSS ${rss} KiB over the 96 MiB budget"
[ "$(stat -c %s "$T/tree.pkg")" -lt $((1024 * 1024 + 256 * 1024)) ] || fail "bounded tree package too large"
peak_rss "$PF" apply "$T/tree-old" "$T/tree.pkg" "$T/tree-out" || fail "tree apply exited non-zero"
rss=$(cat "$T/rss")
echo "tree apply: peak RSS ${rss} KiB"
[ "${rss:-999999}" -le $((96 * 1024)) ] || fail "tree apply peak RSS ${rss} KiB over 96 MiB"
diff -r "$T/tree-new" "$T/tree-out" > /dev/null || fail "tree package does not rebuild the new tree"
cp -a "$T/tree-old" "$T/install"
peak_rss "$PF" apply --in-place "$T/install" "$T/tree.pkg" || fail "in-place apply exited non-zero"
rss=$(cat "$T/rss")
echo "in-place apply: peak RSS ${rss} KiB"
[ "${rss:-999999}" -le $((96 * 1024)) ] || fail "in-place apply peak RSS ${rss} KiB over 96 MiB"
diff -r --exclude=.patchfarm "$T/tree-new" "$T/install" > /dev/null || fail "in-place apply is not the new tree"

# A chain of two packages: the intermediate version's pack goes to an
# anonymous scratch file, not memory, so the apply stays in the same bound.
mkdir -p "$T/tree-newer/data"
python3 - "$T/tree-new/data/assets.pak" "$T/tree-newer/data/assets.pak" <<'PY2'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
for i in range(0, len(d), 7 << 20):
    d[i] ^= 0x5a
open(sys.argv[2], "wb").write(d)
PY2
cp "$T/tree-new/README" "$T/tree-newer/README"
printf 'version newer\n' > "$T/tree-newer/data/version.txt"
"$PF" diff --max-memory 96M "$T/tree-new" "$T/tree-newer" "$T/tree2.pkg" > /dev/null 2>&1 || fail "second tree diff"
peak_rss "$PF" apply "$T/tree-old" "$T/tree.pkg" "$T/tree2.pkg" "$T/tree-out2" || fail "chained tree apply exited non-zero"
rss=$(cat "$T/rss")
echo "chained tree apply: peak RSS ${rss} KiB"
[ "${rss:-999999}" -le $((96 * 1024)) ] || fail "chained tree apply peak RSS ${rss} KiB over 96 MiB"
diff -r "$T/tree-newer" "$T/tree-out2" > /dev/null || fail "the chain does not rebuild the newer tree"

for bad in 0 -1 1.5G nan 12X 99999999999999999999G ""; do
  "$PF" diff --max-memory "$bad" "$T/old.pak" "$T/new.pak" "$T/p3" 2> "$T/err" && fail "--max-memory '$bad' accepted"
  grep -q -- "--max-memory" "$T/err" || fail "refusal of '$bad' does not name --max-memory"
  [ -e "$T/p3" ] && fail "refused diff wrote a patch"
done

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all --max-memory checks passed"
