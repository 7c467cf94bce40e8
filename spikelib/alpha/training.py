"""Training alpha-neuron networks the way the authors do (Comsa et al. 2021, §2.3-2.5).

- :class:`Hyperparameters` with the paper's names; :data:`MNIST_README` (the authors' shipped settings),
  :data:`MNIST_TABLE1` (the paper's Table 1, MNIST column) and :data:`BOOLEAN_TABLE1` (Table 1 defaults).
- :class:`AlphaAdam`: Adam with epsilon inside the square root, as in the authors' code.
- :func:`train_step`: one mini-batch; only misclassified examples contribute unless ``update_all``; the
  no-spike penalty; pulse times clamped >= 0.
- :func:`train_epoch`: one pass; on CPU a whole epoch runs in C (``backend="auto"``), else in torch.
- :func:`fit`: epochs with model selection on validation accuracy, checkpoint and resume; the training
  contract of :mod:`spikelib.fitting`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from spikelib.alpha import _cscan
from spikelib.alpha import functional as _functional
from spikelib.alpha.losses import classification_loss, predict
from spikelib.alpha.modules import AlphaNetwork
from spikelib.backend import BACKENDS, from_engine, resolve_backend, subnormals_flushed
from spikelib.fitting import (Checkpoint, EpochProgress, FitResult, clone_state, fingerprint, load_training,
                              save_training)


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """The model's hyperparameters with the paper's names (Table 1)."""

    n_hidden: tuple[int, ...] = (2,)
    n_pulses: int = 1
    batch_size: int = 1
    clip_derivative: float = 100.0
    decay_constant: float = 1.0  # tau
    fire_threshold: float = 1.0  # theta
    learning_rate: float = 1e-3
    learning_rate_pulses: float = 1e-3
    nonpulse_weight_mean_multiplier: float = 0.0
    pulse_weight_mean_multiplier: float = 0.0
    penalty_no_spike: float = 1.0
    update_all_datapoints: bool = False
    shared_pulses: bool = False

    def network(self, n_in: int, n_out: int, *, seed: int = 0, dtype=torch.float32) -> AlphaNetwork:
        return AlphaNetwork(
            (n_in, *self.n_hidden, n_out), n_pulses=self.n_pulses, tau=self.decay_constant,
            theta=self.fire_threshold, clip_derivative=self.clip_derivative, shared_pulses=self.shared_pulses,
            nonpulse_mean_multiplier=self.nonpulse_weight_mean_multiplier,
            pulse_mean_multiplier=self.pulse_weight_mean_multiplier, seed=seed, dtype=dtype,
        )

    def replace(self, **changes) -> "Hyperparameters":
        return dataclasses.replace(self, **changes)


#: Table 1, "default value (Boolean tasks)": the defaults, with one pulse shared by all non-input neurons.
BOOLEAN_TABLE1 = Hyperparameters(shared_pulses=True)

#: Table 1, "chosen value (MNIST)": 784-340-10, 10 pulses per layer, batch size 5.
MNIST_TABLE1 = Hyperparameters(
    n_hidden=(340,), n_pulses=10, batch_size=5, clip_derivative=539.7, decay_constant=0.181769,
    fire_threshold=1.16732, learning_rate=2.01864e-4, learning_rate_pulses=5.95375e-2,
    nonpulse_weight_mean_multiplier=-0.275419, pulse_weight_mean_multiplier=7.83912, penalty_no_spike=48.3748,
    update_all_datapoints=True,
)

#: The settings in the authors' repository README: they differ from Table 1 in the batch size (32) and
#: the learning rates.
MNIST_README = Hyperparameters(
    n_hidden=(340,), n_pulses=10, batch_size=32, clip_derivative=539.69973904211679,
    decay_constant=0.18176949150701854, fire_threshold=1.1673205005788956,
    learning_rate=0.0010186407877494507, learning_rate_pulses=0.09537534860701444,
    nonpulse_weight_mean_multiplier=-0.2754188425913906, pulse_weight_mean_multiplier=7.8391245503824578,
    penalty_no_spike=48.374830659132556, update_all_datapoints=True,
)


# Most examples one gradient-free look-ahead pass of train_epoch classifies at once.
_LOOKAHEAD_EXAMPLES = 4096


# MIRROR(alpha-adam): keep in lockstep with spikelib/alpha/_train.c:adam_update; tested by tests/test_alpha_ctrain.py::test_mini_batches_with_pulses_per_layer_match
class AlphaAdam(torch.optim.Optimizer):
    """Adam as in the authors' code: ``p -= lr * m_hat / sqrt(v_hat + eps)`` (epsilon inside the root)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                m, v, k = state["m"], state["v"], state["step"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = m / (1 - b1**k)
                v_hat = v / (1 - b2**k)
                p.sub_(group["lr"] * m_hat / torch.sqrt(v_hat + group["eps"]))


def make_optimizer(net: AlphaNetwork, hp: Hyperparameters) -> AlphaAdam:
    """Adam with ``learning_rate`` for all weights and ``learning_rate_pulses`` for the pulse times."""
    groups = [{"params": net.weight_parameters(), "lr": hp.learning_rate}]
    pulses = net.pulse_parameters()
    if pulses:
        groups.append({"params": pulses, "lr": hp.learning_rate_pulses})
    return AlphaAdam(groups)


# MIRROR(alpha-no-spike-penalty): keep in lockstep with spikelib/alpha/_train.c:alpha_train_epoch; tested by tests/test_alpha_ctrain.py::test_mini_batches_with_pulses_per_layer_match
def train_step(net: AlphaNetwork, opt: AlphaAdam, x: torch.Tensor, y: torch.Tensor, hp: Hyperparameters) -> dict:
    """One mini-batch update. Returns the batch's summed loss, correct count and contributing count.

    The gradient is averaged over the examples that contribute (all, or only the misclassified ones when
    ``update_all_datapoints`` is false). A neuron that stays silent for a contributing example adds
    ``-penalty_no_spike`` to the gradient of each of its incoming weights (§2.5).
    """
    times = net(x, all_layers=True)
    out = times[-1]
    loss = classification_loss(out, y)
    correct = predict(out) == y
    contrib = torch.ones_like(correct) if hp.update_all_datapoints else ~correct
    n = int(contrib.sum())
    stats = {"loss": float(loss.detach().sum()), "correct": int(correct.sum()), "contributing": n}
    if n == 0:
        return stats
    opt.zero_grad(set_to_none=True)
    (loss * contrib).sum().div(n).backward()
    with torch.no_grad():
        for layer, t in zip(net.layers, times):
            silent = (~torch.isfinite(t) & contrib.unsqueeze(-1)).sum(dim=0).to(layer.weight.dtype)
            if layer.weight.grad is None:
                layer.weight.grad = torch.zeros_like(layer.weight)
            layer.weight.grad.sub_(hp.penalty_no_spike * silent / n)
    opt.step()
    net.clamp_pulses_()
    return stats


#: Deprecated name of :data:`spikelib.backend.BACKENDS`.
ENGINES = BACKENDS


def use_c_backend(backend: str, net: AlphaNetwork, x: torch.Tensor) -> bool:
    """Whether an epoch of ``net`` on ``x`` runs in the C trainer (``_train.c``) for this ``backend``
    (``"auto"``, ``"c"`` or ``"torch"``; :func:`spikelib.backend.resolve_backend`).

    The C trainer computes what the torch path computes, example by example (a batch's examples split over
    ``torch.get_num_threads()`` threads), without ~200 tensor dispatches per update: thousands of times
    faster for the Boolean tasks (batch size 1) and faster for MNIST and the autoencoders at the authors'
    batch sizes. It needs a CPU float32/float64 network; CUDA runs the torch path.
    """
    return resolve_backend(backend, kernel=_cscan.KERNEL, device=x.device, dtype=net.dtype,
                           what="a training epoch") == "c"


def use_c_engine(engine: str, net: AlphaNetwork, x: torch.Tensor) -> bool:
    """Deprecated: :func:`use_c_backend`."""
    warnings.warn("use_c_engine is deprecated; use use_c_backend", DeprecationWarning, stacklevel=2)
    return use_c_backend(engine, net, x)


def c_epoch_numerics(dtype: torch.dtype) -> dict:
    """The torch path's float safeguards for ``dtype``, passed to the C trainer so that both agree."""
    return {"span": _functional._SPAN[dtype], "min_one_plus_w": _functional._MIN_ONE_PLUS_W[dtype]}


def train_epoch(net: AlphaNetwork, opt: AlphaAdam, x: torch.Tensor, y: torch.Tensor, hp: Hyperparameters,
                order: torch.Tensor, *, backend: str = "auto", engine: str | None = None) -> dict:
    """One pass over ``x[order]`` in mini-batches; returns the summed loss, correct and contributing counts.

    ``backend`` (``"auto"``, ``"c"``, ``"torch"``; ``engine=`` is its deprecated alias) picks where it runs
    (:func:`use_c_backend`): in C the whole epoch runs in ``_train.c``. In torch: when only misclassified
    examples contribute, a batch that is classified correctly changes nothing
    (no gradient, no Adam step), so runs of such batches are found with one batched, gradient-free
    forward pass and skipped; :func:`train_step` is called only for the batches that update. The weights,
    optimiser state and statistics are exactly those of the plain batch-by-batch loop, at a fraction of the
    cost once most examples are right (the Boolean tasks, §3.1). The look-ahead grows while it finds only
    correct batches and falls back to single batches while most are wrong.
    """
    backend = from_engine(engine, backend)
    if use_c_backend(backend, net, x):
        return _cscan.train_epoch(net, opt, x, order, batch_size=hp.batch_size, penalty=hp.penalty_no_spike,
                                  labels=y, update_all=hp.update_all_datapoints, **c_epoch_numerics(net.dtype))
    bs = hp.batch_size
    n_batches = -(-len(x) // bs)
    max_lookahead = max(1, _LOOKAHEAD_EXAMPLES // bs)
    total = {"loss": 0.0, "correct": 0, "contributing": 0}

    def batch(i: int) -> torch.Tensor:
        return order[i * bs:(i + 1) * bs]

    lookahead, known_wrong, i = 1, False, 0
    while i < n_batches:
        if hp.update_all_datapoints or lookahead == 1 or known_wrong:
            s = train_step(net, opt, x[batch(i)], y[batch(i)], hp)
            for k in total:
                total[k] += s[k]
            if not known_wrong:  # plain mode: leave it after a batch that needed no update
                lookahead = 1 if s["contributing"] else 2
            known_wrong = False
            i += 1
            continue
        stop = min(i + lookahead, n_batches)
        idx = order[i * bs:stop * bs]
        with torch.no_grad():
            out = net(x[idx])
            loss = classification_loss(out, y[idx])
            wrong = (predict(out) != y[idx]).nonzero()
        if len(wrong):  # batches before the first mistake are skipped; the mistake's batch updates next
            n_clean = int(wrong[0, 0]) // bs
            lookahead, known_wrong = max(1, n_clean), True
        else:
            n_clean = stop - i
            lookahead = min(2 * lookahead, max_lookahead)
        n_ok = min(n_clean * bs, len(idx))
        total["loss"] += float(loss[:n_ok].sum())
        total["correct"] += n_ok
        i += n_clean
    return total


@torch.no_grad()
def evaluate(net: AlphaNetwork, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> dict:
    """Accuracy and mean loss of ``net`` on (x, y), in batches."""
    loss = 0.0
    correct = 0
    for i in range(0, len(x), batch_size):
        out = net(x[i:i + batch_size])
        yb = y[i:i + batch_size]
        loss += float(classification_loss(out, yb).sum())
        correct += int((predict(out) == yb).sum())
    n = max(len(x), 1)
    return {"accuracy": correct / n, "loss": loss / n, "n": len(x)}


@subnormals_flushed()
def fit(
    net: AlphaNetwork,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    config: Hyperparameters | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    eval_batch_size: int = 1000,
    epoch_metrics: Callable[[AlphaNetwork], dict] | None = None,
    engine: str | None = None,
) -> FitResult:
    """Train ``net`` on ``train = (x, y)`` for ``epochs`` epochs; keep the weights of the best validation
    epoch (§2.6.2), the training contract of :mod:`spikelib.fitting`.

    ``config``: the :class:`Hyperparameters` (None: :data:`MNIST_README`, the authors' shipped settings).
    ``epochs`` is required (``Hyperparameters`` holds no epoch count). Each epoch shuffles ``x`` with a
    generator seeded by ``seed`` and runs :func:`train_epoch` on ``backend`` (``engine=`` is its deprecated
    alias). The selection score is the accuracy on ``val``, or the running training accuracy without it
    (the Boolean tasks); ties keep the earlier epoch. ``epoch_metrics(net)`` is called after every epoch
    and its entries join that epoch's history record (e.g. :func:`spikelib.alpha.analysis.spike_timing`).
    With ``checkpoint`` the state is saved atomically after every epoch (:class:`spikelib.fitting.Checkpoint`)
    and a later call with the same path resumes it (a longer run of the same settings continues a shorter
    one); a file written for other settings, data or seed is not resumed: a warning, then training starts
    afresh. Returns a :class:`~spikelib.fitting.FitResult` (``history``; ``best``: epoch and accuracy) and
    leaves ``net`` holding the selected weights.
    """
    if isinstance(val, Hyperparameters) and config is None:  # the old call fit(net, train, hp, ...)
        warnings.warn("fit(net, train, hp, ...) is deprecated; pass the hyperparameters as config= "
                      "(fit(net, train, val, config, ...))", DeprecationWarning, stacklevel=2)
        val, config = None, val
    backend = from_engine(engine, backend)
    hp = MNIST_README if config is None else config
    epochs = getattr(hp, "epochs", None) if epochs is None else epochs
    if epochs is None:
        raise ValueError("fit needs epochs= (the alpha Hyperparameters hold no epoch count)")
    x, y = train
    opt = make_optimizer(net, hp)
    gen = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -math.inf, "state": None}
    # not the epoch count: a longer run of the same settings resumes a shorter one
    run_id = fingerprint(hp, x, y, val[0] if val else None, val[1] if val else None, seed,
                         {k: tuple(v.shape) for k, v in net.state_dict().items()}) if checkpoint else None
    ckpt = Checkpoint(checkpoint or None, fingerprint=run_id, on_mismatch="restart")
    state = load_training(ckpt, net, opt, gen)
    if state is not None:
        history, best = state["history"], state["best"]
    on_epoch = EpochProgress.wrap(on_epoch, epochs, initial=len(history), desc="alpha.fit")
    for epoch in range(len(history), epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        total = train_epoch(net, opt, x, y, hp, perm, backend=backend)
        record = {
            "epoch": epoch,
            "train_loss_running": total["loss"] / len(x),
            "train_accuracy_running": total["correct"] / len(x),
            "seconds": time.perf_counter() - t0,
            "pulse_times": [p.detach().tolist() for p in net.pulse_parameters()],
        }
        if epoch_metrics is not None:  # e.g. spike timing per layer (Fig. 5); stored and checkpointed
            record.update(epoch_metrics(net))
        if val is not None:
            v = evaluate(net, *val, batch_size=eval_batch_size)
            record.update(val_accuracy=v["accuracy"], val_loss=v["loss"])
            score = v["accuracy"]
        else:
            score = record["train_accuracy_running"]
        if score > best["accuracy"]:
            best = {"epoch": epoch, "accuracy": score, "state": clone_state(net)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        save_training(ckpt, net, opt, gen, history=history, best=best)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    return FitResult(history, {"epoch": best["epoch"], "accuracy": best["accuracy"]})
