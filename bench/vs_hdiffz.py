#!/usr/bin/env python3
"""Engine v2 against HDiffPatch (issue 14's targets), from a run_peers.py
results.csv holding ours, ours-fast and hdiffz-m-lzma2 measured in one run.

Per family and pair kind: the median and worst patch size of ours over
HDiffPatch's on the same pair, median diff wall time over HDiffPatch's, peak
diff RSS over HDiffPatch's, and apply throughput (MB of output per second of
the whole command) and peak apply RSS (median and largest). Writes the
section "vs-hdiffz" of bench/RESULTS.md (results_md.replace_section).

Usage: bench/vs_hdiffz.py RESULTS_CSV COMMAND_THAT_MADE_IT
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from results_md import replace_section  # noqa: E402

PEER = "hdiffz-m-lzma2"


def main(path, command):
    rows = [r for r in csv.DictReader(open(path)) if r["verified"] == "ok" and r["input"] == "file"]
    by_pair = defaultdict(dict)
    for r in rows:
        by_pair[(r["family"], r["platform"], r["pair"], r["old_ver"], r["new_ver"])][r["tool"]] = r
    tools = sorted({r["tool"] for r in rows if r["tool"] != PEER})
    out = [
        "## Engine v2 against HDiffPatch",
        "",
        f"Measured in one run with `{command}`; sizes are exact, times are wall seconds",
        "of whole commands on this shared 2-core machine (noisy: other builds ran beside it).",
        f"Ratios are ours over `{PEER}` (`hdiffz -m-6 -SD -c-lzma2-9-16m`) on the same pair.",
        "Tree families are the tars of the package directories. Issue 14's targets:",
        "size median <= 0.85 and worst <= 0.95, diff time <= 1.0 x, diff RSS <= 1.5 x,",
        "apply >= 250 MB/s and apply RSS <= 64 MiB. Before engine v2 (issue 14's own",
        "figures, other builds) the default was 0.94-1.02 x HDiffPatch on cumulative pairs.",
        "",
        "| family | pairs | tool | size median | size worst | diff time | diff RSS | apply MB/s (peer) | apply RSS MiB, median/max (peer) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = defaultdict(list)
    for key, tools_here in by_pair.items():
        if PEER in tools_here:
            groups[(key[0], key[2])].append(tools_here)
    for (family, kind), pairs in sorted(groups.items()):
        for tool in tools:
            have = [p for p in pairs if tool in p]
            if not have:
                continue
            size = [int(p[tool]["patch_bytes"]) / int(p[PEER]["patch_bytes"]) for p in have]
            gen = [float(p[tool]["gen_wall_s"]) / float(p[PEER]["gen_wall_s"]) for p in have]
            rss = [int(p[tool]["gen_rss_kb"]) / int(p[PEER]["gen_rss_kb"]) for p in have]
            mbs = [int(p[tool]["new_bytes"]) / 1e6 / max(float(p[tool]["apply_wall_s"]), 1e-3) for p in have]
            peer_mbs = [int(p[PEER]["new_bytes"]) / 1e6 / max(float(p[PEER]["apply_wall_s"]), 1e-3) for p in have]
            arss = [int(p[tool]["apply_rss_kb"]) / 1024 for p in have]
            peer_arss = [int(p[PEER]["apply_rss_kb"]) / 1024 for p in have]
            out.append(
                f"| {family} | {kind} {len(have)} | {tool} | {statistics.median(size):.3f} | {max(size):.3f} | "
                f"{statistics.median(gen):.2f} x | {statistics.median(rss):.2f} x | "
                f"{statistics.median(mbs):.0f} ({statistics.median(peer_mbs):.0f}) | "
                f"{statistics.median(arss):.0f}/{max(arss):.0f} ({statistics.median(peer_arss):.0f}) |")
    replace_section(os.path.join(os.path.dirname(__file__), "RESULTS.md"), "vs-hdiffz", "\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
