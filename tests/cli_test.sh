#!/usr/bin/env bash
# End-to-end test of the single-file CLI verbs as a release script uses them:
# exit codes, messages, and that a failed apply leaves no output behind.
set -u
PF="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

python3 -c 'import random, sys; r = random.Random(7); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(300000)))' > "$T/old"
{ head -c 100000 "$T/old"; echo "new code here"; tail -c 150000 "$T/old"; } > "$T/new"
chmod 0755 "$T/old"

"$PF" diff "$T/old" "$T/new" "$T/patch" > "$T/diff.out" || fail "diff exited $?"
grep -q "bytes" "$T/diff.out" || fail "diff printed no size"
[ "$(stat -c %s "$T/patch")" -lt 20000 ] || fail "patch is not small"
"$PF" apply "$T/old" "$T/patch" "$T/out" || fail "apply exited $?"
cmp -s "$T/new" "$T/out" || fail "applied output differs"
[ "$(stat -c %a "$T/out")" = 755 ] || fail "output does not keep the old file's mode"
"$PF" info "$T/patch" > "$T/info" || fail "info exited $?"
grep -q "new_sha256: $(sha256sum "$T/new" | cut -c1-64)" "$T/info" || fail "info lacks new digest"

# A corrupt patch: non-zero exit, a message, no OUT and no temporary files.
python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[len(d) // 2] ^= 0x20; open(sys.argv[2], "wb").write(d)' "$T/patch" "$T/bad"
"$PF" apply "$T/old" "$T/bad" "$T/out2" 2> "$T/err" && fail "corrupt patch applied"
[ -e "$T/out2" ] && fail "corrupt patch left OUT behind"
ls "$T" | grep -q "out2.tmp" && fail "corrupt patch left a temporary file"
grep -q "patchfarm:" "$T/err" || fail "no error message for corrupt patch"

# The wrong old file is named as such.
"$PF" apply "$T/new" "$T/patch" "$T/out3" 2> "$T/err" && fail "wrong old file applied"
grep -q "patch was made from" "$T/err" || fail "wrong-old message unclear: $(cat "$T/err")"
[ -e "$T/out3" ] && fail "wrong old file left OUT behind"

# A failed apply does not touch an existing OUT.
echo keep > "$T/existing"
"$PF" apply "$T/old" "$T/bad" "$T/existing" 2>/dev/null && fail "corrupt patch applied"
[ "$(cat "$T/existing")" = keep ] || fail "failed apply changed an existing OUT"

# Empty and identical files.
: > "$T/empty"
"$PF" diff "$T/empty" "$T/new" "$T/p2" > /dev/null || fail "diff from empty"
"$PF" apply "$T/empty" "$T/p2" "$T/o2" && cmp -s "$T/o2" "$T/new" || fail "apply from empty"
"$PF" diff "$T/new" "$T/new" "$T/p3" > /dev/null || fail "diff identical"
"$PF" apply "$T/new" "$T/p3" "$T/o3" && cmp -s "$T/o3" "$T/new" || fail "apply identical"

# Usage errors exit 2; missing files exit 1 with the path named.
"$PF" diff "$T/old" 2>/dev/null; [ $? -eq 2 ] || fail "usage error did not exit 2"
"$PF" frobnicate 2>/dev/null; [ $? -eq 2 ] || fail "unknown verb did not exit 2"

# The farm's verbs run in patchfarm-farm beside patchfarm; without it they say so.
echo abcdefghijklmnopqrstuvwxyz | "$PF" token hash --roles submit > "$T/hash" 2>&1
grep -q "sha256:" "$T/hash" || fail "token hash through patchfarm-farm: $(head -1 "$T/hash")"
mkdir -p "$T/alone" && cp "$PF" "$T/alone/patchfarm"
echo abcdefghijklmnopqrstuvwxyz | "$T/alone/patchfarm" token hash --roles submit 2> "$T/err"
[ $? -eq 1 ] || fail "a farm verb without patchfarm-farm did not exit 1"
grep -q "needs .*/alone/patchfarm-farm" "$T/err" || fail "missing patchfarm-farm not named"
# update runs in patchfarm-update, which holds no farm library.
"$PF" update 2> "$T/err"; [ $? -eq 2 ] || fail "update without flags did not exit 2"
grep -q "usage: patchfarm update --index" "$T/err" || fail "update usage: $(head -1 "$T/err")"
"$T/alone/patchfarm" update --index x 2> "$T/err"; [ $? -eq 1 ] || fail "update alone did not exit 1"
grep -q "needs .*/alone/patchfarm-update" "$T/err" || fail "missing patchfarm-update not named"
if ldd "$(dirname "$(readlink -f "$PF")")/patchfarm-update" | grep -Eq "libgrpc|librocksdb"; then
  fail "patchfarm-update links gRPC or RocksDB"
fi
"$PF" apply "$T/nope" "$T/patch" "$T/o4" 2> "$T/err"; [ $? -eq 1 ] || fail "missing old"
grep -q "$T/nope" "$T/err" || fail "missing file not named"
"$PF" info "$T/old" 2> "$T/err" && fail "info accepted a non-patch"
grep -q "not a patchfarm patch" "$T/err" || fail "non-patch message unclear"

# Bad flag values are refused naming the flag, before anything is done.
bad() {  # FLAG ARGS...: the command must exit non-zero and name FLAG.
  local flag="$1"; shift
  "$PF" "$@" > /dev/null 2> "$T/err" && fail "$* was accepted"
  grep -q -- "$flag" "$T/err" || fail "$*: the refusal does not name $flag: $(head -1 "$T/err")"
}
for v in 0 23 x -1; do bad --level diff --level "$v" "$T/old" "$T/new" "$T/p5"; done
for v in 0 257 x; do bad --threads diff --threads "$v" "$T/old" "$T/new" "$T/p5"; done
[ -e "$T/p5" ] && fail "a refused diff wrote a patch"
"$PF" keygen --out "$T/key" > /dev/null || fail "keygen"
# A pinned public key is never replaced, even without its private key beside it.
cp "$T/key.pub" "$T/pinned.pub"
"$PF" keygen --out "$T/pinned" > /dev/null 2>&1 && fail "keygen replaced an existing .pub"
cmp -s "$T/key.pub" "$T/pinned.pub" || fail "keygen changed an existing .pub"
[ -e "$T/pinned" ] && fail "keygen wrote a private key beside another's public key"
for v in 0 -1 3651 x; do
  bad --valid-days publish --coordinator 127.0.0.1:1 --product p --key "$T/key" --out "$T/site" --valid-days "$v"
done
for v in 0 -1 1Q x 99999999T; do
  bad --max-memory publish --coordinator 127.0.0.1:1 --product p --key "$T/key" --out "$T/site" --max-memory "$v"
done
[ -e "$T/site" ] && fail "a refused publish made its site"
"$PF" publish --coordinator 127.0.0.1:1 --product p --key "$T/key" --out "$T/site" --out "$T/site2" \
  > /dev/null 2>&1; [ $? -eq 2 ] || fail "a flag given twice was not a usage error"
"$PF" keygen --out "$T/k1" --out "$T/k2" > /dev/null 2>&1; [ $? -eq 2 ] || fail "keygen --out twice"
[ -e "$T/k1" ] || [ -e "$T/k2" ] && fail "keygen with --out twice wrote a key"
"$PF" token new --roles worker --out "$T/w.token" > /dev/null || fail "token new --out"
[ "$(stat -c %a "$T/w.token")" = 600 ] || fail "token file mode $(stat -c %a "$T/w.token")"
before=$(cat "$T/w.token")
"$PF" token new --roles worker --out "$T/w.token" > /dev/null 2>&1 && fail "token new replaced a token file"
[ "$(cat "$T/w.token")" = "$before" ] || fail "token new changed an existing token file"
ls "$T" | grep -q "w.token.tmp-" && fail "token new left a temporary file"
for v in -1 1025 x; do bad --workers serve --data "$T/serve" --workers "$v"; done
[ -e "$T/serve" ] && fail "a refused serve made its data directory"
for v in nan inf x; do bad --max-patch-ratio policy --coordinator 127.0.0.1:1 --product p --max-patch-ratio "$v"; done

# A file name that is not UTF-8 (Latin-1 "café"): a local tree package takes
# it, and `submit` refuses it by name before it connects (the farm carries
# names as UTF-8 protobuf strings).
mkdir -p "$T/latin1/a" "$T/latin1/b"
printf 'one' > "$T/latin1/a/caf"$'\xe9'
printf 'two' > "$T/latin1/b/caf"$'\xe9'
"$PF" diff "$T/latin1/a" "$T/latin1/b" "$T/latin1.pkg" > /dev/null || fail "a Latin-1 name broke a tree diff"
"$PF" apply "$T/latin1/a" "$T/latin1.pkg" "$T/latin1/out" > /dev/null || fail "a Latin-1 name broke apply"
diff -r "$T/latin1/b" "$T/latin1/out" > /dev/null || fail "the tree with a Latin-1 name differs"
"$PF" submit --coordinator 127.0.0.1:1 --product p --platform x --version 1.0 "$T/latin1/b" \
  2> "$T/err" && fail "a name that is not UTF-8 was submitted"
grep -q "is not UTF-8" "$T/err" || fail "no message for a name that is not UTF-8: $(cat "$T/err")"

# The output never replaces an input, nor lands in a tree being read.
cp "$T/old" "$T/keep"
"$PF" diff "$T/keep" "$T/new" "$T/keep" > /dev/null 2> "$T/err" && fail "diff A B A was accepted"
grep -q "not replaced" "$T/err" || fail "diff A B A: $(cat "$T/err")"
cmp -s "$T/old" "$T/keep" || fail "diff A B A changed A"
"$PF" diff "$T/latin1/a" "$T/latin1/b" "$T/latin1/b/p.pkg" > /dev/null 2> "$T/err" &&
  fail "a package inside the new tree was accepted"
grep -q "the tree being read" "$T/err" || fail "package in the tree: $(cat "$T/err")"
[ -e "$T/latin1/b/p.pkg" ] && fail "a package was written inside the new tree"
ls "$T/latin1/b" | grep -q "tmp-" && fail "a temporary file was left inside the new tree"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
