#!/usr/bin/env bash
# The farm on the corpus: a coordinator and 1, then 2, worker processes
# (--jobs 1 --threads 1 each: one core per worker) make every planned patch of
# esbuild's linux-x64 series (10 releases submitted in order, cumulative
# window 10: 45 jobs). Wall time from the first submit to the last job done,
# then the scheduler throughput and index-cache benchmarks. Writes the farm
# section of bench/RESULTS.md.  Usage: bench/farm_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null
corpus="${PEERBENCH_DIR:-$HOME/.cache/patchfarm-bench}/corpus"
bazel build //bench:scheduler_throughput //bench:index_cache > /dev/null 2>&1
PF="$PWD/dist/bin/patchfarm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mapfile -t versions < <(awk -F'\t' '$1 == "esbuild" && $2 == "linux-x64" {print $3}' \
  "$corpus/manifest.tsv")

run() {  # WORKERS -> prints seconds. Runs in a subshell: stops its own processes.
  local n=$1 dir="$work/run$1" mine=()
  mkdir -p "$dir"
  dist/bin/patchfarm-coordinator --plaintext --listen 127.0.0.1:0 --data "$dir/data" --port-file "$dir/port" \
    > "$dir/coordinator.log" 2>&1 &
  mine+=("$!")
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
  local addr; addr="$(cat "$dir/port")"
  for i in $(seq "$n"); do
    dist/bin/patchfarm-worker --coordinator "$addr" --cache "$dir/cache$i" --jobs 1 --threads 1 \
      --id "w$i" > "$dir/w$i.log" 2>&1 &
    mine+=("$!")
  done
  local start; start=$(date +%s.%N)
  for v in "${versions[@]}"; do
    "$PF" submit --coordinator "$addr" --product esbuild --platform linux-x64 --version "$v" \
      "$corpus/esbuild/linux-x64/$v/package/bin/esbuild" > /dev/null
  done
  for v in "${versions[@]}"; do
    "$PF" submit --coordinator "$addr" --product esbuild --platform linux-x64 --version "$v" --wait \
      "$corpus/esbuild/linux-x64/$v/package/bin/esbuild" > /dev/null
  done
  local end; end=$(date +%s.%N)
  "$PF" status --coordinator "$addr" > "$dir/status.txt"
  kill "${mine[@]}" 2>/dev/null || true
  wait "${mine[@]}" 2>/dev/null || true
  echo "$end - $start" | bc
}
one=$(run 1)
two=$(run 2)
jobs=$(grep -c " done " "$work/run2/status.txt" || true)
sched="$(.bazel/bin/bench/scheduler_throughput 500 50)"
v=("${versions[@]}")
index="$(.bazel/bin/bench/index_cache \
  "$corpus/esbuild/linux-x64/${v[3]}/package/bin/esbuild" "$corpus/esbuild/linux-x64/${v[4]}/package/bin/esbuild" \
  "$corpus/esbuild/linux-x64/${v[5]}/package/bin/esbuild" "$corpus/esbuild/linux-x64/${v[6]}/package/bin/esbuild" \
  "$corpus/esbuild/linux-x64/${v[7]}/package/bin/esbuild" "$corpus/esbuild/linux-x64/${v[8]}/package/bin/esbuild" \
  | sed "s|$corpus/||g")"
python3 - bench/RESULTS.md "$one" "$two" "$jobs" "$sched" "$index" <<'PY'
import sys, time
path, one, two, jobs, sched, index = sys.argv[1:7]
one, two = float(one), float(two)
text = f"""## The farm

Measured with `bench/farm_corpus.sh` on {time.strftime('%Y-%m-%d')} (2 cores, shared).

End to end on the corpus: esbuild linux-x64, 10 releases submitted in order
(cumulative window 10: {jobs} jobs), coordinator and worker processes on loopback,
each worker `--jobs 1 --threads 1`; from the first submit to the last job done:

| workers | seconds | x one worker |
|---|---|---|
| 1 | {one:.1f} | 1.00 |
| 2 | {two:.1f} | {two / one:.2f} |

Target: 2 workers <= 0.6 x one worker.

Scheduler throughput (`bazel run //bench:scheduler_throughput -- 500 50`: trivial
jobs, real RocksDB and gRPC on loopback, 50 simulated workers; target >= 2,000 jobs/s):

```
{sched.strip()}
```

Suffix-array cache (`bazel run //bench:index_cache -- OLD NEW ...`): the engine step
of a job with a cold cache, then with the old side indexed in the worker's RocksDB;
patches identical (target >= 1.5 x):

{index.strip()}"""
sys.path.insert(0, "bench")
from results_md import replace_section
replace_section(path, "farm", text)
PY
echo "wrote the farm section of bench/RESULTS.md: 1 worker ${one}s, 2 workers ${two}s"
