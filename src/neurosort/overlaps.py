"""Reassignment of spikes by template fits that allow for one overlapping spike.

A spike that overlaps another neuron's spike (closer than a snippet's length) has a distorted
waveform and often lands in the wrong unit, or in a unit that collects such mixtures. After
clustering, every snippet is fitted with the unit templates: one template at the snippet's peak,
or one of its best few templates at the peak plus any template shifted by up to the snippet's
length. A spike moves to the unit whose template at the peak gives the best fit when that fit
beats its current unit's template by ``min_gain_sigma2`` noise variances per snippet value.

On a probe, spikes the clustering left unassigned (often two neurons' spikes overlapping, one
of them from another channel group) are fitted the same way with the templates of the units
around their peak channel (:func:`rescue_unassigned_spikes`).
"""

from __future__ import annotations

import numpy as np

from neurosort.waveforms import compute_templates, main_channel_templates, scatter_templates

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


def rescue_unassigned_spikes(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    channel_index: np.ndarray,
    neighbourhoods: np.ndarray,
    *,
    quantile: float,
    n_candidates: int = 3,
) -> np.ndarray:
    """Labels with unassigned spikes (-1) of a probe given to the unit whose template fits
    them, alone or with one overlapping template, at least as well as ``quantile`` of the
    unit's own spikes fit theirs; ``quantile`` <= 0 disables.

    ``snippets`` (n, samples, k) span each spike's peak channel neighbourhood
    (``neighbourhoods[channel_index]``). Each unit's template is the median of its spikes on
    its main channel, in noise sigmas, placed on the probe (zeros outside the main channel's
    neighbourhood); a spike is fitted with the units whose main channel lies in its
    neighbourhood, on that neighbourhood.
    """
    labels = np.array(labels, copy=True)
    unassigned = labels < 0
    if quantile <= 0 or not unassigned.any() or unassigned.all():
        return labels
    n_units = int(labels.max()) + 1
    scaled = snippets / np.maximum(noise_levels[neighbourhoods[channel_index]], 1e-12)[:, None]
    home = np.array([np.bincount(channel_index[labels == unit]).argmax() if (labels == unit).any()
                     else -1 for unit in range(n_units)])
    templates = main_channel_templates(scaled, labels, n_units, channel_index, home)
    limits = _own_fit_limits(scaled, labels, channel_index, home, templates, quantile)
    on_probe = scatter_templates(templates, np.maximum(home, 0), neighbourhoods,
                                 len(neighbourhoods))
    for channel in np.unique(channel_index[unassigned]):
        rows = np.flatnonzero(unassigned & (channel_index == channel))
        around = neighbourhoods[channel]
        candidates = np.flatnonzero(np.isin(home, around) & np.isfinite(limits))
        if len(candidates) == 0:
            continue
        local = on_probe[candidates][:, :, around].transpose(0, 2, 1)  # (units, k, samples)
        x = scaled[rows].transpose(0, 2, 1).reshape(len(rows), -1)
        best, residual = best_fits(x, local.reshape(len(candidates), -1),
                                   shifted_templates(local), n_candidates)
        fits = residual <= limits[candidates[best]]
        labels[rows[fits]] = candidates[best[fits]]
    return labels


def _own_fit_limits(
    scaled: np.ndarray, labels: np.ndarray, channel_index: np.ndarray, home: np.ndarray,
    templates: np.ndarray, quantile: float, min_spikes: int = 5,
) -> np.ndarray:
    """Per unit, ``quantile`` of the squared residuals of its main-channel spikes against its
    template (inf for a unit with fewer than ``min_spikes`` there)."""
    limits = np.full(len(templates), np.inf)
    for unit, template in enumerate(templates):
        own = (labels == unit) & (channel_index == home[unit])
        if own.sum() >= min_spikes:
            limits[unit] = np.quantile(((scaled[own] - template) ** 2).sum(axis=(1, 2)), quantile)
    return limits
