"""spikelib.ann's mini-batch squared-error training under the training contract (fit_ann, ANNConfig),
SigmoidMLP and derive_seed (spikelib.fitting)."""

import numpy as np
import pytest
import torch

from spikelib import ann
from spikelib.fitting import derive_seed


def _data(n=40, n_in=6, n_out=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_in, generator=g)
    return x, torch.sigmoid(x[:, :n_out] - x[:, n_out:2 * n_out])


def test_derive_seed_is_deterministic_and_separates_streams():
    assert derive_seed(0, 1) == derive_seed(0, 1)
    assert len({derive_seed(0, e) for e in range(20)} | {derive_seed(1, 0)}) == 21
    assert derive_seed(0, 1, 2) != derive_seed(0, 1)


def test_fit_ann_batches_loss_and_history():
    x, y = _data()
    model = ann.SigmoidMLP(6, 8, 3, seed=1)
    epochs = []
    result = ann.fit_ann(model, (x, y), None, ann.ANNConfig(optimizer="adam", lr=1e-2, batch_size=16, epochs=3),
                         on_epoch=epochs.append)
    h = result.history
    assert h["batch"] == list(range(9)) and h["eval"] == [] and h["seconds"] >= 0
    assert result["history"] is h  # FitResult reads as the old mapping
    assert [e["epoch"] for e in epochs] == [0, 1, 2] and epochs[2]["loss"] == pytest.approx(np.mean(h["loss"][6:]))
    assert h["loss"][-1] < h["loss"][0]
    # loss: sum over outputs, mean over the batch; default metric: the per-example mean squared error
    twin = ann.SigmoidMLP(6, 8, 3, seed=1)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(derive_seed(0, 0)))[:16]
    with torch.no_grad():
        out = twin(x[perm])
    assert h["loss"][0] == pytest.approx(float(((out - y[perm]) ** 2).sum(-1).mean()), rel=1e-6)
    assert h["mse"][0] == pytest.approx(float(((out - y[perm]) ** 2).mean()), rel=1e-6)


def test_fit_ann_same_seed_same_run_epochs_override_and_eval():
    x, y = _data()
    cfg = {"optimizer": "sgd", "lr": 0.5, "batch_size": 10, "epochs": 5}
    runs = []
    for _ in range(2):
        model = ann.SigmoidMLP(6, 8, 3, seed=2)
        runs.append(ann.fit_ann(model, (x, y), (x[:5], y[:5]), cfg, epochs=2, seed=3,
                                evaluate=lambda m: {"w": float(m.out.weight.detach().sum())}).history)
    assert runs[0]["loss"] == runs[1]["loss"] and len(runs[0]["batch"]) == 8
    assert [e["batch"] for e in runs[0]["eval"]] == [4, 8] and set(runs[0]["eval"][0]) == {"batch", "val_mse", "w"}
    assert runs[0]["eval"][-1]["val_mse"] == pytest.approx(ann.reconstruction_mse(model, x[:5], y[:5]))
    other = ann.fit_ann(ann.SigmoidMLP(6, 8, 3, seed=2), (x, y), None, cfg, epochs=2, seed=4).history
    assert other["loss"] != runs[0]["loss"]


def test_fit_ann_clear_errors():
    x, y = _data()
    model = ann.SigmoidMLP(6, 8, 3)
    with pytest.raises(ValueError, match="optimizer"):
        ann.fit_ann(model, (x, y), config={"optimizer": "rmsprop"})
    with pytest.raises(ValueError, match="checkpoint"):
        ann.fit_ann(model, (x, y), checkpoint="x.pt")
    with pytest.raises(RuntimeError, match="no C implementation"):
        ann.fit_ann(model, (x, y), backend="c")


def test_sigmoid_mlp_outputs_in_unit_interval_glorot_zero_bias():
    m = ann.SigmoidMLP(30, 20, 4, seed=0)
    out = m(torch.randn(7, 30) * 10)
    assert out.shape == (7, 4) and bool(((out >= 0) & (out <= 1)).all())
    assert m.hidden.bias.abs().sum() == 0 and m.hidden.weight.abs().max() <= (6 / 50) ** 0.5
    assert torch.equal(ann.SigmoidMLP(30, 20, 4, seed=0).out.weight, m.out.weight)
