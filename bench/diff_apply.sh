# Sourced by the benchmark scripts that time one tool's diff and apply of a
# pair: diff_apply WORK_DIR PATCH OUT EXPECTED DIFF_COMMAND... -- APPLY_COMMAND...
# runs both under GNU time (Debian's package "time"), checks that OUT equals
# EXPECTED (exits the script naming PATCH if not), removes OUT and sets
# patch_bytes, diff_s, diff_kib, apply_s and apply_kib (peak RSS in KiB).
diff_apply() {
  local dir="$1" patch="$2" out="$3" expected="$4"
  shift 4
  local diff=() apply=()
  while [ "$1" != "--" ]; do diff+=("$1"); shift; done
  shift
  apply=("$@")
  /usr/bin/time -f "%e %M" -o "$dir/diff-time.txt" "${diff[@]}" > /dev/null
  /usr/bin/time -f "%e %M" -o "$dir/apply-time.txt" "${apply[@]}" > /dev/null
  cmp -s "$out" "$expected" || { echo "$patch: applied output differs" >&2; exit 1; }
  rm -f "$out"
  patch_bytes=$(stat -c %s "$patch")
  read -r diff_s diff_kib < "$dir/diff-time.txt"
  read -r apply_s apply_kib < "$dir/apply-time.txt"
}
