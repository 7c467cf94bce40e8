"""Roy, Panda & Roy (2019): spiking autoencoders trained by backpropagating a membrane-potential loss.

Network (§2.2): Poisson input spikes ``x_t`` (spike probability ``rate_scale * x`` per 1 ms step; MNIST
pixels / 255 at 300 Hz: 0.3 x) drive a fully connected LIF hidden layer and a LIF output layer, no
biases, weights U(-0.1, 0.1) (authors' code). Both layers are :func:`~spikelib.lif.roy_neuron`:
``V_t = min((1 - alpha) U_{t-1} + W s_t, theta)`` (the cap is the authors' code), spike if ``V >= theta``,
reset to 0. :class:`TwoLayerLIF` is this network for any sizes (784-h-784 autoencoder, the audiocoder).

Training (§2.3), :func:`fit` with a :class:`RoyConfig`, whose ``rule`` selects:

- ``"online"``: Roy's rule, one weight update per time step. At step t, with the output error of
  :func:`~spikelib.lif.roy_error`, ``e_t = XOR(x_t, s_t) (theta x_t - V2_t)`` (eqs. 5-7)::

      delta2 = -e_t                                   dL/dV2 (eqs. 9, 13)
      delta1 = (delta2 W2) * sigma'(V1_t - theta)     eqs. 14-16, at the capped V1
      g2 = delta2^T dV2/dW2,  g1 = delta1^T dV1/dW1   eqs. 11, 17 (mean over the batch)

  then Adam whose moments restart with every batch (bias correction by the step index, eps 1e-7; the
  paper's "moments averaged over time steps per batch"). The traces ``dV/dW`` (``trace=``):

  * ``"reset"`` (the paper, eq. 10 and the end of §2.3): ``dV_m/dW_mk = (1 - alpha) dV_m/dW_mk + pre_k``,
    set to 0 when neuron m fires. This is exactly the derivative that BPTT through
    :func:`~spikelib.lif.simulate` (reset detached) carries, computed online from one decaying trace
    per input and the history of that trace since each neuron's last spike (O(t) work at step t).
  * ``"input"`` (the authors' code): one decaying trace per input neuron, factor ``1 - alpha`` (0.9),
    never reset. O(1) per step: the only affordable choice for the 58,500-input audiocoder.

- ``"bptt"``: ordinary backpropagation through time: autograd through :func:`~spikelib.lif.simulate` on
  ``sum_t L_t`` (mean over the batch), one ``torch.optim.AdamW`` step per batch (eps 1e-7). It also
  credits hidden spikes for the output potential of later steps, which the online rule drops.

Weight decay (``weight_decay``, lambda) is decoupled from Adam (AdamW): ``W <- W (1 - lr lambda)`` at every
update. The paper gives 1e-4 (§3.1, §3.2.3; 1e-5 in §2.3) without saying how; the authors' code applies
none in its Adam runs. As an L2 term added to the gradient it would be normalised by Adam into a step of
about ``lr`` towards zero for every weight whose input was silent during the step (its gradient is only
``lambda W``), which, with the moments restarted every batch, erases the audiocoder's weights (measured
with 512 hidden units, T = 30, 3 epochs, the same frozen AE: test MSE 0.99, no learning, against 0.81
decoupled). Decoupled, it is as small as the paper's value suggests.

Metrics (§3.1, Table 1): "MSE" = :func:`~spikelib.lif.zscored_mse` of the output spike counts against
the image, "Spike-MSE" against the summed input spikes. :func:`fit` records both for every training
batch (Figs. 3 and 4 plot them per batch), :func:`evaluate_autoencoder` on held-out images.

The ANN baselines and the book's sweep live above the models: :mod:`spikelib.ann` (:func:`spikelib.ann.fit_ann`)
and :mod:`spikelib.experiments.roy`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from spikelib.backend import resolve_backend, subnormals_flushed
from spikelib.encoding import poisson
from spikelib.fitting import Checkpoint, EpochProgress, FitResult, derive_seed, fingerprint
from spikelib.lif.functional import roy_neuron
from spikelib.lif.losses import roy_error, roy_loss, zscored_mse
from spikelib.lif.modules import LIFLayer
from spikelib.lif.roy_adam import ADAM_BETAS, ADAM_EPS, RoyAdam  # noqa: F401  (ADAM_* re-exported)
from spikelib.lif.roy_parts import SPARSE_INPUT_MAX_DENSITY, InputCurrent, Trace  # noqa: F401  (re-exported)

#: Roy et al.'s MNIST setting (§3.1; the authors' code for the rate): 300 Hz at dt = 1 ms, pixels / 255.
MNIST_RATE = 0.3
#: The authors' code for Fashion-MNIST: 500 Hz.
FMNIST_RATE = 0.5
RULES = ("online", "bptt")
TRACES = ("reset", "input")
PIXEL_MAX = 255.0  # Roy's code: x = p / 255 (the brightest pixel spikes with probability 0.3)


# ------------------------------------------------------------------------------------------- network


class TwoLayerLIF(nn.Module):
    """``n_in``-``n_hidden``-``n_out`` LIF network of Roy et al. (§2.2, Fig. 2a), no biases.

    ``encoder`` (W1, (n_hidden, n_in)) and ``decoder`` (W2, (n_out, n_hidden)) are
    :class:`~spikelib.lif.LIFLayer` with :func:`~spikelib.lif.roy_neuron` (leak ``leak``, threshold
    ``threshold``, the code's cap ``min(V, theta)`` unless ``cap=False``). Weights U(-init, init) from
    ``seed``: 0.1 for the autoencoder, 0.01 for the audiocoder (authors' code).

    ``input_major=True`` stores W1 input-major: the parameter is the usual (n_hidden, n_in) matrix, a
    transposed view of a contiguous (n_in, n_hidden) tensor (the same values from the same seed). Then
    the row of an input is contiguous, so the forward product of sparse input spikes is a sum of rows
    (:func:`roy_online` ``sparse_input``), and :class:`RoyAdam` updates W1's column tiles in place. The
    audiocoder's 58,500-input encoder is stored so (:func:`spikelib.lif.audiocoder.audiocoder_snn`).
    Modules' ``.to()``, ``copy.deepcopy``, ``load_state_dict`` and ``torch.save`` keep the layout.
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, leak: float = 0.1, threshold: float = 1.0,
                 cap: bool = True, init: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float32,
                 input_major: bool = False):
        super().__init__()
        if min(n_in, n_hidden, n_out) < 1:
            raise ValueError(f"layer sizes must be >= 1, got {n_in}-{n_hidden}-{n_out}")
        if not init > 0:
            raise ValueError(f"init must be positive (weights U(-init, init)), got {init!r}")
        neuron = roy_neuron(leak=leak, threshold=threshold, cap=cap)
        self.encoder = LIFLayer(n_in, n_hidden, **neuron)
        self.decoder = LIFLayer(n_hidden, n_out, **neuron)
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for layer in (self.encoder, self.decoder):
                w = (torch.rand(layer.weight.shape, generator=gen, dtype=torch.float64) * 2 - 1) * init
                w = w.to(dtype)
                if input_major and layer is self.encoder:
                    w = w.T.contiguous().T
                layer.synapse.weight = nn.Parameter(w)
        self.leak, self.threshold, self.cap = float(leak), float(threshold), bool(cap)

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.encoder.weight.shape[1], self.encoder.weight.shape[0], self.decoder.weight.shape[0]

    def forward(self, spikes_in: torch.Tensor):
        """Input spikes (T, B, n_in) -> ``(s1, v1, s2, v2)``: hidden and output spikes and potentials
        (before reset), each (T, B, n)."""
        s1, v1 = self.encoder(spikes_in.to(self.encoder.weight.dtype))
        s2, v2 = self.decoder(s1)
        return s1, v1, s2, v2

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, leak={self.leak}, threshold={self.threshold}, cap={self.cap}"


def ae_snn(n_hidden: int = 196, *, n_in: int = 784, leak: float = 0.1, seed: int = 0, **kw) -> TwoLayerLIF:
    """Roy et al.'s spiking autoencoder (AE-SNN), ``n_in``-``n_hidden``-``n_in``, weights U(-0.1, 0.1)."""
    return TwoLayerLIF(n_in, n_hidden, n_in, leak=leak, seed=seed, **kw)


# ------------------------------------------------------------------------------- the online rule core


@dataclass
class OnlineRun:
    """What :func:`roy_online` saw: spikes (T, B, n) of both layers and the output potentials."""

    s1: torch.Tensor
    s2: torch.Tensor
    v2: torch.Tensor
    loss: torch.Tensor  # (T,) summed 0.5 e^2 per step, over the batch


def _sigmoid_prime(x: torch.Tensor) -> torch.Tensor:
    sig = torch.sigmoid(x)
    return sig * (1.0 - sig)  # = e^-x / (1 + e^-x)^2 (eq. 4), without inf / inf


def roy_online(
    net: TwoLayerLIF,
    spikes_in: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: bool = True,
    trace: str = "reset",
    step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    sparse_input: bool | None = None,
) -> OnlineRun:
    """One batch of Roy's per-time-step rule: spikes (T, B, n_in), targets (T, B, n_out).

    At each step t it computes the gradients ``g1`` (like W1) and ``g2`` (like W2) of that step's loss
    ``0.5 sum e_t^2 / B`` (module docstring) and calls ``step(t, g1, g2)``, which may change the weights
    in place before step t + 1 (:class:`RoyAdam` does). ``g1`` and ``g2`` are buffers that step t + 1
    overwrites: clone them to keep them. ``step=None`` leaves the weights alone (the sum of the per-step
    gradients is then comparable with BPTT's). Runs without autograd.

    With ``trace="input"`` every gradient is an outer product, ``g = delta^T P`` (rank B); a ``step``
    with a ``step_outer`` method (:class:`RoyAdam`) is given the factors instead,
    ``step.step_outer(t, (delta1, P1), (delta2, P2))`` (``P`` also overwritten at the next step), so that
    it can form the gradient tile by tile next to the update instead of writing and re-reading the whole
    matrix (:class:`RoyAdam`).

    ``sparse_input``: form the encoder's input ``x_t W1^T`` as a sum of the rows of ``W1^T`` of the active
    inputs (:class:`~spikelib.lif.roy_parts.InputCurrent`), exact up to the order of the float additions; ``None`` (default):
    when W1 is input-major (``TwoLayerLIF(input_major=True)``), on the CPU, and at most
    :data:`SPARSE_INPUT_MAX_DENSITY` of the batch's inputs spike; ``False``: always the dense product.
    """
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {TRACES}, got {trace!r}")
    n_in, n_hidden, n_out = net.sizes
    if spikes_in.ndim != 3 or spikes_in.shape[2] != n_in:
        raise ValueError(f"spikes_in must be (T, B, {n_in}), got {tuple(spikes_in.shape)}")
    if target.shape != (*spikes_in.shape[:2], n_out):
        raise ValueError(f"target must be (T, B, {n_out}) = {(*spikes_in.shape[:2], n_out)}, "
                         f"got {tuple(target.shape)}")
    w1, w2 = net.encoder.weight, net.decoder.weight
    T, B = spikes_in.shape[:2]
    lam, theta, cap = 1.0 - net.leak, net.threshold, net.cap
    x_all = spikes_in.to(w1.dtype)
    outer = trace == "input" and hasattr(step, "step_outer")
    with torch.no_grad():
        current1 = InputCurrent(x_all, w1, sparse_input)
        u1, u2 = w1.new_zeros(B, n_hidden), w1.new_zeros(B, n_out)
        tr1 = Trace(B, n_in, n_hidden, lam, trace == "reset", w1)
        tr2 = Trace(B, n_hidden, n_out, lam, trace == "reset", w1)
        s1_all, s2_all, v2_all, losses = [], [], [], []
        for t in range(T):
            x = x_all[t]
            v1 = lam * u1 + current1(t)
            if cap:
                v1 = v1.clamp(max=theta)
            s1 = (v1 >= theta).to(v1.dtype)
            v2 = lam * u2 + s1 @ w2.T
            if cap:
                v2 = v2.clamp(max=theta)
            s2 = (v2 >= theta).to(v2.dtype)
            tr1.push(x)
            tr2.push(s1)
            e = roy_error(v2, s2, target[t], theta, mask=mask)
            delta2 = -e / B
            delta1 = (delta2 @ w2) * _sigmoid_prime(v1 - theta)
            if step is not None and outer:
                step.step_outer(t, (delta1, tr1.p), (delta2, tr2.p))
            elif step is not None:
                g2, g1 = tr2.grad(delta2, t), tr1.grad(delta1, t)
                step(t, g1, g2)
            tr1.after_step(s1, t)
            tr2.after_step(s2, t)
            u1, u2 = v1 * (1.0 - s1), v2 * (1.0 - s2)
            s1_all.append(s1)
            s2_all.append(s2)
            v2_all.append(v2)
            losses.append(0.5 * (e * e).sum())
    return OnlineRun(torch.stack(s1_all), torch.stack(s2_all), torch.stack(v2_all), torch.stack(losses))


def online_batch(net: TwoLayerLIF, spikes_in: torch.Tensor, target: torch.Tensor, *, lr: float,
                 mask: bool = True, trace: str = "reset", weight_decay: float = 0.0,
                 betas=ADAM_BETAS, eps: float = ADAM_EPS, adam: RoyAdam | None = None,
                 sparse_input: bool | None = None) -> OnlineRun:
    """Train ``net`` in place on one batch with Roy's rule: :func:`roy_online` with :class:`RoyAdam`, fresh
    or ``adam`` (over the net's two weights) restarted by :meth:`RoyAdam.reset`, which keeps its buffers
    from batch to batch (:func:`fit` does; ``lr``, ``weight_decay``, ``betas`` and ``eps`` are then its own).
    ``sparse_input``: as :func:`roy_online`."""
    if adam is None:
        adam = RoyAdam([net.encoder.weight, net.decoder.weight], lr=lr, betas=betas, eps=eps,
                       weight_decay=weight_decay)
    else:
        adam.reset()
    return roy_online(net, spikes_in, target, mask=mask, trace=trace, step=adam, sparse_input=sparse_input)


def bptt_loss(net: TwoLayerLIF, spikes_in: torch.Tensor, target: torch.Tensor, *, mask: bool = True):
    """``sum_t L_t / B`` through :func:`~spikelib.lif.simulate` with autograd, and the forward ``(s1, v1, s2, v2)``."""
    s1, v1, s2, v2 = net(spikes_in)
    return roy_loss(v2, s2, target, net.threshold, mask=mask) / spikes_in.shape[1], (s1, v1, s2, v2)


# ------------------------------------------------------------------------------------------ training


def as_rates(images) -> torch.Tensor:
    """uint8 images (N, ...) -> float32 (N, n_pixels) of ``p / 255`` (Roy's code); floats are only flattened
    and must lie in [0, 1]."""
    # a copy: cached datasets are read-only numpy arrays, which torch will not wrap
    t = torch.from_numpy(np.array(images)) if isinstance(images, np.ndarray) else torch.as_tensor(images)
    if t.ndim < 2:
        raise ValueError(f"inputs must have a batch dimension, got shape {tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1)
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / PIXEL_MAX
    if not torch.is_floating_point(t):
        raise TypeError(f"inputs must be uint8 pixels or floats in [0, 1], got {t.dtype}")
    return t.to(torch.float32)


def repeat_targets(maps: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Stored spike maps (B, Th, n) -> targets (T, B, n) with step t showing frame ``t mod Th`` (§3.2.3)."""
    if maps.ndim != 3 or maps.shape[1] < 1:
        raise ValueError(f"maps must be (B, Th, n) with Th >= 1, got {tuple(maps.shape)}")
    frames = torch.arange(n_steps) % maps.shape[1]
    return maps[:, frames].transpose(0, 1)


@dataclass(frozen=True)
class RoyConfig:
    """The hyperparameters of :func:`fit`; the defaults are the MNIST AE-SNN of §3.1 (T = 15, 300 Hz,
    lr 5e-4, batch 100, one epoch, the paper's reset trace). ``weight_decay`` defaults to 0, as in the
    authors' Adam runs (the paper's 1e-4 is passed by the book's configurations; module docstring).

    ``n_steps``: T of the Poisson spike train; ``rate_scale``: spike probability per step of a rate-1
    input; ``rule``: :data:`RULES`; ``trace``: :data:`TRACES`; ``mask``: the XOR mask of eq. 6.
    """

    n_steps: int = 15
    rate_scale: float = MNIST_RATE
    lr: float = 5e-4
    batch_size: int = 100
    epochs: int = 1
    rule: str = "online"
    trace: str = "reset"
    mask: bool = True
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.trace not in TRACES:
            raise ValueError(f"trace must be one of {TRACES}, got {self.trace!r}")
        if self.n_steps < 1 or self.batch_size < 1 or self.epochs < 0:
            raise ValueError(f"need n_steps >= 1, batch_size >= 1, epochs >= 0; got {self.n_steps}, "
                             f"{self.batch_size}, {self.epochs}")

    @classmethod
    def of(cls, config: RoyConfig | Mapping[str, Any] | None) -> RoyConfig:
        """``config`` as a :class:`RoyConfig` (None: the defaults; a mapping: its fields)."""
        if config is None:
            return cls()
        return config if isinstance(config, cls) else cls(**config)


def _history_empty() -> dict:
    return {"batch": [], "epoch": [], "loss": [], "mse": [], "spike_mse": [], "hidden_rate": [], "eval": [],
            "seconds": 0.0}


def _split_train(train, targets):
    """``train`` as ``(rates, targets)``: a pair ``(inputs, targets)`` or the inputs alone."""
    if isinstance(train, (tuple, list)) and len(train) == 2:
        if targets is not None:
            raise ValueError("pass targets either in train=(inputs, targets) or as targets=, not both")
        train, targets = train
    return as_rates(train), None if targets is None else torch.as_tensor(targets)


@subnormals_flushed()
def fit(
    net: TwoLayerLIF,
    train,
    val=None,
    config: RoyConfig | Mapping[str, Any] | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    backend: str = "auto",
    on_epoch: Callable[[dict], None] | None = None,
    targets: torch.Tensor | None = None,
    evaluate: Callable[[TwoLayerLIF], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    checkpoint_every: int = 50,
    max_batches: int | None = None,
    log_every: int | None = None,
) -> FitResult:
    """Train ``net`` in place with :class:`RoyConfig` ``config`` (§2.3); :mod:`spikelib.fitting`'s contract.

    ``train``: input rates (N, n_in) in [0, 1] (uint8 images become p / 255), or ``(inputs, targets)``.
    Autoencoder (no targets): the target at step t is the input spike map x_t. Otherwise ``targets``
    (N, Th, n_out) are stored spike maps replayed as frame ``t mod Th`` (the audiocoder,
    :func:`repeat_targets`). Each batch is Poisson-coded over ``n_steps`` with spike probability
    ``rate_scale * x`` from a seed of ``(seed, epoch, batch)``; the batch order is a permutation from
    ``(seed, epoch)`` (the last, partial batch is kept).

    ``FitResult.history`` (one entry per training batch, a dict of lists): ``loss`` (sum over steps of
    0.5 sum e^2, mean per example), ``spike_mse`` (z-scored MSE of output counts vs target counts),
    ``mse`` (autoencoder only: output counts vs the input image), ``hidden_rate`` (mean hidden spikes
    per neuron and step); ``eval`` every ``eval_every`` batches (default: once per epoch) and at the end:
    ``val_mse`` / ``val_spike_mse`` of :func:`evaluate_autoencoder` on the held-out images ``val``
    (autoencoder only) and the items of ``evaluate(net)``; ``seconds`` the training time.
    ``on_epoch(record)`` gets each finished epoch's means of the per-batch curves.

    ``checkpoint``: a :class:`spikelib.fitting.Checkpoint` written every ``checkpoint_every`` batches and
    at the end (weights, optimiser, history, position); one written for the same configuration, sizes,
    number of examples and seed is resumed, another is an error. ``max_batches`` stops after that many
    batches in total (a resumable part of a run). ``backend``: only ``"torch"`` exists ("auto" is torch).
    """
    resolve_backend(backend, kernel=None, what="Roy et al.'s training")
    cfg = RoyConfig.of(config)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=int(epochs))
    x, targets = _split_train(train, targets)
    n_in, _, n_out = net.sizes
    if x.shape[1] != n_in:
        raise ValueError(f"inputs have {x.shape[1]} features, the network {n_in} inputs")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("input rates must lie in [0, 1]")
    if targets is None and n_out != n_in:
        raise ValueError(f"an autoencoder needs n_out == n_in, got {n_out} != {n_in}; or pass targets")
    if targets is not None:
        if targets.ndim != 3 or targets.shape[0] != len(x) or targets.shape[2] != n_out:
            raise ValueError(f"targets must be (N={len(x)}, Th, {n_out}), got {tuple(targets.shape)}")
        if val is not None:
            raise ValueError("val is the held-out images of an autoencoder; score an audiocoder by evaluate=")
    val = None if val is None else as_rates(val)
    # epochs is left out: a run may be resumed to train for longer
    run = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "epochs"}
    ckpt = Checkpoint(checkpoint, on_mismatch="error", fingerprint=fingerprint(
        run, net.sizes, net.leak, net.threshold, net.cap, len(x), seed, targets is None))
    params = [net.encoder.weight, net.decoder.weight]
    device = net.encoder.weight.device  # a net moved to a GPU trains there; the data stays on the CPU
    opt = (torch.optim.AdamW(params, lr=cfg.lr, eps=ADAM_EPS, weight_decay=cfg.weight_decay)
           if cfg.rule == "bptt" else None)
    # the online rule's Adam: one for the whole fit, restarted in place for every batch (its buffers are
    # three (tiled: four) times the weights: allocating them per batch costs more than zeroing them)
    adam = (RoyAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.rule == "online" else None)
    history, position = _history_empty(), 0  # position: batches done in total
    state = ckpt.load()
    if state is not None:
        net.load_state_dict(state["net"])
        if opt is not None:
            opt.load_state_dict(state["optimizer"])
        history, position = state["history"], int(state["position"])

    def save() -> None:
        ckpt.save({"net": net.state_dict(), "history": history, "position": position,
                   "optimizer": opt.state_dict() if opt is not None else {}})

    def run_eval() -> None:
        if evaluate is None and val is None:
            return
        entry = {"batch": position}
        if val is not None:
            r = evaluate_autoencoder(net, val, n_steps=cfg.n_steps, rate_scale=cfg.rate_scale)
            entry.update(val_mse=r["mean_mse"], val_spike_mse=r["mean_spike_mse"])
        if evaluate is not None:
            entry.update({k: float(v) for k, v in evaluate(net).items()})
        history["eval"].append(entry)

    n_batches = math.ceil(len(x) / cfg.batch_size)
    if eval_every is None:
        eval_every = n_batches
    total = cfg.epochs * n_batches
    stop = total if max_batches is None else min(total, max_batches)
    t_start = time.perf_counter()
    on_epoch = EpochProgress.wrap(on_epoch, cfg.epochs, initial=position // n_batches, desc="roy fit")
    while position < stop:
        epoch, b = divmod(position, n_batches)
        _train_batch(net, x, targets, cfg, opt, history, seed=seed, epoch=epoch, batch=b, position=position,
                     device=device, adam=adam)
        position += 1
        if eval_every and position % eval_every == 0:  # before on_epoch, which reports it
            run_eval()
        if on_epoch is not None and position % n_batches == 0:
            on_epoch(_epoch_record(history, epoch, position - n_batches, position))
        if log_every and position % log_every == 0:
            print(f"[roy] batch {position}/{total}: loss {history['loss'][-1]:.4g}, "
                  f"spike-MSE {history['spike_mse'][-1]:.4f}", flush=True)
        if position % checkpoint_every == 0 and position < stop:
            history["seconds"] += time.perf_counter() - t_start
            t_start = time.perf_counter()
            save()
    if position == stop and (not history["eval"] or history["eval"][-1]["batch"] != position):
        run_eval()
    history["seconds"] += time.perf_counter() - t_start
    save()
    return FitResult(history=history)


def _train_batch(net, x, targets, cfg: RoyConfig, opt, history: dict, *, seed: int, epoch: int, batch: int,
                 position: int, device, adam: RoyAdam | None = None) -> None:
    """Train on batch ``batch`` of ``epoch`` (``position`` in all) and append its curves to ``history``."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(derive_seed(seed, epoch)))
    idx = perm[batch * cfg.batch_size:(batch + 1) * cfg.batch_size]
    xb = x[idx]
    gen = torch.Generator().manual_seed(derive_seed(seed, epoch, batch, 1))
    spikes = poisson(xb, cfg.n_steps, rate_scale=cfg.rate_scale, generator=gen).to(device, net.encoder.weight.dtype)
    target = spikes if targets is None else repeat_targets(targets[idx], cfg.n_steps).to(device, spikes.dtype)
    xb = xb.to(device)
    if cfg.rule == "online":
        run = online_batch(net, spikes, target, lr=cfg.lr, mask=cfg.mask, trace=cfg.trace,
                           weight_decay=cfg.weight_decay, adam=adam)
        s1, s2, loss = run.s1, run.s2, float(run.loss.sum())
    else:
        loss_t, (s1, _, s2, _) = bptt_loss(net, spikes, target, mask=cfg.mask)
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        opt.step()
        loss = float(loss_t.detach()) * len(idx)
    with torch.no_grad():
        counts = s2.sum(0)
        history["batch"].append(position)
        history["epoch"].append(epoch)
        history["loss"].append(loss / len(idx))
        history["spike_mse"].append(float(zscored_mse(counts, target.sum(0)).mean()))
        history["mse"].append(float(zscored_mse(counts, xb).mean()) if targets is None else float("nan"))
        history["hidden_rate"].append(float(s1.mean()))


def _epoch_record(history: dict, epoch: int, start: int, stop: int) -> dict:
    """Epoch ``epoch``'s means of the per-batch curves (batches ``start``..``stop - 1``), for ``on_epoch``."""
    record = {"epoch": epoch, "batches": stop - start}
    for k in ("loss", "mse", "spike_mse", "hidden_rate"):
        record[k] = float(np.mean(history[k][start:stop]))
    if history["eval"] and history["eval"][-1]["batch"] == stop:
        record["eval"] = dict(history["eval"][-1])
    return record


# ---------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def run_snn(net: TwoLayerLIF, inputs, *, n_steps: int, rate_scale: float, seed: int = 1,
            batch_size: int = 1000, keep_hidden: bool = False) -> dict:
    """Forward pass on rates (N, n_in): ``{"input_counts", "output_counts"}`` float32 (N, n) on the CPU,
    with ``keep_hidden`` also ``"hidden"``, the hidden spike maps (N, T, n_hidden) as uint8. The Poisson
    spikes of chunk c come from ``(seed, c)``.
    """
    x = as_rates(inputs)
    device = net.encoder.weight.device
    ins, hid, outs = [], [], []
    for c, i in enumerate(range(0, len(x), batch_size)):
        gen = torch.Generator().manual_seed(derive_seed(seed, c, 2))
        spikes = poisson(x[i:i + batch_size], n_steps, rate_scale=rate_scale, generator=gen)
        s1, _, s2, _ = net(spikes.to(device))
        ins.append(spikes.sum(0))
        if keep_hidden:
            hid.append(s1.transpose(0, 1).to(torch.uint8).cpu())
        outs.append(s2.sum(0).float().cpu())
    out = {"input_counts": torch.cat(ins), "output_counts": torch.cat(outs)}
    if keep_hidden:
        out["hidden"] = torch.cat(hid)
    return out


def evaluate_autoencoder(net: TwoLayerLIF, images, *, n_steps: int, rate_scale: float = MNIST_RATE,
                         seed: int = 1, batch_size: int = 1000) -> dict:
    """Table 1 on held-out images: per-image ``mse`` (output spike counts vs the image, z-scored) and
    ``spike_mse`` (vs the summed input spikes), their means, and the reconstructions ``counts`` (N, n)."""
    x = as_rates(images)
    out = run_snn(net, x, n_steps=n_steps, rate_scale=rate_scale, seed=seed, batch_size=batch_size)
    mse = zscored_mse(out["output_counts"], x)
    spike_mse = zscored_mse(out["output_counts"], out["input_counts"])
    return {"mse": mse, "spike_mse": spike_mse, "mean_mse": float(mse.mean()),
            "mean_spike_mse": float(spike_mse.mean()), "counts": out["output_counts"]}


@torch.no_grad()
def decode_spikes(net: TwoLayerLIF, hidden_spikes: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """The frozen decoder (W2 and the output LIF layer) on hidden spike trains (N, T, n_hidden) -> output
    spike counts (N, n_out): the image an audiocoder's spikes make (§3.2.2, Fig. 6)."""
    outs = []
    w = net.decoder.weight
    for i in range(0, len(hidden_spikes), batch_size):
        s = hidden_spikes[i:i + batch_size].transpose(0, 1).to(w.device, w.dtype)
        outs.append(net.decoder(s)[0].sum(0).float().cpu())
    return torch.cat(outs) if outs else hidden_spikes.new_zeros(0, net.sizes[2], dtype=torch.float32)

