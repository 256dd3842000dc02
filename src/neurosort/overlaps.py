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

from neurosort.waveforms import (
    compute_templates,
    main_channel_templates,
    main_channels,
    scatter_templates,
)

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
    min_unit_spikes: int,
    n_candidates: int = 3,
    n_calibration_spikes: int = 200,
    min_calibration_spikes: int = 10,
) -> np.ndarray:
    """Labels with unassigned spikes (-1) of a probe given to the unit whose template fits
    them, alone or with one overlapping template, at least as well as ``quantile`` of the
    unit's own spikes on the same peak channel are fitted the same way; ``quantile`` <= 0
    disables.

    ``snippets`` (n, samples, k) span each spike's peak channel neighbourhood
    (``neighbourhoods[channel_index]``). Each unit's template is the median of its spikes on
    its main channel, in noise sigmas, placed on the probe (zeros outside the main channel's
    neighbourhood). A spike is fitted on its neighbourhood with the units whose main channel
    lies in it (:func:`best_fits`). A unit's limit on a channel is the ``quantile`` of the
    residuals of its own spikes there (up to ``n_calibration_spikes``, evenly spaced) that
    the fit gives back to it; with fewer than ``min_calibration_spikes`` of those, the limit
    of its main channel. Units of fewer than ``min_unit_spikes`` spikes take none.
    """
    labels = np.array(labels, copy=True)
    unassigned = labels < 0
    if quantile <= 0 or not unassigned.any() or unassigned.all():
        return labels
    fit = _ChannelFits(labels, snippets, noise_levels, channel_index, neighbourhoods,
                       min_unit_spikes, n_candidates)
    limits = fit.limits(quantile, n_calibration_spikes, min_calibration_spikes)
    for channel in np.unique(channel_index[unassigned]):
        rows = np.flatnonzero(unassigned & (channel_index == channel))
        unit, residual = fit(rows, channel)
        fits = (unit >= 0) & (residual <= limits[np.maximum(unit, 0), channel])
        labels[rows[fits]] = unit[fits]
    return labels


class _ChannelFits:
    """Best one- or two-template fits of spikes on their peak channel's neighbourhood."""

    def __init__(self, labels, snippets, noise_levels, channel_index, neighbourhoods,
                 min_unit_spikes: int, n_candidates: int) -> None:
        self.labels, self.snippets, self.channel_index = labels, snippets, channel_index
        self.noise_levels, self.neighbourhoods = noise_levels, neighbourhoods
        self.n_candidates = n_candidates
        n_units = int(labels.max()) + 1
        assigned = np.flatnonzero(labels >= 0)
        sizes = np.bincount(labels[assigned], minlength=n_units)
        self.members = np.split(assigned[np.argsort(labels[assigned], kind="stable")],
                                np.cumsum(sizes)[:-1])
        self.home = np.where(sizes >= max(min_unit_spikes, 1),
                             main_channels(labels, channel_index, n_units), -1)
        templates = main_channel_templates(snippets, labels, n_units, channel_index,
                                           np.maximum(self.home, 0))
        templates /= np.maximum(noise_levels[neighbourhoods[np.maximum(self.home, 0)]],
                                1e-12)[:, None, :]
        self.on_probe = scatter_templates(templates, np.maximum(self.home, 0), neighbourhoods,
                                          len(neighbourhoods))
        self._banks: dict[int, tuple] = {}

    def _bank(self, channel: int) -> tuple:
        """Candidate units, their flat templates and shifted copies on ``channel``'s
        neighbourhood (the units whose main channel lies in it)."""
        if channel not in self._banks:
            around = self.neighbourhoods[channel]
            candidates = np.flatnonzero(np.isin(self.home, around))
            local = self.on_probe[candidates][:, :, around].transpose(0, 2, 1)  # (units, k, n)
            self._banks[channel] = (candidates, local.reshape(len(candidates), -1),
                                    shifted_templates(local))
        return self._banks[channel]

    def __call__(self, rows: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """(unit, squared residual) of each of ``rows`` (spikes peaking on ``channel``);
        unit -1 and residual inf when no unit's main channel lies in the neighbourhood."""
        candidates, flat, shifted = self._bank(channel)
        unit, residual = np.full(len(rows), -1), np.full(len(rows), np.inf)
        if len(candidates) == 0:
            return unit, residual
        noise = np.maximum(self.noise_levels[self.neighbourhoods[channel]], 1e-12)
        for start in range(0, len(rows), BATCH_SPIKES):
            batch = slice(start, start + BATCH_SPIKES)
            x = (self.snippets[rows[batch]] / noise).transpose(0, 2, 1).reshape(-1, flat.shape[1])
            best, residual[batch] = best_fits(x, flat, shifted, self.n_candidates)
            unit[batch] = candidates[best]
        return unit, residual

    def limits(self, quantile: float, n_spikes: int, min_spikes: int) -> np.ndarray:
        """(units, channels) limits: ``quantile`` of the residuals of up to ``n_spikes`` of a
        unit's spikes on a channel that the fit gives back to it, else the limit of its main
        channel; -inf where neither has ``min_spikes`` such spikes (the unit takes none)."""
        limits = np.full((len(self.home), len(self.neighbourhoods)), np.nan)
        calibration = [self._evenly_spaced(unit, n_spikes) for unit in range(len(self.home))]
        rows = np.concatenate(calibration)
        for channel in np.unique(self.channel_index[rows]):
            on_channel = rows[self.channel_index[rows] == channel]
            unit, residual = self(on_channel, channel)
            own = self.labels[on_channel]
            for member in np.unique(own):
                fitted = residual[(own == member) & (unit == member)]
                if len(fitted) >= min_spikes:
                    limits[member, channel] = np.quantile(fitted, quantile)
        at_home = np.full(len(self.home), -np.inf)
        known = self.home >= 0
        at_home[known] = limits[np.flatnonzero(known), self.home[known]]
        at_home[np.isnan(at_home)] = -np.inf
        return np.where(np.isnan(limits), at_home[:, None], limits)

    def _evenly_spaced(self, unit: int, n_spikes: int) -> np.ndarray:
        """Up to ``n_spikes`` evenly spaced spikes of ``unit`` on each of its peak channels
        (none for a unit that takes no spikes)."""
        if self.home[unit] < 0:
            return np.zeros(0, dtype=np.int64)
        members = self.members[unit]
        picked = []
        for channel in np.unique(self.channel_index[members]):
            there = members[self.channel_index[members] == channel]
            count = min(n_spikes, len(there))
            picked.append(there[np.linspace(0, len(there) - 1, count).astype(int)])
        return np.concatenate(picked)
