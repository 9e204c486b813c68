#!/usr/bin/env bash
# Publishing and updating on the corpus: prettier's package trees (6 versions)
# through the embedded farm, published, then `patchfarm update` from every old
# version: bytes downloaded against the smallest published way, wall time and
# peak memory (old tree size beside it), and the signature check against every
# single-byte change of the real index.json. Writes the update section of
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
mapfile -t versions < <(awk -F'\t' '$1 == "prettier" {print $3}' "$corpus/manifest.tsv")
"$PF" serve --data "$work/farm" --workers 2 --port-file "$work/port" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
addr="$(cat "$work/port")"
for v in "${versions[@]}"; do
  "$PF" submit --coordinator "$addr" --product prettier --platform noarch --version "$v" --wait \
    "$corpus/prettier/noarch/$v/package" > /dev/null
done
"$PF" keygen --out "$work/key" > /dev/null
"$PF" publish --coordinator "$addr" --product prettier --key "$work/key" --out "$work/site" > /dev/null
site="$work/site/prettier/stable"
newest="${versions[-1]}"
rows=""
for v in "${versions[@]:0:${#versions[@]}-1}"; do
  cp -a "$corpus/prettier/noarch/$v/package" "$work/i-$v"
  mkdir -p "$work/i-$v/.patchfarm"
  printf 'product=prettier\nchannel=stable\nplatform=noarch\nversion=%s\nserial=0\n' "$v" > "$work/i-$v/.patchfarm/marker"
  /usr/bin/time -f "%e %M" -o "$work/time" "$PF" update --index "file://$site/index.json" \
    --pubkey "$work/key.pub" --install "$work/i-$v" > "$work/out" 2> /dev/null
  diff -r --exclude=.patchfarm "$work/i-$v" "$corpus/prettier/noarch/$newest/package" > /dev/null ||
    { echo "update from $v is not bit-exact" >&2; exit 1; }
  read -r secs rss < "$work/time"
  got=$(grep -o '[0-9]* bytes)' "$work/out" | grep -o '[0-9]*')
  way=$(grep -o '(\w*,' "$work/out" | tr -d '(,')
  old_kib=$(du -sk "$corpus/prettier/noarch/$v/package" | cut -f1)
  best=$(python3 - "$site/index.json" "$v" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["platforms"][0]; v = sys.argv[2]
ways = [int(p["releases"][0]["full"]["size"])]
ways += [int(x["file"]["size"]) for x in p["patches"] if x["from_version"] == v and x.get("cumulative")]
steps = {x["from_version"]: x for x in p["patches"] if not x.get("cumulative")}
cum = {x["from_version"]: int(x["file"]["size"]) for x in p["patches"] if x.get("cumulative")}
at, total = v, 0
while at in steps:
    total += int(steps[at]["file"]["size"]); at = steps[at]["to_version"]
if total and at in cum:
    ways.append(total + cum[at])
print(min(ways))
PY
)
  rows+="| $v -> $newest | $way | $got | $best | $(python3 -c "print(f'{$got / $best:.3f}')") | $secs | $((rss / 1024)) | $((old_kib / 1024)) |"$'\n'
done
# Every single-byte change of the index must be rejected.
bytes=$(stat -c %s "$site/index.json")
cp -a "$work/site" "$work/tampered"
tsite="$work/tampered/$(readlink "$work/site/prettier")/stable"
rejected=0
for ((i = 0; i < bytes; i++)); do
  python3 - "$site/index.json" "$tsite/index.json" "$i" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read()); i = int(sys.argv[3]); d[i] ^= 0x01
open(sys.argv[2], "wb").write(d)
PY
  if ! "$PF" update --index "file://$tsite/index.json" --pubkey "$work/key.pub" --install "$work/i-${versions[0]}" \
      --check > /dev/null 2>&1; then
    rejected=$((rejected + 1))
  fi
done
python3 - bench/RESULTS.md "$rows" "$rejected" "$bytes" <<'PY'
import sys, time
path, rows, rejected, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = f"""## Publishing and updating

Measured with `bench/update_bench.sh` on {time.strftime('%Y-%m-%d')}: prettier's six package
trees through `patchfarm serve`, published, then `patchfarm update` (file://) from each
old version to the newest; every result bit-exact.

| update | way | downloaded | smallest published way | x smallest | seconds | peak RSS MiB | old tree MiB |
|---|---|---|---|---|---|---|---|
{rows.rstrip()}

Targets: downloaded <= 1.05 x the smallest published way; peak memory within the
apply bound (old + 64 MiB). Signature: {rejected} of {total} single-byte changes of
the published index.json rejected (target: all)."""
sys.path.insert(0, "bench")
from results_md import replace_section
replace_section(path, "update", text)
PY
echo "wrote the update section of bench/RESULTS.md ($rejected of $bytes changes rejected)"
