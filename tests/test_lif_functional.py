"""The LIF core: hand-computed steps, both papers' conventions, shapes, surrogate gradients, numerics."""

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikelib.lif import (
    cumulative_potential,
    huebotter_neuron,
    lif_step,
    max_readout,
    roy_loss,
    roy_neuron,
    simulate,
    surrogate,
)


def _col(*values, dtype=torch.float64):
    """A (T, 1) tensor: one neuron over len(values) steps."""
    return torch.tensor(values, dtype=dtype)[:, None]


def _close(actual, expected, **kw):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype).reshape(actual.shape), **kw)


# ---------------------------------------------------------------- one step, by hand

def test_lif_step_leak_integrate_fire_reset():
    u_prev = torch.tensor([0.8, 0.8, -0.4], dtype=torch.float64)
    current = torch.tensor([0.1, 0.5, 0.3], dtype=torch.float64)
    s, v, u = lif_step(u_prev, current, leak=0.25, threshold=1.0)
    _close(v, [0.7, 1.1, 0.0])  # 0.75 * u_prev + I
    _close(s, [0.0, 1.0, 0.0])
    _close(u, [0.7, 0.0, 0.0])  # reset to zero where it fired


def test_fire_on_ge_vs_gt_at_exactly_threshold():
    currents = _col(0.5, 0.75)  # leak 0.5: v_2 = 0.25 + 0.75 = 1.0 exactly
    s_ge, v_ge = simulate(currents, leak=0.5, threshold=1.0, fire_on="ge")
    s_gt, v_gt = simulate(currents, leak=0.5, threshold=1.0, fire_on="gt")
    _close(v_ge, [0.5, 1.0])
    _close(v_gt, [0.5, 1.0])
    _close(s_ge, [0.0, 1.0])
    _close(s_gt, [0.0, 0.0])


def test_no_leak_is_integrate_and_fire_and_full_leak_is_memoryless():
    currents = _col(0.4, 0.4, 0.4, 0.4)
    s, v = simulate(currents, leak=0.0, threshold=1.0)
    _close(v, [0.4, 0.8, 1.2, 0.4])
    _close(s, [0, 0, 1, 0])
    s, v = simulate(currents, leak=1.0, threshold=1.0)
    _close(v, [0.4] * 4)
    assert s.sum() == 0


def test_bounds_clamp_before_the_spike_test():
    currents = _col(-3.0, 0.5, 2.0, 0.2)
    s, v = simulate(currents, leak=0.5, threshold=1.0, lower_bound=-1.0, upper_bound=1.0)
    # -3 -> -1; 0.5 * -1 + 0.5 = 0; 0 + 2 = 2 -> 1, fires (v >= 1); reset, 0.2
    _close(v, [-1.0, 0.0, 1.0, 0.2])
    _close(s, [0, 0, 1, 0])


def test_v0_is_the_state_before_the_first_step():
    s, v = simulate(_col(0.3, 0.0), leak=0.5, threshold=1.0, v0=0.8)
    _close(v, [0.7, 0.35])
    currents = torch.zeros(2, 3, dtype=torch.float64)
    _, v = simulate(currents, leak=0.5, threshold=1.0, v0=torch.tensor([0.2, 0.4, 2.4], dtype=torch.float64))
    _close(v[0], [0.1, 0.2, 1.2])
    with pytest.raises(ValueError, match="v0 broadcasts"):
        simulate(currents, leak=0.5, threshold=1.0, v0=torch.zeros(2, 3))


# ---------------------------------------------------------------- the two papers' conventions

def test_roy_mapping_by_hand():
    """Roy et al.'s code: V <- min(0.9 V + I, theta), spike if V >= theta, reset to 0; the loss reads V."""
    currents = _col(0.5, 0.6, 0.3, 1.2, 0.0)
    s, v = simulate(currents, **roy_neuron())
    _close(v, [0.5, 1.0, 0.3, 1.0, 0.0])  # 0.45 + 0.6 = 1.05 -> 1; 0.27 + 1.2 = 1.47 -> 1
    _close(s, [0, 1, 0, 1, 0])
    s_paper, v_paper = simulate(currents, **roy_neuron(cap=False))  # eq. 1 as printed: no cap
    _close(v_paper, [0.5, 1.05, 0.3, 1.47, 0.0])
    torch.testing.assert_close(s_paper, s)  # the cap only changes v where the neuron fires


def _roy_code_form(currents, theta=1.0):
    """Roy et al.'s update as the authors write it, in numpy, vectorised over neurons."""
    V = np.zeros(currents.shape[1:])
    spikes, potentials = [], []
    for current in currents:
        V = np.minimum(0.9 * V + current, theta)
        s = (V >= theta).astype(float)
        spikes.append(s)
        potentials.append(V.copy())
        V = V * (1 - s)
    return np.array(spikes), np.array(potentials)


def _huebotter_code_form(currents, alpha, theta=1.0):
    """Hübotter et al.'s update in the order their code runs it (with the paper's lower bound):
    v = u_prev + I; v = max(v, -theta); spike if v > theta; reset to 0; u = alpha * v (decay last)."""
    u = np.zeros(currents.shape[1:])
    spikes, potentials = [], []
    for current in currents:
        v = np.maximum(u + current, -theta)
        s = (v > theta).astype(float)
        spikes.append(s)
        potentials.append(v.copy())
        u = alpha * (v * (1 - s))
    return np.array(spikes), np.array(potentials)


def test_huebotter_mapping_by_hand():
    """Decay after the reset (the code) and decay before integrating (eq. 2, simulate) are the same
    sequence: u_code(t) = alpha u'(t), so v(t) = u_code(t-1) + I(t) = alpha u'(t-1) + I(t)."""
    currents = _col(0.6, 0.6, 1.5, -3.0, 0.2)
    s, v = simulate(currents, **huebotter_neuron(decay=0.5))
    # 0.6; 0.3 + 0.6 = 0.9; 0.45 + 1.5 = 1.95 fires; 0 - 3 -> -1; -0.5 + 0.2 = -0.3
    _close(v, [0.6, 0.9, 1.95, -1.0, -0.3])
    _close(s, [0, 0, 1, 0, 0])
    s_code, v_code = _huebotter_code_form(currents.numpy(), alpha=0.5)
    _close(v, v_code)
    _close(s, s_code)


@pytest.mark.parametrize("paper", ["roy", "huebotter"])
def test_paper_forms_on_random_currents(paper):
    gen = torch.Generator().manual_seed(1)
    currents = torch.randn(40, 3, 25, generator=gen, dtype=torch.float64) * 0.6 + 0.15
    if paper == "roy":
        s, v = simulate(currents, **roy_neuron())
        s_ref, v_ref = _roy_code_form(currents.numpy())
    else:
        s, v = simulate(currents, **huebotter_neuron(decay=0.9))
        s_ref, v_ref = _huebotter_code_form(currents.numpy(), alpha=0.9)
    assert 0.05 < s.mean() < 0.5, "the comparison should see many spikes and resets"
    if paper == "huebotter":
        assert (v == -1.0).any(), "the comparison should see the lower bound"
    _close(s, s_ref, rtol=0, atol=0)
    _close(v, v_ref, rtol=1e-12, atol=1e-12)


def test_presets():
    assert roy_neuron() == dict(leak=0.1, threshold=1.0, fire_on="ge", upper_bound=1.0, surrogate="sigmoid",
                                straight_through_bounds=True)
    h = huebotter_neuron()
    assert h["leak"] == pytest.approx(0.01) and 1.0 - h["leak"] == 0.99
    assert (h["fire_on"], h["lower_bound"], h["surrogate"]) == ("gt", -1.0, "straight_through")
    assert h["straight_through_leak"] and not h["straight_through_bounds"]


# ---------------------------------------------------------------- shapes, batching

def test_shapes_and_batch_dimensions_are_independent():
    gen = torch.Generator().manual_seed(0)
    currents = torch.rand(7, 2, 3, 5, generator=gen) * 0.8
    s, v = simulate(currents, leak=0.1, threshold=1.0)
    assert s.shape == v.shape == currents.shape and s.dtype == v.dtype == torch.float32
    assert s.sum() > 0
    for i in range(2):
        for j in range(3):
            s_ij, v_ij = simulate(currents[:, i, j], leak=0.1, threshold=1.0)
            assert torch.equal(s[:, i, j], s_ij) and torch.equal(v[:, i, j], v_ij)
    s1, v1 = simulate(currents[:, 0, 0, 0], leak=0.1, threshold=1.0)  # (T,) alone: one neuron
    assert torch.equal(v1, v[:, 0, 0, 0])
    s0, v0 = simulate(torch.zeros(0, 4), leak=0.1, threshold=1.0)
    assert s0.shape == v0.shape == (0, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(leak=1.5, threshold=1.0), "leak"),
    (dict(leak=-0.1, threshold=1.0), "leak"),
    (dict(leak=0.1, threshold=0.0), "threshold"),
    (dict(leak=0.1, threshold=float("inf")), "threshold"),
    (dict(leak=0.1, threshold=1.0, fire_on=">="), "fire_on"),
    (dict(leak=0.1, threshold=1.0, upper_bound=0.5), "upper_bound"),
    (dict(leak=0.1, threshold=1.0, upper_bound=1.0, fire_on="gt"), "upper_bound"),
    (dict(leak=0.1, threshold=1.0, lower_bound=1.0), "lower_bound"),
    (dict(leak=0.1, threshold=1.0, surrogate="atan"), "surrogate"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(torch.zeros(2, 3), **kwargs)


def test_integer_currents_are_refused():
    with pytest.raises(ValueError, match="floating-point"):
        simulate(torch.zeros(2, 3, dtype=torch.int64), leak=0.1, threshold=1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_currents_are_refused(bad):
    currents = torch.zeros(3, 2, 4)
    currents[1, 0, 2] = bad
    with pytest.raises(ValueError, match="NaN or inf.*input encoding"):
        simulate(currents, leak=0.1, threshold=1.0)


# ---------------------------------------------------------------- surrogate spike functions

def _x_grid(dtype=torch.float64):
    return torch.arange(-120, 121, dtype=dtype) / 20  # -6 .. 6; x[120] == 0 exactly


@pytest.mark.parametrize("fire_on", ["ge", "gt"])
@pytest.mark.parametrize("name", ["sigmoid", "fast_sigmoid", "straight_through", "heaviside"])
def test_forward_is_the_step(name, fire_on):
    theta = 0.7
    v = _x_grid() + theta
    s = surrogate.SURROGATES[name](v, theta, fire_on)
    expected = (v >= theta) if fire_on == "ge" else (v > theta)
    assert torch.equal(s, expected.to(v.dtype))
    assert s[120] == (1.0 if fire_on == "ge" else 0.0)  # v == theta exactly


@pytest.mark.parametrize("slope", [1.0, 4.0])
def test_sigmoid_derivative_is_roys_formula(slope):
    theta = 1.0
    x = _x_grid()
    v = (x + theta).requires_grad_()
    surrogate.sigmoid(v, theta, slope=slope).sum().backward()
    kx = slope * x
    _close(v.grad, slope * torch.exp(-kx) / (1 + torch.exp(-kx)) ** 2)  # Roy et al. eq. 4 for k = 1
    # ... which is the autograd derivative of the smooth sigmoid the step stands in for
    w = (x + theta).requires_grad_()
    torch.sigmoid(slope * (w - theta)).sum().backward()
    _close(v.grad, w.grad)
    assert v.grad[120] == pytest.approx(slope / 4)


def test_fast_sigmoid_derivative():
    x = _x_grid()
    v = (x + 2.0).requires_grad_()
    surrogate.fast_sigmoid(v, 2.0, slope=10.0).sum().backward()
    _close(v.grad, 1.0 / (1.0 + 10.0 * x.abs()) ** 2)
    w = (x + 2.0).requires_grad_()
    (w - 2.0).div(1 + 10.0 * (w - 2.0).abs()).sum().backward()  # the smooth function it stands in for
    _close(v.grad, w.grad)


@pytest.mark.parametrize("fire_on", ["ge", "gt"])
def test_straight_through_derivative_is_one_over_theta_where_it_fired(fire_on):
    theta = 2.0
    x = _x_grid()
    v = (x + theta).requires_grad_()
    s = surrogate.straight_through(v, theta, fire_on)
    s.backward(torch.full_like(s, 3.0))
    _close(v.grad, 3.0 * s.detach() / theta)
    assert v.grad[120] == (1.5 if fire_on == "ge" else 0.0)


def test_heaviside_has_no_gradient_and_get_resolves_names():
    v = torch.ones(3, requires_grad=True)
    assert not surrogate.heaviside(v, 0.5).requires_grad
    assert surrogate.get("fast_sigmoid") is surrogate.fast_sigmoid
    f = functools.partial(surrogate.sigmoid, slope=3.0)
    assert surrogate.get(f) is f
    with pytest.raises(ValueError, match="unknown surrogate"):
        surrogate.get("tanh")


def test_custom_surrogate_reaches_the_hidden_gradient():
    """A spike function with slope 5 in simulate: dL/dI_t of L = sum s is 5 sigma'(5 (v_t - theta))."""
    currents = _col(0.2, 0.9).requires_grad_()
    s, v = simulate(currents, leak=0.5, threshold=1.0, surrogate=functools.partial(surrogate.sigmoid, slope=5.0))
    s.sum().backward()
    sig = lambda x: torch.sigmoid(torch.tensor(5.0 * x, dtype=torch.float64))  # noqa: E731
    d = lambda x: 5.0 * sig(x) * (1 - sig(x))  # noqa: E731
    # v = [0.2, 1.0]; s_2 depends on I_1 through 0.5 * I_1
    _close(currents.grad, [d(0.2 - 1.0) + 0.5 * d(1.0 - 1.0), d(1.0 - 1.0)])


# ---------------------------------------------------------------- gradients of the recurrence

def _away_from_threshold(v, theta, margin=1e-3):
    return bool(((v - theta).abs() > margin).all())


def test_gradcheck_potentials():
    """v is a smooth function of the currents and v0 between spike-pattern changes (the reset is
    detached), so finite differences must match autograd."""
    gen = torch.Generator().manual_seed(3)
    currents = (torch.rand(6, 2, 3, generator=gen, dtype=torch.float64) * 0.7).requires_grad_()
    v0 = (torch.rand(2, 3, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()
    kw = dict(leak=0.2, threshold=1.0)
    s, v = simulate(currents, v0=v0, **kw)
    assert s.sum() > 0 and _away_from_threshold(v, 1.0)
    assert torch.autograd.gradcheck(lambda i, u0: simulate(i, v0=u0, **kw)[1], (currents, v0))


def test_gradcheck_with_exact_lower_bound():
    gen = torch.Generator().manual_seed(4)
    currents = (torch.randn(6, 8, generator=gen, dtype=torch.float64) * 1.2).requires_grad_()
    kw = dict(leak=0.3, threshold=1.0, lower_bound=-1.0, straight_through_bounds=False)
    s, v = simulate(currents, **kw)
    raw = simulate(currents.detach(), leak=0.3, threshold=1.0)[1]
    assert (v == -1.0).any() and s.sum() > 0 and _away_from_threshold(v, 1.0)
    assert ((v - -1.0).abs() > 1e-3).logical_or(v == -1.0).all() and ((raw + 1.0).abs() > 1e-3).all()
    assert torch.autograd.gradcheck(lambda i: simulate(i, **kw)[1], (currents,))


def test_leak_gradient_exact_vs_straight_through():
    currents = _col(0.1, 0.1, 0.1, 0.1).requires_grad_()
    _, v = simulate(currents, leak=0.5, threshold=1.0)
    v[-1].sum().backward()
    _close(currents.grad, [0.125, 0.25, 0.5, 1.0])
    currents.grad = None
    s_st, v_st = simulate(currents, leak=0.5, threshold=1.0, straight_through_leak=True)
    assert torch.equal(v_st, v)  # the forward pass is the same, bit for bit
    v_st[-1].sum().backward()
    _close(currents.grad, [1.0, 1.0, 1.0, 1.0])  # Hübotter et al.'s code: decay counts as 1 backward


def test_reset_gradient_detached_or_not():
    """v_2 = 0.5 u_1 + I_2, u_1 = v_1 (1 - s_1), v_1 = 1.5 fires. Detached: dv_2/dI_1 = 0. Through the
    surrogate: du_1/dv_1 = (1 - s_1) - v_1 sigma'(v_1 - theta) = -1.5 sigma'(0.5)."""
    sig = 1 / (1 + np.exp(-0.5))
    for detach, expected in [(True, 0.0), (False, 0.5 * -1.5 * sig * (1 - sig))]:
        currents = _col(1.5, 0.0).requires_grad_()
        s, v = simulate(currents, leak=0.5, threshold=1.0, detach_reset=detach)
        _close(s, [1, 0])
        v[1].sum().backward()
        assert currents.grad[0, 0].item() == pytest.approx(expected, abs=1e-12)


def test_cap_passes_the_gradient_straight_through_or_not():
    """Roy et al.'s output error -e must reach a capped potential (a neuron that fired wrongly)."""
    for straight, expected in [(True, 1.0), (False, 0.0)]:
        currents = _col(1.7).requires_grad_()
        _, v = simulate(currents, leak=0.1, threshold=1.0, upper_bound=1.0, straight_through_bounds=straight)
        _close(v, [1.0])
        v.sum().backward()
        assert currents.grad.item() == expected


def test_lif_step_is_what_simulate_iterates():
    gen = torch.Generator().manual_seed(5)
    currents = torch.rand(5, 4, generator=gen) * 0.9
    kw = dict(leak=0.1, threshold=1.0, upper_bound=1.0)
    s, v = simulate(currents, **kw)
    u = torch.zeros(4)
    for t in range(5):
        s_t, v_t, u = lif_step(u, currents[t], **kw)
        assert torch.equal(s_t, s[t]) and torch.equal(v_t, v[t])
        assert torch.equal(u, v_t * (1 - s_t))


# ---------------------------------------------------------------- Hübotter et al.'s read-out

def test_cumulative_potential_by_hand():
    x = _col(1.0, 2.0, 3.0).requires_grad_()
    u_code = cumulative_potential(x, decay=0.5)  # U_t = 0.5 (U_{t-1} + x_t)
    _close(u_code, [0.5, 1.25, 2.125])
    u_paper = cumulative_potential(x, decay=0.5, decay_input=False)  # U_t = 0.5 U_{t-1} + x_t (eq. 7)
    _close(u_paper, [1.0, 2.5, 4.25])
    u_code[-1].sum().backward()
    _close(x.grad, [0.125, 0.25, 0.5])
    x.grad = None
    u_st = cumulative_potential(x, decay=0.5, straight_through_decay=True)
    assert torch.equal(u_st, u_code)
    u_st[-1].sum().backward()
    _close(x.grad, [1.0, 1.0, 1.0])
    x.grad = None
    u_st = cumulative_potential(x, decay=0.5, decay_input=False, straight_through_decay=True)
    assert torch.equal(u_st, u_paper)
    u_st[-1].sum().backward()
    _close(x.grad, [1.0, 1.0, 1.0])


def test_max_readout():
    u = torch.tensor([[0.2, 3.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64, requires_grad=True)
    x_hat = max_readout(u, scale=2.0)
    _close(x_hat, [0.5, 1.5])
    x_hat.sum().backward()
    _close(u.grad, [[0, 0.5], [0.5, 0], [0, 0]])  # the gradient goes to the maximum's time step
    _close(max_readout(u, scale=1.0, t_min=1), [1.0, 2.0])
    with pytest.raises(ValueError, match="t_min"):
        max_readout(u, scale=1.0, t_min=3)
    with pytest.raises(ValueError, match="scale"):
        max_readout(u, scale=0.0)


def test_gradcheck_readout():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: max_readout(cumulative_potential(a, decay=0.7), scale=2.0), (x,))


# ---------------------------------------------------------------- float32 numerics

@settings(max_examples=40, deadline=None)
@given(
    currents=arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 5)),
                    elements=st.floats(-1e4, 1e4, width=32)),
    leak=st.floats(0.0, 1.0),
    threshold=st.floats(1e-3, 1e3),
    name=st.sampled_from(["sigmoid", "fast_sigmoid", "straight_through"]),
    fire_on=st.sampled_from(["ge", "gt"]),
    bounded=st.booleans(),
    straight=st.booleans(),
)
def test_no_nan_or_inf_in_float32(currents, leak, threshold, name, fire_on, bounded, straight):
    currents = torch.from_numpy(currents).requires_grad_()
    bounds = dict(lower_bound=-threshold, upper_bound=threshold if fire_on == "ge" else 2 * threshold) if bounded else {}
    s, v = simulate(currents, leak=leak, threshold=threshold, fire_on=fire_on, surrogate=name,
                    straight_through_leak=straight, straight_through_bounds=straight, **bounds)
    u_cum = cumulative_potential(v, decay=1.0 - leak, straight_through_decay=straight)
    loss = roy_loss(v, s, (currents > 0).float(), threshold) + s.sum() + max_readout(u_cum, scale=3.0).sum()
    loss.backward()
    for t in (s, v, u_cum, loss, currents.grad):
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    assert set(s.unique().tolist()) <= {0.0, 1.0}
