#!/usr/bin/env bash
# /metrics latency while 50 clients stall on the HTTP port (issue 10: the
# liveness probe must answer within 1 s). Opens 50 connections that send
# nothing or half a request line, then times 20 fresh GET /metrics requests
# (connect to last byte), 100 ms apart, within the server's 5 s read timeout;
# prints the median and the maximum, and the same without stalled connections.
#
#   bench/http_stall.sh               # starts a coordinator on loopback
#   bench/http_stall.sh HOST:PORT     # measures a running coordinator's HTTP port
set -euo pipefail
cd "$(dirname "$0")/.."
STALLED="${STALLED:-50}"

measure() {  # HOST:PORT
  python3 - "$1" "$STALLED" <<'PY'
import socket, statistics, sys, time
host, port = sys.argv[1].rsplit(":", 1)
port, stalled_count = int(port), int(sys.argv[2])

def fetch():
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        sys.exit(f"http_stall: /metrics answered {data[:40]!r}")
    return time.monotonic() - start

def sample(label):
    times = []
    for _ in range(20):
        times.append(fetch())
        time.sleep(0.1)
    print(f"{label}: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    return max(times)

sample("/metrics, no stalled connections")
stalled = []
for i in range(stalled_count):
    s = socket.create_connection((host, port), timeout=30)
    if i % 2:
        s.sendall(b"GET /metr")  # half a request line; the others send nothing
    stalled.append(s)
worst = sample(f"/metrics, {stalled_count} stalled connections open")
for s in stalled:
    s.close()
print(f"target: < 1000 ms with {stalled_count} stalled connections: {'met' if worst < 1 else 'MISSED'}")
PY
}

if [ $# -ge 1 ]; then
  measure "$1"
  exit 0
fi

bazel build //coordinator:patchfarm-coordinator > /dev/null 2>&1
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
.bazel/bin/coordinator/patchfarm-coordinator --plaintext --listen 127.0.0.1:0 --data "$work/data" \
  --port-file "$work/port" --http-listen 127.0.0.1:0 > "$work/c.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'http://' "$work/c.log" && break; sleep 0.1; done
address="$(grep -o 'http://[0-9.:]*' "$work/c.log" | head -n 1)"
[ -n "$address" ] || { echo "http_stall: the coordinator did not start:" >&2; cat "$work/c.log" >&2; exit 1; }
measure "${address#http://}"
