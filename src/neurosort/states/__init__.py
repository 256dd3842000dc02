"""Windowed neural-state classification: data, windows, models, evaluation, streaming, policy."""
