"""Losses of Hübotter et al.'s regularised convolutional SAE and its baselines (2021, §2.3, eqs. 9-12).

Normalised as the authors' code (B = batch size, T = time steps, per layer ``c`` the spike counts and
``U_T`` the final cumulative potential): ``Lrec = sum (x_hat - x)^2 / B`` (a per-image sum, Table 1's
numbers), ``L2 = sum W^2``, ``P1 = sum |U_T / T| / B``, ``P2 = sum (U_T / T)^2 / B``, ``A1 = sum c / T / B``
over all six layers, ``A1(l=3)`` the same on the latent layer only; the VAE adds ``beta KL`` (the per-image
sum over latent units, averaged over the batch). :func:`loss_terms` weighs them (eq. 12).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from spikelib.lif.conv_sae import LATENT, SAEOutput


def reconstruction_loss(xhat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Lrec = sum (x_hat - x)^2 / B`` (eq. 1 as the code normalises it: a per-image sum)."""
    if xhat.shape != x.shape:
        raise ValueError(f"shapes differ: {tuple(xhat.shape)} vs {tuple(x.shape)}")
    return (xhat - x).pow(2).sum() / x.shape[0]


def weight_l2(model: nn.Module) -> torch.Tensor:
    """``L2 = sum theta^2`` over all parameters (eq. 9)."""
    return sum(p.pow(2).sum() for p in model.parameters())


def potential_l1(u_final: Sequence[torch.Tensor], T: int) -> torch.Tensor:
    """``P1 = sum_l sum_i |U_li(T) / T| / B`` (eq. 10)."""
    return sum((u / T).abs().sum() / u.shape[0] for u in u_final)


def potential_l2(u_final: Sequence[torch.Tensor], T: int) -> torch.Tensor:
    """``P2 = sum_l sum_i (U_li(T) / T)^2 / B`` (eq. 10)."""
    return sum((u / T).pow(2).sum() / u.shape[0] for u in u_final)


def activity_l1(counts: Sequence[torch.Tensor], T: int) -> torch.Tensor:
    """``A1 = sum_l sum_i (1/T) sum_t phi_li(t) / B`` (eq. 11); pass one layer for ``A1(l=3)``."""
    return sum((c / T).sum() / c.shape[0] for c in counts)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` summed over latent units, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()


def loss_terms(model: nn.Module, out, x: torch.Tensor, weights: Mapping[str, float]) -> dict[str, torch.Tensor]:
    """The objective (eq. 12 and §2.3) and its terms: ``{"loss", "lrec", and every weighted term}``.

    ``weights`` holds ``l2, p1, p2, a1, a1_latent`` (and ``beta`` for the VAE); zero terms are skipped.
    """
    terms = {"lrec": reconstruction_loss(out.xhat, x)}
    if weights.get("l2", 0):
        terms["l2"] = weight_l2(model)
    if isinstance(out, SAEOutput):
        u_all = [out.all_u_final] if out.all_u_final is not None else out.u_final
        if weights.get("p1", 0):
            terms["p1"] = potential_l1(u_all, out.T)
        if weights.get("p2", 0):
            terms["p2"] = potential_l2(u_all, out.T)
        if weights.get("a1", 0):
            terms["a1"] = activity_l1([out.all_counts] if out.all_counts is not None else out.counts, out.T)
        if weights.get("a1_latent", 0):
            terms["a1_latent"] = activity_l1([out.counts[LATENT]], out.T)
    elif out.mu is not None:
        terms["kl"] = kl_divergence(out.mu, out.logvar)
    loss = terms["lrec"]
    for name, value in terms.items():
        if name != "lrec":
            loss = loss + (weights.get("beta", 1.0) if name == "kl" else weights[name]) * value
    terms["loss"] = loss
    return terms
