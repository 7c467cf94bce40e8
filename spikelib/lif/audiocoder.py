"""The audiocoder of Roy et al. (2019, §3.2, Fig. 6): the spiking network that turns a cochleagram into the
hidden spike map of a frozen AE-SNN, and the synthesis and metric of audio to image.

- :func:`audiocoder_snn`: the AC-SNN, a :class:`~spikelib.lif.roy.TwoLayerLIF` n_in-2048-196 with weights
  U(-0.01, 0.01) (authors' code), trained by :func:`spikelib.lif.roy.fit` with ``targets`` the stored maps
  (step t shows frame ``t mod Th``); :data:`AUDIOCODER_CONFIG` is the paper's protocol. Its input is the
  rate-coded flattened cochleagram (20 Hz at 1 ms: 0.02 x per step, the authors' code).
- :func:`synthesise`: its output spikes drive the frozen AE decoder; the image is the output spike count.
- :func:`replayed_images`: the same decoder on the stored target maps themselves (whole or thinned): what an
  audiocoder that emitted its targets exactly, or at a fraction of their rate, would score.
- :func:`audio_to_image_mse`: the z-scored MSE against the paired image, or the lowest over candidate
  images (§3.2.3; :func:`pairwise_zscored_mse`).
- :func:`quantise`: the AC-ANN's targets, the AE-ANN's hidden state rounded to ``2^bits`` levels.

The datasets (A, B), the frozen AE's hidden maps and the book's runs are in
:mod:`spikelib.experiments.roy_audio`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from spikelib.fitting import derive_seed
from spikelib.encoding import poisson
from spikelib.lif.losses import zscored_mse
from spikelib.lif.roy import RoyConfig, TwoLayerLIF, as_rates, decode_spikes, repeat_targets

#: The authors' code: 20 Hz input rate at 1 ms steps.
AUDIO_RATE = 0.02
#: Th values of Fig. 7a/c.
TH_VALUES = (15, 10, 5, 2, 1)
#: The paper's AC-SNN training (§3.2.3: T = 60, lr 5e-5, batch 50, 20 epochs, weight decay 1e-4; the
#: authors' code: T = 30). ``trace="input"``: the paper's per-synapse trace reset costs O(T) matrix
#: products per step, out of reach for 58,500 inputs.
AUDIOCODER_CONFIG = RoyConfig(n_steps=60, rate_scale=AUDIO_RATE, lr=5e-5, batch_size=50, epochs=20,
                              trace="input", weight_decay=1e-4)


def labels_of(x) -> np.ndarray:
    """Digit labels as a flat int64 array."""
    return np.asarray(x, dtype=np.int64).reshape(-1)


def audiocoder_snn(n_in: int, n_hidden: int = 2048, n_out: int = 196, *, leak: float = 0.1, seed: int = 0,
                   input_major: bool = True, **kw) -> TwoLayerLIF:
    """AC-SNN ``n_in``-``n_hidden``-``n_out`` (58500-2048-196 in the paper), weights U(-0.01, 0.01).

    W1 is stored input-major (``input_major``, :class:`~spikelib.lif.roy.TwoLayerLIF`): the sparse input
    spikes (2 % per step at most) then make the encoder's forward a sum of the active inputs' rows, and
    the Adam update runs in place on W1 (benchmarks/roy_audiocoder.py)."""
    return TwoLayerLIF(n_in, n_hidden, n_out, leak=leak, init=kw.pop("init", 0.01), seed=seed,
                       input_major=input_major, **kw)


#: The most Poisson-coded input elements :func:`synthesise` holds at once (float32: 512 MB).
MAX_CODED_SPIKES = 2 ** 27


@torch.no_grad()
def synthesise(audiocoder: TwoLayerLIF, ae: TwoLayerLIF, inputs, *, n_steps: int = 60,
               rate_scale: float = AUDIO_RATE, seed: int = 3, batch_size: int = 500) -> dict:
    """Audio to image (Fig. 6): the audiocoder's output spikes (N, T, 196) through the frozen AE decoder.

    Returns ``images`` (N, 784) output spike counts of the decoder, ``spikes`` the audiocoder's output
    spike maps as uint8. Inputs are coded ``batch_size`` at a time, fewer where their float spike trains
    would pass :data:`MAX_CODED_SPIKES` elements (the paper's 58,500 inputs over 60 steps: 14 MB each).
    """
    x = as_rates(inputs)
    batch_size = max(1, min(batch_size, MAX_CODED_SPIKES // max(1, n_steps * x.shape[1])))
    spikes = []
    for c, i in enumerate(range(0, len(x), batch_size)):
        gen = torch.Generator().manual_seed(derive_seed(seed, c, 4))
        s_in = poisson(x[i:i + batch_size], n_steps, rate_scale=rate_scale, generator=gen)
        s_in = s_in.to(audiocoder.encoder.weight.device)
        spikes.append(audiocoder(s_in)[2].transpose(0, 1).to(torch.uint8).cpu())
    spikes = torch.cat(spikes) if spikes else torch.zeros(0, n_steps, audiocoder.sizes[2], dtype=torch.uint8)
    return {"images": decode_spikes(ae, spikes), "spikes": spikes}


@torch.no_grad()
def replayed_images(ae: TwoLayerLIF, maps: torch.Tensor, *, n_steps: int = 60, keep: float = 1.0,
                    seed: int = 5) -> torch.Tensor:
    """The images an audiocoder that emitted its targets exactly would make: the stored target maps
    (N, Th, n) replayed for ``n_steps`` (frame ``t mod Th``, as in training) through the frozen decoder.
    ``keep`` < 1 drops each spike independently with probability ``1 - keep`` (seeded): an audiocoder that
    fires the right neurons at ``keep`` times their rate without knowing when. (Where each target is a
    Poisson draw of its own, one that emits its neurons' firing probabilities can do better than either.)"""
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must lie in [0, 1], got {keep}")
    spikes = repeat_targets(maps, n_steps).transpose(0, 1).float()
    if keep < 1.0:
        gen = torch.Generator().manual_seed(seed)
        spikes = spikes * (torch.rand(spikes.shape, generator=gen) < keep)
    return decode_spikes(ae, spikes.to(torch.uint8))


# --------------------------------------------------------------------------------------------- metric


def _z(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    c = x - x.mean(dim=-1, keepdim=True)
    s = x.std(dim=-1, correction=1, keepdim=True)
    return c / torch.where(s > 0, s, torch.ones_like(s))


def pairwise_zscored_mse(outputs: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """:func:`~spikelib.lif.zscored_mse` of every output (N, n) against every candidate (M, n): (N, M)."""
    zo, zc = _z(torch.as_tensor(outputs)), _z(torch.as_tensor(candidates))
    n = zo.shape[-1]
    return (zo * zo).mean(-1)[:, None] + (zc * zc).mean(-1)[None, :] - 2.0 * (zo @ zc.T) / n


def audio_to_image_mse(outputs: torch.Tensor, paired=None, *, candidates=None, output_labels=None,
                       candidate_labels=None, same_class: bool = False) -> torch.Tensor:
    """Per-sample validation MSE (§3.2.3): against ``paired`` images (N, n) (dataset A; dataset B's
    training set), or the minimum over ``candidates`` (M, n) (dataset B's test set: all training images
    of the dataset; ``same_class=True`` restricts to the sample's digit, as the authors' code does)."""
    outputs = torch.as_tensor(outputs)
    if (paired is None) == (candidates is None):
        raise ValueError("pass exactly one of paired (one image per output) or candidates (take the minimum)")
    if paired is not None:
        return zscored_mse(outputs.to(torch.float64), as_rates(paired).to(torch.float64))
    mse = pairwise_zscored_mse(outputs, as_rates(candidates))
    if same_class:
        if output_labels is None or candidate_labels is None:
            raise ValueError("same_class=True needs output_labels and candidate_labels")
        same = torch.as_tensor(labels_of(output_labels))[:, None] == torch.as_tensor(labels_of(candidate_labels))[None]
        mse = torch.where(same, mse, torch.full_like(mse, math.inf))
    return mse.min(dim=1).values


# ------------------------------------------------------------------------------------------ ANN side


def quantise(h: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Hidden values in [0, 1] rounded to ``2^bits`` equally spaced levels ``k / (2^bits - 1)``;
    ``bits=None`` keeps full precision (§3.2.3: Th-bit SNN maps vs 2^Th-level ANN states)."""
    if bits is None:
        return h
    if bits < 1:
        raise ValueError(f"bits must be >= 1 (or None for full precision), got {bits}")
    levels = 2 ** int(bits) - 1
    return torch.round(h.clamp(0, 1) * levels) / levels
