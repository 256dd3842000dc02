"""Curation of a finished sorting: echo spikes, one spike detected twice.

A large spike can cross the threshold again in a later (or earlier) phase, a millisecond or
two from its peak, and a spike seen on two channel groups is detected on each. These copies
form a unit of their own, or part of one, whose spikes follow a louder unit's at one fixed
lag; spikes of two different neurons do not keep a fixed lag.
"""

from __future__ import annotations

import numpy as np

from neurosort.log import get_logger

logger = get_logger(__name__)

ECHO_MAX_LAG_MS = 5.0
ECHO_JITTER_MS = 0.1
# Locked pairs must outnumber what two independent trains would give at one lag this many times.
ECHO_MIN_EXCESS = 10.0


def echo_spikes(
    labels: np.ndarray,
    sample_index: np.ndarray,
    amplitude: np.ndarray,
    *,
    n_samples: int,
    max_lag_samples: int,
    jitter_samples: int,
    min_fraction: float,
    min_excess: float = ECHO_MIN_EXCESS,
) -> np.ndarray:
    """Mask of the spikes that echo a louder unit's spikes.

    For each unit and each louder unit (median absolute amplitude, then size), the lags within
    ``max_lag_samples`` from the louder unit's spikes to the unit's are counted. The unit's
    spikes at the most common lag (+- ``jitter_samples``) are echoes when they are at least
    ``min_fraction`` of the unit, ``min_excess`` times what chance gives, and more than the
    two neighbouring bands of lags hold together (a copy keeps its lag; the later spikes of a
    burst spread over milliseconds). Each pair removes at most one lag; pairs are taken by
    decreasing count, each checked again on the spikes not yet marked.
    """
    echo = np.zeros(len(labels), dtype=bool)
    units = np.unique(labels[labels >= 0])
    if min_fraction <= 0 or len(units) < 2:
        return echo
    members = {unit: _by_time(np.flatnonzero(labels == unit), sample_index) for unit in units}
    rank = {unit: (np.median(np.abs(amplitude[members[unit]])), len(members[unit]))
            for unit in units}
    jitter = min(jitter_samples, max_lag_samples)

    def locked(source: int, unit: int) -> np.ndarray | None:
        own, from_source = (members[u][~echo[members[u]]] for u in (unit, source))
        return _locked_to(
            sample_index[from_source], sample_index[own], max_lag_samples, jitter, n_samples,
            min_count=max(min_fraction * len(members[unit]), 1.0), min_excess=min_excess,
        )

    pairs = [(source, unit) for unit in units for source in units if rank[source] > rank[unit]]
    found = [(pair, mask) for pair in pairs if (mask := locked(*pair)) is not None]
    for (source, unit), _ in sorted(found, key=lambda item: -int(item[1].sum())):
        mask = locked(source, unit)
        if mask is None:
            continue
        own = members[unit][~echo[members[unit]]]
        echo[own[mask]] = True
        logger.debug("unit %d: %d spikes echo unit %d", unit, int(mask.sum()), source)
    return echo


def _by_time(rows: np.ndarray, sample_index: np.ndarray) -> np.ndarray:
    return rows[np.argsort(sample_index[rows], kind="stable")]


def _locked_to(
    source_times: np.ndarray,
    times: np.ndarray,
    max_lag: int,
    jitter: int,
    n_samples: int,
    *,
    min_count: float,
    min_excess: float,
) -> np.ndarray | None:
    """Mask of ``times`` with a spike of ``source_times`` (both sorted) at the most common lag,
    or None when that lag holds fewer than ``min_count`` of them, fewer than ``min_excess``
    times chance, or no more than its two neighbouring bands together."""
    first = np.searchsorted(source_times, times - max_lag, side="left")
    n_near = np.searchsorted(source_times, times + max_lag, side="right") - first
    if n_near.sum() == 0:
        return None
    owner = np.repeat(np.arange(len(times)), n_near)
    rank = np.arange(n_near.sum()) - np.repeat(np.cumsum(n_near) - n_near, n_near)
    lags = times[owner] - source_times[first[owner] + rank]
    width = 2 * jitter + 1
    counts = np.pad(np.bincount(lags + max_lag, minlength=2 * max_lag + 1), 2 * width)
    band = np.convolve(counts, np.ones(width, dtype=np.int64), mode="same")
    peak = int(np.argmax(band))
    centre = peak - 2 * width - max_lag
    locked = np.zeros(len(times), dtype=bool)
    locked[owner[np.abs(lags - centre) <= jitter]] = True
    chance = len(source_times) * len(times) * width / max(n_samples, 1)
    sharp = band[peak] > band[peak - width] + band[peak + width]
    if not sharp or locked.sum() < max(min_count, min_excess * max(chance, 1.0)):
        return None
    return locked
