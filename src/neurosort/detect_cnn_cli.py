"""`neurosort train-detector`: train the CNN spike detector on training data only."""

from __future__ import annotations

import argparse
import json

from neurosort.detect_cnn_train import TrainingSettings, default_train_dir


def cmd_train_detector(args: argparse.Namespace) -> int:
    from neurosort.detect_cnn_train import train_detector

    settings = TrainingSettings(
        seed=args.seed, epochs=args.epochs, train_dir=args.train_dir, threads=args.threads
    )
    command = f"neurosort train-detector --out {args.out} --seed {args.seed} --epochs {args.epochs}"
    card = train_detector(args.out, settings, command=command)
    validation = {k: card["validation"][k] for k in ("probability", "precision", "recall", "f1")}
    print(f"weights -> {args.out}; validation {json.dumps(validation)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    defaults = TrainingSettings()
    parser = subparsers.add_parser(
        "train-detector", help="train the CNN spike detector (writes weights, card, curves)"
    )
    parser.add_argument("--out", required=True, help="weights file to write (.pt)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument(
        "--train-dir",
        default=None,
        help=f"MEArec training recordings (default: {default_train_dir()})",
    )
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch threads")
    parser.set_defaults(func=cmd_train_detector)
