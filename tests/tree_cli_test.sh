#!/usr/bin/env bash
# End-to-end test of the directory forms of the CLI verbs as a release script
# and an updater use them: diff OLD_DIR NEW_DIR PACKAGE, info, apply out of place
# (one package and a chain), apply --in-place (a user's file survives, a wrong
# version is refused and changes nothing), recover, and file patch chains.
set -u
PF="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Three releases: an executable that changes, a renamed-and-edited data file,
# a mode change, a symlink, an empty directory, a unicode name, a removed file.
python3 - "$T" <<'PY'
import os, random, sys
t = sys.argv[1]
r = random.Random(3)
exe = bytes(r.randrange(256) for _ in range(200000))
data = "".join(f"level {i} score {r.randrange(10**6)}\n" for i in range(5000)).encode()
def tree(root, files, links=(), dirs=()):
    for path, content, mode in files:
        full = os.path.join(t, root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        open(full, "wb").write(content)
        os.chmod(full, mode)
    for path, target in links:
        os.symlink(target, os.path.join(t, root, path))
    for d in dirs:
        os.makedirs(os.path.join(t, root, d), exist_ok=True)
tree("v1", [("bin/game", exe, 0o755), ("data/levels.txt", data, 0o644),
            ("docs/ünïcödé.txt", b"hello", 0o644), ("old.txt", b"removed later", 0o644)],
     [("bin/current", "game")], ["saves"])
exe2 = exe[:50000] + b"patched code" + exe[50000:]
data2 = data.replace(b"level 7 ", b"level seven ")
tree("v2", [("bin/game", exe2, 0o755), ("data/world/levels.dat", data2, 0o644),
            ("docs/ünïcödé.txt", b"hello", 0o600)],
     [("bin/current", "game")], ["saves"])
tree("v3", [("bin/game", exe2 + b"tail", 0o755), ("data/world/levels.dat", data2, 0o644),
            ("docs/ünïcödé.txt", b"hello again", 0o600), ("bin/helper", b"#!/bin/sh\n", 0o755)],
     [("bin/current", "helper")], ["saves"])
PY
listing() { (cd "$1" && find . -path ./.patchfarm -prune -o -printf '%P %y %m %l\n' | sort && find . -path ./.patchfarm -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }
same_tree() { [ "$(listing "$1")" = "$(listing "$2")" ]; }

"$PF" diff "$T/v1" "$T/v2" "$T/p12" > "$T/diff.out" || fail "tree diff exited $?"
grep -q "2 delta, 0 whole, 2 removed" "$T/diff.out" || fail "diff summary: $(cat "$T/diff.out")"
"$PF" diff "$T/v2" "$T/v3" "$T/p23" > /dev/null || fail "tree diff v2 v3"
"$PF" diff "$T/v1" "$T/v3" "$T/p13" > /dev/null || fail "tree diff v1 v3"
[ "$(stat -c %s "$T/p12")" -lt 20000 ] || fail "package is not small: $(stat -c %s "$T/p12")"

"$PF" info "$T/p12" > "$T/info" || fail "info exited $?"
grep -q "format: patchfarm tree package v2" "$T/info" || fail "info lacks format"
grep -q "data/world/levels.dat' <- 'data/levels.txt'" "$T/info" || fail "rename+edit not a delta"
grep -q "remove file .*'old.txt'" "$T/info" || fail "info lacks the removal"
grep -q "^base_sha256: [0-9a-f]\{64\}$" "$T/info" || fail "info lacks the base digest"

"$PF" apply "$T/v1" "$T/p12" "$T/out" || fail "apply exited $?"
same_tree "$T/v2" "$T/out" || fail "applied tree differs"
"$PF" apply "$T/v1" "$T/p12" "$T/p23" "$T/out-chain" || fail "chain apply exited $?"
same_tree "$T/v3" "$T/out-chain" || fail "chain result differs"
"$PF" apply "$T/v1" "$T/p13" "$T/out-13" && same_tree "$T/v3" "$T/out-13" || fail "cumulative"

# OUT_DIR must not exist; a failed apply leaves nothing.
"$PF" apply "$T/v1" "$T/p12" "$T/out" 2> "$T/err"; [ $? -eq 1 ] || fail "apply over an existing OUT_DIR"
grep -q "already exists" "$T/err" || fail "existing OUT_DIR message: $(cat "$T/err")"
"$PF" apply "$T/v2" "$T/p12" "$T/out-wrong" 2> "$T/err" && fail "wrong old tree applied"
grep -q "not the version this package updates from" "$T/err" || fail "wrong-version message: $(cat "$T/err")"
ls "$T" | grep -q "out-wrong" && fail "failed apply left output"

# In place: a user's file survives; the install ends exactly at v3.
cp -a "$T/v1" "$T/install"
echo "my settings" > "$T/install/saves/slot1"
"$PF" apply --in-place "$T/install" "$T/p12" "$T/p23" > "$T/inplace.out" || fail "in-place exited $?"
grep -q "updated in place" "$T/inplace.out" || fail "in-place output: $(cat "$T/inplace.out")"
[ "$(cat "$T/install/saves/slot1")" = "my settings" ] || fail "user file lost"
rm "$T/install/saves/slot1"
same_tree "$T/v3" "$T/install" || fail "in-place result differs"
before="$(listing "$T/install")"
"$PF" apply --in-place "$T/install" "$T/p12" 2> "$T/err"; [ $? -eq 1 ] || fail "wrong version applied in place"
[ "$(listing "$T/install")" = "$before" ] || fail "refused in-place apply changed the install"
"$PF" recover "$T/install" | grep -q "nothing to recover" || fail "recover on a clean install"
"$PF" apply --in-place "$T/install" 2>/dev/null; [ $? -eq 2 ] || fail "in-place usage error"

# Files and directories do not mix; file patches chain too.
"$PF" diff "$T/v1" "$T/v1/old.txt" "$T/px" 2> "$T/err"; [ $? -eq 1 ] || fail "dir vs file"
grep -q "both be files or both be directories" "$T/err" || fail "dir/file message"
"$PF" diff "$T/v1/bin/game" "$T/v2/bin/game" "$T/f12" > /dev/null || fail "file diff"
"$PF" diff "$T/v2/bin/game" "$T/v3/bin/game" "$T/f23" > /dev/null || fail "file diff 2"
"$PF" apply "$T/v1/bin/game" "$T/f12" "$T/f23" "$T/game3" && cmp -s "$T/game3" "$T/v3/bin/game" || fail "file chain"
"$PF" apply "$T/v1/bin/game" "$T/p12" "$T/gx" 2> "$T/err" && fail "package applied to a file"

# A release that renames and edits 1,500 small files: a block reads them all
# at once, past a soft limit of 1,024 open files (here 256), which diff and
# apply raise to the hard limit.
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 4096 ]; then
  python3 - "$T" <<'PY'
import os, random, sys
t, r = sys.argv[1], random.Random(5)
for side in ("many-old", "many-new"):
    os.makedirs(os.path.join(t, side))
for i in range(1500):
    body = r.randbytes(200)
    open(os.path.join(t, "many-old", f"old_{i}"), "wb").write(body + b"o%d" % i)
    open(os.path.join(t, "many-new", f"new_{i}"), "wb").write(body + b"n%d" % i)
PY
  (ulimit -Sn 256 && "$PF" diff "$T/many-old" "$T/many-new" "$T/many.pkg" > /dev/null) ||
    fail "diff of 1,500 renamed files under a soft limit of 256 open files"
  (ulimit -Sn 256 && "$PF" apply "$T/many-old" "$T/many.pkg" "$T/many-out" > /dev/null) ||
    fail "apply of 1,500 renamed files under a soft limit of 256 open files"
  diff -r "$T/many-out" "$T/many-new" > /dev/null || fail "1,500 renamed files not rebuilt"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tree CLI checks passed"
