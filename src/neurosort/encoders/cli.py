"""`neurosort train-encoder`: pretrain a contrastive encoder on training data only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_train_encoder(args: argparse.Namespace) -> int:
    from neurosort.checks import check_output_file
    from neurosort.detect_cnn_train import default_train_dir
    from neurosort.encoders.pretrain import PretrainSettings, pretrain

    check_output_file(Path(args.out), "--out")
    settings = PretrainSettings(architecture=args.architecture, n_steps=args.steps, seed=args.seed)
    command = (
        f"neurosort train-encoder --architecture {args.architecture} --out {args.out} "
        f"--steps {args.steps} --seed {args.seed}"
    )
    card = pretrain(args.out, settings, args.train_dir or default_train_dir(), command)
    print(f"weights -> {args.out}; validation ARI {json.dumps(card['validation'])}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-encoder", help="pretrain a contrastive spike encoder (weights, card, loss plot)"
    )
    parser.add_argument("--architecture", choices=["s4", "conv"], default="s4")
    parser.add_argument("--out", required=True, help="weights file to write (.pt)")
    parser.add_argument("--steps", type=int, default=PRETRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-dir",
        help="MEArec training recordings (default: $NEUROSORT_DATA/mearec/train, else "
        "../shared/data/mearec/train next to the repository)",
    )
    parser.set_defaults(func=cmd_train_encoder)


PRETRAIN_STEPS = 2000
