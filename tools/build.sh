#!/usr/bin/env bash
# Builds patchfarm with Bazel (offline, against Debian's libraries) and copies
# the binaries to dist/bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build //client:patchfarm
mkdir -p dist/bin
install -m 0755 .bazel/bin/client/patchfarm dist/bin/patchfarm.tmp
mv -f dist/bin/patchfarm.tmp dist/bin/patchfarm
