#!/usr/bin/env bash
# One huge pair through the farm (issue 13, item 3): the make_pak.py pack
# pair of bench/huge_pack.sh submitted to a coordinator (--segment-size) and
# diffed by 1, then by 2 workers (--jobs 1, --threads ${THREADS:-1} and
# --job-memory each: with one engine thread a worker, the 2 workers use what
# two machines' single cores would), on loopback.
# The clock runs from the workers' start (both releases uploaded before) to
# the pair's patch being done. Prints one row per worker count: wall seconds,
# patch bytes, bytes above the floor, the largest worker's peak RSS, the
# coordinator's CPU seconds on the clock (it serves every ranged read of old
# and new);
# checks that both patches are the same bytes and apply bit-exact.
#   bench/farm_segments.sh 1G 64M 1G    # pack size, segment size, job memory
# Data goes to ${HUGE_DIR:-/tmp/patchfarm-huge} (the pack pair, and a
# coordinator's copy of it during each run: about 5 x the pack size).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-1G}" SEGMENT="${2:-128M}" MEMORY="${3:-1G}"
DIR="${HUGE_DIR:-/tmp/patchfarm-huge}"
tools/build.sh > /dev/null 2>&1
PF="$PWD/dist/bin/patchfarm"
[ -s "$DIR/old-$SIZE.pak" ] || { echo "make the pack pair first: bench/huge_pack.sh $SIZE" >&2; exit 1; }
floor=$(sed -n 's/.*fresh bytes (no patch can be smaller): \([0-9]*\).*/\1/p' "$DIR/make-$SIZE.txt")
mkdir -p "$DIR/farm-rel/old" "$DIR/farm-rel/new"
ln -f "$(readlink -f "$DIR/old-$SIZE.pak")" "$DIR/farm-rel/old/game.pak"  # Hard links: submit takes no symlink.
ln -f "$(readlink -f "$DIR/new-$SIZE.pak")" "$DIR/farm-rel/new/game.pak"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

echo "pack $SIZE, segments of $SEGMENT, $MEMORY and ${THREADS:-1} threads a worker; floor $floor fresh bytes"
echo "| workers | wall s | patch bytes | MB above floor | worker peak MiB | coordinator CPU s |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for workers in 1 2; do
  run="$DIR/farm-$workers"
  rm -rf "$run" && mkdir -p "$run"
  dist/bin/patchfarm-coordinator --plaintext --listen 127.0.0.1:0 --data "$run/coordinator" \
    --port-file "$run/port" --segment-size "$SEGMENT" > "$run/coordinator.log" 2>&1 &
  coordinator=$!
  pids+=("$coordinator")
  for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
  addr="$(cat "$run/port")"
  for v in old new; do
    "$PF" submit --coordinator "$addr" --product pak --platform any \
      --version "$([ $v = old ] && echo 1.0 || echo 1.1)" "$DIR/farm-rel/$v/game.pak" > /dev/null
  done
  start=$(date +%s.%N)
  cpu0=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$coordinator/stat")
  for i in $(seq "$workers"); do
    /usr/bin/time -f "%M" -o "$run/w$i.rss" dist/bin/patchfarm-worker --coordinator "$addr" \
      --cache "$run/cache$i" --jobs 1 --threads "${THREADS:-1}" --id "w$i" --job-memory "$MEMORY" \
      > "$run/w$i.log" 2>&1 &
    pids+=("$!")
  done
  "$PF" submit --coordinator "$addr" --product pak --platform any --version 1.1 --wait \
    "$DIR/farm-rel/new/game.pak" > /dev/null
  end=$(date +%s.%N)
  "$PF" request --coordinator "$addr" --product pak --platform any --from 1.0 --to 1.1 \
    -o "$run/patch" > /dev/null
  for i in $(seq "$workers"); do "$PF" workers --coordinator "$addr" --drain "w$i" > /dev/null; done
  wait "${pids[@]: -$workers}" 2>/dev/null || true
  rss=$(cat "$run"/w*.rss | sort -n | tail -n 1)
  bytes=$(stat -c %s "$run/patch")
  cpu=$(awk -v hz="$(getconf CLK_TCK)" -v from="$cpu0" '{print ($14 + $15) / hz - from}' \
    "/proc/$coordinator/stat")
  printf "| %d | %.0f | %d | %.2f | %d | %.0f |\n" "$workers" "$(python3 -c "print($end - $start)")" \
    "$bytes" "$(python3 -c "print(($bytes - $floor) / 1e6)")" "$((rss / 1024))" "$cpu"
  kill "${pids[@]}" 2>/dev/null || true
  pids=()
  rm -rf "$run/coordinator" "$run"/cache*  # The pair's copy: disk for the next run.
done
cmp -s "$DIR/farm-1/patch" "$DIR/farm-2/patch" || { echo "1 and 2 workers made different patches" >&2; exit 1; }
"$PF" apply "$DIR/old-$SIZE.pak" "$DIR/farm-1/patch" "$DIR/farm-out.pak" > /dev/null
cmp -s "$DIR/farm-out.pak" "$DIR/new-$SIZE.pak" || { echo "the patch does not rebuild new" >&2; exit 1; }
rm -f "$DIR/farm-out.pak"
echo "same patch from 1 and 2 workers; applied bit-exact"
