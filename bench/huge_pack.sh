#!/usr/bin/env bash
# Huge files (issue 13): a game-like pack pair from make_pak.py, diffed by ours
# in bounded memory (--max-memory), by ours whole-file (unbounded; skip with
# UNBOUNDED=0) and by HDiffPatch's bounded stream mode
# (hdiffz -s-64 -SD -c-lzma2-9-16m), each patch applied back and compared.
# Prints one table row per tool: patch bytes, bytes above the floor (the new
# pack's fresh bytes, which no patch can avoid), diff and apply wall seconds and
# peak RSS (GNU time: Debian's package "time").
#   bench/huge_pack.sh 1G 256M 1G      # pack size, then each budget to try
# Data goes to ${HUGE_DIR:-/tmp/patchfarm-huge} (about 3 x the pack size).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
SIZE="${1:-1G}"
shift || true
BUDGETS=("${@:-256M}")
DIR="${HUGE_DIR:-/tmp/patchfarm-huge}"
mkdir -p "$DIR"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null
PF="$PWD/dist/bin/patchfarm"
if [ ! -s "$DIR/old-$SIZE.pak" ]; then
  python3 "$SHARED/bench/make_pak.py" --size "$SIZE" --seed 7 \
    --corpus "$HOME/.cache/patchfarm-bench/corpus" "$DIR/old-$SIZE.pak" "$DIR/new-$SIZE.pak" \
    | tee "$DIR/make-$SIZE.txt"
fi
floor=$(sed -n 's/.*fresh bytes (no patch can be smaller): \([0-9]*\).*/\1/p' "$DIR/make-$SIZE.txt")
old="$DIR/old-$SIZE.pak" new="$DIR/new-$SIZE.pak" out="$DIR/out.pak"

source bench/diff_apply.sh
row() {  # name, diff command..., then "--", apply command...
  local name="$1"
  shift
  diff_apply "$DIR" "$DIR/$name.patch" "$out" "$new" "$@"
  printf "| %s | %d | %.2f | %.0f | %d | %.1f | %d |\n" "$name" "$patch_bytes" \
    "$(python3 -c "print(($patch_bytes - $floor) / 1e6)")" "$diff_s" "$((diff_kib / 1024))" \
    "$apply_s" "$((apply_kib / 1024))"
}
echo "pack $SIZE: $(stat -Lc %s "$old") -> $(stat -Lc %s "$new") bytes, floor $floor fresh bytes"
echo "| tool | patch bytes | MB above floor | diff s | diff MiB | apply s | apply MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for budget in "${BUDGETS[@]}"; do
  row "ours-$budget" "$PF" diff --max-memory "$budget" "$old" "$new" "$DIR/ours-$budget.patch" \
    -- "$PF" apply "$old" "$DIR/ours-$budget.patch" "$out"
done
if [ "${UNBOUNDED:-1}" = 1 ]; then
  row ours-unbounded "$PF" diff --max-memory 1T "$old" "$new" "$DIR/ours-unbounded.patch" \
    -- "$PF" apply "$old" "$DIR/ours-unbounded.patch" "$out"
fi
row hdiffz-s "$SHARED/bench/peers/hdiffz" -s-64 -SD -c-lzma2-9-16m -f "$old" "$new" "$DIR/hdiffz-s.patch" \
  -- "$SHARED/bench/peers/hpatchz" -f "$old" "$DIR/hdiffz-s.patch" "$out"
