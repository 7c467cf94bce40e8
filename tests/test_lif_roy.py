"""Roy et al.'s AE-SNN training (spikelib.lif.roy): the online rule by hand, its equivalence with BPTT
where they must agree, Adam restarted per batch, the mask, finite differences, training (fit under the
training contract), checkpoints."""

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from spikelib.lif import roy, roy_adam
from spikelib.lif.losses import zscored_mse

SIG_PRIME_0 = 0.25  # sigma'(0)


def _net(n_in, n_hidden, n_out, w1, w2, **kw):
    net = roy.TwoLayerLIF(n_in, n_hidden, n_out, dtype=torch.float64, **kw)
    with torch.no_grad():
        net.encoder.weight.copy_(torch.tensor(w1, dtype=torch.float64))
        net.decoder.weight.copy_(torch.tensor(w2, dtype=torch.float64))
    return net


def _collect(net, x, target, **kw):
    grads = []
    run = roy.roy_online(net, x, target, step=lambda t, g1, g2: grads.append((g1.clone(), g2.clone())), **kw)
    return run, grads


def test_one_online_step_by_hand():
    # x = [1, 1]; V1 = 0.7 + 0.6 = 1.3, capped at 1: the hidden neuron fires. V2 = [0.5, 1.2 -> 1]:
    # output 1 fires (correct: x = 1, masked out), output 0 does not (wrong): e = [1 - 0.5, 0].
    net = _net(2, 1, 2, [[0.7, 0.6]], [[0.5], [1.2]])
    x = torch.tensor([[[1.0, 1.0]]], dtype=torch.float64)
    run, grads = _collect(net, x, x)
    assert run.s1.tolist() == [[[1.0]]] and run.s2.tolist() == [[[0.0, 1.0]]]
    torch.testing.assert_close(run.v2, torch.tensor([[[0.5, 1.0]]], dtype=torch.float64))
    g1, g2 = grads[0]
    torch.testing.assert_close(g2, torch.tensor([[-0.5], [0.0]], dtype=torch.float64))  # -e (x) s1
    d1 = -0.5 * 0.5 * SIG_PRIME_0  # (delta2 W2) sigma'(V1 - theta) at the capped V1 = theta
    torch.testing.assert_close(g1, torch.tensor([[d1, d1]], dtype=torch.float64))
    assert run.loss.item() == pytest.approx(0.5 * 0.25)

    # the first Adam step moves every weight with a gradient by lr g / (|g| + eps), i.e. about lr
    lr = 0.01
    roy.online_batch(net, x, x, lr=lr)
    w1 = 0.7 + lr * 0.0625 / (0.0625 + 1e-7), 0.6 + lr * 0.0625 / (0.0625 + 1e-7)
    torch.testing.assert_close(net.encoder.weight, torch.tensor([w1], dtype=torch.float64))
    torch.testing.assert_close(net.decoder.weight, torch.tensor([[0.5 + lr * 0.5 / (0.5 + 1e-7)], [1.2]],
                                                                dtype=torch.float64))


def test_two_steps_by_hand_with_and_without_trace_reset():
    # 1-1-1, leak 0.1, x = 1 at both steps. W1 = 1: the hidden neuron fires at t = 0 and t = 1 (V1 = 1 each
    # time, reset between). W2 = 0.3: V2 = 0.3, then 0.9 * 0.3 + 0.3 = 0.57; no output spike, e = 0.7, 0.43.
    x = torch.ones(2, 1, 1, dtype=torch.float64)
    for trace, tr1 in (("reset", 1.0), ("input", 1.9)):
        run, grads = _collect(_net(1, 1, 1, [[1.0]], [[0.3]]), x, x, trace=trace)
        assert run.s1.flatten().tolist() == [1.0, 1.0] and run.s2.flatten().tolist() == [0.0, 0.0]
        torch.testing.assert_close(run.v2.flatten(), torch.tensor([0.3, 0.57], dtype=torch.float64))
        (g1a, g2a), (g1b, g2b) = grads
        assert g2a.item() == pytest.approx(-0.7)
        assert g2b.item() == pytest.approx(-0.43 * 1.9)  # the output never fired: trace 0.9 * 1 + 1
        assert g1a.item() == pytest.approx(-0.7 * 0.3 * SIG_PRIME_0)
        # the hidden neuron fired at t = 0: the paper resets its trace (x_1 = 1), the code's trace decays (1.9)
        assert g1b.item() == pytest.approx(-0.43 * 0.3 * SIG_PRIME_0 * tr1)


def _random_case(seed, T, cap=True, n=(9, 6, 9), batch=4):
    torch.manual_seed(seed)
    net = roy.TwoLayerLIF(*n, init=1.0, seed=seed, dtype=torch.float64, cap=cap)
    with torch.no_grad():  # a net whose layers both fire often
        net.encoder.weight.add_(0.3)
        net.decoder.weight.add_(0.2)
    x = (torch.rand(T, batch, n[0], dtype=torch.float64) < 0.5).double()
    return net, x


@pytest.mark.parametrize("cap", [True, False])
def test_online_output_gradient_with_trace_reset_equals_bptt(cap):
    """Summed over the steps (weights fixed), the paper's reset trace is exactly BPTT's dV2/dW2."""
    net, x = _random_case(1, T=7, cap=cap)
    run, grads = _collect(net, x, x, trace="reset")
    assert 0.1 < run.s2.mean() < 0.9 and 0.1 < run.s1.mean() < 0.9
    loss, (_, _, s2, _) = roy.bptt_loss(net, x, x)
    loss.backward()
    assert torch.equal(s2, run.s2)
    torch.testing.assert_close(sum(g[1] for g in grads), net.decoder.weight.grad)
    torch.testing.assert_close(run.loss.sum() / x.shape[1], loss.detach())
    # the code's never-reset input trace is a different gradient
    _, grads_in = _collect(net, x, x, trace="input")
    assert not torch.allclose(sum(g[1] for g in grads_in), net.decoder.weight.grad)


def test_online_hidden_gradient_equals_bptt_for_one_step():
    """With one step there is no later output potential to credit: both rules give the same dL/dW1."""
    net, x = _random_case(2, T=1, batch=16)
    _, grads = _collect(net, x, x)
    loss, _ = roy.bptt_loss(net, x, x)
    loss.backward()
    torch.testing.assert_close(grads[0][0], net.encoder.weight.grad)
    torch.testing.assert_close(grads[0][1], net.decoder.weight.grad)


def test_bptt_output_gradient_matches_finite_differences():
    """Uncapped, away from thresholds, the loss is smooth in W2: autograd equals central differences."""
    net, x = _random_case(3, T=5, cap=False)
    loss, (_, _, s2, _) = roy.bptt_loss(net, x, x)
    loss.backward()
    grad = net.decoder.weight.grad.clone()
    h = 1e-6
    w = net.decoder.weight
    checked = 0
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            vals = []
            for sign in (1, -1):
                with torch.no_grad():
                    w[i, j] += sign * h
                    loss_h, (_, _, s2_h, _) = roy.bptt_loss(net, x, x)
                    w[i, j] -= sign * h
                vals.append((loss_h.item(), torch.equal(s2_h, s2)))
            if vals[0][1] and vals[1][1]:  # no spike (and so no mask) changed
                assert (vals[0][0] - vals[1][0]) / (2 * h) == pytest.approx(grad[i, j].item(), abs=1e-6)
                checked += 1
    assert checked > 0.9 * w.numel()


def test_mask_changes_the_error():
    # output 0 silent and correct (x = 0) at V = 0.3: masked, no error; unmasked, pulled to 0
    net = _net(2, 1, 2, [[1.0, 0.0]], [[0.3], [0.4]])
    x = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    target = torch.tensor([[[0.0, 1.0]]], dtype=torch.float64)
    _, (g_mask,) = _collect(net, x, target, mask=True)
    _, (g_none,) = _collect(net, x, target, mask=False)
    torch.testing.assert_close(g_mask[1], torch.tensor([[0.0], [-0.6]], dtype=torch.float64))
    torch.testing.assert_close(g_none[1], torch.tensor([[0.3], [-0.6]], dtype=torch.float64))


def test_adam_moments_restart_with_every_batch():
    # by hand: step 1 moves by lr g / (|g| + eps); step 2 with the bias correction of step index 2
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    adam = roy_adam.RoyAdam([w], lr=0.1)
    adam(0, torch.tensor([2.0], dtype=torch.float64))
    assert w.item() == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-7))
    adam(1, torch.tensor([-1.0], dtype=torch.float64))
    m = (0.9 * 0.1 * 2.0 + 0.1 * -1.0) / (1 - 0.9 ** 2)
    v = (0.999 * 0.001 * 4.0 + 0.001 * 1.0) / (1 - 0.999 ** 2)
    assert w.item() == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-7) - 0.1 * m / (math.sqrt(v) + 1e-7))

    # a batch trained after another gives the same weights as the same batch on a copy: no moments carried
    net, x = _random_case(4, T=6)
    _, x2 = _random_case(5, T=6)
    roy.online_batch(net, x, x, lr=1e-3)
    twin = copy.deepcopy(net)
    roy.online_batch(net, x2, x2, lr=1e-3)
    roy.online_batch(twin, x2, x2, lr=1e-3)
    assert torch.equal(net.encoder.weight, twin.encoder.weight)


def test_weight_decay_is_decoupled_from_adam():
    w = torch.nn.Parameter(torch.tensor([2.0, 0.5], dtype=torch.float64))
    roy.RoyAdam([w], lr=0.1, weight_decay=0.5)(0, torch.tensor([-1.0, 0.0], dtype=torch.float64))
    # W (1 - lr lambda), then the Adam step: about +lr where g = -1, nothing where g = 0
    torch.testing.assert_close(w.detach(), torch.tensor([2.0 * 0.95 + 0.1 / (1 + 1e-7), 0.5 * 0.95],
                                                        dtype=torch.float64))


def test_repeat_targets_shows_frame_t_mod_th():
    maps = torch.arange(2 * 3 * 1).reshape(2, 3, 1)  # (B, Th, n)
    out = roy.repeat_targets(maps, 7)
    assert out.shape == (7, 2, 1)
    assert out[:, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]


def _bars(n, seed=0):
    """8x8 images of one horizontal and one vertical bar: a tiny dataset an autoencoder can learn."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 8, 8), np.uint8)
    rows, cols = rng.integers(0, 8, n), rng.integers(0, 8, n)
    img[np.arange(n), rows, :] = 255
    img[np.arange(n), :, cols] = 255
    return img


@pytest.mark.parametrize("rule", ["online", "bptt"])
def test_training_reduces_the_zscored_mse(rule):
    train, test = _bars(600, 0), _bars(200, 1)
    net = roy.ae_snn(24, n_in=64, seed=0)
    before = roy.evaluate_autoencoder(net, test, n_steps=15)["mean_mse"]
    lr = 5e-3 if rule == "online" else 2e-2
    result = roy.fit(net, train, config=roy.RoyConfig(n_steps=15, lr=lr, batch_size=20, epochs=2, rule=rule))
    hist = result.history
    assert result["history"] is hist  # FitResult also reads as the old mapping
    after = roy.evaluate_autoencoder(net, test, n_steps=15)
    assert len(hist["mse"]) == 60 and np.all(np.isfinite(hist["loss"]))
    assert after["mean_mse"] < 0.75 * before
    assert after["counts"].shape == (200, 64)
    torch.testing.assert_close(after["mse"], zscored_mse(after["counts"], roy.as_rates(test)))


def _fit_bars(data, cfg, **kw):
    net = roy.ae_snn(12, n_in=64, seed=0)
    return net, roy.fit(net, data, None, cfg, **kw).history


@pytest.mark.parametrize("rule", ["online", "bptt"])
def test_checkpoint_resume_gives_the_uninterrupted_run(tmp_path, rule):
    data = _bars(100, 2)
    cfg = roy.RoyConfig(n_steps=5, lr=1e-2, batch_size=20, epochs=2, rule=rule)
    kw = dict(evaluate=lambda n: {"w": float(n.decoder.weight.detach().sum())}, eval_every=3)
    full, h_full = _fit_bars(data, cfg, **kw)
    ckpt = tmp_path / "run.pt"
    _fit_bars(data, cfg, checkpoint=ckpt, checkpoint_every=2, max_batches=7, **kw)
    assert ckpt.exists() and not list(tmp_path.glob(".*tmp"))
    assert torch.load(ckpt, weights_only=True)["position"] == 7
    resumed, h_res = _fit_bars(data, cfg, checkpoint=ckpt, checkpoint_every=2, **kw)
    assert torch.equal(resumed.encoder.weight, full.encoder.weight)
    assert torch.equal(resumed.decoder.weight, full.decoder.weight)
    assert h_res["mse"] == h_full["mse"] and h_res["batch"] == list(range(10))
    # an evaluation at the interruption point (batch 7) is extra; the scheduled ones agree
    assert [e for e in h_res["eval"] if e["batch"] % 3 == 0] == [e for e in h_full["eval"] if e["batch"] % 3 == 0]
    with pytest.raises(ValueError, match="other settings"):
        _fit_bars(data, dataclasses.replace(cfg, lr=0.5), checkpoint=ckpt, **kw)


def test_fit_contract_epochs_val_on_epoch_and_targets():
    data, held_out = _bars(60, 5), _bars(30, 6)
    cfg = roy.RoyConfig(n_steps=4, lr=1e-2, batch_size=20, epochs=5, trace="input")
    epochs = []
    net, hist = _fit_bars(data, cfg, epochs=2, on_epoch=epochs.append)  # epochs= overrides the config's
    assert len(hist["batch"]) == 6 and hist["epoch"] == [0, 0, 0, 1, 1, 1]
    assert [e["epoch"] for e in epochs] == [0, 1] and [e["batches"] for e in epochs] == [3, 3]
    assert epochs[1]["loss"] == pytest.approx(np.mean(hist["loss"][3:]))
    # val: the held-out images, scored once per epoch by default
    net, hist = _fit_bars(data, cfg, epochs=2, seed=1)
    net_v = roy.ae_snn(12, n_in=64, seed=0)
    hist_v = roy.fit(net_v, data, held_out, cfg, epochs=2, seed=1).history
    assert hist_v["mse"] == hist["mse"] and [e["batch"] for e in hist_v["eval"]] == [3, 6]
    final = roy.evaluate_autoencoder(net_v, held_out, n_steps=4, rate_scale=roy.MNIST_RATE)
    assert hist_v["eval"][-1]["val_mse"] == final["mean_mse"]
    assert hist_v["eval"][-1]["val_spike_mse"] == final["mean_spike_mse"]
    # targets: as a pair or as a family option, the same run
    maps = torch.from_numpy((np.random.default_rng(0).random((60, 3, 5)) < 0.3).astype(np.uint8))
    runs = []
    for how in ("pair", "option"):
        net = roy.TwoLayerLIF(64, 10, 5, seed=2)
        train = (data, maps) if how == "pair" else data
        runs.append(roy.fit(net, train, None, cfg, epochs=1, targets=None if how == "pair" else maps).history)
        assert np.isnan(runs[-1]["mse"]).all()
    assert runs[0]["spike_mse"] == runs[1]["spike_mse"]
    with pytest.raises(ValueError, match="not both"):
        roy.fit(roy.TwoLayerLIF(64, 10, 5), (data, maps), None, cfg, targets=maps)
    with pytest.raises(ValueError, match="evaluate="):
        roy.fit(roy.TwoLayerLIF(64, 10, 5), (data, maps), held_out, cfg)


def test_fit_backend_is_torch_only():
    data = _bars(20, 7)
    cfg = dict(n_steps=2, batch_size=10)
    assert len(roy.fit(roy.ae_snn(4, n_in=64), data, None, cfg, backend="torch").history["batch"]) == 2
    with pytest.raises(RuntimeError, match="no C implementation"):
        roy.fit(roy.ae_snn(4, n_in=64), data, None, cfg, backend="c")
    with pytest.raises(ValueError, match="backend"):
        roy.fit(roy.ae_snn(4, n_in=64), data, None, cfg, backend="cuda")


def test_clear_errors():
    net = roy.ae_snn(4, n_in=64)
    cfg = dict(n_steps=3, rate_scale=0.3, lr=1e-3, batch_size=2)
    with pytest.raises(ValueError, match="rule"):
        roy.fit(net, _bars(4), config={**cfg, "rule": "rtrl"})
    with pytest.raises(ValueError, match="features"):
        roy.fit(net, np.zeros((4, 10), np.uint8), config=cfg)
    with pytest.raises(ValueError, match="trace"):
        roy.roy_online(net, torch.zeros(2, 1, 64), torch.zeros(2, 1, 64), trace="full")
    with pytest.raises(ValueError, match="target"):
        roy.roy_online(net, torch.zeros(2, 1, 64), torch.zeros(2, 1, 63))


# ------------------------------------------------- the optimised online step against a plain reference


def _reference_online_batch(net, x, target, *, lr, trace, weight_decay, mask=True):
    """Roy's rule as written before the buffers and tiles: fresh tensors every step, a fresh
    ``torch.optim.AdamW(fused=True)`` per batch; the reset trace kept per synapse, ``E[b, m, k]``
    (``lam E + pre``, zeroed when neuron m fires), instead of :class:`roy.Trace`'s history."""
    from spikelib.lif.losses import roy_error
    w1, w2 = net.encoder.weight, net.decoder.weight
    opt = torch.optim.AdamW([w1, w2], lr=lr, eps=roy.ADAM_EPS, weight_decay=weight_decay, fused=True)
    T, B = x.shape[:2]
    lam, theta = 1.0 - net.leak, net.threshold
    x = x.to(w1.dtype)
    with torch.no_grad():
        u1, u2 = w1.new_zeros(B, w1.shape[0]), w1.new_zeros(B, w2.shape[0])
        p1, p2 = w1.new_zeros(B, w1.shape[1]), w1.new_zeros(B, w2.shape[1])
        e1, e2 = w1.new_zeros(B, *w1.shape), w1.new_zeros(B, *w2.shape)
        for t in range(T):
            v1 = (lam * u1 + x[t] @ w1.T).clamp(max=theta)
            s1 = (v1 >= theta).to(v1.dtype)
            v2 = (lam * u2 + s1 @ w2.T).clamp(max=theta)
            s2 = (v2 >= theta).to(v2.dtype)
            p1, p2 = lam * p1 + x[t], lam * p2 + s1
            e1, e2 = lam * e1 + x[t][:, None, :], lam * e2 + s1[:, None, :]
            err = roy_error(v2, s2, target[t], theta, mask=mask)
            delta2 = -err / B
            sig = torch.sigmoid(v1 - theta)
            delta1 = (delta2 @ w2) * (sig * (1.0 - sig))
            if trace == "input":
                g1, g2 = delta1.T @ p1, delta2.T @ p2
            else:
                g1, g2 = torch.einsum("bm,bmk->mk", delta1, e1), torch.einsum("bm,bmk->mk", delta2, e2)
                e1, e2 = e1 * (1.0 - s1)[:, :, None], e2 * (1.0 - s2)[:, :, None]
            w1.grad, w2.grad = g1, g2
            opt.step()
            w1.grad = w2.grad = None
            u1, u2 = v1 * (1.0 - s1), v2 * (1.0 - s2)


def _input_major(net):
    """``net`` with W1 stored input-major (as ``TwoLayerLIF(input_major=True)``), the same values."""
    w = net.encoder.weight.detach()
    net.encoder.synapse.weight = torch.nn.Parameter(w.T.contiguous().T)
    assert net.encoder.weight.T.is_contiguous() and torch.equal(net.encoder.weight, w)
    return net


@pytest.mark.parametrize("trace, dtype", [("input", torch.float32), ("input", torch.float64),
                                          ("reset", torch.float64)])
@pytest.mark.parametrize("tiles", [None, 4])
@pytest.mark.parametrize("input_major, sparse", [(False, None), (True, False), (True, True)])
def test_optimised_online_batches_match_the_plain_reference(trace, dtype, tiles, input_major, sparse):
    # three batches through one RoyAdam (reset in place between batches; with tiles=4 the 9-input
    # encoder is updated in column tiles 4 + 4 + 1 and, for the input trace, its gradient formed per
    # tile; input-major: in place on W1) against the reference with a fresh AdamW per batch (W1 row-major:
    # given a gradient in another layout than the weight, the fused AdamW pairs the wrong elements): the
    # same weights to float rounding. The input trace does the same arithmetic (bit for bit on CPU with
    # MKL, input-major too) except with the sparse forward, which adds the input currents in another
    # order; the reference's reset trace sums E in another order than P - lam^(t - r) P(r), which float32
    # cancellation and Adam's g / sqrt(v) magnify past 1e-6, so it is compared in float64 only
    net, _ = _random_case(11, T=1)
    net = net.to(dtype)
    ref = copy.deepcopy(net)
    if input_major:
        net = _input_major(net)
    adam = roy_adam.RoyAdam([net.encoder.weight, net.decoder.weight], lr=1e-2, weight_decay=1e-2,
                       tile_columns=tiles, tile_min_numel=0 if tiles else None)
    assert (adam.slots[0].tiles is not None) == bool(tiles)
    assert adam.slots[0].inplace == bool(input_major and tiles)
    for seed in (1, 2, 3):
        _, x = _random_case(seed, T=7)
        roy.online_batch(net, x, x, lr=1e-2, trace=trace, weight_decay=1e-2, adam=adam, sparse_input=sparse)
        _reference_online_batch(ref, x, x, lr=1e-2, trace=trace, weight_decay=1e-2)
    assert net.encoder.weight.T.is_contiguous() == input_major  # the update kept the layout
    rtol = 1e-6 if dtype == torch.float32 else 1e-12
    for w, w_ref in ((net.encoder.weight, ref.encoder.weight), (net.decoder.weight, ref.decoder.weight)):
        assert not torch.equal(w_ref, _random_case(11, T=1)[0].to(dtype).encoder.weight)  # it trained
        torch.testing.assert_close(w, w_ref, rtol=rtol, atol=rtol * float(w_ref.detach().abs().max()))


def test_roy_adam_fallback_without_the_fused_kernel_gives_the_same_update(monkeypatch):
    # a device or dtype without torch._fused_adamw_ goes through torch.optim.AdamW: the same Adam, and
    # reset() restarts its moments as a fresh optimiser would
    net, x = _random_case(7, T=5)
    twin = copy.deepcopy(net)
    fused = roy.RoyAdam([net.encoder.weight, net.decoder.weight], lr=1e-2, weight_decay=1e-2)
    monkeypatch.setattr(roy_adam, "_fused_supported", lambda p: False)
    plain = roy.RoyAdam([twin.encoder.weight, twin.decoder.weight], lr=1e-2, weight_decay=1e-2)
    assert fused.opt is None and plain.opt is not None
    for trace in ("input", "reset"):
        roy.online_batch(net, x, x, lr=1e-2, trace=trace, adam=fused)
        roy.online_batch(twin, x, x, lr=1e-2, trace=trace, adam=plain)
    torch.testing.assert_close(net.encoder.weight, twin.encoder.weight, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.decoder.weight, twin.decoder.weight, rtol=1e-12, atol=1e-12)


def test_tiled_roy_adam_follows_weights_changed_from_outside():
    # the tiled update keeps its own copy of the weights: a change made between updates (here halving
    # the weights, as load_state_dict or a user would) must reach it, as it reaches the untiled update
    g = torch.randn(3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w_tiled = torch.nn.Parameter(torch.randn(3, 10, dtype=torch.float64))
    w_plain = torch.nn.Parameter(w_tiled.detach().clone())
    tiled = roy.RoyAdam([w_tiled], lr=0.1, weight_decay=0.1, tile_columns=4, tile_min_numel=0)
    plain = roy.RoyAdam([w_plain], lr=0.1, weight_decay=0.1)
    assert tiled.slots[0].tiles == [(0, 4), (4, 8), (8, 10)] and plain.slots[0].tiles is None
    for k in range(3):
        tiled(k, g * (k + 1))
        plain(k, g * (k + 1))
        assert torch.equal(w_tiled, w_plain)
        with torch.no_grad():
            w_tiled.mul_(0.5)
            w_plain.mul_(0.5)
    delta, pre = g[:, :2].T, torch.rand(2, 10, dtype=torch.float64)  # g = delta^T pre, (3, 10)
    tiled.step_outer(3, (delta, pre))
    plain.step_outer(3, (delta, pre))
    torch.testing.assert_close(w_tiled, w_plain, rtol=1e-12, atol=1e-12)


# ------------------------------------------- input-major W1: the in-place tiled update, the sparse forward


def test_input_major_net_has_the_same_weights_and_keeps_its_layout(tmp_path):
    row = roy.TwoLayerLIF(20, 6, 5, seed=3)
    col = roy.TwoLayerLIF(20, 6, 5, seed=3, input_major=True)
    assert torch.equal(row.encoder.weight, col.encoder.weight) and torch.equal(row.decoder.weight, col.decoder.weight)
    assert col.encoder.weight.shape == (6, 20) and col.encoder.weight.stride() == (1, 6)
    assert row.encoder.weight.is_contiguous() and col.decoder.weight.is_contiguous()
    for other in (copy.deepcopy(col), copy.deepcopy(col).to(torch.float64)):
        assert other.encoder.weight.stride() == (1, 6)
    torch.save(col.state_dict(), tmp_path / "w.pt")
    again = roy.TwoLayerLIF(20, 6, 5, seed=4, input_major=True)
    again.load_state_dict(torch.load(tmp_path / "w.pt"))
    assert again.encoder.weight.stride() == (1, 6) and torch.equal(again.encoder.weight, row.encoder.weight)
    x = (torch.rand(3, 2, 20, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    for a, b in zip(row(x), col(x)):  # the module's forward too
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_place_tiles_give_the_row_major_tiles_weights_bit_for_bit(dtype):
    # 11 steps of RoyAdam on the same factors: W1 input-major, updated in place in its column tiles (no
    # copy of it), against W1 row-major, whose tiles are copies written back into it: the same bytes (the
    # fused kernel is elementwise; the gradient tiles pre^T delta and delta^T pre are the same B-term
    # sums). The untiled update's one product sums in another order at this tiny size: to rounding
    g = torch.Generator().manual_seed(5)
    w = torch.randn(7, 30, generator=g, dtype=dtype)
    p_row, p_col, p_one = (torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.T.contiguous().T),
                           torch.nn.Parameter(w.clone()))
    kw = dict(lr=1e-2, weight_decay=1e-2)
    row = roy.RoyAdam([p_row], tile_columns=8, tile_min_numel=0, **kw)
    col = roy.RoyAdam([p_col], tile_columns=8, tile_min_numel=0, backend="torch", **kw)  # the C one: below
    one = roy.RoyAdam([p_one], **kw)
    assert col.slots[0].inplace and not row.slots[0].inplace and not hasattr(col.slots[0], "w")
    for k in range(11):
        if k == 6:
            for a in (row, col, one):
                a.reset()
        delta, pre = torch.randn(4, 7, generator=g, dtype=dtype), torch.rand(4, 30, generator=g, dtype=dtype)
        if k % 3 == 2:  # the full-gradient hook as well
            for a in (row, col, one):
                a(k, delta.T @ pre)
        else:
            for a in (row, col, one):
                a.step_outer(k, (delta, pre))
        assert torch.equal(p_col, p_row)
        torch.testing.assert_close(p_one, p_row)
    assert p_col.stride() == (1, 7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_outer_adamw_matches_the_torch_tiles(dtype):
    """The C update of an input-major weight (gradient pre^T delta and AdamW in one pass, spikelib/lif/_roy.c)
    against RoyAdam's torch tiles over two batches: float64 to 1e-12, float32 to its rounding; ragged sizes
    (rows not a multiple of the kernel's 4 or 3, columns not of its 64 or 32) and two threads (rows split) included;
    the threads do not change a bit."""
    from spikelib.lif import _roy_kernel

    if not _roy_kernel.KERNEL.available():
        pytest.skip("no C compiler for the kernel")
    g = torch.Generator().manual_seed(7)
    n_in, H, B = 203, 133, 6
    w = torch.randn(H, n_in, generator=g, dtype=dtype) * 0.1
    params = [torch.nn.Parameter(w.T.contiguous().T) for _ in range(3)]
    kw = dict(lr=1e-2, weight_decay=1e-2, tile_columns=64, tile_min_numel=0)
    c1, c2, ref = (roy.RoyAdam([params[0]], **kw), roy.RoyAdam([params[1]], **kw),
                   roy.RoyAdam([params[2]], backend="torch", **kw))
    threads = torch.get_num_threads()
    try:
        for k in range(10):
            if k == 5:
                for a in (c1, c2, ref):
                    a.reset()
            pre = torch.rand(B, n_in, generator=g, dtype=dtype) * (torch.rand(B, n_in, generator=g) < 0.3)
            delta = torch.randn(B, H, generator=g, dtype=dtype)
            for a, n in ((c1, 1), (c2, 2), (ref, threads)):
                torch.set_num_threads(n)
                a.step_outer(k, (delta, pre))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(params[0], params[1]) and torch.equal(c1.slots[0].v_t, c2.slots[0].v_t)
    assert not torch.equal(params[0], ref.slots[0].p)  # the C path ran (its sums round differently)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=2e-5, atol=1e-6)
    for a, b in ((params[0], params[2]), (c1.slots[0].m_t, ref.slots[0].m_t), (c1.slots[0].v_t, ref.slots[0].v_t)):
        torch.testing.assert_close(a, b, **tol)
    with pytest.raises(ValueError, match="backend must be"):
        roy.RoyAdam([params[0]], lr=0.1, backend="c")


def test_untiled_input_major_weight_takes_a_gradient_in_another_layout():
    # the fused kernel reads weight and gradient as flat arrays: RoyAdam puts a row-major gradient into
    # the input-major weight's layout first (torch.optim.AdamW(fused=True) does not)
    g = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w = torch.randn(3, 5, dtype=torch.float64)
    p_col, p_row = torch.nn.Parameter(w.T.contiguous().T), torch.nn.Parameter(w.clone())
    a, b = roy.RoyAdam([p_col], lr=0.1, weight_decay=0.1), roy.RoyAdam([p_row], lr=0.1, weight_decay=0.1)
    assert a.slots[0].tiles is None
    for k in range(3):
        a(k, g * (k + 1))
        b(k, g * (k + 1))
        a.step_outer(k, (g[:, :2].T, g[:2]))
        b.step_outer(k, (g[:, :2].T, g[:2]))
    assert torch.equal(p_col, p_row) and p_col.stride() == (1, 3)


@pytest.mark.parametrize("binary", [True, False])
def test_sparse_input_current_equals_the_dense_product(binary):
    g = torch.Generator().manual_seed(2)
    w1 = torch.randn(64, 300, generator=g, dtype=torch.float64).T.contiguous().T  # input-major
    x = (torch.rand(5, 6, 300, generator=g, dtype=torch.float64) < 0.03).double()
    x[2, 3] = 0.0  # an example with no input spike
    x[4] = 0.0  # a step with none
    if not binary:
        x = x * torch.rand(x.shape, generator=g, dtype=torch.float64)
    cur = roy.InputCurrent(x, w1, None)
    assert cur.sparse and (cur.weights is None) == binary
    for t in range(5):
        torch.testing.assert_close(cur(t), x[t] @ w1.T, rtol=1e-13, atol=1e-14)
    assert torch.equal(cur(4), torch.zeros(6, 64, dtype=torch.float64))
    # forced on a row-major W1 (its rows copied per step): the same
    row = w1.contiguous()
    torch.testing.assert_close(roy.InputCurrent(x, row, True)(1), x[1] @ row.T, rtol=1e-13, atol=1e-14)
    # the automatic choice: row-major or dense inputs take the dense product
    assert not roy.InputCurrent(x, row, None).sparse
    assert not roy.InputCurrent(torch.ones_like(x), w1, None).sparse
    assert not roy.InputCurrent(x, w1, False).sparse


def test_sparse_forward_online_batch_matches_the_dense_one_in_float64():
    # 3 batches of the audiocoder's rule (input trace, RoyAdam in place) on 2 % input spikes: the
    # forward as a sum of rows against the dense product, float64: the same to rounding
    from spikelib.lif.audiocoder import audiocoder_snn
    nets = [audiocoder_snn(400, 32, 10, seed=1, init=0.3, dtype=torch.float64) for _ in range(2)]
    adams = [roy.RoyAdam([n.encoder.weight, n.decoder.weight], lr=1e-2, weight_decay=1e-4, tile_columns=64,
                         tile_min_numel=0) for n in nets]
    g = torch.Generator().manual_seed(3)
    spiked = 0.0
    for _ in range(3):
        x = (torch.rand(20, 8, 400, generator=g, dtype=torch.float64) < 0.02).double()
        target = (torch.rand(20, 8, 10, generator=g, dtype=torch.float64) < 0.2).double()
        runs = [roy.online_batch(n, x, target, lr=1e-2, trace="input", adam=a, sparse_input=sp)
                for n, a, sp in zip(nets, adams, (None, False))]
        assert roy.InputCurrent(x, nets[0].encoder.weight, None).sparse
        assert torch.equal(runs[0].s1, runs[1].s1) and torch.equal(runs[0].s2, runs[1].s2)
        spiked += float(runs[0].s1.mean())
    assert spiked > 0  # the hidden layer fires: the comparison covers delta1 and W2
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_fit_flushes_subnormals_while_it_trains_and_restores_after():
    """Training runs under spikelib.backend.subnormals_flushed (on Intel CPUs a subnormal costs a microcode
    assist per operation); the caller's IEEE mode is back afterwards."""
    from spikelib.backend import subnormals_are_flushed

    seen = []

    def evaluate(net):
        seen.append(subnormals_are_flushed())
        return {}

    data = _bars(40, 2)
    cfg = roy.RoyConfig(n_steps=5, lr=5e-4, batch_size=20, epochs=1)
    assert not subnormals_are_flushed()
    _fit_bars(data, cfg, evaluate=evaluate, eval_every=1)
    assert seen and all(seen)
    assert not subnormals_are_flushed()


@pytest.mark.skipif(__import__("platform").machine().lower() not in ("x86_64", "amd64"),
                    reason="-mno-avx512f is an x86 flag")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_outer_adamw_is_the_same_without_avx512(monkeypatch, dtype):
    """The C update holds its accumulators in 64-byte vectors (4 rows a block) with AVX-512 and in 32-byte
    ones (3 rows) without; each gradient element is the same sum over the batch either way, so a build
    without AVX-512 gives the same bits as the native one (ragged rows and columns included)."""
    from spikelib import _cbuild
    from spikelib.lif import _roy_kernel

    if not _roy_kernel.KERNEL.available():
        pytest.skip("no C compiler for the kernel")
    narrow = _cbuild.CKernel("lif_roy_narrow", _roy_kernel._source, [*_roy_kernel._FLAGS, "-mno-avx512f"],
                             _roy_kernel._declare, what="Roy kernel without AVX-512", switch="SPIKELIB_ROY_KERNEL")
    if narrow.library() is None:
        pytest.skip(f"no such build: {narrow.failed}")
    g = torch.Generator().manual_seed(3)
    n_in, H, B = 101, 203, 7
    start = torch.randn(n_in, H, generator=g, dtype=dtype)
    pre = torch.rand(B, n_in, generator=g, dtype=dtype) * (torch.rand(B, n_in, generator=g) < 0.3)
    delta = torch.randn(B, H, generator=g, dtype=dtype)
    outs = []
    for kernel in (_roy_kernel.KERNEL, narrow):
        monkeypatch.setattr(_roy_kernel, "KERNEL", kernel)
        w, m, v = start.clone(), torch.zeros_like(start), torch.zeros_like(start)
        for step in (1, 2):
            _roy_kernel.outer_adamw(w, m, v, pre, delta, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                                    step=step)
        outs.append((w, m, v))
    assert not torch.equal(outs[0][0], start)
    for a, b in zip(*outs):
        assert torch.equal(a, b)
