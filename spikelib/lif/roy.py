"""Roy, Panda & Roy (2019): spiking autoencoders trained by backpropagating a membrane-potential loss.

Network (§2.2): Poisson input spikes ``x_t`` (spike probability ``rate_scale * x`` per 1 ms step; MNIST
pixels / 255 at 300 Hz: 0.3 x) drive a fully connected LIF hidden layer and a LIF output layer, no
biases, weights U(-0.1, 0.1) (authors' code). Both layers are :func:`~spikelib.lif.roy_neuron`:
``V_t = min((1 - alpha) U_{t-1} + W s_t, theta)`` (the cap is the authors' code), spike if ``V >= theta``,
reset to 0. :class:`TwoLayerLIF` is this network for any sizes (784-h-784 autoencoder, the audiocoder).

Training (§2.3), selected by ``rule``:

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
the image, "Spike-MSE" against the summed input spikes. :func:`train_snn` records both for every training
batch (Figs. 3 and 4 plot them per batch), :func:`evaluate_autoencoder` on held-out images.

The ANN baselines (AE-ANN, §3.1) reuse :class:`spikelib.ann.DenseAutoencoder` (sigmoid hidden and output
layers here: the paper names no activation, and §3.2.3 quantises the hidden state, which needs a bounded
range) with SGD or Adam over batches: :func:`train_ae_ann`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from spikelib._io import atomic_path
from spikelib.encoding import poisson
from spikelib.lif.functional import roy_neuron
from spikelib.lif.losses import roy_error, roy_loss, zscored_mse
from spikelib.lif.modules import LIFLayer

#: Roy et al.'s MNIST setting (§3.1; the authors' code for the rate): 300 Hz at dt = 1 ms, pixels / 255.
MNIST_RATE = 0.3
#: The authors' code for Fashion-MNIST: 500 Hz.
FMNIST_RATE = 0.5
#: Adam of the online rule (the authors' code): eps 1e-7; betas are Adam's defaults.
ADAM_EPS = 1e-7
ADAM_BETAS = (0.9, 0.999)
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
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, leak: float = 0.1, threshold: float = 1.0,
                 cap: bool = True, init: float = 0.1, seed: int = 0, dtype: torch.dtype = torch.float32):
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
                layer.synapse.weight = nn.Parameter(w.to(dtype))
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


class _Trace:
    """``sum_b delta_bm dV_bm/dW_mk`` for one layer, from the decaying input trace
    ``P_t = lam P_{t-1} + pre_t``. With ``reset``, neuron m's trace restarts after it fires at step r:
    ``dV_m/dW_mk (t) = P_k(t) - lam^(t - r) P_k(r)``; the second term needs ``P`` at each neuron's last
    firing step, hence the history (T, B, n_pre)."""

    def __init__(self, batch: int, n_pre: int, n_post: int, lam: float, reset: bool, like: torch.Tensor):
        self.lam, self.reset = lam, reset
        self.p = like.new_zeros(batch, n_pre)
        self.history: list[torch.Tensor] = []
        self.last = torch.full((batch, n_post), -1, dtype=torch.long, device=like.device)

    def push(self, pre: torch.Tensor) -> None:
        self.p = self.lam * self.p + pre

    def grad(self, delta: torch.Tensor, t: int) -> torch.Tensor:
        g = delta.T @ self.p
        if self.reset:
            fired = self.last >= 0
            if bool(fired.any()):
                steps = torch.unique(self.last[fired])
                # decay lam^(t - r) of each neuron's reset point, zero where it has not fired
                decay = torch.where(fired, self.lam ** (t - self.last).to(delta.dtype), torch.zeros_like(delta))
                sel = (self.last.unsqueeze(0) == steps.view(-1, 1, 1)).to(delta.dtype)  # (R, B, n_post)
                d = (sel * (delta * decay).unsqueeze(0)).flatten(0, 1)  # (R B, n_post)
                hist = torch.stack([self.history[int(r)] for r in steps]).flatten(0, 1)  # (R B, n_pre)
                g = g - d.T @ hist
        return g

    def after_step(self, post_spikes: torch.Tensor, t: int) -> None:
        if self.reset:
            self.history.append(self.p)
            self.last = torch.where(post_spikes != 0, torch.full_like(self.last, t), self.last)


def roy_online(
    net: TwoLayerLIF,
    spikes_in: torch.Tensor,
    target: torch.Tensor,
    *,
    mask: bool = True,
    trace: str = "reset",
    step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> OnlineRun:
    """One batch of Roy's per-time-step rule: spikes (T, B, n_in), targets (T, B, n_out).

    At each step t it computes the gradients ``g1`` (like W1) and ``g2`` (like W2) of that step's loss
    ``0.5 sum e_t^2 / B`` (module docstring) and calls ``step(t, g1, g2)``, which may change the weights
    in place before step t + 1 (:class:`RoyAdam` does). ``step=None`` leaves the weights alone (the sum
    of the per-step gradients is then comparable with BPTT's). Runs without autograd.
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
    with torch.no_grad():
        u1, u2 = w1.new_zeros(B, n_hidden), w1.new_zeros(B, n_out)
        tr1 = _Trace(B, n_in, n_hidden, lam, trace == "reset", w1)
        tr2 = _Trace(B, n_hidden, n_out, lam, trace == "reset", w1)
        s1_all, s2_all, v2_all, losses = [], [], [], []
        for t in range(T):
            x = x_all[t]
            v1 = lam * u1 + x @ w1.T
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
            g2, g1 = tr2.grad(delta2, t), tr1.grad(delta1, t)
            if step is not None:
                step(t, g1, g2)
            tr1.after_step(s1, t)
            tr2.after_step(s2, t)
            u1, u2 = v1 * (1.0 - s1), v2 * (1.0 - s2)
            s1_all.append(s1)
            s2_all.append(s2)
            v2_all.append(v2)
            losses.append(0.5 * (e * e).sum())
    return OnlineRun(torch.stack(s1_all), torch.stack(s2_all), torch.stack(v2_all), torch.stack(losses))


class RoyAdam:
    """Adam over the time steps of one batch (Roy et al. §2.3, §3.1): fresh moments for every instance.

    ``W <- W (1 - lr weight_decay)`` (decoupled decay, see the module docstring); ``m = b1 m + (1 - b1) g``,
    ``v = b2 v + (1 - b2) g^2``; ``W -= lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)`` with k the
    step index in the batch (1, 2, ...). Create one per batch: the moments are never carried to the next
    batch. Call as ``step(t, g1, g2)`` (the :func:`roy_online` hook). This is ``torch.optim.AdamW``'s
    update; its fused kernel (one pass over the weights instead of about twelve) is used where the device
    supports it.
    """

    def __init__(self, params, *, lr: float, betas=ADAM_BETAS, eps: float = ADAM_EPS, weight_decay: float = 0.0):
        self.params = list(params)
        kw = dict(lr=float(lr), betas=tuple(betas), eps=float(eps), weight_decay=float(weight_decay))
        try:
            self.opt = torch.optim.AdamW(self.params, fused=True, **kw)
        except RuntimeError:  # a device or dtype without the fused kernel
            self.opt = torch.optim.AdamW(self.params, **kw)

    @torch.no_grad()
    def __call__(self, t: int, *grads: torch.Tensor) -> None:
        for p, g in zip(self.params, grads):
            p.grad = g
        self.opt.step()
        for p in self.params:
            p.grad = None


def online_batch(net: TwoLayerLIF, spikes_in: torch.Tensor, target: torch.Tensor, *, lr: float,
                 mask: bool = True, trace: str = "reset", weight_decay: float = 0.0,
                 betas=ADAM_BETAS, eps: float = ADAM_EPS) -> OnlineRun:
    """Train ``net`` in place on one batch with Roy's rule: :func:`roy_online` with a fresh :class:`RoyAdam`."""
    adam = RoyAdam([net.encoder.weight, net.decoder.weight], lr=lr, betas=betas, eps=eps,
                   weight_decay=weight_decay)
    return roy_online(net, spikes_in, target, mask=mask, trace=trace, step=adam)


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


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def repeat_targets(maps: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Stored spike maps (B, Th, n) -> targets (T, B, n) with step t showing frame ``t mod Th`` (§3.2.3)."""
    if maps.ndim != 3 or maps.shape[1] < 1:
        raise ValueError(f"maps must be (B, Th, n) with Th >= 1, got {tuple(maps.shape)}")
    frames = torch.arange(n_steps) % maps.shape[1]
    return maps[:, frames].transpose(0, 1)


def _history_empty() -> dict:
    return {"batch": [], "epoch": [], "loss": [], "mse": [], "spike_mse": [], "hidden_rate": [], "eval": [],
            "seconds": 0.0}


def _plain(v):
    """Python scalars and lists only: a checkpoint must load with ``weights_only=True``."""
    if isinstance(v, (tuple, list)):
        return [_plain(u) for u in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def _config_key(config: Mapping) -> dict:
    return {k: _plain(v) for k, v in config.items()}


def train_snn(
    net: TwoLayerLIF,
    inputs,
    *,
    targets: torch.Tensor | None = None,
    n_steps: int,
    rate_scale: float,
    lr: float,
    batch_size: int,
    epochs: int = 1,
    rule: str = "online",
    trace: str = "reset",
    mask: bool = True,
    weight_decay: float = 0.0,
    seed: int = 0,
    evaluate: Callable[[TwoLayerLIF], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 50,
    max_batches: int | None = None,
    log_every: int | None = None,
) -> dict:
    """Train ``net`` on ``inputs`` (N, n_in) rates in [0, 1] (uint8 images become p / 255); returns history.

    Autoencoder (``targets=None``): the target at step t is the input spike map x_t. Otherwise
    ``targets`` (N, Th, n_out) are stored spike maps replayed as frame ``t mod Th`` (the audiocoder).
    Each batch is Poisson-coded over ``n_steps`` with spike probability ``rate_scale * x`` from a seed of
    ``(seed, epoch, batch)``; the batch order is a permutation from ``(seed, epoch)`` (the last, partial
    batch is kept). ``rule``/``trace``/``mask``/``weight_decay``: module docstring.

    History (one entry per training batch): ``loss`` (sum over steps of 0.5 sum e^2, mean per example),
    ``spike_mse`` (z-scored MSE of output counts vs target counts), ``mse`` (autoencoder only: output
    counts vs the input image), ``hidden_rate`` (mean hidden spikes per neuron and step); ``eval`` holds
    ``evaluate(net)`` every ``eval_every`` batches and at the end; ``seconds`` the training time.

    ``checkpoint``: a file written atomically every ``checkpoint_every`` batches and at the end (weights,
    optimiser, history, position); an existing one with the same configuration is resumed (loaded with
    ``weights_only=True``), one with another configuration is an error. ``max_batches`` stops after that
    many batches in total (a resumable part of a run).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if trace not in TRACES:
        raise ValueError(f"trace must be one of {TRACES}, got {trace!r}")
    if n_steps < 1 or batch_size < 1 or epochs < 0:
        raise ValueError(f"need n_steps >= 1, batch_size >= 1, epochs >= 0; got {n_steps}, {batch_size}, {epochs}")
    x = as_rates(inputs)
    n_in, _, n_out = net.sizes
    if x.shape[1] != n_in:
        raise ValueError(f"inputs have {x.shape[1]} features, the network {n_in} inputs")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("input rates must lie in [0, 1]")
    if targets is None and n_out != n_in:
        raise ValueError(f"an autoencoder needs n_out == n_in, got {n_out} != {n_in}; or pass targets")
    if targets is not None:
        targets = torch.as_tensor(targets)
        if targets.ndim != 3 or targets.shape[0] != len(x) or targets.shape[2] != n_out:
            raise ValueError(f"targets must be (N={len(x)}, Th, {n_out}), got {tuple(targets.shape)}")
    config = dict(sizes=net.sizes, leak=net.leak, threshold=net.threshold, cap=net.cap, n=len(x),
                  n_steps=n_steps, rate_scale=rate_scale, lr=lr, batch_size=batch_size, rule=rule,
                  trace=trace, mask=mask, weight_decay=weight_decay, seed=seed, autoencoder=targets is None)
    params = [net.encoder.weight, net.decoder.weight]
    device = net.encoder.weight.device  # a net moved to a GPU trains there; the data stays on the CPU
    opt = torch.optim.AdamW(params, lr=lr, eps=ADAM_EPS, weight_decay=weight_decay) if rule == "bptt" else None
    history, position = _history_empty(), 0  # position: batches done in total
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        state = torch.load(path, weights_only=True)
        if state["config"] != _config_key(config):
            raise ValueError(f"checkpoint {path} was written for another configuration:\n  {state['config']}\n"
                             f"  now: {_config_key(config)}\nDelete it or choose another path.")
        net.load_state_dict(state["net"])
        if opt is not None:
            opt.load_state_dict(state["optimizer"])
        history, position = state["history"], int(state["position"])

    def save() -> None:
        if path is None:
            return
        state = {"config": _config_key(config), "net": net.state_dict(), "history": history,
                 "position": position, "optimizer": opt.state_dict() if opt is not None else {}}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def run_eval() -> None:
        if evaluate is not None:
            history["eval"].append({"batch": position, **{k: float(v) for k, v in evaluate(net).items()}})

    n_batches = math.ceil(len(x) / batch_size)
    total = epochs * n_batches
    stop = total if max_batches is None else min(total, max_batches)
    t_start = time.perf_counter()
    while position < stop:
        epoch, b = divmod(position, n_batches)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(_seed(seed, epoch)))
        idx = perm[b * batch_size:(b + 1) * batch_size]
        xb = x[idx]
        gen = torch.Generator().manual_seed(_seed(seed, epoch, b, 1))
        spikes = poisson(xb, n_steps, rate_scale=rate_scale, generator=gen).to(device, net.encoder.weight.dtype)
        target = spikes if targets is None else repeat_targets(targets[idx], n_steps).to(device, spikes.dtype)
        xb = xb.to(device)
        if rule == "online":
            run = online_batch(net, spikes, target, lr=lr, mask=mask, trace=trace, weight_decay=weight_decay)
            s1, s2, loss = run.s1, run.s2, float(run.loss.sum())
        else:
            loss_t, (s1, _, s2, _) = bptt_loss(net, spikes, target, mask=mask)
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
        position += 1
        if eval_every and position % eval_every == 0 and position < stop:
            run_eval()
        if log_every and position % log_every == 0:
            print(f"[roy] batch {position}/{total}: loss {history['loss'][-1]:.4g}, "
                  f"spike-MSE {history['spike_mse'][-1]:.4f}", flush=True)
        if path is not None and position % checkpoint_every == 0 and position < stop:
            history["seconds"] += time.perf_counter() - t_start
            t_start = time.perf_counter()
            save()
    if position == stop and (not history["eval"] or history["eval"][-1]["batch"] != position):
        run_eval()
    history["seconds"] += time.perf_counter() - t_start
    save()
    return history


def train_ae_snn(images, *, n_hidden: int = 196, n_steps: int = 15, leak: float = 0.1,
                 rate_scale: float = MNIST_RATE, seed: int = 0, net: TwoLayerLIF | None = None, **train_kw):
    """Roy et al.'s AE-SNN on uint8 images (N, 28, 28): ``(net, history)``.

    Builds :func:`ae_snn` (unless ``net`` is given) and runs :func:`train_snn` (all its keywords:
    ``lr``, ``batch_size``, ``epochs``, ``rule``, ``trace``, ``mask``, ``weight_decay``, ``checkpoint``,
    ``evaluate``, ...). MNIST (§3.1): 196 hidden, T = 15, leak 0.1, lr 5e-4, batch 100, 1 epoch.
    """
    x = as_rates(images)
    if net is None:
        net = ae_snn(n_hidden, n_in=x.shape[1], leak=leak, seed=seed)
    history = train_snn(net, x, n_steps=n_steps, rate_scale=rate_scale, seed=seed, **train_kw)
    return net, history


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
        gen = torch.Generator().manual_seed(_seed(seed, c, 2))
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


# -------------------------------------------------------------------------------------- ANN baseline


def ae_ann(n_hidden: int = 196, *, n_in: int = 784, seed: int = 0) -> nn.Module:
    """AE-ANN of the same size: :class:`spikelib.ann.DenseAutoencoder` with sigmoid hidden and output."""
    from spikelib.ann import DenseAutoencoder

    return DenseAutoencoder(n_in, n_hidden, "sigmoid", "sigmoid", seed=seed)


def train_ann(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    optimizer: str,
    lr: float,
    batch_size: int = 100,
    epochs: int = 1,
    weight_decay: float = 1e-4,
    seed: int = 0,
    metric: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
) -> dict:
    """Mini-batch training of an ANN on the squared error, ``optimizer`` "sgd" (``weight_decay`` as L2) or
    "adam" (moments over batches, eps 1e-7, decoupled ``weight_decay`` as for the SNNs). The loss is the sum over outputs of the squared error, averaged
    over the batch (the paper does not say; with the mean over the 784 pixels instead, SGD at the paper's
    lr 0.1 hardly moves in one epoch). History per batch: ``loss`` and ``mse``, by default the z-scored
    MSE of the output vs the target (``metric(output, target, idx)``, mean per example)."""
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.AdamW
    kw = {} if optimizer == "sgd" else {"eps": ADAM_EPS}
    opt = cls(model.parameters(), lr=lr, weight_decay=weight_decay, **kw)
    metric = metric or (lambda out, tgt, idx: zscored_mse(out, tgt))
    history = {"batch": [], "loss": [], "mse": [], "eval": []}
    t0 = time.perf_counter()
    position = 0
    for epoch in range(epochs):
        perm = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(_seed(seed, epoch)))
        for i in range(0, len(inputs), batch_size):
            idx = perm[i:i + batch_size]
            out = model(inputs[idx])
            loss = ((out - targets[idx].to(out.dtype)) ** 2).sum(dim=-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history["batch"].append(position)
            history["loss"].append(float(loss.detach()))
            history["mse"].append(float(metric(out.detach(), targets[idx], idx).mean()))
            position += 1
            if evaluate is not None and eval_every and position % eval_every == 0:
                history["eval"].append({"batch": position, **{k: float(v) for k, v in evaluate(model).items()}})
    if evaluate is not None and (not history["eval"] or history["eval"][-1]["batch"] != position):
        history["eval"].append({"batch": position, **{k: float(v) for k, v in evaluate(model).items()}})
    history["seconds"] = time.perf_counter() - t0
    return history


def train_ae_ann(images, *, n_hidden: int = 196, optimizer: str = "sgd", lr: float = 0.1, seed: int = 0,
                 **kw) -> tuple[nn.Module, dict]:
    """AE-ANN baseline (§3.1): :func:`ae_ann` trained by :func:`train_ann` to reproduce the images
    (p / 255). The paper: MNIST lr 0.1, FMNIST lr 5e-3, batch 100, weight decay 1e-4, 1 epoch, "with and
    without Adam"."""
    x = as_rates(images)
    model = ae_ann(n_hidden, n_in=x.shape[1], seed=seed)
    return model, train_ann(model, x, x, optimizer=optimizer, lr=lr, seed=seed, **kw)


@torch.no_grad()
def evaluate_ae_ann(model: nn.Module, images) -> dict:
    """Per-image z-scored ``mse`` of the AE-ANN's output vs the image, its mean, the outputs ``counts``."""
    x = as_rates(images)
    out = model(x)
    mse = zscored_mse(out, x)
    return {"mse": mse, "mean_mse": float(mse.mean()), "counts": out}


# --------------------------------------------------------------- the book's experiment, as a sweep

#: Table 1's rows and models as the results record names them ("ann": the AE-/AC-ANN trained by SGD).
TABLE1_ROWS = ("mnist_196", "fmnist_512", "fmnist_1024", "audio_a", "audio_b")
TABLE1_MODELS = ("snn", "ann", "ann_adam")
#: The leak of every run but Fig. 3a's (§3.1: "we set the leak coefficient at 0.1").
REFERENCE_LEAK = 0.1
_SNN_KEYS = ("n_train", "n_hidden", "n_steps", "rate_scale", "lr", "batch_size", "epochs", "weight_decay", "trace")
_AUDIO_DATA_KEYS = ("backend", "n_channels", "n_frames", "decimation", "n_train", "n_test")
_AUDIO_SNN_KEYS = ("n_hidden", "n_steps", "rate_scale", "lr", "batch_size", "epochs", "weight_decay", "trace",
                   "ae_steps")


def spike_backprop_configs(s: Mapping, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """The configurations of the chapter's sweep from ``spikelib.scales.settings("spike_backprop", scale)``.

    Returns ``(stage1, stage2)``; stage 2 reads artifacts that stage 1 writes, so run stage 1 first
    (two :func:`spikelib.sweep.run_sweep` calls over one directory). Every config holds every setting that
    changes its result (a changed scale setting makes a new config, never a stale record). ``part``:

    - ``ae_snn``, MNIST: the reference run (leak 0.1, mask, T = ``mnist.n_steps``, ``reference=True``:
      Table 1 on ``n_test`` test images, the frozen AE of the audio part), one run per other leak of
      ``leaks`` (Fig. 3a), without the mask (3b), one per other T of ``durations`` (3c); each evaluated on
      the first ``n_eval`` test images every ``eval_every`` batches. FMNIST: one per ``hidden_sizes`` (Fig. 5).
    - ``ae_ann``: AE-ANNs with SGD and with Adam, MNIST (``mnist.n_hidden``) and FMNIST (each hidden size).
    - stage 2, ``ac_snn``: dataset A for every Th in ``audio.th_values`` (Figs. 7a, 8a), B at ``th_b``;
      ``ac_ann``: dataset A for every ``bits`` (Fig. 7c), B at full precision, SGD and Adam, each on the
      MNIST AE-ANN trained by the same optimiser. ``ae``: the key of the config whose artifacts they read.
    """
    from spikelib.sweep import config_key

    m, f, a, au, c = s["mnist"], s["fmnist"], s["ann"], s["audio"], s["ac_ann"]
    common = {"seed": int(seed), "n_show": int(s["n_show"])}
    mnist = {"part": "ae_snn", "dataset": "mnist", **{k: m[k] for k in _SNN_KEYS}, "leak": REFERENCE_LEAK,
             "mask": True, "n_eval": int(s["n_eval"]), "eval_every": int(s["eval_every"]), "n_test": 0,
             "reference": False, **common}
    reference = {**mnist, "n_test": m["n_test"], "reference": True}
    stage1 = [reference]
    stage1 += [{**mnist, "leak": float(leak)} for leak in s["leaks"] if float(leak) != REFERENCE_LEAK]
    stage1 += [{**mnist, "mask": False}]
    stage1 += [{**mnist, "n_steps": int(t)} for t in s["durations"] if int(t) != m["n_steps"]]
    stage1 += [{"part": "ae_snn", "dataset": "fmnist", **{k: f[k] for k in _SNN_KEYS if k != "n_hidden"},
                "n_hidden": int(h), "leak": REFERENCE_LEAK, "mask": True, "n_eval": 0, "eval_every": 0,
                "n_test": f["n_test"], "reference": False, **common} for h in f["hidden_sizes"]]
    anns = {}
    for dataset, sizes, n_test in (("mnist", [m["n_hidden"]], m["n_test"]), ("fmnist", f["hidden_sizes"], f["n_test"])):
        for h in sizes:
            for opt in ("sgd", "adam"):
                cfg = {"part": "ae_ann", "dataset": dataset, "n_hidden": int(h), "optimizer": opt,
                       "lr": a["lr"][dataset][opt], "n_train": a[f"n_train_{dataset}"], "batch_size": a["batch_size"],
                       "epochs": a["epochs"], "weight_decay": a["weight_decay"], "n_test": n_test, **common}
                stage1.append(cfg)
                if dataset == "mnist":
                    anns[opt] = config_key(cfg)
    data = {k: au[k] for k in _AUDIO_DATA_KEYS}
    snn = {"part": "ac_snn", **data, **{k: au[k] for k in _AUDIO_SNN_KEYS}, "ae": config_key(reference), **common}
    stage2 = [{**snn, "dataset": "A", "th": int(th)} for th in au["th_values"]]
    stage2.append({**snn, "dataset": "B", "th": int(au["th_b"])})
    for dataset, bits_list in (("A", c["bits"]), ("B", [None])):
        for opt in ("sgd", "adam"):
            stage2 += [{"part": "ac_ann", **data, "dataset": dataset, "optimizer": opt, "bits": bits,
                        **{k: c[k] for k in ("n_hidden", "lr", "weight_decay", "batch_size", "epochs")},
                        "ae": anns[opt], **common} for bits in bits_list]
    return stage1, stage2


def find_record(records, *, missing_ok: bool = False, **match):
    """The one sweep record whose ``config`` has every item of ``match`` (e.g. ``part="ac_snn",
    dataset="A", th=15``); None if there is none and ``missing_ok``, else KeyError. ValueError if several."""
    hits = [r for r in records if all(r["config"].get(k, _MISSING) == v for k, v in match.items())]
    if len(hits) > 1:
        raise ValueError(f"{len(hits)} records match {match}: add items to tell them apart")
    if not hits:
        if missing_ok:
            return None
        raise KeyError(f"no record matches {match}")
    return hits[0]


_MISSING = object()


def table1_rows(records, s: Mapping) -> list[dict]:
    """Table 1 from the sweep records: ``{"row", "model", "mse"}`` for every row of :data:`TABLE1_ROWS`
    and model of :data:`TABLE1_MODELS` (mse: the mean z-scored test MSE; None where a record is missing).

    ``fmnist_512`` / ``fmnist_1024`` are the first / second of ``fmnist.hidden_sizes`` (other sizes at
    smoke scale); audio A's AC-SNN is the one at ``audio.th_a``, B's at ``th_b`` (Table 1's footnotes);
    the AC-ANNs are those at full precision (``bits=None``).
    """
    h1, h2 = s["fmnist"]["hidden_sizes"][:2]
    au = s["audio"]
    where = {
        ("mnist_196", "snn"): dict(part="ae_snn", dataset="mnist", reference=True),
        ("audio_a", "snn"): dict(part="ac_snn", dataset="A", th=au["th_a"]),
        ("audio_b", "snn"): dict(part="ac_snn", dataset="B", th=au["th_b"]),
    }
    for row, h in (("fmnist_512", h1), ("fmnist_1024", h2)):
        where[(row, "snn")] = dict(part="ae_snn", dataset="fmnist", n_hidden=h)
    for model, opt in (("ann", "sgd"), ("ann_adam", "adam")):
        where[("mnist_196", model)] = dict(part="ae_ann", dataset="mnist", optimizer=opt)
        for row, h in (("fmnist_512", h1), ("fmnist_1024", h2)):
            where[(row, model)] = dict(part="ae_ann", dataset="fmnist", n_hidden=h, optimizer=opt)
        for row, ds in (("audio_a", "A"), ("audio_b", "B")):
            where[(row, model)] = dict(part="ac_ann", dataset=ds, optimizer=opt, bits=None)
    rows = []
    for row in TABLE1_ROWS:
        for model in TABLE1_MODELS:
            r = find_record(records, missing_ok=True, **where[(row, model)])
            rows.append({"row": row, "model": model, "mse": None if r is None else float(r["results"]["test_mse"])})
    return rows


def wall_times(records) -> dict:
    """Seconds of computation per ``part`` of the sweep records (their ``wall_s``), and the total."""
    out: dict = {}
    for r in records:
        out[r["config"]["part"]] = out.get(r["config"]["part"], 0.0) + float(r["wall_s"])
    out["total"] = sum(out.values())
    return out


def artifact_path(directory: str | Path, config: Mapping | str) -> Path:
    """``<directory>/<key>.npz``: the arrays a config of the sweep leaves (weights, reconstructions)."""
    from spikelib.sweep import config_key

    return Path(directory) / f"{config if isinstance(config, str) else config_key(config)}.npz"


def _save_npz(path: Path, module: nn.Module | None = None, **arrays) -> None:
    out = {k: np.asarray(v) for k, v in arrays.items()}
    if module is not None:
        out.update({f"state.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **out)


def load_artifacts(path: str | Path) -> dict:
    """The arrays of :func:`artifact_path` as numpy arrays (``state.*``: the saved module's weights)."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _load_state(module: nn.Module, arrays: Mapping) -> nn.Module:
    state = {k[len("state."):]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("state.")}
    module.load_state_dict(state)
    return module


def load_ae_snn(directory: str | Path, key: str) -> TwoLayerLIF:
    """The AE-SNN saved by the sweep config ``key`` (the reference run): weights only, leak 0.1."""
    arrays = load_artifacts(artifact_path(directory, key))
    w1 = arrays["state.encoder.synapse.weight"]
    net = ae_snn(w1.shape[0], n_in=w1.shape[1], leak=float(arrays["leak"]))
    return _load_state(net, arrays)


def load_ae_ann(directory: str | Path, key: str) -> nn.Module:
    """The AE-ANN saved by the sweep config ``key``."""
    arrays = load_artifacts(artifact_path(directory, key))
    w = arrays["state.encoder.weight"]
    return _load_state(ae_ann(w.shape[0], n_in=w.shape[1]), arrays)


def _images(dataset: str, split: str):
    from spikelib import data

    if dataset == "mnist":
        return data.load_mnist(split)
    if dataset == "fmnist":
        return data.load_fashion_mnist(split)
    raise ValueError(f"dataset must be 'mnist' or 'fmnist', got {dataset!r}")


def _run_ae_snn(config: Mapping, *, device: str, checkpoint, artifacts: Path) -> dict:
    x, _ = _images(config["dataset"], "train")
    xt, _ = _images(config["dataset"], "test")
    seed, T, rate = int(config["seed"]), int(config["n_steps"]), float(config["rate_scale"])
    net = ae_snn(config["n_hidden"], leak=config["leak"], seed=seed).to(device)
    evaluate = None
    if config["eval_every"] and config["n_eval"]:
        def evaluate(n):
            r = evaluate_autoencoder(n, xt[:config["n_eval"]], n_steps=T, rate_scale=rate)
            return {"test_mse": r["mean_mse"], "test_spike_mse": r["mean_spike_mse"]}
    _, history = train_ae_snn(x[:config["n_train"]], net=net, n_steps=T, rate_scale=rate, lr=config["lr"],
                              batch_size=config["batch_size"], epochs=config["epochs"], trace=config["trace"],
                              mask=config["mask"], weight_decay=config["weight_decay"], seed=seed,
                              evaluate=evaluate, eval_every=config["eval_every"] or None, checkpoint=checkpoint)
    out = {"history": {k: history[k] for k in ("batch", "loss", "mse", "spike_mse", "hidden_rate")},
           "eval": history["eval"], "train_seconds": history["seconds"], "n_batches": len(history["batch"])}
    n_test = int(config["n_test"]) or int(config["n_eval"])
    t0 = time.perf_counter()
    r = evaluate_autoencoder(net, xt[:n_test], n_steps=T, rate_scale=rate)
    out.update(test_mse=r["mean_mse"], test_spike_mse=r["mean_spike_mse"],
               test_mse_sem=float(r["mse"].std() / math.sqrt(len(r["mse"]))) if len(r["mse"]) > 1 else 0.0,
               n_test=n_test, eval_seconds=time.perf_counter() - t0)
    n_show = int(config["n_show"])
    _save_npz(artifacts, net.cpu() if config["reference"] else None, images=xt[:n_show],
              reconstructions=r["counts"][:n_show].numpy().astype(np.uint8), leak=np.float64(config["leak"]))
    return out


def _run_ae_ann(config: Mapping, *, artifacts: Path) -> dict:
    x, _ = _images(config["dataset"], "train")
    xt, _ = _images(config["dataset"], "test")
    model, history = train_ae_ann(x[:config["n_train"]], n_hidden=config["n_hidden"], optimizer=config["optimizer"],
                                  lr=config["lr"], batch_size=config["batch_size"], epochs=config["epochs"],
                                  weight_decay=config["weight_decay"], seed=int(config["seed"]))
    r = evaluate_ae_ann(model, xt[:config["n_test"]])
    n_show = int(config["n_show"])
    _save_npz(artifacts, model if config["dataset"] == "mnist" else None, images=xt[:n_show],
              reconstructions=r["counts"][:n_show].numpy().astype(np.float32))
    return {"history": {"batch": history["batch"], "mse": history["mse"], "loss": history["loss"]},
            "train_seconds": history["seconds"], "test_mse": r["mean_mse"],
            "test_mse_sem": float(r["mse"].std() / math.sqrt(len(r["mse"]))) if len(r["mse"]) > 1 else 0.0,
            "n_test": int(config["n_test"]), "n_batches": len(history["batch"])}


def run_spike_backprop_config(config: Mapping, *, scale: str | None = None, device: str = "cpu",
                              checkpoint: str | Path | None = None) -> dict:
    """One configuration of :func:`spike_backprop_configs`: train, evaluate, return JSON-able results.

    For :func:`spikelib.sweep.run_sweep` (which passes ``checkpoint``, ``<directory>/<key>.ckpt``: an
    interrupted SNN run resumes from it). Arrays go to ``<directory>/<key>.npz`` (:func:`artifact_path`):
    the first ``n_show`` test images and their reconstructions, and the weights of the MNIST reference
    AE-SNN and AE-ANNs, which stage 2 (:func:`spikelib.lif.audiocoder.run_audio_config`) loads by the key
    in its ``ae`` item. Results: ``test_mse`` (Table 1's metric), per-batch training ``history``, ``eval``
    (held-out curve), seconds. ``scale`` is only recorded by the sweep.
    """
    if checkpoint is None:
        raise ValueError("run_spike_backprop_config needs checkpoint (run it through spikelib.sweep.run_sweep)")
    checkpoint = Path(checkpoint)
    artifacts = artifact_path(checkpoint.parent, config)
    part = config["part"]
    torch.manual_seed(int(config["seed"]))
    if part == "ae_snn":
        return _run_ae_snn(config, device=device, checkpoint=checkpoint, artifacts=artifacts)
    if part == "ae_ann":
        return _run_ae_ann(config, artifacts=artifacts)
    if part in ("ac_snn", "ac_ann"):
        from spikelib.lif.audiocoder import run_audio_config

        return run_audio_config(config, device=device, directory=checkpoint.parent, checkpoint=checkpoint,
                                artifacts=artifacts)
    raise ValueError(f"unknown part {part!r}: one of ae_snn, ae_ann, ac_snn, ac_ann")


def settings_rows(s: Mapping, reference: Mapping) -> list[tuple[str, object, object]]:
    """``(name, value, reference value)`` for every leaf of the nested settings ``s`` (dotted names, e.g.
    ``"audio.n_frames"``), beside the same leaf of ``reference`` (another scale; None where it has none):
    the reductions a scale makes, read from :mod:`spikelib.scales` rather than retyped."""
    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, Mapping):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    ref = dict(leaves(reference))
    return [(name, v, ref.get(name)) for name, v in leaves(s)]
