#!/usr/bin/env bash
# The daemons' flags (absl flags, common/flags.h): every bad value is refused
# with exit 2 and a message naming the flag as written, before anything is
# created; unknown flags are named; --help lists every flag; the dashed and
# the underscore spellings and "--flag=value" are accepted.
set -u
COORDINATOR="$1"; WORKER="$2"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# refused BINARY FLAG VALUE [ARGS...]: exit 2, the flag named, nothing created.
refused() {
  local binary="$1" flag="$2" value="$3"; shift 3
  rm -rf "$T/made"
  "$binary" "$@" "$flag" "$value" > "$T/out" 2> "$T/err"
  local rc=$?
  [ "$rc" = 2 ] || fail "$(basename "$binary") $flag '$value' exited $rc"
  grep -q -- "bad value for $flag: " "$T/err" || fail "$(basename "$binary") $flag '$value': $(head -1 "$T/err")"
  [ -e "$T/made" ] && fail "$(basename "$binary") $flag '$value' created its directory"
}

c_args=(--plaintext --listen 127.0.0.1:0 --data "$T/made")
for v in -1 0 nan inf 1e400 x 31536001; do refused "$COORDINATOR" --lease-seconds "$v" "${c_args[@]}"; done
for v in 0 1001 -3 1.5 x 99999999999999999999; do refused "$COORDINATOR" --window "$v" "${c_args[@]}"; done
for v in -1 1048577 18446744073709551615 x; do refused "$COORDINATOR" --upload-mib-per-second "$v" "${c_args[@]}"; done
for v in 0 -1 x; do refused "$COORDINATOR" --max-streams-per-client "$v" "${c_args[@]}"; done
for v in 0 -1 1.5G 12X; do refused "$COORDINATOR" --publish-max-memory "$v" "${c_args[@]}"; done
for v in 1K 1048575; do refused "$COORDINATOR" --index-part-size "$v" "${c_args[@]}"; done
"$COORDINATOR" "${c_args[@]}" --plaintext=maybe > /dev/null 2> "$T/err"
[ $? = 2 ] && grep -q -- "bad value for --plaintext" "$T/err" || fail "--plaintext=maybe: $(head -1 "$T/err")"

w_args=(--coordinator 127.0.0.1:1 --cache "$T/made")
for v in 0 -1 x 1025; do refused "$WORKER" --jobs "$v" "${w_args[@]}"; done
for v in 0 257 x; do refused "$WORKER" --threads "$v" "${w_args[@]}"; done
for v in 0 1048577 x; do refused "$WORKER" --cache-gib "$v" "${w_args[@]}"; done
for v in 0 -1 1.5G nan 12X 99999999999999999999G; do refused "$WORKER" --job-memory "$v" "${w_args[@]}"; done
for v in 0 x 1.5G; do refused "$WORKER" --index-cache "$v" "${w_args[@]}"; done

for binary in "$COORDINATOR" "$WORKER"; do
  name=$(basename "$binary")
  "$binary" --no-such-flag 1 > /dev/null 2> "$T/err"
  [ $? = 2 ] || fail "$name took an unknown flag"
  grep -q -- "unknown flag '--no-such-flag'" "$T/err" || fail "$name unknown flag: $(head -1 "$T/err")"
  "$binary" --help > "$T/help" 2>&1 || fail "$name --help exited non-zero"
  grep -q "^usage: $name" "$T/help" || fail "$name --help has no usage line"
done
for f in --listen --data --tokens --insecure-no-auth --tls-cert --tls-key --tls-client-ca --plaintext \
         --window --lease-seconds --port-file --http-listen --upload-mib-per-second \
         --max-streams-per-client --site --key --motd --publish-max-memory; do
  "$COORDINATOR" --help | grep -q -- "^  $f " || fail "coordinator --help does not list $f"
done
for f in --coordinator --cache --id --jobs --threads --cache-gib --job-memory --index-cache \
         --no-index-cache --http-listen --token-file --tls-ca --tls-cert --tls-key; do
  "$WORKER" --help | grep -q -- "^  $f " || fail "worker --help does not list $f"
done
"$COORDINATOR" --plaintext --listen 127.0.0.1:0 > /dev/null 2> "$T/err"
[ $? = 2 ] && grep -q -- "--data" "$T/err" || fail "a coordinator without --data: $(head -1 "$T/err")"

# Good values, in each spelling, start the coordinator (it writes its port file).
"$COORDINATOR" --plaintext --listen=127.0.0.1:0 --data "$T/ok" --port_file "$T/port" \
  --lease-seconds 0.5 --window=3 --upload-mib-per-second 0 > "$T/c.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || fail "coordinator with good flags did not start: $(cat "$T/c.log")"
kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "daemon flag checks passed"
