#!/usr/bin/env bash
# A big old file beside a small new one drawn from its ends (a pack whose
# next build keeps a little of it, or a tree block whose source is a whole
# pack): old is OLD_MIB of random bytes, new is 2 MiB of old's head, 3 MiB
# of fresh bytes and 2 MiB of old's tail. Times `patchfarm diff` (wall,
# peak RSS) beside HDiffPatch's `hdiffz -m-6 -SD -c-lzma2-9-16m`, and
# checks that the patch applies. Stop 36 cut 166 s to 16 s on 300 MiB
# (zstd indexed all of old for a prefix candidate; a page releaser made the
# suffix sort fault old's pages back in).
# Usage: bench/big_old_small_new.sh [OLD_MIB]   (PF=BINARY times another patchfarm)
set -euo pipefail
cd "$(dirname "$0")/.."
old_mib="${1:-300}"
PF="${PF:-$PWD/dist/bin/patchfarm}"
HDIFFZ="${HDIFFZ:-$PWD/../shared/bench/peers/hdiffz}"
[ -x "$PF" ] || tools/build.sh > /dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
head -c "${old_mib}M" /dev/urandom > "$work/old"
{ head -c 2M "$work/old"; head -c 3M /dev/urandom; tail -c 2M "$work/old"; } > "$work/new"
/usr/bin/time -f "ours:   %e s wall, %M KiB peak RSS" "$PF" diff "$work/old" "$work/new" "$work/patch" > /dev/null
echo "ours:   $(stat -c %s "$work/patch") bytes"
if [ -x "$HDIFFZ" ]; then
  /usr/bin/time -f "hdiffz: %e s wall, %M KiB peak RSS" "$HDIFFZ" -m-6 -SD -c-lzma2-9-16m -f \
    "$work/old" "$work/new" "$work/hpatch" > /dev/null
  echo "hdiffz: $(stat -c %s "$work/hpatch") bytes"
fi
"$PF" apply "$work/old" "$work/patch" "$work/out" > /dev/null
cmp -s "$work/new" "$work/out" && echo "applied: bit-exact"
