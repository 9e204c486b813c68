#!/usr/bin/env bash
# Runs every test: installs missing packages, builds, runs the Bazel tests
# (unit, property, hostile-input and end-to-end CLI tests) and a short fuzzing
# run, then prints one line "N passed, N failed" counting test cases.
# Only this run's results count: Bazel's build event stream names the test
# targets of this invocation and their test.xml files (cached results
# included); stale XML under .bazel/testlogs is never read. A target that did
# not pass counts at least one failure, and so does any Bazel exit code but 0
# (a build failure, an interrupted run, tests that failed without saying so).
# Usage: tools/test.sh [FUZZ_SECONDS]   (default 60)
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

events=$(mktemp "${TMPDIR:-/tmp}/patchfarm-test-events.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
trap 'rm -f "$events"' EXIT
bazel test //... --test_output=errors --build_event_json_file="$events"
bazel_rc=$?

counts=$(python3 - "$events" "$bazel_rc" <<'PY'
import json, sys, urllib.parse, xml.etree.ElementTree as ET

events_path, rc = sys.argv[1], int(sys.argv[2])
results = {}    # (label, run, shard) -> (attempt, status, test.xml path or None)
summaries = {}  # label -> overall status
tests = set()   # Labels of the test targets this run was asked to run.
try:
    lines = open(events_path, encoding="utf-8").read().splitlines()
except OSError:
    lines = []
for line in lines:
    try:
        event = json.loads(line)
    except ValueError:
        continue  # A stream cut short by a crash ends mid-line.
    ids = event.get("id", {})
    if "testResult" in ids and "testResult" in event:
        i, result = ids["testResult"], event["testResult"]
        key = (i.get("label", "?"), i.get("run", 1), i.get("shard", 1))
        attempt = i.get("attempt", 1)
        xml = None
        for output in result.get("testActionOutput", []):
            uri = output.get("uri", "")
            if output.get("name") == "test.xml" and uri.startswith("file://"):
                xml = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
        if key not in results or attempt >= results[key][0]:  # The last attempt decides.
            results[key] = (attempt, result.get("status", "NO_STATUS"), xml)
    elif "testSummary" in ids and "testSummary" in event:
        summaries[ids["testSummary"].get("label", "?")] = event["testSummary"].get("overallStatus", "NO_STATUS")
    elif "targetConfigured" in ids:
        configured = event.get("configured", {})
        if "testSize" in configured or configured.get("targetKind", "").endswith("_test rule"):
            tests.add(ids["targetConfigured"].get("label", "?"))

passed = failed = 0
for (label, run, shard), (attempt, status, xml) in sorted(results.items()):
    ok, bad = 0, 0
    try:
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for case in suite.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    bad += 1
                else:
                    ok += 1
    except (OSError, TypeError, ET.ParseError):
        pass  # No readable XML: Bazel's status alone decides.
    if status not in ("PASSED", "FLAKY") and bad == 0:
        bad = 1  # Crashed, timed out or failed outside any test case.
    if ok + bad == 0:
        ok = 1
    passed += ok
    failed += bad
    if bad:
        print(f"not passed: {label} ({status})", file=sys.stderr)
ran = {label for (label, run, shard) in results}
for label in sorted((tests | set(summaries)) - ran):
    status = summaries.get(label, "NO_STATUS")
    if status not in ("PASSED", "FLAKY"):
        failed += 1  # Failed to build, or never ran.
        print(f"not run: {label} ({status})", file=sys.stderr)
if rc != 0 and failed == 0:
    failed = 1  # Bazel failed (build error, interrupt) before any test said so.
    print(f"bazel test exited {rc}", file=sys.stderr)
print(passed, failed)
PY
)
read -r passed failed <<< "$counts"
if ! [[ "${passed:-}" =~ ^[0-9]+$ && "${failed:-}" =~ ^[0-9]+$ ]]; then
  echo "could not count the test results"
  passed=0
  failed=1
fi

echo "--- fuzzing (file patches and tree packages) for ${1:-60} s"
if tools/fuzz.sh "${1:-60}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAILED: tools/fuzz.sh"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
