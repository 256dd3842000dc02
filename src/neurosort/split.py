"""Splitting of units that hold several neurons, in features recomputed on each unit alone.

Global features are spent on the large differences between units; two neurons with similar
waveforms can share one cluster there and still differ clearly along the principal axes of
that cluster's own waveforms (MountainSort's "branch" idea). Each unit is re-clustered in its
own principal components; the split stands only where the parts' templates differ by more than
the merge rule tolerates, so merging never undoes it.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from neurosort.cluster import GMMBIC, merge_similar_units
from neurosort.log import get_logger

logger = get_logger(__name__)


def split_units(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    *,
    min_difference_sigma: float,
    min_size: int,
    n_components: int = 3,
    max_parts: int = 4,
    max_spikes_to_fit: int = 4000,
    max_rounds: int = 3,
    seed: int = 0,
    **merge_options,
) -> np.ndarray:
    """Labels after splitting every unit whose local clusters are distinct neurons.

    A unit's whitened snippets are projected on their first ``n_components`` principal
    components and clustered by a BIC-chosen Gaussian mixture (at most ``max_parts``); parts
    whose templates differ nowhere by more than ``min_difference_sigma`` (or, with spike
    times in ``merge_options``, that fire like one neuron) are joined again by the merge rule.
    New parts are examined again, for at most ``max_rounds`` rounds.
    """
    labels = labels.copy()
    pending = [int(u) for u in np.unique(labels[labels >= 0])]
    whitened = snippets / np.maximum(noise_levels, 1e-12)
    for _ in range(max_rounds):
        created = []
        for unit in pending:
            members = np.flatnonzero(labels == unit)
            parts = _split_one(whitened, snippets, noise_levels, members, min_difference_sigma,
                               min_size, n_components, max_parts, max_spikes_to_fit, seed,
                               merge_options)
            if parts is None:
                continue
            next_label = int(labels.max()) + 1
            part_ids = np.unique(parts)
            for offset, part in enumerate(part_ids[1:]):
                labels[members[parts == part]] = next_label + offset
            created += [unit, *range(next_label, next_label + len(part_ids) - 1)]
            logger.debug("unit %d split into %d parts", unit, len(part_ids))
        if not created:
            break
        pending = created
    return labels


def _split_one(whitened, snippets, noise_levels, members, min_difference_sigma, min_size,
               n_components, max_parts, max_spikes_to_fit, seed, merge_options):
    """Part labels (0..k-1) of one unit's members, or None when it stays whole."""
    if len(members) < 2 * min_size:
        return None
    rng = np.random.default_rng(seed)
    flat = whitened[members].reshape(len(members), -1).astype(np.float64)
    fit = np.arange(len(members))
    if len(members) > max_spikes_to_fit:
        fit = np.sort(rng.choice(len(members), max_spikes_to_fit, replace=False))
    pca = PCA(min(n_components, flat.shape[1]), random_state=seed).fit(flat[fit])
    local = pca.transform(flat)
    mixture = GMMBIC(max_units=max_parts, seed=seed).fit(local[fit])
    parts = mixture.predict(local)
    sizes = np.bincount(parts, minlength=mixture.model_.n_components)
    if (sizes >= min_size).sum() < 2:
        return None
    small = np.isin(parts, np.flatnonzero(sizes < min_size))
    if small.any():
        probabilities = mixture.model_.predict_proba(local[small] / mixture.scale_)
        probabilities[:, sizes < min_size] = -1.0
        parts[small] = probabilities.argmax(axis=1)
    times = merge_options.get("sample_index")
    options = dict(merge_options, sample_index=None if times is None else times[members])
    parts = merge_similar_units(parts, snippets[members], noise_levels,
                                max_difference=min_difference_sigma, **options)
    _, parts = np.unique(parts, return_inverse=True)
    return parts if parts.max() > 0 else None
