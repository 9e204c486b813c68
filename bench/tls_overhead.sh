#!/usr/bin/env bash
# What TLS costs end to end: the corpus benchmark of bench/farm_corpus.sh
# (esbuild linux-x64, 10 releases, 45 jobs, 2 workers --jobs 1 --threads 1),
# once in plaintext and once over mutual TLS with bearer tokens (test CA from
# tools/make_test_ca.sh). Writes the TLS line of bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null 2>&1
corpus="${PEERBENCH_DIR:-$HOME/.cache/patchfarm-bench}/corpus"
PF="$PWD/dist/bin/patchfarm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mapfile -t versions < <(awk -F'\t' '$1 == "esbuild" && $2 == "linux-x64" {print $3}' "$corpus/manifest.tsv")
tools/make_test_ca.sh "$work/ca" > /dev/null
(umask 077; "$PF" token new --roles admin --comment bench --out "$work/token" > "$work/tokens" 2> /dev/null)

run() {  # plain|tls -> prints seconds
  local mode=$1 dir="$work/$1" mine=() server=(--plaintext) client=()
  mkdir -p "$dir"
  if [ "$mode" = tls ]; then
    server=(--tls-cert "$work/ca/server.pem" --tls-key "$work/ca/server.key" --tls-client-ca "$work/ca/ca.pem"
            --tokens "$work/tokens")
    client=(--tls-ca "$work/ca/ca.pem" --tls-cert "$work/ca/client.pem" --tls-key "$work/ca/client.key"
            --token-file "$work/token")
  fi
  dist/bin/patchfarm-coordinator --listen 127.0.0.1:0 --data "$dir/data" --port-file "$dir/port" "${server[@]}" \
    > "$dir/c.log" 2>&1 &
  mine+=("$!")
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
  local addr="localhost:$(cut -d: -f2 < "$dir/port")"
  for i in 1 2; do
    dist/bin/patchfarm-worker --coordinator "$addr" --cache "$dir/cache$i" --jobs 1 --threads 1 --id "w$i" \
      "${client[@]}" > "$dir/w$i.log" 2>&1 &
    mine+=("$!")
  done
  local start; start=$(date +%s.%N)
  for v in "${versions[@]}"; do
    "$PF" submit --coordinator "$addr" "${client[@]}" --product esbuild --platform linux-x64 --version "$v" \
      "$corpus/esbuild/linux-x64/$v/package/bin/esbuild" > /dev/null
  done
  for v in "${versions[@]}"; do
    "$PF" submit --coordinator "$addr" "${client[@]}" --product esbuild --platform linux-x64 --version "$v" \
      --wait "$corpus/esbuild/linux-x64/$v/package/bin/esbuild" > /dev/null
  done
  local end; end=$(date +%s.%N)
  kill "${mine[@]}" 2>/dev/null || true
  wait "${mine[@]}" 2>/dev/null || true
  echo "$end - $start" | bc
}
plain=$(run plain)
tls=$(run tls)
python3 - bench/RESULTS.md "$plain" "$tls" <<'PY'
import sys, time
path, plain, tls = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
line = (f"TLS overhead (`bench/tls_overhead.sh`, {time.strftime('%Y-%m-%d')}): the corpus run with 2 workers took "
        f"{plain:.1f} s in plaintext and {tls:.1f} s over mutual TLS with tokens: {tls / plain:.2f} x "
        f"(target <= 1.15 x).")
s = open(path).read()
head, rest = s.split("<!-- operations:end -->", 1)
head = "\n".join(l for l in head.split("\n") if not l.startswith("TLS overhead"))
open(path, "w").write(head.rstrip("\n") + "\n\n" + line + "\n<!-- operations:end -->" + rest)
PY
echo "plaintext ${plain}s, TLS ${tls}s"
