import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from neurosort import registry
from neurosort.cluster import GMMBIC

METHODS = ["ae_ensemble", "ae_semisup", "ae_atom"]
FAST = {
    "ae_ensemble": {"n_steps": 100},
    "ae_semisup": {"n_steps": 100},
    "ae_atom": {"n_steps": 80, "n_cluster_steps": 40, "n_refits": 2},
}


def two_unit_snippets(n=600, seed=0, n_channels=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, 39)
    shapes = np.stack([-np.exp(-(t**2) * 30), 0.8 * np.exp(-((t - 0.1) ** 2) * 10) - 0.4])
    labels = rng.integers(0, 2, n)
    snippets = shapes[labels][:, :, None] * 50 + rng.normal(0, 3, (n, 39, n_channels))
    return snippets.astype(np.float32), labels


def make(method, seed=0, **options):
    factory = registry.get("features", method)
    return factory(n_components=4, seed=seed, device="cpu", **{**FAST[method], **options})


def test_registered_without_importing_torch():
    assert set(METHODS) <= set(registry.available("features"))
    code = "import sys, neurosort.encoders.autoencoder; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("method", METHODS)
def test_shape_determinism_and_separation(method):
    snippets, labels = two_unit_snippets(n=400, n_channels=2)
    first = make(method).fit(snippets).transform(snippets)
    again = make(method).fit(snippets).transform(snippets)
    assert first.shape == (len(snippets), 4) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    predicted = GMMBIC(max_units=6, seed=0).fit(first).labels_
    assert adjusted_rand_score(labels, predicted) >= 0.95


@pytest.mark.parametrize("method", METHODS)
def test_different_seeds_give_different_embeddings(method):
    snippets, _ = two_unit_snippets(n=300)
    a = make(method, seed=0).fit(snippets).transform(snippets[:10])
    b = make(method, seed=1).fit(snippets).transform(snippets[:10])
    assert not np.allclose(a, b)


@pytest.mark.parametrize("method", ["ae_ensemble", "ae_atom"])
def test_ensemble_records_the_member_with_lowest_bic(method):
    snippets, _ = two_unit_snippets(n=300)
    fitted = make(method).fit(snippets)
    assert len(fitted.bics_) == 3
    assert fitted.member_ == int(np.argmin(fitted.bics_))


def test_semisup_pseudo_labels_when_unlabelled():
    snippets, labels = two_unit_snippets()
    fitted = make("ae_semisup").fit(snippets, np.full(len(snippets), -1))
    confident = fitted.labels_ >= 0
    assert confident.mean() > 0.8
    assert adjusted_rand_score(labels[confident], fitted.labels_[confident]) > 0.95


def test_semisup_uses_given_labels():
    """Two units differing only by a small late bump (2.7 noise sigma): a labelled fit
    separates them, an unlabelled one does not."""
    rng = np.random.default_rng(0)
    n = 400
    t = np.linspace(-1, 1, 39)
    labels = rng.integers(0, 2, n)
    spike = -np.exp(-(t**2) * 30) * 50
    bump = np.exp(-((t - 0.8) ** 2) * 200) * 8
    snippets = spike + labels[:, None] * bump + rng.normal(0, 3, (n, 39))
    snippets = snippets[:, :, None].astype(np.float32)
    scores = {}
    for name, y in [("labelled", labels), ("unlabelled", None)]:
        fitted = make("ae_semisup", n_steps=200, label_weight=1.0).fit(snippets, y)
        predicted = GMMBIC(n_units=2, seed=0).fit(fitted.transform(snippets)).labels_
        scores[name] = adjusted_rand_score(labels, predicted)
    assert scores["labelled"] > 0.6
    assert scores["labelled"] > scores["unlabelled"] + 0.3


def test_semisup_rejects_wrong_label_count():
    snippets, labels = two_unit_snippets(n=100)
    with pytest.raises(ValueError, match="labels"):
        make("ae_semisup").fit(snippets, labels[:50])
