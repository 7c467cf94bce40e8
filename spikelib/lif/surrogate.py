"""Spike functions: a Heaviside step forward, a surrogate derivative backward.

Every spike function has the signature ``f(v, threshold, fire_on="ge") -> spikes``. With ``x = v - theta``
the forward pass is the step

    s = 1[x >= 0]   (fire_on="ge": Roy et al. 2019, eq. 2)
    s = 1[x > 0]    (fire_on="gt": Hübotter et al.'s code)

returned as 0./1. in the dtype of ``v``. The step has derivative zero almost everywhere, so the backward
pass substitutes ``ds/dv = g(x)``:

- :func:`sigmoid`: ``g(x) = k sigma'(k x) = k e^{-kx} / (1 + e^{-kx})^2``; with ``k = 1`` (the default)
  it is Roy et al.'s hidden-layer derivative (§2.1, eq. 4).
- :func:`fast_sigmoid`: ``g(x) = 1 / (1 + k |x|)^2``, the derivative of ``x / (1 + k|x|)`` (SuperSpike,
  Zenke & Ganguli 2018; the form and default ``k = 25`` of snntorch's ``fast_sigmoid``). Peak 1 at x = 0.
- :func:`straight_through`: ``g = s / theta``: ``1/theta`` where the neuron spiked, 0 elsewhere.
  Hübotter et al.'s code divides the emitted spike by ``theta`` in the backward pass only and lets the
  gradient through the step wherever it fired (§2.2, "straight-through estimate").
- :func:`heaviside`: the step with no gradient at all.

Neither ``threshold`` nor ``fire_on`` receives a gradient. :func:`get` turns a name into one of these.
"""

from __future__ import annotations

from typing import Callable

import torch

FIRE_ON = ("ge", "gt")

SpikeFn = Callable[..., torch.Tensor]


def check_fire_on(fire_on: str) -> None:
    """Raise ``ValueError`` unless ``fire_on`` is one of :data:`FIRE_ON`."""
    if fire_on not in FIRE_ON:
        raise ValueError(f"fire_on must be 'ge' (v >= threshold) or 'gt' (v > threshold), got {fire_on!r}")


def _step(x: torch.Tensor, fire_on: str) -> torch.Tensor:
    return ((x >= 0) if fire_on == "ge" else (x > 0)).to(x.dtype)


class _SurrogateSpike(torch.autograd.Function):
    """Heaviside forward; ``grad_v = grad_s * derivative(x, s)`` backward, ``x = v - threshold``."""

    @staticmethod
    def forward(ctx, v, threshold, fire_on, derivative):
        x = v - threshold
        s = _step(x, fire_on)
        ctx.derivative = derivative
        ctx.save_for_backward(x, s)
        return s

    @staticmethod
    def backward(ctx, grad_s):
        x, s = ctx.saved_tensors
        return grad_s * ctx.derivative(x, s), None, None, None


def _spike(v: torch.Tensor, threshold: float, fire_on: str, derivative) -> torch.Tensor:
    check_fire_on(fire_on)
    if not torch.is_floating_point(v):
        raise TypeError(f"membrane potentials must be floating point, got {v.dtype}")
    return _SurrogateSpike.apply(v, threshold, fire_on, derivative)


def sigmoid(v: torch.Tensor, threshold: float, fire_on: str = "ge", *, slope: float = 1.0) -> torch.Tensor:
    """Step forward; backward ``k sigma'(k (v - theta)) = k e^{-kx} / (1 + e^{-kx})^2`` (Roy et al. 2019, eq. 4).

    ``slope`` is k; Roy et al. use k = 1. Use ``functools.partial(sigmoid, slope=k)`` to pick another.
    """
    # sigma (1 - sigma) is the same function as the exponential form but never forms inf / inf.
    def derivative(x, s):
        sig = torch.sigmoid(slope * x)
        return slope * sig * (1.0 - sig)

    return _spike(v, threshold, fire_on, derivative)


def fast_sigmoid(v: torch.Tensor, threshold: float, fire_on: str = "ge", *, slope: float = 25.0) -> torch.Tensor:
    """Step forward; backward ``1 / (1 + k |v - theta|)^2`` (SuperSpike's fast sigmoid, peak 1)."""
    return _spike(v, threshold, fire_on, lambda x, s: 1.0 / (1.0 + slope * x.abs()) ** 2)


# MIRROR(lif-surrogate): keep in lockstep with spikelib/lif/_sae_backward.c:neuron_grad; tested by tests/test_conv_sae.py::test_kernel_matches_torch_reference
def straight_through(v: torch.Tensor, threshold: float, fire_on: str = "ge") -> torch.Tensor:
    """Step forward; backward ``s / theta``: 1/theta where the neuron fired, 0 elsewhere (Hübotter et al.)."""
    return _spike(v, threshold, fire_on, lambda x, s: s / threshold)


def heaviside(v: torch.Tensor, threshold: float, fire_on: str = "ge") -> torch.Tensor:
    """The step alone, no gradient (a constant for autograd)."""
    check_fire_on(fire_on)
    return _step(v.detach() - threshold, fire_on)


SURROGATES: dict[str, SpikeFn] = {
    "sigmoid": sigmoid,
    "fast_sigmoid": fast_sigmoid,
    "straight_through": straight_through,
    "heaviside": heaviside,
}


def get(surrogate: str | SpikeFn) -> SpikeFn:
    """The spike function for a name in :data:`SURROGATES`, or ``surrogate`` itself if it is callable."""
    if callable(surrogate):
        return surrogate
    try:
        return SURROGATES[surrogate]
    except (KeyError, TypeError):
        raise ValueError(f"unknown surrogate {surrogate!r}; use one of {sorted(SURROGATES)} or a callable") from None

