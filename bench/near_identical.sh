#!/usr/bin/env bash
# A big file that barely changed (issue 13): 100 MiB of the corpus's
# executables and the same with a few small edits (bench/near_identical.py:
# pair a, 20 runs of 100 bytes overwritten; pair b, an insertion, a removal
# and 10 overwritten runs), diffed by ours with its default budget and by
# HDiffPatch (hdiffz -m-6 -SD -c-lzma2-9-16m, and its stream mode -s-64),
# each patch applied back and compared. Prints one table row per pair and
# tool: patch bytes, diff and apply wall seconds and peak RSS (GNU time).
#   bench/near_identical.sh          # data in ${NEAR_DIR:-/tmp/patchfarm-near}
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
DIR="${NEAR_DIR:-/tmp/patchfarm-near}"
mkdir -p "$DIR"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null
PF="$PWD/dist/bin/patchfarm" HDIFFZ="$SHARED/bench/peers/hdiffz" HPATCHZ="$SHARED/bench/peers/hpatchz"
corpus="$HOME/.cache/patchfarm-bench/corpus"
for pair in a b; do
  [ -s "$DIR/new-$pair.bin" ] || python3 bench/near_identical.py "$corpus" "$DIR/old.bin" "$DIR/new-$pair.bin" "$pair"
done

source bench/diff_apply.sh
row() {  # pair, tool, diff command..., then "--", apply command...
  local pair="$1" name="$2"
  shift 2
  diff_apply "$DIR" "$DIR/$name-$pair.patch" "$DIR/out.bin" "$DIR/new-$pair.bin" "$@"
  printf "| %s | %s | %d | %.2f | %d | %.2f | %d |\n" "$pair" "$name" "$patch_bytes" \
    "$diff_s" "$((diff_kib / 1024))" "$apply_s" "$((apply_kib / 1024))"
}
echo "| pair | tool | patch bytes | diff s | diff MiB | apply s | apply MiB |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for pair in a b; do
  old="$DIR/old.bin" new="$DIR/new-$pair.bin" out="$DIR/out.bin"
  row "$pair" ours "$PF" diff "$old" "$new" "$DIR/ours-$pair.patch" \
    -- "$PF" apply "$old" "$DIR/ours-$pair.patch" "$out"
  row "$pair" hdiffz-m "$HDIFFZ" -m-6 -SD -c-lzma2-9-16m -f "$old" "$new" "$DIR/hdiffz-m-$pair.patch" \
    -- "$HPATCHZ" -f "$old" "$DIR/hdiffz-m-$pair.patch" "$out"
  row "$pair" hdiffz-s "$HDIFFZ" -s-64 -SD -c-lzma2-9-16m -f "$old" "$new" "$DIR/hdiffz-s-$pair.patch" \
    -- "$HPATCHZ" -f "$old" "$DIR/hdiffz-s-$pair.patch" "$out"
done
