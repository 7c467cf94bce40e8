"""AlphaLayer and AlphaNetwork: shapes, weight layout, pulses, the Glorot variant, parameter counts."""

import math

import numpy as np
import pytest
import torch

from spikelib.alpha import AlphaLayer, AlphaNetwork, initial_pulse_times, spike_times



def test_layer_and_network_shapes():
    layer = AlphaLayer(5, 3, n_pulses=2)
    assert layer.weight.shape == (7, 3) and layer.pulse_times.shape == (2,)
    assert layer(torch.rand(4, 5)).shape == (4, 3)
    assert layer(torch.rand(2, 6, 5)).shape == (2, 6, 3)  # any leading batch dimensions
    net = AlphaNetwork((6, 8, 4, 3), n_pulses=2)
    assert [tuple(l.weight.shape) for l in net.layers] == [(8, 8), (10, 4), (6, 3)]
    x = torch.rand(5, 6)
    assert net(x).shape == (5, 3)
    all_t = net(x, all_layers=True)
    assert [tuple(t.shape) for t in all_t] == [(5, 8), (5, 4), (5, 3)]
    assert torch.equal(all_t[-1], net(x))
    assert net.dtype == torch.float32 and net(x.double()).dtype == torch.float32
    net64 = AlphaNetwork((6, 3), dtype=torch.float64)
    assert net64.dtype == torch.float64 and net64(x).dtype == torch.float64
    no_pulses = AlphaLayer(4, 2)
    assert no_pulses.weight.shape == (4, 2) and no_pulses.pulse_times.numel() == 0
    assert no_pulses(torch.rand(3, 4)).shape == (3, 2)


def test_initial_pulse_times():
    for n in (1, 2, 10):
        expected = torch.tensor([(i + 1) / (n + 1) for i in range(n)], dtype=torch.float64)
        torch.testing.assert_close(initial_pulse_times(n), expected, rtol=0, atol=1e-15)
    assert initial_pulse_times(0).numel() == 0
    net = AlphaNetwork((4, 3, 2), n_pulses=10)
    for layer in net.layers:
        torch.testing.assert_close(layer.pulse_times.detach().double(),
                                   torch.arange(1, 11, dtype=torch.float64) / 11, rtol=0, atol=1e-7)
    assert torch.equal(AlphaNetwork((2, 2, 2), n_pulses=1, shared_pulses=True).layers[0].pulse_times.detach(),
                       torch.tensor([0.5]))


def test_forward_is_spike_times_with_pulses_appended():
    """The weight rows are the real inputs first, then one row per pulse; the pulses are ordinary inputs."""
    torch.manual_seed(0)
    layer = AlphaLayer(6, 4, n_pulses=3, tau=0.7, theta=0.9, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.normal_(0.5, 1.0)
        layer.pulse_times.copy_(torch.tensor([0.1, 2.0, 0.6], dtype=torch.float64))
    x = torch.rand(5, 6, dtype=torch.float64) * 2
    x[0, 1] = math.inf
    by_hand = spike_times(torch.cat([x, torch.tensor([[0.1, 2.0, 0.6]], dtype=torch.float64).expand(5, 3)], dim=1),
                          layer.weight, 0.7, 0.9)
    out = layer(x)
    assert torch.isfinite(out).any() and torch.isinf(out).any()
    assert torch.equal(out, by_hand)
    # pulses after the inputs: moving a pulse changes the result through the last rows only
    w = layer.weight.detach().clone()
    w[6:] = 0.0
    with torch.no_grad():
        layer.weight.copy_(w)
    torch.testing.assert_close(layer(x), spike_times(x, w[:6], 0.7, 0.9), rtol=1e-12, atol=0)  # frames differ


def test_gradients_reach_weights_and_pulse_times():
    layer = AlphaLayer(3, 2, n_pulses=2, tau=1.0, theta=0.5, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.fill_(0.4)
        layer.pulse_times.copy_(torch.tensor([0.05, 0.1], dtype=torch.float64))
    out = layer(torch.tensor([[0.2, 0.3, 0.4]], dtype=torch.float64))
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert layer.weight.grad.shape == (5, 2) and (layer.weight.grad[3:] != 0).all()
    assert layer.pulse_times.grad is not None and (layer.pulse_times.grad != 0).all()
    # through t_out = f(..., pulse times): d t_out / d pulse equals the input-time gradient of spike_times
    t = torch.tensor([[0.2, 0.3, 0.4, 0.05, 0.1]], dtype=torch.float64, requires_grad=True)
    spike_times(t, layer.weight.detach(), 1.0, 0.5).sum().backward()
    torch.testing.assert_close(layer.pulse_times.grad, t.grad[0, 3:], rtol=1e-12, atol=0)


def test_glorot_variant_statistics():
    """N(mult * sigma, sigma) with sigma = sqrt(2 / (n_in + n_out + n_pulses)), separately for pulse rows."""
    n_in, n_out, n_pulses = 600, 500, 50
    net = AlphaNetwork((n_in, n_out), n_pulses=n_pulses, nonpulse_mean_multiplier=-0.275,
                       pulse_mean_multiplier=7.84, seed=3, dtype=torch.float64)
    w = net.layers[0].weight.detach()
    sigma = math.sqrt(2.0 / (n_in + n_out + n_pulses))
    inputs, pulses = w[:n_in].flatten(), w[n_in:].flatten()
    # standard errors: sigma / sqrt(300000) for the inputs, sigma / sqrt(25000) for the pulses
    assert inputs.mean().item() == pytest.approx(-0.275 * sigma, abs=5 * sigma / math.sqrt(inputs.numel()))
    assert inputs.std().item() == pytest.approx(sigma, rel=0.01)
    assert pulses.mean().item() == pytest.approx(7.84 * sigma, abs=5 * sigma / math.sqrt(pulses.numel()))
    assert pulses.std().item() == pytest.approx(sigma, rel=0.03)
    # the paper's sigma = sqrt(2 / (fan_in + fan_out)) without the pulses would be measurably different
    assert abs(inputs.std().item() - math.sqrt(2.0 / (n_in + n_out))) > 0.01 * sigma
    # multipliers 0: plain Glorot, mean 0
    w0 = AlphaNetwork((n_in, n_out), n_pulses=n_pulses, seed=3).layers[0].weight.detach().double()
    assert abs(w0.mean().item()) < 5 * sigma / math.sqrt(w0.numel())
    assert w0.std().item() == pytest.approx(sigma, rel=0.01)
    # each layer uses its own sizes
    deep = AlphaNetwork((300, 100, 20), n_pulses=4, seed=1, dtype=torch.float64)
    assert deep.layers[1].weight.std().item() == pytest.approx(math.sqrt(2.0 / 124), rel=0.05)


def test_shared_pulses_is_one_parameter_for_all_layers():
    net = AlphaNetwork((2, 2, 2, 2), n_pulses=1, shared_pulses=True)
    assert all(l.pulse_times is net.layers[0].pulse_times for l in net.layers)
    assert len(net.pulse_parameters()) == 1
    names = [n for n, _ in net.named_parameters()]
    assert sum("pulse_times" in n for n in names) == 1  # registered once (nn.Module de-duplicates)
    assert len(list(net.parameters())) == 3 + 1
    with torch.no_grad():
        net.layers[0].pulse_times.fill_(0.3)
    assert all(l.pulse_times.item() == pytest.approx(0.3) for l in net.layers)
    # gradients of all layers accumulate into the one shared tensor
    x = torch.tensor([[0.1, 0.2]])
    with torch.no_grad():
        for l in net.layers:
            l.weight.fill_(1.5)
    out = net(x)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert net.layers[0].pulse_times.grad is not None
    # separate pulses per layer otherwise
    sep = AlphaNetwork((2, 2, 2, 2), n_pulses=1)
    assert len(sep.pulse_parameters()) == 3
    assert sep.layers[0].pulse_times is not sep.layers[1].pulse_times


def test_shared_pulse_gradient_is_sum_over_layers():
    net = AlphaNetwork((2, 3, 2), n_pulses=1, shared_pulses=True, dtype=torch.float64)
    sep = AlphaNetwork((2, 3, 2), n_pulses=1, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(net.layers, sep.layers):
            a.weight.fill_(1.2)
            b.weight.fill_(1.2)
    x = torch.tensor([[0.1, 0.4], [0.6, 0.2]], dtype=torch.float64)
    net(x).sum().backward()
    sep(x).sum().backward()
    total = sum(p.grad for p in sep.pulse_parameters())
    assert total.abs().item() > 0
    torch.testing.assert_close(net.pulse_parameters()[0].grad, total, rtol=1e-12, atol=0)


def test_clamp_pulses():
    net = AlphaNetwork((3, 4, 2), n_pulses=3)
    with torch.no_grad():
        net.layers[0].pulse_times.copy_(torch.tensor([-0.5, 0.2, -1e-9]))
        net.layers[1].pulse_times.copy_(torch.tensor([0.7, -3.0, 0.0]))
    net.clamp_pulses_()
    assert net.layers[0].pulse_times.tolist() == pytest.approx([0.0, 0.2, 0.0])
    assert net.layers[1].pulse_times.tolist() == pytest.approx([0.7, 0.0, 0.0])
    assert net.layers[0].pulse_times.requires_grad
    AlphaNetwork((3, 2)).clamp_pulses_()  # no pulses: nothing to do


@pytest.mark.parametrize(
    "sizes, p, shared",
    [((784, 32, 784), 10, False), ((784, 128, 784), 10, False), ((784, 8, 784), 3, False),
     ((784, 340, 10), 10, False), ((2, 2, 2), 1, False), ((5, 7, 3), 0, False)],
)
def test_n_parameters_formula(sizes, p, shared):
    """(i + p) h + (h + p) o + 2 p for i-h-o (Comsa et al. 2021b, §2.8)."""
    i, h, o = sizes
    net = AlphaNetwork(sizes, n_pulses=p, shared_pulses=shared)
    assert net.n_parameters() == (i + p) * h + (h + p) * o + 2 * p
    assert net.n_parameters() == sum(x.numel() for x in net.parameters())


def test_n_parameters_examples():
    assert AlphaNetwork((784, 32, 784), n_pulses=10).n_parameters() == 794 * 32 + 42 * 784 + 20 == 58_356
    # one shared pulse: counted once
    assert AlphaNetwork((2, 2, 2), n_pulses=1, shared_pulses=True).n_parameters() == 3 * 2 + 3 * 2 + 1
    assert AlphaNetwork((10, 5, 4, 3), n_pulses=2).n_parameters() == 12 * 5 + 7 * 4 + 6 * 3 + 3 * 2


def test_seed_repeatability():
    a = AlphaNetwork((20, 10, 5), n_pulses=2, seed=7)
    b = AlphaNetwork((20, 10, 5), n_pulses=2, seed=7)
    c = AlphaNetwork((20, 10, 5), n_pulses=2, seed=8)
    for la, lb, lc in zip(a.layers, b.layers, c.layers):
        assert torch.equal(la.weight, lb.weight)
        assert not torch.equal(la.weight, lc.weight)
    # the seed is local: the global RNG state neither matters nor is consumed
    torch.manual_seed(1)
    d = AlphaNetwork((20, 10, 5), n_pulses=2, seed=7)
    r1 = torch.rand(3)
    torch.manual_seed(1)
    r2 = torch.rand(3)
    assert torch.equal(r1, r2)
    assert all(torch.equal(la.weight, ld.weight) for la, ld in zip(a.layers, d.layers))
    # float32 and float64 networks start from the same draws
    e = AlphaNetwork((20, 10, 5), n_pulses=2, seed=7, dtype=torch.float64)
    assert all(torch.equal(la.weight, le.weight.float()) for la, le in zip(a.layers, e.layers))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AlphaLayer(0, 3),
        lambda: AlphaLayer(3, 0),
        lambda: AlphaLayer(3, 2, n_pulses=-1),
        lambda: AlphaLayer(3, 2, n_pulses=2, pulse_times=torch.nn.Parameter(torch.zeros(3))),
        lambda: AlphaNetwork((5,)),
        lambda: AlphaNetwork(()),
        lambda: AlphaNetwork((5, 0, 2)),
    ],
)
def test_bad_sizes_raise(make):
    with pytest.raises(ValueError):
        make()


def test_wrong_input_width_raises():
    layer = AlphaLayer(4, 2, n_pulses=1)
    with pytest.raises(ValueError, match="4 input"):
        layer(torch.rand(3, 5))  # the pulses are appended by the layer, not passed in
    with pytest.raises(ValueError):
        AlphaNetwork((4, 3, 2))(torch.rand(2, 3))


def test_silent_inputs_propagate_as_silence():
    net = AlphaNetwork((3, 4, 2), n_pulses=0, seed=0)
    out = net(torch.full((2, 3), math.inf), all_layers=True)
    assert all(torch.isinf(t).all() for t in out)
    # with pulses a layer can fire without any input
    layer = AlphaLayer(3, 2, n_pulses=1)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    assert torch.isfinite(layer(torch.full((1, 3), math.inf))).all()


def test_state_dict_round_trip_and_repr():
    net = AlphaNetwork((4, 3, 2), n_pulses=2, seed=1, tau=0.5, theta=1.2, clip_derivative=7.0)
    other = AlphaNetwork((4, 3, 2), n_pulses=2, seed=2, tau=0.5, theta=1.2, clip_derivative=7.0)
    other.load_state_dict(net.state_dict())
    x = torch.tensor(np.random.default_rng(0).uniform(0, 1, size=(6, 4)), dtype=torch.float32)
    assert torch.equal(net(x), other(x))
    r = repr(net.layers[0])
    assert "n_pulses=2" in r and "tau=0.5" in r and "theta=1.2" in r and "clip_derivative=7" in r
    assert net.layers[0].clip_derivative == 7.0
