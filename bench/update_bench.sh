#!/usr/bin/env bash
# Publishing and updating on the corpus, through the embedded farm with a small
# cumulative window: esbuild's package trees (10 releases on each of 3
# platforms, window 3) and prettier's (6 releases, window 2). After one publish
# per product, `patchfarm update` runs from every older version on every
# platform: the path it took, bytes downloaded against the cheapest published
# path (computed here from index.json, independently of the updater) and
# against the full package, wall time and peak memory; every result is
# compared with the newest tree byte for byte. Then every single-byte change of
# one real index.json must be rejected. Writes the update section of
# bench/RESULTS.md.  Usage: bench/update_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null 2>&1
corpus="${PEERBENCH_DIR:-$HOME/.cache/patchfarm-bench}/corpus"
PF="$PWD/dist/bin/patchfarm"
work="$(mktemp -d)"
serve_pid=""
trap '[ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
started=$(date +%s)

"$PF" serve --data "$work/farm" --workers 2 --port-file "$work/port" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
addr="$(cat "$work/port")"
"$PF" keygen --out "$work/key" > /dev/null

versions_of() {  # family platform -> versions, oldest first
  awk -F'\t' -v f="$1" -v p="$2" '$1 == f && $2 == p {print $3}' "$corpus/manifest.tsv" | sort -uV
}
platforms_of() {
  awk -F'\t' -v f="$1" '$1 == f {print $2}' "$corpus/manifest.tsv" | sort -u
}

# One TSV line per update: product platform old newest inside_window packages
# downloaded cheapest full seconds rss_kib old_kib path
results="$work/results.tsv"
: > "$results"
bench_product() {  # family window
  local family="$1" window="$2" platform v
  "$PF" policy --coordinator "$addr" --product "$family" --window "$window" > /dev/null
  # Submit in version order across platforms so that the farm sees releases
  # arrive as CI would send them.
  mapfile -t platforms < <(platforms_of "$family")
  mapfile -t versions < <(versions_of "$family" "${platforms[0]}")
  for v in "${versions[@]}"; do
    for platform in "${platforms[@]}"; do
      "$PF" submit --coordinator "$addr" --product "$family" --platform "$platform" --version "$v" \
        --wait "$corpus/$family/$platform/$v/package" > /dev/null
    done
  done
  "$PF" publish --coordinator "$addr" --product "$family" --key "$work/key" --out "$work/site" > /dev/null
  local site="$work/site/$family/stable" newest="${versions[-1]}" n=${#versions[@]} i
  for platform in "${platforms[@]}"; do
    for ((i = 0; i < n - 1; i++)); do
      v="${versions[$i]}"
      local inside=$((i >= n - 1 - window))
      local install="$work/i-$family-$platform-$v"
      cp -a "$corpus/$family/$platform/$v/package" "$install"
      mkdir -p "$install/.patchfarm"
      printf 'product=%s\nchannel=stable\nplatform=%s\nversion=%s\nserial=0\n' \
        "$family" "$platform" "$v" > "$install/.patchfarm/marker"
      /usr/bin/time -f "%e %M" -o "$work/time" "$PF" update --index "file://$site/index.json" \
        --pubkey "$work/key.pub" --install "$install" > "$work/out" 2> "$work/log"
      diff -r --exclude=.patchfarm "$install" "$corpus/$family/$platform/$newest/package" > /dev/null ||
        { echo "update of $family/$platform from $v is not bit-exact" >&2; exit 1; }
      local secs rss path got packages
      read -r secs rss < "$work/time"
      path=$(sed -n 's/^patchfarm-update: path \(.*\) ([0-9]* packages\?, [0-9]* bytes)$/\1/p' "$work/log" | head -1)
      packages=$(sed -n 's/^patchfarm-update: path .* (\([0-9]*\) packages\?, .*/\1/p' "$work/log" | head -1)
      got=$(sed -n 's/^updated .*, \([0-9]*\) bytes)$/\1/p' "$work/out")
      [ -n "$path" ] && [ -n "$got" ] || { echo "no path or bytes in the update of $family/$platform from $v" >&2; exit 1; }
      read -r cheapest full < <(python3 - "$site/index.json" "$platform" "$v" <<'PY'
import heapq, json, sys
index, platform, start = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
p = next(x for x in index["platforms"] if x["platform"] == platform)
edges = {}  # version -> [(bytes, to version)]; full packages lead from anywhere
for x in p.get("patches", []):
    edges.setdefault(x["from_version"], []).append((int(x["file"]["size"]), x["to_version"]))
fulls = [(int(r["full"]["size"]), r["version"]) for r in p["releases"] if "full" in r]
newest_full = next(size for size, version in fulls if version == p["newest"])
best, queue = {start: 0}, [(0, start)]
while queue:
    cost, at = heapq.heappop(queue)
    if at == p["newest"]:
        print(cost, newest_full); break
    if cost > best.get(at, cost):
        continue
    for size, to in edges.get(at, []) + fulls:
        if cost + size < best.get(to, float("inf")):
            best[to] = cost + size; heapq.heappush(queue, (cost + size, to))
PY
)
      local old_kib
      old_kib=$(du -sk "$corpus/$family/$platform/$v/package" | cut -f1)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$family" "$platform" "$v" "$newest" \
        "$inside" "$packages" "$got" "$cheapest" "$full" "$secs" "$rss" "$old_kib" "$path" >> "$results"
    done
  done
}
bench_product esbuild 3
bench_product prettier 2

# Every single-byte change of prettier's index must be rejected.
site="$work/site/prettier/stable"
bytes=$(stat -c %s "$site/index.json")
cp -a "$work/site" "$work/tampered"
tsite="$work/tampered/$(readlink "$work/site/prettier")/stable"
probe="$work/$(awk -F'\t' '$1 == "prettier" {print "i-prettier-" $2 "-" $3; exit}' "$results")"
rejected=0
for ((i = 0; i < bytes; i++)); do
  python3 - "$site/index.json" "$tsite/index.json" "$i" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); i = int(sys.argv[3]); d[i] ^= 0x01
open(sys.argv[2], "wb").write(d)
PY
  if ! "$PF" update --index "file://$tsite/index.json" --pubkey "$work/key.pub" --install "$probe" \
      --check > /dev/null 2>&1; then
    rejected=$((rejected + 1))
  fi
done
minutes=$(( ($(date +%s) - started + 59) / 60 ))
python3 - bench/RESULTS.md "$results" "$rejected" "$bytes" "$minutes" "$(git rev-parse --short HEAD)" <<'PY'
import statistics, sys, time
path, results, rejected, total, minutes, commit = sys.argv[1:7]
rows, table = [], []
for line in open(results):
    (family, platform, old, newest, inside, packages, got, cheapest, full,
     secs, rss, old_kib, way) = line.rstrip("\n").split("\t")
    got, cheapest, full = int(got), int(cheapest), int(full)
    rows.append((family, inside == "1", got / cheapest, got / full))
    table.append(f"| {family} | {platform} | {old} | {'yes' if inside == '1' else 'no'} | {way} "
                 f"| {got} | {got / cheapest:.3f} | {full} | {got / full:.3f} | {secs} "
                 f"| {int(rss) // 1024} | {int(old_kib) // 1024} |")
summary = []
for family in sorted({r[0] for r in rows}):
    for inside in (False, True):
        sel = [r for r in rows if r[0] == family and r[1] == inside]
        if not sel:
            continue
        summary.append(f"| {family} | {'inside' if inside else 'outside'} the window | {len(sel)} "
                       f"| {statistics.median(r[3] for r in sel):.3f} | {max(r[3] for r in sel):.3f} "
                       f"| {max(r[2] for r in sel):.3f} |")
outside = [r[3] for r in rows if not r[1]]
text = f"""## Publishing and updating

Measured with `bench/update_bench.sh` on {time.strftime('%Y-%m-%d')} at {commit} ({minutes} min):
esbuild's package trees (10 releases x 3 platforms, policy `--window 3`, chain
kept) and prettier's (6 releases, `--window 2`) through `patchfarm serve`, one
publish each, then `patchfarm update` (file://) from every older version to
the newest; every result bit-exact. "Cheapest" is the cheapest published path,
computed by the script from index.json (chain links, cumulative packages and
full packages as edges), not by the updater.

| product | from | updates | median x full | worst x full | worst x cheapest |
|---|---|---|---|---|---|
{chr(10).join(summary)}

Median over every update from outside the window: {statistics.median(outside):.3f} x the
full package ({len(outside)} updates). Targets (issue 11): downloaded = 1.00 x the cheapest
published path for every version; median outside the window <= 0.3 x the full package.
Signature: {rejected} of {total} single-byte changes of prettier's index.json rejected
(target: all).

| product | platform | from | in window | path | downloaded | x cheapest | full | x full | seconds | peak RSS MiB | old tree MiB |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(table)}"""
sys.path.insert(0, "bench")
from results_md import replace_section
replace_section(path, "update", text)
PY
echo "wrote the update section of bench/RESULTS.md ($rejected of $bytes changes rejected)"
