"""Reassignment of spikes by template fits that allow for one overlapping spike.

A spike that overlaps another neuron's spike (closer than a snippet's length) has a distorted
waveform and often lands in the wrong unit, or in a unit that collects such mixtures. After
clustering, every snippet is fitted with the unit templates: one template at the snippet's peak,
or one of its best few templates at the peak plus any template shifted by up to the snippet's
length. A spike moves to the unit whose template at the peak gives the best fit when that fit
beats its current unit's template by ``min_gain_sigma2`` noise variances per snippet value.
"""

from __future__ import annotations

import numpy as np

from neurosort.waveforms import compute_templates

BATCH_SPIKES = 4096


def shifted_templates(templates: np.ndarray) -> np.ndarray:
    """Flat copies of (n_units, channels, n) ``templates`` shifted along time by every
    non-zero offset within n (zero-filled): (n_units * 2 * (n - 1), channels * n)."""
    length = templates.shape[-1]
    shifted = []
    for shift in range(1, length):
        later, earlier = np.zeros_like(templates), np.zeros_like(templates)
        later[..., shift:] = templates[..., :-shift]
        earlier[..., :-shift] = templates[..., shift:]
        shifted += [later, earlier]
    if not shifted:
        return np.zeros((0, templates[0].size), templates.dtype)
    return np.concatenate(shifted).reshape(-1, templates[0].size)


def _squared_residuals(x: np.ndarray, templates: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """||x_i - t_j||^2 for every row x_i and template t_j."""
    return (x**2).sum(axis=1)[:, None] - 2 * x @ templates.T + norms[None, :]


def best_fits(
    x: np.ndarray, templates: np.ndarray, shifted: np.ndarray, n_candidates: int
) -> tuple[np.ndarray, np.ndarray]:
    """(unit at the peak, squared residual) of the best one- or two-spike fit of each flat row
    of ``x``: one of ``templates`` alone, or one of its ``n_candidates`` best plus one of
    ``shifted`` (all flat)."""
    single = _squared_residuals(x, templates, (templates**2).sum(axis=1))
    shifted_norms = (shifted**2).sum(axis=1)
    best_unit, best_residual = single.argmin(axis=1), single.min(axis=1)
    for candidate in np.argsort(single, axis=1)[:, :n_candidates].T:
        pair = _squared_residuals(x - templates[candidate], shifted, shifted_norms).min(axis=1)
        best_unit = np.where(pair < best_residual, candidate, best_unit)
        best_residual = np.minimum(pair, best_residual)
    return best_unit, best_residual


def reassign_overlapping_spikes(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    *,
    min_gain_sigma2: float,
    n_candidates: int = 3,
) -> np.ndarray:
    """New labels (0..n_units-1, -1 unassigned) for (n, samples, channels) ``snippets``.

    Unassigned spikes (-1) stay unassigned; ``min_gain_sigma2`` <= 0 disables.
    """
    n_units = int(labels.max()) + 1 if len(labels) else 0
    if min_gain_sigma2 <= 0 or n_units == 0:
        return labels
    # (n, channels, samples): templates are shifted along time, then flattened.
    scaled = (snippets / np.maximum(noise_levels, 1e-12)).astype(np.float32).transpose(0, 2, 1)
    templates = compute_templates(scaled, labels, n_units)
    flat_templates = templates.reshape(n_units, -1)
    shifted = shifted_templates(templates)
    margin = min_gain_sigma2 * flat_templates.shape[1]
    new = labels.copy()
    for start in range(0, len(scaled), BATCH_SPIKES):
        batch = slice(start, start + BATCH_SPIKES)
        x, old = scaled[batch].reshape(-1, flat_templates.shape[1]), labels[batch]
        assigned = np.flatnonzero(old >= 0)
        own = ((x[assigned] - flat_templates[old[assigned]]) ** 2).sum(axis=1)
        # Residuals are >= 0, so only spikes whose own fit is worse than the margin can move.
        assigned, own = assigned[own > margin], own[own > margin]
        unit, residual = best_fits(x[assigned], flat_templates, shifted, n_candidates)
        move = residual < own - margin
        new[start + assigned[move]] = unit[move]
    return new
