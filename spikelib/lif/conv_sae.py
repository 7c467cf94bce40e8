"""Regularised convolutional spiking autoencoder (Hübotter, Lanillos & Tomczak 2021) and its baselines: the
models and their input coding.

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
  One deviation (:func:`init_weights_`): the VAE's decoder input layer fc2 is drawn with Glorot's std, not
  He's, so that its reconstructions do not start far brighter than the data (otherwise its ReLU read-out
  dies in the first Adam steps, as the authors' own VAE does: see :class:`ConvVAE`).

Speed. ``backend`` (:mod:`spikelib.backend`): ``"c"`` runs the SAE on an event-driven C kernel
(:mod:`spikelib.lif._sae_kernel`): every input spike adds its weight patch to the currents, so the cost
follows the spike count, and one image at a time goes through the layers, each over all T steps with its
state in cache. ``"torch"`` (the only path on CUDA) runs the LIF layers of :mod:`spikelib.lif` one after
the other, each synapse on all T steps at once (time folded into the batch). Both give the same spikes,
read-out and gradients (tests/test_conv_sae.py).

The rest of the family: losses :mod:`spikelib.lif.sae_losses`, latent metrics :mod:`spikelib.lif.sae_metrics`,
training :mod:`spikelib.lif.sae_training`; the paper's experiments :mod:`spikelib.experiments.huebotter`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spikelib.backend import resolve_backend
from spikelib.encoding import poisson
from spikelib.lif import _sae_kernel
from spikelib.lif.functional import cumulative_potential, huebotter_neuron, max_readout, simulate
from spikelib.lif.modules import LIFConv2d, LIFConvTranspose2d, LIFLayer

LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1", "fc2", "deconv1", "deconv2")
CUMULATIVE = ("current", "potential")  # what U accumulates: the authors' code / eq. 7 as printed
LATENT = LAYERS.index("fc1")  # "layer 3" of the paper
RATE_SCALE = 0.2  # Poisson rate scale and read-out scale s / T (App. A.2, Table 3)
KINDS = ("sae", "ae", "vae")  # what build_model builds


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
        # the flags live in a reused buffer, held (with the flags) by the context until the graph is freed
        lease = _sae_kernel.FlagLease(_sae_kernel.flag_bytes(spikes.shape[0], spikes.shape[1], spec["geom"])) \
            if keep else None
        lists = _sae_kernel.SpikeLists(spikes.shape[0], spikes.shape[1], spec["geom"]) if keep else None
        xhat, argmax, counts, ufinal, flags, rec = _sae_kernel.forward(
            spikes, kernels, spec["geom"], alpha=spec["alpha"], theta=spec["theta"], fire_gt=spec["fire_gt"],
            lower=spec["lower"], decay=spec["decay"], scale=spec["scale"], keep_flags=keep,
            record_layer=spec["record"], cumulate_potential=spec["cumulate_potential"],
            flags_out=None if lease is None else lease.buf, spike_lists=lists)
        ctx.spec, ctx.flags, ctx.lease, ctx.lists = spec, flags, lease, lists
        ctx.save_for_backward(spikes, argmax, *kernels)
        ctx.set_materialize_grads(False)
        rec = rec if rec is not None else spikes.new_empty(0)
        ctx.mark_non_differentiable(rec)
        return xhat, counts, ufinal, rec

    @staticmethod
    def backward(ctx, g_xhat, g_counts, g_ufinal, _g_rec):
        spikes, argmax, *kernels = ctx.saved_tensors
        flags = ctx.flags
        if g_xhat is None and g_counts is None and g_ufinal is None:
            return (None, None, *[None] * len(kernels))
        spec = ctx.spec
        grads = _sae_kernel.backward(spikes, kernels, spec["geom"], flags, argmax, theta=spec["theta"],
                                     scale=spec["scale"], cumulate_potential=spec["cumulate_potential"],
                                     g_xhat=g_xhat, g_counts=g_counts, g_ufinal=g_ufinal, spike_lists=ctx.lists)
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
        """``"c"`` (CPU C kernel) or ``"torch"``: where a pass runs for ``requested`` (auto / c / torch;
        ``"kernel"`` is a deprecated alias of ``"c"``), by :func:`spikelib.backend.resolve_backend`."""
        w = self.conv1.weight
        return resolve_backend(requested, kernel=_sae_kernel.KERNEL, device=device or w.device, dtype=w.dtype,
                               what="the LIF SAE")

    def forward(self, spikes: torch.Tensor, *, backend: str = "auto", record_latent: bool = False,
                readout_scale: float | None = None) -> SAEOutput:
        """Run the network on input spikes (T, B, 1, H, W) (0/1, any dtype; see :func:`encode`).

        ``backend``: see :meth:`backend`; ``readout_scale`` is s of eq. 8, default ``0.2 T``.
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
        if self.backend(backend, spikes.device) == "c":
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


def init_weights_(model: nn.Module, *, seed: int = 0, linear_gain: float | None = None,
                  vae_fc2: str = "glorot") -> nn.Module:
    """Draw the weights as the authors do (App. A.1, eq. 13): ``N(0, sigma^2)``, ``sigma = sqrt(2 / n)``.

    ``n`` is the fan-in of a linear layer and ``k^2 C_in`` of a (transposed) convolution. The authors' code
    (``BaseModel.init_weights``, used by all their models) doubles sigma of the linear layers; we double it
    for the SAE only (``linear_gain`` 2, the default for :class:`ConvSAE`, 1 otherwise): the AE and VAE keep
    eq. 13 (a deviation; with the doubling even the AE's output died in its first 120 steps on 3 of 4 seeds).
    Deviation for :class:`ConvVAE` only: its fc2 (latent -> 12,800) gets Glorot's ``sigma = linear_gain
    sqrt(2 / (fan_in + fan_out))`` (0.088 of He's at nz = 100; ``vae_fc2="he"`` restores eq. 13 and the
    dying output). Biases get torch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, which the authors'
    code keeps. All draws come from one generator seeded with ``seed``, in :data:`LAYERS` order (the VAE's
    fc2 rule rescales its draw, so every other weight is the same as under eq. 13).
    """
    if vae_fc2 not in ("glorot", "he"):
        raise ValueError(f"vae_fc2 must be 'glorot' or 'he', got {vae_fc2!r}")
    gen = torch.Generator().manual_seed(int(seed))
    if linear_gain is None:
        linear_gain = 2.0 if isinstance(model, ConvSAE) else 1.0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.kernel_size[0] * m.kernel_size[1] * m.in_channels
                std = math.sqrt(2.0 / fan_in)
            elif isinstance(m, nn.Linear):
                fan_in = m.in_features
                if isinstance(model, ConvVAE) and m is model.fc2 and vae_fc2 == "glorot":
                    std = linear_gain * math.sqrt(2.0 / (m.in_features + m.out_features))
                else:
                    std = linear_gain * math.sqrt(2.0 / fan_in)
            else:
                continue
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
    sigma eps``. nz = 100: 3,879,400 parameters.

    Stated deviation: the decoder's input layer fc2 is initialised with Glorot's rule (:func:`init_weights_`),
    not eq. 13's He rule. He's rule keeps the second moment of a layer's input, which in the AE is a ReLU code
    at about the image's scale (E[x^2] = 0.11); the VAE's z is a sample at the prior's unit scale (sigma = 1
    at the start), so under He its first reconstructions are far too bright (Lrec 120-770 on 500 test images,
    seeds 0-7, against 80 for a blank image and 74-124 for the AE). Adam's first steps then push every
    pre-activation of the bias-free ReLU read-out below zero, no error flows back and the posterior collapses
    (mu -> 0, sigma -> 1): Lrec stays at the blank image's. The authors' code does the same (same model, loss
    and optimiser, its linear weights drawn with twice the std): their Table 5 gives exactly the blank error
    for l2 <= 1e-4 after 10 epochs, and their beta-VAE needs 4-6 epochs to give recognisable images (§3.2),
    presumably until the l2 term has shrunk the weights back to life. Glorot's fan-average rule, the usual
    one for a layer whose input is symmetric rather than a ReLU output, starts the decoder at about the
    data's scale (Lrec 67-79); both VAEs then learn from their first steps on every seed tried (0-5). A
    consequence: unlike Table 5, the VAE learns without l2 too. ``init_weights_(vae, vae_fc2="he")`` gives
    eq. 13's draw.
    """

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
        raise ValueError(f"model must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
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
           generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Images in [0, 1] (B, 1, H, W) -> Poisson spikes (T, B, 1, H, W): noise (eq. 5), then a spike with
    probability ``rate x'`` per step (eq. 6, :func:`spikelib.encoding.poisson`; without ``generator``, a
    fresh one seeded with 0). ``dtype``: of the spikes (default the images'; ``torch.uint8`` is what the C
    kernel reads)."""
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError("images must lie in [0, 1]: divide uint8 pixels by 255")
    return poisson(add_noise(x, noise, generator=generator), T, rate_scale=rate, generator=generator, dtype=dtype)


def as_images(pixels) -> torch.Tensor:
    """uint8 MNIST (N, 28, 28) (numpy or torch) -> float32 (N, 1, 28, 28) in [0, 1] (``/ 255``, as torchvision)."""
    # a copy: the cached MNIST arrays are read-only
    t = pixels if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.array(pixels, copy=True))
    if t.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {t.dtype}")
    return (t.to(torch.float32) / 255.0).reshape(t.shape[0], 1, *t.shape[-2:])
