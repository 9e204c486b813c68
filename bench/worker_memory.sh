#!/usr/bin/env bash
# A worker's peak memory on file jobs beside the CLI's on the same pair: a
# coordinator and one worker (--jobs 1, its index cache on) on loopback, file
# releases V1 and V2 submitted in turn, then V3 if given (whose job from V1
# loads V1's cached index). Prints the worker's peak RSS over the run, the
# seconds from V2's submission to its patch, and `patchfarm diff V1 V2`'s
# peak RSS. A worker should take little more than the CLI: what it adds is
# its index cache (RocksDB) and its connection.
#   bench/worker_memory.sh V1 V2 [V3]    # files, e.g. three builds of biome
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/worker_memory.sh V1 V2 [V3]" >&2; exit 2; }
tools/build.sh > /dev/null 2>&1
B="$PWD/dist/bin"
run="$(mktemp -d "${TMPDIR:-/tmp}/patchfarm-worker-memory.XXXXXX")"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$run"' EXIT
n=0
for f in "$@"; do  # Hard links (submit takes no symlink) on the same file system, else copies.
  n=$((n + 1)); mkdir -p "$run/$n"
  ln -f "$(readlink -f "$f")" "$run/$n/f" 2>/dev/null || cp "$(readlink -f "$f")" "$run/$n/f"
done
"$B/patchfarm-coordinator" --plaintext --listen 127.0.0.1:0 --data "$run/c" \
  --port-file "$run/port" > "$run/c.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
addr="$(cat "$run/port")"
submit() { "$B/patchfarm" submit --coordinator "$addr" --product p --platform any "$@" > /dev/null; }
submit --version 1 "$run/1/f"
/usr/bin/time -f "%M" -o "$run/w.rss" "$B/patchfarm-worker" --coordinator "$addr" \
  --cache "$run/cache" --jobs 1 --id w1 > "$run/w.log" 2>&1 &
worker=$!
pids+=("$worker")
start=$(date +%s.%N)
submit --version 2 --wait "$run/2/f"
end=$(date +%s.%N)
[ $# -ge 3 ] && submit --version 3 --wait "$run/3/f"
"$B/patchfarm" workers --coordinator "$addr" --drain w1 > /dev/null
wait "$worker" || true
/usr/bin/time -f "%M" -o "$run/cli.rss" "$B/patchfarm" diff "$run/1/f" "$run/2/f" "$run/cli.patch" \
  > /dev/null
printf "worker peak %d MiB (%d releases), V1 -> V2 in %.1f s; patchfarm diff V1 V2 peak %d MiB\n" \
  "$(( $(cat "$run/w.rss") / 1024 ))" "$#" "$(python3 -c "print($end - $start)")" \
  "$(( $(cat "$run/cli.rss") / 1024 ))"
