"""spikelib.alpha.autoencoder: the loss conventions in training, fit (the spikelib.fitting contract), resume,
model selection, and the helpers that look inside the network."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch

from spikelib.alpha import AlphaNetwork, make_optimizer
from spikelib.alpha import autoencoder as ae
from spikelib.alpha.autoencoder import (
    AutoencoderHyperparameters,
    autoencoder_train_step,
    evaluate_autoencoder,
    fit_autoencoder,
)
from spikelib.fitting import FitResult

inf = math.inf


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


def test_fit_contract_errors_name_what_to_pass():
    net = SMALL.network(12, dtype=torch.float64)
    x = _synthetic(5, 1)
    with pytest.raises(TypeError, match=r"config=AutoencoderHyperparameters.*autoencoder_hyperparameters"):
        fit_autoencoder(net, (x, x), epochs=1)
    with pytest.raises(TypeError, match="needs epochs="):
        fit_autoencoder(net, (x, x), None, SMALL)
    with pytest.raises(ValueError, match="backend must be one of"):
        fit_autoencoder(net, (x, x), config=SMALL, epochs=1, backend="gpu")


def test_fit_returns_fit_result_and_engine_is_a_warning_alias():
    x, xv = _synthetic(20, 1), _synthetic(10, 2)
    runs = {}
    for how, kw in (("backend", {"backend": "torch"}), ("engine", {"engine": "torch"})):
        net = SMALL.network(12, seed=3, dtype=torch.float64)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs[how] = (net, fit_autoencoder(net, (x, x), (xv, xv), SMALL, epochs=2, seed=1, **kw))
        deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning) and "engine=" in str(w.message)]
        assert len(deprecated) == (how == "engine"), [str(w.message) for w in caught]
    r = runs["backend"][1]
    assert isinstance(r, FitResult) and r.best == r["best"] and r.history is r["history"]
    assert dict(r).keys() == {"history", "best"}  # the record layout of before
    assert _strip(r.history) == _strip(runs["engine"][1].history) and r.best == runs["engine"][1].best
    with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
        fit_autoencoder(SMALL.network(12), (x, x), config=SMALL, epochs=1, engine="c", backend="torch")


def test_train_autoencoder_epoch_engine_alias_warns():
    x = _synthetic(6, 1)
    runs = []
    for kw in ({"backend": "torch"}, {"engine": "torch"}):
        net = SMALL.network(12, seed=0, dtype=torch.float64)
        if "engine" in kw:
            with pytest.warns(DeprecationWarning, match="engine= is deprecated"):
                s = ae.train_autoencoder_epoch(net, make_optimizer(net, SMALL), x, x, SMALL, torch.arange(6), **kw)
        else:
            s = ae.train_autoencoder_epoch(net, make_optimizer(net, SMALL), x, x, SMALL, torch.arange(6), **kw)
        runs.append((s, net.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, runs[1][1][k]) for k, a in runs[0][1].items())


def test_checkpoint_of_other_settings_restarts_with_a_warning(tmp_path):
    x = _synthetic(20, 1)
    ckpt = tmp_path / "ae.ckpt"
    fit_autoencoder(SMALL.network(12, seed=3, dtype=torch.float64), (x, x), None, SMALL, epochs=2, seed=5,
                    checkpoint=ckpt)
    other = SMALL.replace(learning_rate=0.05)
    epochs_run = []
    with pytest.warns(UserWarning, match="written for other settings.*starting afresh"):
        r = fit_autoencoder(SMALL.network(12, seed=3, dtype=torch.float64), (x, x), None, other, epochs=2, seed=5,
                            checkpoint=ckpt, on_epoch=epochs_run.append)
    assert [e["epoch"] for e in epochs_run] == [0, 1]
    straight = fit_autoencoder(SMALL.network(12, seed=3, dtype=torch.float64), (x, x), None, other, epochs=2, seed=5)
    assert _strip(r["history"]) == _strip(straight["history"])
    state = torch.load(ckpt, weights_only=True)
    assert state["fingerprint"] and len(state["history"]) == 2  # overwritten by the fresh run


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


