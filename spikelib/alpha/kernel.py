"""Postsynaptic potential kernels.

:func:`alpha_kernel` is the alpha function of Comsa et al. (2021), "Temporal coding in spiking neural
networks with alpha synaptic function", §2.2: integrating the exponential synaptic current
``eps(t) = tau^-1 exp(-tau t)`` gives the membrane potential response to one input spike

    u(t) = w t exp(-tau t)    (t > 0; zero before the spike),

with synaptic weight ``w`` and decay constant ``tau`` (a rate: larger ``tau``, faster decay). It rises,
peaks at ``t_max = 1/tau`` with height ``w / (tau e)``, then decays (their Fig. 1a). A sum of shifted
kernels gives the membrane potential, their eq. (1).
"""

from __future__ import annotations

import math

import torch


def _tensor(x) -> torch.Tensor:
    # Python numbers become float64, matching the exact spike-time computations elsewhere in spikelib.
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float64)


def alpha_kernel(t, w=1.0, tau=1.0) -> torch.Tensor:
    """``w * t * exp(-tau * t)`` for ``t > 0``, else 0; ``t``, ``w`` and ``tau`` broadcast (torch rules)."""
    t, w, tau = _tensor(t), _tensor(w), _tensor(tau)
    # Clamping instead of torch.where keeps exp() finite for t << 0, so gradients stay finite too.
    tp = t.clamp(min=0)
    return w * tp * torch.exp(-tau * tp)


def alpha_peak(w=1.0, tau=1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form peak of :func:`alpha_kernel`: ``(t_max, u_max) = (1/tau, w/(tau e))``."""
    w, tau = _tensor(w), _tensor(tau)
    return 1.0 / tau, w / (tau * math.e)


def sampled_peak(t: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest sample of ``u`` along its last axis and the time ``t`` where it occurs."""
    i = u.argmax(dim=-1, keepdim=True)
    return t.expand_as(u).gather(-1, i).squeeze(-1), u.gather(-1, i).squeeze(-1)
