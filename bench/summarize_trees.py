#!/usr/bin/env python3
"""Writes the tree section of bench/RESULTS.md from bench/run_trees.sh's run.

Per tree family: every pair's package size for each tool (ours on directories,
ours on tars, the peers on tars), the best peer, and the totals and worst excess
that the issue's targets name; diff and apply times; then the 2,000-file apply
table. The section sits between <!-- trees:begin --> and <!-- trees:end -->.
Usage: summarize_trees.py RESULTS_CSV TREE_APPLY_MD COMMAND RESULTS_MD"""
import csv
import statistics
import sys
import time
from collections import defaultdict

from results_md import replace_section

PEERS = ["bsdiff", "xdelta3-9", "zstd-19-patch", "zstd-22-patch", "hdiffz-m-lzma2"]
OURS = [("ours", "dir"), ("ours-fast", "dir"), ("ours", "file"), ("ours-fast", "file")]


def label(tool, inp):
    return f"{tool} ({'tree' if inp == 'dir' else 'tar'})" if tool.startswith("ours") else tool


def section(csv_path, apply_md, command):
    rows = [r for r in csv.DictReader(open(csv_path))
            if r["kind"] == "tree" and r["pair"] in ("consecutive", "cumulative")]
    pairs = defaultdict(dict)  # (family, kind, old, new) -> label -> row
    for r in rows:
        if not r["tool"].startswith("ours") and r["input"] == "dir":
            continue  # Peers are compared on the tars.
        pairs[(r["family"], r["pair"], r["old_ver"], r["new_ver"])][label(r["tool"], r["input"])] = r
    ours = [label(t, i) for t, i in OURS]
    L = ["## Tree packages", "",
         f"Measured in one run with `{command}` on {time.strftime('%Y-%m-%d')}: every",
         "tool on every pair of each tree family, applied and checked file by file.",
         "Peers diff deterministic tars of the package directories; `ours (tree)` is",
         "`patchfarm diff OLD_DIR NEW_DIR` (a tree package), `ours (tar)` the file",
         "engine on the same tars. Sizes in bytes; times are wall seconds of whole commands.", ""]
    for family in sorted({k[0] for k in pairs}):
        keys = sorted((k for k in pairs if k[0] == family), key=lambda k: (k[1] != "consecutive", k))
        present = [t for t in ours + PEERS if any(t in pairs[k] for k in keys)]
        L += [f"### {family}", "",
              "| pair | " + " | ".join(present) + " | best peer | ours (tree) - best |",
              "|---|" + "---|" * (len(present) + 2)]
        totals = defaultdict(int)
        best_total = 0
        excess = []
        ok = True
        for k in keys:
            tools = pairs[k]
            size = {t: int(tools[t]["patch_bytes"]) for t in present
                    if t in tools and tools[t]["verified"] == "ok"}
            ok &= all(tools[t]["verified"] == "ok" for t in tools)
            peers = {t: size[t] for t in PEERS if t in size}
            best = min(peers.values()) if peers else None
            for t, v in size.items():
                totals[t] += v
            if best is not None:
                best_total += best
            mine = size.get("ours (tree)")
            if mine is not None and best is not None:
                excess.append(mine - best)
            cells = [f"{size[t]:,}" if t in size else "-" for t in present]
            L.append(f"| {k[1]} {k[2]} -> {k[3]} | " + " | ".join(cells) +
                     f" | {best:,} | {mine - best:+,} |" if best is not None and mine is not None
                     else f"| {k[1]} {k[2]} -> {k[3]} | " + " | ".join(cells) + " | - | - |")
        L += ["", "| tool | total bytes | x best peer per pair | x best single peer |",
              "|---|---|---|---|"]
        single = min((totals[t] for t in PEERS if t in totals), default=None)
        for t in present:
            if t in totals:
                L.append(f"| {t} | {totals[t]:,} | {totals[t] / best_total:.3f} | "
                         f"{totals[t] / single:.3f} |")

        def med(tool, field):
            vals = [float(pairs[k][tool][field]) for k in keys
                    if tool in pairs[k] and pairs[k][tool].get(field)]
            return statistics.median(vals) if vals else None

        def ratio(tool, peer, field):
            vals = [float(pairs[k][tool][field]) / float(pairs[k][peer][field]) for k in keys
                    if tool in pairs[k] and peer in pairs[k] and float(pairs[k][peer][field]) > 0]
            return statistics.median(vals) if vals else None

        L += ["", "| tool | median diff s | x bsdiff diff time | median apply s | diff RSS MiB |",
              "|---|---|---|---|---|"]
        for t in present:
            d, a = med(t, "gen_wall_s"), med(t, "apply_wall_s")
            r = ratio(t, "bsdiff", "gen_wall_s")
            rss = med(t, "gen_rss_kb")
            L.append(f"| {t} | {d:.2f} | {r:.2f} | {a:.3f} | {rss / 1024:.0f} |")
        mine_total = totals.get("ours (tree)")
        L += ["", f"Targets (issue 14): total <= 0.85 x the best peer: "
              f"{mine_total / best_total:.3f} x the best peer per pair, "
              f"{mine_total / single:.3f} x the best single peer; "
              f"no pair more than 256 bytes above its best peer: worst {max(excess):+,} bytes; "
              f"diff time <= 0.5 x bsdiff: {ratio('ours (tree)', 'bsdiff', 'gen_wall_s'):.2f}. "
              f"Every result verified: {'yes' if ok else 'NO'}.", ""]
    L += ["### Applying a 2,000-file tree (bench/tree_apply.sh)", "", open(apply_md).read().strip(), "",
          "Target: apply in under 2 x `cp -a`. Both apply forms verify every file they",
          "keep (SHA-256) and sync the file system before the result appears."]
    return "\n".join(L)


def main():
    csv_path, apply_md, command, results = sys.argv[1:5]
    replace_section(results, "trees", section(csv_path, apply_md, command))


if __name__ == "__main__":
    main()
