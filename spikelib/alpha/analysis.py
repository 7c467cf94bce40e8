"""Looking inside alpha-synapse networks: accuracy, per-layer spikes, membrane traces (Comsa et al. 2021).

Model-level helpers for the pages on the authors' MNIST networks (§2.7, §3.2, Figs. 1b, 2, 5-8); the
paper's numbers, the published network files and the comparisons with Table 2 are one layer up, in
:mod:`spikelib.experiments.comsa_alpha`.

- :func:`count_correct` -- correct classifications of a network on a set of images, in batches (Table 2).
- :func:`layer_spikes` -- every layer's spike times and the pulses it feeds forward, for one example
  (Fig. 6).
- :func:`layer_membrane` -- the membrane potentials of one layer over a time grid, for one example
  (Figs. 1b and 7).
- :func:`spiking` -- the indices and times of the neurons that spike (raster plots, Figs. 2 and 6).
- :func:`earliest_other` -- the first neuron to spike other than a given one (Fig. 7's non-target neuron).
- :func:`spike_timing` -- mean spike time per layer and the slow/fast regime test (§3.2, Fig. 5).
- :func:`deep_dream` -- an input that makes the network produce a chosen class (§2.7, Fig. 8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikelib.alpha.functional import membrane_potential
from spikelib.alpha.losses import classification_loss, predict
from spikelib.alpha.modules import AlphaNetwork
from spikelib.encoding import latency


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``n`` examples classified correctly; ``loss_sum``: their summed classification loss
    (:func:`spikelib.alpha.losses.classification_loss`), so ``mean_loss`` is Table 2's "mean loss"."""

    correct: int
    n: int
    loss_sum: float = float("nan")

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.n if self.n else float("nan")

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.n if self.n else float("nan")


@torch.no_grad()
def count_correct(net: AlphaNetwork, images: np.ndarray, labels: np.ndarray, *, batch_size: int = 2000,
                  device: str | torch.device = "cpu") -> Accuracy:
    """Classify ``images`` (uint8, (N, 28, 28) or (N, 784)) with the authors' protocol and count the hits.

    Pixels are latency-coded (``t = 1 - p / 256``, black pixels silent; §2.3), the class is the earliest
    output spike, and an example whose outputs all stay silent is wrong (§2.5). Batches of ``batch_size``
    keep the memory bounded; the count does not depend on it.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    correct, loss = 0, 0.0
    for i in range(0, len(images), batch_size):
        t = latency(images[i:i + batch_size], dtype=net.dtype).to(device)
        y = torch.as_tensor(np.asarray(labels[i:i + batch_size]).astype(np.int64), device=device)
        out = net(t)
        correct += int((predict(out) == y).sum())
        loss += float(classification_loss(out, y).double().sum())
    return Accuracy(correct, len(images), loss)


@dataclass(frozen=True)
class LayerSpikes:
    """One layer's spike times for one example and the pulse times it feeds to the next layer."""

    name: str
    times: torch.Tensor  # (n_neurons,), inf where silent
    pulses: torch.Tensor  # (n_pulses,) pulse times entering the next layer; empty for the output layer


@torch.no_grad()
def layer_spikes(net: AlphaNetwork, t_in: torch.Tensor) -> list[LayerSpikes]:
    """Spike times of every layer (input, hidden..., output) for one example ``t_in`` (n_in,) (Fig. 6).

    Entry ``l`` holds layer ``l``'s times and the pulses that, with them, drive layer ``l + 1`` (§2.4: the
    pulses of a layer are extra inputs of the next one).
    """
    if t_in.ndim != 1:
        raise ValueError(f"t_in must be one example (n_in,), got shape {tuple(t_in.shape)}")
    t_in = t_in.to(net.dtype)
    outs = net(t_in.unsqueeze(0), all_layers=True)
    times = [t_in] + [o[0] for o in outs]
    n = len(times)
    names = ["input"] + [f"hidden {l}" if n > 3 else "hidden" for l in range(1, n - 1)] + ["output"]
    empty = torch.empty(0, dtype=net.dtype)
    pulses = [layer.pulse_times.detach().to(net.dtype) if layer.n_pulses else empty for layer in net.layers]
    return [LayerSpikes(names[l], times[l], pulses[l] if l < len(net.layers) else empty) for l in range(n)]


@torch.no_grad()
def layer_membrane(net: AlphaNetwork, t_in: torch.Tensor, t_grid: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Membrane potentials (T, n_out) of layer ``layer`` of ``net`` over ``t_grid`` (T,), for one example.

    The layer's inputs are the previous layer's spikes plus its pulses, each through its own weight; the
    potential is eq. (1) without reset after the output spike, as drawn in the paper's Fig. 7.
    """
    spikes = layer_spikes(net, t_in)
    idx = range(len(net.layers))[layer]
    lay = net.layers[idx]
    inputs = torch.cat([spikes[idx].times, spikes[idx].pulses])
    return membrane_potential(t_grid.to(net.dtype), inputs, lay.weight.detach(), lay.tau)


def spiking(times: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(indices, times) of the entries of ``times`` (n,) that are finite, i.e. of the neurons that spike."""
    t = times.detach().cpu().numpy()
    idx = np.flatnonzero(np.isfinite(t))
    return idx, t[idx]


def earliest_other(times: torch.Tensor, exclude: int) -> int:
    """Index of the earliest spike in ``times`` (n,) other than neuron ``exclude``; -1 if none spikes.

    With ``exclude`` the target class, this is the non-target output neuron closest to winning (Fig. 7).
    """
    t = times.detach().clone()
    t[exclude] = float("inf")
    return int(torch.argmin(t)) if torch.isfinite(t).any() else -1


@torch.no_grad()
def spike_timing(net: AlphaNetwork, t_in: torch.Tensor, batch_size: int = 1000,
                 labels: torch.Tensor | None = None) -> dict:
    """Spike timing over the examples ``t_in`` (N, n_in) (§3.2, Fig. 5).

    Returns the mean spike time of each non-input layer over the neurons that spike (``mean_spike_time``,
    a list from the first hidden layer to the output), the mean time of the first output spike
    (``first_output_spike``: the decision time), the fraction of neurons that spike per layer
    (``spiking_fraction``), and ``fast_regime``: whether the first output spike comes before the mean
    hidden spike, the paper's description of the fast regime (first hidden layer; examples whose output
    stays silent are left out). With ``labels``, the same pass also gives ``accuracy`` and ``loss`` (as
    :func:`spikelib.alpha.evaluate`): one forward pass per epoch instead of two.
    """
    n_layers = len(net.layers)
    loss, correct = 0.0, 0
    sums = torch.zeros(n_layers, dtype=torch.float64)
    counts = torch.zeros(n_layers, dtype=torch.float64)
    first_sum, first_n, neurons = 0.0, 0, torch.zeros(n_layers, dtype=torch.float64)
    for i in range(0, len(t_in), batch_size):
        outs = net(t_in[i:i + batch_size].to(net.dtype), all_layers=True)
        for l, t in enumerate(outs):
            fin = torch.isfinite(t)
            sums[l] += float(torch.where(fin, t, 0.0).sum())
            counts[l] += float(fin.sum())
            neurons[l] += t.numel()
        if labels is not None:
            yb = labels[i:i + batch_size]
            loss += float(classification_loss(outs[-1], yb).sum())
            correct += int((predict(outs[-1]) == yb).sum())
        first = outs[-1].min(dim=1).values
        first_sum += float(first[torch.isfinite(first)].sum())
        first_n += int(torch.isfinite(first).sum())
    mean = [float(s / c) if c else float("inf") for s, c in zip(sums, counts)]
    first_mean = first_sum / first_n if first_n else float("inf")
    out = {"mean_spike_time": mean, "first_output_spike": first_mean,
           "spiking_fraction": [float(c / n) for c, n in zip(counts, neurons)],
           "fast_regime": bool(n_layers > 1 and first_mean < mean[0])}
    if labels is not None:
        n = max(len(t_in), 1)
        out.update(accuracy=correct / n, loss=loss / n)
    return out


@dataclass
class Dream:
    """The result of :func:`deep_dream`: the input times and how they were reached."""

    target: int
    times: torch.Tensor  # (n_in,) the adjusted input spike times
    epochs: int  # updates made
    converged: bool  # the target class was produced ``patience`` epochs in a row
    loss: list[float]  # the classification loss before each update
    predicted: list[int]  # the predicted class before each update


def deep_dream(net: AlphaNetwork, target: int, *, lr: float = 0.1, patience: int = 10, max_epochs: int = 2000,
               start: float = 0.0, optimizer: str = "sgd") -> Dream:
    """Feature visualisation (§2.7, Fig. 8): adjust the input spike times until ``net`` outputs ``target``.

    Starts from an image whose every pixel spikes at ``start`` (the paper: t = 0), then once per epoch takes
    a gradient step on the classification loss of the one-hot ``target`` (the gradient reaches the inputs
    through eq. 5) and clamps the times at 0: ``optimizer="sgd"`` is the paper's plain gradient descent
    ``t <- max(0, t - lr * dL/dt)``; ``"adam"`` uses Adam's normalised steps instead (not the paper's).
    Stops when the target class has been produced ``patience`` epochs in a row, or after ``max_epochs``.
    The network is not changed.
    """
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' (the paper) or 'adam', got {optimizer!r}")
    n_out = net.sizes[-1]
    if not 0 <= target < n_out:
        raise ValueError(f"target must be a class in 0..{n_out - 1}, got {target}")
    t = torch.full((1, net.sizes[0]), float(start), dtype=net.dtype, requires_grad=True)
    label = torch.tensor([target])
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)([t], lr=lr)
    losses, preds, streak, epoch = [], [], 0, 0
    for p in net.parameters():  # gradients are needed for the input only
        p.requires_grad_(False)
    try:
        while epoch < max_epochs:
            out = net(t)
            pred = int(predict(out.detach())[0])
            loss = classification_loss(out, label).sum()
            losses.append(float(loss.detach()))
            preds.append(pred)
            streak = streak + 1 if pred == target else 0
            if streak >= patience:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                t.clamp_(min=0.0)
            epoch += 1
    finally:
        for p in net.parameters():
            p.requires_grad_(True)
    return Dream(target, t.detach()[0], epoch, streak >= patience, losses, preds)
