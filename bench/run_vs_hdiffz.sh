#!/usr/bin/env bash
# Measures the engine beside HDiffPatch (hdiffz -m-6 -SD -c-lzma2-9-16m, the
# build in ../shared/bench/peers) on the benchmark corpus, in one run, and
# writes the "Engine v2 against HDiffPatch" section of bench/RESULTS.md.
#   bench/run_vs_hdiffz.sh                       # esbuild, biome, prettier (~40 min)
#   bench/run_vs_hdiffz.sh --families esbuild    # a subset
# Results go to ${PEERBENCH_DIR:-/tmp/patchfarm-vs-hdiffz}/results.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh
"$SHARED/bench/fetch_corpus.sh"
export PEERBENCH_DIR="${PEERBENCH_DIR:-/tmp/patchfarm-vs-hdiffz}"
mkdir -p "$PEERBENCH_DIR"
ln -sfn "$HOME/.cache/patchfarm-bench/corpus" "$PEERBENCH_DIR/corpus"
PF="$PWD/dist/bin/patchfarm"
export OURS_DIFF="$PF diff {old} {new} {patch}" OURS_APPLY="$PF apply {old} {patch} {out}"
export OURS_FAST_DIFF="$PF diff --fast-apply {old} {new} {patch}" OURS_FAST_APPLY="$PF apply {old} {patch} {out}"
export HDIFFZ="$SHARED/bench/peers/hdiffz" HPATCHZ="$SHARED/bench/peers/hpatchz"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--families esbuild,biome,prettier)
python3 "$SHARED/bench/run_peers.py" --tools ours,ours-fast,hdiffz-m-lzma2 "${args[@]}"
python3 bench/vs_hdiffz.py "$PEERBENCH_DIR/results.csv" "bench/run_vs_hdiffz.sh ${*:-}"
