"""``neurosort states``: cv, train, evaluate and predict; argument parsing and printing only."""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np

from neurosort.checks import (
    AT_LEAST_0,
    AT_LEAST_1,
    AT_LEAST_2,
    POSITIVE,
    PROBABILITY,
    SEED,
    Interval,
    check_option,
    check_output_file,
    check_output_folder,
    number,
    usable_threads,
)
from neurosort.errors import InputError
from neurosort.log import get_logger

logger = get_logger(__name__)

# The early-stopping split never holds out more than half (classifier.validation_parts).
VALIDATION_FRACTION = Interval(0, 0.5)


def add_parser(subparsers) -> None:
    states = subparsers.add_parser(
        "states", help="windowed neural-state classification (EEG seizure detection)"
    )
    commands = states.add_subparsers(dest="states_command", required=True)

    cv = commands.add_parser("cv", help="k-fold cross-validation split by recording")
    _data_arguments(cv, task_default="binary")
    _model_arguments(cv, model_required=False)
    cv.add_argument("--folds", type=number(int, AT_LEAST_2), default=5,
                    help="at most the recordings of the rarest class (default 5)")
    cv.add_argument("--jobs", type=number(int, AT_LEAST_0), default=0,
                    help="folds trained at once, in separate processes sharing --threads "
                    "(0: one per thread, at most --folds)")
    cv.add_argument("--split", choices=("recording", "chunk"), default="recording",
                    help="'chunk' is the LEAKY literature split, for comparison only")
    _report_arguments(cv)
    cv.set_defaults(func=run_cv)

    train = commands.add_parser("train", help="train on all recordings and save a model file")
    _data_arguments(train, task_default="binary")
    _model_arguments(train, model_required=False)
    train.add_argument("--out", required=True, type=Path, help="model file to write (.pt)")
    train.set_defaults(func=run_train)

    evaluate = commands.add_parser("evaluate", help="score a saved model on labelled data")
    evaluate.add_argument("model_file", type=Path)
    _data_arguments(evaluate, task_default=None)
    evaluate.add_argument("--threads", type=number(int, AT_LEAST_0), default=0)
    _report_arguments(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    predict = commands.add_parser("predict", help="stream a long signal through a saved model")
    predict.add_argument("model_file", type=Path)
    predict.add_argument("signal", type=Path, help=".npy, .csv/.txt or an MNE-readable file")
    predict.add_argument("--fs-hz", type=number(float, POSITIVE),
                         help="sampling rate of .npy/.csv input (default: the model's)")
    predict.add_argument("--hop-samples", type=number(int, AT_LEAST_1),
                         help="default: the model's")
    predict.add_argument("--smooth-windows", type=number(int, AT_LEAST_0), default=3,
                         help="windows whose probabilities are averaged (0 or 1: none)")
    predict.add_argument("--threshold", type=number(float, PROBABILITY), default=0.5,
                         help="confidence below which the state is 'unknown' (a policy's "
                              "confidence_threshold takes precedence)")
    predict.add_argument("--history-s", type=number(float, AT_LEAST_0),
                         help="seconds of past signal for per-recording scaling, at least one "
                              "window (default: the median training recording; 0: all)")
    predict.add_argument("--policy", type=Path, help="stimulation policy (.json or .toml)")
    predict.add_argument("--out", type=Path, help="write every window as JSON lines here")
    predict.add_argument("--threads", type=number(int, AT_LEAST_0), default=1)
    predict.set_defaults(func=run_predict)


def _data_arguments(parser: argparse.ArgumentParser, task_default: str | None) -> None:
    parser.add_argument("--data", required=True, type=Path,
                        help="Bonn folder/npz, a folder of arrays + labels.csv, or an EDF/FIF")
    parser.add_argument("--task", default=task_default,
                        help="binary | three | five for Bonn; a name of your choice otherwise")
    parser.add_argument("--fs-hz", type=number(float, POSITIVE),
                        help="sampling rate of a folder of arrays")
    parser.add_argument("--labels", type=Path, help="labels file (default DATA/labels.csv)")


def _model_arguments(parser: argparse.ArgumentParser, model_required: bool) -> None:
    from neurosort.states.catalog import MODELS

    parser.add_argument("--model", choices=list(MODELS), required=model_required,
                        help="default: the best model measured for the task")
    parser.add_argument("--window-samples", type=number(int, AT_LEAST_2))
    parser.add_argument("--hop-samples", type=number(int, AT_LEAST_1))
    parser.add_argument("--train-windows-per-hop", type=number(int, AT_LEAST_1),
                        help="training windows cut per hop (2: also shifted by half a hop)")
    parser.add_argument("--crop-samples", type=number(int, AT_LEAST_0),
                        help="0: whole windows; at most --window-samples")
    parser.add_argument("--inference-crops", type=number(int, AT_LEAST_1))
    parser.add_argument("--scaling", choices=("recording", "recording_level", "global"))
    parser.add_argument("--max-epochs", type=number(int, AT_LEAST_1))
    parser.add_argument("--patience", type=number(int, AT_LEAST_1))
    parser.add_argument("--class-weighting", choices=("balanced", "sqrt", "none"),
                        help="loss weights per class: balanced (inverse frequency), its square "
                        "root, or none (default: the model's)")
    parser.add_argument("--validation-fraction", type=number(float, VALIDATION_FRACTION),
                        help="recordings held out for early stopping, at most 0.5; 0: a fixed "
                        "cosine learning-rate schedule over all training recordings")
    parser.add_argument("--batch-size", type=number(int, AT_LEAST_1))
    parser.add_argument("--learning-rate", type=number(float, POSITIVE))
    parser.add_argument("--weight-decay", type=number(float, AT_LEAST_0),
                        help="AdamW weight decay")
    parser.add_argument("--subclasses", action=argparse.BooleanOptionalAction,
                        help="train on the recordings' subclasses (Bonn: the five sets) and "
                        "sum their probabilities per class (default: on for Bonn's task "
                        "three with a network model)")
    parser.add_argument("--seed", type=number(int, SEED), default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=number(int, AT_LEAST_0), default=0,
                        help="torch CPU threads (0: default)")


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aggregation", choices=("mean", "log_mean"), default="mean",
                        help="how window probabilities combine per recording (default: mean)")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument("--out", type=Path,
                        help="folder for details.json, learning curves and confusion PNGs")


def _set_threads(count: int) -> None:
    if count > 0:
        import torch

        torch.set_num_threads(usable_threads(count))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _load_data(args):
    from neurosort.states.data import load_recordings

    return load_recordings(args.data, args.task or "binary", args.fs_hz or 0.0, args.labels)


def _check_report_outputs(args) -> None:
    if args.json:
        check_output_file(args.json, "--json")
    if args.out:
        check_output_folder(args.out, "--out")


def _check_window_options(model: str, args) -> None:
    """The crop fits in the window (each alone is range-checked by argparse)."""
    from neurosort.states.catalog import model_spec

    default = model_spec(model).window
    length = args.window_samples or default.length_samples
    crop = default.crop_samples if args.crop_samples is None else args.crop_samples
    whose = "" if args.crop_samples is not None else f"; {model}'s default crop"
    check_option("--crop-samples", crop, Interval(0, length),
                 f" (0 or a crop of the {length}-sample window{whose})")


def _check_folds(folds: int, recordings) -> None:
    counts = np.bincount(recordings.labels, minlength=len(recordings.class_names))
    rarest = int(counts.argmin())
    name, count = recordings.class_names[rarest], int(counts[rarest])
    if count < 2:
        raise InputError(f"{recordings.source}: class {name!r} has {count} recording; "
                         "cross-validation needs at least 2 of each class")
    check_option("--folds", folds, Interval(2, count),
                 f" (class {name!r} has {count} recordings)")


def _check_validation_fraction(classifier, n_recordings: int, given: bool) -> None:
    """The early-stopping split of ``classifier`` holds out one of round(1 / fraction) parts of
    the ``n_recordings`` training recordings: at least one recording."""
    from neurosort.states.classifier import validation_parts

    fraction = getattr(classifier, "validation_fraction", 0.0)
    if fraction == 0 or validation_parts(fraction) <= n_recordings:
        return
    allowed = f"0 or in [{1 / n_recordings:.3g}, 0.5]" if n_recordings >= 2 else "0"
    default = "" if given else " (the model's default)"
    raise InputError(f"--validation-fraction must be {allowed} with {n_recordings} recordings "
                     f"to train on, got {fraction:g}{default}")


def _resolved(args, recordings):
    """Model name, window settings, classifier overrides and the labels to fit on."""
    from neurosort.states.catalog import best_model, trains_on_subclasses, window_for

    model = args.model or best_model(recordings.task)
    _check_window_options(model, args)
    window = window_for(
        model, length_samples=args.window_samples, hop_samples=args.hop_samples,
        train_windows_per_hop=args.train_windows_per_hop, crop_samples=args.crop_samples,
        n_inference_crops=args.inference_crops, scaling=args.scaling,
    )
    overrides = {
        "max_epochs": args.max_epochs, "patience_epochs": args.patience,
        "validation_fraction": args.validation_fraction,
        "class_weighting": args.class_weighting,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "weight_decay": args.weight_decay, "device": args.device,
    }
    subclasses = args.subclasses
    if subclasses is None:
        subclasses = trains_on_subclasses(recordings.task, model) and (
            recordings.subclasses is not None
        )
    fit_labels = recordings.labels
    if subclasses:
        if model == "spectral_rf":
            raise InputError("--subclasses: needs a network model, not spectral_rf")
        overrides["label_classes"] = recordings.class_of_subclass()
        fit_labels = recordings.subclasses
    return model, window, overrides, fit_labels


def run_cv(args) -> int:
    from neurosort.states.catalog import fold_classifier
    from neurosort.states.evaluate import cross_validate

    _check_report_outputs(args)
    _set_threads(args.threads)
    recordings = _load_data(args)
    model, window, overrides, fit_labels = _resolved(args, recordings)
    _check_folds(args.folds, recordings)
    jobs = args.jobs or min(args.folds, _torch_threads())
    factory = partial(fold_classifier, model, window, recordings.sampling_frequency_hz,
                      args.seed, overrides)
    counts = np.bincount(recordings.labels)
    if args.split == "recording":
        counts = counts - -(-counts // args.folds)  # less the largest test share of a fold
    _check_validation_fraction(factory(0), int(counts.sum()),
                               args.validation_fraction is not None)
    report = cross_validate(
        recordings, factory, window, model, n_folds=args.folds, seed=args.seed,
        split=args.split, aggregation=args.aggregation, n_jobs=jobs, fit_labels=fit_labels,
    )
    print(format_report(report))
    _write_outputs(args, report)
    return 0


def run_train(args) -> int:
    import time

    from neurosort import __version__
    from neurosort.states.catalog import make_classifier, model_spec
    from neurosort.states.modelfile import TrainedModel, amplitude_range, save_model
    from neurosort.states.windows import cut_windows

    check_output_file(args.out, "--out")
    _set_threads(args.threads)
    recordings = _load_data(args)
    model, window, overrides, fit_labels = _resolved(args, recordings)
    classifier = make_classifier(model, window, recordings.sampling_frequency_hz,
                                 seed=args.seed, **overrides)
    _check_validation_fraction(classifier, len(recordings), args.validation_fraction is not None)
    windows, owners = cut_windows(recordings.signals, window.for_training(),
                                  recordings.recording_ids)
    start = time.perf_counter()
    classifier.fit(windows, fit_labels[owners], owners)
    card = {
        "neurosort_version": __version__,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "description": model_spec(model).description,
        "data": str(recordings.source),
        "n_recordings": len(recordings),
        "n_windows": int(len(windows)),
        "median_recording_samples": int(np.median([s.shape[1] for s in recordings.signals])),
        "channel_std_range": amplitude_range(recordings.signals),
        "recordings_per_class": dict(zip(recordings.class_names,
                                         np.bincount(recordings.labels).tolist(), strict=True)),
        "training_seconds": round(time.perf_counter() - start, 2),
        "seed": args.seed,
        "window": window.to_dict(),
        "parameters": {k: v for k, v in classifier.get_params().items() if k != "device"},
    }
    if "label_classes" in overrides:
        card["subclasses"] = {
            name: recordings.class_names[owner]
            for name, owner in zip(recordings.subclass_names, overrides["label_classes"],
                                   strict=True)
        }
    if hasattr(classifier, "history_"):
        fraction = classifier.validation_fraction
        card["early_stopping"] = (
            f"validation loss on {fraction:.0%} of the recordings, held out" if fraction > 0
            else "none: every epoch, cosine learning-rate decay, last weights kept"
        )
        card["history"] = classifier.history_.to_dict()
    trained = TrainedModel(classifier, model, recordings.task, recordings.class_names, window,
                           recordings.sampling_frequency_hz, card)
    path = save_model(args.out, trained)
    print(f"saved {model} model for task {recordings.task} to {path}")
    return 0


def run_evaluate(args) -> int:
    from neurosort.states.data import load_recordings
    from neurosort.states.evaluate import CVReport, score_fold
    from neurosort.states.modelfile import load_model
    from neurosort.states.windows import cut_windows

    _check_report_outputs(args)
    _set_threads(args.threads)
    trained = load_model(args.model_file)
    recordings = load_recordings(args.data, args.task or trained.task, args.fs_hz or 0.0,
                                 args.labels)
    trained.check_task(recordings.task, recordings.class_names, str(args.model_file))
    trained.check_amplitude(recordings.signals, str(args.data), recordings.recording_ids)
    if abs(recordings.sampling_frequency_hz - trained.sampling_frequency_hz) > 1e-3:
        raise InputError(f"{args.data}: sampling rate {recordings.sampling_frequency_hz:g} Hz, "
                         f"the model expects {trained.sampling_frequency_hz:g} Hz")
    windows, owners = cut_windows(recordings.signals, trained.window, recordings.recording_ids)
    report = CVReport(recordings.task, trained.model, "held-out (saved model)",
                      recordings.class_names, trained.window.to_dict(),
                      aggregation=args.aggregation)
    everything = np.arange(len(windows))
    report.folds.append(score_fold(trained.classifier, windows, owners, recordings, everything,
                                   fit_seconds=0.0, aggregation=args.aggregation))
    print(format_report(report))
    _write_outputs(args, report)
    return 0


def run_predict(args) -> int:
    from neurosort.states.data import check_given_rate, read_stream_signal
    from neurosort.states.modelfile import load_model
    from neurosort.states.policy import load_policy
    from neurosort.states.stream import stream_predict

    if args.out:
        check_output_file(args.out, "--out")
    _set_threads(args.threads)
    trained = load_model(args.model_file)
    policy = load_policy(args.policy, trained.class_names) if args.policy else None
    signal, file_rate = read_stream_signal(args.signal)
    trained.check_amplitude([signal], str(args.signal))
    check_given_rate(args.signal, file_rate, args.fs_hz)
    rate = file_rate or args.fs_hz or trained.sampling_frequency_hz
    history = _history_samples(args.history_s, rate, trained.window.length_samples)
    rows = stream_predict(trained, signal, rate, args.hop_samples, args.smooth_windows,
                          args.threshold, policy, where=str(args.signal), history_samples=history)
    print(format_stream(rows, trained.class_names))
    if args.out:
        _atomic_write(args.out, "".join(json.dumps(row) + "\n" for row in rows))
    return 0


def _history_samples(seconds: float | None, rate: float, window_samples: int) -> int | None:
    """``--history-s`` in samples: None (the model's default), 0 (all) or at least a window."""
    if seconds is None:
        return None
    samples = int(round(seconds * rate))
    if seconds > 0 and samples < window_samples:
        raise InputError(f"--history-s must be 0 (all the signal so far) or at least one window "
                         f"({window_samples / rate:g} s), got {seconds:g}")
    return samples


def format_report(report) -> str:
    """Mean +- std table of the window- and recording-level metrics."""
    mean, std = report.mean(), report.std()
    names = report.class_names
    split = report.split if report.split != "chunk" else "chunk (LEAKY: recordings on both sides)"
    lines = [f"task {report.task}  model {report.model}  split {split}  folds {len(report.folds)}",
             f"{'level':<10}{'metric':<20}" + "".join(f"{n:>16}" for n in ("all", *names))]
    for level in ("window", "recording"):
        for metric in ("accuracy", "balanced_accuracy"):
            cell = f"{mean[level][metric]:.3f}+-{std[level][metric]:.3f}"
            lines.append(f"{level:<10}{metric:<20}{cell:>16}")
        for metric in ("per_class_accuracy", "per_class_f1"):
            cells = "".join(f"{mean[level][metric][n]:>9.3f}+-{std[level][metric][n]:.3f}"
                            for n in names)
            lines.append(f"{level:<10}{metric:<20}{'':>16}{cells}")
    fit = [f.fit_seconds for f in report.folds]
    latency = [f.predict_seconds_per_window * 1000 for f in report.folds]
    lines.append(f"fit {np.mean(fit):.1f} s per fold, {np.sum(fit):.1f} s summed over folds; "
                 f"batched inference {np.mean(latency):.3f} ms per window")
    return "\n".join(lines)


def format_stream(rows: list[dict], class_names: tuple[str, ...]) -> str:
    header = ["start_s", "end_s", *[f"p_{n}" for n in class_names], "state", "confidence",
              "latency_ms", "stimulation"]
    lines = [",".join(header)]
    for row in rows:
        stimulation = row["stimulation"]
        recommendation = (
            "{frequency_hz:g}Hz/{amplitude_ma:g}mA/{pulse_width_us:g}us/{duration_min:g}min"
            .format(**stimulation) if stimulation else "none"
        )
        values = [f"{row['start_s']:.3f}", f"{row['end_s']:.3f}",
                  *[f"{row['probabilities'][n]:.4f}" for n in class_names], row["state"],
                  f"{row['confidence']:.4f}", f"{row['latency_ms']:.3f}", recommendation]
        lines.append(",".join(values))
    return "\n".join(lines)


def _write_outputs(args, report) -> None:
    if args.json:
        _atomic_write(args.json, json.dumps(report.to_json(), indent=2))
    if args.out:
        write_figures(report, args.out)


def write_figures(report, folder: Path) -> None:
    from neurosort.states.plots import confusion_figure, learning_curves_figure

    folder.mkdir(parents=True, exist_ok=True)
    details = report.details()
    _atomic_write(folder / "details.json", json.dumps(details, indent=2))
    for level in ("window", "recording"):
        confusion = np.sum([f[level]["confusion"] for f in details["folds"]], axis=0)
        figure = confusion_figure(confusion, report.class_names,
                                  f"{report.model} {report.task}: {level} level")
        figure.savefig(folder / f"confusion_{level}.png", dpi=100)
    histories = [f["history"] for f in details["folds"] if f["history"]]
    if histories:
        learning_curves_figure(histories, f"{report.model} {report.task}").savefig(
            folder / "learning_curves.png", dpi=100)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    temporary.replace(path)
