#!/usr/bin/env bash
# Runs tests/check_deploy.py on deploy/ with the binaries' usage texts.
set -u
dir="$(dirname "$1")/.."  # $1 is deploy/kubernetes/coordinator.yaml
exec /usr/bin/python3 "$2" "$dir" "$3" "$4" "$5"
