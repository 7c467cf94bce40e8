"""Spike encoders.

- :func:`latency`: one spike per pixel, earlier for brighter ink (Comsa et al. 2021, §2.3 and Fig. 2).
- :func:`add_time_noise`: the spiking-autoencoder noise model (Comsa et al. 2021b, §2.6, eq. 6).
- :func:`poisson`: Bernoulli/Poisson rate coding over discrete time steps (Roy et al. 2019; Hübotter et al. 2021).
"""

from __future__ import annotations

import numpy as np
import torch

PIXEL_LEVELS = 256.0  # the authors divide by 256, not 255: the brightest ink spikes at 1/256


def _as_float_pixels(images) -> torch.Tensor:
    """(N, 28, 28) or (N, 784) uint8 images -> (N, n_pixels) float64 tensor of x = p / 256."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(
                f"images must be uint8 pixel values 0..255, got dtype {images.dtype}; "
                "pass the arrays returned by spikelib.data.load_mnist unchanged"
            )
        t = torch.from_numpy(np.array(images, copy=True))  # copy: cached arrays are read-only
    elif isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be a uint8 tensor of pixel values, got {images.dtype}")
        t = images
    else:
        raise TypeError(f"images must be a uint8 numpy array or torch tensor, got {type(images).__name__}")
    if t.ndim < 2:
        raise ValueError(f"images must have a batch dimension, got shape {tuple(t.shape)}")
    return t.flatten(1).to(torch.float64) / PIXEL_LEVELS  # flatten, not reshape(n, -1): n = 0 works too


def latency(images, *, invert: bool = True, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Latency-code images into one spike time per pixel.

    With ``x = p / 256`` for pixel value ``p``:

    - ``invert=True`` (the papers' default): ``t = 1 - x``. Bright ink spikes early (1/256 for p = 255);
      black pixels (p = 0) never spike: ``t = inf``.
    - ``invert=False``: ``t = x``; every pixel spikes, black ones at t = 0.

    Returns a float tensor (N, n_pixels), ``inf`` marking silent inputs.
    """
    x = _as_float_pixels(images)
    if invert:
        t = 1.0 - x
        t = torch.where(x == 0.0, torch.full_like(t, float("inf")), t)
    else:
        t = x
    return t.to(dtype)


def add_time_noise(
    times: torch.Tensor, eta: float, *, invert: bool = True, seed: int = 0
) -> torch.Tensor:
    """Noisy spike times for the spiking autoencoders (Comsa et al. 2021b, eq. 6).

    ``t' = max(0, min(t + eta * r, 1))`` with ``r ~ N(mu, 1)``, ``mu = 1`` for the inverted (default)
    encoding and ``mu = 0`` otherwise. A silent input is read as ``t = 1`` first; a result ``t' >= 1`` is
    silent (``inf``). The noise is drawn once from ``seed`` (the authors draw it once per dataset at load
    time), so the same seed gives the same noisy dataset.
    """
    if eta < 0:
        raise ValueError(f"noise factor eta must be >= 0, got {eta}")
    t = torch.where(torch.isinf(times), torch.ones_like(times), times)
    if eta > 0:
        gen = torch.Generator().manual_seed(int(seed))
        mu = 1.0 if invert else 0.0
        r = torch.randn(times.shape, generator=gen, dtype=torch.float64).to(device=times.device, dtype=times.dtype) + mu
        t = torch.clamp(t + eta * r, 0.0, 1.0)
    return torch.where(t >= 1.0, torch.full_like(t, float("inf")), t)


def poisson(
    intensities: torch.Tensor,
    n_steps: int,
    *,
    rate_scale: float = 1.0,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Rate-code intensities in [0, 1] as independent Bernoulli spikes per time step.

    ``P(spike at step k) = clamp(rate_scale * x, 0, 1)`` for every step, as in Roy et al. (2019, §2.1)
    and Hübotter et al. (2021, §2.2, scale 0.2). Returns spikes of shape ``(n_steps, *x.shape)``, of
    ``dtype`` (default: the intensities'; ``torch.uint8`` or ``torch.bool`` skip a float copy, for the C
    kernels). Pass ``generator`` to continue a random stream, or ``seed`` for a fresh repeatable one.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if rate_scale < 0:
        raise ValueError(f"rate_scale must be >= 0, got {rate_scale}")
    x = intensities
    if not torch.is_floating_point(x):
        raise TypeError(
            f"intensities must be floats in [0, 1], got {x.dtype}; divide uint8 images by 255 first"
        )
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError("intensities must lie in [0, 1]; divide uint8 images by 255 first")
    if generator is None:
        generator = torch.Generator(device=x.device)
        if seed is not None:
            generator.manual_seed(int(seed))
        else:
            generator.seed()
    p = torch.clamp(rate_scale * x, 0.0, 1.0)
    u = torch.rand((n_steps, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    spikes = u < p
    if dtype == torch.uint8:
        return spikes.view(torch.uint8)  # the same bytes
    return spikes.to(x.dtype if dtype is None else dtype)
