"""`neurosort train-detector`: train the CNN spike detector on training data only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_train_detector(args: argparse.Namespace) -> int:
    from neurosort.checks import check_output_file
    from neurosort.detect_cnn_train import TrainingSettings, train_detector

    check_output_file(Path(args.out), "--out")
    given = {
        "seed": args.seed,
        "epochs": args.epochs,
        "train_dir": args.train_dir,
        "threads": args.threads,
    }
    settings = TrainingSettings(**{key: value for key, value in given.items() if value is not None})
    command = (
        f"neurosort train-detector --out {args.out} --seed {settings.seed} "
        f"--epochs {settings.epochs}"
    )
    card = train_detector(args.out, settings, command=command)
    validation = {k: card["validation"][k] for k in ("probability", "precision", "recall", "f1")}
    print(f"weights -> {args.out}; validation {json.dumps(validation)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-detector", help="train the CNN spike detector (writes weights, card, curves)"
    )
    parser.add_argument("--out", required=True, help="weights file to write (.pt)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default 8)")
    parser.add_argument(
        "--train-dir",
        help="MEArec training recordings (default: $NEUROSORT_DATA/mearec/train, else "
        "../shared/data/mearec/train next to the repository)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default 2)")
    parser.set_defaults(func=cmd_train_detector)
