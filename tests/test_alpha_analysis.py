"""spikelib.alpha.analysis: accuracy in batches, per-layer spikes, membrane traces (the paper's numbers and
the published network files: tests/test_experiments_comsa_alpha.py)."""

import math

import numpy as np
import pytest
import torch

from spikelib.alpha import AlphaNetwork, analysis, predict
from spikelib.alpha.losses import classification_loss
from spikelib.encoding import latency



def _net(seed=0):
    net = AlphaNetwork((16, 6, 3), n_pulses=2, tau=1.0, theta=0.5, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.abs_()  # excitatory: most neurons spike
    return net


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    images[:, 0, 0] = 0  # a silent pixel in every image
    return images


def test_count_correct_matches_a_single_batch_for_any_batch_size():
    net, images = _net(), _images(23)
    with torch.no_grad():
        pred = predict(net(latency(images)))
    labels = pred.numpy().copy()
    labels[::3] = (labels[::3] + 1) % 3  # make some wrong
    expected = int((pred == torch.from_numpy(labels)).sum())
    with torch.no_grad():
        loss = float(classification_loss(net(latency(images)), torch.from_numpy(labels).long()).double().mean())
    for bs in (1, 5, 23, 100):
        acc = analysis.count_correct(net, images, labels, batch_size=bs)
        assert (acc.correct, acc.n) == (expected, 23)
        assert acc.mean_loss == pytest.approx(loss, rel=1e-5)
    assert acc.percent == pytest.approx(100 * expected / 23)


def test_count_correct_silent_outputs_are_wrong_and_errors():
    net = _net()
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.fill_(-1.0)  # nothing spikes: predict gives -1
    images = _images(4)
    assert analysis.count_correct(net, images, np.zeros(4, dtype=np.uint8)).correct == 0
    with pytest.raises(ValueError, match="labels"):
        analysis.count_correct(net, images, np.zeros(3))
    with pytest.raises(ValueError, match="batch_size"):
        analysis.count_correct(net, images, np.zeros(4), batch_size=0)
    assert math.isnan(analysis.Accuracy(0, 0).percent)


def test_layer_spikes_agree_with_the_network():
    net, images = _net(), _images(1)
    t_in = latency(images)[0]
    spikes = analysis.layer_spikes(net, t_in)
    assert [s.name for s in spikes] == ["input", "hidden", "output"]
    outs = net(t_in.unsqueeze(0), all_layers=True)
    torch.testing.assert_close(spikes[0].times, t_in)
    torch.testing.assert_close(spikes[1].times, outs[0][0])
    torch.testing.assert_close(spikes[2].times, outs[1][0])
    torch.testing.assert_close(spikes[0].pulses, net.layers[0].pulse_times.detach())
    torch.testing.assert_close(spikes[1].pulses, net.layers[1].pulse_times.detach())
    assert spikes[2].pulses.numel() == 0
    with pytest.raises(ValueError, match="one example"):
        analysis.layer_spikes(net, latency(images))


def test_layer_membrane_reaches_threshold_at_the_spike_times():
    net = _net()
    t_in = latency(_images(1, seed=3))[0]
    spikes = analysis.layer_spikes(net, t_in)
    t_out = spikes[-1].times
    assert torch.isfinite(t_out).any()
    theta = net.layers[-1].theta
    for k in torch.nonzero(torch.isfinite(t_out)).flatten().tolist():
        v = analysis.layer_membrane(net, t_in, t_out[k].reshape(1))[0, k]
        assert float(v) == pytest.approx(theta, abs=1e-9)
        before = analysis.layer_membrane(net, t_in, torch.linspace(0, float(t_out[k]) - 1e-6, 500))[:, k]
        assert float(before.max()) < theta
    # the hidden layer, selected by index, has the hidden layer's width
    v_hidden = analysis.layer_membrane(net, t_in, torch.linspace(0, 5, 7), layer=0)
    assert v_hidden.shape == (7, 6)


def test_spiking_drops_silent_entries():
    idx, t = analysis.spiking(torch.tensor([0.5, float("inf"), 0.25]))
    assert idx.tolist() == [0, 2] and t.tolist() == [0.5, 0.25]


def test_earliest_other():
    inf = float("inf")
    assert analysis.earliest_other(torch.tensor([0.3, 0.1, 0.2]), 1) == 2
    assert analysis.earliest_other(torch.tensor([0.3, 0.1, 0.2]), 0) == 1
    assert analysis.earliest_other(torch.tensor([inf, 0.1, inf]), 1) == -1
