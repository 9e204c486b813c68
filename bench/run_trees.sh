#!/usr/bin/env bash
# Tree benchmark: the corpus's tree families (whole package directories, several
# versions) in one fresh run of every tool. Peers diff tar(old) -> tar(new); ours
# runs on the directories (tree packages) and, for reference, on the same tars.
# Every result is applied and checked (trees file by file). Then the 2,000-file
# apply benchmark (bench/tree_apply.sh). Writes the tree section of
# bench/RESULTS.md. Results: ${PEERBENCH_DIR:-~/.cache/patchfarm-bench}-trees/results.csv.
# Usage: bench/run_trees.sh [--families prettier]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
main_dir="${PEERBENCH_DIR:-$HOME/.cache/patchfarm-bench}"
tools/build.sh
"$SHARED/bench/fetch_corpus.sh"
work="$main_dir-trees"  # A separate results.csv: --fresh must not discard the file families.
mkdir -p "$work"
ln -sfn "$main_dir/corpus" "$work/corpus"
families="$(awk -F'\t' 'NR > 1 && $5 == "tree" {print $1}' "$main_dir/corpus/manifest.tsv" | sort -u | paste -sd,)"
PF="$PWD/dist/bin/patchfarm"
export OURS_DIFF="$PF diff {old} {new} {patch}" OURS_APPLY="$PF apply {old} {patch} {out}" OURS_INPUT=both
export OURS_FAST_DIFF="$PF diff --fast-apply {old} {new} {patch}" OURS_FAST_APPLY="$PF apply {old} {patch} {out}"
export OURS_FAST_INPUT=both
export HDIFFZ="$SHARED/bench/peers/hdiffz" HPATCHZ="$SHARED/bench/peers/hpatchz"
PEERBENCH_DIR="$work" python3 "$SHARED/bench/run_peers.py" --fresh --families "$families" \
  --tools ours,ours-fast,bsdiff,xdelta3-9,zstd-19-patch,zstd-22-patch,hdiffz-m-lzma2 \
  --slow-limit 100000 "$@" ||
  echo "run_peers.py exited $? (see above)" >&2
bench/tree_apply.sh > "$work/tree_apply.md"
python3 bench/summarize_trees.py "$work/results.csv" "$work/tree_apply.md" \
  "bench/run_trees.sh${*:+ $*}" bench/RESULTS.md
echo "updated bench/RESULTS.md"
