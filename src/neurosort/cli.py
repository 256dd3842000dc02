"""Command-line interface: argument parsing only; every command calls the public API."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from neurosort import __version__
from neurosort.checks import AT_LEAST_0, number
from neurosort.errors import NeurosortError
from neurosort.log import configure, get_logger

logger = get_logger("neurosort.cli")


def _add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="recording file or folder")
    parser.add_argument("--format", help="input format (default: from the file name)")
    parser.add_argument("--sampling-frequency", type=float, help="Hz; overrides the file's")
    parser.add_argument("--dtype", help="sample type of raw binary input, e.g. int16")
    parser.add_argument("--n-channels", type=int, help="channel count of raw binary input")
    parser.add_argument("--gain-uv", type=float, help="microvolts per raw unit")


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file (see `neurosort config dump-defaults`)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set detect.threshold_mad=5",
    )


def _load_recording(args: argparse.Namespace):
    from neurosort.io import load_recording

    return load_recording(
        args.recording,
        format=args.format,
        sampling_frequency_hz=args.sampling_frequency,
        dtype=args.dtype,
        n_channels=args.n_channels,
        gain_uv=args.gain_uv,
    )


def _config(args: argparse.Namespace):
    from neurosort.config import SortConfig, load_config, validate, with_overrides

    config = load_config(args.config) if args.config else SortConfig()
    return validate(with_overrides(config, args.set))


def cmd_sort(args: argparse.Namespace) -> int:
    from neurosort.output import check_replaceable
    from neurosort.pipeline import sort

    config = _config(args)
    check_replaceable(args.out)
    recording = _load_recording(args)
    result = sort(recording, config, args.out, report=not args.no_report)
    print(f"{len(result.spikes)} spikes in {len(result.unit_ids)} units -> {args.out}")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from neurosort.detection import detect_recording
    from neurosort.log import StageTimer
    from neurosort.output import check_replaceable, write_peaks

    config = _config(args)
    check_replaceable(args.out)
    recording = _load_recording(args)
    truth = _detection_truth(args, recording) if args.ground_truth else None
    timer = StageTimer()
    peaks = detect_recording(recording, config, timer)
    write_peaks(args.out, peaks, recording.sampling_frequency_hz, config, timer.seconds)
    print(f"{len(peaks)} peaks -> {Path(args.out) / 'peaks.npz'}")
    if truth is None:
        return 0
    from neurosort.evaluate import detection_scores
    from neurosort.waveforms import ms_to_samples

    window = ms_to_samples(args.match_window_ms, recording.sampling_frequency_hz)
    scores = detection_scores(peaks["sample_index"], truth.sample_index, window)
    print(json.dumps({k: round(float(v), 4) for k, v in scores.items()}))
    if args.pr_curve:
        from neurosort.detect_cnn import precision_recall_curve

        for point in precision_recall_curve(recording, truth.sample_index, config, window):
            print(json.dumps({k: round(float(v), 4) for k, v in point.items()}))
    return 0


def _detection_truth(args: argparse.Namespace, recording):
    from neurosort.evaluate import check_ground_truth
    from neurosort.io import load_ground_truth

    truth = load_ground_truth(
        args.ground_truth,
        sampling_frequency_hz=args.sampling_frequency,
        fallback_sampling_frequency_hz=recording.sampling_frequency_hz,
    )
    check_ground_truth(
        truth, recording.sampling_frequency_hz, recording.n_samples, args.ground_truth
    )
    return truth


def cmd_evaluate(args: argparse.Namespace) -> int:
    from neurosort.evaluate import check_ground_truth, check_sorted_recording, evaluate
    from neurosort.io import load_ground_truth, load_recording
    from neurosort.output import read_result

    result = read_result(args.out_dir)
    recording = None
    if args.recording:
        recording = load_recording(args.recording, sampling_frequency_hz=args.sampling_frequency)
        check_sorted_recording(result, recording, args.recording)
    truth = load_ground_truth(
        args.ground_truth,
        sampling_frequency_hz=args.sampling_frequency,
        fallback_sampling_frequency_hz=result.sampling_frequency_hz,
    )
    n_samples = recording.n_samples if recording is not None else result.n_samples
    check_ground_truth(truth, result.sampling_frequency_hz, n_samples, args.ground_truth)
    scores = evaluate(
        result,
        truth,
        recording=recording,
        match_window_samples=args.match_window,
        snr_threshold=args.snr_threshold,
    )
    out = Path(args.out_dir)
    scores.to_json(out / "evaluation.json")
    scores.to_csv(out / "evaluation.csv")
    table = scores.format_table()
    print(table)
    if result.features is not None:
        from neurosort.report import write_evaluation_report

        path = write_evaluation_report(
            result,
            truth,
            out / "evaluation.html",
            match_window_samples=args.match_window,
            table=table,
        )
        logger.info("evaluation report -> %s", path)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from neurosort.demo import run_demo

    summary = run_demo(args.out, duration_s=args.duration_s, seed=args.seed)
    print(summary)
    return 0


def cmd_export_phy(args: argparse.Namespace) -> int:
    from neurosort.export import export_phy

    recording = _load_recording(args)
    export_phy(args.out_dir, recording, args.phy_dir)
    print(f"Phy folder -> {args.phy_dir}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from neurosort.config import SortConfig, load_config, to_toml, validate

    if args.action == "dump-defaults":
        sys.stdout.write(to_toml(SortConfig()))
        return 0
    if not args.file:
        raise NeurosortError("config validate: give the TOML file to check")
    validate(load_config(args.file))
    print(f"{args.file}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosort", description=__doc__)
    parser.add_argument("--version", action="version", version=f"neurosort {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sort = commands.add_parser("sort", help="sort a recording into units")
    _add_recording_arguments(sort)
    _add_config_arguments(sort)
    sort.add_argument("--out", required=True, help="output folder")
    sort.add_argument("--no-report", action="store_true", help="skip report.html")
    sort.set_defaults(func=cmd_sort)

    detect = commands.add_parser("detect", help="detect spikes only (writes peaks.npz)")
    _add_recording_arguments(detect)
    _add_config_arguments(detect)
    detect.add_argument("--out", required=True, help="output folder")
    detect.add_argument("--ground-truth", help="score detection against this ground truth")
    detect.add_argument("--match-window-ms", type=number(float, AT_LEAST_0), default=0.5)
    detect.add_argument(
        "--pr-curve", action="store_true", help="with --ground-truth: print the P/R curve"
    )
    detect.set_defaults(func=cmd_detect)

    evaluate = commands.add_parser("evaluate", help="compare a sorting with ground truth")
    evaluate.add_argument("out_dir", help="folder written by `neurosort sort`")
    evaluate.add_argument("--ground-truth", required=True, help="file with ground-truth spikes")
    evaluate.add_argument("--recording", help="recording, to measure unit SNR")
    evaluate.add_argument("--sampling-frequency", type=float, help="Hz; overrides the file's")
    evaluate.add_argument(
        "--match-window", type=number(int, AT_LEAST_0), default=30, help="samples (default 30)"
    )
    evaluate.add_argument("--snr-threshold", type=number(float, AT_LEAST_0), default=8.0)
    evaluate.set_defaults(func=cmd_evaluate)

    demo = commands.add_parser("demo", help="sort and score a seeded synthetic recording")
    demo.add_argument("--out", default="neurosort_demo", help="output folder")
    demo.add_argument("--duration-s", type=float, default=60.0)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)

    phy = commands.add_parser("export-phy", help="write a Phy folder for a sorting")
    phy.add_argument("out_dir", help="folder written by `neurosort sort`")
    _add_recording_arguments(phy)
    phy.add_argument("--phy-dir", required=True, help="Phy folder to create")
    phy.set_defaults(func=cmd_export_phy)

    config = commands.add_parser("config", help="print or check a configuration")
    config.add_argument("action", choices=["dump-defaults", "validate"])
    config.add_argument("file", nargs="?", help="TOML file to validate")
    config.set_defaults(func=cmd_config)

    _add_plugin_commands(commands)
    return parser


def _add_plugin_commands(commands: argparse._SubParsersAction) -> None:
    from neurosort.bench_cli import add_parser as add_bench
    from neurosort.detect_cnn_cli import add_parser as add_train_detector
    from neurosort.encoders.cli import add_parser as add_train_encoder
    from neurosort.states.cli import add_parser as add_states

    add_bench(commands)
    add_states(commands)
    add_train_detector(commands)
    add_train_encoder(commands)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if getattr(args, "pr_curve", False) and not args.ground_truth:
        return "detect: --pr-curve needs --ground-truth"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = _usage_problem(args)
    if problem:
        parser.error(problem)
    configure(verbose=args.verbose, progress=not args.no_progress)
    try:
        return int(args.func(args) or 0)
    except NeurosortError as error:
        message = str(error)
    except Exception as error:  # a bug or an environment problem: still one line, exit 1
        message = f"{type(error).__name__}: {error} (run with -v for the traceback)"
    if args.verbose:
        traceback.print_exc()
    print(f"neurosort: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
