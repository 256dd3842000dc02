import pytest

from neurosort import registry
from neurosort.errors import NeurosortError


def test_core_methods_are_registered():
    assert {"threshold"} <= set(registry.available("detect"))
    assert {"pca", "wavelet"} <= set(registry.available("features"))
    assert {"gmm_bic", "hdbscan", "isosplit"} <= set(registry.available("cluster"))


def test_unknown_method_lists_choices():
    with pytest.raises(NeurosortError, match="available: .*gmm_bic"):
        registry.get("cluster", "kmeans")


def test_duplicate_registration_is_refused():
    registry.register("test-kind", "a")(object)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("test-kind", "a")(int)
