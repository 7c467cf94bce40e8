"""LIF layers: the synapse folded over time equals a per-step loop, shapes of Hübotter et al.'s network."""

import pytest
import torch
from torch import nn

from spikelib.encoding import poisson
from spikelib.lif import (
    LIFConv2d,
    LIFConvTranspose2d,
    LIFLayer,
    LIFWrapper,
    huebotter_neuron,
    roy_loss,
    roy_neuron,
    simulate,
)


def _spikes(*shape, p=0.3, seed=0):
    return poisson(torch.full(shape[1:], p), shape[0], seed=seed)


def test_lif_layer_is_linear_then_simulate():
    torch.manual_seed(0)
    layer = LIFLayer(20, 7, **roy_neuron())
    assert layer.synapse.bias is None and layer.weight.shape == (7, 20)
    x = _spikes(9, 4, 20)
    with torch.no_grad():
        layer.weight.mul_(3.0)  # enough drive to fire
    s, v = layer(x)
    assert s.shape == v.shape == (9, 4, 7)
    s_ref, v_ref = simulate(x @ layer.weight.T, **roy_neuron())
    torch.testing.assert_close(v, v_ref)
    assert torch.equal(s, s_ref) and s.sum() > 0
    s3, _ = layer(x[:, :2].unsqueeze(2).expand(9, 2, 3, 20))  # any leading dimensions
    assert s3.shape == (9, 2, 3, 7)


def test_lif_layer_bias_and_v0():
    layer = LIFLayer(3, 2, bias=True, leak=0.5, threshold=1.0)
    with torch.no_grad():
        layer.weight.zero_()
        layer.synapse.bias.copy_(torch.tensor([0.25, 0.0]))
    s, v = layer(torch.zeros(2, 1, 3), v0=torch.tensor([0.5, 0.8]))
    torch.testing.assert_close(v[:, 0], torch.tensor([[0.5, 0.4], [0.5, 0.2]]))
    assert s.sum() == 0


def _per_step(layer, x):
    return simulate(torch.stack([layer.synapse(x_t) for x_t in x]), **layer.neuron)


@pytest.mark.parametrize("cls, c_in, c_out, size_in, size_out", [
    (LIFConv2d, 1, 4, 28, 24),
    (LIFConvTranspose2d, 3, 2, 20, 24),
])
def test_conv_layers_fold_time_into_the_batch(cls, c_in, c_out, size_in, size_out):
    torch.manual_seed(1)
    layer = cls(c_in, c_out, 5, **huebotter_neuron(decay=0.9))
    assert layer.synapse.bias is None
    x = _spikes(6, 2, c_in, size_in, size_in, p=0.4, seed=2)
    s, v = layer(x)
    assert s.shape == v.shape == (6, 2, c_out, size_out, size_out)
    s_ref, v_ref = _per_step(layer, x)
    torch.testing.assert_close(v, v_ref)
    assert torch.equal(s, s_ref) and 0 < s.mean() < 1


def test_huebotter_network_has_the_papers_parameter_count():
    """conv 1->16, conv 16->32, fc 12800->100, fc 100->12800, deconv 32->16, deconv 16->1; kernel 5, no
    bias: 2,586,400 parameters for nz = 100 (Hübotter et al. 2021, Table 2)."""
    neuron = huebotter_neuron()
    net = nn.ModuleList([
        LIFConv2d(1, 16, 5, **neuron), LIFConv2d(16, 32, 5, **neuron),
        LIFLayer(32 * 20 * 20, 100, **neuron), LIFLayer(100, 32 * 20 * 20, **neuron),
        LIFConvTranspose2d(32, 16, 5, **neuron), LIFConvTranspose2d(16, 1, 5, **neuron),
    ])
    assert sum(p.numel() for p in net.parameters()) == 2_586_400
    x = _spikes(2, 1, 1, 28, 28)
    h = net[1](net[0](x)[0])[0]
    assert h.shape == (2, 1, 32, 20, 20)
    z = net[2](h.flatten(2))[0]
    out = net[5](net[4](net[3](z)[0].unflatten(2, (32, 20, 20)))[0])[1]
    assert out.shape == (2, 1, 1, 28, 28)


def test_gradients_reach_the_weights_of_a_two_layer_autoencoder():
    """Roy et al.'s 784-196-784 shape in miniature: the loss on the output potential trains both layers
    (the hidden layer through the sigmoid surrogate)."""
    torch.manual_seed(3)
    enc, dec = LIFLayer(30, 12, **roy_neuron()), LIFLayer(12, 30, **roy_neuron())
    with torch.no_grad():
        enc.weight.mul_(8.0)
        dec.weight.mul_(8.0)
    x = _spikes(8, 5, 30, p=0.4, seed=4)
    s_h, _ = enc(x)
    s_o, v_o = dec(s_h)
    assert s_h.sum() > 0
    roy_loss(v_o, s_o, x, 1.0).backward()
    assert enc.weight.grad.abs().sum() > 0 and dec.weight.grad.abs().sum() > 0


def test_neuron_arguments_are_checked_at_construction():
    with pytest.raises(ValueError, match="leak"):
        LIFLayer(3, 2, leak=2.0, threshold=1.0)
    with pytest.raises(TypeError):
        LIFLayer(3, 2, threshold=1.0)  # leak is required
    with pytest.raises(TypeError):
        LIFLayer(3, 2, leak=0.1, threshold=1.0, tau=3.0)
    with pytest.raises(TypeError, match="v0"):
        LIFWrapper(nn.Identity(), leak=0.1, threshold=1.0, v0=0.0)
    with pytest.raises(ValueError, match=r"\(T, B"):
        LIFConv2d(1, 1, 3, leak=0.1, threshold=1.0).currents(torch.zeros(5))
    assert "leak=0.1" in repr(LIFLayer(3, 2, **roy_neuron()))
