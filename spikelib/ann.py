"""Conventional (non-spiking) baselines used across the book, small and seeded.

- :class:`DenseAutoencoder` and :func:`fit_dense_autoencoder` -- the i-h-o ANN autoencoders with biases
  that Comsa et al. (2021b, §2.8, Figs. 3, 7 and 11) compare their spiking autoencoders with: ReLU encoder
  and sigmoid decoder by default; ELU, tanh, sigmoid and the zero-centred Gaussian ``exp(-x^2)`` for the
  inverted images of Fig. 11. Adam, mean squared error, best validation epoch kept.
- :class:`MLPClassifier` and :func:`train_mlp_classifier` -- the 784-340-10 ReLU perceptron that Comsa et
  al. (2021, §3.2) train beside their spiking classifier: Glorot initialisation, Adam with learning rate
  0.001, batch sizes 5, 32 and 128, three runs each; best test accuracy 97.9 %.

The papers' baselines are Keras models; the choices below follow Keras' defaults where the papers say
nothing: Glorot-uniform weights, zero biases, Adam with epsilon 1e-7, mean squared error over pixels.
Everything is seeded by an explicit ``seed`` (initialisation and batch order), so a run on the CPU repeats
bit for bit.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

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


def fit_dense_autoencoder(
    model: DenseAutoencoder,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int,
    batch_size: int = AUTOENCODER_BATCH_SIZE,
    learning_rate: float = 1e-3,
    seed: int = 0,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train ``model`` to map ``train[0]`` (noisy) to ``train[1]`` (clean) with Adam on the MSE.

    Keeps the weights of the epoch with the lowest validation MSE (the training MSE without ``val``), as
    for the spiking autoencoders. Returns ``{"history": [...], "best": {"epoch", "mse"}}``.
    """
    x, target = train[0], train[1]
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=ADAM_EPS)
    gen = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best = {"epoch": -1, "mse": math.inf, "state": None}
    for epoch in range(epochs):
        t0 = time.perf_counter()
        total = 0.0
        for idx in _batches(len(x), batch_size, gen):
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
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return {"history": history, "best": {"epoch": best["epoch"], "mse": best["mse"]}}


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


def train_mlp_classifier(
    train,
    val,
    test,
    *,
    batch_size: int = 32,
    epochs: int = 100,
    seed: int = 0,
    learning_rate: float = 1e-3,
    sizes=(784, 340, 10),
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train :class:`MLPClassifier` on ``train`` with Adam (cross entropy); the alpha paper's baseline.

    ``train``, ``val``, ``test`` are ``(images, labels)``: uint8 images become ``p / 256``, float images are
    used as given. Every epoch is evaluated on ``val`` and ``test``. Returns JSON-able results: the epoch
    with the best validation accuracy (``best_epoch``) and its ``test_accuracy``, the highest test accuracy
    of any epoch (``max_test_accuracy``: how the paper's "maximal accuracy of 97.9 %" may have been read
    off), and the per-epoch ``history``.
    """
    (x, y), (xv, yv), (xt, yt) = _xy(train, "train"), _xy(val, "val"), _xy(test, "test")
    model = MLPClassifier(sizes, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=ADAM_EPS)
    gen = torch.Generator().manual_seed(seed + 1)  # batch order: not the same stream as the weights
    history = []
    t_start = time.perf_counter()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        total = 0.0
        for idx in _batches(len(x), batch_size, gen):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch, "train_loss_running": total / len(x),
                  "val_accuracy": accuracy(model, xv, yv), "test_accuracy": accuracy(model, xt, yt),
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    if not history:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    best = max(history, key=lambda r: (r["val_accuracy"], -r["epoch"]))  # first epoch with the best val
    return {
        "batch_size": batch_size, "epochs": epochs, "seed": seed,
        "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"], "test_accuracy": best["test_accuracy"],
        "max_test_accuracy": max(r["test_accuracy"] for r in history),
        "n_train": len(x), "n_val": len(xv), "n_test": len(xt),
        "wall_s": time.perf_counter() - t_start, "history": history,
    }


# ----------------------------------------------------- mini-batch squared-error training (Roy et al. 2019)
# The AE-ANN and AC-ANN baselines of Roy et al. (2019, §3.1, §3.2.3) train through fit_ann; their Roy-specific
# wiring (sigmoid autoencoder, z-scored metric, quantised hidden states) is in spikelib.experiments.roy.
# (Imported here to keep this addition to one block of the file.)

import dataclasses  # noqa: E402

from spikelib.backend import resolve_backend  # noqa: E402
from spikelib.fitting import FitResult  # noqa: E402


def derive_seed(*parts: int) -> int:
    """An independent seed for one stream, e.g. ``(seed, epoch)`` for the batch order or ``(seed, epoch,
    batch, purpose)`` for Poisson spikes: numpy's ``SeedSequence`` of the parts, so nearby parts give
    unrelated streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


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
