"""Synthetic temporal-coding tasks of Comsa et al. (2021), §2.6.1: noisy Boolean logic and concentric circles.

Inputs are spike times in [0, 1]. Following the authors' code (the paper's text states the opposite
assignment), ``False`` is encoded as 0.0 and ``True`` as 0.55, each plus U(0, 0.45) noise. The concentric
circles task draws a point uniformly from a disc of radius 0.3 (class 0) or an annulus of radii 0.4-0.5
(class 1) around (0.5, 0.5); its coordinates are the two spike times.
"""

from __future__ import annotations

import math

import torch

BOOLEAN_TASKS = ("and", "or", "xor", "circles")


def boolean_task(name: str, n: int, *, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples of task ``name``: (times (n, 2), labels (n,) int64)."""
    name = name.lower()
    if name not in BOOLEAN_TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(BOOLEAN_TASKS)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    if name == "circles":
        labels = torch.randint(0, 2, (n,), generator=gen)
        # uniform over the area: radius = sqrt(U(r0^2, r1^2))
        r0 = torch.where(labels == 0, torch.zeros(n), torch.full((n,), 0.4))
        r1 = torch.where(labels == 0, torch.full((n,), 0.3), torch.full((n,), 0.5))
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        r = torch.sqrt(r0.double() ** 2 + u * (r1.double() ** 2 - r0.double() ** 2))
        phi = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        times = torch.stack([0.5 + r * torch.cos(phi), 0.5 + r * torch.sin(phi)], dim=1)
        return times.to(dtype), labels
    bits = torch.randint(0, 2, (n, 2), generator=gen)
    times = 0.55 * bits.double() + 0.45 * torch.rand(n, 2, generator=gen, dtype=torch.float64)
    a, b = bits[:, 0], bits[:, 1]
    labels = {"and": a & b, "or": a | b, "xor": a ^ b}[name]
    return times.to(dtype), labels.long()
