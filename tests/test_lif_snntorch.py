"""simulate against snntorch 1.0.0's ``Leaky``, an independent implementation (a test-only dependency).

Ordering. ``Leaky`` returns the potential before reset and resets one call later: at step t it forms
``reset = H(mem_{t-1} - theta)`` (detached) from the potential it returned at t-1, then
``mem_t = beta (1 - reset) mem_{t-1} + I_t``, then ``spk_t = H(mem_t - theta)``. With ``u_{t-1} =
v_{t-1} (1 - s_{t-1})`` that is exactly ``v_t = (1 - leak) u_{t-1} + I_t`` for ``leak = 1 - beta``: its
``mem_t`` is our ``v_t``, and its reset, though applied at the next call, uses the same spike. Its step is
strict (``mem - theta > 0``), so the exact comparisons use ``fire_on="gt"``; its reset is detached, as
``simulate``'s by default, so the BPTT gradients agree too.
"""

import pytest
import snntorch
import torch
from snntorch import surrogate as snn_surrogate

from spikelib.lif import huebotter_neuron, roy_neuron, simulate

T, B, N = 25, 3, 40


def _currents(seed):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(T, B, N, generator=gen) * 0.6 + 0.2).requires_grad_()


def _run_snntorch(lif, currents):
    mem = torch.zeros_like(currents[0])
    spikes, mems = [], []
    for current in currents:
        spk, mem = lif(current, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def _readout_grad(spikes, v, currents, seed):
    """d/dI of a random linear function of both outputs: exercises the surrogate and the potential path."""
    gen = torch.Generator().manual_seed(seed)
    g_s, g_v = torch.randn(spikes.shape, generator=gen), torch.randn(v.shape, generator=gen)
    (grad,) = torch.autograd.grad((g_s * spikes).sum() + (g_v * v).sum(), currents)
    return grad


def test_matches_leaky_with_roys_leak_and_sigmoid_surrogate():
    currents = _currents(0)
    lif = snntorch.Leaky(beta=0.9, threshold=1.0, reset_mechanism="zero", spike_grad=snn_surrogate.sigmoid(slope=1))
    s_ref, v_ref = _run_snntorch(lif, currents)
    s, v = simulate(currents, leak=0.1, threshold=1.0, fire_on="gt", surrogate="sigmoid")
    assert 0.05 < s_ref.mean() < 0.5
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(_readout_grad(s, v, currents, 1), _readout_grad(s_ref, v_ref, currents, 1),
                               rtol=1e-5, atol=1e-6)


def test_roys_cap_and_ge_only_change_the_potential_at_spikes():
    """Roy et al.'s code fires on V >= theta and caps V at theta: snntorch without the cap fires at the
    same steps (no potential lands exactly on theta here), and the capped potential is min(mem, theta)."""
    currents = _currents(2)
    lif = snntorch.Leaky(beta=0.9, threshold=1.0, reset_mechanism="zero", spike_grad=snn_surrogate.sigmoid(slope=1))
    s_ref, v_ref = _run_snntorch(lif, currents)
    assert not (v_ref == 1.0).any()
    s, v = simulate(currents, **roy_neuron())
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref.clamp(max=1.0), rtol=1e-6, atol=1e-6)
    assert (v_ref > 1.0).any() and v.max() == 1.0


@pytest.mark.parametrize("decay", [0.99, 0.8])
def test_matches_leaky_with_huebotters_bound_and_straight_through(decay):
    """Hübotter et al.'s forward: Leaky with a clamp at -theta as its state quantiser and the Heaviside
    "surrogate" (derivative 1 where it fired = 1/theta for theta = 1). snntorch's BPTT gradient decays by
    beta per step, so it matches ``straight_through_leak=False``; the authors' code (the preset) does not
    decay the gradient: same forward, different gradient."""
    currents = _currents(3)
    with torch.no_grad():
        currents[5:9] -= 2.0  # drive some potentials below -theta
    lif = snntorch.Leaky(beta=decay, threshold=1.0, reset_mechanism="zero", spike_grad=snn_surrogate.heaviside(),
                         state_quant=lambda mem: mem.clamp(min=-1.0))
    s_ref, v_ref = _run_snntorch(lif, currents)
    neuron = huebotter_neuron(decay=decay)
    s, v = simulate(currents, **{**neuron, "straight_through_leak": False})
    assert (v_ref == -1.0).any() and s_ref.sum() > 0
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-6, atol=1e-6)
    grad_ref = _readout_grad(s_ref, v_ref, currents, 4)
    torch.testing.assert_close(_readout_grad(s, v, currents, 4), grad_ref, rtol=1e-5, atol=1e-6)

    s_code, v_code = simulate(currents, **neuron)
    assert torch.equal(s_code, s) and torch.equal(v_code, v)
    assert not torch.allclose(_readout_grad(s_code, v_code, currents, 4), grad_ref)
