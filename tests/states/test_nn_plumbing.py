import pytest
import torch

from neurosort.nn import (
    TrainConfig,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
    seed_everything,
    train_model,
)


def linear_problem():
    torch.set_num_threads(1)
    inputs = torch.randn(256, 4, generator=seed_everything(0))
    return inputs, (inputs[:, 0] > 0).long(), torch.nn.Linear(4, 2)


def test_early_stopping_restores_the_best_epoch():
    inputs, targets, model = linear_problem()
    loss = torch.nn.CrossEntropyLoss()
    # Validation labels are flipped, so every epoch that fits the training data worsens them.
    config = TrainConfig(max_epochs=50, batch_size=32, learning_rate=0.05, patience_epochs=3)
    history = train_model(model, (inputs, targets), (inputs, 1 - targets), loss, config)
    assert history.best_epoch == 0
    assert len(history.val_loss) == 4
    with torch.no_grad():
        assert loss(model(inputs), 1 - targets).item() == pytest.approx(history.val_loss[0])


def test_without_validation_every_epoch_runs():
    inputs, targets, model = linear_problem()
    config = TrainConfig(max_epochs=6, batch_size=32, learning_rate=0.05)
    history = train_model(model, (inputs, targets), None, torch.nn.CrossEntropyLoss(), config)
    assert len(history.train_loss) == 6 and history.val_loss == []
    assert history.best_epoch == 5
    assert history.train_loss[-1] < history.train_loss[0]


def test_checkpoint_round_trip(tmp_path):
    payload = {"weights": torch.arange(3.0), "names": ["a", "b"], "blob": b"xyz"}
    path = save_checkpoint(tmp_path / "sub" / "model.pt", payload)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weights"], payload["weights"]) and loaded["blob"] == b"xyz"
    assert not list(path.parent.glob("*.partial"))


def test_device_resolution_happens_on_request():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device().type in {"cpu", "cuda", "mps"}


def test_import_neurosort_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, neurosort, neurosort.states.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
