"""Helpers for the states tests: synthetic two-class signals and the CLI parser."""

from __future__ import annotations

import argparse

import numpy as np

SYNTHETIC_RATE_HZ = 100.0
CLASS_FREQUENCIES_HZ = {"slow": 4.0, "fast": 13.0}


def synthetic_signal(label: str, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy rhythm whose frequency (4 or 13 Hz, +-10 %) gives the class away."""
    time_s = np.arange(n_samples) / SYNTHETIC_RATE_HZ
    frequency = CLASS_FREQUENCIES_HZ[label] * rng.uniform(0.9, 1.1)
    rhythm = np.sin(2 * np.pi * frequency * time_s + rng.uniform(0, 2 * np.pi))
    noise = 0.5 * rng.standard_normal(n_samples)
    return (rng.uniform(20, 60) * (rhythm + noise)).astype(np.float32)


def build_parser() -> argparse.ArgumentParser:
    from neurosort.states.cli import add_parser

    parser = argparse.ArgumentParser(prog="neurosort")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def run_cli(*arguments: str) -> int:
    args = build_parser().parse_args(["states", *arguments])
    return args.func(args)
