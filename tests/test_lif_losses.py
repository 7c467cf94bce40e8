"""Roy et al.'s XOR-masked potential loss and the z-scored MSE of Table 1, on hand-computed examples."""

import numpy as np
import pytest
import torch

from spikelib.lif import roy_error, roy_loss, zscored_mse

# x: target (input) spikes; s: output spikes; V: output potential before reset (capped at theta = 1)
X = torch.tensor([1.0, 1.0, 0.0, 0.0])
S = torch.tensor([1.0, 0.0, 1.0, 0.0])
V = torch.tensor([1.0, 0.7, 1.0, 0.2], dtype=torch.float64)


def test_masked_error_and_loss_by_hand():
    # XOR(x, s) = [0, 1, 1, 0]; theta x - V = [0, 0.3, -1, -0.2]
    torch.testing.assert_close(roy_error(V, S, X, 1.0), torch.tensor([0.0, 0.3, -1.0, 0.0], dtype=torch.float64))
    assert roy_loss(V, S, X, 1.0).item() == pytest.approx(0.5 * (0.09 + 1.0))


def test_unmasked_error_and_loss_by_hand():
    """Fig. 3b's "mask = none": every neuron is pulled to 0 or theta."""
    torch.testing.assert_close(roy_error(V, S, X, 1.0, mask=False),
                               torch.tensor([0.0, 0.3, -1.0, -0.2], dtype=torch.float64))
    assert roy_loss(V, S, X, 1.0, mask=False).item() == pytest.approx(0.5 * (0.09 + 1.0 + 0.04))


def test_threshold_scales_the_target():
    v = torch.tensor([0.5, 2.0, 1.5], dtype=torch.float64)
    x, s = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 0.0])
    torch.testing.assert_close(roy_error(v, s, x, 2.0), torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64))


def test_gradient_is_minus_the_error_and_the_mask_is_constant():
    v = V.clone().requires_grad_()
    s = S.clone().requires_grad_()
    roy_loss(v, s, X, 1.0).backward()
    torch.testing.assert_close(v.grad, -roy_error(V, S, X, 1.0))  # eq. 9: dL/dV = -E
    assert s.grad is None or not s.grad.any()


def test_loss_sums_over_time_batch_and_neurons():
    gen = torch.Generator().manual_seed(0)
    v = torch.rand(4, 3, 6, generator=gen, dtype=torch.float64)
    s = (torch.rand(4, 3, 6, generator=gen) < 0.3).float()
    x = (torch.rand(4, 3, 6, generator=gen) < 0.3).float()
    total = sum(roy_loss(v[t], s[t], x[t], 1.0) for t in range(4))
    assert roy_loss(v, s, x, 1.0).item() == pytest.approx(total.item())


def test_zscored_mse_is_two_one_minus_r_times_783_over_784():
    gen = np.random.default_rng(0)
    counts_out = torch.from_numpy(gen.poisson(2.0, size=(5, 784)))
    image = torch.from_numpy(gen.random((5, 784)))
    mse = zscored_mse(counts_out, image)
    assert mse.shape == (5,) and mse.dtype == torch.float64
    r = np.array([np.corrcoef(counts_out[i].numpy(), image[i].numpy())[0, 1] for i in range(5)])
    np.testing.assert_allclose(mse.numpy(), 2 * (1 - r) * 783 / 784, rtol=1e-12)
    # by its definition, too: z-score each map with the sample std, mean of squared differences
    z = lambda a: (a - a.mean(axis=1, keepdims=True)) / a.std(axis=1, ddof=1, keepdims=True)  # noqa: E731
    expected = ((z(counts_out.numpy().astype(float)) - z(image.numpy())) ** 2).mean(axis=1)
    np.testing.assert_allclose(mse.numpy(), expected, rtol=1e-12)


def test_zscored_mse_limits():
    a = torch.arange(784, dtype=torch.float64)
    assert zscored_mse(a, 3 * a + 7).item() == pytest.approx(0.0, abs=1e-12)  # r = 1
    assert zscored_mse(a, -a).item() == pytest.approx(4 * 783 / 784)  # r = -1
    # a silent output map z-scores to zeros (MATLAB's zscore): MSE = mean z_in^2 = 783 / 784
    assert zscored_mse(torch.zeros(784, dtype=torch.int64), a).item() == pytest.approx(783 / 784)
    assert zscored_mse(torch.zeros(2, 3, 784), torch.rand(2, 3, 784)).shape == (2, 3)
    with pytest.raises(ValueError, match="shapes"):
        zscored_mse(torch.zeros(784), torch.zeros(783))
