"""spikelib.encoding: latency coding, the autoencoder noise model, Poisson rate coding."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikelib import encoding

INF = float("inf")


# ------------------------------------------------------------------------------------------ latency


def test_latency_inverted_endpoints():
    img = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    t = encoding.latency(img)
    assert t.shape == (1, 4) and t.dtype == torch.float64
    assert t[0, 0] == INF  # black never spikes
    assert t[0, 3] == 1 / 256  # the brightest ink spikes at 1/256, not 0
    assert t[0, 1] == 1 - 1 / 256 and t[0, 2] == 0.5


def test_latency_not_inverted():
    t = encoding.latency(np.array([[0, 128, 255]], dtype=np.uint8), invert=False)
    assert t.tolist() == [[0.0, 0.5, 255 / 256]]
    assert torch.isfinite(t).all()


def test_latency_shapes_dtypes_and_inputs():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    t = encoding.latency(imgs, dtype=torch.float32)
    assert t.shape == (5, 784) and t.dtype == torch.float32
    torch.testing.assert_close(encoding.latency(torch.from_numpy(imgs)), encoding.latency(imgs))
    ro = imgs.copy()
    ro.setflags(write=False)  # what spikelib.data loaders return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(encoding.latency(ro), encoding.latency(imgs))
    assert (ro == imgs).all()


def test_latency_of_no_images_is_empty():
    # a zero-length slice (e.g. --eval-examples 0) is an empty batch, not an error
    t = encoding.latency(np.zeros((0, 28, 28), np.uint8), dtype=torch.float32)
    assert t.shape == (0, 784) and t.dtype == torch.float32


@pytest.mark.parametrize(
    "bad, err",
    [
        (np.zeros((2, 4), dtype=np.float32), TypeError),
        (torch.zeros((2, 4), dtype=torch.int64), TypeError),
        ([[0, 1]], TypeError),
        (np.zeros(4, dtype=np.uint8), ValueError),
    ],
)
def test_latency_rejects_bad_input(bad, err):
    with pytest.raises(err):
        encoding.latency(bad)


@given(arrays(np.uint8, (3, 7)))
@settings(max_examples=50, deadline=None)
def test_latency_is_monotone_and_in_range(img):
    t = encoding.latency(img).numpy().ravel()
    p = img.ravel()
    assert np.all(np.isinf(t) == (p == 0))
    finite = t[p > 0]
    assert np.all((finite >= 1 / 256) & (finite < 1))
    order = np.argsort(p[p > 0], kind="stable")
    assert np.all(np.diff(finite[order]) <= 0)  # brighter -> earlier


# ---------------------------------------------------------------------------------- add_time_noise


def test_noise_is_seeded_and_repeatable():
    t = torch.full((4, 100), 0.5, dtype=torch.float64)
    a = encoding.add_time_noise(t, 0.1, seed=3)
    assert torch.equal(a, encoding.add_time_noise(t, 0.1, seed=3))
    assert not torch.equal(a, encoding.add_time_noise(t, 0.1, seed=4))
    assert torch.equal(t, torch.full((4, 100), 0.5, dtype=torch.float64))  # input untouched


def test_noise_clamps_and_silences():
    t = torch.tensor([0.0, 0.001, 0.5, 0.999, INF], dtype=torch.float64).repeat(200, 1)
    out = encoding.add_time_noise(t, 2.0, invert=False, seed=0)
    finite = out[torch.isfinite(out)]
    assert finite.min() >= 0 and finite.max() < 1  # t' >= 1 became inf
    assert (out == 0).any() and torch.isinf(out).any()  # both clamps were hit


def test_noise_eta_zero_is_identity_apart_from_silence():
    t = torch.tensor([[0.25, 1 / 256, INF, 0.75]], dtype=torch.float32)
    out = encoding.add_time_noise(t, 0.0)
    assert out.dtype == torch.float32
    assert out.tolist() == [[0.25, 1 / 256, INF, 0.75]]
    assert torch.isinf(encoding.add_time_noise(torch.tensor([1.0]), 0.0)).all()  # t = 1 is silent


def test_noise_mean_shift_depends_on_invert():
    t = torch.full((200_000,), 0.5, dtype=torch.float64)
    eta = 0.05  # small enough that nothing is clamped: 0.5 +- 10 sigma stays in (0, 1)
    shift_inv = (encoding.add_time_noise(t, eta, invert=True, seed=1) - t) / eta
    shift_raw = (encoding.add_time_noise(t, eta, invert=False, seed=1) - t) / eta
    assert abs(shift_inv.mean().item() - 1.0) < 0.02  # r ~ N(1, 1): noise delays spikes on average
    assert abs(shift_raw.mean().item()) < 0.02  # r ~ N(0, 1)
    assert abs(shift_raw.std().item() - 1.0) < 0.02


def test_noise_rejects_negative_eta():
    with pytest.raises(ValueError, match="eta"):
        encoding.add_time_noise(torch.zeros(3), -0.1)


# ----------------------------------------------------------------------------------------- poisson


def test_poisson_shape_values_and_seed():
    x = torch.rand(3, 5, generator=torch.Generator().manual_seed(0))
    s = encoding.poisson(x, 7, seed=11)
    assert s.shape == (7, 3, 5) and s.dtype == x.dtype
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(s, encoding.poisson(x, 7, seed=11))
    assert not torch.equal(encoding.poisson(x, 50, seed=11), encoding.poisson(x, 50, seed=12))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.float64])
def test_poisson_dtype_gives_the_same_spikes(dtype):
    """uint8 (what the C kernels read) or bool spikes are the float ones' draws, without a float copy."""
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(1))
    ref = encoding.poisson(x, 9, seed=3)
    s = encoding.poisson(x, 9, seed=3, dtype=dtype)
    assert s.dtype == dtype and s.shape == ref.shape
    assert 0 < int(ref.sum()) < ref.numel()
    assert torch.equal(s.to(ref.dtype), ref)


def test_poisson_generator_continues_stream():
    x = torch.full((10,), 0.5)
    g = torch.Generator().manual_seed(5)
    first, second = encoding.poisson(x, 20, generator=g), encoding.poisson(x, 20, generator=g)
    assert not torch.equal(first, second)
    g2 = torch.Generator().manual_seed(5)
    assert torch.equal(first, encoding.poisson(x, 20, generator=g2))


@pytest.mark.parametrize("scale", [1.0, 0.2, 3.0])
def test_poisson_rate_matches_intensity(scale):
    x = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.9, 1.0], dtype=torch.float64)
    n = 20_000
    rate = encoding.poisson(x, n, rate_scale=scale, seed=0).mean(0)
    p = torch.clamp(scale * x, 0, 1)
    sigma = torch.sqrt(p * (1 - p) / n)
    assert torch.all((rate - p).abs() <= 5 * sigma + 1e-12), (rate, p)
    assert rate[0] == 0 and (scale < 1 or rate[-1] == 1)


@pytest.mark.parametrize(
    "x, kwargs, err",
    [
        (torch.zeros(3), {"n_steps": 0}, ValueError),
        (torch.zeros(3), {"n_steps": 2, "rate_scale": -1.0}, ValueError),
        (torch.zeros(3, dtype=torch.uint8), {"n_steps": 2}, TypeError),
        (torch.tensor([0.5, 1.5]), {"n_steps": 2}, ValueError),
        (torch.tensor([-0.1]), {"n_steps": 2}, ValueError),
    ],
)
def test_poisson_rejects_bad_input(x, kwargs, err):
    with pytest.raises(err):
        encoding.poisson(x, **kwargs)


def test_poisson_empty_input():
    assert encoding.poisson(torch.zeros(0), 3).shape == (3, 0)


@given(st.integers(1, 5), st.floats(0, 1))
@settings(max_examples=30, deadline=None)
def test_poisson_extremes_are_deterministic(n_steps, value):
    x = torch.tensor([0.0, 1.0, value])
    s = encoding.poisson(x, n_steps, seed=None)
    assert (s[:, 0] == 0).all() and (s[:, 1] == 1).all()
