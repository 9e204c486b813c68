#!/usr/bin/env bash
# Measures patchfarm beside bsdiff, xdelta3 -9 and zstd -19 --long --patch-from on
# the benchmark corpus (real release builds of other projects) and writes
# bench/RESULTS.md. Every pair is applied and checked bit for bit.
#   bench/run_corpus.sh            # one fresh run of every tool (about an hour)
#   bench/run_corpus.sh --families esbuild --pairs consecutive   # a subset
# Results accumulate in ${PEERBENCH_DIR:-~/.cache/patchfarm-bench}/results.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh
"$SHARED/bench/fetch_corpus.sh"
PF="$PWD/dist/bin/patchfarm"
export OURS_DIFF="$PF diff {old} {new} {patch}"
export OURS_APPLY="$PF apply {old} {patch} {out}"
export OURS_FAST_DIFF="$PF diff --fast-apply {old} {new} {patch}"
export OURS_FAST_APPLY="$PF apply {old} {patch} {out}"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--fresh)
# run_peers.py's own summary can fail on rows it skipped; ours is written below.
python3 "$SHARED/bench/run_peers.py" --tools ours,ours-fast,bsdiff,xdelta3-9,zstd-19-patch \
  --slow-limit 100000 "${args[@]}" || echo "run_peers.py exited $? (see above)" >&2
python3 bench/summarize.py "${PEERBENCH_DIR:-$HOME/.cache/patchfarm-bench}/results.csv" \
  "bench/run_corpus.sh ${*:-}" > bench/RESULTS.md.tmp
mv bench/RESULTS.md.tmp bench/RESULTS.md
echo "wrote bench/RESULTS.md"
