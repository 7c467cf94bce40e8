"""Regularised convolutional spiking autoencoder (Hübotter, Lanillos & Tomczak 2021) and its baselines.

Architecture (§3, Fig. 1A, Table 2; stride 1, no padding, no pooling, no bias)::

    input 1x28x28 -> conv 5x5 16 (16x24x24) -> conv 5x5 32 (32x20x20) -> fc nz (latent, "layer 3")
                  -> fc 12800 (32x20x20) -> deconv 5x5 16 (16x24x24) -> deconv 5x5 1 (1x28x28, read out)

- :class:`ConvSAE`: LIF neurons in every layer (:func:`spikelib.lif.huebotter_neuron`: ``u_t = tau u'_{t-1}
  + I_t``, eq. 2; spike if ``u_t > omega``, reset to 0, lower bound ``-omega``, eqs. 3-4). The paper bounds the
  potential at ``-omega``; the authors' code instead sets potentials below ``-omega`` to ``+omega`` (a bug:
  a strongly inhibited neuron jumps to the threshold), which is not reproduced. Input: noise
  ``x' = (1 - eps) x + eps U(0, 1)`` (eq. 5), Poisson spikes with probability ``0.2 x'`` per step (eq. 6).
  Read-out: ``x_hat = max_t U_t / s`` with ``U_t = tau (U_{t-1} + I_t)`` of the output layer and
  ``s = 0.2 T`` (eqs. 7-8 as the code computes them). Straight-through gradients (§2.2).
- :class:`ConvAE`, :class:`ConvVAE`: the baselines, the same layers with ReLU (none on the VAE's ``mu``,
  ``log sigma^2``), biases on the fully connected layers only (the authors' code; this is what gives
  Table 2's counts: AE = SAE + nz + 12800, VAE = the SAE with 2 nz latent outputs + 2 nz + 12800).

Losses (§2.3, eqs. 9-12; normalised as the authors' code, B = batch size, T = time steps, per layer ``c``
the spike counts and ``U_T`` the final cumulative potential): ``Lrec = sum (x_hat - x)^2 / B`` (a per-image
sum, Table 1's numbers), ``L2 = sum W^2``, ``P1 = sum |U_T / T| / B``, ``P2 = sum (U_T / T)^2 / B``,
``A1 = sum c / T / B`` over all six layers, ``A1(l=3)`` the same on the latent layer only; the VAE adds
``beta KL`` (the per-image sum over latent units, averaged over the batch). Table 1's models are
:data:`MODELS`.

Speed. On a CPU the SAE runs on an event-driven C kernel (:mod:`spikelib.lif._sae_kernel`): every input
spike adds its weight patch to the currents, so the cost follows the spike count, and one image at a time
goes through the layers, each over all T steps with its state in cache. Elsewhere (CUDA, or ``backend="torch"``) the reference path runs
the LIF layers of :mod:`spikelib.lif` one after the other, each synapse on all T steps at once (time folded
into the batch). Both give the same spikes, read-out and gradients (tests/test_conv_sae.py).

Training (App. A.1): Adam, learning rate 5e-4, batch 64, gradients clipped by value at 50, 10 epochs;
:func:`fit` checkpoints and resumes, :func:`train_sae_config` is the entry point of a sweep or notebook.
Metrics (§3.2, App. A.2, A.5): :func:`inactive_neuron_proportion`, :func:`active_neuron_ratio`,
:func:`active_firing_rate`, :func:`active_per_example_ratio`, :func:`class_distance_ratio`.

The book chapter (``notebooks/regularised_sae.ipynb``): :func:`experiment_configs` (Table-1 runs and the
bottleneck axes of a scale), :func:`search_configs` (Tables 4-6), :func:`timing_configs` /
:func:`time_config` (Fig. 3F-G), :func:`summarise_runs` (mean and SD over seeds), :func:`axis_series`,
:func:`best_runs`, :func:`parameter_table` (Table 2), :func:`snapshot` (Fig. 2), :func:`latent_examples` and
:func:`example_correlations` (Figs. 5-6).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spikelib._io import atomic_path
from spikelib.encoding import poisson
from spikelib.lif import _sae_kernel
from spikelib.lif.functional import cumulative_potential, huebotter_neuron, max_readout, simulate
from spikelib.lif.modules import LIFConv2d, LIFConvTranspose2d, LIFLayer

LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1", "fc2", "deconv1", "deconv2")
CUMULATIVE = ("current", "potential")  # what U accumulates: the authors' code / eq. 7 as printed
LATENT = LAYERS.index("fc1")  # "layer 3" of the paper
RATE_SCALE = 0.2  # Poisson rate scale and read-out scale s / T (App. A.2, Table 3)

#: Table 1's models: architecture kind and the non-zero loss weights. Table 1 lists l2 = 1e-5 for AEl2;
#: App. A.2 calls 1e-4 the optimum of Table 4 (the tables disagree; Table 1 is the compared model).
MODELS: dict[str, dict[str, Any]] = {
    "SAE": {"model": "sae"},
    "SAE-sparse": {"model": "sae", "p1": 0.005, "p2": 0.005, "a1": 0.01},
    "SAE-dense": {"model": "sae", "p2": 0.01, "a1_latent": 0.1},
    "AE": {"model": "ae"},
    "AEl2": {"model": "ae", "l2": 1e-5},
    "VAE": {"model": "vae", "l2": 0.01, "beta": 1.0},
    "betaVAE": {"model": "vae", "l2": 0.01, "beta": 0.1},
}

#: Everything a run needs; :func:`train_sae_config` fills what a config and the scale leave out.
DEFAULTS: dict[str, Any] = {
    "model": "sae", "nz": 100, "T": 100, "noise": 0.0, "decay": 0.99, "threshold": 1.0, "bounded": True,
    "cumulative": "current",
    "l2": 0.0, "p1": 0.0, "p2": 0.0, "a1": 0.0, "a1_latent": 0.0, "beta": 1.0,
    "lr": 5e-4, "batch_size": 64, "clip": 50.0, "epochs": 10, "n_train": 60000, "n_val": 10000,
    "dtype": "float32",
}

#: The distances of Table 8 (scipy names).
DISTANCES = ("euclidean", "seuclidean", "sqeuclidean", "cityblock", "correlation")


# ---------------------------------------------------------------- architecture


def layer_shapes(nz: int = 100, *, channels: Sequence[int] = (16, 32), kernel_size: int = 5,
                 image_size: int = 28) -> list[tuple[int, ...]]:
    """Per-example output shape of each of :data:`LAYERS` (torch layout)."""
    c1, c2 = channels
    h1 = image_size - kernel_size + 1
    h2 = h1 - kernel_size + 1
    if h2 < 1:
        raise ValueError(f"kernel_size {kernel_size} is too large for {image_size}x{image_size} images")
    return [(c1, h1, h1), (c2, h2, h2), (nz,), (c2 * h2 * h2,), (c1, h1, h1), (1, image_size, image_size)]


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters (Table 2)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class SAEOutput:
    """What one pass of :class:`ConvSAE` gives, per example (B examples, T steps).

    ``xhat`` (B, 1, 28, 28) the read-out; ``counts[l]`` and ``u_final[l]`` ``(B, *layer_shapes()[l])`` the
    spike counts and final cumulative potentials ``U_T`` of layer ``LAYERS[l]`` (both differentiable);
    ``latent_spikes`` (T, B, nz) 0/1 if requested. ``all_counts`` and ``all_u_final`` (B, all neurons)
    hold the same numbers in one tensor each, in no particular neuron order: the regularisers sum over all
    layers, and one sum is cheaper than six slices.
    """

    xhat: torch.Tensor
    counts: tuple[torch.Tensor, ...]
    u_final: tuple[torch.Tensor, ...]
    T: int
    latent_spikes: torch.Tensor | None = None
    all_counts: torch.Tensor | None = None
    all_u_final: torch.Tensor | None = None


class _KernelSAE(torch.autograd.Function):
    """The C kernel as an autograd function of the packed weight kernels."""

    @staticmethod
    def forward(ctx, spikes, spec, *kernels):
        keep = any(ctx.needs_input_grad[2:])
        xhat, argmax, counts, ufinal, flags, rec = _sae_kernel.forward(
            spikes, kernels, spec["geom"], alpha=spec["alpha"], theta=spec["theta"], fire_gt=spec["fire_gt"],
            lower=spec["lower"], decay=spec["decay"], scale=spec["scale"], keep_flags=keep,
            record_layer=spec["record"], cumulate_potential=spec["cumulate_potential"])
        ctx.spec = spec
        ctx.save_for_backward(spikes, flags, argmax, *kernels)
        ctx.set_materialize_grads(False)
        rec = rec if rec is not None else spikes.new_empty(0)
        ctx.mark_non_differentiable(rec)
        return xhat, counts, ufinal, rec

    @staticmethod
    def backward(ctx, g_xhat, g_counts, g_ufinal, _g_rec):
        spikes, flags, argmax, *kernels = ctx.saved_tensors
        if g_xhat is None and g_counts is None and g_ufinal is None:
            return (None, None, *[None] * len(kernels))
        spec = ctx.spec
        grads = _sae_kernel.backward(spikes, kernels, spec["geom"], flags, argmax, theta=spec["theta"],
                                     scale=spec["scale"], cumulate_potential=spec["cumulate_potential"],
                                     g_xhat=g_xhat, g_counts=g_counts, g_ufinal=g_ufinal)
        return (None, None, *grads)


class ConvSAE(nn.Module):
    """The spiking convolutional autoencoder (§2.2, §3): six LIF layers without bias.

    ``decay`` is tau (eq. 2; also the cumulative potential's decay, eq. 7), ``threshold`` omega;
    ``bounded`` clamps the potential at ``-omega`` (eq. 4); ``fire_on="gt"`` is the code's ``u > omega``
    (eq. 3 writes ``>=``). ``cumulative`` is what ``U`` (read-out, P1, P2) accumulates: ``"current"``, the
    authors' code, ``U_t = tau (U_{t-1} + I_t)``; ``"potential"``, eq. 7 as printed, ``U_t = tau U_{t-1} +
    u_t`` (the bounded potential before reset). Weights are drawn by :func:`init_weights_` from ``seed``.
    Parameters: ``nz = 100`` gives Table 2's 2,586,400.
    """

    def __init__(self, nz: int = 100, *, channels: Sequence[int] = (16, 32), kernel_size: int = 5,
                 image_size: int = 28, decay: float = 0.99, threshold: float = 1.0, bounded: bool = True,
                 fire_on: str = "gt", cumulative: str = "current", seed: int | None = 0):
        super().__init__()
        if nz < 1:
            raise ValueError(f"nz must be >= 1, got {nz}")
        if cumulative not in CUMULATIVE:
            raise ValueError(f"cumulative must be one of {CUMULATIVE}, got {cumulative!r}")
        self.cumulative = cumulative
        self.nz, self.channels, self.kernel_size, self.image_size = nz, tuple(channels), kernel_size, image_size
        self.shapes = layer_shapes(nz, channels=channels, kernel_size=kernel_size, image_size=image_size)
        neuron = huebotter_neuron(decay=decay, threshold=threshold, fire_on=fire_on)
        if not bounded:
            neuron["lower_bound"] = None
        self.neuron = neuron
        self.decay, self.threshold = decay, threshold
        c1, c2 = self.channels
        k = kernel_size
        n_flat = self.shapes[3][0]
        self.conv1 = LIFConv2d(1, c1, k, **neuron)
        self.conv2 = LIFConv2d(c1, c2, k, **neuron)
        self.fc1 = LIFLayer(n_flat, nz, **neuron)
        self.fc2 = LIFLayer(nz, n_flat, **neuron)
        self.deconv1 = LIFConvTranspose2d(c2, c1, k, **neuron)
        self.deconv2 = LIFConvTranspose2d(c1, 1, k, **neuron)
        if seed is not None:
            init_weights_(self, seed=seed)

    def layers(self) -> list:
        return [getattr(self, name) for name in LAYERS]

    # -- the kernel's layout: channels-last grids, weights as scatter patches K[c_in, j, i, c_out]
    def _geometry(self) -> list[tuple[int, ...]]:
        (c1, h1, _), (c2, h2, _), k, s = self.shapes[0], self.shapes[1], self.kernel_size, self.image_size
        n = c2 * h2 * h2
        return [(1, s, s, c1, h1, h1, k, k - 1), (c1, h1, h1, c2, h2, h2, k, k - 1), (n, 1, 1, self.nz, 1, 1, 1, 0),
                (self.nz, 1, 1, n, 1, 1, 1, 0), (c2, h2, h2, c1, h1, h1, k, 0), (c1, h1, h1, 1, s, s, k, 0)]

    def _kernels(self) -> list[torch.Tensor]:
        """The weights as scatter patches (differentiable views/copies of the parameters)."""
        c2, h2 = self.shapes[1][0], self.shapes[1][1]
        w = [layer.weight for layer in self.layers()]
        return [
            w[0].flip(2, 3).permute(1, 2, 3, 0),  # conv: an input at y reaches y - ky
            w[1].flip(2, 3).permute(1, 2, 3, 0),
            # fc1 reads conv2's grid channels-last: column (c, y, x) of W becomes row (y, x, c)
            w[2].view(self.nz, c2, h2, h2).permute(2, 3, 1, 0).reshape(-1, self.nz),
            # fc2 writes deconv1's input grid channels-last
            w[3].view(c2, h2, h2, self.nz).permute(3, 1, 2, 0).reshape(self.nz, -1),
            w[4].permute(0, 2, 3, 1),  # transposed conv: an input at y reaches y + ky
            w[5].permute(0, 2, 3, 1),
        ]

    def _from_kernel_layout(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, neurons of all layers, channels-last) -> per-layer tensors in torch layout."""
        out, start = [], 0
        B = flat.shape[0]
        for shape in self.shapes:
            n = math.prod(shape)
            part = flat[:, start:start + n]
            start += n
            if len(shape) == 3:
                c, h, w_ = shape
                out.append(part.view(B, h, w_, c).permute(0, 3, 1, 2))
            else:
                out.append(part)
        # fc2's neurons are deconv1's input grid: back to the (c, y, x) order of a torch Linear layer
        c2, h2 = self.shapes[1][0], self.shapes[1][1]
        out[3] = out[3].view(B, h2, h2, c2).permute(0, 3, 1, 2).reshape(B, -1)
        return tuple(out)

    def backend(self, requested: str = "auto", device: torch.device | None = None) -> str:
        """``"kernel"`` (CPU C kernel) or ``"torch"`` for ``requested`` in auto / kernel / torch."""
        device = device or self.conv1.weight.device
        if requested == "torch":
            return "torch"
        ok = (device.type == "cpu" and self.conv1.weight.dtype in (torch.float32, torch.float64)
              and _sae_kernel.available())
        if requested == "kernel":
            if not ok:
                raise RuntimeError("the LIF SAE kernel needs CPU float32/float64 weights and a C compiler; "
                                   "use backend='torch'")
            return "kernel"
        if requested != "auto":
            raise ValueError(f"backend must be 'auto', 'kernel' or 'torch', got {requested!r}")
        return "kernel" if ok else "torch"

    def forward(self, spikes: torch.Tensor, *, backend: str = "auto", record_latent: bool = False,
                readout_scale: float | None = None) -> SAEOutput:
        """Run the network on input spikes (T, B, 1, H, W) (0/1, any dtype; see :func:`encode`).

        ``readout_scale`` is s of eq. 8, default ``0.2 T``.
        """
        if spikes.ndim != 5 or tuple(spikes.shape[2:]) != (1, self.image_size, self.image_size):
            raise ValueError(f"spikes must be (T, B, 1, {self.image_size}, {self.image_size}), "
                             f"got {tuple(spikes.shape)}")
        T, B = spikes.shape[:2]
        if T < 1:
            raise ValueError("need at least one time step")
        scale = RATE_SCALE * T if readout_scale is None else readout_scale
        if not scale > 0:
            raise ValueError(f"readout_scale must be positive, got {scale!r}")
        if self.backend(backend, spikes.device) == "kernel":
            return self._forward_kernel(spikes, scale, record_latent)
        return self._forward_torch(spikes, scale, record_latent)

    def _forward_kernel(self, spikes, scale, record_latent) -> SAEOutput:
        T, B = spikes.shape[:2]
        x = spikes.reshape(T, B, -1).transpose(0, 1).to(torch.uint8).contiguous()
        lower = self.neuron["lower_bound"]
        spec = {"geom": self._geometry(), "alpha": 1.0 - self.neuron["leak"], "theta": float(self.threshold),
                "fire_gt": self.neuron["fire_on"] == "gt", "lower": None if lower is None else float(lower),
                "decay": float(self.decay), "scale": float(scale), "record": LATENT if record_latent else None,
                "cumulate_potential": self.cumulative == "potential"}
        xhat, counts, ufinal, rec = _KernelSAE.apply(x, spec, *self._kernels())
        latent = rec.transpose(0, 1).to(xhat.dtype) if record_latent else None
        return SAEOutput(xhat.view(B, 1, self.image_size, self.image_size), self._from_kernel_layout(counts),
                         self._from_kernel_layout(ufinal), T, latent, counts, ufinal)

    def _forward_torch(self, spikes, scale, record_latent) -> SAEOutput:
        dtype = self.conv1.weight.dtype
        s = spikes.to(dtype)
        counts, u_final, latent = [], [], None
        for name, layer in zip(LAYERS, self.layers()):
            if name == "fc1":
                s = s.flatten(2)
            elif name == "deconv1":
                s = s.unflatten(2, self.shapes[1])
            current = layer.currents(s)  # all T steps in one synaptic call
            s, v = simulate(current, **layer.neuron)
            if self.cumulative == "current":
                u_cum = cumulative_potential(current, decay=self.decay, decay_input=True, straight_through_decay=True)
            else:
                u_cum = cumulative_potential(v, decay=self.decay, decay_input=False, straight_through_decay=True)
            counts.append(s.sum(0))
            u_final.append(u_cum[-1])
            if name == "fc1" and record_latent:
                latent = s.detach()
        xhat = max_readout(u_cum, scale)
        return SAEOutput(xhat, tuple(counts), tuple(u_final), spikes.shape[0], latent,
                         torch.cat([c.flatten(1) for c in counts], 1), torch.cat([u.flatten(1) for u in u_final], 1))


def init_weights_(model: nn.Module, *, seed: int = 0, linear_gain: float | None = None) -> nn.Module:
    """Draw the weights as the authors do (App. A.1, eq. 13): ``N(0, sigma^2)``, ``sigma = sqrt(2 / n)``.

    ``n`` is the fan-in of a linear layer and ``k^2 C_in`` of a (transposed) convolution. The SAE's code
    doubles sigma of its linear layers (``linear_gain`` 2, the default for :class:`ConvSAE`, 1 otherwise).
    Biases get torch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, which the authors' code keeps.
    All draws come from one generator seeded with ``seed``, in :data:`LAYERS` order.
    """
    gen = torch.Generator().manual_seed(int(seed))
    if linear_gain is None:
        linear_gain = 2.0 if isinstance(model, ConvSAE) else 1.0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.kernel_size[0] * m.kernel_size[1] * m.in_channels
                gain = 1.0
            elif isinstance(m, nn.Linear):
                fan_in, gain = m.in_features, linear_gain
            else:
                continue
            std = gain * math.sqrt(2.0 / fan_in)
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64) * std)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(fan_in)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
    return model


class _ANNBase(nn.Module):
    """The baselines' layers (§3): ReLU convolutions without bias, linear layers with bias."""

    def __init__(self, nz: int, n_latent_out: int, channels, kernel_size, image_size):
        super().__init__()
        self.nz, self.image_size = nz, image_size
        self.shapes = layer_shapes(nz, channels=channels, kernel_size=kernel_size, image_size=image_size)
        c1, c2 = channels
        n_flat = self.shapes[3][0]
        self.conv1 = nn.Conv2d(1, c1, kernel_size, bias=False)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size, bias=False)
        self.fc1 = nn.Linear(n_flat, n_latent_out)
        self.fc2 = nn.Linear(nz, n_flat)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, kernel_size, bias=False)
        self.deconv2 = nn.ConvTranspose2d(c1, 1, kernel_size, bias=False)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.image_size, self.image_size):
            raise ValueError(f"images must be (B, 1, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        return self.fc1(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc2(z)).unflatten(1, self.shapes[1])
        return F.relu(self.deconv2(F.relu(self.deconv1(h))))


@dataclass
class AEOutput:
    """``xhat`` (B, 1, H, W); ``z`` the latent code (B, nz); ``mu``, ``logvar`` for the VAE only."""

    xhat: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


class ConvAE(_ANNBase):
    """Deterministic baseline: ReLU everywhere, the latent ``z = ReLU(fc1(.))``. nz = 100: 2,599,300."""

    def __init__(self, nz: int = 100, *, channels=(16, 32), kernel_size: int = 5, image_size: int = 28,
                 seed: int | None = 0):
        super().__init__(nz, nz, channels, kernel_size, image_size)
        if seed is not None:
            init_weights_(self, seed=seed)

    def forward(self, x: torch.Tensor) -> AEOutput:
        z = F.relu(self._encode(x))
        return AEOutput(self._decode(z), z)


class ConvVAE(_ANNBase):
    """Variational baseline: fc1 gives ``mu`` and ``log sigma^2`` (2 nz units, no activation), ``z = mu +
    sigma eps``. nz = 100: 3,879,400 parameters."""

    def __init__(self, nz: int = 100, *, channels=(16, 32), kernel_size: int = 5, image_size: int = 28,
                 seed: int | None = 0):
        super().__init__(nz, 2 * nz, channels, kernel_size, image_size)
        if seed is not None:
            init_weights_(self, seed=seed)

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> AEOutput:
        h = self._encode(x)
        mu, logvar = h[:, :self.nz], h[:, self.nz:]
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return AEOutput(self._decode(z), z, mu, logvar)


def build_model(kind: str, nz: int = 100, *, seed: int = 0, decay: float = 0.99, threshold: float = 1.0,
                bounded: bool = True, cumulative: str = "current", dtype: torch.dtype = torch.float32) -> nn.Module:
    """``"sae"``, ``"ae"`` or ``"vae"`` with latent size ``nz``, weights drawn from ``seed``."""
    if kind == "sae":
        model = ConvSAE(nz, decay=decay, threshold=threshold, bounded=bounded, cumulative=cumulative, seed=seed)
    elif kind == "ae":
        model = ConvAE(nz, seed=seed)
    elif kind == "vae":
        model = ConvVAE(nz, seed=seed)
    else:
        raise ValueError(f"model must be 'sae', 'ae' or 'vae' (or one of {sorted(MODELS)}), got {kind!r}")
    return model.to(dtype)


# ---------------------------------------------------------------- input


def add_noise(x: torch.Tensor, eps: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x' = (1 - eps) x + eps xi``, ``xi ~ U(0, 1)`` per pixel (eq. 5)."""
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"noise eps must lie in [0, 1], got {eps!r}")
    if eps == 0:
        return x
    xi = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (1.0 - eps) * x + eps * xi


def encode(x: torch.Tensor, T: int, *, noise: float = 0.0, rate: float = RATE_SCALE,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Images in [0, 1] (B, 1, H, W) -> Poisson spikes (T, B, 1, H, W): noise (eq. 5), then a spike with
    probability ``rate x'`` per step (eq. 6, :func:`spikelib.encoding.poisson`; without ``generator``, a
    fresh one seeded with 0)."""
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError("images must lie in [0, 1]: divide uint8 pixels by 255")
    return poisson(add_noise(x, noise, generator=generator), T, rate_scale=rate, generator=generator)


def as_images(pixels) -> torch.Tensor:
    """uint8 MNIST (N, 28, 28) (numpy or torch) -> float32 (N, 1, 28, 28) in [0, 1] (``/ 255``, as torchvision)."""
    # a copy: the cached MNIST arrays are read-only
    t = pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.array(pixels, copy=True))
    if t.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {t.dtype}")
    return (t.to(torch.float32) / 255.0).reshape(t.shape[0], 1, *t.shape[-2:])


# ---------------------------------------------------------------- losses


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


# ---------------------------------------------------------------- metrics (latent layer)


def _counts2d(counts) -> torch.Tensor:
    c = torch.as_tensor(counts)
    if c.ndim != 2:
        raise ValueError(f"expected (examples, neurons) activity, got shape {tuple(c.shape)}")
    return c


def inactive_neuron_proportion(counts) -> float:
    """INP: the fraction of neurons silent on every example of ``counts`` (examples, neurons).

    Works for spike counts, ReLU codes and VAE samples alike (silent: exactly 0).
    """
    c = _counts2d(counts)
    return float((c == 0).all(dim=0).to(torch.float64).mean())


def active_neuron_ratio(counts) -> float:
    """ANR = 1 - INP (§3.2)."""
    return 1.0 - inactive_neuron_proportion(counts)


def active_firing_rate(counts, T: int) -> float:
    """AFR: mean firing rate (spikes per step) of the neurons active on some example (§3.2, App. A.2).

    ``sum(counts) / (n_active T n_examples)``, as the authors' "density"; 0 when no neuron is active.
    """
    c = _counts2d(counts)
    n_active = int((c != 0).any(dim=0).sum())
    if n_active == 0:
        return 0.0
    return float(c.to(torch.float64).sum() / (n_active * T * c.shape[0]))


def active_per_example_ratio(counts) -> float:
    """RAE: average number of neurons active per example over the number active on some example (§3.2);
    0 when none is active."""
    c = _counts2d(counts)
    n_active = int((c != 0).any(dim=0).sum())
    if n_active == 0:
        return 0.0
    return float((c != 0).sum(dim=1).to(torch.float64).mean() / n_active)


def class_distance_ratio(representation, labels, metric: str = "euclidean") -> float:
    """``s_intra / s_inter`` (Table 1, Table 8): mean pairwise distance between examples of the same class
    over that between examples of different classes, for ``representation`` (examples, features).

    ``metric`` is a :func:`scipy.spatial.distance.pdist` name (:data:`DISTANCES`). For ``seuclidean``,
    features constant over the examples (dead neurons: zero variance) are dropped; pairs whose distance is
    undefined (``correlation`` with an all-constant example) are left out of both means; nan if nothing is
    left or all examples are at distance 0.
    """
    from scipy.spatial.distance import pdist

    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(labels).cpu())
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need (examples, features) and one label per example, got {x.shape} and {y.shape}")
    if metric == "seuclidean":
        x = x[:, x.var(axis=0, ddof=1) > 0]
        if x.shape[1] == 0:
            return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = pdist(x, metric=metric)
    i, j = np.triu_indices(len(x), k=1)  # pdist's pair order
    same = y[i] == y[j]
    ok = np.isfinite(d)
    if same.all() or not same.any():
        raise ValueError("need two examples of one class and examples of two classes")
    if not (same & ok).any() or not (~same & ok).any():
        return float("nan")  # e.g. correlation on an all-silent latent layer
    inter = d[~same & ok].mean()
    # identical representations have no structure to measure either
    return float(d[same & ok].mean() / inter) if inter > 0 else float("nan")


def class_distance_ratios(representation, labels, metrics: Sequence[str] = DISTANCES) -> dict[str, float]:
    """:func:`class_distance_ratio` for each of ``metrics`` (Table 8's columns by default)."""
    return {m: class_distance_ratio(representation, labels, m) for m in metrics}


def balanced_indices(labels, per_class: int = 10) -> np.ndarray:
    """The first ``per_class`` examples of each class, sorted by class (App. A.5: 100 examples, 10 per class)."""
    y = np.asarray(labels)
    out = []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)[:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {k} has only {len(idx)} examples, need {per_class}")
        out.append(idx)
    return np.concatenate(out)


def normalised_activity(representation) -> np.ndarray:
    """Latent activity scaled by its largest magnitude: [0, 1] for SAE rates and AE codes, [-1, 1] for the
    VAE (App. A.5); all zeros stay zeros."""
    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    m = np.abs(x).max() if x.size else 0.0
    return x / m if m > 0 else x


def cluster_order(matrix, *, metric: str = "euclidean", method: str = "average") -> np.ndarray:
    """Leaf order of scipy's hierarchical clustering of the rows of ``matrix`` (Figs. 5-6; seaborn's
    clustermap defaults). Use ``matrix.T`` for the columns."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    x = np.asarray(matrix, dtype=np.float64)
    if len(x) < 2:
        return np.arange(len(x))
    return leaves_list(linkage(x, method=method, metric=metric))


# ---------------------------------------------------------------- training


def resolve_config(config: Mapping[str, Any] | None = None, **settings) -> dict[str, Any]:
    """:data:`DEFAULTS`, then ``settings`` (e.g. a scale's), then ``config``; a Table-1 name in
    ``config["model"]`` (:data:`MODELS`) brings its loss weights, which explicit keys override.

    A ``regulariser`` key may also hold a Table-1 name or a mapping of loss weights.
    """
    config = dict(config or {})
    out = dict(DEFAULTS)
    out.update({k: v for k, v in settings.items() if k in DEFAULTS})
    reg = config.pop("regulariser", None)
    name = config.get("model", out["model"])
    if name in MODELS:
        out.update(MODELS[name])
        out["name"] = name
    if isinstance(reg, str):
        if reg not in MODELS:
            raise ValueError(f"unknown regulariser {reg!r}; use a mapping of weights or one of {sorted(MODELS)}")
        out.update({k: v for k, v in MODELS[reg].items() if k != "model"})
    elif isinstance(reg, Mapping):
        out.update(reg)
    elif reg is not None:
        raise TypeError(f"regulariser must be a Table-1 name or a mapping of weights, got {reg!r}")
    out.update({k: v for k, v in config.items() if k != "model" or v not in MODELS})
    unknown = set(out) - set(DEFAULTS) - {"name"}
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    if out["model"] not in ("sae", "ae", "vae"):
        raise ValueError(f"model must be 'sae', 'ae', 'vae' or one of {sorted(MODELS)}, got {out['model']!r}")
    if out["model"] != "sae" and any(out[k] for k in ("p1", "p2", "a1", "a1_latent")):
        raise ValueError("potential and activity regularisers apply to the SAE only")
    out.setdefault("name", out["model"].upper())
    return out


def make_model(config: Mapping[str, Any], *, seed: int, device: str | torch.device = "cpu") -> nn.Module:
    """The model of a resolved config (:func:`resolve_config`)."""
    return build_model(config["model"], config["nz"], seed=seed, decay=config["decay"],
                       threshold=config["threshold"], bounded=config["bounded"], cumulative=config["cumulative"],
                       dtype=getattr(torch, config["dtype"])).to(device)


def run_model(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], generator: torch.Generator | None,
              *, record_latent: bool = False):
    """One forward pass on clean images ``x`` (B, 1, H, W): the SAE sees noisy Poisson spikes over
    ``config["T"]`` steps, the baselines the noisy image (and the VAE draws its ``eps``)."""
    if isinstance(model, ConvSAE):
        return model(encode(x, config["T"], noise=config["noise"], generator=generator), record_latent=record_latent)
    xn = add_noise(x, config["noise"], generator=generator)
    return model(xn, generator=generator) if isinstance(model, ConvVAE) else model(xn)


def make_optimizer(model: nn.Module, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam at the config's learning rate (5e-4, App. A.1), torch's other defaults."""
    return torch.optim.Adam(model.parameters(), lr=config["lr"])


def train_step(model, optimizer, x: torch.Tensor, config: Mapping[str, Any], generator) -> dict[str, float]:
    """One Adam step on the batch ``x``; gradients clipped by value at ``config["clip"]``. Returns the
    loss terms as floats."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    terms = loss_terms(model, run_model(model, x, config, generator), x, config)
    terms["loss"].backward()
    if config["clip"]:
        torch.nn.utils.clip_grad_value_(model.parameters(), config["clip"])
    optimizer.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def latent_activity(out) -> torch.Tensor:
    """Latent activity per example (B, nz): SAE spike counts, AE codes, VAE samples ``z``."""
    return out.counts[LATENT].detach() if isinstance(out, SAEOutput) else out.z.detach()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0,
             labels: torch.Tensor | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """Validation metrics on images ``x`` (N, 1, H, W), batch by batch with a fixed encoding seed.

    ``lrec`` is the mean per-image sum of squared errors (Table 1). For the latent layer, INP, ANR, AFR and
    RAE are computed per batch (as the authors' running averages) and averaged; AFR for the SAE only.
    ``spikes_per_example`` counts all six layers' spikes, ``latent_spikes_per_example`` layer 3's. With
    ``labels``, ``distance_ratio`` holds :func:`class_distance_ratios` on 10 examples per class (App. A.5;
    fewer if a class has fewer) of the time-averaged latent activity (the first such examples of ``x``).
    """
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    bs = batch_size or config["batch_size"]
    sums: dict[str, float] = {}
    n_batches = 0
    for i in range(0, len(x), bs):
        xb = x[i:i + bs]
        out = run_model(model, xb, config, gen)
        z = latent_activity(out)
        vals = {"lrec": float(reconstruction_loss(out.xhat, xb)) * len(xb),
                "inp": inactive_neuron_proportion(z), "anr": active_neuron_ratio(z),
                "rae": active_per_example_ratio(z)}
        if isinstance(out, SAEOutput):
            vals["afr"] = active_firing_rate(z, out.T)
            vals["spikes_per_example"] = float(sum(c.sum() for c in out.counts))
            vals["latent_spikes_per_example"] = float(z.sum())
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v
        n_batches += 1
    n = max(len(x), 1)
    result = {k: (v / n if k in ("lrec", "spikes_per_example", "latent_spikes_per_example") else v / max(n_batches, 1))
              for k, v in sums.items()}
    if labels is not None:
        rep, y = latent_examples(model, x, labels, config, seed=seed)
        result["distance_ratio"] = class_distance_ratios(rep, y)
    return result


def latent_examples(model: nn.Module, x: torch.Tensor, labels, config: Mapping[str, Any], *, seed: int = 0,
                    per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """App. A.5's latent matrix: :func:`represent` of the first ``per_class`` images of each class of ``x``
    (fewer, at least 2, if a class has fewer), sorted by class; returns ``(representation, labels)``.
    :func:`evaluate` computes the distance ratios (Tables 1, 8) on it, with its seed, so Figs. 5-6 match."""
    y = np.asarray(torch.as_tensor(labels).cpu())
    k = int(min(per_class, np.bincount(y).min() if len(y) else 0))  # fewer on a small validation set
    idx = balanced_indices(y, max(k, 2))
    rep = represent(model, x[torch.as_tensor(idx, device=x.device)], config, seed=seed)
    return rep, y[idx]


def fit(model: nn.Module, x_train: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0,
        val: tuple[torch.Tensor, torch.Tensor] | None = None, checkpoint: str | Path | None = None,
        checkpoint_every: int | None = None, on_epoch: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train ``model`` for ``config["epochs"]`` epochs on ``x_train`` (N, 1, H, W) in [0, 1]; returns
    ``{"history": [one dict per epoch]}``.

    Batches are drawn from a shuffled order and encoded with one generator seeded with ``seed``. After
    every epoch (and every ``checkpoint_every`` steps) the model, optimiser, generator state and history
    are written atomically to ``checkpoint``; a later call with the same path continues from there and
    gives the same result as an uninterrupted run. Once the last epoch is done the file is rewritten with
    the weights and history only (a third of the size: no Adam moments); such a finished checkpoint makes a
    later call return at once, and cannot be trained further (an error). ``val = (images, labels)`` adds
    :func:`evaluate`'s metrics (prefixed ``val_``) to every epoch's record.
    """
    opt = make_optimizer(model, config)
    gen = torch.Generator(device=x_train.device).manual_seed(int(seed))
    history: list[dict] = []
    epoch_state = None  # (permutation, next step, running sums) when resuming mid-epoch
    finished = False  # the checkpoint is a finished run's: weights and history only
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        state = torch.load(path, weights_only=True, map_location=x_train.device)
        model.load_state_dict(state["model"])
        history = state["history"]
        finished = "optimizer" not in state
        if finished and len(history) < config["epochs"]:
            raise ValueError(f"{path} holds a finished {len(history)}-epoch run without its optimiser state; it "
                             f"cannot be continued to {config['epochs']} epochs: remove it to train again")
        if not finished:
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"].cpu())  # generator states are CPU byte tensors
            epoch_state = state.get("epoch_state")
        del state

    def save(es=None) -> None:
        if path is None:
            return
        with atomic_path(path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                        "history": history, "epoch_state": es}, tmp)

    def save_finished() -> None:
        # what load_model and a rerun need: the optimiser and generator states are of no further use
        if path is None or finished:
            return
        with atomic_path(path) as tmp:
            torch.save({"model": model.state_dict(), "history": history}, tmp)

    bs = config["batch_size"]
    for epoch in range(len(history), config["epochs"]):
        if epoch_state is not None:
            perm, start, sums = epoch_state["perm"], epoch_state["step"], epoch_state["sums"]
            seconds, cpu_seconds = epoch_state["seconds"], epoch_state["cpu_seconds"]
            epoch_state = None
        else:
            perm = torch.randperm(len(x_train), generator=gen, device=x_train.device)
            start, sums, seconds, cpu_seconds = 0, {}, 0.0, 0.0
        n_steps = math.ceil(len(x_train) / bs)
        for step in range(start, n_steps):
            t0, c0 = time.perf_counter(), time.process_time()
            terms = train_step(model, opt, x_train[perm[step * bs:(step + 1) * bs]], config, gen)
            seconds += time.perf_counter() - t0
            cpu_seconds += time.process_time() - c0
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
                save({"perm": perm, "step": step + 1, "sums": sums, "seconds": seconds, "cpu_seconds": cpu_seconds})
        # wall and process CPU time of the training steps (the CPU time is robust to other jobs on the cores)
        record = {"epoch": epoch, "steps": n_steps, "seconds": seconds, "seconds_per_step": seconds / n_steps,
                  "cpu_seconds_per_step": cpu_seconds / n_steps}
        record.update({f"train_{k}": v / n_steps for k, v in sums.items()})
        if val is not None:
            record.update({f"val_{k}": v for k, v in
                           evaluate(model, val[0], config, seed=seed + 1, labels=val[1]).items()})
        history.append(record)
        if epoch + 1 < config["epochs"]:
            save()
        else:
            save_finished()
            finished = True
        if on_epoch is not None:
            on_epoch(record)
    save_finished()  # a full checkpoint of a run that had already finished (written before this rule)
    return {"history": history}


def train_sae_config(config: Mapping[str, Any], *, scale: str, device: str = "cpu", seed: int = 0,
                     checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Train and validate one configuration; JSON-able results (for :func:`spikelib.sweep.run_sweep`).

    ``config``: ``model`` (``sae``/``ae``/``vae`` or a Table-1 name of :data:`MODELS`) and any of
    :data:`DEFAULTS` (``nz``, ``T``, ``noise``, ``decay``, loss weights ``l2 p1 p2 a1 a1_latent beta``,
    ``epochs``, ``n_train``, ``n_val``, ...); what it leaves out comes from
    ``spikelib.scales.settings("regularised_sae", scale)``, then :data:`DEFAULTS`. Data: the first
    ``n_train`` MNIST training images, validation on the first ``n_val`` test images.

    Returns ``{"config", "n_parameters", "history", "final", "seconds_per_step", "backend", "device"}``;
    ``final`` is the last epoch's validation metrics (``lrec``, ``inp``, ``anr``, ``afr``, ``rae``,
    ``spikes_per_example``, ``distance_ratio``).
    """
    from spikelib import data
    from spikelib.scales import settings

    config = dict(config)
    config.pop("search", None)  # a label of search_configs: keeps those configs apart from Table 1's
    if config.pop("seed", seed) != seed:  # spikelib.sweep passes config["seed"] as seed
        raise ValueError(f"config seed {config.get('seed')} differs from seed={seed}")
    cfg = resolve_config(config, **settings("regularised_sae", scale))
    torch.manual_seed(seed)  # nothing should draw from the global stream; this only guards against it
    xs, _ = data.load_mnist("train")
    xt, yt = data.load_mnist("test")
    dtype = getattr(torch, cfg["dtype"])
    x_train = as_images(xs[:cfg["n_train"]]).to(device=device, dtype=dtype)
    x_val = as_images(xt[:cfg["n_val"]]).to(device=device, dtype=dtype)
    y_val = torch.from_numpy(np.array(yt[:cfg["n_val"]], copy=True)).to(device)
    model = make_model(cfg, seed=seed, device=device)
    out = fit(model, x_train, cfg, seed=seed, val=(x_val, y_val), checkpoint=checkpoint,
              checkpoint_every=50 if cfg["model"] == "sae" else None)
    history = out["history"]
    final = {k[4:]: v for k, v in history[-1].items() if k.startswith("val_")} if history else {}
    backend = model.backend(device=torch.device(device)) if isinstance(model, ConvSAE) else "torch"
    return {"config": cfg, "n_parameters": n_parameters(model), "history": history, "final": final,
            "seconds_per_step": float(np.mean([h["seconds_per_step"] for h in history])) if history else None,
            "backend": backend, "device": str(device)}


def load_model(checkpoint: str | Path, config: Mapping[str, Any], *, scale: str, seed: int = 0,
               device: str = "cpu") -> nn.Module:
    """The model trained by :func:`train_sae_config` (or :func:`fit`) with this config, from its checkpoint
    (``run_sweep(..., keep_checkpoints=True)`` keeps them), for figures that need the weights or spikes."""
    from spikelib.scales import settings

    config = {k: v for k, v in config.items() if k not in ("seed", "search")}
    cfg = resolve_config(config, **settings("regularised_sae", scale))
    model = make_model(cfg, seed=seed, device=device)
    model.load_state_dict(torch.load(checkpoint, weights_only=True, map_location=device)["model"])
    return model.eval()


@torch.no_grad()
def represent(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0) -> np.ndarray:
    """Latent representation (examples, nz) of images ``x`` (App. A.5): SAE firing rates (spike counts / T),
    AE codes, VAE samples ``z``; one pass with an encoding generator seeded with ``seed``."""
    model.eval()
    out = run_model(model, x, config, torch.Generator(device=x.device).manual_seed(int(seed)))
    rep = latent_activity(out)
    if isinstance(out, SAEOutput):
        rep = rep / out.T
    return rep.cpu().numpy()


def time_train_step(config: Mapping[str, Any] | None = None, *, repeats: int = 3, seed: int = 0,
                    device: str = "cpu", backend: str = "auto") -> dict[str, Any]:
    """Seconds per training step (Fig. 3F-G) on random MNIST-like images: median of ``repeats`` steps after
    one warm-up step. ``config`` as for :func:`train_sae_config` (``T``, ``batch_size``, ``nz``, ``model``)."""
    cfg = resolve_config(config)
    gen = torch.Generator().manual_seed(seed)
    dtype = getattr(torch, cfg["dtype"])
    # MNIST-like: 19% of the pixels ink (App. A.2's mean 0.13), the rest black
    x = (torch.rand(cfg["batch_size"], 1, 28, 28, generator=gen) < 0.19).to(dtype) * torch.rand(
        cfg["batch_size"], 1, 28, 28, generator=gen, dtype=dtype).clamp(0.5, 1.0)
    x = x.to(device)
    model = make_model(cfg, seed=seed, device=device)
    opt = make_optimizer(model, cfg)
    if isinstance(model, ConvSAE) and backend != "auto":
        orig = model.forward
        model.forward = lambda s, **kw: orig(s, backend=backend, **kw)  # type: ignore[method-assign]
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times = []
    for i in range(repeats + 1):
        sync()
        t0 = time.perf_counter()
        train_step(model, opt, x, cfg, gen)
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    return {"seconds_per_step": float(np.median(times)), "all_seconds": times, "T": cfg["T"],
            "batch_size": cfg["batch_size"], "model": cfg["model"], "nz": cfg["nz"]}


# ---------------------------------------------------------------- the book chapter: configs, summaries, figures

#: The bottleneck axes of App. A.4.1 (Figs. 3A-D, 4): settings key -> config key.
AXES: dict[str, str] = {"latent_sizes": "nz", "time_steps": "T", "noise_levels": "noise", "decays": "decay"}

#: Which Table-1 models each axis varies (the paper's panels: Fig. 3A, C all compared models but the
#: unregularised SAE; Fig. 3B, D and Fig. 4 the two regularised SAEs). A scale may narrow this with an
#: ``axis_models`` mapping of the same shape in its settings.
AXIS_MODELS: dict[str, tuple[str, ...]] = {
    "latent_sizes": ("SAE-sparse", "SAE-dense", "AE", "AEl2", "VAE", "betaVAE"),
    "time_steps": ("SAE-sparse", "SAE-dense"),
    "noise_levels": ("SAE-sparse", "SAE-dense", "AE", "AEl2", "VAE", "betaVAE"),
    "decays": ("SAE-sparse", "SAE-dense"),
}

#: Values the paper gives in its text and Table 7 for the latent activity of the Table-1 models (mean, SD
#: over 5 runs, §3.2; INP of the SAEs from Table 7's matching rows); None where the paper gives no number.
PAPER_ACTIVITY: dict[str, dict[str, tuple[float, float] | None]] = {
    "SAE": {"inp": (0.83, 0.20), "anr": (0.17, 0.20), "afr": (0.75, 0.11), "rae": (0.95, 0.04)},
    "SAE-sparse": {"inp": (0.07, 0.04), "anr": (0.93, 0.04), "afr": (0.06, 0.02), "rae": (0.61, 0.02)},
    "SAE-dense": {"inp": (0.00, 0.00), "anr": (1.0, 0.0), "afr": (0.21, 0.02), "rae": (1.0, 0.0)},
    "AE": {"inp": None, "anr": (0.22, 0.09), "afr": None, "rae": None},
    "AEl2": {"inp": None, "anr": (0.41, 0.13), "afr": None, "rae": None},
    "VAE": {"inp": None, "anr": None, "afr": None, "rae": None},
    "betaVAE": {"inp": None, "anr": None, "afr": None, "rae": None},
}

#: Table 7 (App. A.2): SAE regulariser combinations after 10 epochs, 5 runs, as printed. The paper's text gives
#: each row's non-zero weights without their columns (l2, p1, p2, a1, a1(l=3)), so a row of k numbers fits any
#: k of the five. ``printed``: the weights in the row's order; ``lrec``, ``afr``, ``inp`` (layer 3): (mean, SD);
#: ``table1``: the Table-1 model whose results the row repeats (Table 1's Lrec and §3.2's AFR and ANR at the
#: printed digits), else None; ``assumed``: the config a row has under :data:`TABLE7_ASSUMPTION`, else None.
TABLE7: list[dict[str, Any]] = [
    {"block": 1, "printed": (), "lrec": (38.09, 8.96), "afr": (0.75, 0.11), "inp": (0.83, 0.20), "table1": "SAE"},
    *({"block": 1, "printed": (v,), "lrec": lrec, "afr": afr, "inp": inp, "assumed": {"l2": v}}
      for v, lrec, afr, inp in ((0.01, (37.03, 8.85), (0.69, 0.11), (0.86, 0.18)),
                                (1e-3, (39.63, 10.14), (0.77, 0.16), (0.85, 0.20)),
                                (1e-4, (38.89, 10.71), (0.75, 0.17), (0.86, 0.17)),
                                (1e-5, (36.29, 6.78), (0.69, 0.14), (0.84, 0.17)))),
    {"block": 2, "printed": (0.01,), "lrec": (12.92, 4.76), "afr": (0.09, 0.07), "inp": (0.06, 0.06)},
    {"block": 2, "printed": (0.005, 0.005), "lrec": (8.27, 1.33), "afr": (0.15, 0.04), "inp": (0.00, 0.00)},
    {"block": 2, "printed": (0.005, 0.005, 0.01), "lrec": (11.58, 0.89), "afr": (0.06, 0.02), "inp": (0.07, 0.04),
     "table1": "SAE-sparse"},
    {"block": 2, "printed": (0.005, 0.005, 0.01), "lrec": (7.88, 1.05), "afr": (0.15, 0.05), "inp": (0.00, 0.00)},
    {"block": 3, "printed": (0.01,), "lrec": (7.85, 1.92), "afr": (0.22, 0.01), "inp": (0.00, 0.00)},
    {"block": 3, "printed": (0.01, 0.01), "lrec": (9.08, 0.44), "afr": (0.11, 0.01), "inp": (0.02, 0.01)},
    {"block": 3, "printed": (0.01, 10.0), "lrec": (15.07, 1.39), "afr": (0.04, 0.00), "inp": (0.15, 0.04)},
    {"block": 3, "printed": (0.01, 1.0), "lrec": (8.43, 0.49), "afr": (0.11, 0.01), "inp": (0.00, 0.00)},
    {"block": 3, "printed": (0.01, 0.1), "lrec": (6.94, 0.18), "afr": (0.20, 0.01), "inp": (0.00, 0.00)},
    {"block": 3, "printed": (0.01, 0.01), "lrec": (6.75, 0.26), "afr": (0.21, 0.02), "inp": (0.00, 0.00),
     "table1": "SAE-dense"},
]
for _row in TABLE7:
    _row.setdefault("table1", None)
    _row.setdefault("assumed", None)

#: Ours, not the paper's: the four single-weight rows of Table 7's first block vary l2 alone (their values are
#: those of Table 6's l2 block, and their errors stay at the unregularised SAE's, as l2's do in Table 6).
TABLE7_ASSUMPTION = "the four single-weight rows of the first block vary l2 alone"

#: The parameter searches of App. A.2: (Table-1 base model, the varied key, {value: (paper Lrec mean, SD)})
#: per block. Tables 4-6 are unambiguous in the paper. Table 6 trains :func:`search_settings` (the paper:
#: 1 epoch of 60,000 images at T = 100), Tables 4-5 the scale's ``epochs`` (10). ``"table7"``: the rows of
#: :data:`TABLE7` that have a config only under :data:`TABLE7_ASSUMPTION` (the scale's epochs, as the paper's
#: 10); the other rows cannot be told apart in the paper's text.
SEARCHES: dict[str, list[tuple[str, str, dict[float, tuple[float, float]]]]] = {
    "table4": [
        ("AE", "lr", {1e-6: (63.78, 5.07), 1e-5: (30.14, 12.89), 5e-4: (5.65, 0.94), 1e-4: (15.68, 9.86),
                      1e-3: (45.86, 43.61), 1e-2: (89.46, 0.0), 1e-1: (89.46, 0.0)}),
        ("AE", "l2", {0.0: (5.65, 0.94), 1e-6: (5.41, 1.41), 1e-5: (4.54, 1.49), 1e-4: (4.50, 1.38),
                      1e-3: (5.57, 1.89), 1e-2: (6.54, 1.18), 1e-1: (7.98, 1.25)}),
    ],
    "table5": [
        ("VAE", "l2", {0.0: (89.46, 0.0), 1e-6: (89.46, 0.0), 1e-5: (89.46, 0.0), 1e-4: (89.46, 0.0),
                       1e-3: (38.40, 29.50), 1e-2: (19.14, 0.61), 1e-1: (20.76, 0.23)}),
        ("VAE", "beta", {0.0: (1.65, 0.94), 1e-3: (1.64, 1.41), 1e-2: (2.29, 1.49), 0.1: (5.94, 1.38),
                         1.0: (19.14, 0.61), 10.0: (52.90, 0.08)}),
    ],
    "table6": [
        ("SAE", "l2", {0.1: (37.74, 6.07), 0.01: (36.24, 6.39), 1e-3: (35.36, 7.80), 1e-4: (33.57, 5.56),
                       1e-5: (33.44, 4.72)}),
        ("SAE", "p1", {0.1: (89.39, 0.0), 0.01: (25.19, 1.23), 1e-3: (27.95, 5.97), 1e-4: (33.89, 5.64),
                       1e-5: (30.51, 2.81)}),
        ("SAE", "p2", {0.1: (22.71, 1.23), 0.01: (18.55, 3.21), 0.005: (19.61, 3.35), 1e-3: (23.86, 5.18),
                       1e-4: (28.82, 4.91), 1e-5: (31.65, 10.07)}),
        ("SAE", "a1", {0.1: (56.21, 4.57), 0.01: (22.29, 2.95), 1e-3: (30.28, 5.81), 1e-4: (35.13, 7.45),
                       1e-5: (33.77, 4.58)}),
    ],
    "table7": [("SAE", "l2", {r["assumed"]["l2"]: r["lrec"] for r in TABLE7 if r["assumed"]})],
}


def experiment_seeds(settings: Mapping[str, Any], seed: int = 0) -> list[int]:
    """The run seeds of a scale: ``seed, seed + 1, ...`` (``settings["seeds"]`` of them, at least one)."""
    return [seed + i for i in range(max(1, int(settings.get("seeds", 1))))]


def axis_default(settings: Mapping[str, Any], axis: str) -> Any:
    """The value a config takes on ``axis`` (a key of :data:`AXES`) when it does not set it."""
    return resolve_config({}, **settings)[AXES[axis]]


def experiment_configs(settings: Mapping[str, Any], *, seed: int = 0) -> dict[str, list[dict]]:
    """The sweep configs of the chapter at a scale (``spikelib.scales.settings("regularised_sae", scale)``).

    ``"models"``: every model of ``settings["models"]`` at the defaults (Tables 1, 8; Figs. 2, 5, 6), one
    config per seed of :func:`experiment_seeds`. ``"axes"``: for each axis of :data:`AXES`, each value
    other than the default (the default is the ``"models"`` run) for the models of ``axis_models[axis]``
    (settings, else :data:`AXIS_MODELS`) that the scale runs. A config is ``{"model", "seed"}`` plus the
    one key it changes; feed it to :func:`train_sae_config` through :func:`spikelib.sweep.run_sweep`.
    """
    seeds = experiment_seeds(settings, seed)
    models = list(settings["models"])
    out = {"models": [{"model": m, "seed": s} for m in models for s in seeds], "axes": []}
    chosen = dict(AXIS_MODELS)
    chosen.update(settings.get("axis_models", {}) or {})
    for axis, key in AXES.items():
        default = axis_default(settings, axis)
        for value in settings.get(axis, []):
            if value == default:
                continue
            for m in chosen.get(axis, ()):
                if m in models:
                    out["axes"].extend({"model": m, key: value, "seed": s} for s in seeds)
    return out


#: What the other key of a search block is held at (the paper: the AE's lr searched without L2, then L2 at
#: lr 5e-4; the VAE's L2 at beta = 1, then beta at the chosen l2 = 0.01). Every config names both, so a row
#: two blocks share (AE lr = 5e-4, l2 = 0) is one config, and a table row is found by both keys.
SEARCH_FIXED: dict[str, dict[str, dict[str, float]]] = {
    "table4": {"lr": {"l2": 0.0}, "l2": {"lr": 5e-4}},
    "table5": {"l2": {"beta": 1.0}, "beta": {"l2": 0.01}},
}


def search_settings(table: str, settings: Mapping[str, Any]) -> dict[str, int]:
    """What the runs of a search set beyond the scale's defaults: for Table 6 (App. A.2: one epoch, no
    more) ``epochs``, ``n_train`` and ``T`` from the scale's ``search_epochs``, ``search_n_train`` and
    ``search_T`` (the paper's 1, 60,000, 100 at paper scale); nothing for Tables 4-5."""
    if table != "table6":
        return {}
    return {"epochs": int(settings["search_epochs"]), "n_train": int(settings["search_n_train"]),
            "T": int(settings["search_T"])}


def search_configs(table: str, settings: Mapping[str, Any], *, seed: int = 0) -> list[dict]:
    """The configs of one parameter search of :data:`SEARCHES` (``"table4"``, ``"table5"``, ``"table6"``).

    Each block varies one key of its Table-1 base model (Table 6: of the unregularised SAE, with
    :func:`search_settings`, which every config names, so that changing them never reuses a record). A
    ``"search"`` key names the table so that the configs differ from the Table-1 runs; a row two blocks
    share appears once."""
    if table not in SEARCHES:
        raise ValueError(f"unknown search {table!r}; known: {sorted(SEARCHES)}")
    fixed = SEARCH_FIXED.get(table, {})
    out, seen = [], set()
    extra = search_settings(table, settings)
    for base, key, values in SEARCHES[table]:
        for value in values:
            for s in experiment_seeds(settings, seed):
                cfg = {"model": base, "search": table, **fixed.get(key, {}), **extra, key: value, "seed": s}
                ident = tuple(sorted(cfg.items()))
                if ident not in seen:
                    seen.add(ident)
                    out.append(cfg)
    return out


def _find_run(summary: Sequence[Mapping[str, Any]], name: str, want: Mapping[str, float]) -> Mapping[str, Any] | None:
    """The first summarised run of model ``name`` whose settings equal ``want`` (floats to 1e-12), or None."""
    return next((r for r in summary if r["name"] == name
                 and all(r.get(k) is not None and math.isclose(r[k], v, rel_tol=1e-12, abs_tol=0.0)
                         for k, v in want.items())), None)


def search_rows(table: str, summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per line of the paper's search ``table``: ``model``, ``key``, ``value``, the paper's
    ``paper_lrec`` / ``paper_lrec_sd`` and our summarised run (``run``: the row of :func:`summarise_runs`
    grouped by the search keys, or None if it did not run), found by the varied key *and* the key the
    block holds fixed (:data:`SEARCH_FIXED`)."""
    out = []
    for base, key, values in SEARCHES[table]:
        held = SEARCH_FIXED.get(table, {}).get(key, {})
        for value, (paper, paper_sd) in values.items():
            want = {key: value, **held}
            run = _find_run(summary, base, want)
            out.append({"model": base, "key": key, "value": value, "paper_lrec": paper, "paper_lrec_sd": paper_sd,
                        "run": run})
    return out


def table7_rows(table1: Sequence[Mapping[str, Any]], assumed: Sequence[Mapping[str, Any]] = ()) -> list[dict]:
    """One row per line of Table 7 (:data:`TABLE7`) with ``run``, our matching row of :func:`summarise_runs`,
    and ``basis``: ``"table1"`` (the Table-1 run, from ``table1``, of the model whose results the row
    repeats), ``"assumed"`` (a run of the ``"table7"`` search, from ``assumed``, under
    :data:`TABLE7_ASSUMPTION`) or None (not matched; ``why`` says what keeps it apart). ``weights``: the
    Table-1 model's weights (what our run uses), which may differ from the printed ones (SAE-dense)."""
    out = []
    for row in TABLE7:
        k = len(row["printed"])
        run, basis, why, weights = None, None, None, None
        if row["table1"]:
            run = next((r for r in table1 if r["name"] == row["table1"]), None)
            basis = "table1"
            weights = {key: v for key, v in MODELS[row["table1"]].items() if key != "model"}
        elif row["assumed"]:
            run = _find_run(assumed, "SAE", row["assumed"])
            basis = "assumed" if run else None
            why = None if run else "a single weight with no column; matched only under TABLE7_ASSUMPTION"
        else:
            why = (f"{k} weights printed without their columns: {math.comb(5, k)} ways to place them"
                   if k > 1 else "1 weight printed without its column: 5 places for it")
            why += " among l2, p1, p2, a1, a1(l=3)"
            twin = next((r["table1"] for r in TABLE7 if r["printed"] == row["printed"] and r["table1"]), None)
            if twin:
                why += f"; the {twin} row prints the same numbers with other results, so not in the same columns"
        out.append({**row, "run": run, "basis": basis, "why": why, "weights": weights})
    return out


def _flat_metrics(final: Mapping[str, Any]) -> dict[str, float]:
    out = {k: v for k, v in final.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for metric, v in (final.get("distance_ratio") or {}).items():
        out[f"distance_{metric}"] = v
    return out


def summarise_runs(records: Sequence[Mapping[str, Any]],
                   group: Sequence[str] = ("name", "nz", "T", "noise", "decay")) -> list[dict[str, Any]]:
    """Mean and SD over seeds of every validation metric of :func:`train_sae_config` records (sweep
    records, or their ``results``), grouped by the resolved config's ``group`` keys.

    Each row: the group keys, ``n`` (runs), for every metric ``m`` of ``final`` (``lrec``, ``inp``, ``anr``,
    ``afr``, ``rae``, ``spikes_per_example``, ...; ``distance_<metric>`` for the class distance ratios)
    ``m`` (the mean, NaNs ignored) and ``m_sd`` (sample SD; None with one run), ``seconds_per_step``, and
    ``lrec_per_epoch`` (the mean validation Lrec after each epoch). Rows keep the order of first appearance.
    """
    groups: dict[tuple, list[Mapping]] = {}
    for r in records:
        res = r.get("results", r)
        key = tuple(res["config"].get(g) for g in group)
        groups.setdefault(key, []).append(res)
    rows = []
    for key, runs in groups.items():
        row: dict[str, Any] = dict(zip(group, key))
        row["n"] = len(runs)
        flats = [_flat_metrics(res.get("final", {})) for res in runs]
        for m in dict.fromkeys(k for f in flats for k in f):
            vals = np.array([f.get(m, np.nan) for f in flats], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            row[m] = float(ok.mean()) if len(ok) else float("nan")
            row[f"{m}_sd"] = float(ok.std(ddof=1)) if len(ok) > 1 else None
        steps = [res.get("seconds_per_step") for res in runs if res.get("seconds_per_step") is not None]
        row["seconds_per_step"] = float(np.mean(steps)) if steps else None
        n_epochs = min((len(res.get("history", [])) for res in runs), default=0)
        row["lrec_per_epoch"] = [float(np.mean([res["history"][e]["val_lrec"] for res in runs]))
                                 for e in range(n_epochs)]
        rows.append(row)
    return rows


def axis_series(rows: Sequence[Mapping[str, Any]], axis: str, settings: Mapping[str, Any]) -> dict[str, list[dict]]:
    """The rows of :func:`summarise_runs` that vary only ``axis`` (a key of :data:`AXES`), per model name,
    sorted by the axis value: every other axis at its default. Models with a single point are kept."""
    key = AXES[axis]
    defaults = {AXES[a]: axis_default(settings, a) for a in AXES if a != axis}
    out: dict[str, list[dict]] = {}
    for row in rows:
        if all(row.get(k) == v for k, v in defaults.items()):
            out.setdefault(row["name"], []).append(dict(row))
    return {m: sorted(v, key=lambda r: r[key]) for m, v in out.items()}


def best_runs(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per model name, the record with the lowest validation Lrec (the paper's choice for Figs. 2, 5-7)."""
    best: dict[str, Mapping[str, Any]] = {}
    for r in records:
        res = r.get("results", r)
        name = res["config"]["name"]
        lrec = res.get("final", {}).get("lrec", float("inf"))
        if name not in best or lrec < best[name].get("results", best[name])["final"]["lrec"]:
            best[name] = r
    return best


def parameter_table(latent_sizes: Sequence[int] = (10, 20, 50, 100),
                    kinds: Sequence[str] = ("sae", "ae", "vae")) -> list[dict[str, Any]]:
    """Table 2: trainable parameters of each model kind at each latent size, counted on built models."""
    return [{"model": kind.upper(), "nz": int(nz), "parameters": n_parameters(build_model(kind, nz, seed=0))}
            for nz in latent_sizes for kind in kinds]


def validation_images(config: Mapping[str, Any]) -> tuple[torch.Tensor, np.ndarray]:
    """The validation images (N, 1, 28, 28) float and labels of a resolved config: the first ``n_val``
    MNIST test images, as :func:`train_sae_config` validates on."""
    from spikelib import data

    xt, yt = data.load_mnist("test")
    n = config["n_val"]
    return as_images(xt[:n]).to(getattr(torch, config["dtype"])), np.array(yt[:n], copy=True)


@torch.no_grad()
def snapshot(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """What Fig. 2 shows for images ``x``: ``xhat`` (B, 28, 28) reconstructions, ``encoding`` (B, 28, 28)
    the Poisson input summed over time and divided by its largest count, and for the SAE ``latent`` (B, T,
    nz) the latent spikes and ``rates``: per layer (``"input"`` then :data:`LAYERS`) the firing rate of
    every neuron (spikes per step, averaged over the examples; Fig. 2D). One pass with an encoding
    generator seeded with ``seed``; baselines see the same noisy images."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    out: dict[str, Any] = {}
    if isinstance(model, ConvSAE):
        spikes = encode(x, config["T"], noise=config["noise"], generator=gen)
        res = model(spikes, record_latent=True)
        total = spikes.sum(0)[:, 0]
        out["encoding"] = (total / total.amax(dim=(1, 2), keepdim=True).clamp(min=1)).cpu().numpy()
        out["latent"] = res.latent_spikes.transpose(0, 1).cpu().numpy()
        T = spikes.shape[0]
        out["rates"] = {"input": (spikes.sum(0) / T).mean(0).flatten().cpu().numpy()}
        for name, c in zip(LAYERS, res.counts):
            out["rates"][name] = (c / T).mean(0).flatten().cpu().numpy()
    else:
        res = run_model(model, x, config, gen)
    out["xhat"] = res.xhat[:, 0].cpu().numpy()
    return out


#: The ids of the models in spikelib/paper_values.json ("huebotter.table1.<id>.lrec", ...).
PAPER_IDS: dict[str, str] = {"SAE": "sae", "SAE-sparse": "sae_sparse", "SAE-dense": "sae_dense", "AE": "ae",
                             "AEl2": "ae_l2", "VAE": "vae", "betaVAE": "beta_vae"}


def example_correlations(representation) -> np.ndarray:
    """Pearson correlation between the examples (rows) of a latent representation (Fig. 6); an example
    without variation over the neurons (e.g. all silent) correlates 0 with the others and 1 with itself."""
    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.corrcoef(x) if len(x) > 1 else np.ones((len(x), len(x)))
    c = np.nan_to_num(c, nan=0.0)
    np.fill_diagonal(c, 1.0)
    return c


def time_config(config: Mapping[str, Any], *, seed: int = 0, device: str = "cpu", repeats: int = 2) -> dict[str, Any]:
    """:func:`time_train_step` as a sweep function (Fig. 3F-G): ``config`` holds ``model`` and the sizes
    (``T``, ``nz``, ``batch_size``); a ``seed`` in it is ignored (the sweep's), so is ``timing``."""
    config = {k: v for k, v in config.items() if k not in ("seed", "timing")}
    return time_train_step(config, repeats=repeats, seed=seed, device=device)


def timing_configs(settings: Mapping[str, Any]) -> list[dict]:
    """Configs of the batch-time measurements of Fig. 3F-G: the SAE at every T of ``timing_steps``
    (settings, else ``time_steps``) at the scale's default nz, and SAE, AE, VAE at every latent size
    at the scale's T; batch size the scale's."""
    T0, nz0, bs = (resolve_config({}, **settings)[k] for k in ("T", "nz", "batch_size"))
    steps = list(settings.get("timing_steps", settings.get("time_steps", [T0])))
    out = [{"timing": "T", "model": "sae", "T": int(T), "nz": nz0, "batch_size": bs} for T in steps]
    out += [{"timing": "nz", "model": kind, "T": T0, "nz": int(nz), "batch_size": bs}
            for kind in ("sae", "ae", "vae") for nz in settings.get("latent_sizes", [nz0])]
    return out


def blank_image_lrec(x: torch.Tensor) -> float:
    """``Lrec`` of a model that outputs black images: the mean per-image sum of squared pixels of ``x``
    (about 89-100 on MNIST; the paper's 89.46 marks runs that learned nothing, Tables 4-6)."""
    return float(reconstruction_loss(torch.zeros_like(x), x))
