"""spikelib.ann: the conventional baselines (dense autoencoders, the 784-340-10 MLP classifier)."""

import math

import numpy as np
import pytest
import torch

from spikelib import ann, data
from spikelib.fitting import FitResult
from spikelib.experiments.comsa_autoencoders import ann_parameter_count

MNIST_DIR = data.data_dir() / "mnist"


def _mnist(split):
    if not all((MNIST_DIR / n).is_file() for n in data.SHA256["mnist"]):
        pytest.skip(f"MNIST not cached in {MNIST_DIR}; run `python -m spikelib data`")
    return data.load_mnist(split)


def test_activations_by_name():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(ann.activation("gaussian")(x), torch.exp(-x**2))  # zero-centred, peak 1 at 0
    assert ann.activation("gaussian")(x)[2] == 1.0
    torch.testing.assert_close(ann.activation("relu")(x), x.clamp(min=0))
    torch.testing.assert_close(ann.activation("sigmoid")(x), 1 / (1 + torch.exp(-x)))
    torch.testing.assert_close(ann.activation("tanh")(x), torch.tanh(x))
    torch.testing.assert_close(ann.activation("elu")(x), torch.where(x > 0, x, torch.exp(x) - 1))
    with pytest.raises(ValueError, match="unknown activation 'swish'; known: relu, sigmoid"):
        ann.activation("swish")
    with pytest.raises(ValueError, match="unknown activation"):
        ann.DenseAutoencoder(10, 3, "relu", "softmax")


@pytest.mark.parametrize("hidden", [8, 16, 32])
def test_dense_autoencoder_shapes_and_parameter_count(hidden):
    model = ann.DenseAutoencoder(784, hidden)
    x = torch.rand(5, 784)
    assert model.encode(x).shape == (5, hidden) and model(x).shape == (5, 784)
    assert model.n_parameters() == ann_parameter_count(784, hidden, 784) == 784 * hidden + hidden + hidden * 784 + 784
    assert ann.DenseAutoencoder(784, hidden, bias=False).n_parameters() == 2 * 784 * hidden
    out = model(x)
    assert ((out > 0) & (out < 1)).all()  # sigmoid decoder
    assert (model.encode(x) >= 0).all()  # relu encoder


def test_dense_autoencoder_glorot_init_is_seeded():
    a, b, c = (ann.DenseAutoencoder(784, 32, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.encoder.weight, b.encoder.weight) and not torch.equal(a.encoder.weight, c.encoder.weight)
    assert (a.encoder.bias == 0).all() and (a.decoder.bias == 0).all()
    limit = math.sqrt(6 / (784 + 32))  # Keras' glorot_uniform
    w = a.encoder.weight
    assert w.abs().max() <= limit and w.abs().max() > 0.95 * limit
    assert abs(w.std().item() - limit / math.sqrt(3)) < 0.02 * limit


def _blobs(n, seed):
    """Images that live on a 3-dimensional manifold: an autoencoder with h = 4 can learn them."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.rand(3, 64, generator=torch.Generator().manual_seed(0))
    z = torch.rand(n, 3, generator=g)
    return (z @ basis / 3).clamp(0, 1)


@pytest.mark.parametrize("acts", ["relu-sigmoid", "gaussian-gaussian", "elu-tanh", "sigmoid-sigmoid"])
def test_fit_dense_autoencoder_reduces_mse_and_keeps_best_epoch(acts):
    x, xv = _blobs(400, 1), _blobs(200, 2)
    model = ann.DenseAutoencoder(64, 4, *acts.split("-"), seed=0)
    before = ann.reconstruction_mse(model, xv, xv)
    records = []
    r = ann.fit_dense_autoencoder(model, (x, x), (xv, xv), epochs=12, batch_size=16, learning_rate=3e-3, seed=0,
                                  on_epoch=records.append)
    vals = [rec["val_mse"] for rec in records]
    assert r["best"] == {"epoch": int(np.argmin(vals)), "mse": min(vals)}
    after = ann.reconstruction_mse(model, xv, xv)
    assert after == pytest.approx(min(vals), rel=1e-6)  # the best epoch's weights are the ones kept
    assert after < 0.5 * before, (acts, before, vals)


def test_fit_dense_autoencoder_contract(tmp_path):
    x, xv = _blobs(60, 3), _blobs(30, 4)
    kw = dict(epochs=3, seed=7)
    by_keywords = ann.fit_dense_autoencoder(m1 := ann.DenseAutoencoder(64, 4, seed=5), (x, x), (xv, xv),
                                            batch_size=10, learning_rate=3e-3, **kw)
    by_config = ann.fit_dense_autoencoder(m2 := ann.DenseAutoencoder(64, 4, seed=5), (x, x), (xv, xv),
                                          {"batch_size": 10, "learning_rate": 3e-3}, **kw)
    assert isinstance(by_config, FitResult) and dict(by_config).keys() == {"history", "best"}
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(by_keywords.history) == strip(by_config.history) and by_keywords.best == by_config.best
    assert torch.equal(m1.decoder.weight, m2.decoder.weight)
    in_config = ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4, seed=5), (x, x), (xv, xv),
                                          {"batch_size": 10, "learning_rate": 3e-3, "epochs": 3}, seed=7)
    assert strip(in_config.history) == strip(by_config.history)
    defaults = ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4, seed=5), (x, x), epochs=1, seed=7)
    assert len(defaults.history) == 1 and "val_mse" not in defaults.history[0]
    with pytest.raises(TypeError, match="needs epochs="):
        ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4), (x, x))
    with pytest.raises(ValueError, match="unknown dense-autoencoder setting.*momentum"):
        ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4), (x, x), None, {"momentum": 0.9}, epochs=1)
    with pytest.raises(RuntimeError, match="no C implementation"):
        ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4), (x, x), epochs=1, backend="c")
    # checkpoint: a run of 3 epochs resumed from one of 1 equals the uninterrupted run
    ckpt = tmp_path / "ann.ckpt"
    ann.fit_dense_autoencoder(ann.DenseAutoencoder(64, 4, seed=5), (x, x), (xv, xv), {"batch_size": 10,
                              "learning_rate": 3e-3}, epochs=1, seed=7, checkpoint=ckpt)
    seen = []
    resumed = ann.fit_dense_autoencoder(m3 := ann.DenseAutoencoder(64, 4, seed=99), (x, x), (xv, xv),
                                        {"batch_size": 10, "learning_rate": 3e-3}, epochs=3, seed=7,
                                        checkpoint=ckpt, on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [1, 2]
    assert strip(resumed.history) == strip(by_config.history) and resumed.best == by_config.best
    assert torch.equal(m3.decoder.weight, m2.decoder.weight)


def test_fit_dense_autoencoder_is_repeatable():
    x = _blobs(100, 3)
    runs = []
    for _ in range(2):
        model = ann.DenseAutoencoder(64, 4, seed=5)
        ann.fit_dense_autoencoder(model, (x, x), epochs=2, batch_size=10, seed=7)
        runs.append(model.decoder.weight.detach().clone())
    assert torch.equal(*runs)


def test_as_inputs():
    img = np.array([[[0, 128], [255, 64]]], dtype=np.uint8)
    torch.testing.assert_close(ann.as_inputs(img), torch.tensor([[0.0, 0.5, 255 / 256, 0.25]]))
    torch.testing.assert_close(ann.as_inputs(img, invert=True), 1 - torch.tensor([[0.0, 0.5, 255 / 256, 0.25]]))
    assert ann.as_inputs(torch.rand(3, 2, 2, dtype=torch.float64)).shape == (3, 4)
    with pytest.raises(ValueError, match="batch dimension"):
        ann.as_inputs(np.zeros(4, dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8 pixels or floats"):
        ann.as_inputs(torch.zeros(2, 3, dtype=torch.int32))


def test_mlp_classifier_shape_and_init():
    m = ann.MLPClassifier(seed=0)
    assert m.sizes == (784, 340, 10)
    assert m(torch.rand(3, 784)).shape == (3, 10)
    assert sum(p.numel() for p in m.parameters()) == 784 * 340 + 340 + 340 * 10 + 10


def test_fit_mlp_classifier_learns_mnist_subset():
    images, labels = _mnist("train")
    test_images, test_labels = _mnist("test")
    train = (images[:2000], labels[:2000])
    val = (images[2000:2500], labels[2000:2500])
    test = (test_images[:1000], test_labels[:1000])
    model = ann.MLPClassifier(seed=0)
    r = ann.fit_mlp_classifier(model, train, val, ann.MLPConfig(batch_size=32), epochs=3, seed=0, test=test)
    assert r["test_accuracy"] > 0.85, r  # chance is 0.1; 97.9 % needs the full set and more epochs
    assert r["max_test_accuracy"] >= r["test_accuracy"]
    assert r["final_test_accuracy"] == r["history"][-1]["test_accuracy"]
    assert r["max_test_accuracy"] == max(h["test_accuracy"] for h in r["history"])
    assert len(r["history"]) == 3 and r["n_train"] == 2000
    assert r["val_accuracy"] == max(h["val_accuracy"] for h in r["history"])
    assert r.best == {"epoch": r["best_epoch"], "val_accuracy": r["val_accuracy"], "test_accuracy": r["test_accuracy"]}
    # the model keeps its last epoch's weights (the selection is reported, not applied)
    assert ann.accuracy(model, ann.as_inputs(test[0]), torch.from_numpy(np.array(test[1])).long()) == r["history"][-1]["test_accuracy"]
    with pytest.warns(DeprecationWarning, match="fit_mlp_classifier"):
        again = ann.train_mlp_classifier(train, val, test, batch_size=32, epochs=3, seed=0)
    assert [h["test_accuracy"] for h in again["history"]] == [h["test_accuracy"] for h in r["history"]]


def _tiny_digits(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, 6, generator=g) * 0.1 + torch.nn.functional.one_hot(y, 6).float()
    return x, y


def test_fit_mlp_classifier_contract_checkpoint_and_options(tmp_path):
    train, val = _tiny_digits(40, 0), _tiny_digits(20, 1)
    cfg = {"batch_size": 8, "learning_rate": 0.01, "epochs": 3}  # a mapping config; its epochs apply
    straight = ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3), seed=1), train, val, cfg, seed=2)
    assert [h["epoch"] for h in straight["history"]] == [0, 1, 2] and "test_accuracy" not in straight
    assert set(straight.history[0]) == {"epoch", "train_loss_running", "val_accuracy", "seconds"}
    assert straight["n_val"] == 20 and "n_test" not in straight and straight["batch_size"] == 8
    ckpt = tmp_path / "mlp.pt"
    seen = []
    ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3), seed=1), train, val, cfg, epochs=2, seed=2, checkpoint=ckpt)
    resumed = ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3), seed=9), train, val, cfg, seed=2,
                                     checkpoint=ckpt, on_epoch=seen.append)
    assert [e["epoch"] for e in seen] == [2]  # only the third epoch ran
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(straight["history"]) and resumed.best == straight.best
    with pytest.raises(ValueError, match="other settings"):  # another seed: not resumed
        ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3), seed=1), train, val, cfg, seed=3, checkpoint=ckpt)
    no_val = ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3), seed=1), train, None, cfg, epochs=1)
    assert no_val.best is None and "val_accuracy" not in no_val and no_val["n_train"] == 40
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3)), train, val, cfg, epochs=0)
    with pytest.raises(RuntimeError, match="no C implementation"):
        ann.fit_mlp_classifier(ann.MLPClassifier((6, 5, 3)), train, val, cfg, backend="c")
