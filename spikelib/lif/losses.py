"""Losses and metrics of Roy et al.'s spiking autoencoder (2019, §2.3 and §3.1).

- :func:`roy_error`, :func:`roy_loss` -- the XOR-masked membrane-potential loss (eqs. 5-8).
- :func:`zscored_mse` -- the "MSE" / "Spike-MSE" metric of §3.1 and Table 1.
"""

from __future__ import annotations

import torch


def roy_error(v_out: torch.Tensor, s_out: torch.Tensor, target_spikes: torch.Tensor, threshold: float,
              *, mask: bool = True) -> torch.Tensor:
    """Output error ``e = XOR(x_t, s_t) (theta x_t - V_t)`` (Roy et al. 2019, eqs. 5-7), element-wise.

    ``v_out`` and ``s_out`` are the output layer's potential before reset and its spikes, ``target_spikes``
    the input spike map ``x_t`` of the same step. The mask keeps only neurons that should have fired and
    did not, or fired and should not have; it is a constant for autograd. ``mask=False`` gives
    ``e = theta x_t - V_t`` everywhere ("mask = none", Fig. 3b).
    """
    target = target_spikes.to(v_out.dtype)
    e = threshold * target - v_out
    if mask:
        xor = (target_spikes.detach() != 0) ^ (s_out.detach() != 0)
        e = e * xor.to(v_out.dtype)
    return e


def roy_loss(v_out: torch.Tensor, s_out: torch.Tensor, target_spikes: torch.Tensor, threshold: float,
             *, mask: bool = True) -> torch.Tensor:
    """``L = 0.5 sum e^2`` over every element (eq. 8), with ``e`` from :func:`roy_error`.

    Its gradient by the potential is ``dL/dV = -e`` (eq. 9). For one time step (B, n) this is the
    authors' per-step loss; for (T, B, n) it is the sum of the per-step losses.
    """
    e = roy_error(v_out, s_out, target_spikes, threshold, mask=mask)
    return 0.5 * (e * e).sum()


def _zscore(x: torch.Tensor) -> torch.Tensor:
    """Standardise the last dimension with the sample std (n - 1); a constant map becomes all zeros
    (MATLAB's ``zscore``, which the authors use, divides by 1 where the std is 0)."""
    centred = x - x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, correction=1, keepdim=True)
    return centred / torch.where(std > 0, std, torch.ones_like(std))


def zscored_mse(counts_out: torch.Tensor, counts_in: torch.Tensor) -> torch.Tensor:
    """Roy et al.'s reconstruction "MSE" (§3.1, Table 1), one value per image: (..., n) -> (...).

    Both maps are z-scored per image over the last dimension (the n = 784 pixels; sample std), then
    ``mean_k (z_out - z_in)^2``. With ``counts_in`` the summed input spikes this is "Spike-MSE"; with the
    image it is "MSE". It equals ``2 (1 - r) (n - 1) / n``, r the per-image Pearson correlation.
    Integer counts are computed in float64.
    """
    if counts_out.shape != counts_in.shape:
        raise ValueError(f"shapes differ: {tuple(counts_out.shape)} vs {tuple(counts_in.shape)}")
    if counts_out.shape[-1] < 2:
        raise ValueError("need at least two pixels per image to z-score")
    dtype = torch.promote_types(counts_out.dtype, counts_in.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    d = _zscore(counts_out.to(dtype)) - _zscore(counts_in.to(dtype))
    return (d * d).mean(dim=-1)
