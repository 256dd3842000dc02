"""Clustering of spike features into units, scikit-learn style, plus merging of split units."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier

from neurosort.log import get_logger
from neurosort.registry import register
from neurosort.waveforms import main_channels

logger = get_logger(__name__)

# Refractory violations a unit must hold before they count as evidence of two neurons: the split
# needs them to cut, and the merge across channels does not join units that would hold them.
MIN_VIOLATIONS = 5


@register("cluster", "gmm_bic")
class GMMBIC(ClusterMixin, BaseEstimator):
    """Gaussian mixture whose number of components minimises BIC (or is fixed by n_units).

    The number of components is chosen on at most ``search_size`` points with a loose
    tolerance (the search stops after ``patience`` successive k without a better BIC), then
    the chosen mixture is refitted on all points.
    """

    def __init__(
        self,
        n_units: int = 0,
        max_units: int = 20,
        patience: int = 5,
        search_size: int = 10000,
        search_restarts: int = 1,
        seed: int = 0,
    ):
        self.n_units = n_units
        self.max_units = max_units
        self.patience = patience
        self.search_size = search_size
        self.search_restarts = search_restarts
        self.seed = seed

    def _mixture(
        self, k: int, tol: float = 1e-3, max_iter: int = 200, n_init: int = 1
    ) -> GaussianMixture:
        return GaussianMixture(
            k,
            covariance_type="full",
            random_state=self.seed,
            reg_covar=1e-3,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
        )

    def fit(self, features: np.ndarray, y: np.ndarray | None = None) -> GMMBIC:
        # One global scale keeps the geometry and makes reg_covar meaningful in any units.
        self.scale_ = float(np.std(features)) or 1.0
        data = np.asarray(features, dtype=np.float64) / self.scale_
        n_units = self.n_units if self.n_units > 0 else self._search(data)
        self.model_ = self._mixture(min(n_units, len(data))).fit(data)
        self.labels_ = self.model_.predict(data)
        return self

    def _search(self, data: np.ndarray) -> int:
        rng = np.random.default_rng(self.seed)
        if len(data) > self.search_size:
            data = data[rng.choice(len(data), self.search_size, replace=False)]
        best_k, best_bic, since_best, self.bic_ = 1, np.inf, 0, {}
        for k in range(1, min(self.max_units, len(data)) + 1):
            try:
                model = self._mixture(k, 1e-2, 50, self.search_restarts).fit(data)
            except ValueError:  # a component collapsed: more components cannot help
                break
            self.bic_[k] = model.bic(data)
            if self.bic_[k] < best_bic:
                best_k, best_bic, since_best = k, self.bic_[k], 0
            else:
                since_best += 1
                if since_best >= self.patience:
                    break
        return best_k

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.model_.predict(np.asarray(features, dtype=np.float64) / self.scale_)


@register("cluster", "hdbscan")
class HDBSCANClusterer(ClusterMixin, BaseEstimator):
    """scikit-learn's HDBSCAN; ``labels_`` is -1 for points it calls noise."""

    def __init__(self, min_cluster_size: int = 15, seed: int = 0):
        self.min_cluster_size = min_cluster_size
        self.seed = seed

    def fit(self, features: np.ndarray, y: np.ndarray | None = None) -> HDBSCANClusterer:
        from sklearn.cluster import HDBSCAN

        self.labels_ = HDBSCAN(min_cluster_size=self.min_cluster_size, copy=True).fit_predict(
            features
        )
        return self


@register("cluster", "isosplit")
class IsoSplit(ClusterMixin, BaseEstimator):
    """ISO-SPLIT (isosplit6): clusters separated by unimodality tests, no k to choose."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, features: np.ndarray, y: np.ndarray | None = None) -> IsoSplit:
        from isosplit6 import isosplit6

        labels = np.asarray(isosplit6(np.ascontiguousarray(features, dtype=np.float64)))
        self.labels_ = labels.astype(np.int64) - 1
        return self


def make_clusterer(method: str, *, n_units: int, max_units: int, min_cluster_size: int, seed: int):
    from neurosort import registry

    factory = registry.get("cluster", method)
    if method == "gmm_bic":
        return factory(n_units=n_units, max_units=max_units, seed=seed)
    if method == "hdbscan":
        return factory(min_cluster_size=min_cluster_size, seed=seed)
    return factory(seed=seed)


def cluster_subsample_then_assign(
    features: np.ndarray,
    clusterer: ClusterMixin,
    *,
    max_spikes_to_fit: int,
    assign_noise: bool,
    seed: int,
) -> np.ndarray:
    """Fit ``clusterer`` on at most ``max_spikes_to_fit`` spikes, then label all spikes.

    Spikes outside the subsample (and, with ``assign_noise``, points the clusterer called
    noise) take the label of their nearest labelled neighbours, so cost stays near linear.
    """
    n_spikes = len(features)
    rng = np.random.default_rng(seed)
    fit_index = np.arange(n_spikes)
    if n_spikes > max_spikes_to_fit:
        fit_index = np.sort(rng.choice(n_spikes, max_spikes_to_fit, replace=False))
    clusterer.fit(features[fit_index])
    fit_labels = np.asarray(clusterer.labels_)
    labels = np.full(n_spikes, -1, dtype=np.int64)
    labels[fit_index] = fit_labels
    if hasattr(clusterer, "predict"):
        return clusterer.predict(features)
    labelled = fit_labels >= 0
    if not labelled.any():
        return labels
    to_assign = labels < 0 if assign_noise else np.isin(np.arange(n_spikes), fit_index, invert=True)
    if to_assign.any():
        neighbours = KNeighborsClassifier(n_neighbors=min(10, int(labelled.sum())))
        neighbours.fit(features[fit_index][labelled], fit_labels[labelled])
        labels[to_assign] = neighbours.predict(features[to_assign])
    return labels


def refine_by_discriminant(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    rounds: int,
    max_spikes_per_unit: int = 10000,
    seed: int = 0,
) -> np.ndarray:
    """Relabel the assigned spikes (labels >= 0) by a linear discriminant of their snippets
    (in noise sigmas, shrunk pooled covariance) fitted on the current labels, up to ``rounds``
    times or until no label changes. Shared within-unit covariance captures what a unit's
    spikes vary by (amplitude, jitter, background), which separates near-twin units better
    than the clusters of the embedding did. Each fit sees at most ``max_spikes_per_unit``
    spikes of a unit (a seeded draw), with the units' full sizes as priors."""
    rng = np.random.default_rng(seed)
    labels = np.array(labels, copy=True)
    assigned = np.flatnonzero(labels >= 0)
    current = labels[assigned]
    if len(np.unique(current)) < 2:
        return labels
    values = (snippets[assigned] / np.asarray(noise_levels)[None, None, :]).reshape(
        len(assigned), -1
    )
    for _ in range(rounds):
        units, counts = np.unique(current, return_counts=True)
        rows = _at_most_per_unit(current, units, counts, max_spikes_per_unit, rng)
        lda = _discriminant(priors=counts / counts.sum())
        with warnings.catch_warnings():  # a unit refined down to one spike adds no covariance
            warnings.filterwarnings("ignore", "Only one sample available", UserWarning)
            updated = lda.fit(values[rows], current[rows]).predict(values)
        if np.array_equal(updated, current) or len(np.unique(updated)) < 2:
            break
        current = updated
    labels[assigned] = current
    return labels


def split_by_refractory(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    sample_index: np.ndarray,
    *,
    refractory_samples: int,
    dead_time_samples: int,
    n_samples: int,
    max_violation_ratio: float,
    min_size: int,
    min_violations: int = MIN_VIOLATIONS,
    max_cross_excess: float = 3.0,
    max_spikes_to_cut: int = 4000,
    seed: int = 0,
) -> np.ndarray:
    """Split units whose refractory violations a two-way cut of their waveforms removes.

    Two neurons merged into one unit fire independently, so their spikes fall closer than
    the refractory period; one neuron's do not. A unit with at least ``min_violations``
    such pairs (beyond the dead time) is cut in two along several candidate directions
    (2-means on its leading principal components, together and one at a time, each cut
    sharpened by a two-class discriminant). The cut leaving the fewest violations inside
    its halves is kept when they are at most ``max_violation_ratio`` of the unit's (a cut
    of one neuron, or of a pool of many, removes about half at best) and the violations it
    cuts are no more than ``max_cross_excess`` times what two independent neurons of those
    sizes would give over ``n_samples`` (a cut that only isolates spikes distorted by a close
    neighbour, or the later spikes of bursts, cuts far more); halves are tested again. Cuts
    are found on at most ``max_spikes_to_cut`` spikes of a unit."""
    labels = np.array(labels, copy=True)
    queue = [int(unit) for unit in np.unique(labels[labels >= 0])]
    next_label = max(queue, default=-1) + 1
    scale = np.asarray(noise_levels)[None, None, :]
    window = {"refractory_samples": refractory_samples, "dead_time_samples": dead_time_samples}
    guard = {"min_size": max(min_size, 1), "max_cross_excess": max_cross_excess,
             "n_samples": n_samples, **window}
    while queue:
        unit = queue.pop(0)
        members = np.flatnonzero(labels == unit)
        times = sample_index[members]
        before = refractory_violations(times, **window) if len(members) >= 2 * min_size else 0
        if before < min_violations:
            continue
        values = (snippets[members] / scale).reshape(len(members), -1)
        candidates = _candidate_cuts(values, seed, max_spikes=max_spikes_to_cut)
        cuts = [(_violations_left(cut, times, before, **guard), cut) for cut in candidates]
        cuts = [(after, cut) for after, cut in cuts if after is not None]
        after, cut = min(cuts, key=lambda pair: pair[0], default=(before, None))
        if cut is not None and after <= max_violation_ratio * before:
            logger.debug("splitting unit %d: %d -> %d violations", unit, before, after)
            labels[members[cut == 1]] = next_label
            queue += [unit, next_label]
            next_label += 1
    return labels


def refractory_violations(
    times: np.ndarray, refractory_samples: int, dead_time_samples: int
) -> int:
    """Pairs of ``times`` closer than the refractory period but beyond the dead time."""
    times = np.sort(times)
    within = refractory_coincidences(times, times, refractory_samples)
    return (within - refractory_coincidences(times, times, dead_time_samples + 1)) // 2


def _violations_left(
    cut: np.ndarray,
    times: np.ndarray,
    before: int,
    *,
    refractory_samples: int,
    dead_time_samples: int,
    min_size: int,
    max_cross_excess: float,
    n_samples: int,
) -> int | None:
    """Violations left inside the halves of a two-way ``cut``; None when a half is under
    ``min_size`` or the cut separates more than ``max_cross_excess`` times the violations
    two independent neurons of those sizes would give over ``n_samples``."""
    sizes = np.bincount(cut, minlength=2)
    if sizes.min() < min_size:
        return None
    after = sum(
        refractory_violations(times[cut == half], refractory_samples, dead_time_samples)
        for half in (0, 1)
    )
    span = max(refractory_samples - dead_time_samples, 0)
    independent = sizes[0] * sizes[1] * 2 * span / max(n_samples, 1)
    return after if before - after <= max_cross_excess * independent else None


def _candidate_cuts(
    values: np.ndarray, seed: int, max_spikes: int, n_together: int = 5, n_alone: int = 6
) -> Iterator[np.ndarray]:
    """Two-way cuts of ``values``: 2-means on the ``n_together`` leading principal components
    and on each of the ``n_alone`` leading ones, each refined by a two-class linear
    discriminant. Cuts are found on at most ``max_spikes`` rows (a seeded draw) and extended
    to the rest by their discriminant."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    rows = np.arange(len(values))
    if len(values) > max_spikes:
        rows = np.sort(np.random.default_rng(seed).choice(len(values), max_spikes, replace=False))
    fit = values[rows]
    n_components = min(max(n_together, n_alone), *fit.shape)
    components = PCA(n_components, random_state=seed).fit_transform(fit)
    starts = [components[:, :n_together]]
    starts += [components[:, [k]] for k in range(min(n_alone, n_components))]
    for start in starts:
        cut = KMeans(2, n_init=2, random_state=seed).fit_predict(start)
        cut = refine_by_discriminant(cut, fit[:, None, :], np.ones(1), rounds=10, seed=seed)
        yield cut if len(rows) == len(values) else _extend_cut(cut, fit, values)


def _extend_cut(cut: np.ndarray, fit: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Labels of every row of ``values`` by the discriminant of ``cut`` on ``fit``."""
    if len(np.unique(cut)) < 2:
        return np.zeros(len(values), dtype=cut.dtype)
    return _discriminant().fit(fit, cut).predict(values)


def _discriminant(priors: np.ndarray | None = None):
    """Linear discriminant with a Ledoit-Wolf shrunk pooled covariance."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=priors)


def _at_most_per_unit(
    labels: np.ndarray, units: np.ndarray, counts: np.ndarray, limit: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sorted row indices: every spike of units up to ``limit`` spikes, ``limit`` of larger ones
    (``units`` and their ``counts`` as np.unique gives them)."""
    if counts.max() <= limit:
        return np.arange(len(labels))
    rows = [
        members if len(members) <= limit else rng.choice(members, limit, replace=False)
        for members in (np.flatnonzero(labels == unit) for unit in units)
    ]
    return np.sort(np.concatenate(rows))


def relabel_consecutive(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    """Map unit labels to 0..n-1 by decreasing size; units under ``min_size`` spikes and
    -1 become -1 (unassigned)."""
    out = np.full(labels.shape, -1, dtype=np.int32)
    units, counts = np.unique(labels[labels >= 0], return_counts=True)
    ranked = np.argsort(-counts, kind="stable")
    order = units[ranked][counts[ranked] >= min_size]
    for new, unit in enumerate(order):
        out[labels == unit] = new
    return out


def _unit_template(snippets: np.ndarray, labels: np.ndarray, unit: int) -> np.ndarray:
    return np.median(snippets[np.flatnonzero(labels == unit)[:1000]], axis=0)


def template_differences(templates: np.ndarray, noise_levels: np.ndarray) -> np.ndarray:
    """Pairwise max |template_a - template_b| over samples and channels, in noise sigmas."""
    scaled = templates / np.maximum(noise_levels, 1e-12)
    flat = scaled.reshape(len(scaled), -1)
    return np.abs(flat[:, None, :] - flat[None, :, :]).max(axis=-1)


def coincidences_after_dead_time(
    times_a: np.ndarray, times_b: np.ndarray, *, refractory_samples: int, dead_time_samples: int
) -> int:
    """(a, b) pairs closer than the refractory period and farther apart than the dead time
    (the detector never reports those closer)."""
    return (refractory_coincidences(times_a, times_b, refractory_samples)
            - refractory_coincidences(times_a, times_b, dead_time_samples + 1))


def refractory_coincidences(times_a: np.ndarray, times_b: np.ndarray, window: int) -> int:
    """Number of (a, b) spike pairs closer than ``window`` samples (inputs sorted)."""
    upper = np.searchsorted(times_b, times_a + window, side="left")
    lower = np.searchsorted(times_b, times_a - window, side="right")
    return int((upper - lower).sum())


def fire_independently(
    times_a: np.ndarray,
    times_b: np.ndarray,
    *,
    refractory_samples: int,
    dead_time_samples: int,
    n_samples: int,
    min_expected: float = 5.0,
) -> bool:
    """True when two units' spikes coincide within the refractory period as often as two
    independent neurons' would: evidence that they are different neurons.

    Coincidences closer than the detector's dead time are never observed, so only the
    interval between dead time and refractory period counts. With too few expected
    coincidences to tell, the answer is False (no evidence either way).
    """
    span = max(refractory_samples - dead_time_samples, 0)
    expected = len(times_a) * len(times_b) * 2 * span / max(n_samples, 1)
    if expected < min_expected:
        return False
    observed = coincidences_after_dead_time(times_a, times_b, refractory_samples=refractory_samples,
                                            dead_time_samples=dead_time_samples)
    return observed > 0.5 * expected


def merge_similar_units(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    *,
    max_difference: float,
    sample_index: np.ndarray | None = None,
    n_samples: int = 0,
    refractory_samples: int = 0,
    dead_time_samples: int = 0,
) -> np.ndarray:
    """Merge units whose templates differ nowhere by more than ``max_difference`` noise sigmas.

    Over-split units (a non-Gaussian cluster cut in two by a mixture model) have nearly
    equal templates; distinct neurons differ by several sigmas somewhere. With spike times
    (``sample_index``, sorted) a pair whose spikes coincide within the refractory period as
    often as independent neurons would is never merged. The closest pair is merged first
    and its template recomputed until no pair qualifies.
    """
    labels = labels.copy()
    units = list(np.unique(labels[labels >= 0]))
    templates = [_unit_template(snippets, labels, unit) for unit in units]
    vetoed: set[tuple[int, int]] = set()
    while len(units) > 1:
        differences = template_differences(np.stack(templates), noise_levels)
        np.fill_diagonal(differences, np.inf)
        for a, b in vetoed:
            differences[units.index(a), units.index(b)] = np.inf
            differences[units.index(b), units.index(a)] = np.inf
        first, second = np.unravel_index(np.argmin(differences), differences.shape)
        if differences[first, second] > max_difference:
            break
        keep, drop = units[first], units[second]
        if sample_index is not None and fire_independently(
            sample_index[labels == keep],
            sample_index[labels == drop],
            refractory_samples=refractory_samples,
            dead_time_samples=dead_time_samples,
            n_samples=n_samples,
        ):
            vetoed.add((keep, drop))
            continue
        logger.debug("merging unit %d into %d (%.2f sigma)", drop, keep, differences[first, second])
        labels[labels == drop] = keep
        templates[first] = _unit_template(snippets, labels, keep)
        vetoed = {pair for pair in vetoed if drop not in pair}
        del units[second], templates[second]
    return labels


# Units of the same or neighbouring channels also merge when their templates differ by at most this
# fraction of their peak: the spikes of a large neuron vary by more than the noise.
ACROSS_CHANNELS_RELATIVE_DIFFERENCE = 0.2


def merge_across_channels(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    channel_index: np.ndarray,
    neighbourhoods: np.ndarray,
    sample_index: np.ndarray,
    *,
    max_difference: float,
    n_samples: int,
    refractory_samples: int,
    dead_time_samples: int,
    max_violation_ratio: float,
) -> np.ndarray:
    """Merge units of the same or neighbouring peak channels whose templates differ nowhere on
    their common channels by more than ``max_difference`` noise sigmas or
    :data:`ACROSS_CHANNELS_RELATIVE_DIFFERENCE` of their peak, unless their spikes coincide
    as often as independent neurons' (:func:`fire_independently`), or the two joined would
    hold the refractory violations on which a split cuts a unit in two (:func:`_split_apart`
    with ``max_violation_ratio``); ``max_difference <= 0`` disables the merge.

    On a probe each peak channel's spikes are clustered apart (``snippets`` span the peak
    channel's neighbourhood, ``neighbourhoods[channel_index]``), so a neuron whose spikes peak
    now on one channel, now on the next comes out as one unit per channel. Each unit's
    template is the median of its spikes on its most common peak channel. Units of one peak
    channel are compared too, after the reassignment, refinement and split that followed
    their clustering: a large neuron's spikes that collide with another's can form a unit of
    their own, a few percent of its peak away. Pairs are taken
    closest (relative to their peak) first, and merging chains: a neuron seen on three
    channels becomes one unit through two pairs, each vetoed on the spikes of the units
    merged so far (``sample_index`` sorted).
    """
    labels = np.array(labels, copy=True)
    if max_difference <= 0:
        return labels
    units = np.unique(labels[labels >= 0])
    channels = main_channels(labels, channel_index, int(units.max(initial=-1)) + 1)
    home = {u: int(channels[u]) for u in units}
    templates = {
        u: _unit_template(snippets, np.where(channel_index == home[u], labels, -1), u)
        for u in units
    }
    pairs = []
    for a, b in _neighbouring_pairs(home, neighbourhoods):
        difference, peak = _common_channel_difference(
            templates[a], templates[b], neighbourhoods[home[a]], neighbourhoods[home[b]],
            noise_levels,
        )
        if difference <= max(max_difference, ACROSS_CHANNELS_RELATIVE_DIFFERENCE * peak):
            pairs.append((difference / peak, a, b))
    pairs.sort()
    original = labels.copy()
    timing = dict(refractory_samples=refractory_samples, dead_time_samples=dead_time_samples)
    for relative, a, b in pairs:
        keep, drop = int(labels[original == a][0]), int(labels[original == b][0])
        if keep == drop:
            continue
        times = sample_index[labels == keep], sample_index[labels == drop]
        if (fire_independently(*times, n_samples=n_samples, **timing)
                or _split_apart(*times, max_violation_ratio=max_violation_ratio, **timing)):
            continue
        logger.debug("merging unit %d into %d across channels (%.2f of the peak)", drop, keep,
                     relative)
        labels[labels == drop] = keep
    return labels


def _split_apart(
    times_a: np.ndarray, times_b: np.ndarray, *, max_violation_ratio: float,
    refractory_samples: int, dead_time_samples: int,
) -> bool:
    """Whether the two units joined would hold at least :data:`MIN_VIOLATIONS` refractory
    violations, at most ``max_violation_ratio`` of them inside either unit: the evidence on
    which :func:`split_by_refractory` cuts a unit in two."""
    timing = dict(refractory_samples=refractory_samples, dead_time_samples=dead_time_samples)
    across = coincidences_after_dead_time(times_a, times_b, **timing)
    if across < MIN_VIOLATIONS:
        return False
    inside = refractory_violations(times_a, **timing) + refractory_violations(times_b, **timing)
    return inside <= max_violation_ratio * (inside + across)


def _neighbouring_pairs(home: dict, neighbourhoods: np.ndarray) -> Iterator[tuple[int, int]]:
    """Pairs of units whose peak channels are the same or each in the other's neighbourhood."""
    by_channel: dict[int, list[int]] = {}
    for unit, channel in home.items():
        by_channel.setdefault(channel, []).append(unit)
    for a, channel in home.items():
        for other in neighbourhoods[channel]:
            if channel not in neighbourhoods[other]:
                continue
            yield from ((a, b) for b in by_channel.get(int(other), []) if a < b)


def _common_channel_difference(
    template_a: np.ndarray, template_b: np.ndarray, channels_a: np.ndarray,
    channels_b: np.ndarray, noise_levels: np.ndarray,
) -> tuple[float, float]:
    """Max |template_a - template_b| and the larger max |template|, in noise sigmas, over the
    channels both span."""
    common, in_a, in_b = np.intersect1d(channels_a, channels_b, return_indices=True)
    noise = np.maximum(noise_levels[common], 1e-12)
    a, b = template_a[:, in_a] / noise, template_b[:, in_b] / noise
    return float(np.abs(a - b).max()), float(max(np.abs(a).max(), np.abs(b).max(), 1e-12))


DRIFT_BIN_MS = 5000.0  # bins of the firing rates the drift merge compares


def merge_drifted_units(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    sample_index: np.ndarray,
    *,
    n_samples: int,
    bin_samples: int,
    max_difference: float,
    max_rate_correlation: float = -0.8,
    min_bins: int = 6,
) -> np.ndarray:
    """Merge pairs of units that take turns: their firing rates over time (bins of
    ``bin_samples``) correlate below ``max_rate_correlation`` and their templates differ
    nowhere by more than ``max_difference`` noise sigmas.

    A neuron whose distance to the electrode drifts changes amplitude slowly, and the
    clustering can cut it in two where it was large and where it was small: one part fires
    while the other is silent. Two neurons' rates do not take turns like that. The most
    anticorrelated pair is merged first, until no pair qualifies.
    """
    labels = np.array(labels, copy=True)
    edges = np.arange(0, max(n_samples, 1) + bin_samples, bin_samples)
    if len(edges) - 1 < min_bins or max_difference <= 0:
        return labels
    while True:
        units = np.unique(labels[labels >= 0])
        if len(units) < 2:
            return labels
        rates = np.stack([np.histogram(sample_index[labels == u], edges)[0] for u in units])
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.nan_to_num(np.corrcoef(rates), nan=0.0)
        templates = np.stack([_unit_template(snippets, labels, unit) for unit in units])
        differences = template_differences(templates, noise_levels)
        candidate = (correlation < max_rate_correlation) & (differences <= max_difference)
        np.fill_diagonal(candidate, False)
        if not candidate.any():
            return labels
        first, second = np.unravel_index(
            np.argmin(np.where(candidate, correlation, np.inf)), candidate.shape
        )
        logger.debug("merging drifted unit %d into %d (rate correlation %.2f)",
                     units[second], units[first], correlation[first, second])
        labels[labels == units[second]] = units[first]
