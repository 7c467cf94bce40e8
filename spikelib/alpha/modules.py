"""Layers and networks of alpha neurons with synchronisation pulses (Comsa et al. 2021, §2.4-2.5).

Thin ``nn.Module`` wrappers over :func:`spikelib.alpha.functional.spike_times`: they hold the weights and
the trainable pulse times, nothing else.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from spikelib.alpha.functional import spike_times


def initial_pulse_times(n_pulses: int) -> torch.Tensor:
    """Evenly spaced pulse times (i + 1) / (n + 1) over the input interval [0, 1] (§2.4)."""
    return torch.arange(1, n_pulses + 1, dtype=torch.float64) / (n_pulses + 1)


class AlphaLayer(nn.Module):
    """A fully connected layer of alpha neurons.

    ``weight`` has shape (n_in + n_pulses, n_out): rows for the real inputs first, then one row per
    synchronisation pulse (the authors' order). The pulse times live in ``pulse_times`` (n_pulses,); a
    network may share one pulse-time vector between layers (the Boolean tasks use one pulse for all).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        n_pulses: int = 0,
        tau: float = 1.0,
        theta: float = 1.0,
        clip_derivative: float = 0.0,
        pulse_times: nn.Parameter | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if n_in < 1 or n_out < 1 or n_pulses < 0:
            raise ValueError(f"need n_in >= 1, n_out >= 1, n_pulses >= 0; got {n_in}, {n_out}, {n_pulses}")
        self.n_in, self.n_out, self.n_pulses = n_in, n_out, n_pulses
        self.tau, self.theta, self.clip_derivative = float(tau), float(theta), float(clip_derivative)
        self.weight = nn.Parameter(torch.zeros(n_in + n_pulses, n_out, dtype=dtype))
        if pulse_times is None:
            pulse_times = nn.Parameter(initial_pulse_times(n_pulses).to(dtype))
        elif pulse_times.numel() != n_pulses:
            raise ValueError(f"shared pulse_times has {pulse_times.numel()} entries, layer needs {n_pulses}")
        self.pulse_times = pulse_times

    def glorot_(self, nonpulse_mean_multiplier: float = 0.0, pulse_mean_multiplier: float = 0.0,
                generator: torch.Generator | None = None) -> None:
        """The paper's Glorot variant (§2.5): N(mult * sigma, sigma) with sigma = sqrt(2 / (n_in + n_out + n_pulses)).

        The authors' code counts the pulses in the fan-in; the paper writes fan_in + fan_out.
        """
        sigma = math.sqrt(2.0 / (self.n_in + self.n_out + self.n_pulses))
        with torch.no_grad():
            noise = torch.randn(self.weight.shape, generator=generator, dtype=torch.float64) * sigma
            mean = torch.full_like(noise, nonpulse_mean_multiplier * sigma)
            mean[self.n_in:] = pulse_mean_multiplier * sigma
            self.weight.copy_(mean + noise)

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        if t_in.shape[-1] != self.n_in:
            raise ValueError(f"layer expects {self.n_in} input times, got {t_in.shape[-1]}")
        if self.n_pulses:
            pulses = self.pulse_times.to(t_in.dtype).expand(*t_in.shape[:-1], self.n_pulses)
            t_in = torch.cat([t_in, pulses], dim=-1)
        return spike_times(t_in, self.weight, self.tau, self.theta, clip_derivative=self.clip_derivative)

    def extra_repr(self) -> str:
        return (f"n_in={self.n_in}, n_out={self.n_out}, n_pulses={self.n_pulses}, tau={self.tau:g}, "
                f"theta={self.theta:g}, clip_derivative={self.clip_derivative:g}")


class AlphaNetwork(nn.Module):
    """A feed-forward network of :class:`AlphaLayer` modules, e.g. ``sizes=(784, 340, 10)``.

    ``n_pulses`` pulses per layer; ``shared_pulses=True`` uses one set of pulse times for every layer
    (each layer still has its own pulse weights), as for the Boolean tasks (§2.6.1).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        n_pulses: int = 0,
        tau: float = 1.0,
        theta: float = 1.0,
        clip_derivative: float = 0.0,
        shared_pulses: bool = False,
        nonpulse_mean_multiplier: float = 0.0,
        pulse_mean_multiplier: float = 0.0,
        seed: int | None = 0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {list(sizes)}")
        self.sizes = tuple(int(s) for s in sizes)
        shared = nn.Parameter(initial_pulse_times(n_pulses).to(dtype)) if shared_pulses else None
        self.shared_pulses = shared_pulses
        self.layers = nn.ModuleList(
            AlphaLayer(n_in, n_out, n_pulses=n_pulses, tau=tau, theta=theta, clip_derivative=clip_derivative,
                       pulse_times=shared, dtype=dtype)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])
        )
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        for layer in self.layers:
            layer.glorot_(nonpulse_mean_multiplier, pulse_mean_multiplier, generator=gen)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].weight.dtype

    def forward(self, t_in: torch.Tensor, *, all_layers: bool = False):
        """Output spike times (..., n_out); with ``all_layers=True`` the list of every layer's times."""
        times = []
        t = t_in.to(self.dtype)
        for layer in self.layers:
            t = layer(t)
            times.append(t)
        return times if all_layers else t

    def weight_parameters(self) -> list[nn.Parameter]:
        return [layer.weight for layer in self.layers]

    def pulse_parameters(self) -> list[nn.Parameter]:
        seen, out = set(), []
        for layer in self.layers:
            if layer.n_pulses and id(layer.pulse_times) not in seen:
                seen.add(id(layer.pulse_times))
                out.append(layer.pulse_times)
        return out

    @torch.no_grad()
    def clamp_pulses_(self) -> None:
        """Pulse times may not become negative (the authors clamp after every update)."""
        for p in self.pulse_parameters():
            p.clamp_(min=0.0)

    def n_parameters(self) -> int:
        """Weights plus pulse times; for i-h-o with p pulses per layer, (i + p) h + (h + p) o + 2 p
        (Comsa et al. 2021b, §2.8)."""
        n = sum(layer.weight.numel() for layer in self.layers)
        n += sum(p.numel() for p in self.pulse_parameters())
        return n
