"""Losses on output spike times, with the authors' exact gradients (Comsa et al. 2021, §2.3; 2021b, §2.5).

Silent outputs (``inf``) carry no gradient through the neuron (see :func:`spike_times`); the losses below
give them the authors' stand-in values so that the reported loss stays finite.
"""

from __future__ import annotations

import torch

LOG_EPS = 1e-8


def spike_probabilities(t_out: torch.Tensor) -> torch.Tensor:
    """p = softmax(-t) over the last dimension; silent outputs get p = 0 (all silent: all zero)."""
    neg = torch.where(torch.isfinite(t_out), -t_out, torch.full_like(t_out, -float("inf")))
    m = neg.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(neg - m)
    s = e.sum(dim=-1, keepdim=True)
    return e / torch.where(s > 0, s, torch.ones_like(s))


class _SpikeCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t_out, labels):
        p = spike_probabilities(t_out)
        y = torch.nn.functional.one_hot(labels, t_out.shape[-1]).to(t_out.dtype)
        ctx.save_for_backward(p, y)
        return -(y * torch.log(p + LOG_EPS)).sum(dim=-1)

    @staticmethod
    def backward(ctx, grad):
        p, y = ctx.saved_tensors
        return (y - p) * grad.unsqueeze(-1), None


# MIRROR(alpha-class-loss): keep in lockstep with spikelib/alpha/_train.c:run_example; tested by tests/test_alpha_ctrain.py::test_boolean_updates_match_the_torch_loop_exactly
def classification_loss(t_out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example cross entropy ``-sum_k y_k log(p_k + 1e-8)``, p = softmax(-t) (§2.3).

    The backward pass returns exactly ``dL/dt_k = y_k - p_k`` as the authors do (the 1e-8 only keeps the
    reported value finite when the target neuron is silent).
    """
    if labels.dtype != torch.int64:
        labels = labels.long()
    return _SpikeCrossEntropy.apply(t_out, labels)


def predict(t_out: torch.Tensor) -> torch.Tensor:
    """The class of the earliest output spike (argmin t); -1 where no output spikes."""
    pred = torch.argmin(torch.where(torch.isfinite(t_out), t_out, torch.full_like(t_out, float("inf"))), dim=-1)
    return torch.where(torch.isfinite(t_out).any(dim=-1), pred, torch.full_like(pred, -1))


# MIRROR(alpha-ae-loss): keep in lockstep with spikelib/alpha/_train.c:run_example; tested by tests/test_alpha_ctrain.py::test_autoencoder_epoch_matches_the_torch_loop
def autoencoder_loss(t_out: torch.Tensor, target: torch.Tensor, latency: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction loss of the spiking autoencoder (Comsa et al. 2021b, §2.5).

    ``o = t_out - latency`` is compared with the clean input times ``target``; a silent target counts as
    1.0 and a silent output as ``o = 1.0``. Returns ``(objective, reported)`` per example: the objective
    ``0.5 * sum_k (o_k - target_k)^2`` has the authors' gradient ``dL/dt_k = o_k - target_k``; the reported
    loss is ``sum_k (o_k - target_k)^2 / n_pixels``.
    """
    tgt = torch.where(torch.isfinite(target), target, torch.ones_like(target)).to(t_out.dtype)
    silent = ~torch.isfinite(t_out)
    o = torch.where(silent, torch.ones_like(t_out), t_out - latency)
    sq = (o - tgt) ** 2
    return 0.5 * sq.sum(dim=-1), sq.detach().mean(dim=-1)
