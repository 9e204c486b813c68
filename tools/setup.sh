#!/usr/bin/env bash
# Installs the Debian packages patchfarm needs to build, test and benchmark.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java g++
  libabsl-dev libzstd-dev liblzma-dev libdivsufsort-dev libssl-dev libcurl4-openssl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc librocksdb-dev
  libcpp-httplib-dev
  # tests and fuzzing
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3
  # benchmarks and the demo (peers, timing)
  bsdiff xdelta3 zstd xz-utils time gcc
  # the updater tests serve the published site with a real web server
  nginx-light
  # deployment manifest checks
  python3-yaml
  # the status page test (headless)
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
