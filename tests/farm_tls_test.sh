#!/usr/bin/env bash
# TLS and mutual TLS between the coordinator and its clients, with a test CA
# made by tools/make_test_ca.sh: a worker holding a client certificate signed
# by the farm's CA takes jobs; a client without one cannot connect; a client
# that does not trust the CA cannot connect; plaintext is refused off loopback.
# Off loopback the coordinator needs --tokens (a file of hashed tokens made by
# `patchfarm token new`) or --insecure-no-auth; with tokens, the worker and CI
# work with their own tokens and nothing else does; a clear-text tokens file
# is refused (and `token convert` fixes it); token files readable by others
# are refused, 0400 and 0600 accepted. The auto-publisher needs no
# credentials of its own.
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

server_tls=(--tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --tls-client-ca "$T/ca/ca.pem")
wait_port() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

# Off loopback without tokens: refused, naming the flag, before anything is created.
"$COORDINATOR" --listen 0.0.0.0:0 --data "$T/data4" "${server_tls[@]}" > "$T/c4.log" 2>&1 &&
  fail "no tokens off loopback was allowed"
grep -q -- "--insecure-no-auth" "$T/c4.log" || fail "no-tokens message: $(cat "$T/c4.log")"
[ -e "$T/data4" ] && fail "a refused coordinator created its data directory"
"$COORDINATOR" --bad-flag 2>&1 | grep -q -- "--insecure-no-auth" || fail "usage does not name --insecure-no-auth"
"$COORDINATOR" --listen 0.0.0.0:0 --data "$T/data6" --port-file "$T/port6" --insecure-no-auth "${server_tls[@]}" \
  > "$T/c6.log" 2>&1 &
pids+=("$!")
wait_port "$T/port6" || fail "--insecure-no-auth did not start: $(cat "$T/c6.log")"

# Hashed tokens, made by the CLI; the tokens file holds no token.
(umask 077
 "$PF" token new --roles worker --comment workers --out "$T/worker.token" > "$T/tokens"
 "$PF" token new --roles submit,request --comment ci --out "$T/ci.token" >> "$T/tokens") 2> /dev/null ||
  fail "token new"
for t in worker ci; do
  grep -qF "$(cat "$T/$t.token")" "$T/tokens" && fail "the tokens file holds the $t token in clear"
  [ "$(stat -c %a "$T/$t.token")" = 600 ] || fail "$t.token is not mode 600"
done
[ "$(grep -c '^sha256:[0-9a-f]\{64\} ' "$T/tokens")" = 2 ] || fail "tokens file: $(cat "$T/tokens")"
"$PF" token check --tokens "$T/tokens" | grep -q "2 token(s)" || fail "token check"
[ "$("$PF" token hash --roles worker --comment workers < "$T/worker.token")" = "$(head -n 1 "$T/tokens")" ] ||
  fail "token hash differs from token new's line"
"$PF" keygen --out "$T/key" > /dev/null || fail "keygen"
"$COORDINATOR" --listen 0.0.0.0:0 --data "$T/data5" --port-file "$T/port5" --tokens "$T/tokens" \
  "${server_tls[@]}" --site "$T/site5" --key "$T/key" > "$T/c5.log" 2>&1 &
pids+=("$!")
wait_port "$T/port5" || fail "coordinator with tokens did not start: $(cat "$T/c5.log")"
addr5="localhost:$(cut -d: -f2 < "$T/port5")"
"$WORKER" --coordinator "$addr5" --cache "$T/cache5" --jobs 1 --id tokened "${tls[@]}" \
  --token-file "$T/worker.token" > "$T/w5.log" 2>&1 &
pids+=("$!")
for v in 1 2; do
  "$PF" submit --coordinator "$addr5" "${tls[@]}" --token-file "$T/ci.token" --product p --platform x \
    --version "$v" --wait "$T/v$v" > /dev/null || fail "submit $v with the CI token (hashed in the file)"
done
# The auto-publisher reads the coordinator in process: no token or
# certificate of its own, whatever the coordinator's TLS and tokens.
for v in 1 2; do
  mkdir -p "$T/tree$v" && echo "tree $v" > "$T/tree$v/file"
  "$PF" submit --coordinator "$addr5" "${tls[@]}" --token-file "$T/ci.token" --product q --platform x \
    --version "$v" --wait "$T/tree$v" > /dev/null || fail "submit tree $v"
done
for _ in $(seq 100); do
  grep -q '"newest": "2"' "$T/site5/q/stable/index.json" 2> /dev/null && break
  sleep 0.1
done
grep -q '"newest": "2"' "$T/site5/q/stable/index.json" 2> /dev/null ||
  fail "the auto-publisher did not publish behind TLS and tokens: $(grep publish "$T/c5.log")"
"$PF" submit --coordinator "$addr5" "${tls[@]}" --token-file "$T/worker.token" --product p --platform x \
  --version 3 "$T/v1" > "$T/sub3.log" 2>&1 && fail "the worker token submitted"
"$PF" status --coordinator "$addr5" "${tls[@]}" > /dev/null 2>&1 && fail "a client without a token was served"
"$PF" workers --coordinator "$addr5" "${tls[@]}" --token-file "$T/ci.token" > /dev/null 2>&1 &&
  fail "the CI token listed workers (admin only)"
# Token files: 0400 and 0600 are read, 0644 is refused naming the file and its mode.
chmod 400 "$T/ci.token"
"$PF" status --coordinator "$addr5" "${tls[@]}" --token-file "$T/ci.token" > /dev/null || fail "a 0400 token file"
chmod 644 "$T/ci.token"
"$PF" status --coordinator "$addr5" "${tls[@]}" --token-file "$T/ci.token" > "$T/open.log" 2>&1 &&
  fail "a 0644 token file was used"
grep -qF "$T/ci.token: mode 0644" "$T/open.log" || fail "0644 message: $(cat "$T/open.log")"
chmod 600 "$T/ci.token"

# A tokens file of the older clear-text form: refused at start, then converted.
(umask 077; echo "clear-text-token-0123456789 admin operators" > "$T/clear")
"$COORDINATOR" --listen 127.0.0.1:0 --data "$T/data7" --tokens "$T/clear" "${server_tls[@]}" > "$T/c7.log" 2>&1 &&
  fail "a clear-text tokens file was accepted"
grep -q "tokens line 1: a token in clear text" "$T/c7.log" || fail "clear-text message: $(cat "$T/c7.log")"
grep -q "clear-text-token-0123456789" "$T/c7.log" && fail "the refusal repeats the token"
[ -e "$T/data7" ] && fail "a coordinator refusing its tokens file created its data directory"
"$PF" token convert --in "$T/clear" --out "$T/converted" > /dev/null || fail "token convert"
"$PF" token check --tokens "$T/converted" > /dev/null || fail "the converted file does not load"
grep -q "clear-text-token" "$T/converted" && fail "the converted file holds the token"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "TLS checks passed"
