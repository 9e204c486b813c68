#!/usr/bin/env python3
"""Writes bench/RESULTS.md from the results.csv of ../shared/bench/run_peers.py.

Per family and pair kind: median patch size as % of new, median ratios to bsdiff
and zstd --patch-from (over the pairs both tools finished), median diff and apply
seconds, apply speed and peak RSS.
Usage: summarize.py RESULTS_CSV [COMMAND_LINE] > bench/RESULTS.md
"""
import csv
import statistics
import sys
from collections import defaultdict

OURS = ["ours", "ours-fast"]
PEERS = ["bsdiff", "xdelta3-9", "zstd-19-patch"]
MIB = 1024 * 1024


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def load(path):
    rows = [r for r in csv.DictReader(open(path)) if r["verified"] in ("ok", "FAIL")]
    by_pair = defaultdict(dict)  # (family, platform, input, pair, old, new) -> tool -> row
    for r in rows:
        key = (r["family"], r["platform"], r["input"], r["pair"], r["old_ver"], r["new_ver"])
        by_pair[key][r["tool"]] = r
    return rows, by_pair


def ratio_to(by_pair, family, kind, tool, peer, field):
    out = []
    for (fam, _, _, pair, _, _), tools in by_pair.items():
        if fam != family or pair != kind or tool not in tools or peer not in tools:
            continue
        a, b = tools[tool], tools[peer]
        if a["verified"] == "ok" and b["verified"] == "ok" and float(b[field]) > 0:
            out.append(float(a[field]) / float(b[field]))
    return median(out)


def main():
    rows, by_pair = load(sys.argv[1])
    command = sys.argv[2] if len(sys.argv) > 2 else "bench/run_corpus.sh"
    groups = defaultdict(list)
    for r in rows:
        if r["pair"] in ("consecutive", "cumulative"):
            groups[(r["family"], r["pair"], r["tool"])].append(r)
    families = sorted({f for f, _, _ in groups})
    tools = [t for t in OURS + PEERS if any(k[2] == t for k in groups)]
    L = ["# Benchmark results", "",
         f"Measured in one run with `{command}` on the corpus of",
         "`../shared/bench/fetch_corpus.sh` (this machine: 2 cores, shared and noisy;",
         "times are wall seconds of whole commands, RSS the peak of the process).",
         "`ours` is `patchfarm diff` (default: diff model, kModeledStreams);",
         "`ours-fast` is `patchfarm diff --fast-apply` (zstd streams, kStreams).",
         "Tree families are diffed as tars of the package directory by every tool.", ""]
    for fam in families:
        for kind in ("consecutive", "cumulative"):
            if not any(k[0] == fam and k[1] == kind for k in groups):
                continue
            L += [f"## {fam}, {kind} pairs", "",
                  "| tool | pairs | ok | patch % of new | x bsdiff | x zstd-patch | diff s | "
                  "x bsdiff time | apply s | apply MB/s | diff RSS / old | apply RSS - old MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for tool in tools:
                rs = groups.get((fam, kind, tool), [])
                if not rs:
                    continue
                ok = [r for r in rs if r["verified"] == "ok"]
                size = median([100 * float(r["ratio"]) for r in ok])
                vs_bsdiff = ratio_to(by_pair, fam, kind, tool, "bsdiff", "patch_bytes")
                vs_zstd = ratio_to(by_pair, fam, kind, tool, "zstd-19-patch", "patch_bytes")
                time_vs = ratio_to(by_pair, fam, kind, tool, "bsdiff", "gen_wall_s")
                gen = median([float(r["gen_wall_s"]) for r in ok])
                app = median([float(r["apply_wall_s"]) for r in ok])
                speed = median([int(r["new_bytes"]) / MIB / float(r["apply_wall_s"])
                                for r in ok if float(r["apply_wall_s"]) > 0])
                diff_mem = median([int(r["gen_rss_kb"]) * 1024 / int(r["old_bytes"])
                                   for r in ok if r["gen_rss_kb"]])
                apply_mem = median([(int(r["apply_rss_kb"]) * 1024 - int(r["old_bytes"])) / MIB
                                    for r in ok if r["apply_rss_kb"]])
                L.append(f"| {tool} | {len(rs)} | {len(ok)} | {fmt(size, '.3f')} | "
                         f"{fmt(vs_bsdiff, '.3f')} | {fmt(vs_zstd, '.3f')} | {fmt(gen, '.2f')} | "
                         f"{fmt(time_vs, '.2f')} | {fmt(app, '.3f')} | {fmt(speed, '.0f')} | "
                         f"{fmt(diff_mem, '.1f')} | {fmt(apply_mem, '.0f')} |")
            L.append("")
    fails = [r for r in rows if r["verified"] == "FAIL"]
    L += ["## Round trips", "",
          f"{sum(1 for r in rows if r['tool'] in OURS and r['verified'] == 'ok')} of "
          f"{sum(1 for r in rows if r['tool'] in OURS)} of our pairs applied bit-exact; "
          f"{len(fails)} failures of any tool.", ""]
    for r in fails:
        L.append(f"- {r['tool']} {r['family']} {r['old_ver']}->{r['new_ver']}: {r['note']}")
    print("\n".join(L))


if __name__ == "__main__":
    main()
