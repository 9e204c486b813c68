#!/usr/bin/env bash
# The main job (until the farm exists): builds patchfarm, compiles a sample
# program in five release versions, makes consecutive and cumulative patches to
# the newest, applies each and checks the result bit for bit, and prints patch
# sizes beside a plain compressed download of the new version. Then the same
# versions as release trees: tree packages, applied in place as one chain.
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

# Release trees: each version is a directory (the program, its source as a data
# file, docs, a symlink); 5.0.3 moves the data into a subdirectory. Tree
# packages are applied to an install in place, as a chain, keeping a user's file.
for v in "${versions[@]}"; do
  t="$work/tree-5.0.$v"
  mkdir -p "$t/bin" "$t/share/doc"
  cp "$work/app-5.0.$v" "$t/bin/app"
  data="$t/share/app.c"
  [ "$v" -ge 3 ] && { mkdir -p "$t/share/src"; data="$t/share/src/app.c"; }
  cp "$work/app-5.0.$v.c" "$data"
  echo "sample app 5.0.$v" > "$t/share/doc/VERSION"
  ln -s app "$t/bin/app-current"
done
echo
echo "release trees (package vs tar | zstd -19 of the new tree):"
chain=()
for ((i = 1; i < ${#versions[@]}; i++)); do
  pkg="$work/from_linux-x64_5.0.${versions[i-1]}.pftr"
  "$PF" diff "$work/tree-5.0.${versions[i-1]}" "$work/tree-5.0.${versions[i]}" "$pkg" | sed 's/^[^:]*: /  /' |
    sed "s/^/5.0.${versions[i-1]} -> 5.0.${versions[i]}:/"
  chain+=("$pkg")
done
echo "  full tar.zst of 5.0.$newest: $(tar -C "$work/tree-5.0.$newest" -cf - . | zstd -19 -q -c | wc -c) bytes"
cp -a "$work/tree-5.0.0" "$work/install"
echo "my settings" > "$work/install/user.cfg"
"$PF" apply --in-place "$work/install" "${chain[@]}"
rm -r "$work/install/user.cfg" "$work/install/.patchfarm"
diff -r "$work/install" "$work/tree-5.0.$newest" > /dev/null && echo "install updated in place 5.0.0 -> 5.0.$newest through ${#chain[@]} packages: bit-exact"
