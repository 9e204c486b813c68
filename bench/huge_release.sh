#!/usr/bin/env bash
# A huge release the way a studio ships it (issue 13, end to end): the
# make_pak.py pack pair of bench/huge_pack.sh as two release directories
# (game.pak and a small file) submitted to a coordinator that splits the pair
# into segment jobs, two workers, the signed site, and `update` of an
# install of the old release from it. The site is written by
#   PUBLISH=cli (default): `publish --max-memory` after both releases, then
#     again with nothing new (what any publish costs beyond building);
#   PUBLISH=site: the coordinator itself (--site, --publish-max-memory) after
#     each release, timed from its jobs' end to its index being live (the
#     coordinator's peak RSS is the last row).
# Prints each step's wall seconds and peak RSS, the site's files and disk,
# and checks that the updated install is the new release, bit-exact.
#   bench/huge_release.sh 1G 256M 256M    # pack size, segment size, memory
# Data goes to ${HUGE_DIR:-/tmp/patchfarm-huge}/release-run: about 5 x the
# pack size (the coordinator's copies, the site, the install's update).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-1G}" SEGMENT="${2:-256M}" MEMORY="${3:-256M}" PUBLISH="${PUBLISH:-cli}"
DIR="${HUGE_DIR:-/tmp/patchfarm-huge}"
tools/build.sh > /dev/null 2>&1
PF="$PWD/dist/bin/patchfarm"
[ -s "$DIR/old-$SIZE.pak" ] || { echo "make the pack pair first: bench/huge_pack.sh $SIZE" >&2; exit 1; }
run="$DIR/release-run"
rm -rf "$run" && mkdir -p "$run/rel/1.0" "$run/rel/1.1"
# Hard links: nothing below writes to a release's files (the updater replaces
# files by rename).
ln "$(readlink -f "$DIR/old-$SIZE.pak")" "$run/rel/1.0/game.pak"
ln "$(readlink -f "$DIR/new-$SIZE.pak")" "$run/rel/1.1/game.pak"
echo "game 1.0" > "$run/rel/1.0/VERSION"
echo "game 1.1" > "$run/rel/1.1/VERSION"
"$PF" keygen --out "$run/key" > /dev/null
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

now() { date +%s.%N; }
row() { printf "| %s | %.1f | %s |\n" "$1" "$(python3 -c "print($3 - $2)")" "$4"; }
# Runs a command, printing its row: wall seconds and peak RSS.
step() {
  local name="$1" start
  shift
  start=$(now)
  /usr/bin/time -f "%M" -o "$run/rss" "$@" > "$run/$name.out" 2>&1 ||
    { cat "$run/$name.out" >&2; exit 1; }
  row "$name" "$start" "$(now)" "$(($(cat "$run/rss") / 1024))"
}
# Waits for the coordinator's site to list version $1 (PUBLISH=site).
published() {
  local start
  start=$(now)
  until grep -q "\"$1\"" "$run/site/game/stable/index.json" 2> /dev/null; do
    grep -q "publishing game failed" "$run/coordinator.log" &&
      { grep "publish" "$run/coordinator.log" >&2; exit 1; }
    sleep 0.2
  done
  row "site $1 live" "$start" "$(now)" "(coordinator)"
}

site_flags=()
[ "$PUBLISH" = site ] &&
  site_flags=(--site "$run/site" --key "$run/key" --publish-max-memory "$MEMORY")
dist/bin/patchfarm-coordinator --plaintext --listen 127.0.0.1:0 --data "$run/coordinator" \
  --port-file "$run/port" --segment-size "$SEGMENT" "${site_flags[@]}" \
  > "$run/coordinator.log" 2>&1 &
coordinator=$!
pids+=("$coordinator")
for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
addr="$(cat "$run/port")"
for i in 1 2; do
  dist/bin/patchfarm-worker --coordinator "$addr" --cache "$run/cache$i" --jobs 1 --id "w$i" \
    --job-memory "$MEMORY" > "$run/w$i.log" 2>&1 &
  pids+=("$!")
done
echo "pack $SIZE, segments of $SEGMENT, $MEMORY of memory a worker and for publishing ($PUBLISH)"
echo "| step | wall s | peak RSS MiB |"
echo "| --- | ---: | ---: |"
step submit-1.0 "$PF" submit --coordinator "$addr" --product game --platform any --version 1.0 \
  --wait "$run/rel/1.0"
[ "$PUBLISH" = site ] && published 1.0
step submit-1.1 "$PF" submit --coordinator "$addr" --product game --platform any --version 1.1 \
  --wait "$run/rel/1.1"
if [ "$PUBLISH" = site ]; then
  published 1.1
  echo "| coordinator, whole run | | $(($(awk '/VmHWM/ {print $2}' "/proc/$coordinator/status") / 1024)) |"
else
  step publish "$PF" publish --coordinator "$addr" --product game --key "$run/key" \
    --out "$run/site" --max-memory "$MEMORY"
  step republish "$PF" publish --coordinator "$addr" --product game --key "$run/key" \
    --out "$run/site" --max-memory "$MEMORY" --motd "maintenance tonight"
fi
for i in 1 2; do "$PF" workers --coordinator "$addr" --drain "w$i" > /dev/null; done

# An install of 1.0 that the updater did not make: its marker says what it is.
mkdir -p "$run/install/.patchfarm"
ln "$run/rel/1.0/game.pak" "$run/install/game.pak"
cp "$run/rel/1.0/VERSION" "$run/install/VERSION"
printf 'product=game\nchannel=stable\nplatform=any\nversion=1.0\nserial=0\n' \
  > "$run/install/.patchfarm/marker"
step update "$PF" update --index "file://$run/site/game/stable/index.json" \
  --pubkey "$run/key.pub" --install "$run/install"
diff -r --exclude=.patchfarm "$run/install" "$run/rel/1.1" > /dev/null ||
  { echo "the updated install is not 1.1" >&2; exit 1; }
echo
echo "site files (bytes), and the site's disk:"
find -L "$run/site/game/stable" -maxdepth 1 -type f -printf '%s %f\n' | sort -k2
du -sh "$run/site"
echo "the update of the 1.0 install is 1.1, bit-exact"
