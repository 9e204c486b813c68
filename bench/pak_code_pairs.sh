#!/usr/bin/env bash
# What the code assets of make_pak.py's packs cost (issue 13's floor counts
# only the fresh random blobs): replays make_pak.py's choice of code pairs
# for a size and seed (its first draws from its random generator), diffs each
# pair whole with ours and prints the patch bytes per pair and in total.
#   bench/pak_code_pairs.sh [SIZE [SEED]]     # default 1G 7, as huge_pack.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
tools/build.sh > /dev/null
"$SHARED/bench/fetch_corpus.sh" > /dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 - "$SHARED/bench" "$HOME/.cache/patchfarm-bench/corpus" "${1:-1G}" "${2:-7}" \
    > "$scratch/pairs" <<'PY'
import os, random, sys
sys.path.insert(0, sys.argv[1])
import make_pak
groups = make_pak.corpus_versions(sys.argv[2])
total, rng = make_pak.parse_size(sys.argv[3]), random.Random(int(sys.argv[4]))
# The same draws, in the same order, as make_pak.main's code loop.
names, used = list(groups), 0
rng.shuffle(names)
while names and used < int(total * 0.15):
    versions = groups[names.pop()]
    i = rng.randrange(len(versions))
    size = os.path.getsize(versions[i])
    if i + 1 < len(versions):
        print(versions[i], versions[i + 1])
    else:  # Edited in place: 64 bytes, nearly free.
        rng.randrange(size)
        rng.randbytes(64)
    used += size
PY
sum=0
while read -r old new; do
  dist/bin/patchfarm diff "$old" "$new" "$scratch/patch" > /dev/null
  bytes=$(stat -c %s "$scratch/patch")
  sum=$((sum + bytes))
  corpus="$HOME/.cache/patchfarm-bench/corpus/"
  echo "$bytes ${old#"$corpus"} -> ${new#"$corpus"}"
done < "$scratch/pairs"
echo "total $sum bytes"
