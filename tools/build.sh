#!/usr/bin/env bash
# Builds patchfarm with Bazel (offline, against Debian's libraries) and copies
# the binaries to dist/bin/: patchfarm (and patchfarm-farm and patchfarm-update,
# which it executes for the farm's verbs and for update), patchfarm-coordinator,
# patchfarm-worker.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //client:patchfarm //client:patchfarm-farm //client:patchfarm-update //coordinator:patchfarm-coordinator //worker:patchfarm-worker
mkdir -p dist/bin
for b in client/patchfarm client/patchfarm-farm client/patchfarm-update coordinator/patchfarm-coordinator worker/patchfarm-worker; do
  name="$(basename "$b")"
  install -m 0755 ".bazel/bin/$b" "dist/bin/$name.tmp"
  mv -f "dist/bin/$name.tmp" "dist/bin/$name"
done
