#!/usr/bin/env bash
# The farm end to end with real processes on loopback: a coordinator and three
# workers (ports chosen by the OS); five releases x two platforms of a release
# tree submitted; one worker kill -9'd while it runs a job and the coordinator
# kill -9'd and restarted on the same data mid-run. At the end every package
# the coordinator still lists (at least those its retention keeps) exists and
# applies bit-exact, and submitting again is idempotent.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT

# Releases: a 1.5 MB executable-like file edited per version, data files, a
# symlink; each platform differs.
python3 - "$T/rel" <<'PY'
import os, random, sys
root = sys.argv[1]
for platform in ("linux-x64", "win32-x64"):
    rng = random.Random(platform)
    exe = bytearray(rng.randbytes(1_500_000))
    for v in range(1, 6):
        for _ in range(20):  # Edits that shift code around.
            at = rng.randrange(len(exe))
            exe[at:at] = rng.randbytes(rng.randrange(1, 200))
        d = os.path.join(root, platform, f"2.0.{v}")
        os.makedirs(os.path.join(d, "bin"))
        os.makedirs(os.path.join(d, "data"))
        open(os.path.join(d, "bin", "app"), "wb").write(exe)
        os.chmod(os.path.join(d, "bin", "app"), 0o755)
        for i in range(5):
            open(os.path.join(d, "data", f"level{i}.txt"), "w").write(f"level {i} of 2.0.{v}\n" * 200)
        os.symlink("app", os.path.join(d, "bin", "current"))
PY

start_coordinator() {  # [PORT]
  "$COORDINATOR" --plaintext --listen "127.0.0.1:${1:-0}" --data "$T/data" --port-file "$T/port" \
    --lease-seconds 3 --http-listen 127.0.0.1:0 >> "$T/coordinator.log" 2>&1 &
  coordinator_pid=$!
  pids+=("$coordinator_pid")
  for _ in $(seq 100); do
    [ -s "$T/port" ] && "$PF" status --coordinator "$(cat "$T/port")" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "coordinator did not start"; cat "$T/coordinator.log"; exit 1
}
start_coordinator
addr="$(cat "$T/port")"
port="${addr##*:}"
declare -A worker_pid
for i in 1 2 3; do
  "$WORKER" --coordinator "$addr" --cache "$T/cache$i" --jobs 1 --id "w$i" --http-listen 127.0.0.1:0 \
    > "$T/w$i.log" 2>&1 &
  worker_pid[w$i]=$!
  pids+=("$!")
done

submit() {  # PLATFORM VERSION [extra flags]
  "$PF" submit --coordinator "$addr" --product game --platform "$1" --version "$2" "${@:3}" \
    "$T/rel/$1/$2"
}
for v in 1 2 3; do
  for p in linux-x64 win32-x64; do submit "$p" "2.0.$v" > /dev/null || fail "submit $p 2.0.$v"; done
done

# Kill -9 a worker while it holds a job: the first one the coordinator's log
# shows leased and not done (read every 10 ms; asking `patchfarm workers` for
# a running job missed jobs that took 50 ms).
killed=""
for _ in $(seq 2000); do
  while read -r job worker; do
    if ! grep -q "event=job_done job=$job " "$T/coordinator.log"; then
      killed="$worker"
      break
    fi
  done < <(sed -n 's/.*event=job_leased job=\([0-9a-f]*\) .* worker=\(w[0-9]\)\( .*\)*$/\1 \2/p' \
             "$T/coordinator.log")
  if [ -n "$killed" ]; then
    kill -9 "${worker_pid[$killed]}"
    break
  fi
  sleep 0.01
done
[ -n "$killed" ] || fail "no worker was ever seen holding a job"
echo "killed worker $killed mid-job"

# Kill -9 the coordinator mid-run; restart it on the same data and port.
for v in 4; do
  for p in linux-x64 win32-x64; do submit "$p" "2.0.$v" > /dev/null || fail "submit $p 2.0.$v"; done
done
kill -9 "$coordinator_pid"
sleep 0.5
rm -f "$T/port"
start_coordinator "$port"
echo "coordinator restarted"
for p in linux-x64 win32-x64; do submit "$p" 2.0.5 > /dev/null || fail "submit $p 2.0.5"; done

# Every release completes; submitting again is idempotent and waits.
for v in 1 2 3 4 5; do
  for p in linux-x64 win32-x64; do
    out="$(submit "$p" "2.0.$v" --wait 2>&1)" || fail "release $p 2.0.$v did not finish: $out"
    echo "$out" | grep -q "already submitted" || fail "resubmitting $p 2.0.$v was not idempotent"
  done
done

# Every package listed exists and applies bit-exact.
"$PF" status --coordinator "$addr" --json > "$T/status.json" || fail "status --json"
python3 - "$T/status.json" > "$T/jobs.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for r in s.get("releases", []):
    for j in r.get("jobs", []):
        print(r["release"]["platform"], j["fromVersion"], j["toVersion"], j["state"])
PY
# Retention (core/release/retention.h) drops a finished job that no policy
# keeps once a newer release is submitted, so how many of the 20 planned are
# left depends on how fast the workers were. What the default policy keeps
# for 2.0.5 is always there: the cumulative patches to it and the chain.
planned=$(wc -l < "$T/jobs.txt")
[ "$planned" -ge 14 ] && [ "$planned" -le 20 ] || fail "expected 14-20 jobs, got $planned"
for platform in linux-x64 win32-x64; do
  for pair in "2.0.1 2.0.5" "2.0.2 2.0.5" "2.0.3 2.0.5" "2.0.4 2.0.5" "2.0.1 2.0.2" "2.0.2 2.0.3" \
              "2.0.3 2.0.4"; do
    grep -q "^$platform $pair " "$T/jobs.txt" || fail "no job $platform $pair"
  done
done
while read -r platform from to state; do
  [ "$state" = JOB_STATE_DONE ] || fail "job $platform $from -> $to is $state"
  pkg="$T/pkg-$platform-$from-$to"
  "$PF" request --coordinator "$addr" --product game --platform "$platform" --from "$from" --to "$to" \
    -o "$pkg" > /dev/null || { fail "request $platform $from -> $to"; continue; }
  "$PF" apply "$T/rel/$platform/$from" "$pkg" "$T/out-$platform-$from-$to" > /dev/null ||
    { fail "apply $platform $from -> $to"; continue; }
  diff -r "$T/out-$platform-$from-$to" "$T/rel/$platform/$to" > /dev/null ||
    fail "package $platform $from -> $to does not rebuild the release"
done < "$T/jobs.txt"
# Bytes planted in the download store under the package's name are not taken.
read -r platform from to state < "$T/jobs.txt"
hex=$(sha256sum "$T/pkg-$platform-$from-$to" | cut -c1-64)
mkdir -m 700 -p "$T/planted.download/${hex:0:2}"
echo "not the package" > "$T/planted.download/${hex:0:2}/$hex"
"$PF" request --coordinator "$addr" --product game --platform "$platform" --from "$from" --to "$to" \
  -o "$T/planted" > /dev/null 2> "$T/err" && fail "a planted package was taken"
grep -q "is not the package" "$T/err" || fail "planted package: $(cat "$T/err")"
[ -e "$T/planted" ] && fail "a planted package was moved into place"

# Metrics and the status page.
http="$(grep -o 'http://[0-9.:]*' "$T/coordinator.log" | tail -n 1)"
curl -sf "$http/metrics" > "$T/metrics" || fail "coordinator /metrics"
grep -q "^patchfarm_jobs{state=\"done\"} $planned\$" "$T/metrics" ||
  fail "metrics: $(grep patchfarm_jobs "$T/metrics")"
grep -q '^patchfarm_queue_depth{priority="release"} 0$' "$T/metrics" || fail "queue depth metric"
# The histograms count every job finished since the coordinator started (and
# those done when it loaded), retention's drops included: at least those left.
sized=$(sed -n 's/^patchfarm_patch_size_bytes_count \([0-9]*\)$/\1/p' "$T/metrics")
[ -n "$sized" ] && [ "$sized" -ge "$planned" ] || fail "patch size histogram: ${sized:-none}"
grep -q "^patchfarm_patch_size_bytes_bucket{le=\"+Inf\"} $sized\$" "$T/metrics" ||
  fail "patch size histogram's +Inf bucket"
grep -q '^patchfarm_lease_expiries_total' "$T/metrics" || fail "lease expiry metric"
curl -sf "$http/" > "$T/status.html" || fail "status page"
grep -q "game/linux-x64/stable/2.0.5" "$T/status.html" || fail "status page lacks a release"
grep -q "<svg" "$T/status.html" || fail "status page lacks the size chart"
for w in w1 w2 w3; do
  [ "$w" = "$killed" ] && continue
  whttp="$(grep -o 'http://[0-9.:]*' "$T/$w.log" | tail -n 1)"
  curl -sf "$whttp/metrics" | grep -q '^patchfarm_worker_jobs_total{result="done"}' || fail "$w /metrics"
done

grep -q "^patchfarm-coordinator: event=job_done job=[0-9a-f]* from=2.0.1 to=2.0.2 worker=w" "$T/coordinator.log" ||
  fail "no structured job log lines"
grep -q "^patchfarm-coordinator: event=release_submitted release=game/linux-x64/stable/2.0.5 jobs=4" \
  "$T/coordinator.log" || fail "no structured release log line"

# Clear errors for bad requests.
"$PF" submit --coordinator "$addr" --product 'bad/name' --platform linux-x64 --version 1 \
  "$T/rel/linux-x64/2.0.1" 2> "$T/err" && fail "a bad product name was accepted"
grep -q "may hold only" "$T/err" || fail "bad-name message: $(cat "$T/err")"
"$PF" request --coordinator "$addr" --product nosuch --platform linux-x64 --from 1 --to 2 -o "$T/x" \
  2> "$T/err" && fail "a request for an unknown product succeeded"
grep -q "no release" "$T/err" || fail "unknown-product message: $(cat "$T/err")"

# Drained workers finish and exit, leaving no lease to run out: the first
# one left by SIGTERM (as systemd and Kubernetes stop it), the others by RPC.
expiries_before=$(curl -sf "$http/metrics" | grep '^patchfarm_lease_expiries_total' | cut -d' ' -f2)
termed=""
for w in w1 w2 w3; do
  [ "$w" = "$killed" ] && continue
  if [ -z "$termed" ]; then
    termed="$w"
    kill -TERM "${worker_pid[$w]}"
    wait "${worker_pid[$w]}"
    rc=$?
    [ "$rc" = 0 ] || fail "worker $w exited $rc on SIGTERM, not 0 after a drain"
    grep -q "signal 15: finishing held jobs" "$T/$w.log" || fail "worker $w did not drain on SIGTERM"
    continue
  fi
  # A worker that found no job since the coordinator's restart may still be
  # backing off its reconnect (up to 10 s between tries): the
  # coordinator only knows it once it is back.
  for _ in $(seq 300); do
    "$PF" workers --coordinator "$addr" 2> /dev/null | grep -q "^$w " && break
    sleep 0.1
  done
  "$PF" workers --coordinator "$addr" --drain "$w" > /dev/null || fail "drain $w"
done
for w in w1 w2 w3; do
  [ "$w" = "$killed" ] && continue
  for _ in $(seq 100); do kill -0 "${worker_pid[$w]}" 2>/dev/null || break; sleep 0.1; done
  kill -0 "${worker_pid[$w]}" 2>/dev/null && fail "drained worker $w did not exit"
done
sleep 4  # Longer than the 3 s lease: a lease left behind would have expired by now.
expiries_after=$(curl -sf "$http/metrics" | grep '^patchfarm_lease_expiries_total' | cut -d' ' -f2)
[ "$expiries_after" = "$expiries_before" ] || fail "draining left leases to expire ($expiries_before -> $expiries_after)"
grep -q "^patchfarm-coordinator: event=worker_draining worker=w" "$T/coordinator.log" || fail "no drain log line"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"; tail -n 20 "$T/coordinator.log" "$T"/w*.log
  exit 1
fi
echo "farm end-to-end checks passed"
