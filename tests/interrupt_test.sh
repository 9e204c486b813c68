#!/usr/bin/env bash
# Interrupting `patchfarm diff` and `patchfarm apply` (Ctrl-C, kill, a closed
# terminal) removes their temporary outputs: the patch's PATCH.tmp-XXXXXX and
# a tree apply's OUT.partial-PID directory, which can be gigabytes. Each run
# is stopped (SIGSTOP) as soon as its temporary output appears, sent the
# signal, and let go, so the interrupt always lands mid-command.
set -u
PF="$1"
T="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 32 MiB of random bytes, and the same with every 997th byte changed: a diff
# that sorts a while, a package whose modeled stream decodes a while.
python3 - "$T" <<'PY'
import os, sys
t = sys.argv[1]
old = bytearray(os.urandom(32 << 20))
new = bytearray(old)
for i in range(0, len(new), 997):
    new[i] = (new[i] + 1) & 0xff
for name, data in (("old", old), ("new", new)):
    os.makedirs(os.path.join(t, name), exist_ok=True)
    open(os.path.join(t, name, "pack.bin"), "wb").write(data)
PY

# Runs the command in the background (where a script's jobs start with
# SIGINT ignored, so it is restored to its default), waits until `pattern` matches a path,
# then interrupts it with `sig`. Prints the exit status. With BROKEN_STDERR
# set, its stderr is a pipe whose reader is gone (`cmd 2>&1 | tee log` after
# the same Ctrl-C ended tee).
interrupt_when() {
  local sig="$1" pattern="$2"
  shift 2
  if [ -n "${BROKEN_STDERR:-}" ]; then
    env --default-signal=INT,PIPE "$@" > /dev/null 2> >(true) &
  else
    env --default-signal=INT,PIPE "$@" > /dev/null 2> "$T/err" &
  fi
  local pid=$! seen=""
  for _ in $(seq 1 3000); do
    if compgen -G "$pattern" > /dev/null; then
      kill -STOP "$pid" && seen=1
      break
    fi
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  [ -n "$seen" ] || { wait "$pid"; echo "never-seen"; return; }
  kill "-$sig" "$pid"
  kill -CONT "$pid"
  wait "$pid"
  echo $?
}

for sig in INT TERM HUP; do
  rc=$(interrupt_when "$sig" "$T/p-$sig.pf.tmp-*" "$PF" diff "$T/old/pack.bin" "$T/new/pack.bin" \
       "$T/p-$sig.pf")
  [ "$rc" = never-seen ] && { fail "diff ($sig): no temporary patch seen"; continue; }
  [ "$rc" -gt 128 ] || fail "diff ($sig): exit status $rc, not a signal's"
  grep -q "interrupted" "$T/err" || fail "diff ($sig): no message: $(cat "$T/err")"
  ls "$T"/p-"$sig".pf* > /dev/null 2>&1 && fail "diff ($sig) left $(ls "$T"/p-"$sig".pf*)"
done

rc=$(BROKEN_STDERR=1 interrupt_when INT "$T/b.pf.tmp-*" "$PF" diff "$T/old/pack.bin" \
     "$T/new/pack.bin" "$T/b.pf")
[ "$rc" = 130 ] || fail "diff with a broken stderr: exit status $rc, not SIGINT's"
ls "$T"/b.pf* > /dev/null 2>&1 && fail "diff with a broken stderr left $(ls "$T"/b.pf*)"

"$PF" diff "$T/old" "$T/new" "$T/tree.pkg" > /dev/null || fail "tree diff"
rc=$(interrupt_when INT "$T/out.partial-*" "$PF" apply "$T/old" "$T/tree.pkg" "$T/out")
if [ "$rc" = never-seen ]; then
  fail "apply: no partial directory seen"
else
  [ "$rc" = 130 ] || fail "apply: exit status $rc, not SIGINT's"
  ls -d "$T"/out* > /dev/null 2>&1 && fail "apply left $(ls -d "$T"/out*)"
fi
# A signal the command was started ignoring (nohup) does not end it.
env --ignore-signal=HUP "$PF" diff "$T/old/pack.bin" "$T/new/pack.bin" "$T/nohup.pf" \
  > /dev/null 2> "$T/err" &
pid=$!
for _ in $(seq 1 3000); do
  compgen -G "$T/nohup.pf.tmp-*" > /dev/null && break
  sleep 0.01
done
kill -HUP "$pid"
wait "$pid" || fail "diff started ignoring SIGHUP: $(cat "$T/err")"
[ -s "$T/nohup.pf" ] || fail "diff started ignoring SIGHUP made no patch"
# Uninterrupted, the same commands still work.
"$PF" apply "$T/old" "$T/tree.pkg" "$T/out" > /dev/null || fail "apply"
cmp -s "$T/out/pack.bin" "$T/new/pack.bin" || fail "apply did not rebuild new"

echo "$failures failures"
[ "$failures" -eq 0 ]
