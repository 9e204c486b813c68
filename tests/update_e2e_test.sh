#!/usr/bin/env bash
# Publishing and updating against a real web server: releases made by a real
# farm (window 2), published with a signing key, served by nginx on loopback,
# and installs updated by `patchfarm update` from every version: through the
# cheapest published way inside the window, by the full package outside it.
# A tampered index or package, a replayed or expired index, a cut download and
# an updater killed mid-apply all end with the install whole.
set -u
PF="$1"; COORDINATOR="$2"; WORKER="$3"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
}
trap cleanup EXIT

# Five releases of a small game tree.
python3 - "$T/rel" <<'PY'
import os, random, sys
rng = random.Random(5)
exe = bytearray(rng.randbytes(300_000))
for v in range(1, 6):
    for _ in range(10):
        at = rng.randrange(len(exe))
        exe[at:at] = rng.randbytes(rng.randrange(1, 100))
    d = os.path.join(sys.argv[1], f"3.0.{v}")
    os.makedirs(os.path.join(d, "bin"))
    os.makedirs(os.path.join(d, "data"))
    open(os.path.join(d, "bin", "game"), "wb").write(exe)
    os.chmod(os.path.join(d, "bin", "game"), 0o755)
    for i in range(v + 2):
        open(os.path.join(d, "data", f"map{i}.txt"), "w").write(f"map {i} v{v}\n" * 300)
PY
same() { diff -r --exclude=.patchfarm "$1" "$2" > /dev/null; }

"$COORDINATOR" --plaintext --listen 127.0.0.1:0 --data "$T/data" --port-file "$T/port" --window 2 > "$T/c.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
addr="$(cat "$T/port")"
# Chain links from the last two versions only: older ones update by the full package.
"$PF" policy --coordinator "$addr" --product game --keep-chain 2 --keep-days 0 > /dev/null || fail "policy"
"$WORKER" --coordinator "$addr" --cache "$T/cache" --jobs 2 > "$T/w.log" 2>&1 &
pids+=("$!")
submit() { "$PF" submit --coordinator "$addr" --product game --platform linux-x64 --version "$1" --wait "$T/rel/$1" > /dev/null || fail "submit $1"; }
for v in 3.0.1 3.0.2 3.0.3 3.0.4; do submit "$v"; done
"$PF" keygen --out "$T/key" > /dev/null || fail keygen
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" --motd "old" > /dev/null || fail "publish 1"
cp "$T/site/game/stable/index.json" "$T/old-index.json"
cp "$T/site/game/stable/index.json.sig" "$T/old-index.json.sig"
sleep 1.1  # The next serial is at least the publish time in seconds.
submit 3.0.5
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" --motd "Welcome to 3.0.5" \
  > "$T/publish.out" || fail "publish 2"
grep -q "Version=3.0.5" "$T/site/game/stable/version.ini" || fail "version.ini: $(cat "$T/site/game/stable/version.ini")"
grep -q "MOTD=Welcome to 3.0.5" "$T/site/game/stable/version.ini" || fail "version.ini lacks the MOTD"
grep -q 'href="full_linux-x64_3.0.5"' "$T/site/game/stable/download.html" || fail "download fragment"
ls "$T/site/game/stable" | grep -q '^from_linux-x64_3\.0\.2_' && fail "a package outside the window was not aged out"

# nginx on a free loopback port, serving the site.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/nginx"
cat > "$T/nginx.conf" <<CONF
daemon off;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
pid $T/nginx.pid;
error_log $T/nginx/error.log;
events {}
http {
  access_log $T/nginx/access.log;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $T/site;
  }
}
CONF
nginx -p "$T/nginx" -c "$T/nginx.conf" > "$T/nginx/stdout.log" 2>&1 &
pids+=("$!")
url="http://127.0.0.1:$port/game/stable/index.json"
for _ in $(seq 50); do curl -sf "$url" > /dev/null && break; sleep 0.1; done
curl -sf "$url" > /dev/null || { fail "nginx did not serve the site"; cat "$T/nginx/error.log"; exit 1; }

# An install at version V, as an earlier update would have left it.
install_at() {  # VERSION DIR
  cp -a "$T/rel/$1" "$2"
  mkdir -p "$2/.patchfarm"
  printf 'channel=stable\nplatform=linux-x64\nproduct=game\nself_update=true\nserial=0\nversion=%s\n' "$1" \
    > "$2/.patchfarm/marker"
}
update() { "$PF" update --index "$url" --pubkey "$T/key.pub" "$@"; }

# From every version: bit-exact, and no more than 1.05 x the smallest published way.
for v in 3.0.1 3.0.2 3.0.3 3.0.4; do
  install_at "$v" "$T/i-$v"
  update --install "$T/i-$v" --check > "$T/check-$v" 2>/dev/null || fail "check from $v"
  grep -q "motd: Welcome to 3.0.5" "$T/check-$v" || fail "check lacks the MOTD"
  update --install "$T/i-$v" > "$T/u-$v" 2> "$T/log-$v" || { fail "update from $v: $(cat "$T/log-$v")"; continue; }
  same "$T/i-$v" "$T/rel/3.0.5" || fail "update from $v is not bit-exact"
  got=$(grep -o '[0-9]* bytes)' "$T/u-$v" | grep -o '[0-9]*')
  python3 - "$T/site/game/stable/index.json" "$v" "$got" <<'PY' || fail "update from $v downloaded too much"
import json, sys
index, v, got = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
p = index["platforms"][0]
full = int(p["releases"][0]["full"]["size"])
ways = [full] + [int(x["file"]["size"]) for x in p["patches"] if x["from_version"] == v and x.get("cumulative")]
steps, at, total = {x["from_version"]: x for x in p["patches"] if not x.get("cumulative")}, v, 0
while at in steps:
    total += int(steps[at]["file"]["size"]); at = steps[at]["to_version"]
cum = {x["from_version"]: int(x["file"]["size"]) for x in p["patches"] if x.get("cumulative")}
if at in cum and total:
    ways.append(total + cum[at])
print(f"{v}: downloaded {got}, smallest way {min(ways)}")
sys.exit(0 if got <= 1.05 * min(ways) else 1)
PY
done
grep -q "by the full way" "$T/log-3.0.1" || fail "3.0.1 is outside the window: expected the full package"
grep -q "by the cumulative way" "$T/log-3.0.4" || fail "3.0.4: expected the cumulative package"
update --install "$T/i-3.0.4" > "$T/again" 2>&1 && grep -q "up to date" "$T/again" || fail "second update"

# A fresh install into an empty directory gets the full package.
update --install "$T/fresh" --platform linux-x64 > /dev/null 2>&1 || fail "fresh install"
same "$T/fresh" "$T/rel/3.0.5" || fail "fresh install is not bit-exact"

# A tampered index is rejected with the install untouched.
install_at 3.0.3 "$T/t"
cp "$T/site/game/stable/index.json" "$T/good-index.json"
sed -i 's/Welcome to 3.0.5/Welcome to evil/' "$T/site/game/stable/index.json"
update --install "$T/t" > /dev/null 2> "$T/err" && fail "a tampered index was accepted"
grep -q "signature does not verify" "$T/err" || fail "tampered-index message: $(cat "$T/err")"
same "$T/t" "$T/rel/3.0.3" || fail "a tampered index changed the install"
cp "$T/good-index.json" "$T/site/game/stable/index.json"

# A tampered package falls back to the next way; the result is still exact.
pkg="$T/site/game/stable/from_linux-x64_3.0.3_to_3.0.5"
cp "$pkg" "$T/good-pkg"
printf 'X' | dd of="$pkg" bs=1 seek=100 conv=notrunc 2> /dev/null
update --install "$T/t" > /dev/null 2> "$T/log-t" || fail "no fallback after a tampered package: $(cat "$T/log-t")"
grep -q "the cumulative way failed" "$T/log-t" || fail "the tampered package was not noticed"
same "$T/t" "$T/rel/3.0.5" || fail "fallback result is not bit-exact"
cp "$T/good-pkg" "$pkg"

# A replayed (older, validly signed) index is refused once a newer one was accepted.
cp "$T/site/game/stable/index.json" "$T/new-index.json"; cp "$T/site/game/stable/index.json.sig" "$T/new-index.sig"
cp "$T/old-index.json" "$T/site/game/stable/index.json"; cp "$T/old-index.json.sig" "$T/site/game/stable/index.json.sig"
update --install "$T/t" > /dev/null 2> "$T/err" && fail "a replayed index was accepted"
grep -q "replay" "$T/err" || fail "replay message: $(cat "$T/err")"
cp "$T/new-index.json" "$T/site/game/stable/index.json"; cp "$T/new-index.sig" "$T/site/game/stable/index.json.sig"

# An expired index is refused.
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/expired-site" --valid-days -1 > /dev/null
install_at 3.0.4 "$T/e"
"$PF" update --index "file://$T/expired-site/game/stable/index.json" --pubkey "$T/key.pub" --install "$T/e" \
  > /dev/null 2> "$T/err" && fail "an expired index was accepted"
grep -q "expired" "$T/err" || fail "expiry message: $(cat "$T/err")"

# A download cut midway resumes with an HTTP Range request.
install_at 3.0.4 "$T/r"
sha=$(sha256sum "$T/site/game/stable/from_linux-x64_3.0.4_to_3.0.5" | cut -c1-64)
mkdir -p "$T/r/.patchfarm/downloads"
half=$(( $(stat -c %s "$T/site/game/stable/from_linux-x64_3.0.4_to_3.0.5") / 2 ))
head -c "$half" "$T/site/game/stable/from_linux-x64_3.0.4_to_3.0.5" > "$T/r/.patchfarm/downloads/$sha.part"
update --install "$T/r" > /dev/null 2> "$T/log-r" || fail "resumed update: $(cat "$T/log-r")"
grep -q "resumed from_linux-x64_3.0.4_to_3.0.5 at byte $half" "$T/log-r" || fail "no resume: $(cat "$T/log-r")"
grep -q '"GET /game/stable/from_linux-x64_3.0.4_to_3.0.5 HTTP/1.1" 206' "$T/nginx/access.log" || fail "no 206 in the access log"
same "$T/r" "$T/rel/3.0.5" || fail "resumed update is not bit-exact"

# Killed mid-apply: the next run finds the install whole, then finishes.
for delay in 0.01 0.02 0.03 0.05 0.08 0.12; do
  rm -rf "$T/k"; install_at 3.0.3 "$T/k"
  "$PF" update --index "$url" --pubkey "$T/key.pub" --install "$T/k" > /dev/null 2>&1 &
  upid=$!  # The updater itself, not a subshell, gets the SIGKILL.
  sleep "$delay"; kill -9 "$upid" 2>/dev/null; wait "$upid" 2>/dev/null
  "$PF" recover "$T/k" > /dev/null 2> "$T/err" || fail "recover after kill at $delay: $(cat "$T/err")"
  same "$T/k" "$T/rel/3.0.3" || same "$T/k" "$T/rel/3.0.5" || fail "killed at $delay: the install is mixed"
  update --install "$T/k" > /dev/null 2>&1 || fail "update after kill at $delay"
  same "$T/k" "$T/rel/3.0.5" || fail "update after kill at $delay is not bit-exact"
done

# An index for another product or channel is refused (a mirror swapping indexes).
install_at 3.0.4 "$T/other"
sed -i 's/channel=stable/channel=beta/' "$T/other/.patchfarm/marker"
update --install "$T/other" > /dev/null 2> "$T/err" && fail "an index for another channel was accepted"
grep -q "is for channel 'stable', not 'beta'" "$T/err" || fail "channel message: $(cat "$T/err")"
same "$T/other" "$T/rel/3.0.4" || fail "an index for another channel changed the install"

# A package-manager install switches self-update off.
install_at 3.0.4 "$T/pm"
sed -i 's/self_update=true/self_update=false/' "$T/pm/.patchfarm/marker"
update --install "$T/pm" 2>&1 | grep -q "self-update is disabled" || fail "self_update=false ignored"
same "$T/pm" "$T/rel/3.0.4" || fail "a package-manager install was changed"

# A hotfix for exactly 3.0.5 is installed there, then removed when the install
# moves on to 3.0.6; its replaced data/map1.txt is restored first, so that the
# 3.0.6 package finds the file it was made from. Every step is logged with the
# fixed prefix.
echo "balance=2" > "$T/balance.cfg"
echo "map 1, fixed" > "$T/map1-fixed.txt"
"$PF" hotfix --coordinator "$addr" --product game --platform linux-x64 --version 3.0.5 \
  --replace data/map1.txt "$T/map1-fixed.txt" "$T/balance.cfg" > /dev/null || fail "hotfix"
"$PF" hotfix --coordinator "$addr" --product game --platform linux-x64 --version 3.0.5 \
  --replace data/nothing.txt "$T/map1-fixed.txt" > /dev/null 2> "$T/err" && fail "a replacement of no file of the release was accepted"
grep -q "not a regular file of release" "$T/err" || fail "bad replacement message: $(cat "$T/err")"
"$PF" hotfix --coordinator "$addr" --product game --platform linux-x64 --version 3.0.5 \
  --replace data/map1.txt "$T/map1-fixed.txt" --replace data/map1.txt "$T/balance.cfg" \
  > /dev/null 2> "$T/err" && fail "two replacements of one path were accepted"
grep -q "data/map1.txt.* twice" "$T/err" || fail "bad message for a path replaced twice: $(cat "$T/err")"
sleep 1.1
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" > /dev/null || fail "publish 3"
install_at 3.0.5 "$T/h"
update --install "$T/h" > /dev/null 2> "$T/log-h" || fail "update with a hotfix: $(cat "$T/log-h")"
grep -q "^patchfarm-update: hotfix installed balance.cfg for 3.0.5" "$T/log-h" || fail "hotfix not logged: $(cat "$T/log-h")"
cmp -s "$T/h/hotfix/balance.cfg" "$T/balance.cfg" || fail "hotfix file not installed"
grep -q "^patchfarm-update: hotfix replaced 'data/map1.txt' for 3.0.5" "$T/log-h" || fail "replacement not logged: $(cat "$T/log-h")"
cmp -s "$T/h/data/map1.txt" "$T/map1-fixed.txt" || fail "replaced file not installed"
cp -a "$T/rel/3.0.5" "$T/rel/3.0.6"
echo "new map" > "$T/rel/3.0.6/data/map9.txt"
submit 3.0.6
sleep 1.1
"$PF" publish --coordinator "$addr" --product game --key "$T/key" --out "$T/site" > /dev/null || fail "publish 4"
update --install "$T/h" > /dev/null 2> "$T/log-h2" || fail "update past the hotfix: $(cat "$T/log-h2")"
grep -q "^patchfarm-update: hotfix removed balance.cfg (not for 3.0.6)" "$T/log-h2" || fail "hotfix removal not logged"
grep -q "^patchfarm-update: hotfix restored 'data/map1.txt'" "$T/log-h2" || fail "restore not logged: $(cat "$T/log-h2")"
[ -e "$T/h/hotfix/balance.cfg" ] && fail "the hotfix stayed after the version moved on"
diff -r --exclude=.patchfarm --exclude=hotfix "$T/h" "$T/rel/3.0.6" > /dev/null || fail "update to 3.0.6 is not bit-exact"

# A coordinator started with --site and --key publishes by itself once a
# release's jobs are done.
"$COORDINATOR" --plaintext --listen 127.0.0.1:0 --data "$T/data2" --port-file "$T/port2" --site "$T/auto-site" \
  --key "$T/key" --motd "auto" > "$T/c2.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$T/port2" ] && break; sleep 0.1; done
"$WORKER" --coordinator "$(cat "$T/port2")" --cache "$T/cache2" --jobs 2 > "$T/w2.log" 2>&1 &
pids+=("$!")
for v in 3.0.1 3.0.2; do
  "$PF" submit --coordinator "$(cat "$T/port2")" --product game --platform linux-x64 --version "$v" \
    --wait "$T/rel/$v" > /dev/null || fail "submit $v to the auto-publishing coordinator"
done
for _ in $(seq 100); do
  grep -q '"newest": "3.0.2"' "$T/auto-site/game/stable/index.json" 2> /dev/null && break
  sleep 0.1
done
grep -q '"newest": "3.0.2"' "$T/auto-site/game/stable/index.json" 2> /dev/null ||
  fail "the coordinator did not publish by itself: $(cat "$T/c2.log")"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "update end-to-end checks passed"
