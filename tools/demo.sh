#!/usr/bin/env bash
# The main job: the embedded farm on sample releases. Builds patchfarm,
# compiles a sample program in five release versions as release trees (the
# program, its source as data, docs, a symlink; 5.0.3 moves the data into a
# subdirectory), starts `patchfarm serve` (coordinator and workers in one
# process, state in a local RocksDB), submits each release as CI would, and
# waits for its patches. Then, as an updater would, it fetches the cumulative
# package from each old version, applies it and checks the result bit for bit,
# printing sizes beside a full download, and updates an install in place
# through the chain of consecutive packages. Last, it publishes the signed
# update site and runs the updater against it: a fresh install, then an update.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
PF="$PWD/dist/bin/patchfarm"
work="$(mktemp -d)"
serve_pid=""
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT

versions=(5.0.0 5.0.1 5.0.2 5.0.3 5.0.4)
for i in "${!versions[@]}"; do
  v="${versions[$i]}"
  t="$work/release/$v"
  mkdir -p "$t/bin" "$t/share/doc"
  python3 examples/make_sample_release.py "$i" > "$work/app-$v.c"
  gcc -O2 -o "$t/bin/app" "$work/app-$v.c"
  data="$t/share/app.c"
  [ "$i" -ge 3 ] && { mkdir -p "$t/share/src"; data="$t/share/src/app.c"; }
  cp "$work/app-$v.c" "$data"
  echo "sample app $v" > "$t/share/doc/VERSION"
  ln -s app "$t/bin/app-current"
done
newest="${versions[-1]}"

"$PF" serve --data "$work/farm" --workers 2 --port-file "$work/port" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
addr="$(cat "$work/port")"
echo "embedded farm on $addr"
for v in "${versions[@]}"; do
  "$PF" submit --coordinator "$addr" --product sample --platform linux-x64 --version "$v" --wait \
    "$work/release/$v" | tail -n 1
done
echo
"$PF" status --coordinator "$addr" --product sample
echo
full=$(tar -C "$work/release/$newest" -cf - . | zstd -19 -q -c | wc -c)
printf '%-18s %10s %10s %8s  %s\n' "update" "package" "full" "% full" "applied"
for v in "${versions[@]:0:${#versions[@]}-1}"; do
  pkg="$work/from_linux-x64_$v"
  "$PF" request --coordinator "$addr" --product sample --platform linux-x64 --from "$v" \
    --to "$newest" -o "$pkg" > /dev/null
  "$PF" apply "$work/release/$v" "$pkg" "$work/out-$v" > /dev/null
  diff -r "$work/out-$v" "$work/release/$newest" > /dev/null && ok="bit-exact" || { echo MISMATCH; exit 1; }
  size=$(stat -c %s "$pkg")
  printf '%-18s %10d %10d %7.1f%%  %s\n' "$v -> $newest" "$size" "$full" \
    "$(awk "BEGIN { print 100 * $size / $full }")" "$ok"
done
echo "(full: tar | zstd -19 of $newest)"

chain=()
for ((i = 1; i < ${#versions[@]}; i++)); do
  pkg="$work/chain-${versions[i]}"
  "$PF" request --coordinator "$addr" --product sample --platform linux-x64 \
    --from "${versions[i-1]}" --to "${versions[i]}" -o "$pkg" > /dev/null
  chain+=("$pkg")
done
cp -a "$work/release/${versions[0]}" "$work/install"
echo "my settings" > "$work/install/user.cfg"
"$PF" apply --in-place "$work/install" "${chain[@]}" > /dev/null
rm -r "$work/install/user.cfg" "$work/install/.patchfarm"
diff -r "$work/install" "$work/release/$newest" > /dev/null &&
  echo "install updated in place ${versions[0]} -> $newest through ${#chain[@]} chained packages: bit-exact"
"$work/install/bin/app" > /dev/null && echo "the updated program runs"

echo
"$PF" keygen --out "$work/key" > /dev/null
"$PF" publish --coordinator "$addr" --product sample --key "$work/key" --out "$work/site" \
  --motd "Welcome to $newest"
index="file://$work/site/sample/stable/index.json"
ls "$work/site/sample/stable"
"$PF" update --index "$index" --pubkey "$work/key.pub" --install "$work/player" --platform linux-x64 2> /dev/null
diff -r --exclude=.patchfarm "$work/player" "$work/release/$newest" > /dev/null &&
  echo "fresh install by the updater: bit-exact"
cp -a "$work/release/5.0.2" "$work/player2"
mkdir -p "$work/player2/.patchfarm"
printf 'product=sample\nchannel=stable\nplatform=linux-x64\nversion=5.0.2\nserial=0\n' > "$work/player2/.patchfarm/marker"
"$PF" update --index "$index" --pubkey "$work/key.pub" --install "$work/player2" --check 2> /dev/null
"$PF" update --index "$index" --pubkey "$work/key.pub" --install "$work/player2" 2> /dev/null
diff -r --exclude=.patchfarm "$work/player2" "$work/release/$newest" > /dev/null &&
  echo "update of a 5.0.2 install: bit-exact"
