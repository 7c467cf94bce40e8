"""Spiking autoencoders with temporal coding (Comsa et al. 2021b): 784-h-784 alpha networks with pulses.

An image is latency coded (``t = 1 - p/256``, black pixels silent; §2.3), corrupted with the noise of
eq. 6 (drawn once), and the network is trained to reproduce the clean times after a fixed latency ``l``:
output k should spike at ``l + t_k`` (§2.4). The loss and gradient are the authors' (§2.5, reference notes):

    o_k = t_out_k - l   (o_k = 1 for a silent output),   target_k = t_k   (1 for a silent pixel)
    dL/dt_out_k = o_k - target_k,   reported error = sum_k (o_k - target_k)^2 / 784

with :func:`spikelib.alpha.autoencoder_loss`; a neuron that stays silent raises all its incoming weights
by ``penalty_no_spike`` instead of passing a gradient back (the paper's "very large surrogate time").

- :func:`load_autoencoder_hyperparameters`, :func:`autoencoder_hyperparameters` -- the authors' 75 sets
  (eta x l x h), as :class:`AutoencoderHyperparameters`.
- :func:`load_autoencoder_data` -- noisy inputs, clean targets and labels of MNIST / FMNIST splits, for
  the spiking network (``"times"``) or the ANN baselines (``"regular"``, ``"inverted"`` images).
- :func:`autoencoder_train_step`, :func:`fit_autoencoder` -- training, best validation MSE kept,
  checkpoint and resume; :func:`evaluate_autoencoder` -- the paper's reconstruction error.
- :func:`embed`, :func:`decode`, :func:`reconstruct`, :func:`brightness`, :func:`interpolation_grid`,
  :func:`embedding_features`, :func:`layer_spike_times`,
  :func:`weight_groups`, :func:`svm_accuracy` -- what Figs. 4-10 look at.
- :func:`snn_parameter_count`, :func:`ann_parameter_count` -- §2.8.
- :func:`train_autoencoder_config` -- one configuration of a :func:`spikelib.sweep.run_sweep` sweep;
  :func:`by_expected_cost` orders a sweep, :func:`load_trained_autoencoder` reads its saved arrays.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import Callable, Mapping, NamedTuple

import numpy as np
import torch

from spikelib import data as _data
from spikelib._io import atomic_path
from spikelib.alpha import _cscan
from spikelib.alpha.losses import autoencoder_loss
from spikelib.alpha.modules import AlphaNetwork
from spikelib.alpha.training import (AlphaAdam, Hyperparameters, c_epoch_numerics, make_optimizer,
                                     restore_training_state, save_training_state, use_c_backend)
from spikelib.encoding import add_time_noise, latency as latency_code

#: Where the authors' 75 hyperparameter sets live, relative to the shared folder.
HYPERPARAMETERS_CSV = "reference/comsa2021-autoencoder-hyperparameters.csv"
#: The grid the sets cover (§2.7).
ETAS = (0.0, 0.2, 0.4, 0.6, 0.8)
LATENCIES = (1, 2, 4, 8, 16)
HIDDEN_SIZES = (8, 16, 32)
N_PIXELS = 784
#: The authors' split of the 60,000 training images (reference notes): shuffled, then train / validation.
N_TRAIN_POOL, N_VAL_POOL = 54000, 6000

#: The example neuron of Fig. 1 (tau = 1, theta = 0.5 as in the authors' code).
FIG1: Mapping[str, object] = {
    "t_in": (1.0, 4.0, 5.0, 8.0, 12.0, 17.0, 19.0),
    "w": (0.5, 0.3, 0.4, -0.2, -0.3, 1.2, 0.9),
    "tau": 1.0,
    "theta": 0.5,
    "t_out_paper": 19.39,
    "source": "Comsa et al. 2021b, Fig. 1 caption",
}

# CSV column -> Hyperparameters field; the three grid columns are read separately.
_CSV_FIELDS = {
    "batch_size": ("batch_size", int),
    "clip_derivative": ("clip_derivative", float),
    "decay_rate": ("decay_constant", float),
    "fire_threshold": ("fire_threshold", float),
    "learning_rate": ("learning_rate", float),
    "learning_rate_pulses": ("learning_rate_pulses", float),
    "n_pulses": ("n_pulses", int),
    "nonpulse_weight_mean_multiplier": ("nonpulse_weight_mean_multiplier", float),
    "penalty_no_spike": ("penalty_no_spike", float),
    "pulse_weight_mean_multiplier": ("pulse_weight_mean_multiplier", float),
}
_CSV_GRID = {"noise_factor_ae": ("eta", float), "latency_ae": ("latency", float), "n_hidden": ("hidden", int)}


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


def _parse(value: str, kind, column: str, line: int, path: Path):
    try:
        return kind(float(value)) if kind is int and float(value).is_integer() else kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{path}, line {line}: column {column!r} must be {what}, got {value!r}") from None


def load_autoencoder_hyperparameters(path: str | Path | None = None) -> list[AutoencoderHyperparameters]:
    """The authors' 75 autoencoder hyperparameter sets, in the file's order.

    ``path`` defaults to ``reference/comsa2021-autoencoder-hyperparameters.csv`` in the shared folder
    (:func:`spikelib.data.find_shared`; ``SPIKELIB_SHARED`` points elsewhere). Columns: the grid
    (``noise_factor_ae``, ``latency_ae``, ``n_hidden``) and the model and training settings
    (``decay_rate`` is tau, the others keep the paper's names).
    """
    if path is None:
        path = _data.find_shared(HYPERPARAMETERS_CSV)
        if path is None:
            searched = ", ".join(str(c) for c in _data.shared_candidates())
            raise FileNotFoundError(
                f"{HYPERPARAMETERS_CSV} not found in the shared folder (looked in: {searched}); set "
                "SPIKELIB_SHARED to the folder that holds reference/, or pass path="
            )
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (*_CSV_GRID, *_CSV_FIELDS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}; has {reader.fieldnames}")
        sets, seen = [], {}
        for line, row in enumerate(reader, start=2):
            grid = {name: _parse(row[col], kind, col, line, path) for col, (name, kind) in _CSV_GRID.items()}
            fields = {name: _parse(row[col], kind, col, line, path) for col, (name, kind) in _CSV_FIELDS.items()}
            where = (grid["eta"], grid["latency"], grid["hidden"])
            if where in seen:
                raise ValueError(f"{path}, line {line}: eta, latency, hidden = {where} repeats line {seen[where]}")
            seen[where] = line
            sets.append(AutoencoderHyperparameters(
                n_hidden=(grid["hidden"],), eta=grid["eta"], latency=grid["latency"], **fields))
    if not sets:
        raise ValueError(f"{path} holds no hyperparameter sets")
    return sets


@functools.lru_cache(maxsize=4)
def _default_sets(path: str | None) -> tuple[AutoencoderHyperparameters, ...]:
    return tuple(load_autoencoder_hyperparameters(path))


def autoencoder_hyperparameters(eta: float, latency: float, hidden: int, *,
                                sets=None) -> AutoencoderHyperparameters:
    """The set for noise factor ``eta``, target latency ``latency`` and hidden size ``hidden``.

    ``sets``: a list from :func:`load_autoencoder_hyperparameters`, a CSV path, or None (the shared
    CSV, read once). Raises KeyError naming the values the sets do cover.
    """
    if sets is None or isinstance(sets, (str, Path)):
        sets = _default_sets(None if sets is None else str(sets))
    for s in sets:
        if math.isclose(s.eta, eta, abs_tol=1e-9) and math.isclose(s.latency, latency, abs_tol=1e-9) \
                and s.hidden == hidden:
            return s
    cover = {name: sorted({getattr(s, name) for s in sets}) for name in ("eta", "latency", "hidden")}
    raise KeyError(
        f"no autoencoder hyperparameter set for eta={eta}, latency={latency}, hidden={hidden}; the sets "
        f"cover eta in {cover['eta']}, latency in {cover['latency']}, hidden in {cover['hidden']}"
    )


def snn_parameter_count(n_in: int, n_hidden: int, n_out: int, n_pulses: int) -> int:
    """Parameters of an i-h-o spiking autoencoder with p pulses per layer: ``(i + p) h + (h + p) o + 2 p``
    (weights, and the pulse times of both layers; §2.8)."""
    return (n_in + n_pulses) * n_hidden + (n_hidden + n_pulses) * n_out + 2 * n_pulses


def ann_parameter_count(n_in: int, n_hidden: int, n_out: int) -> int:
    """Parameters of an i-h-o ANN autoencoder with biases: ``i h + h + h o + o`` (§2.8)."""
    return n_in * n_hidden + n_hidden + n_hidden * n_out + n_out


# ------------------------------------------------------------------------------------------- data


class Split(NamedTuple):
    """One split: ``x`` the (noisy) inputs, ``target`` the clean targets, ``labels`` the classes."""

    x: torch.Tensor
    target: torch.Tensor
    labels: torch.Tensor


@dataclasses.dataclass(frozen=True)
class AutoencoderData:
    dataset: str
    eta: float
    representation: str
    train: Split
    val: Split
    test: Split


_LOADERS = {"mnist": _data.load_mnist, "fmnist": _data.load_fashion_mnist}
_DATASET_ALIASES = {"mnist": "mnist", "fmnist": "fmnist", "fashion": "fmnist", "fashion_mnist": "fmnist",
                    "fashion-mnist": "fmnist"}
REPRESENTATIONS = ("times", "inverted", "regular")


def dataset_name(dataset: str) -> str:
    """``"mnist"`` or ``"fmnist"`` (also accepted: ``fashion``, ``fashion_mnist``, ``fashion-mnist``)."""
    try:
        return _DATASET_ALIASES[dataset.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown dataset {dataset!r}; use 'mnist' or 'fmnist'") from None


def _encode(images: np.ndarray, eta: float, representation: str, seed: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    if len(images) == 0:
        empty = torch.empty(0, int(np.prod(images.shape[1:])), dtype=dtype)
        return empty, empty.clone()
    if representation == "regular":
        # The ANN's usual images x = p/256 with zero-mean noise (eq. 6, "not inverted"): every pixel is an
        # input, so the "silent" (>= 1) pixels that add_time_noise marks are white ones again.
        clean = latency_code(images, invert=False, dtype=torch.float64)
        noisy = add_time_noise(clean, eta, invert=False, seed=seed)
        noisy = torch.where(torch.isinf(noisy), torch.ones_like(noisy), noisy)
    else:
        clean = latency_code(images, dtype=torch.float64)
        noisy = add_time_noise(clean, eta, seed=seed)
        if representation == "inverted":  # the same numbers as the SNN's, as an image: silent = 1
            clean, noisy = (torch.where(torch.isinf(t), torch.ones_like(t), t) for t in (clean, noisy))
    return noisy.to(dtype), clean.to(dtype)


def load_autoencoder_data(
    dataset: str = "mnist",
    *,
    eta: float = 0.0,
    n_train: int = N_TRAIN_POOL,
    n_val: int = N_VAL_POOL,
    n_test: int = 10000,
    representation: str = "times",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> AutoencoderData:
    """Noisy inputs, clean targets and labels of the train / validation / test splits.

    The 60,000 training images are shuffled with ``seed`` and split 54,000 / 6,000 as the authors do
    (:func:`spikelib.data.train_val_split`); the first ``n_train`` / ``n_val`` of each part and the first
    ``n_test`` test images are used. Noise (eq. 6) is drawn once per split from ``seed``; the same ``r``
    serves every ``eta``, so noise levels differ only in scale. ``representation``:

    - ``"times"``: the spiking network's spike times ``t = 1 - p/256`` (``inf`` = silent), noise mean 1;
    - ``"inverted"``: the same numbers as an image for an ANN (silent -> 1.0);
    - ``"regular"``: the ANN's usual images ``x = p/256`` with zero-mean noise (§2.6, §2.8).

    In all three, the squared error per pixel is in the same units, so the reported errors compare.
    """
    name = dataset_name(dataset)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    for label, n, cap in (("n_train", n_train, N_TRAIN_POOL), ("n_val", n_val, N_VAL_POOL), ("n_test", n_test, 10000)):
        if not 0 <= n <= cap:
            raise ValueError(f"{label} must be in [0, {cap}], got {n}")
    (train_images, train_labels), (val_images, val_labels) = _data.train_val_split(
        *_LOADERS[name]("train"), n_val=N_VAL_POOL, seed=seed)
    test_images, test_labels = _LOADERS[name]("test")
    splits = {}
    for offset, (split, imgs, labs) in enumerate((
        ("train", train_images[:n_train], train_labels[:n_train]),
        ("val", val_images[:n_val], val_labels[:n_val]),
        ("test", test_images[:n_test], test_labels[:n_test]),
    )):
        x, target = _encode(imgs, eta, representation, seed * 3 + offset, dtype)
        labs = torch.from_numpy(np.array(labs, dtype=np.int64))  # a copy: the cached arrays are read-only
        splits[split] = Split(x, target, labs)
    return AutoencoderData(name, float(eta), representation, **splits)


def mean_image_error(dataset: str = "mnist", *, n_train: int = N_TRAIN_POOL, n_test: int = 10000,
                     seed: int = 0) -> float:
    """The reconstruction error (as :func:`evaluate_autoencoder` reports it) of a constant output: the
    mean of the first ``n_train`` training targets (silent pixels as 1), for each of the first ``n_test``
    test images. A network at or near this error has learnt only the average image; the figures use it
    as the floor a trained autoencoder must beat."""
    data = load_autoencoder_data(dataset, n_train=n_train, n_val=0, n_test=n_test, seed=seed,
                                 dtype=torch.float64)
    # targets as reconstructions (latency 0): silent pixels read as 1, as the loss reads them
    mean = _as_reconstruction(data.train.target, 0.0).mean(dim=0)
    return float(((_as_reconstruction(data.test.target, 0.0) - mean) ** 2).mean(dim=1).mean())


# --------------------------------------------------------------------------------------- training


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
                            hp: AutoencoderHyperparameters, order: torch.Tensor, *, engine: str = "auto") -> dict:
    """One pass over ``x[order]`` in mini-batches of ``hp.batch_size``; the summed error and count.
    ``engine``: where it runs (:func:`spikelib.alpha.training.use_c_backend`; on CPU by default in C)."""
    if use_c_backend(engine, net, x):
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


def fit_autoencoder(
    net: AlphaNetwork,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    hp: AutoencoderHyperparameters,
    *,
    epochs: int,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    eval_batch_size: int = 1000,
    engine: str = "auto",
) -> dict:
    """Train for ``epochs`` epochs; keep the weights of the epoch with the lowest validation error.

    ``train`` and ``val`` are ``(x, target)`` (a :class:`Split` will do). Without ``val`` the running
    training error selects. With ``checkpoint``, the state is saved atomically after every epoch and a
    later call with the same path resumes from it (the result equals an uninterrupted run). Returns
    ``{"history": [...], "best": {"epoch", "mse"}}`` and leaves ``net`` holding the selected weights.
    ``engine``: where the epochs run (:func:`spikelib.alpha.training.use_c_backend`).
    """
    if not isinstance(hp, AutoencoderHyperparameters):
        raise TypeError("hp must be AutoencoderHyperparameters (it carries the target latency), got "
                        f"{type(hp).__name__}")
    x, target = train[0], train[1]
    opt = make_optimizer(net, hp)
    gen = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best = {"epoch": -1, "mse": math.inf, "state": None}
    path = Path(checkpoint) if checkpoint else None
    history, best = restore_training_state(path, net, opt, gen, history, best)
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen).to(x.device)
        total = train_autoencoder_epoch(net, opt, x, target, hp, perm, engine=engine)
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
            best = {"epoch": epoch, "mse": score,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        save_training_state(path, net, opt, gen, history, best)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    return {"history": history, "best": {"epoch": best["epoch"], "mse": best["mse"]}}


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


def svm_accuracy(train_features, train_labels, test_features, test_labels) -> float:
    """Test accuracy of an RBF-kernel SVM (scikit-learn ``SVC`` defaults: C = 1, gamma = "scale") trained
    on ``train_features`` (Fig. 7: embeddings, or the raw pixels for the baseline)."""
    from sklearn.svm import SVC

    clf = SVC(kernel="rbf").fit(np.asarray(train_features), np.asarray(train_labels))
    return float((clf.predict(np.asarray(test_features)) == np.asarray(test_labels)).mean())


# ------------------------------------------------------------------------------------------- sweep

EXPERIMENT = "spiking_autoencoders"
_CONFIG_KEYS = {
    "snn": {"dataset", "eta", "hidden", "model", "latency", "epochs"},
    "ann": {"dataset", "eta", "hidden", "model", "activation", "inverted", "epochs"},
}


def _check_config(config: Mapping) -> dict:
    cfg = dict(config)
    model = cfg.setdefault("model", "snn")
    if model not in _CONFIG_KEYS:
        raise ValueError(f"config model must be 'snn' or 'ann', got {model!r}")
    required = {"dataset", "eta", "hidden"} | ({"latency"} if model == "snn" else set())
    missing = sorted(required - set(cfg))
    unknown = sorted(set(cfg) - _CONFIG_KEYS[model])
    if missing or unknown:
        raise ValueError(
            f"config {dict(config)!r}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"unknown for model {model!r}: {', '.join(unknown)}"] if unknown else []))
            + f" (a {model} config has {', '.join(sorted(_CONFIG_KEYS[model]))})"
        )
    if "epochs" in cfg and not (isinstance(cfg["epochs"], int) and cfg["epochs"] >= 1):
        raise ValueError(f"config epochs must be a positive integer, got {cfg['epochs']!r}")
    if model == "ann":
        cfg.setdefault("activation", "relu-sigmoid")
        cfg.setdefault("inverted", False)
        if len(str(cfg["activation"]).split("-")) != 2:
            raise ValueError(f"ann activation must be 'encoder-decoder', e.g. 'relu-sigmoid', got {cfg['activation']!r}")
    cfg["dataset"] = dataset_name(cfg["dataset"])
    return cfg


def by_expected_cost(configs: list[Mapping], epochs: int = 1) -> list[Mapping]:
    """``configs`` with the costliest first, so that parallel workers finish together. An SNN image costs
    about ``0.15 + 3 / batch_size`` ms (measured on one core: the per-step overhead dominates small
    batches, batch 1 is ~15x slower per image than batch 107) times its epochs (``epochs``, or the
    config's own); ANNs (seconds each) come last."""
    def key(config):
        cfg = _check_config(config)
        if cfg["model"] == "ann":
            return 0.0
        bs = autoencoder_hyperparameters(cfg["eta"], cfg["latency"], cfg["hidden"]).batch_size
        return -cfg.get("epochs", epochs) * (0.15 + 3.0 / bs)

    return sorted(configs, key=key)


def _state_arrays(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {f"state/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a temporary name
            np.savez_compressed(f, **arrays)


def train_autoencoder_config(
    config: Mapping,
    *,
    scale: str,
    device: str = "cpu",
    seed: int = 0,
    checkpoint: str | Path | None = None,
    artifacts: str | Path | None = None,
) -> dict:
    """Train and evaluate one autoencoder of the sweep; for :func:`spikelib.sweep.run_sweep`.

    ``config``: ``dataset`` (``"mnist"``/``"fmnist"``), ``eta``, ``hidden`` and either ``model="snn"``
    (default) with ``latency`` (the authors' set for (eta, latency, hidden), tuned on MNIST, is used for
    both datasets, §2.7) or ``model="ann"`` with ``activation="encoder-decoder"`` (default
    ``"relu-sigmoid"``) and ``inverted`` (default False; True: the SNN's inverted images, Fig. 11). Sizes
    and epochs come from ``spikelib.scales.settings("spiking_autoencoders", scale)``; the data split and
    noise are the same for every config (``data_seed``), ``seed`` initialises the model and orders the
    batches. An ``epochs`` entry in the config overrides the scale's (e.g. for l = 16, which needs more
    steps before its outputs move to the target latency).

    Returns small JSON-able results (errors, epochs, timings, SVM accuracy on the embeddings, ...). The
    arrays the figures need (the first ``n_examples`` test inputs, targets and reconstructions, the test
    embeddings and labels, the selected weights, the config) go to ``artifacts`` (default: beside the
    checkpoint, ``<key>.npz``), written atomically; :func:`load_trained_autoencoder` reads them back.
    """
    from spikelib.scales import settings

    cfg = _check_config(config)
    s = settings(EXPERIMENT, scale)
    t_start = time.perf_counter()
    dev = torch.device(device)
    representation = "times" if cfg["model"] == "snn" else ("inverted" if cfg["inverted"] else "regular")
    d = load_autoencoder_data(cfg["dataset"], eta=cfg["eta"], n_train=s["n_train"], n_val=s["n_val"],
                              n_test=s["n_test"], representation=representation, seed=s["data_seed"])
    train, val, test = (Split(p.x.to(dev), p.target.to(dev), p.labels) for p in (d.train, d.val, d.test))
    n_svm = min(s["n_svm_train"], len(train.x))
    epochs = cfg.get("epochs", s["epochs"])

    if cfg["model"] == "snn":
        hp = autoencoder_hyperparameters(cfg["eta"], cfg["latency"], cfg["hidden"])
        model = hp.network(N_PIXELS, seed=seed).to(dev)
        fit = fit_autoencoder(model, train, val, hp, epochs=epochs, seed=seed, checkpoint=checkpoint)
        ev = evaluate_autoencoder(model, test.x, test.target, hp.latency)
        test_mse = ev["mse"]
        recon = reconstruct(model, test.x[:s["n_examples"]], hp.latency)
        emb_train, fill = embedding_features(embed(model, train.x[:n_svm]))
        emb_test_raw = embed(model, test.x)
        emb_test, _ = embedding_features(emb_test_raw, fill)
        val_mse = fit["best"]["mse"]
        extra = {"latency": hp.latency, "batch_size": hp.batch_size, "n_pulses": hp.n_pulses,
                 "silent_hidden": ev["silent_hidden"], "silent_output": ev["silent_output"],
                 "embedding_fill": fill}
        n_params = model.n_parameters()
    else:
        from spikelib import ann

        enc, dec = cfg["activation"].split("-")
        model = ann.DenseAutoencoder(N_PIXELS, cfg["hidden"], enc, dec, seed=seed).to(dev)
        fit = ann.fit_dense_autoencoder(model, train, val, epochs=epochs, seed=seed)
        test_mse = ann.reconstruction_mse(model, test.x, test.target)
        val_mse = fit["best"]["mse"]
        with torch.no_grad():
            recon = model(test.x[:s["n_examples"]])
            emb_train = model.encode(train.x[:n_svm]).cpu().numpy()
            emb_test_raw = model.encode(test.x)
        emb_test = emb_test_raw.cpu().numpy()
        extra = {"batch_size": ann.AUTOENCODER_BATCH_SIZE}
        n_params = model.n_parameters()

    svm = svm_accuracy(emb_train, train.labels[:n_svm].numpy(), emb_test, test.labels.numpy()) if n_svm else None
    history = fit["history"]
    results = {
        "model": cfg["model"],
        "test_mse": test_mse,
        "val_mse": val_mse,
        "best_epoch": fit["best"]["epoch"],
        "epochs": len(history),
        "val_mse_history": [r.get("val_mse") for r in history],
        "train_mse_history": [r["train_mse_running"] for r in history],
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in history])) if history else None,
        "svm_accuracy": svm,
        "n_parameters": n_params,
        "n_train": len(train.x), "n_val": len(val.x), "n_test": len(test.x), "n_svm_train": n_svm,
        "representation": representation,
        "wall_s": time.perf_counter() - t_start,
        **extra,
    }
    if artifacts is None and checkpoint is not None:
        artifacts = Path(checkpoint).with_suffix(".npz")
    if artifacts is not None:
        artifacts = Path(artifacts)
        _write_npz(artifacts, {
            "config": np.array(json.dumps(cfg)),
            "inputs": test.x[:s["n_examples"]].cpu().numpy(),
            "targets": test.target[:s["n_examples"]].cpu().numpy(),
            "reconstructions": recon.cpu().numpy(),
            "test_embeddings": emb_test_raw.cpu().numpy(),
            "test_labels": test.labels.numpy(),
            **_state_arrays(model),
        })
        results["artifacts"] = artifacts.name
    return results


def load_trained_autoencoder(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The model saved by :func:`train_autoencoder_config` in ``path`` (``<key>.npz``) and the saved arrays
    (``config``, ``inputs``, ``targets``, ``reconstructions``, ``test_embeddings``, ``test_labels``)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    cfg = json.loads(str(arrays.pop("config")))
    state = {k[len("state/"):]: torch.from_numpy(arrays.pop(k)) for k in list(arrays) if k.startswith("state/")}
    if cfg["model"] == "snn":
        model = autoencoder_hyperparameters(cfg["eta"], cfg["latency"], cfg["hidden"]).network(N_PIXELS)
    else:
        from spikelib import ann

        enc, dec = cfg["activation"].split("-")
        model = ann.DenseAutoencoder(N_PIXELS, cfg["hidden"], enc, dec)
    model.load_state_dict(state)
    arrays["config"] = cfg
    return model, arrays
