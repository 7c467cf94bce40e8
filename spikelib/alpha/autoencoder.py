"""Spiking autoencoders with temporal coding (Comsa et al. 2021b): 784-h-784 alpha networks with pulses.

An image is latency coded (``t = 1 - p/256``, black pixels silent; §2.3), corrupted with the noise of
eq. 6 (drawn once), and the network is trained to reproduce the clean times after a fixed latency ``l``:
output k should spike at ``l + t_k`` (§2.4). The loss and gradient are the authors' (§2.5, reference notes):

    o_k = t_out_k - l   (o_k = 1 for a silent output),   target_k = t_k   (1 for a silent pixel)
    dL/dt_out_k = o_k - target_k,   reported error = sum_k (o_k - target_k)^2 / 784

with :func:`spikelib.alpha.autoencoder_loss`; a neuron that stays silent raises all its incoming weights
by ``penalty_no_spike`` instead of passing a gradient back (the paper's "very large surrogate time").

This module holds the model and its training only:

- :class:`AutoencoderHyperparameters` -- a set (eta x l x h, §2.7); :func:`snn_parameter_count` (§2.8).
- :func:`autoencoder_train_step`, :func:`train_autoencoder_epoch`, :func:`fit_autoencoder` -- training
  (the :mod:`spikelib.fitting` contract: best validation error kept, checkpoint and resume);
  :func:`evaluate_autoencoder` -- the paper's reconstruction error.
- :func:`embed`, :func:`decode`, :func:`reconstruct`, :func:`brightness`, :func:`interpolation_grid`,
  :func:`embedding_features`, :func:`layer_spike_times`, :func:`weight_groups` -- what Figs. 4-10 look at.

The authors' 75 sets, the MNIST / FMNIST data, the ANN baselines and the sweep are experiment-level:
:mod:`spikelib.experiments.comsa_autoencoders`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from spikelib.alpha import _cscan
from spikelib.alpha.losses import autoencoder_loss
from spikelib.alpha.modules import AlphaNetwork
from spikelib.alpha.training import AlphaAdam, Hyperparameters, c_epoch_numerics, make_optimizer, use_c_backend
from spikelib.backend import from_engine, subnormals_flushed
from spikelib.fitting import (Checkpoint, EpochProgress, FitResult, clone_state, fingerprint, load_training,
                              save_training)

#: Pixels of an MNIST / FMNIST image: the input and output size of the autoencoders.
N_PIXELS = 784


# -------------------------------------------------------------------------------- hyperparameters


@dataclasses.dataclass(frozen=True)
class AutoencoderHyperparameters(Hyperparameters):
    """:class:`Hyperparameters` of a 784-h-784 autoencoder plus its noise factor ``eta`` and target
    ``latency`` (§2.7). ``n_hidden = (h,)``. Every example contributes to the gradient
    (``update_all_datapoints``): there is no "correctly classified" example to skip."""

    update_all_datapoints: bool = True
    eta: float = 0.0
    latency: float = 1.0

    @property
    def hidden(self) -> int:
        return self.n_hidden[0]

    def network(self, n_in: int = N_PIXELS, n_out: int | None = None, *, seed: int = 0,
                dtype=torch.float32) -> AlphaNetwork:
        """The ``n_in``-h-``n_in`` :class:`AlphaNetwork` with ``n_pulses`` pulses per layer."""
        return super().network(n_in, n_in if n_out is None else n_out, seed=seed, dtype=dtype)

    def n_parameters(self, n_in: int = N_PIXELS) -> int:
        """§2.8's count for this model: :func:`snn_parameter_count`."""
        return snn_parameter_count(n_in, self.hidden, n_in, self.n_pulses)


def snn_parameter_count(n_in: int, n_hidden: int, n_out: int, n_pulses: int) -> int:
    """Parameters of an i-h-o spiking autoencoder with p pulses per layer: ``(i + p) h + (h + p) o + 2 p``
    (weights, and the pulse times of both layers; §2.8)."""
    return (n_in + n_pulses) * n_hidden + (n_hidden + n_pulses) * n_out + 2 * n_pulses



# --------------------------------------------------------------------------------------- training


# MIRROR(alpha-no-spike-penalty): keep in lockstep with spikelib/alpha/_train.c:alpha_train_epoch; tested by tests/test_alpha_ctrain.py::test_autoencoder_epoch_matches_the_torch_loop
def _add_no_spike_penalty(net: AlphaNetwork, times: list[torch.Tensor], penalty: float, n: int) -> None:
    """Every incoming weight of a neuron that stayed silent for an example gets ``-penalty / n`` added to
    its gradient, per such example (as :func:`spikelib.alpha.train_step` does; §2.5)."""
    for layer, t in zip(net.layers, times):
        silent = (~torch.isfinite(t)).sum(dim=0).to(layer.weight.dtype)
        if layer.weight.grad is None:
            layer.weight.grad = torch.zeros_like(layer.weight)
        layer.weight.grad.sub_(penalty * silent / n)


def autoencoder_train_step(net: AlphaNetwork, opt: AlphaAdam, x: torch.Tensor, target: torch.Tensor,
                           hp: AutoencoderHyperparameters) -> dict:
    """One mini-batch update on noisy inputs ``x`` and clean target times ``target`` (``inf`` = silent).

    The gradient ``dL/dt_out = t_out - latency - target`` is averaged over the batch, the no-spike penalty
    is added, Adam steps and the pulse times are clamped to >= 0. Returns the batch's summed reported
    error (``loss``) and its size ``n``.
    """
    times = net(x, all_layers=True)
    objective, reported = autoencoder_loss(times[-1], target, hp.latency)
    n = len(x)
    opt.zero_grad(set_to_none=True)
    objective.sum().div(n).backward()
    with torch.no_grad():
        _add_no_spike_penalty(net, times, hp.penalty_no_spike, n)
    opt.step()
    net.clamp_pulses_()
    return {"loss": float(reported.sum()), "n": n}


def train_autoencoder_epoch(net: AlphaNetwork, opt: AlphaAdam, x: torch.Tensor, target: torch.Tensor,
                            hp: AutoencoderHyperparameters, order: torch.Tensor, *, backend: str = "auto",
                            engine: str | None = None) -> dict:
    """One pass over ``x[order]`` in mini-batches of ``hp.batch_size``; the summed error and count.
    ``backend``: where it runs (:func:`spikelib.alpha.training.use_c_backend`; on CPU by default in C);
    ``engine`` is its deprecated old name."""
    backend = from_engine(engine, backend)
    if use_c_backend(backend, net, x):
        s = _cscan.train_epoch(net, opt, x, order, batch_size=hp.batch_size, penalty=hp.penalty_no_spike,
                               targets=target, latency=hp.latency, **c_epoch_numerics(net.dtype))
        return {"loss": s["loss"], "n": len(order)}
    total = {"loss": 0.0, "n": 0}
    for i in range(0, len(order), hp.batch_size):
        idx = order[i:i + hp.batch_size]
        s = autoencoder_train_step(net, opt, x[idx], target[idx], hp)
        total["loss"] += s["loss"]
        total["n"] += s["n"]
    return total


@torch.no_grad()
def evaluate_autoencoder(net: AlphaNetwork, x: torch.Tensor, target: torch.Tensor, latency: float,
                         batch_size: int = 1000) -> dict:
    """The reconstruction error as the paper reports it (mean over examples of ``sum_k (o_k - t_k)^2 /
    784``), and the fractions of silent hidden and output spikes."""
    if len(x) == 0:
        raise ValueError("evaluate_autoencoder needs at least one example")
    err = silent_hidden = silent_out = 0.0
    for i in range(0, len(x), batch_size):
        times = net(x[i:i + batch_size], all_layers=True)
        err += float(autoencoder_loss(times[-1], target[i:i + batch_size], latency)[1].sum())
        silent_hidden += float((~torch.isfinite(times[0])).to(torch.float64).mean(-1).sum())
        silent_out += float((~torch.isfinite(times[-1])).to(torch.float64).mean(-1).sum())
    n = len(x)
    return {"mse": err / n, "silent_hidden": silent_hidden / n, "silent_output": silent_out / n, "n": n}



@subnormals_flushed()
def fit_autoencoder(
    net: AlphaNetwork,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    config: AutoencoderHyperparameters | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    eval_batch_size: int = 1000,
    engine: str | None = None,
) -> FitResult:
    """Train for ``epochs`` epochs of Adam on the loss of §2.5; keep the weights of the epoch with the
    lowest validation error (the :mod:`spikelib.fitting` contract).

    ``train`` and ``val`` are ``(x, target)`` (a :class:`spikelib.experiments.comsa_autoencoders.Split`
    will do); without ``val`` the running training error selects. ``config``: the
    :class:`AutoencoderHyperparameters` (it carries the target latency, so there is no default; the
    authors' sets: :func:`spikelib.experiments.comsa_autoencoders.autoencoder_hyperparameters`).
    ``epochs`` is required (the set has no epoch count). With ``checkpoint``, the state is saved
    atomically after every epoch (:class:`spikelib.fitting.Checkpoint`) and a later call with the same
    path and settings resumes from it (the result equals an uninterrupted run); a checkpoint of other
    settings, data or seed is not resumed (a warning, then training afresh). ``backend``: where the epochs
    run (:func:`spikelib.alpha.training.use_c_backend`); ``engine`` is its deprecated old name.

    Returns a :class:`spikelib.fitting.FitResult` (``history``; ``best``: ``{"epoch", "mse"}``) and
    leaves ``net`` holding the selected weights.
    """
    if config is None:
        raise TypeError("fit_autoencoder needs config=AutoencoderHyperparameters(...) (it carries the target "
                        "latency); the authors' sets: spikelib.experiments.comsa_autoencoders."
                        "autoencoder_hyperparameters(eta, latency, hidden)")
    if not isinstance(config, AutoencoderHyperparameters):
        raise TypeError("config must be AutoencoderHyperparameters (it carries the target latency), got "
                        f"{type(config).__name__}")
    if epochs is None:
        raise TypeError("fit_autoencoder needs epochs= (AutoencoderHyperparameters has no epoch count)")
    backend = from_engine(engine, backend)
    hp = config
    x, target = train[0], train[1]
    opt = make_optimizer(net, hp)
    gen = torch.Generator().manual_seed(seed)
    # not the epoch count: a longer run of the same settings resumes a shorter one
    ckpt = Checkpoint(checkpoint, on_mismatch="restart", fingerprint=fingerprint(
        hp, x, target, val[0] if val is not None else None, val[1] if val is not None else None, seed,
        {k: tuple(v.shape) for k, v in net.state_dict().items()}))
    history: list[dict] = []
    best = {"epoch": -1, "mse": math.inf, "state": None}
    state = load_training(ckpt, net, opt, gen)
    if state is not None:
        history, best = state["history"], state["best"]
    on_epoch = EpochProgress.wrap(on_epoch, epochs, initial=len(history), desc="fit_autoencoder")
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen).to(x.device)
        total = train_autoencoder_epoch(net, opt, x, target, hp, perm, backend=backend)
        record = {
            "epoch": epoch,
            "train_mse_running": total["loss"] / max(total["n"], 1),
            "seconds": time.perf_counter() - t0,
            "pulse_times": [p.detach().tolist() for p in net.pulse_parameters()],
        }
        if val is not None:
            v = evaluate_autoencoder(net, val[0], val[1], hp.latency, batch_size=eval_batch_size)
            record.update(val_mse=v["mse"], val_silent_output=v["silent_output"])
            score = v["mse"]
        else:
            score = record["train_mse_running"]
        if score < best["mse"]:  # NaN never wins
            best = {"epoch": epoch, "mse": score, "state": clone_state(net)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        save_training(ckpt, net, opt, gen, history=history, best=best)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    return FitResult(history, {"epoch": best["epoch"], "mse": best["mse"]})


# ------------------------------------------------------------------------- looking inside (Figs. 4-10)


@torch.no_grad()
def embed(net: AlphaNetwork, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The embeddings: hidden-layer spike times (N, h), ``inf`` where a hidden neuron stays silent."""
    x = x.to(net.dtype)
    parts = [net.layers[0](x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, net.layers[0].n_out, dtype=net.dtype)


def _as_reconstruction(t_out: torch.Tensor, latency: float) -> torch.Tensor:
    return torch.where(torch.isfinite(t_out), t_out - latency, torch.ones_like(t_out))


@torch.no_grad()
def decode(net: AlphaNetwork, hidden: torch.Tensor, latency: float, batch_size: int = 1000) -> torch.Tensor:
    """Reconstructions ``o = t_out - latency`` (1.0 where silent) from hidden spike times (N, h), e.g.
    interpolated embeddings (Fig. 6); in the units of the target times."""
    hidden = hidden.to(net.dtype)
    parts = [_as_reconstruction(net.layers[1](hidden[i:i + batch_size]), latency)
             for i in range(0, len(hidden), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, net.layers[1].n_out, dtype=net.dtype)


def reconstruct(net: AlphaNetwork, x: torch.Tensor, latency: float, batch_size: int = 1000) -> torch.Tensor:
    """``decode(embed(x))``: the reconstructed times ``o`` (N, 784), 1.0 where an output is silent."""
    return decode(net, embed(net, x, batch_size), latency, batch_size)


def brightness(times: torch.Tensor) -> torch.Tensor:
    """Spike times (or reconstructions ``o``) as pixel brightness ``1 - t`` in [0, 1]; silent -> black."""
    t = torch.where(torch.isfinite(times), times, torch.ones_like(times))
    return 1.0 - torch.clamp(t, 0.0, 1.0)


def embedding_features(times: torch.Tensor, fill: float | None = None) -> tuple[np.ndarray, float]:
    """Embeddings as finite features (for t-SNE, SVMs): silent (``inf``) -> ``fill``.

    ``fill`` defaults to one time unit after the latest spike in ``times`` (a silent neuron is "later
    than any spike"); reuse the returned value for other splits. Returns ``(features, fill)``.
    """
    t = times.detach().cpu().to(torch.float64)
    finite = torch.isfinite(t)
    if fill is None:
        fill = float(t[finite].max()) + 1.0 if finite.any() else 1.0
    return torch.where(finite, t, torch.full_like(t, fill)).numpy(), float(fill)


def interpolation_grid(corners: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n, d) bilinear interpolation between four items (4, d): top-left, top-right, bottom-left,
    bottom-right (Fig. 6). For spike times, an entry silent (``inf``) in every corner stays silent; one
    silent in some corners counts there as one time unit after the corners' latest spike."""
    if corners.ndim != 2 or corners.shape[0] != 4:
        raise ValueError(f"corners must have shape (4, d), got {tuple(corners.shape)}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    c = corners.detach().cpu().to(torch.float64)
    finite = torch.isfinite(c)
    fill = float(c[finite].max()) + 1.0 if finite.any() else 1.0
    c = torch.where(finite, c, torch.full_like(c, fill))
    a = torch.linspace(0, 1, n, dtype=torch.float64)
    row, col = a.view(n, 1, 1), a.view(1, n, 1)
    top = (1 - col) * c[0] + col * c[1]
    bottom = (1 - col) * c[2] + col * c[3]
    grid = (1 - row) * top + row * bottom
    return torch.where(finite.any(dim=0), grid, torch.full_like(grid, math.inf))


@torch.no_grad()
def layer_spike_times(net: AlphaNetwork, x: torch.Tensor, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Spike times of every layer over ``x`` and the pulse times (Fig. 8): ``input``, ``hidden``,
    ``output`` (N, n) with ``inf`` where silent, ``hidden_pulses`` and ``output_pulses`` (p,) (the
    pulses feeding the hidden and the output layer)."""
    x = x.to(net.dtype)
    hidden, output = [], []
    for i in range(0, len(x), batch_size):
        h, o = net(x[i:i + batch_size], all_layers=True)
        hidden.append(h)
        output.append(o)
    return {
        "input": x.cpu().numpy(),
        "hidden": torch.cat(hidden).cpu().numpy(),
        "output": torch.cat(output).cpu().numpy(),
        "hidden_pulses": net.layers[0].pulse_times.detach().cpu().numpy(),
        "output_pulses": net.layers[1].pulse_times.detach().cpu().numpy(),
    }


def weight_groups(net: AlphaNetwork) -> dict[str, np.ndarray]:
    """The weights of Fig. 10, flattened: ``encoder``/``decoder`` x ``regular``/``pulse``."""
    out = {}
    for name, layer in zip(("encoder", "decoder"), net.layers):
        w = layer.weight.detach().cpu().numpy()
        out[f"{name} regular"] = w[:layer.n_in].ravel()
        out[f"{name} pulse"] = w[layer.n_in:].ravel()
    return out

