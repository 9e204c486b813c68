#!/usr/bin/env bash
# The main job (until the farm exists): builds patchfarm, compiles a sample
# program in five release versions, makes consecutive and cumulative patches to
# the newest, applies each and checks the result bit for bit, and prints patch
# sizes beside a plain compressed download of the new version.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
PF="$PWD/dist/bin/patchfarm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

versions=(0 1 2 3 4)
for v in "${versions[@]}"; do
  python3 examples/make_sample_release.py "$v" > "$work/app-5.0.$v.c"
  gcc -O2 -o "$work/app-5.0.$v" "$work/app-5.0.$v.c"
done
newest="${versions[-1]}"
new="$work/app-5.0.$newest"
full=$(zstd -19 -q -c "$new" | wc -c)

printf '\n%-22s %10s %10s %10s %8s %10s  %s\n' "patch" "new bytes" "full.zst" "patch" "% full" \
  "bsdiff" "apply"
row() {  # old_version new_version
  local old="$work/app-5.0.$1" new="$work/app-5.0.$2" patch="$work/from_linux-x64_5.0.$1-to-5.0.$2"
  "$PF" diff "$old" "$new" "$patch" > /dev/null
  "$PF" apply "$old" "$patch" "$work/out"
  cmp -s "$work/out" "$new" && ok="bit-exact" || { echo "MISMATCH"; exit 1; }
  bsdiff "$old" "$new" "$work/bsdiff.patch"
  local nsize psize zsize bsize
  nsize=$(stat -c %s "$new"); psize=$(stat -c %s "$patch"); zsize=$(zstd -19 -q -c "$new" | wc -c)
  bsize=$(stat -c %s "$work/bsdiff.patch")
  printf '%-22s %10d %10d %10d %7.1f%% %10d  %s\n' "5.0.$1 -> 5.0.$2" "$nsize" "$zsize" "$psize" \
    "$(awk "BEGIN { print 100 * $psize / $zsize }")" "$bsize" "$ok"
}
echo "consecutive:"
for ((i = 1; i < ${#versions[@]}; i++)); do row "${versions[i-1]}" "${versions[i]}"; done
echo "cumulative (to the newest, 5.0.$newest):"
for ((i = 0; i < ${#versions[@]} - 1; i++)); do row "${versions[i]}" "$newest"; done
"$work/app-5.0.$newest" > /dev/null && "$work/out" > /dev/null && echo "the patched program runs"
echo "full download (zstd -19) of 5.0.$newest: $full bytes"
