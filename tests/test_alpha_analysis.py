"""spikelib.alpha.analysis: accuracy in batches, per-layer spikes, membrane traces, the paper's numbers."""

import math

import numpy as np
import pytest
import torch

from spikelib.alpha import AlphaNetwork, analysis, load_published_network, predict, spike_times
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


def test_paper_count_and_match():
    assert analysis.paper_count(97.96, 10000) == 9796
    assert analysis.paper_count(99.9633, 60000) == 59978  # 59977.98: the paper rounds to 4 decimals
    assert analysis.paper_count(99.885, 60000) == 59931
    assert analysis.matches_paper(analysis.Accuracy(9740, 10000), 97.40)
    assert not analysis.matches_paper(analysis.Accuracy(9741, 10000), 97.40)
    assert set(analysis.TABLE2_ACCURACY) == {(n, s) for n in ("slow", "fast") for s in ("test", "train")}


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


def test_fig1b_example_spikes_at_the_papers_time():
    ex = analysis.FIG1B
    t = torch.tensor(ex["t_in"], dtype=torch.float64).unsqueeze(0)
    w = torch.tensor(ex["w"], dtype=torch.float64).unsqueeze(1)
    t_out = float(spike_times(t, w, ex["tau"], ex["theta"])[0, 0])
    assert round(t_out, 2) == ex["t_out_paper"]
    assert t_out == pytest.approx(18.63574, abs=1e-5)  # the authors' code (reference notes)
    assert math.isinf(float(spike_times(t, w, ex["tau"], 1.0)[0, 0]))


def test_spiking_drops_silent_entries():
    idx, t = analysis.spiking(torch.tensor([0.5, float("inf"), 0.25]))
    assert idx.tolist() == [0, 2] and t.tolist() == [0.5, 0.25]


def test_published_network_path(shared_dir, monkeypatch, tmp_path):
    folder = shared_dir / "reference" / "comsa2021-mnist-networks"
    if not (folder / "slow_network").is_file():
        pytest.skip("published networks not in the shared folder")
    monkeypatch.delenv("SPIKELIB_SHARED", raising=False)
    path = analysis.published_network_path("slow")
    assert path.resolve() == (folder / "slow_network").resolve()
    assert load_published_network(path).sizes == (784, 340, 10)
    with pytest.raises(ValueError, match="slow, fast"):
        analysis.published_network_path("medium")
    monkeypatch.setenv("SPIKELIB_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SPIKELIB_SHARED"):
        analysis.published_network_path("fast")
    monkeypatch.setenv("SPIKELIB_SHARED", str(shared_dir))
    assert analysis.published_network_path("fast").name == "fast_network"


def test_earliest_other():
    inf = float("inf")
    assert analysis.earliest_other(torch.tensor([0.3, 0.1, 0.2]), 1) == 2
    assert analysis.earliest_other(torch.tensor([0.3, 0.1, 0.2]), 0) == 1
    assert analysis.earliest_other(torch.tensor([inf, 0.1, inf]), 1) == -1
