#!/usr/bin/env bash
# The retention side of the CLI against a real coordinator and worker on
# loopback: `policy` with the window, chain retention and size gate (set
# partly, shown, refused out of range), `status --sizes` (text and JSON)
# before and after a publish, results dropped once the policy no longer keeps
# them (logged and counted in /metrics), and `publish --dry-run` leaving the
# site byte-identical.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT

# Six releases of a small game: an incompressible program edited a little
# each version, and data files.
python3 - "$T/rel" <<'PY'
import os, random, sys
rng = random.Random(11)
exe = bytearray(rng.randbytes(60_000))
for v in range(1, 7):
    for _ in range(5):
        at = rng.randrange(len(exe))
        exe[at:at + 8] = rng.randbytes(8)
    d = os.path.join(sys.argv[1], f"1.{v}")
    os.makedirs(os.path.join(d, "bin"))
    os.makedirs(os.path.join(d, "data"))
    open(os.path.join(d, "bin", "game"), "wb").write(exe)
    os.chmod(os.path.join(d, "bin", "game"), 0o755)
    open(os.path.join(d, "data", "notes.txt"), "w").write(f"release 1.{v}\n" * 50)
PY

"$COORDINATOR" --plaintext --listen 127.0.0.1:0 --data "$T/data" --port-file "$T/port" \
  --http-listen 127.0.0.1:0 > "$T/c.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
addr="$(cat "$T/port")"
"$WORKER" --coordinator "$addr" --cache "$T/cache" --jobs 2 > "$T/w.log" 2>&1 &
pids+=("$!")
policy() { "$PF" policy --coordinator "$addr" --product game "$@"; }

# The policy: shown with no flag, set partly, refused out of range.
policy > "$T/p0" || fail "policy without flags exited $?"
grep -q "last 10 formal versions (for releases" "$T/p0" || fail "default window: $(cat "$T/p0")"
grep -q "last 100 formal versions or those of the last 365 days" "$T/p0" || fail "default chain: $(cat "$T/p0")"
grep -q "above 0.9 of the full package" "$T/p0" || fail "default gate: $(cat "$T/p0")"
policy --window 2 --keep-chain 2 --keep-days 0 --max-patch-ratio 0.95 > "$T/p1" || fail "policy set exited $?"
grep -q "last 2 formal versions (for" "$T/p1" || fail "window not set: $(cat "$T/p1")"
grep -q "last 2 formal versions or those of the last 0 days" "$T/p1" || fail "chain not set: $(cat "$T/p1")"
grep -q "above 0.95 of" "$T/p1" || fail "ratio not set: $(cat "$T/p1")"
policy --keep-days 3 > /dev/null || fail "policy --keep-days"
policy > "$T/p2"
grep -q "last 2 formal versions or those of the last 3 days" "$T/p2" || fail "a partial update changed other fields: $(cat "$T/p2")"
policy --keep-days 0 > /dev/null
for bad in "--window 0" "--window 1001" "--keep-chain 0" "--keep-chain 100001" "--keep-days 36501" \
           "--max-patch-ratio 0" "--max-patch-ratio 1.5" "--max-patch-ratio nan" "--keep-days soon"; do
  # shellcheck disable=SC2086
  policy $bad > /dev/null 2> "$T/err"; rc=$?
  [ "$rc" -eq 1 ] || fail "policy $bad exited $rc"
  grep -q "patchfarm: " "$T/err" || fail "policy $bad: no message"
done
policy --keep-chain 0 2>&1 | grep -q "keep-chain must be 1-100000" || fail "range message"
policy > "$T/p3"
cmp -s "$T/p1" "$T/p3" || fail "a refused policy changed it: $(cat "$T/p3")"
"$PF" policy --coordinator "$addr" --window 3 > /dev/null 2>&1; [ $? -eq 2 ] || fail "policy without --product is not a usage error"
"$PF" policy --coordinator "$addr" --product game --window > /dev/null 2>&1; [ $? -eq 2 ] || fail "a flag without a value is not a usage error"

submit() { "$PF" submit --coordinator "$addr" --product game --platform linux-x64 --version "$1" --wait "$T/rel/$1" > /dev/null || fail "submit $1"; }
for v in 1.1 1.2 1.3 1.4 1.5; do submit "$v"; done

# Before any publish the full package's size is not known.
"$PF" status --coordinator "$addr" --product game --sizes > "$T/s0" || fail "status --sizes exited $?"
grep -q "full package not recorded yet" "$T/s0" || fail "unknown full size: $(cat "$T/s0")"
grep -q "1.4: [0-9]* bytes by cumulative" "$T/s0" || fail "1.4 before publish: $(cat "$T/s0")"
"$PF" status --coordinator "$addr" --sizes > /dev/null 2>&1; [ $? -eq 2 ] || fail "--sizes without --product is not a usage error"

"$PF" keygen --out "$T/key" > /dev/null || fail keygen
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" > "$T/pub1" || fail "publish: $(cat "$T/pub1")"
ls "$T/site/game/stable" > "$T/files1"
for f in from_linux-x64_1.3_to_1.5 from_linux-x64_1.4_to_1.5 chain_linux-x64_1.3_to_1.4 full_linux-x64_1.5; do
  grep -qx "$f" "$T/files1" || fail "publish lacks $f: $(cat "$T/files1")"
done
grep -q "chain_linux-x64_1.2_to_1.3\|from_linux-x64_1.2" "$T/files1" && fail "outside the policy: $(cat "$T/files1")"

# After it, every older version has a way and the full package's size.
"$PF" status --coordinator "$addr" --product game --sizes > "$T/s1" || fail "status --sizes after publish"
full=$(stat -c %s "$T/site/game/stable/full_linux-x64_1.5")
grep -q "stable linux-x64: updates to 1.5, full package $full bytes" "$T/s1" || fail "header: $(cat "$T/s1")"
grep -q "^  1.1: $full bytes by full (full package $full bytes): 1.1 -> 1.5 (1 package, $full bytes)" "$T/s1" ||
  fail "1.1 is outside the policy: the full package: $(cat "$T/s1")"
cum=$(stat -c %s "$T/site/game/stable/from_linux-x64_1.4_to_1.5")
grep -q "^  1.4: $cum bytes by cumulative (full package $full bytes)" "$T/s1" || fail "1.4: $(cat "$T/s1")"
grep -q "^  1.3: [0-9]* bytes by \(cumulative\|chain\)" "$T/s1" || fail "1.3: $(cat "$T/s1")"
"$PF" status --coordinator "$addr" --product game --sizes --json > "$T/s1.json" || fail "status --sizes --json"
python3 - "$T/s1.json" "$full" "$cum" <<'PY' || fail "status --sizes --json: $(cat "$T/s1.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
full, cum = int(sys.argv[2]), int(sys.argv[3])
assert doc["product"] == "game"
assert doc["policy"] == {"cumulative_window": 2, "keep_chain": 2, "keep_days": 0, "max_patch_ratio": 0.95}, doc["policy"]
rows = {r["version"]: r for r in doc["sizes"]}
assert sorted(rows) == ["1.1", "1.2", "1.3", "1.4"], rows.keys()
assert all(r["newest"] == "1.5" and r["reachable"] and r["full_package_bytes"] == full for r in rows.values())
assert rows["1.1"]["bytes"] == full and rows["1.1"]["way"] == "full"
assert rows["1.4"]["bytes"] == cum and rows["1.4"]["packages"] == 1
assert rows["1.3"]["bytes"] < full
assert doc["not_offered"] == []
PY

# 1.6: the coordinator drops what the policy no longer keeps.
submit 1.6
policy --keep-days 0 > /dev/null  # Applies the policy now that 1.6 is served.
grep -q "event=blob_dropped blob=" "$T/c.log" || fail "no blob_dropped event: $(grep event= "$T/c.log" | tail -5)"
http=$(grep -o 'http://[0-9.:]*' "$T/c.log" | head -1)
curl -sf "$http/metrics" | grep -q "^patchfarm_blobs_dropped_total [1-9]" || fail "/metrics ($http) does not count dropped blobs"

# A dry run says what would change and changes nothing.
snapshot() { (cd "$T/site" && find . -printf '%y %p %l\n' | sort && find . -type f -exec sha256sum {} + | sort); }
snapshot > "$T/before"
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" --dry-run > "$T/dry" ||
  fail "publish --dry-run: $(cat "$T/dry")"
snapshot > "$T/after"
cmp -s "$T/before" "$T/after" || fail "the dry run changed the site: $(diff "$T/before" "$T/after" | head)"
grep -q "^add stable/full_linux-x64_1.6$" "$T/dry" || fail "dry run add: $(cat "$T/dry")"
grep -q "^add stable/from_linux-x64_1.5_to_1.6$" "$T/dry" || fail "dry run add: $(cat "$T/dry")"
grep -q "^add stable/from_linux-x64_1.4_to_1.6$" "$T/dry" || fail "dry run add: $(cat "$T/dry")"
grep -q "^remove stable/from_linux-x64_1.4_to_1.5$" "$T/dry" || fail "dry run remove: $(cat "$T/dry")"
grep -q "^remove stable/full_linux-x64_1.5$" "$T/dry" || fail "dry run remove: $(cat "$T/dry")"
grep -q "^remove stable/from_linux-x64_1.3_to_1.5$" "$T/dry" || fail "dry run remove: $(cat "$T/dry")"
grep -q "^add stable/chain_linux-x64_1.4_to_1.5$" "$T/dry" || fail "dry run chain: $(cat "$T/dry")"
grep -q "^remove stable/chain_linux-x64_1.3_to_1.4$" "$T/dry" || fail "dry run chain: $(cat "$T/dry")"
grep -q "^  1.1: [0-9]* bytes by full" "$T/dry" || fail "dry run sizes: $(cat "$T/dry")"
grep -q "^dry run: nothing under $T/site was changed" "$T/dry" || fail "dry run last line: $(cat "$T/dry")"
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" > /dev/null || fail "publish 2"
ls "$T/site/game/stable" | grep -q "^from_linux-x64_1.3_" && fail "from 1.3 did not age out"
[ -e "$T/site/game/stable/chain_linux-x64_1.4_to_1.5" ] || fail "the chain did not move on"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "retention CLI checks passed"
