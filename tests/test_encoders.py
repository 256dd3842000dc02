"""Contrastive encoders: S4 layer, losses, augmentation, the s4/contrastive_cnn feature methods."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from neurosort import registry
from neurosort.cluster import GMMBIC
from neurosort.encoders.augment import Augmentation, augment
from neurosort.encoders.contrastive import ContrastiveCNNFeatures, S4Features, default_weights
from neurosort.encoders.contrastive_fit import load_encoder
from neurosort.encoders.losses import atom_loss, info_nce, supervised_contrastive
from neurosort.encoders.s4 import S4D
from neurosort.errors import InputError

ENCODERS = [S4Features, ContrastiveCNNFeatures]


def two_units(n: int = 600, seed: int = 0, noise_uv: float = 1.0):
    """Two clearly different spike shapes (microvolts, peak at sample 14 of 39) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(39)
    narrow = -10 * np.exp(-(((t - 14) / 1.5) ** 2))
    wide = -7 * np.exp(-(((t - 14) / 4.0) ** 2)) + 3 * np.exp(-(((t - 26) / 4.0) ** 2))
    labels = rng.integers(0, 2, n)
    shapes = np.where(labels[:, None] == 0, narrow, wide)
    snippets = shapes[:, :, None] + rng.normal(0, noise_uv, (n, 39, 1))
    return snippets.astype(np.float32), labels


def test_s4d_kernel_matches_the_recurrence():
    torch.manual_seed(0)
    layer = S4D(d_model=3, d_state=8, bidirectional=False)
    u = torch.randn(2, 3, 20)
    with torch.no_grad():
        convolved = layer(u.transpose(1, 2)).transpose(1, 2)
        dt = layer.log_dt.exp()[:, None]
        a = -layer.log_a_real.exp() + 1j * layer.a_imag
        a_bar = torch.exp(dt * a)
        b_bar = (a_bar - 1) / a
        c = torch.view_as_complex(layer.c)[0]
        state = torch.zeros(2, 3, a.shape[1], dtype=torch.cfloat)
        outputs = []
        for step in range(u.shape[-1]):
            state = a_bar * state + b_bar * u[..., step, None]
            outputs.append(2 * (c * state).sum(-1).real + layer.d * u[..., step])
    torch.testing.assert_close(convolved, torch.stack(outputs, -1), atol=1e-4, rtol=1e-4)


def test_s4d_matrix_form_equals_the_fft_convolution():
    layer = S4D(d_model=4, d_state=8)
    u = torch.randn(3, 39, 4)
    with torch.no_grad():
        by_fft = layer.train()(u)
        by_matrix = layer.eval()(u)
    torch.testing.assert_close(by_fft, by_matrix, atol=1e-5, rtol=1e-4)


def test_bidirectional_s4d_sees_the_future():
    layer = S4D(d_model=2, d_state=8)
    u = torch.zeros(1, 16, 2)
    u[:, 10] = 1.0
    with torch.no_grad():
        y = layer(u)
    assert y[:, :10].abs().sum() > 0


def test_info_nce_prefers_matching_views():
    z = torch.randn(32, 8)
    assert info_nce(z, z + 0.01 * torch.randn(32, 8), 0.2) < info_nce(z, torch.randn(32, 8), 0.2)


def test_supcon_ignores_unlabelled_spikes():
    z1, z2 = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 0, 1, 1, -1, -1])
    loss = supervised_contrastive(z1, z2, labels, 0.2)
    assert torch.isfinite(loss)
    assert supervised_contrastive(z1, z2, torch.full((6,), -1), 0.2) == 0


def test_atom_loss_is_finite_and_repels_close_points():
    centroids = torch.zeros(1, 2)
    close = torch.tensor([[1.5, 0.0], [1.5, 0.05]])
    apart = torch.tensor([[1.5, 0.0], [-1.5, 0.0]])
    assert torch.isfinite(atom_loss(close, centroids))
    assert atom_loss(close, centroids) > atom_loss(apart, centroids)


def test_augment_is_seeded_and_keeps_shape():
    batch = torch.from_numpy(two_units(16)[0].transpose(0, 2, 1).copy())
    views = [augment(batch, torch.Generator().manual_seed(3), 14, Augmentation()) for _ in "ab"]
    assert views[0].shape == batch.shape
    torch.testing.assert_close(views[0], views[1])
    plain = Augmentation(0, 0, 0, 0, 0)
    torch.testing.assert_close(augment(batch, torch.Generator(), 14, plain), batch)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_encoder_output_shape_and_determinism(encoder):
    snippets, _ = two_units(300)
    outputs = [
        encoder(n_components=4, training="self", n_steps=5, seed=1).fit_transform(snippets)
        for _ in "ab"
    ]
    assert outputs[0].shape == (300, 4) and outputs[0].dtype == np.float32
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_multichannel_snippets(encoder):
    snippets = np.concatenate([two_units(200)[0]] * 3, axis=2)
    assert encoder(n_components=3, training="self", n_steps=3).fit_transform(snippets).shape == (
        200,
        3,
    )


@pytest.mark.parametrize("encoder", ENCODERS)
def test_self_supervised_fit_separates_two_units(encoder):
    snippets, labels = two_units(1000, noise_uv=1.5)
    features = encoder(n_components=4, training="self", n_steps=60).fit_transform(snippets)
    predicted = GMMBIC(max_units=6).fit_predict(features)
    assert adjusted_rand_score(labels, predicted) >= 0.95


def test_supervised_contrastive_uses_labels():
    snippets, labels = two_units(400, noise_uv=1.0)
    encoder = ContrastiveCNNFeatures(n_components=2, training="self", n_steps=40)
    features = encoder.fit_transform(snippets, np.where(np.arange(400) < 200, labels, -1))
    centres = [features[labels == unit].mean(0) for unit in (0, 1)]
    spread = max(features[labels == unit].std(0).max() for unit in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 3 * spread


@pytest.mark.parametrize("architecture", ["s4", "conv"])
def test_shipped_weights_load_offline(architecture):
    encoder, window = load_encoder(default_weights(architecture), architecture)
    assert window.n_samples == 39 and window.peak_index == 14 and encoder.in_channels == 1


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("training", ["pretrained", "finetune"])
def test_pretrained_modes_resample_other_window_lengths(encoder, training):
    snippets, _ = two_units(200)
    longer = np.repeat(snippets, 2, axis=1)[:, :52]
    features = encoder(n_components=5, training=training, n_steps=3).fit_transform(longer)
    assert features.shape == (200, 5) and np.isfinite(features).all()


def test_bad_weights_name_the_file(tmp_path):
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"not torch")
    with pytest.raises(InputError, match="broken.pt"):
        S4Features(training="pretrained", weights=str(corrupt)).fit(two_units(50)[0])
    with pytest.raises(InputError, match="not 'conv'"):
        ContrastiveCNNFeatures(training="pretrained", weights=str(default_weights("s4"))).fit(
            two_units(50)[0]
        )


def test_methods_are_registered():
    assert {"s4", "contrastive_cnn"} <= set(registry.available("features"))


@pytest.fixture(scope="module")
def small_recording(demo_npz):
    return demo_npz(duration_s=20.0, seed=0, name="mono_train_small.npz")


LEARNED = ["s4", "contrastive_cnn", "ae_ensemble", "ae_semisup", "ae_atom"]


@pytest.mark.parametrize("method", LEARNED)
def test_every_learned_method_sorts_from_the_command_line(method, small_recording, tmp_path):
    from neurosort.cli import main
    from neurosort.evaluate import evaluate
    from neurosort.io import load_ground_truth
    from neurosort.output import read_result

    out = tmp_path / method
    overrides = [f"features.method={method}", "features.training_steps=5"]
    if method in ("s4", "contrastive_cnn"):
        overrides.append("features.training=finetune")
    args = ["--no-progress", "sort", str(small_recording), "--out", str(out), "--no-report"]
    assert main(args + [f"--set={item}" for item in overrides]) == 0
    result = read_result(out)
    assert result.features.shape == (len(result.spikes), 10)
    assert f'method = "{method}"' in (out / "config.toml").read_text()
    truth = load_ground_truth(small_recording)
    assert evaluate(result, truth).summary["mean_accuracy"] > 0.5


def test_train_encoder_command_writes_weights_that_load(small_recording, tmp_path):
    from neurosort.cli import main

    weights = tmp_path / "tiny.pt"
    args = ["--no-progress", "train-encoder", "--architecture", "conv", "--out", str(weights)]
    train_dir = ["--train-dir", str(small_recording.parent), "--steps", "5"]
    assert main(args + train_dir) == 0
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["n_labelled_spikes"] > 0 and card["settings"]["n_steps"] == 5
    assert weights.with_name("tiny_loss.png").is_file()
    snippets, _ = two_units(100)
    features = ContrastiveCNNFeatures(weights=str(weights), n_components=3).fit_transform(snippets)
    assert features.shape == (100, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "0"], "--steps must be an integer >= 1, got 0"),
        (["--steps", "-5"], "--steps must be an integer >= 1, got -5"),
        (["--seed", "-1"], "--seed must be an integer in [0, 2147483647], got -1"),
    ],
)
def test_train_encoder_refuses_bad_numbers_before_writing(tmp_path, capsys, options, message):
    from neurosort.cli import main

    out = tmp_path / "out" / "encoder.pt"
    command = ["--no-progress", "train-encoder", "--out", str(out), "--train-dir", str(tmp_path)]
    assert main(command + options) == 1
    assert message in capsys.readouterr().err
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0, got nan"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0, got 0.0"),
        ({"supcon_weight": -1.0}, "supcon_weight must be a finite number >= 0, got -1.0"),
        ({"n_components": 0}, "n_components must be an integer >= 1, got 0"),
    ],
)
def test_pretrain_settings_out_of_range_name_the_setting(setting, message):
    from neurosort.encoders.pretrain import PretrainSettings

    with pytest.raises(InputError, match=re.escape(message)):
        PretrainSettings(**setting)


def test_model_window_places_the_peak_and_keeps_the_time_scale():
    from neurosort.encoders.data import ModelWindow, to_model_window

    window = ModelWindow(sampling_frequency_hz=24000.0, peak_index=14, n_samples=39)
    short = np.zeros((1, 1, 32), np.float32)
    short[..., 10] = 1.0  # peak at 10 of 32 samples, same rate: shifted, not stretched
    placed = to_model_window(short, 10, window, 24000.0)
    assert placed.shape == (1, 1, 39) and placed[0, 0].argmax() == 14
    assert np.count_nonzero(placed) == 1
    t = np.arange(52) / 32000.0
    faster = np.exp(-(((t - 19 / 32000.0) / 2e-4) ** 2))[None, None].astype(np.float32)
    resampled = to_model_window(faster, 19, window, 32000.0)
    assert resampled.shape == (1, 1, 39) and abs(int(resampled[0, 0].argmax()) - 14) <= 1
    unknown_rate = to_model_window(faster, 19, window, 0.0)
    assert unknown_rate.shape == (1, 1, 39)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["s4", "conv"])
def test_shipped_encoder_weights_are_what_their_card_command_trains(
    architecture, retrained_from_card
):
    import torch

    retrained, shipped = retrained_from_card(default_weights(architecture))
    assert all(torch.equal(retrained[name], shipped[name]) for name in shipped)


def test_train_encoder_refuses_a_folder_as_out_before_training(tmp_path, capsys):
    from neurosort.cli import main

    command = ["--no-progress", "train-encoder", "--out", str(tmp_path), "--train-dir", "missing"]
    assert main(command) == 1
    assert "--out " + str(tmp_path) + ": is a folder; name a file" in capsys.readouterr().err
