#!/usr/bin/env bash
# The coordinator's status page in headless Chromium (Debian's): loads the page
# from a coordinator with two releases, checks the rendered DOM (releases, job
# progress, workers, the SVG chart; no external assets) and saves a screenshot.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
OUT="${TEST_UNDECLARED_OUTPUTS_DIR:-$T}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT

"$COORDINATOR" --plaintext --listen 127.0.0.1:0 --data "$T/data" --port-file "$T/port" --http-listen 127.0.0.1:0 \
  > "$T/c.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
"$WORKER" --coordinator "$(cat "$T/port")" --cache "$T/cache" --jobs 1 --id page-worker > "$T/w.log" 2>&1 &
pids+=("$!")
python3 -c 'import os, sys; [open(sys.argv[1] + str(v), "wb").write(os.urandom(20000) * (v + 1)) for v in (1, 2, 3)]' "$T/v"
for v in 1 2 3; do
  "$PF" submit --coordinator "$(cat "$T/port")" --product demo --platform linux-x64 --version "1.$v" --wait \
    "$T/v$v" > /dev/null || fail "submit 1.$v"
done
url="$(grep -o 'http://[0-9.:]*' "$T/c.log" | head -n 1)/"
browser=(chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage
         --user-data-dir="$T/profile" --no-first-run)
"${browser[@]}" --dump-dom "$url" > "$T/dom.html" 2> "$T/chromium.log" || fail "chromium could not load $url"
grep -q "demo/linux-x64/stable/1.3" "$T/dom.html" || fail "the page lacks the release"
grep -q "2 of 2 jobs done" "$T/dom.html" || fail "the page lacks job progress"
grep -q "page-worker" "$T/dom.html" || fail "the page lacks the worker"
grep -q "<svg" "$T/dom.html" || fail "the page lacks the size chart"
grep -q "from 1.1" "$T/dom.html" || fail "the chart lacks a bar per old version"
grep -qE '(src|href)="https?://' "$T/dom.html" && fail "the page loads external assets"
"${browser[@]}" --screenshot="$OUT/status_page.png" --window-size=1000,900 "$url" > /dev/null 2>&1 ||
  fail "no screenshot"
[ -s "$OUT/status_page.png" ] || fail "empty screenshot"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "status page checks passed (screenshot: $OUT/status_page.png)"
