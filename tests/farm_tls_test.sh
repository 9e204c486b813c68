#!/usr/bin/env bash
# TLS and mutual TLS between the coordinator and its clients, with a test CA
# made by tools/make_test_ca.sh: a worker holding a client certificate signed
# by the farm's CA takes jobs; a client without one cannot connect; a client
# that does not trust the CA cannot connect; plaintext is refused off loopback.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"; MAKE_CA="$4"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT

"$MAKE_CA" "$T/ca" > /dev/null || { echo "FAIL: make_test_ca"; exit 1; }
"$COORDINATOR" --listen 127.0.0.1:0 --data "$T/data" --port-file "$T/port" \
  --tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --tls-client-ca "$T/ca/ca.pem" \
  > "$T/c.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
addr="localhost:$(cut -d: -f2 < "$T/port")"
tls=(--tls-ca "$T/ca/ca.pem" --tls-cert "$T/ca/client.pem" --tls-key "$T/ca/client.key")
"$WORKER" --coordinator "$addr" --cache "$T/cache" --jobs 1 --id good "${tls[@]}" > "$T/w.log" 2>&1 &
pids+=("$!")
"$WORKER" --coordinator "$addr" --cache "$T/cache2" --jobs 1 --id nocert --tls-ca "$T/ca/ca.pem" \
  > "$T/w2.log" 2>&1 &
pids+=("$!")

echo one > "$T/v1"; echo two > "$T/v2"
for v in 1 2; do
  "$PF" submit --coordinator "$addr" "${tls[@]}" --product p --platform x --version "$v" --wait "$T/v$v" \
    > /dev/null || fail "submit $v over mutual TLS"
done
"$PF" workers --coordinator "$addr" "${tls[@]}" > "$T/workers" || fail "workers over mutual TLS"
grep -q "^good " "$T/workers" || fail "the worker with a certificate is not listed"
grep -q "^nocert " "$T/workers" && fail "a worker without a client certificate reached the coordinator"
"$PF" status --coordinator "$addr" --tls-ca "$T/ca/ca.pem" > /dev/null 2>&1 &&
  fail "a client without a certificate was served"
"$PF" status --coordinator "$addr" > /dev/null 2>&1 && fail "a plaintext client was served over TLS"
"$COORDINATOR" --plaintext --listen 0.0.0.0:0 --data "$T/data2" > "$T/c2.log" 2>&1 &&
  fail "plaintext off loopback was allowed"
grep -q "refusing plaintext" "$T/c2.log" || fail "plaintext message: $(cat "$T/c2.log")"
"$COORDINATOR" --listen 127.0.0.1:0 --data "$T/data3" > "$T/c3.log" 2>&1 &&
  fail "plaintext without --plaintext was allowed"
grep -q "or --plaintext" "$T/c3.log" || fail "missing-TLS message: $(cat "$T/c3.log")"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "TLS checks passed"
