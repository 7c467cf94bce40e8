"""Conventional (non-spiking) baselines used across the book, small and seeded.

- :class:`DenseAutoencoder` and :func:`fit_dense_autoencoder` -- the i-h-o ANN autoencoders with biases
  that Comsa et al. (2021b, §2.8, Figs. 3, 7 and 11) compare their spiking autoencoders with: ReLU encoder
  and sigmoid decoder by default; ELU, tanh, sigmoid and the zero-centred Gaussian ``exp(-x^2)`` for the
  inverted images of Fig. 11. Adam, mean squared error, best validation epoch kept.
- :class:`MLPClassifier`, :class:`MLPConfig` and :func:`fit_mlp_classifier` -- the 784-340-10 ReLU
  perceptron that Comsa et al. (2021, §3.2) train beside their spiking classifier: Glorot initialisation,
  Adam with learning rate 0.001, batch sizes 5, 32 and 128, three runs each.

The papers' baselines are Keras models; the choices below follow Keras' defaults where the papers say
nothing: Glorot-uniform weights, zero biases, Adam with epsilon 1e-7, mean squared error over pixels.
Everything is seeded by an explicit ``seed`` (initialisation and batch order), so a run on the CPU repeats
bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from spikelib.backend import check_backend, resolve_backend, subnormals_flushed
from spikelib.fitting import (Checkpoint, EpochProgress, FitResult, derive_seed, fingerprint, load_training,
                              save_training)

#: Keras' Adam epsilon (torch's default is 1e-8).
ADAM_EPS = 1e-7
#: Batch size of the ANN autoencoders: the papers give none; Keras' default.
AUTOENCODER_BATCH_SIZE = 32
PIXEL_LEVELS = 256.0  # as spikelib.encoding: x = p / 256


def gaussian(x: torch.Tensor) -> torch.Tensor:
    """The zero-centred Gaussian activation ``exp(-x^2)`` (Comsa et al. 2021b, §3.4)."""
    return torch.exp(-x * x)


#: Activation functions by name.
ACTIVATIONS: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "elu": nn.functional.elu,
    "tanh": torch.tanh,
    "gaussian": gaussian,
    "linear": lambda x: x,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


def as_inputs(images, *, invert: bool = False, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, ...) images -> (N, n_pixels) float tensor. uint8 pixels become ``x = p / 256`` (``1 - x`` with
    ``invert``), the scaling of :func:`spikelib.encoding.latency`; float input is only flattened."""
    # a copy of numpy input: the dataset cache hands out read-only arrays
    t = torch.from_numpy(np.array(images)) if isinstance(images, np.ndarray) else torch.as_tensor(images)
    if t.ndim < 2:
        raise ValueError(f"images must have a batch dimension, got shape {tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1)
    if t.dtype == torch.uint8:
        t = t.to(torch.float64) / PIXEL_LEVELS
        if invert:
            t = 1.0 - t
    elif not torch.is_floating_point(t):
        raise TypeError(f"images must be uint8 pixels or floats, got {t.dtype}")
    return t.to(dtype)


def _glorot_(linear: nn.Linear, generator: torch.Generator) -> None:
    # Keras' glorot_uniform and zeros: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
    nn.init.xavier_uniform_(linear.weight, generator=generator)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


def _batches(n: int, batch_size: int, generator: torch.Generator):
    perm = torch.randperm(n, generator=generator)
    return (perm[i:i + batch_size] for i in range(0, n, batch_size))


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------- autoencoder


class DenseAutoencoder(nn.Module):
    """``n_in``-``n_hidden``-``n_in`` autoencoder: ``decoder_act(W2 encoder_act(W1 x + b1) + b2)``.

    Glorot-uniform weights and zero biases from ``seed``. With ``bias=True`` it has
    ``i h + h + h o + o`` parameters (Comsa et al. 2021b, §2.8).
    """

    def __init__(self, n_in: int, n_hidden: int, encoder_activation: str = "relu",
                 decoder_activation: str = "sigmoid", *, bias: bool = True, seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if n_in < 1 or n_hidden < 1:
            raise ValueError(f"need n_in >= 1 and n_hidden >= 1, got {n_in}, {n_hidden}")
        self.encoder_activation, self.decoder_activation = encoder_activation, decoder_activation
        self._enc, self._dec = activation(encoder_activation), activation(decoder_activation)
        self.encoder = nn.Linear(n_in, n_hidden, bias=bias, dtype=dtype)
        self.decoder = nn.Linear(n_hidden, n_in, bias=bias, dtype=dtype)
        gen = torch.Generator().manual_seed(seed)
        _glorot_(self.encoder, gen)
        _glorot_(self.decoder, gen)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding (hidden activations), (N, n_hidden)."""
        return self._enc(self.encoder(x.to(self.encoder.weight.dtype)))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self._dec(self.decoder(h.to(self.decoder.weight.dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"activations={self.encoder_activation}-{self.decoder_activation}"


@torch.no_grad()
def reconstruction_mse(model: nn.Module, x: torch.Tensor, target: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean over examples and pixels of ``(model(x) - target)^2``: the paper's reported error."""
    if len(x) == 0:
        raise ValueError("reconstruction_mse needs at least one example")
    total = 0.0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        total += float(((out - target[i:i + batch_size].to(out.dtype)) ** 2).mean(dim=-1).sum())
    return total / len(x)


#: The settings :func:`fit_dense_autoencoder` takes from its ``config`` (and their defaults: the papers give
#: none for the ANN autoencoders; Keras' batch size and Adam's usual learning rate).
AUTOENCODER_CONFIG = {"batch_size": AUTOENCODER_BATCH_SIZE, "learning_rate": 1e-3}


def _autoencoder_config(config: Mapping | None, options: dict) -> dict:
    cfg = dict(AUTOENCODER_CONFIG)
    given = {**(dict(config) if config is not None else {}), **{k: v for k, v in options.items() if v is not None}}
    unknown = sorted(set(given) - set(cfg) - {"epochs"})
    if unknown:
        raise ValueError(f"unknown dense-autoencoder setting(s) {', '.join(unknown)}; known: "
                         f"{', '.join([*AUTOENCODER_CONFIG, 'epochs'])}")
    cfg.update(given)
    return cfg


def fit_dense_autoencoder(
    model: DenseAutoencoder,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    config: Mapping | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
) -> FitResult:
    """Train ``model`` to map ``train[0]`` (noisy) to ``train[1]`` (clean) with Adam on the mean squared
    error ``mean_k (model(x)_k - target_k)^2`` (Comsa et al. 2021b, §2.8); the :mod:`spikelib.fitting`
    contract.

    ``config``: a mapping with ``batch_size``, ``learning_rate`` and ``epochs`` (None: the defaults of
    :data:`AUTOENCODER_CONFIG`); the keyword options of the same names override it. ``epochs`` is
    required (here or in ``config``). Keeps the weights of the epoch with the lowest validation MSE (the
    training MSE without ``val``), as for the spiking autoencoders. With ``checkpoint``, the state is
    saved after every epoch and a later call with the same path and settings resumes from it.
    ``backend``: only the torch path exists (``"c"`` is an error). Returns a
    :class:`spikelib.fitting.FitResult` (``history``; ``best``: ``{"epoch", "mse"}``).
    """
    cfg = _autoencoder_config(config, {"batch_size": batch_size, "learning_rate": learning_rate})
    epochs = cfg.get("epochs") if epochs is None else epochs
    if epochs is None:
        raise TypeError("fit_dense_autoencoder needs epochs= (or an 'epochs' entry in config)")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if check_backend(backend) != "auto":  # torch only: "auto" (whatever $SPIKELIB_BACKEND says) is torch
        resolve_backend(backend, what="a dense autoencoder")  # "c" raises, naming why
    x, target = train[0], train[1]
    opt = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"], eps=ADAM_EPS)
    gen = torch.Generator().manual_seed(seed)
    ckpt = Checkpoint(checkpoint, on_mismatch="restart", fingerprint=fingerprint(
        {k: v for k, v in cfg.items() if k != "epochs"}, x, target, val[0] if val is not None else None,
        val[1] if val is not None else None, seed, {k: tuple(v.shape) for k, v in model.state_dict().items()}))
    history: list[dict] = []
    best = {"epoch": -1, "mse": math.inf, "state": None}
    state = load_training(ckpt, model, opt, gen)
    if state is not None:
        history, best = state["history"], state["best"]
    on_epoch = EpochProgress.wrap(on_epoch, epochs, initial=len(history), desc="dense autoencoder fit")
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        total = 0.0
        for idx in _batches(len(x), cfg["batch_size"], gen):
            out = model(x[idx])
            loss = ((out - target[idx].to(out.dtype)) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch, "train_mse_running": total / len(x), "seconds": time.perf_counter() - t0}
        if val is not None:
            record["val_mse"] = reconstruction_mse(model, val[0], val[1])
        score = record.get("val_mse", record["train_mse_running"])
        if score < best["mse"]:
            best = {"epoch": epoch, "mse": score, "state": _state(model)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        save_training(ckpt, model, opt, gen, history=history, best=best)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return FitResult(history, {"epoch": best["epoch"], "mse": best["mse"]})


# -------------------------------------------------------------------------------------- classifier


class MLPClassifier(nn.Module):
    """A ReLU perceptron, by default 784-340-10 (Comsa et al. 2021, §3.2); returns logits."""

    def __init__(self, sizes=(784, 340, 10), *, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {list(sizes)}")
        self.sizes = tuple(int(s) for s in sizes)
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        gen = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            _glorot_(layer, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.layers[0].weight.dtype)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Fraction of ``x`` whose largest logit is the label ``y``."""
    correct = sum(int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / max(len(x), 1)


def _xy(split, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if split is None or len(split) != 2:
        raise ValueError(f"{name} must be a pair (images, labels)")
    x, y = split
    return as_inputs(x), (torch.from_numpy(np.array(y)) if isinstance(y, np.ndarray) else torch.as_tensor(y)).long()


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """Hyperparameters of :func:`fit_mlp_classifier` (Comsa et al. 2021, §3.2: Adam, learning rate 0.001;
    the paper tried batch sizes 5, 32 and 128). ``epochs``: used where ``fit`` gets none."""

    batch_size: int = 32
    learning_rate: float = 1e-3
    epochs: int = 100


def fit_mlp_classifier(
    model: nn.Module,
    train,
    val=None,
    config: MLPConfig | Mapping | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    test=None,
) -> FitResult:
    """Train ``model`` (an :class:`MLPClassifier`) on ``train`` with Adam on the cross entropy; the alpha
    paper's baseline (§3.2), in the training contract of :mod:`spikelib.fitting`.

    ``train``, ``val``, ``test`` are ``(images, labels)``: uint8 images become ``p / 256``, float images
    are used as given. ``config``: an :class:`MLPConfig` or a mapping of its fields (None: the defaults);
    ``epochs`` None takes the config's. ``seed + 1`` seeds the batch order (``seed`` is meant for the
    model's initialisation: not the same stream). Every epoch is evaluated on ``val`` and ``test`` where
    given. The model keeps its last epoch's weights; the result reports the selection without applying
    it: ``best`` is the first epoch with the highest validation accuracy (with its test accuracy), and the
    result also reads as the flat JSON-able summary of earlier versions (``batch_size``, ``epochs``,
    ``seed``, ``best_epoch``, ``val_accuracy``, ``test_accuracy`` at that epoch, ``final_test_accuracy``
    of the last epoch, ``max_test_accuracy``: the highest test accuracy of any epoch, i.e. chosen on the
    test set, which is how the paper reports its "maximal accuracy of 97.9 %", ``n_train``, ``n_val``, ``n_test``, ``wall_s``). ``checkpoint``: saved after every epoch and
    resumed (:class:`spikelib.fitting.Checkpoint`); ``backend``: torch only.
    """
    cfg = MLPConfig(**config) if isinstance(config, Mapping) else (config or MLPConfig())
    epochs = cfg.epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    resolve_backend(backend, what="the MLP classifier")  # no C path: "c" is an error
    x, y = _xy(train, "train")
    xv, yv = _xy(val, "val") if val is not None else (None, None)
    xt, yt = _xy(test, "test") if test is not None else (None, None)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, eps=ADAM_EPS)
    gen = torch.Generator().manual_seed(seed + 1)  # batch order: not the same stream as the weights
    run_id = fingerprint(cfg, x, y, xv, yv, seed) if checkpoint else None
    ckpt = Checkpoint(checkpoint, fingerprint=run_id)
    history: list[dict] = []
    state = load_training(ckpt, model, opt, gen)
    if state is not None:
        history = state["history"]
    t_start = time.perf_counter()
    on_epoch = EpochProgress.wrap(on_epoch, epochs, initial=len(history), desc="MLP fit")
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        total = 0.0
        for idx in _batches(len(x), cfg.batch_size, gen):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch, "train_loss_running": total / len(x)}
        if val is not None:
            record["val_accuracy"] = accuracy(model, xv, yv)
        if test is not None:
            record["test_accuracy"] = accuracy(model, xt, yt)
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        save_training(ckpt, model, opt, gen, history=history)
    summary: dict = {"batch_size": cfg.batch_size, "epochs": epochs, "seed": seed}
    best = None
    if val is not None:
        chosen = max(history, key=lambda r: (r["val_accuracy"], -r["epoch"]))  # first epoch with the best val
        best = {k: chosen[k] for k in ("epoch", "val_accuracy", "test_accuracy") if k in chosen}
        summary.update(best_epoch=chosen["epoch"], **{k: v for k, v in best.items() if k != "epoch"})
    if test is not None:
        summary["final_test_accuracy"] = history[-1]["test_accuracy"]  # the weights the model keeps
        summary["max_test_accuracy"] = max(r["test_accuracy"] for r in history)
    summary["n_train"] = len(x)
    summary.update({k: len(v) for k, v in (("n_val", xv), ("n_test", xt)) if v is not None})
    summary["wall_s"] = time.perf_counter() - t_start
    return FitResult(history, best, summary)


def train_mlp_classifier(train, val, test, *, batch_size: int = 32, epochs: int = 100, seed: int = 0,
                         learning_rate: float = 1e-3, sizes=(784, 340, 10),
                         on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Deprecated: ``fit_mlp_classifier(MLPClassifier(sizes, seed=seed), train, val, MLPConfig(batch_size,
    learning_rate), epochs=epochs, seed=seed, test=test)``."""
    warnings.warn("train_mlp_classifier is deprecated; use fit_mlp_classifier(MLPClassifier(seed=seed), train, "
                  "val, MLPConfig(...), epochs=..., seed=seed, test=test)", DeprecationWarning, stacklevel=2)
    return fit_mlp_classifier(MLPClassifier(sizes, seed=seed), train, val,
                              MLPConfig(batch_size=batch_size, learning_rate=learning_rate), epochs=epochs,
                              seed=seed, on_epoch=on_epoch, test=test)


# ----------------------------------------------------- mini-batch squared-error training (Roy et al. 2019)
# The AE-ANN and AC-ANN baselines of Roy et al. (2019, §3.1, §3.2.3) train through fit_ann; their Roy-specific
# wiring (sigmoid autoencoder, z-scored metric, quantised hidden states) is in spikelib.experiments.roy.


@dataclasses.dataclass(frozen=True)
class ANNConfig:
    """Hyperparameters of :func:`fit_ann`. ``optimizer``: ``"sgd"`` (``weight_decay`` as L2) or ``"adam"``
    (AdamW, eps 1e-7, decoupled ``weight_decay``, moments kept over batches). Defaults: Roy et al.'s MNIST
    AE-ANN (§3.1: lr 0.1, batch 100, weight decay 1e-4, one epoch)."""

    optimizer: str = "sgd"
    lr: float = 0.1
    batch_size: int = 100
    epochs: int = 1
    weight_decay: float = 1e-4

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.batch_size < 1 or self.epochs < 0:
            raise ValueError(f"need batch_size >= 1 and epochs >= 0, got {self.batch_size}, {self.epochs}")

    @classmethod
    def of(cls, config) -> ANNConfig:
        """``config`` as an :class:`ANNConfig` (None: the defaults; a mapping: its fields)."""
        if config is None:
            return cls()
        return config if isinstance(config, cls) else cls(**config)


def _per_example_mse(out: torch.Tensor, target: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return ((out - target.to(out.dtype)) ** 2).mean(dim=-1)


@subnormals_flushed()
def fit_ann(
    model: nn.Module,
    train,
    val=None,
    config: ANNConfig | Mapping | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint=None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    metric: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
) -> FitResult:
    """Mini-batch training of ``model`` on ``train = (inputs, targets)`` by the squared error, with
    :class:`ANNConfig` ``config``; :mod:`spikelib.fitting`'s contract, returns a ``FitResult``.

    Loss: ``sum_j (y_j - t_j)^2`` over outputs, mean over the batch (Roy et al. do not say; with the mean
    over the 784 pixels instead, SGD at their lr 0.1 hardly moves in one epoch). The batch order of epoch e
    is a permutation from ``derive_seed(seed, e)``. ``FitResult.history`` (per batch, a dict of lists):
    ``batch``, ``loss``, ``mse`` = ``metric(output, target, idx)`` averaged over the batch (default: the
    mean squared error per example); ``eval``: ``val_mse`` (:func:`reconstruction_mse` on ``val =
    (inputs, targets)``) and the items of ``evaluate(model)``, every ``eval_every`` batches (default: each
    epoch) and at the end, when either is given; ``seconds``. ``on_epoch(record)`` gets each epoch's mean
    loss and mse. No checkpoints (these runs take seconds): ``checkpoint`` must be None. ``backend``: only
    ``"torch"`` exists.
    """
    resolve_backend(backend, kernel=None, what="ANN training")
    if checkpoint is not None:
        raise ValueError("fit_ann keeps no checkpoints (its runs take seconds); pass checkpoint=None")
    cfg = ANNConfig.of(config)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=int(epochs))
    inputs, targets = train
    cls = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.AdamW
    kw = {} if cfg.optimizer == "sgd" else {"eps": ADAM_EPS}
    opt = cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)
    metric = metric or _per_example_mse
    history = {"batch": [], "loss": [], "mse": [], "eval": []}
    n_batches = math.ceil(len(inputs) / cfg.batch_size)
    eval_every = n_batches if eval_every is None else eval_every
    scored = evaluate is not None or val is not None

    def run_eval(position: int) -> None:
        entry = {"batch": position}
        if val is not None:
            entry["val_mse"] = reconstruction_mse(model, val[0], val[1])
        if evaluate is not None:
            entry.update({k: float(v) for k, v in evaluate(model).items()})
        history["eval"].append(entry)

    t0 = time.perf_counter()
    position = 0
    on_epoch = EpochProgress.wrap(on_epoch, cfg.epochs, desc="ANN fit")
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(derive_seed(seed, epoch)))
        for i in range(0, len(inputs), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            out = model(inputs[idx])
            loss = ((out - targets[idx].to(out.dtype)) ** 2).sum(dim=-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history["batch"].append(position)
            history["loss"].append(float(loss.detach()))
            history["mse"].append(float(metric(out.detach(), targets[idx], idx).mean()))
            position += 1
            if scored and eval_every and position % eval_every == 0:
                run_eval(position)
        if on_epoch is not None:
            on_epoch({"epoch": epoch, "loss": float(np.mean(history["loss"][-n_batches:])),
                      "mse": float(np.mean(history["mse"][-n_batches:]))})
    if scored and (not history["eval"] or history["eval"][-1]["batch"] != position):
        run_eval(position)
    history["seconds"] = time.perf_counter() - t0
    return FitResult(history=history)


class SigmoidMLP(nn.Module):
    """``n_in``-``n_hidden``-``n_out`` perceptron with sigmoid hidden and output layers (outputs in [0, 1]);
    Glorot-uniform weights, zero biases from ``seed``. Roy et al.'s AC-ANN (§3.2.3: 58500-2048-196), whose
    targets are the AE-ANN's sigmoid hidden states."""

    def __init__(self, n_in: int, n_hidden: int = 2048, n_out: int = 196, *, seed: int = 0):
        super().__init__()
        self.hidden, self.out = nn.Linear(n_in, n_hidden), nn.Linear(n_hidden, n_out)
        gen = torch.Generator().manual_seed(seed)
        for layer in (self.hidden, self.out):
            _glorot_(layer, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.sigmoid(self.hidden(x.to(self.hidden.weight.dtype)))))
