"""spikelib.alpha.autoencoder: the 75 sets, the loss conventions in training, fit/resume, data, the sweep."""

import copy
import json
import math

import numpy as np
import pytest
import torch

from spikelib import data, sweep
from spikelib.alpha import AlphaNetwork, make_optimizer, spike_times
from spikelib.alpha import autoencoder as ae
from spikelib.alpha.autoencoder import (
    AutoencoderHyperparameters,
    autoencoder_hyperparameters,
    autoencoder_train_step,
    evaluate_autoencoder,
    fit_autoencoder,
    load_autoencoder_hyperparameters,
)

inf = math.inf
CSV = "reference/comsa2021-autoencoder-hyperparameters.csv"
MNIST_DIR = data.data_dir() / "mnist"


@pytest.fixture
def csv_path(shared_dir):
    return shared_dir / CSV


def _need_mnist():
    if not all((MNIST_DIR / n).is_file() for n in data.SHA256["mnist"]):
        pytest.skip(f"MNIST not cached in {MNIST_DIR}; run `python -m spikelib data`")


# ------------------------------------------------------------------------------- hyperparameter sets


def test_75_sets_cover_the_grid(csv_path):
    sets = load_autoencoder_hyperparameters(csv_path)
    assert len(sets) == 75
    assert {(s.eta, s.latency, s.hidden) for s in sets} == {
        (e, float(l), h) for e in ae.ETAS for l in ae.LATENCIES for h in ae.HIDDEN_SIZES}
    first = sets[0]  # the file's first row, by hand
    assert (first.eta, first.latency, first.n_hidden) == (0.0, 1.0, (8,))
    assert first.batch_size == 18 and isinstance(first.batch_size, int)
    assert first.decay_constant == 0.112942 and first.fire_threshold == 1.402923
    assert first.clip_derivative == 607.575441 and first.penalty_no_spike == 65.237213
    assert (first.learning_rate, first.learning_rate_pulses) == (0.002455, 0.008874)
    assert (first.nonpulse_weight_mean_multiplier, first.pulse_weight_mean_multiplier) == (-8.899169, 6.399479)
    assert first.n_pulses == 10 and isinstance(first.n_pulses, int)
    assert all(s.update_all_datapoints and not s.shared_pulses for s in sets)
    assert {s.n_pulses for s in sets} <= set(range(5, 11)) and min(s.batch_size for s in sets) == 1


def test_default_path_is_found_in_shared(csv_path):
    assert load_autoencoder_hyperparameters() == load_autoencoder_hyperparameters(csv_path)


def test_lookup(csv_path):
    s = autoencoder_hyperparameters(0.4, 16, 8)
    assert (s.eta, s.latency, s.hidden, s.n_pulses, s.batch_size) == (0.4, 16.0, 8, 5, 17)
    assert autoencoder_hyperparameters(0.1 * 6, 4, 32) is autoencoder_hyperparameters(0.6, 4.0, 32)  # 0.6000000000000001
    assert autoencoder_hyperparameters(0.0, 1, 32, sets=csv_path) == autoencoder_hyperparameters(0.0, 1, 32)
    sets = load_autoencoder_hyperparameters(csv_path)
    found = autoencoder_hyperparameters(0.8, 2, 16, sets=sets)
    assert found is sets[4 * 15 + 1 * 5 + 1] and found.batch_size == 140  # rows: eta, then h, then l
    with pytest.raises(KeyError, match=r"eta=0\.3, latency=1, hidden=8; the sets cover eta in \[0\.0, 0\.2"):
        autoencoder_hyperparameters(0.3, 1, 8)
    with pytest.raises(KeyError, match=r"hidden in \[8, 16, 32\]"):
        autoencoder_hyperparameters(0.0, 1, 64)
    with pytest.raises(KeyError, match=r"latency in \[1\.0, 2\.0, 4\.0, 8\.0, 16\.0\]"):
        autoencoder_hyperparameters(0.0, 3, 8)


def test_missing_csv_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELIB_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{CSV} not found in the shared folder.*{tmp_path}.*SPIKELIB_SHARED"):
        load_autoencoder_hyperparameters()
    with pytest.raises(FileNotFoundError):
        load_autoencoder_hyperparameters(tmp_path / "nope.csv")


def test_malformed_csv_errors(csv_path, tmp_path):
    lines = csv_path.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0].replace(",n_pulses", ""), *lines[1:3]]))
    with pytest.raises(ValueError, match="lacks the column"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace(",10,", ",ten,", 1)]))
    with pytest.raises(ValueError, match=r"line 3: column 'n_pulses' must be an integer, got 'ten'"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[2], lines[1]]))
    with pytest.raises(ValueError, match=r"line 4: .* repeats line 2"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text(lines[0] + "\n")
    with pytest.raises(ValueError, match="holds no hyperparameter sets"):
        load_autoencoder_hyperparameters(bad)


# --------------------------------------------------------------------------------- parameter count


def test_parameter_count_formula_holds_for_all_75_sets(csv_path):
    for s in load_autoencoder_hyperparameters(csv_path):
        net = s.network(seed=0)
        h, p = s.hidden, s.n_pulses
        assert net.sizes == (784, h, 784)
        assert net.n_parameters() == (784 + p) * h + (h + p) * 784 + 2 * p == s.n_parameters()
        assert net.n_parameters() == ae.snn_parameter_count(784, h, 784, p)
    # §2.8 by hand: h = 32 with 10 pulses vs the ANN with biases (fewer parameters, as the paper says)
    assert ae.snn_parameter_count(784, 32, 784, 10) == 794 * 32 + 42 * 784 + 20 == 58356
    assert ae.ann_parameter_count(784, 32, 784) == 50992 < 58356


def test_network_follows_the_set(csv_path):
    s = autoencoder_hyperparameters(0.0, 1, 32, sets=csv_path)
    net = s.network(seed=1, dtype=torch.float64)
    for layer in net.layers:
        assert (layer.tau, layer.theta, layer.clip_derivative) == (s.decay_constant, s.fire_threshold, s.clip_derivative)
        assert layer.n_pulses == s.n_pulses
        torch.testing.assert_close(layer.pulse_times, torch.arange(1, 11, dtype=torch.float64) / 11)
        sigma = math.sqrt(2 / (layer.n_in + layer.n_out + layer.n_pulses))
        regular = layer.weight[:layer.n_in]
        assert abs(regular.mean().item() / sigma - s.nonpulse_weight_mean_multiplier) < 0.1
        assert abs(regular.std().item() / sigma - 1) < 0.1
    assert net.layers[0].pulse_times is not net.layers[1].pulse_times  # one pulse vector per layer
    assert make_optimizer(net, s).param_groups[1]["lr"] == s.learning_rate_pulses


def test_fig1_example_neuron():
    t = torch.tensor([ae.FIG1["t_in"]], dtype=torch.float64)
    w = torch.tensor(ae.FIG1["w"], dtype=torch.float64).unsqueeze(1)
    out = spike_times(t, w, ae.FIG1["tau"], ae.FIG1["theta"]).item()
    assert out == pytest.approx(19.39435, abs=1e-5) and round(out, 2) == ae.FIG1["t_out_paper"]


# ------------------------------------------------------------------- loss conventions in training


def _chain(w1, w2, tau=1.0, theta=1.0, latency=1.0):
    """1-1-2 network: input -> one hidden neuron -> two outputs; no pulses; float64."""
    hp = AutoencoderHyperparameters(n_hidden=(1,), n_pulses=0, batch_size=1, decay_constant=tau, fire_threshold=theta,
                                    clip_derivative=0.0, penalty_no_spike=3.0, latency=latency,
                                    learning_rate=1e-3)
    net = AlphaNetwork((1, 1, 2), tau=tau, theta=theta, dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[w1]]))
        net.layers[1].weight.copy_(torch.tensor([w2]))
    return hp, net


def _single_spike(t_in, w, theta=1.0):
    """Spike time of one alpha input: w s e^{-s} = theta, earliest root (tau = 1), by bisection."""
    lo, hi = 0.0, 1.0  # the peak of s e^{-s} is at s = 1
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if w * mid * math.exp(-mid) < theta else (lo, mid)
    return t_in + (lo + hi) / 2


def test_gradient_is_o_minus_target_with_latency_by_hand():
    # hidden spikes at th, output 0 at th + s(w2_0); output 1 is silent (negative weight)
    hp, net = _chain(4.0, [5.0, -1.0], latency=2.0)
    x = torch.tensor([[0.0]], dtype=torch.float64)
    target = torch.tensor([[0.3, 0.6]], dtype=torch.float64)
    th = _single_spike(0.0, 4.0)
    t0 = _single_spike(th, 5.0)
    hid, out = net(x, all_layers=True)
    assert hid.item() == pytest.approx(th, abs=1e-12) and out[0, 0].item() == pytest.approx(t0, abs=1e-12)
    assert out[0, 1].item() == inf
    opt = make_optimizer(net, hp)
    stats = autoencoder_train_step(net, opt, x, target, hp)
    # reported error: o = t - latency for the spiking output, o = 1 for the silent one, over n outputs
    assert stats["loss"] == pytest.approx(((t0 - 2.0 - 0.3) ** 2 + (1.0 - 0.6) ** 2) / 2, rel=1e-12)
    # dL/dw2_0 = (t0 - latency - target) * dt0/dw2_0: no factor 2, latency subtracted; finite differences
    eps = 1e-6
    dt_dw = (_single_spike(th, 5.0 + eps) - _single_spike(th, 5.0 - eps)) / (2 * eps)
    g = net.layers[1].weight.grad
    assert g[0, 0].item() == pytest.approx((t0 - 2.0 - 0.3) * dt_dw, rel=1e-6)
    # the silent output passes no gradient back; its incoming weight gets only -penalty (one example)
    assert g[0, 1].item() == -3.0
    dth_dw1 = (_single_spike(0.0, 4.0 + eps) - _single_spike(0.0, 4.0 - eps)) / (2 * eps)
    dt0_dth = 1.0  # a single input: the output spike moves with it
    assert net.layers[0].weight.grad.item() == pytest.approx((t0 - 2.3) * dt0_dth * dth_dw1, rel=1e-6)


def test_silent_target_counts_as_one_and_gradient_is_batch_mean():
    hp, net = _chain(4.0, [5.0, 5.0], latency=1.0)
    x = torch.tensor([[0.0], [0.0]], dtype=torch.float64)
    t_out = net(x)[0, 0].item()
    target = torch.tensor([[inf, 0.2], [0.5, 0.2]], dtype=torch.float64)  # a black pixel: no target spike
    opt = make_optimizer(net, hp)
    autoencoder_train_step(net, opt, x, target, hp)
    eps = 1e-6
    th = _single_spike(0.0, 4.0)
    dt_dw = (_single_spike(th, 5.0 + eps) - _single_spike(th, 5.0 - eps)) / (2 * eps)
    o = t_out - 1.0
    # mean over the two examples of (o - target), the silent target read as 1.0
    assert net.layers[1].weight.grad[0, 0].item() == pytest.approx(((o - 1.0) + (o - 0.5)) / 2 * dt_dw, rel=1e-6)
    ev = evaluate_autoencoder(net, x, target, 1.0)
    assert ev["silent_output"] == 0 and ev["silent_hidden"] == 0


def test_no_spike_penalty_in_both_layers_averaged_over_the_batch():
    hp, net = _chain(-1.0, [5.0, 5.0])  # the hidden neuron never fires, so neither do the outputs
    x = torch.tensor([[0.0], [0.1], [0.2]], dtype=torch.float64)
    opt = make_optimizer(net, hp)
    autoencoder_train_step(net, opt, x, torch.zeros(3, 2, dtype=torch.float64), hp)
    assert net.layers[0].weight.grad.item() == -3.0  # penalty 3 per silent example, / 3 examples x 3
    assert net.layers[1].weight.grad.tolist() == [[-3.0, -3.0]]
    ev = evaluate_autoencoder(net, x, torch.zeros(3, 2, dtype=torch.float64), 1.0)
    assert ev["mse"] == 1.0 and ev["silent_output"] == 1.0 and ev["silent_hidden"] == 1.0  # o = 1 vs 0


def test_pulses_are_trained_and_clamped():
    torch.manual_seed(0)
    hp = AutoencoderHyperparameters(n_hidden=(3,), n_pulses=2, batch_size=4, decay_constant=1.0, fire_threshold=0.5,
                                    learning_rate=0.01, learning_rate_pulses=5.0, nonpulse_weight_mean_multiplier=1,
                                    pulse_weight_mean_multiplier=3)
    net = hp.network(6, seed=0, dtype=torch.float64)
    x = torch.rand(4, 6, dtype=torch.float64)
    before = [p.detach().clone() for p in net.pulse_parameters()]
    autoencoder_train_step(net, make_optimizer(net, hp), x, x, hp)
    after = net.pulse_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    assert all((p >= 0).all() for p in after)


def test_fit_requires_autoencoder_hyperparameters():
    from spikelib.alpha import BOOLEAN_TABLE1

    net = AlphaNetwork((2, 2, 2))
    with pytest.raises(TypeError, match="latency"):
        fit_autoencoder(net, (torch.zeros(1, 2), torch.zeros(1, 2)), None, BOOLEAN_TABLE1, epochs=1)


# ------------------------------------------------------------------------------- fit, resume, select

SMALL = AutoencoderHyperparameters(n_hidden=(4,), n_pulses=2, batch_size=5, decay_constant=1.0, fire_threshold=0.6,
                                   learning_rate=0.02, learning_rate_pulses=0.01, clip_derivative=100.0,
                                   nonpulse_weight_mean_multiplier=1.0, pulse_weight_mean_multiplier=2.0,
                                   penalty_no_spike=1.0, latency=1.0)


def _synthetic(n, seed, n_in=12):
    """Spike-time 'images' from 2 latent causes: some pixels silent, the rest in [0, 1)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, 2, generator=g, dtype=torch.float64)
    basis = torch.rand(2, n_in, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    t = 1.0 - (z @ basis) / 2
    return torch.where(t > 0.85, torch.full_like(t, inf), t)


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    x, xv = _synthetic(40, 1), _synthetic(20, 2)
    ckpt = tmp_path / "run" / "ae.ckpt"
    first = SMALL.network(12, seed=3, dtype=torch.float64)
    r1 = fit_autoencoder(first, (x, x), (xv, xv), SMALL, epochs=2, seed=5, checkpoint=ckpt)
    assert len(r1["history"]) == 2 and [p.name for p in ckpt.parent.iterdir()] == ["ae.ckpt"]
    epochs_run = []
    resumed = SMALL.network(12, seed=99, dtype=torch.float64)  # different init: the checkpoint wins
    r2 = fit_autoencoder(resumed, (x, x), (xv, xv), SMALL, epochs=4, seed=5, checkpoint=ckpt, on_epoch=epochs_run.append)
    assert [e["epoch"] for e in epochs_run] == [2, 3]
    straight = SMALL.network(12, seed=3, dtype=torch.float64)
    r3 = fit_autoencoder(straight, (x, x), (xv, xv), SMALL, epochs=4, seed=5)
    assert _strip(r2["history"]) == _strip(r3["history"]) and r2["best"] == r3["best"]
    for (k, a), (_, b) in zip(resumed.state_dict().items(), straight.state_dict().items()):
        assert torch.equal(a, b), k
    again = []
    fit_autoencoder(SMALL.network(12, dtype=torch.float64), (x, x), (xv, xv), SMALL, epochs=4, seed=5,
                    checkpoint=ckpt, on_epoch=again.append)
    assert again == []


def test_best_validation_mse_epoch_is_restored():
    x, xv = _synthetic(40, 3), _synthetic(30, 4)
    hp = SMALL.replace(learning_rate=0.2)  # large steps: the validation error goes up and down
    net = hp.network(12, seed=0, dtype=torch.float64)
    snaps, records = [], []

    def on_epoch(r):
        records.append(r)
        snaps.append(copy.deepcopy(net.state_dict()))

    r = fit_autoencoder(net, (x, x), (xv, xv), hp, epochs=8, seed=1, on_epoch=on_epoch)
    vals = [rec["val_mse"] for rec in records]
    best = int(np.argmin(vals))
    assert r["best"] == {"epoch": best, "mse": vals[best]}
    assert best != len(vals) - 1, vals  # otherwise "best" and "last" could not be told apart
    for k, v in net.state_dict().items():
        assert torch.equal(v, snaps[best][k]), k
    assert evaluate_autoencoder(net, xv, xv, 1.0)["mse"] == vals[best]


def test_smoke_training_reduces_mnist_reconstruction_error():
    """The authors' set for eta = 0, l = 1, h = 32, one epoch of 800 images: the error must fall from ~0.95
    to well below the all-silent output's (a black image, ~0.11); it reaches ~0.066."""
    _need_mnist()
    d = ae.load_autoencoder_data("mnist", eta=0.0, n_train=800, n_val=200, n_test=0)
    hp = autoencoder_hyperparameters(0.0, 1, 32)
    net = hp.network(seed=0)
    before = evaluate_autoencoder(net, d.val.x, d.val.target, hp.latency)["mse"]
    all_silent = float(ae.brightness(d.val.target).pow(2).mean())  # o = 1 everywhere
    r = fit_autoencoder(net, d.train, d.val, hp, epochs=1, seed=0)
    after = evaluate_autoencoder(net, d.val.x, d.val.target, hp.latency)["mse"]
    assert after == r["best"]["mse"]
    assert after < 0.8 * all_silent and after < 0.5 * before, (before, after, all_silent)


# -------------------------------------------------------------------------------------------- data


@pytest.fixture
def fake_mnist(monkeypatch):
    """A 60,000 / 10,000-image stand-in for MNIST: image i has pixel 0 = i % 256, pixel 1 = 255, rest 0."""
    def load(split="train"):
        n = 60000 if split == "train" else 10000
        img = np.zeros((n, 2, 2), dtype=np.uint8)
        img[:, 0, 0] = np.arange(n) % 256
        img[:, 0, 1] = 255
        img[:, 1, 0] = 128
        return img, (np.arange(n) % 10).astype(np.int64) + (0 if split == "train" else 100)

    monkeypatch.setitem(ae._LOADERS, "mnist", load)
    return load


def test_data_splits_and_noise(fake_mnist):
    d = ae.load_autoencoder_data("mnist", eta=0.0, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert d.train.x.shape == (100, 4) and d.val.x.shape == (50, 4) and d.test.x.shape == (20, 4)
    assert torch.equal(d.train.x, d.train.target)  # eta = 0: inputs are the clean times
    assert d.train.target[:, 1].eq(1 / 256).all() and d.train.target[:, 3].isinf().all()  # bright ink / black
    assert d.test.labels.tolist() == [100 + i % 10 for i in range(20)]
    perm = np.random.default_rng(0).permutation(60000)
    assert d.train.labels.tolist() == (perm[:100] % 10).tolist()  # the shuffled 54,000 / 6,000 split
    assert d.val.labels.tolist() == (perm[54000:54050] % 10).tolist()
    noisy = ae.load_autoencoder_data("mnist", eta=0.4, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert torch.equal(noisy.train.target, d.train.target)  # targets stay clean
    assert torch.equal(noisy.train.labels, d.train.labels)  # same images for every eta
    t = torch.where(noisy.train.x.isinf(), 1.0, noisy.train.x)
    assert (t >= d.train.target.nan_to_num(posinf=1.0) - 0.4 * 5).all() and (t <= 1).all()
    assert noisy.train.x.isinf().float().mean() > 0.4  # mean-1 noise pushes pixels towards silence
    twice = ae.load_autoencoder_data("mnist", eta=0.4, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert torch.equal(twice.train.x, noisy.train.x)  # drawn from the seed, once


def test_representations_agree(fake_mnist):
    kw = dict(eta=0.0, n_train=30, n_val=10, n_test=10, dtype=torch.float64)
    times = ae.load_autoencoder_data("mnist", **kw).train
    inv = ae.load_autoencoder_data("mnist", representation="inverted", **kw).train
    reg = ae.load_autoencoder_data("mnist", representation="regular", **kw).train
    torch.testing.assert_close(inv.target, torch.where(times.target.isinf(), 1.0, times.target))
    torch.testing.assert_close(reg.target, 1 - inv.target)
    noisy = ae.load_autoencoder_data("mnist", representation="regular", **{**kw, "eta": 0.5}).train
    assert noisy.x.isfinite().all() and (noisy.x >= 0).all() and (noisy.x <= 1).all()
    assert abs(float((noisy.x - reg.target).mean())) < 0.1  # zero-mean noise for the usual images


def test_mean_image_error_by_hand(fake_mnist):
    # only pixel 0 varies (p = i % 256; 0 is silent, read as 1); the other three are the same in every image
    def t0(p):
        return np.where(p == 0, 1.0, 1 - p / 256)

    train_p = np.random.default_rng(0).permutation(60000)[:300] % 256  # the shuffled 54,000 split
    test_p = np.arange(40) % 256
    expected = np.mean((t0(train_p).mean() - t0(test_p)) ** 2) / 4
    assert ae.mean_image_error("mnist", n_train=300, n_test=40) == pytest.approx(expected, rel=1e-12)


def test_data_errors(fake_mnist):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; use 'mnist' or 'fmnist'"):
        ae.load_autoencoder_data("cifar")
    with pytest.raises(ValueError, match="representation must be one of"):
        ae.load_autoencoder_data("mnist", representation="rate")
    with pytest.raises(ValueError, match=r"n_val must be in \[0, 6000\]"):
        ae.load_autoencoder_data("mnist", n_val=7000)
    assert ae.dataset_name("Fashion-MNIST") == ae.dataset_name("fashion") == "fmnist"


# ------------------------------------------------------------------------------ looking inside


def test_embed_decode_reconstruct_and_helpers():
    net = SMALL.network(12, seed=0, dtype=torch.float64)
    x = _synthetic(7, 5)
    hidden, out = net(x, all_layers=True)
    assert torch.equal(ae.embed(net, x, batch_size=3), hidden)
    recon = ae.reconstruct(net, x, 1.0, batch_size=3)
    assert torch.equal(recon, torch.where(out.isfinite(), out - 1.0, 1.0))
    torch.testing.assert_close(ae.brightness(torch.tensor([0.0, 0.25, 1.0, 3.0, -1.0, inf])),
                               torch.tensor([1.0, 0.75, 0.0, 0.0, 1.0, 0.0]))
    feats, fill = ae.embedding_features(torch.tensor([[0.5, inf], [2.0, 1.0]]))
    assert fill == 3.0 and feats.tolist() == [[0.5, 3.0], [2.0, 1.0]]
    assert ae.embedding_features(torch.tensor([[inf]]), 7.0)[0].tolist() == [[7.0]]
    spikes = ae.layer_spike_times(net, x, batch_size=2)
    assert spikes["hidden"].shape == (7, 4) and spikes["output"].shape == (7, 12)
    assert spikes["hidden_pulses"].shape == (2,) and spikes["output_pulses"].shape == (2,)
    groups = ae.weight_groups(net)
    assert {k: v.size for k, v in groups.items()} == {
        "encoder regular": 48, "encoder pulse": 8, "decoder regular": 48, "decoder pulse": 24}


def test_interpolation_grid():
    corners = torch.tensor([[0.0, 1.0, inf], [1.0, inf, inf], [2.0, 1.0, inf], [3.0, 1.0, inf]])
    g = ae.interpolation_grid(corners, 3)
    assert g.shape == (3, 3, 3)
    assert g[0, 0, 0] == 0 and g[0, 2, 0] == 1 and g[2, 0, 0] == 2 and g[2, 2, 0] == 3 and g[1, 1, 0] == 1.5
    assert g[0, 2, 1] == 4.0 and g[0, 1, 1] == 2.5  # silent in one corner: 1 after the latest spike (3)
    assert g[..., 2].isinf().all()  # silent everywhere: stays silent
    with pytest.raises(ValueError, match=r"shape \(4, d\)"):
        ae.interpolation_grid(corners[:3], 3)


def test_svm_accuracy_on_separable_features():
    g = np.random.default_rng(0)
    x = np.r_[g.normal(0, 0.3, (40, 2)), g.normal(3, 0.3, (40, 2))]
    y = np.r_[np.zeros(40), np.ones(40)]
    assert ae.svm_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0


# ------------------------------------------------------------------------------------------- sweep


def test_config_errors():
    with pytest.raises(ValueError, match="missing latency"):
        ae._check_config({"dataset": "mnist", "eta": 0.0, "hidden": 8})
    with pytest.raises(ValueError, match="unknown for model 'ann': latency"):
        ae._check_config({"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8, "latency": 1})
    with pytest.raises(ValueError, match="model must be 'snn' or 'ann'"):
        ae._check_config({"model": "lif", "dataset": "mnist", "eta": 0.0, "hidden": 8})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        ae._check_config({"dataset": "mnist", "eta": 0.0, "hidden": 8, "latency": 1, "epochs": 0})
    with pytest.raises(ValueError, match="encoder-decoder"):
        ae._check_config({"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8, "activation": "relu"})
    cfg = ae._check_config({"model": "ann", "dataset": "fashion", "eta": 0.0, "hidden": 8})
    assert cfg == {"model": "ann", "dataset": "fmnist", "eta": 0.0, "hidden": 8, "activation": "relu-sigmoid",
                   "inverted": False}


def test_by_expected_cost():
    configs = [{"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8},
               {"dataset": "mnist", "eta": 0.8, "latency": 1, "hidden": 32},  # batch 107
               {"dataset": "mnist", "eta": 0.8, "latency": 1, "hidden": 8},  # batch 1
               {"dataset": "mnist", "eta": 0.0, "latency": 16, "hidden": 32, "epochs": 16}]  # batch 27
    # batch 1 x 4 epochs > batch 27 x 16 epochs > batch 107 x 4 epochs > an ANN
    assert ae.by_expected_cost(configs, epochs=4) == [configs[2], configs[3], configs[1], configs[0]]
    assert ae.by_expected_cost(configs, epochs=1)[0] is configs[3]


def test_sweep_round_trip_at_smoke_scale(tmp_path):
    _need_mnist()
    from spikelib.scales import settings

    s = settings("spiking_autoencoders", "smoke")
    configs = [{"model": "snn", "dataset": "mnist", "eta": 0.2, "latency": 1, "hidden": 16},
               {"model": "ann", "dataset": "mnist", "eta": 0.2, "hidden": 16, "activation": "gaussian-gaussian",
                "inverted": True}]
    progress = []
    records = sweep.run_sweep(ae.train_autoencoder_config, configs, tmp_path, workers=1, common={"scale": "smoke"},
                              on_progress=lambda *a: progress.append(a))
    assert len(progress) == 2 and [r["status"] for r in records] == ["ok", "ok"]
    snn, ann_ = (r["results"] for r in records)
    assert snn["epochs"] == ann_["epochs"] == s["epochs"] and snn["n_train"] == s["n_train"]
    assert snn["n_parameters"] == ae.snn_parameter_count(784, 16, 784, 9)
    assert ann_["n_parameters"] == ae.ann_parameter_count(784, 16, 784)
    assert ann_["representation"] == "inverted" and snn["representation"] == "times"
    assert 0 <= snn["svm_accuracy"] <= 1 and 0 < snn["test_mse"] < 5 and 0 < ann_["test_mse"] < 1
    json.dumps(records)  # plain JSON
    for r in records:
        path = tmp_path / r["results"]["artifacts"]
        assert path.name == f"{r['key']}.npz" and path.is_file()
        assert not (tmp_path / f"{r['key']}.ckpt").exists()  # the sweep removes checkpoints of finished configs
        model, arrays = ae.load_trained_autoencoder(path)
        assert arrays["config"]["model"] == r["config"]["model"]
        assert arrays["reconstructions"].shape == (s["n_examples"], 784)
        assert arrays["test_embeddings"].shape == (s["n_test"], 16) and arrays["test_labels"].shape == (s["n_test"],)
        x = torch.from_numpy(arrays["inputs"])
        again = ae.reconstruct(model, x, 1.0) if r["config"]["model"] == "snn" else model(x).detach()
        np.testing.assert_array_equal(again.numpy(), arrays["reconstructions"])  # the selected weights were saved
    assert not list(tmp_path.glob(".*tmp"))
    # a second call recomputes nothing and returns the same records
    again = sweep.run_sweep(ae.train_autoencoder_config, configs, tmp_path, workers=1, common={"scale": "smoke"},
                            on_progress=lambda *a: progress.append(a))
    assert len(progress) == 2 and again == records
    rows = sweep.summary(tmp_path, ["model", "eta", "hidden", "test_mse", "svm_accuracy"])
    assert [row["model"] for row in rows] == ["ann", "snn"]
