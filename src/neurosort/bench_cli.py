"""`neurosort bench STUDY --out DIR` and `neurosort report DIR` (the study report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from neurosort.errors import InputError

EXECUTORS = ("serial", "process", "dask")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench", help="run a study: every recording x sorter, scored against ground truth"
    )
    bench.add_argument("study", help="study TOML file (recordings, sorters)")
    bench.add_argument("--out", required=True, help="results folder")
    bench.add_argument("--executor", choices=EXECUTORS, default="serial")
    bench.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://host:8786")
    bench.add_argument(
        "--resume", action="store_true", help="skip jobs already finished with the same config"
    )
    bench.add_argument("--timeout-s", type=float, help="time limit per job (default: study's)")
    bench.add_argument("--workers", type=int, default=1, help="parallel jobs (process, dask)")
    bench.add_argument("--sorters", help="comma-separated sorter labels to run (default: all)")
    bench.add_argument(
        "--recordings", help="comma-separated recording name patterns to run (default: all)"
    )
    bench.add_argument("--no-report", action="store_true", help="skip report.html")
    bench.set_defaults(func=cmd_bench)

    report = subparsers.add_parser("report", help="write report.html for a `bench` folder")
    report.add_argument("out_dir", help="folder written by `neurosort bench`")
    report.set_defaults(func=cmd_report)


def cmd_bench(args: argparse.Namespace) -> int:
    from neurosort import bench

    if args.scheduler and args.executor != "dask":
        raise InputError("--scheduler needs --executor dask")
    if args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    if args.timeout_s is not None and not args.timeout_s > 0:
        raise InputError(f"--timeout-s must be > 0 (inf: no limit), got {args.timeout_s}")
    study = bench.load_study(args.study)
    out_dir = bench.run_study(
        study,
        args.out,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        timeout_s=args.timeout_s,
        sorters=_names(args.sorters),
        recordings=_names(args.recordings),
    )
    print(bench.format_sorter_table(out_dir))
    if not args.no_report:
        from neurosort.bench_report import write_study_report

        print(f"\nreport: {write_study_report(out_dir)}")
    return 0


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def cmd_report(args: argparse.Namespace) -> int:
    from neurosort.bench_report import write_study_report

    out_dir = Path(args.out_dir)
    if not (out_dir / "summary.csv").is_file():
        raise InputError(f"{out_dir}: not a `neurosort bench` results folder (no summary.csv)")
    print(write_study_report(out_dir))
    return 0
