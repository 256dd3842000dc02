"""Print BENCHMARKS.md's subset tables from a `neurosort bench` results folder.

    python scripts/benchmark_tables.py runs/bench_shared
"""

from __future__ import annotations

import sys

import pandas as pd

from neurosort.bench import markdown_table, read_table

SUBSETS = {
    "20 MEArec monotrode recordings": "mono_test",
    "3 MEArec tetrode recordings": "tet_test",
    "2 Quiroga excerpts": "C_Easy1",
}


def subset_table(summary: pd.DataFrame, units: pd.DataFrame, prefix: str) -> str:
    rows = []
    for sorter, group in summary[summary["recording"].str.startswith(prefix)].groupby(
        "sorter", sort=False
    ):
        ok = group[group["status"] == "ok"]
        mine = units[(units["sorter"] == sorter) & units["recording"].str.startswith(prefix)]
        strong = mine[mine["snr"] >= 8]
        rows.append(
            {
                "sorter": sorter,
                "ok / run": f"{len(ok)} / {len(group)}",
                "mean accuracy per recording (failed = 0)": round(
                    group["mean_accuracy"].fillna(0).mean(), 3
                ),
                "mean accuracy, units SNR >= 8": round(strong["accuracy"].mean(), 3),
                "units acc >= 0.8": f"{int((mine['accuracy'] >= 0.8).sum())} / {len(mine)}",
                "mean precision": round(mine["precision"].mean(), 3),
                "mean recall": round(mine["recall"].mean(), 3),
                "median sort time (s)": round(ok["sort_wall_s"].median(), 1),
            }
        )
    return markdown_table(pd.DataFrame(rows))


def main() -> None:
    out_dir = sys.argv[1]
    summary, units = read_table(out_dir, "summary"), read_table(out_dir, "units")
    for title, prefix in SUBSETS.items():
        print(f"### {title}\n\n{subset_table(summary, units, prefix)}\n")


if __name__ == "__main__":
    main()
