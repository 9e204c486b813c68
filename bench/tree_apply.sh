#!/usr/bin/env bash
# Tree apply speed: a 2,000-file release (bench/make_tree_release.py) and its
# next version. Times `cp -a` of the old tree, `patchfarm apply OLD PKG OUT` and
# `patchfarm apply --in-place` on a copy, REPS times each (default 7), with
# `sync` before each timing so earlier writes are not billed to the next
# command. The machine is shared and noisy: commands are interleaved, and the
# table gives medians of times and of per-round ratios to cp -a.
# Prints a Markdown table on stdout.
# Usage: bench/tree_apply.sh [REPS] [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-15}"
files="${2:-2000}"
PF="$PWD/dist/bin/patchfarm"
[ -x "$PF" ] || tools/build.sh > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 bench/make_tree_release.py "$work/old" "$work/new" "$files"
"$PF" diff "$work/old" "$work/new" "$work/pkg" > "$work/diff.out"
now() { date +%s.%N; }
declare -a cp_t apply_t inplace_t apply_r inplace_r
for i in $(seq "$reps"); do
  rm -rf "$work/copy" "$work/out" "$work/install"
  cp -a "$work/old" "$work/install"
  sync; s=$(now); cp -a "$work/old" "$work/copy"; e=$(now); cp_t+=("$(echo "$e - $s" | bc)")
  sync; s=$(now); "$PF" apply "$work/old" "$work/pkg" "$work/out" > /dev/null; e=$(now)
  apply_t+=("$(echo "$e - $s" | bc)")
  sync; s=$(now); "$PF" apply --in-place "$work/install" "$work/pkg" > /dev/null; e=$(now)
  inplace_t+=("$(echo "$e - $s" | bc)")
  apply_r+=("$(echo "${apply_t[-1]} / ${cp_t[-1]}" | bc -l)")
  inplace_r+=("$(echo "${inplace_t[-1]} / ${cp_t[-1]}" | bc -l)")
done
diff -r "$work/out" "$work/new" > /dev/null || { echo "out-of-place result differs" >&2; exit 1; }
rm -rf "$work/install/.patchfarm"
diff -r "$work/install" "$work/new" > /dev/null || { echo "in-place result differs" >&2; exit 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cp_m=$(median "${cp_t[@]}"); apply_m=$(median "${apply_t[@]}"); inplace_m=$(median "${inplace_t[@]}")
echo "Tree: $files files, $(du -sk "$work/old" | cut -f1) KiB; package $(stat -c %s "$work/pkg") bytes"
echo "($(cat "$work/diff.out" | sed 's/^[^:]*: //')). Medians of $reps runs:"
echo
echo "| command | median s | median x cp -a (per round) |"
echo "|---|---|---|"
printf '| cp -a OLD COPY | %.3f | 1.00 |\n' "$cp_m"
printf '| patchfarm apply OLD PKG OUT | %.3f | %.2f |\n' "$apply_m" "$(median "${apply_r[@]}")"
printf '| patchfarm apply --in-place INSTALL PKG | %.3f | %.2f |\n' "$inplace_m" "$(median "${inplace_r[@]}")"
