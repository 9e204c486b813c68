#!/usr/bin/env bash
# Segment jobs end to end with real processes on loopback: a 24 MiB file pair
# over a coordinator's --segment-size 4M and --index-part-size 8M is split
# into three index jobs (old's chunk index in parts) and segment jobs, run by
# one worker, then by three workers of which one is kill -9'd mid-job; both
# runs give the same patch (framed streams), which applies bit-exact, the
# segments join the parts instead of indexing old, and the index and segment
# jobs read old and new by ranges. Then the same pair inside two release
# directories: the tree job's big file is split the same way.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT

python3 - "$T" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(5)
assets = [rng.randbytes(1 << 20) for _ in range(24)]
os.makedirs(os.path.join(root, "v1")); os.makedirs(os.path.join(root, "v2"))
open(os.path.join(root, "v1", "game.pak"), "wb").write(b"".join(assets))
assets[0], assets[20] = assets[20], assets[0]           # A move across segments.
for i in (3, 9, 15):
    a = bytearray(assets[i]); a[1000:1064] = rng.randbytes(64); assets[i] = bytes(a)
assets.insert(12, rng.randbytes(300_000))              # Fresh content.
del assets[6]                                           # A removal.
open(os.path.join(root, "v2", "game.pak"), "wb").write(b"".join(assets))
PY

# run NAME WORKERS KILL [OLD NEW]: a coordinator and WORKERS workers; the
# pair's patch (of the files, or the directories OLD and NEW) to
# $T/NAME.patch. With KILL=1, one worker is kill -9'd while it runs a job.
run() {
  local name="$1" workers="$2" kill="$3" data="$T/$1"
  local old="${4:-$T/v1/game.pak}" new="${5:-$T/v2/game.pak}"
  mkdir -p "$data"
  "$COORDINATOR" --plaintext --listen 127.0.0.1:0 --data "$data/coordinator" --port-file "$data/port" \
    --lease-seconds 2 --segment-size 4M --index-part-size 8M > "$data/coordinator.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do [ -s "$data/port" ] && break; sleep 0.1; done
  local addr; addr="$(cat "$data/port")"
  declare -A wpid
  for i in $(seq "$workers"); do
    "$WORKER" --coordinator "$addr" --cache "$data/cache$i" --jobs 1 --id "w$i" --job-memory 96M \
      > "$data/w$i.log" 2>&1 &
    wpid[w$i]=$!
    pids+=("$!")
  done
  "$PF" submit --coordinator "$addr" --product game --platform linux-x64 --version 1.0 \
    "$old" > /dev/null || fail "$name: submit 1.0"
  "$PF" submit --coordinator "$addr" --product game --platform linux-x64 --version 1.1 \
    "$new" > /dev/null || fail "$name: submit 1.1"
  if [ "$kill" = 1 ]; then
    # Kill -9 the worker of the first index or segment job the coordinator's
    # log shows leased and not done (read every 10 ms: jobs take 20-100 ms
    # here). A job that was done before the kill landed does not count: then
    # the next such job's worker is killed, while two workers are left.
    local killed="" job worker
    for _ in $(seq 2000); do
      while read -r job worker; do
        [ -n "${wpid[$worker]:-}" ] || continue  # Killed already.
        grep -q "event=job_done job=$job " "$data/coordinator.log" && continue
        kill -9 "${wpid[$worker]}"
        unset "wpid[$worker]"
        sleep 0.05  # A result the worker sent before dying is logged by now.
        if ! grep -q "event=job_done job=$job .* worker=$worker " "$data/coordinator.log"; then
          killed="$worker"
        fi
        break
      done < <(sed -n 's/.*event=job_leased job=\([0-9a-f]*\.[si][0-9]*\) .* worker=\(w[0-9]\)\( .*\)*$/\1 \2/p' \
                 "$data/coordinator.log")
      [ -n "$killed" ] || [ "${#wpid[@]}" -le 1 ] && break
      sleep 0.01
    done
    [ -n "$killed" ] && echo "$name: killed $killed mid-job" || fail "$name: no worker killed mid-job"
  fi
  "$PF" submit --coordinator "$addr" --product game --platform linux-x64 --version 1.1 --wait \
    "$new" > "$data/wait.log" 2>&1 || fail "$name: the release did not finish: $(cat "$data/wait.log")"
  "$PF" request --coordinator "$addr" --product game --platform linux-x64 --from 1.0 --to 1.1 \
    -o "$T/$name.patch" > /dev/null || fail "$name: request"
}

run one 1 0
run three 3 1
# The pair inside two release directories (with a small file that changes):
# the tree job's data/game.pak is split into index and segment jobs of its
# own (which carry that file and its directory, not the trees), and the tree
# job stores the patch joining them as that file's block.
mkdir -p "$T/t1/data" "$T/t2/data"
ln "$T/v1/game.pak" "$T/t1/data/game.pak"
ln "$T/v2/game.pak" "$T/t2/data/game.pak"
echo "game 1.0" > "$T/t1/VERSION"
echo "game 1.1" > "$T/t2/VERSION"
run tree 2 0 "$T/t1" "$T/t2"

"$PF" info "$T/one.patch" > "$T/info" || fail "info"
grep -q "^method: framed-streams" "$T/info" || fail "not a joined patch: $(cat "$T/info")"
grep -q "^stream diff: .* (6 frames)" "$T/info" || fail "not 6 segments: $(cat "$T/info")"
cmp -s "$T/one.patch" "$T/three.patch" || fail "three workers (one killed) made another patch than one worker"
"$PF" apply "$T/v1/game.pak" "$T/one.patch" "$T/out.pak" > /dev/null || fail "apply"
cmp -s "$T/out.pak" "$T/v2/game.pak" || fail "the joined patch does not rebuild new"
size=$(stat -c %s "$T/one.patch")
[ "$size" -lt 1000000 ] || fail "the patch is $size bytes: moves across segments were not found"

grep -q "event=job_split job=[0-9a-f]* segments=6 .* index_parts=3" "$T/one/coordinator.log" ||
  fail "no split logged"
grep -q "event=job_indexed" "$T/one/coordinator.log" || fail "no end of the index jobs logged"
[ "$(grep -c "index part \[" "$T/one/w1.log")" = 3 ] || fail "one worker did not run 3 index jobs"
if grep -q "index parts not joined" "$T"/one/w*.log "$T"/three/w*.log; then
  fail "a worker did not join the index parts: $(grep -h "not joined" "$T"/*/w*.log | head -n 1)"
fi
grep -q "event=job_join_queued" "$T/one/coordinator.log" || fail "no join logged"
grep -q "event=job_retry .*\.[si][0-9]* .*lease expired" "$T/three/coordinator.log" ||
  fail "the killed worker's job was not retried alone"
grep -q "^progress: 0/1 jobs done, 0 failed (huge files: [0-9]*/9 index and segment jobs done)" \
  "$T/three/wait.log" || fail "no progress of the split jobs: $(head -3 "$T/three/wait.log")"
grep -q "event=blob_dropped" "$T/one/coordinator.log" || fail "the segments' results were not dropped"
busy=0
for w in w1 w2 w3; do grep -q "segment \[" "$T/three/$w.log" 2>/dev/null && busy=$((busy + 1)); done
[ "$busy" -ge 2 ] || fail "only $busy workers ran segments"
# Ranged reads: no segment read all of new, nor all of old (the index parts
# were joined); an index job reads its part of old.
new_size=$(stat -c %s "$T/v2/game.pak") old_size=$(stat -c %s "$T/v1/game.pak")
while read -r old_bytes new_bytes; do
  [ "$new_bytes" -lt "$new_size" ] || fail "a segment job read $new_bytes bytes of new"
  [ "$old_bytes" -lt "$old_size" ] || fail "a segment job read $old_bytes bytes of old"
done < <(grep -ho "read [0-9]* bytes of old and [0-9]* of new" "$T"/one/w*.log "$T"/three/w*.log |
         awk '{print $2, $7}')
while read -r n; do
  [ "$n" -le $((8 << 20)) ] || fail "an index job read $n bytes of old"
done < <(grep -ho "index part .* read [0-9]* bytes" "$T"/one/w*.log | awk '{print $(NF-1)}')

grep -q "event=job_split job=[0-9a-f]* segments=6 .* index_parts=3 file=data/game.pak" \
  "$T/tree/coordinator.log" || fail "the tree's game.pak was not split"
[ "$(cat "$T"/tree/w*.log | grep -c "segment \[")" = 6 ] || fail "not 6 segment jobs for the tree"
"$PF" apply "$T/t1" "$T/tree.patch" "$T/tree-out" > /dev/null || fail "apply of the tree package"
diff -r "$T/tree-out" "$T/t2" > /dev/null || fail "the tree package does not rebuild the new tree"
# The tree job stored the segments' join as game.pak's block: the file
# pair's patch (the same join) is inside the package, byte for byte.
python3 -c 'import sys; sys.exit(open(sys.argv[1], "rb").read() not in open(sys.argv[2], "rb").read())' \
  "$T/one.patch" "$T/tree.patch" || fail "the tree package does not hold the joined patch"
grep -q "event=blob_dropped" "$T/tree/coordinator.log" || fail "the tree's segments were not dropped"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"; tail -n 30 "$T"/*/coordinator.log "$T"/*/w*.log
  exit 1
fi
echo "segment job checks passed"
