"""The exact alpha neuron: paper examples, the event-driven reference, gradients, Lambert W, numerics."""

import math

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spikelib.alpha.functional as F
from spikelib.alpha import _cscan
from spikelib.alpha import lambertw0, membrane_potential, spike_times
from spikelib.alpha.reference import spike_time_event_driven, spike_times_event_driven

FIG1_A = ([1, 4, 5, 8, 12, 17, 19], [0.5, 0.3, 0.4, -0.2, -0.3, 1.2, 0.9], 19.39435)
FIG1_B = ([1, 8, 12, 15, 17, 18], [0.3, -0.4, 0.5, 0.7, 0.5, 0.8], 18.63574)


@pytest.fixture(autouse=True, params=["cpu-scan-kernel", "torch"])
def backend(request, monkeypatch):
    """Every test runs on both CPU implementations: the C scan kernel and the torch path (eager here;
    test_compiled_matches_eager covers torch.compile)."""
    monkeypatch.setenv("SPIKELIB_BACKEND", "c" if request.param == "cpu-scan-kernel" else "torch")
    if request.param == "cpu-scan-kernel" and not _cscan.available():
        pytest.skip("no C compiler here: the scan kernel is unavailable")
    before = F._compile_enabled
    F.set_compile(False)
    yield request.param
    F.set_compile(before)


def _one(t, w, tau, theta, dtype=torch.float64):
    return spike_times(torch.tensor([t], dtype=dtype), torch.tensor(w, dtype=dtype)[:, None], tau, theta).item()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("example", [FIG1_A, FIG1_B])
def test_paper_figure_examples(example, dtype):
    t, w, expected = example
    assert _one(t, w, 1.0, 0.5, dtype) == pytest.approx(expected, abs=5e-6 if dtype == torch.float64 else 5e-4)
    assert spike_time_event_driven(t, w, 1.0, 0.5) == pytest.approx(expected, abs=5e-6)


def test_figure_1b_does_not_spike_with_threshold_one():
    t, w, _ = FIG1_B
    assert math.isinf(_one(t, w, 1.0, 1.0))


def _random_case(rng, n_batch=4, n_out=6):
    n_in = int(rng.integers(1, 14))
    horizon = float(rng.choice([1.0, 5.0, 30.0, 150.0]))
    t = rng.uniform(0, horizon, size=(n_batch, n_in))
    t[rng.random(t.shape) < 0.2] = np.inf  # silent inputs
    if rng.random() < 0.3:
        t = np.round(t, 1)  # ties
    w = rng.normal(rng.uniform(-0.6, 1.0), 1.0, size=(n_in, n_out))  # mixed excitation / inhibition
    return t, w, float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.1, 1.5))


def test_agrees_with_event_driven_reference_on_random_cases():
    rng = np.random.default_rng(1234)
    n_cases = n_spiking = 0
    for _ in range(150):
        t, w, tau, theta = _random_case(rng)
        got = spike_times(torch.tensor(t), torch.tensor(w), tau, theta).numpy()
        want = spike_times_event_driven(t, w, tau, theta)
        same_silence = np.isinf(got) == np.isinf(want)
        assert same_silence.all(), (t, w, tau, theta, got, want)
        fin = np.isfinite(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5)
        n_cases += want.size
        n_spiking += fin.sum()
    assert n_cases >= 3000 and 0.2 < n_spiking / n_cases < 0.95  # both outcomes well represented


@pytest.mark.parametrize(
    "t, w, theta, expect_spike",
    [
        ([0.1, 0.2], [2.0, -3.0], 0.3, False),  # inhibition arrives before the crossing: silent
        ([0.1, 3.0], [0.9, 5.0], 0.2, True),  # false alarm check: the first input alone crosses before 3.0
        ([math.inf, math.inf], [5.0, 5.0], 0.1, False),  # all inputs silent
        ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0], 0.5, True),  # ties
        ([0.0], [0.0], 0.1, False),  # zero weight never reaches threshold
        ([1.0, 1.5], [0.2, -0.1], 1.0, False),  # peak below threshold
    ],
)
def test_special_cases_match_reference(t, w, theta, expect_spike):
    got = _one(t, w, 1.0, theta)
    want = spike_time_event_driven(t, w, 1.0, theta)
    assert math.isinf(got) == math.isinf(want) == (not expect_spike)
    if expect_spike:
        assert got == pytest.approx(want, rel=1e-9)


def test_spike_is_threshold_crossing_of_membrane_potential():
    t, w, expected = FIG1_B
    t_in = torch.tensor(t, dtype=torch.float64)
    W = torch.tensor(w, dtype=torch.float64)[:, None]
    t_out = spike_times(t_in[None], W, 1.0, 0.5).item()
    v = membrane_potential(torch.tensor([t_out, t_out - 1e-3]), t_in, W, 1.0)[:, 0]
    assert v[0].item() == pytest.approx(0.5, abs=1e-9)
    assert v[1].item() < 0.5


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 25:
        t, w, tau, theta = _random_case(rng, n_batch=2, n_out=3)
        # gradcheck perturbs every entry, so no silent inputs here (their zero gradient is tested below)
        t = np.where(np.isfinite(t), t, rng.uniform(0, 5, size=t.shape))
        tt = torch.tensor(t, requires_grad=True)
        ww = torch.tensor(w, requires_grad=True)
        out = spike_times(tt, ww, tau, theta)
        if not torch.isfinite(out).any():
            continue
        # skip cases within the finite-difference step of a change of causal set or of a grazing crossing
        sorted_t = np.sort(t, axis=1)
        if np.min(np.abs(out.detach().numpy()[..., None] - sorted_t[:, None, :])) < 1e-3:
            continue
        fn = lambda a, b: torch.where(torch.isfinite(spike_times(a, b, tau, theta)), spike_times(a, b, tau, theta), 0.0)
        assert torch.autograd.gradcheck(fn, (tt, ww), eps=1e-7, atol=1e-4, rtol=1e-3)
        checked += 1


def test_exact_derivative_formulas_on_paper_example():
    t, w, _ = FIG1_A
    tt = torch.tensor([t], dtype=torch.float64, requires_grad=True)
    ww = torch.tensor(w, dtype=torch.float64)[:, None].requires_grad_()
    out = spike_times(tt, ww, 1.0, 0.5)
    out.sum().backward()
    t_out = out.item()
    causal = np.array(t) < t_out
    A = np.sum(np.array(w)[causal] * np.exp(np.array(t)[causal]))
    B = np.sum(np.array(w)[causal] * np.exp(np.array(t)[causal]) * np.array(t)[causal])
    W = scipy.special.lambertw(-0.5 / A * np.exp(B / A)).real
    dw = np.where(causal, np.exp(t) * (np.array(t) - t_out) / (A * (1 + W)), 0.0)
    dt = np.where(causal, np.array(w) * np.exp(t) * ((np.array(t) - t_out) + 1) / (A * (1 + W)), 0.0)
    np.testing.assert_allclose(ww.grad[:, 0].numpy(), dw, rtol=1e-8)
    np.testing.assert_allclose(tt.grad[0].numpy(), dt, rtol=1e-8)


def test_gradient_is_zero_for_silent_outputs_late_and_silent_inputs():
    t = torch.tensor([[0.1, 0.2, 50.0, math.inf]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[3.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    out = spike_times(t, w, 1.0, 0.5)
    assert math.isfinite(out[0, 0].item()) and math.isinf(out[0, 1].item())
    torch.where(torch.isfinite(out), out, 0.0).sum().backward()
    assert t.grad[0, 2] == 0 and t.grad[0, 3] == 0  # after the output spike / silent
    assert (w.grad[:, 1] == 0).all()  # silent output
    assert (w.grad[2:, 0] == 0).all()


def test_clip_derivative_bounds_local_derivatives():
    t = torch.tensor([[0.1, 0.2]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.0], [0.3593]], dtype=torch.float64, requires_grad=True)  # near-grazing crossing
    out = spike_times(t, w, 1.0, 0.5, clip_derivative=2.0)
    out.sum().backward()
    assert w.grad.abs().max() <= 2.0 + 1e-12 and t.grad.abs().max() <= 2.0 + 1e-12


def test_lambertw_matches_scipy_over_domain():
    z = np.concatenate([
        -math.exp(-1) + np.logspace(-12, -0.5, 400),
        np.linspace(-0.36, 10, 2000),
        np.logspace(1, 200, 400),
        [0.0, 1e-300, -1e-300],
    ])
    got = lambertw0(torch.tensor(z, dtype=torch.float64)).numpy()
    want = scipy.special.lambertw(z).real
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    # within 1e-12 of the branch point (scipy is itself only ~1e-10 accurate there)
    near = -math.exp(-1) + np.array([1e-12, 3e-13, 1e-14])
    np.testing.assert_allclose(lambertw0(torch.tensor(near)).numpy(), scipy.special.lambertw(near).real, atol=1e-9)
    assert math.isnan(lambertw0(torch.tensor([-0.4], dtype=torch.float64)).item())


def test_float32_safe_for_long_spike_trains():
    """tau t up to 200 overflows e^{tau t} in float32 without the time shift."""
    rng = np.random.default_rng(3)
    for tau in (0.5, 1.0, 2.0):
        t = rng.uniform(0, 100, size=(8, 40))
        w = rng.normal(0.3, 1.0, size=(40, 12))
        want = spike_times(torch.tensor(t), torch.tensor(w), tau, 0.5)
        got = spike_times(torch.tensor(t, dtype=torch.float32), torch.tensor(w, dtype=torch.float32), tau, 0.5)
        assert not torch.isnan(got).any()
        assert (torch.isinf(got) == torch.isinf(want)).all()
        fin = torch.isfinite(want)
        assert fin.sum() > 20
        np.testing.assert_allclose(got[fin].double().numpy(), want[fin].numpy(), rtol=1e-4)


finite_times = st.one_of(st.floats(0.0, 100.0), st.just(math.inf))


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_in=st.integers(1, 8),
    n_out=st.integers(1, 4),
    tau=st.floats(0.05, 2.0),
    theta=st.floats(0.01, 5.0),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_no_nan_or_inf_leaks(data, n_in, n_out, tau, theta, dtype):
    t = data.draw(st.lists(st.lists(finite_times, min_size=n_in, max_size=n_in), min_size=1, max_size=3))
    w = data.draw(st.lists(st.lists(st.floats(-20, 20), min_size=n_out, max_size=n_out), min_size=n_in, max_size=n_in))
    tt = torch.tensor(t, dtype=dtype, requires_grad=True)
    ww = torch.tensor(w, dtype=dtype, requires_grad=True)
    out = spike_times(tt, ww, tau, theta, clip_derivative=data.draw(st.sampled_from([0.0, 100.0])))
    assert not torch.isnan(out).any()
    assert not torch.isneginf(out).any()
    fin = torch.isfinite(out)
    assert (out[fin] >= 0).all()
    torch.where(fin, out, 0.0).sum().backward()
    assert torch.isfinite(tt.grad).all() and torch.isfinite(ww.grad).all()


def test_bad_input_errors_name_the_problem():
    w = torch.ones(3, 2)
    with pytest.raises(ValueError, match="3 rows"):
        spike_times(torch.zeros(1, 4), w, 1.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        spike_times(torch.tensor([[0.0, float("nan"), 1.0]]), w, 1.0, 1.0)
    with pytest.raises(ValueError, match="tau"):
        spike_times(torch.zeros(1, 3), w, -1.0, 1.0)
    with pytest.raises(ValueError, match="theta"):
        spike_times(torch.zeros(1, 3), w, 1.0, 0.0)


def test_batch_shapes_and_empty_batch():
    w = torch.randn(5, 3, dtype=torch.float64)
    t = torch.rand(2, 4, 5, dtype=torch.float64)
    assert spike_times(t, w, 1.0, 0.5).shape == (2, 4, 3)
    silent = torch.full((3, 5), math.inf, dtype=torch.float64, requires_grad=True)
    out = spike_times(silent, w.requires_grad_(), 1.0, 0.5)
    assert torch.isinf(out).all()
    torch.where(torch.isfinite(out), out, 0.0).sum().backward()
    assert (silent.grad == 0).all()


def test_compiled_matches_eager(backend):
    if backend != "torch":
        pytest.skip("torch.compile concerns the torch path only")
    rng = np.random.default_rng(11)
    t, w, tau, theta = _random_case(rng, n_batch=16, n_out=20)
    tt = torch.tensor(t, requires_grad=True)
    ww = torch.tensor(w, requires_grad=True)
    ref = spike_times(tt, ww, tau, theta)
    torch.where(torch.isfinite(ref), ref, 0.0).sum().backward()
    g_ref = (tt.grad.clone(), ww.grad.clone())
    tt.grad = ww.grad = None
    F.set_compile(True)
    out = spike_times(tt, ww, tau, theta)
    torch.where(torch.isfinite(out), out, 0.0).sum().backward()
    if F._COMPILED.get(F._forward_core) is F._forward_core:  # _call_kernel fell back to eager (and warned)
        pytest.skip("torch.compile fell back to eager here (no working inductor toolchain): eager vs eager "
                    "would prove nothing")
    assert F._COMPILED[F._forward_core] is not F._forward_core, "the forward kernel was not compiled"
    assert torch.equal(torch.isinf(out), torch.isinf(ref))
    fin = torch.isfinite(ref)
    torch.testing.assert_close(out[fin], ref[fin], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(tt.grad, g_ref[0], rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(ww.grad, g_ref[1], rtol=1e-7, atol=1e-9)
