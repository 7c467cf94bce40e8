"""Audio to image synthesis with spiking autoencoders (Roy et al. 2019, §3.2, Figs. 6-8, Table 1).

1. A trained MNIST AE-SNN (:mod:`spikelib.lif.roy`) is frozen. Each image paired with an audio sample is
   Poisson-coded once (T = 15) and run through its encoder; the hidden spike map (196 x 15) is stored
   (:func:`hidden_maps`). ``Th`` <= 15 keeps the first Th frames (Th in {15, 10, 5, 2, 1}, Fig. 7a).
2. The audiocoder (AC-SNN), a :class:`~spikelib.lif.roy.TwoLayerLIF` n_in-2048-196 with weights
   U(-0.01, 0.01), takes the rate-coded flattened cochleagram (20 Hz at 1 ms: 0.02 x per step, the
   authors' code) and is trained with Roy's rule to reproduce the stored map, step t showing frame
   ``t mod Th`` (:func:`train_audiocoder`).
3. Its output spikes drive the frozen AE decoder; the image is the output spike count
   (:func:`synthesise`), scored by the z-scored MSE against the paired image (:func:`audio_to_image_mse`).

Datasets (§3.2.1, the paper's names; the authors' README and code swap A and B):

- A, "one image per class": ten MNIST images, one per digit; every audio sample is paired with its
  class's image (:func:`dataset_a`). The paper picks them by hand; here the image most correlated with
  its class mean (``choose="typical"``) or a seeded random one.
- B, "one image per audio sample": each training audio sample gets its own randomly chosen MNIST image of
  its digit (:func:`dataset_b`).

Validation MSE: A, against the class's image. B, training set: against the paired image; test set: the
lowest MSE over the training images of the dataset (the paper: "compared with all the training images";
the authors' code takes only the same class's: ``same_class=True``).

The ANN audiocoder (AC-ANN, §3.2.3): n_in-2048-196 sigmoid network trained by SGD or Adam on the AE-ANN's
hidden vectors quantised to ``2^bits`` levels (:func:`quantise`); the AE-ANN's decoder makes the image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

from spikelib.encoding import poisson
from spikelib.lif.losses import zscored_mse
from spikelib.lif.roy import (
    TwoLayerLIF,
    _seed,
    as_rates,
    decode_spikes,
    run_snn,
    train_ann,
    train_snn,
)

#: The authors' code: 20 Hz input rate at 1 ms steps.
AUDIO_RATE = 0.02
#: Th values of Fig. 7a/c.
TH_VALUES = (15, 10, 5, 2, 1)


# ------------------------------------------------------------------------------------------ datasets


def _labels(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).reshape(-1)


def class_images(images, labels, *, choose: str = "typical", seed: int = 0) -> np.ndarray:
    """Index of one image per digit 0-9 (dataset A). ``"typical"``: the image with the highest
    correlation with its class mean (deterministic; a stand-in for the paper's manual pick);
    ``"random"``: a seeded random one."""
    labels = _labels(labels)
    if choose not in ("typical", "random"):
        raise ValueError(f"choose must be 'typical' or 'random', got {choose!r}")
    rng = np.random.default_rng(seed)
    x = np.asarray(images, dtype=np.float64).reshape(len(labels), -1)
    out = []
    for d in range(10):
        members = np.flatnonzero(labels == d)
        if len(members) == 0:
            raise ValueError(f"no image of digit {d}")
        if choose == "random":
            out.append(int(rng.choice(members)))
            continue
        z = x[members] - x[members].mean(axis=1, keepdims=True)
        z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-12
        mean = z.mean(axis=0)
        out.append(int(members[np.argmax(z @ mean)]))
    return np.array(out, dtype=np.int64)


def dataset_a(audio_digits, images, image_labels, *, choose: str = "typical", seed: int = 0) -> np.ndarray:
    """Dataset A: the image index paired with each audio sample, the same image for every sample of a
    digit (:func:`class_images`)."""
    return class_images(images, image_labels, choose=choose, seed=seed)[_labels(audio_digits)]


def dataset_b(audio_digits, image_labels, *, seed: int = 0) -> np.ndarray:
    """Dataset B: each audio sample paired with its own random image of the same digit (no image twice)."""
    digits, labels = _labels(audio_digits), _labels(image_labels)
    rng = np.random.default_rng(seed)
    out = np.empty(len(digits), dtype=np.int64)
    for d in np.unique(digits):
        who = np.flatnonzero(digits == d)
        pool = np.flatnonzero(labels == d)
        if len(pool) < len(who):
            raise ValueError(f"digit {d}: {len(who)} audio samples but only {len(pool)} images")
        out[who] = rng.choice(pool, size=len(who), replace=False)
    return out


# ------------------------------------------------------------------------------------------- targets


def hidden_maps(ae: TwoLayerLIF, images, *, n_steps: int = 15, rate_scale: float = 0.3, seed: int = 2,
                th: int | None = None) -> torch.Tensor:
    """The frozen AE encoder's hidden spike maps of ``images`` (Poisson-coded once): uint8 (N, Th, n_hidden),
    the first ``th`` (default all ``n_steps``) frames."""
    maps = run_snn(ae, images, n_steps=n_steps, rate_scale=rate_scale, seed=seed, keep_hidden=True)["hidden"]
    if th is not None:
        if not 1 <= th <= n_steps:
            raise ValueError(f"th must lie in 1..{n_steps}, got {th}")
        maps = maps[:, :th]
    return maps


# --------------------------------------------------------------------------------------- audiocoder


def audiocoder_snn(n_in: int, n_hidden: int = 2048, n_out: int = 196, *, leak: float = 0.1, seed: int = 0,
                   **kw) -> TwoLayerLIF:
    """AC-SNN ``n_in``-``n_hidden``-``n_out`` (58500-2048-196 in the paper), weights U(-0.01, 0.01)."""
    return TwoLayerLIF(n_in, n_hidden, n_out, leak=leak, init=kw.pop("init", 0.01), seed=seed, **kw)


def train_audiocoder(inputs, maps: torch.Tensor, *, n_hidden: int = 2048, n_steps: int = 60,
                     rate_scale: float = AUDIO_RATE, lr: float = 5e-5, batch_size: int = 50, epochs: int = 20,
                     trace: str = "input", seed: int = 0, net: TwoLayerLIF | None = None,
                     evaluate=None, eval_every: int | None = None, **train_kw):
    """Train an AC-SNN on cochleagram rates (N, n_in) to emit the stored maps (N, Th, n_out): ``(net, history)``.

    Roy's online rule (:func:`~spikelib.lif.roy.train_snn`); the paper: T = 60, lr 5e-5, batch 50,
    20 epochs, leak 0.1, weight decay 1e-4 (the authors' code: T = 30). ``trace="input"`` by default:
    the paper's per-synapse trace reset costs O(T) matrix products per step, out of reach for 58,500
    inputs. ``evaluate(net)`` runs after every epoch unless ``eval_every`` (batches) says otherwise.
    """
    x = as_rates(inputs)
    maps = torch.as_tensor(maps)
    if net is None:
        net = audiocoder_snn(x.shape[1], n_hidden, maps.shape[2], seed=seed)
    if evaluate is not None and eval_every is None:
        eval_every = math.ceil(len(x) / batch_size)
    history = train_snn(net, x, targets=maps, n_steps=n_steps, rate_scale=rate_scale, lr=lr,
                        batch_size=batch_size, epochs=epochs, trace=trace, seed=seed, evaluate=evaluate,
                        eval_every=eval_every, **train_kw)
    return net, history


@torch.no_grad()
def synthesise(audiocoder: TwoLayerLIF, ae: TwoLayerLIF, inputs, *, n_steps: int = 60,
               rate_scale: float = AUDIO_RATE, seed: int = 3, batch_size: int = 500) -> dict:
    """Audio to image (Fig. 6): the audiocoder's output spikes (N, T, 196) through the frozen AE decoder.

    Returns ``images`` (N, 784) output spike counts of the decoder, ``spikes`` the audiocoder's output
    spike maps as uint8.
    """
    x = as_rates(inputs)
    spikes = []
    for c, i in enumerate(range(0, len(x), batch_size)):
        gen = torch.Generator().manual_seed(_seed(seed, c, 4))
        s_in = poisson(x[i:i + batch_size], n_steps, rate_scale=rate_scale, generator=gen)
        s_in = s_in.to(audiocoder.encoder.weight.device)
        spikes.append(audiocoder(s_in)[2].transpose(0, 1).to(torch.uint8).cpu())
    spikes = torch.cat(spikes) if spikes else torch.zeros(0, n_steps, audiocoder.sizes[2], dtype=torch.uint8)
    return {"images": decode_spikes(ae, spikes), "spikes": spikes}


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
        same = torch.as_tensor(_labels(output_labels))[:, None] == torch.as_tensor(_labels(candidate_labels))[None]
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


class AudiocoderANN(nn.Module):
    """AC-ANN ``n_in``-``n_hidden``-``n_out``, sigmoid layers (the AE-ANN's hidden state lies in [0, 1]);
    Glorot-uniform weights, zero biases from ``seed`` (as :class:`spikelib.ann.DenseAutoencoder`)."""

    def __init__(self, n_in: int, n_hidden: int = 2048, n_out: int = 196, *, seed: int = 0):
        super().__init__()
        self.hidden, self.out = nn.Linear(n_in, n_hidden), nn.Linear(n_hidden, n_out)
        gen = torch.Generator().manual_seed(seed)
        for layer in (self.hidden, self.out):
            nn.init.xavier_uniform_(layer.weight, generator=gen)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.sigmoid(self.hidden(x.to(self.hidden.weight.dtype)))))


@torch.no_grad()
def ann_hidden(ae_ann: nn.Module, images, *, bits: int | None = None) -> torch.Tensor:
    """The AE-ANN's hidden vectors (N, n_hidden) of ``images``, quantised to ``bits`` (None: full precision)."""
    return quantise(ae_ann.encode(as_rates(images)), bits)


def train_audiocoder_ann(inputs, hidden: torch.Tensor, *, n_hidden: int = 2048, optimizer: str = "adam",
                         lr: float = 1e-4, weight_decay: float = 1e-4, batch_size: int = 100, epochs: int = 20,
                         seed: int = 0, evaluate=None, eval_every: int | None = None):
    """Train an AC-ANN on cochleagram rates to output ``hidden`` (N, 196) (the quantised AE-ANN states) by
    the mean squared error: ``(model, history)``. The paper: lr 1e-4, weight decay 1e-4, batch 100,
    20 epochs, SGD or Adam. ``evaluate(model)`` runs after every epoch unless ``eval_every`` says otherwise."""
    x = as_rates(inputs)
    model = AudiocoderANN(x.shape[1], n_hidden, hidden.shape[1], seed=seed)
    if evaluate is not None and eval_every is None:
        eval_every = math.ceil(len(x) / batch_size)
    history = train_ann(model, x, hidden.to(torch.float32), optimizer=optimizer, lr=lr, batch_size=batch_size,
                        epochs=epochs, weight_decay=weight_decay, seed=seed, evaluate=evaluate,
                        eval_every=eval_every)
    return model, history


@torch.no_grad()
def synthesise_ann(ac_ann: nn.Module, ae_ann: nn.Module, inputs) -> torch.Tensor:
    """ANN audio to image: the AC-ANN's output through the AE-ANN's decoder, (N, 784)."""
    return ae_ann.decode(ac_ann(as_rates(inputs)))


def summary(mse: torch.Tensor) -> Mapping[str, float]:
    """Mean and standard error of per-sample MSEs."""
    m = torch.as_tensor(mse, dtype=torch.float64)
    return {"mean": float(m.mean()), "sem": float(m.std() / math.sqrt(len(m))) if len(m) > 1 else 0.0}


# ------------------------------------------------------------------- the book's experiment, stage 2


def evenly_spaced(n_total: int, k: int | None) -> np.ndarray:
    """``k`` indices spread evenly over ``range(n_total)`` (all of them for ``k=None`` or ``k >= n_total``)."""
    if k is None or k >= n_total:
        return np.arange(n_total)
    if k < 1:
        raise ValueError(f"need k >= 1 (or None for all), got {k}")
    return np.linspace(0, n_total - 1, k).round().astype(np.int64)


def per_class(digits, k: int) -> np.ndarray:
    """Indices of the first ``k`` samples of each digit 0-9 present, digit by digit (Fig. 8b: 5 per class)."""
    digits = _labels(digits)
    return np.concatenate([np.flatnonzero(digits == d)[:k] for d in range(10)]).astype(np.int64)


@dataclass
class AudioPairs:
    """A multimodal dataset of §3.2.1 on FSDD: cochleagram rates and, per training sample, the index of its
    paired MNIST training image; test samples are paired (A) or scored against ``candidates`` (B)."""

    dataset: str
    x_train: np.ndarray  # (N, channels x frames) rates in [0, 1]
    x_test: np.ndarray
    digits_train: np.ndarray
    digits_test: np.ndarray
    images: np.ndarray  # MNIST training images (60000, 28, 28) uint8
    image_labels: np.ndarray
    pair_train: np.ndarray  # index into images for every training sample
    pair_test: np.ndarray | None  # A: the class image of every test sample; B: None (minimum over candidates)
    backend: str

    @property
    def candidates(self) -> np.ndarray:
        """Dataset B's test reference: all training images of the dataset (the paper's rule)."""
        return self.images[self.pair_train]


_PAIR_KEYS = ("backend", "n_channels", "n_frames", "decimation", "n_train", "n_test", "dataset")


def audio_pairs(config: Mapping, *, seed: int = 0) -> AudioPairs:
    """Dataset ``config["dataset"]`` ("A" or "B") of FSDD cochleagrams (``backend``, ``n_channels``,
    ``n_frames``, ``decimation``; ``n_train`` / ``n_test`` recordings evenly spaced, None: all) paired with
    MNIST training images: A by :func:`dataset_a` (the typical image of each digit), B by :func:`dataset_b`
    from ``seed``. The last few are kept in memory (a sweep asks for the same one many times); treat the
    arrays as read-only."""
    return _audio_pairs(tuple(config[k] for k in _PAIR_KEYS), int(seed))


@functools.lru_cache(maxsize=2)
def _audio_pairs(items: tuple, seed: int) -> AudioPairs:
    from spikelib import audio, data

    config = dict(zip(_PAIR_KEYS, items))
    kw = dict(n_frames=config["n_frames"], decimation=config["decimation"], n_channels=config["n_channels"],
              backend=config["backend"])
    tr, te = audio.fsdd_cochleagrams("train", **kw), audio.fsdd_cochleagrams("test", **kw)
    itr, ite = evenly_spaced(len(tr), config["n_train"]), evenly_spaced(len(te), config["n_test"])
    images, labels = data.load_mnist("train")
    dtr, dte = np.asarray(tr.digits)[itr], np.asarray(te.digits)[ite]
    if config["dataset"] == "A":
        cls = class_images(images, labels)
        pair_train, pair_test = cls[dtr], cls[dte]
    elif config["dataset"] == "B":
        pair_train, pair_test = dataset_b(dtr, labels, seed=seed), None
    else:
        raise ValueError(f"dataset must be 'A' or 'B', got {config['dataset']!r}")
    return AudioPairs(config["dataset"], tr.flat()[itr], te.flat()[ite], dtr, dte, images, np.asarray(labels),
                      pair_train, pair_test, tr.backend)


def pairs_mse(pairs: AudioPairs, outputs: torch.Tensor, split: str) -> torch.Tensor:
    """Per-sample validation MSE (§3.2.3) of synthesised images (N, 784) of ``split``: against the paired
    image, except dataset B's test set: the minimum over all its training images."""
    if split == "train":
        return audio_to_image_mse(outputs, pairs.images[pairs.pair_train])
    if pairs.pair_test is not None:
        return audio_to_image_mse(outputs, pairs.images[pairs.pair_test])
    return audio_to_image_mse(outputs, candidates=pairs.candidates)


def _stats(mse: torch.Tensor) -> dict:
    sm = summary(mse)
    return {"mean": sm["mean"], "sem": sm["sem"]}


def run_audio_config(config: Mapping, *, device: str = "cpu", directory, checkpoint=None, artifacts=None) -> dict:
    """Stage 2 of :func:`spikelib.lif.roy.spike_backprop_configs`: an AC-SNN (``part="ac_snn"``) or AC-ANN
    (``"ac_ann"``) on dataset A or B, with the frozen AE (AE-SNN or AE-ANN) saved in ``directory`` under
    the key ``config["ae"]``.

    AC-SNN: the AE encoder's hidden maps of the paired images (T = ``ae_steps``, first ``th`` frames) are
    the targets; test MSE after every epoch (``curve``). AC-ANN: the AE-ANN's hidden vectors quantised to
    ``bits``. Results: ``test_mse`` (Table 1) and its standard error, ``train_mse``, ``curve``,
    ``history`` (per batch). ``artifacts``: synthesised images of 5 test samples per digit (Fig. 8b).
    """
    from spikelib.lif import roy

    seed = int(config["seed"])
    pairs = audio_pairs(config, seed=seed)
    n_batches = math.ceil(len(pairs.x_train) / config["batch_size"])
    if config["part"] == "ac_snn":
        ae = roy.load_ae_snn(directory, config["ae"]).to(device)
        T, rate = int(config["n_steps"]), float(config["rate_scale"])
        targets = hidden_maps(ae, pairs.images[pairs.pair_train], n_steps=config["ae_steps"], seed=_seed(seed, 2),
                              th=config["th"])

        def images_of(net, x):
            return synthesise(net, ae, x, n_steps=T, rate_scale=rate)["images"]

        def evaluate(net):
            return {"test_mse": float(pairs_mse(pairs, images_of(net, pairs.x_test), "test").mean())}

        net, history = train_audiocoder(pairs.x_train, targets, n_hidden=config["n_hidden"], n_steps=T,
                                        rate_scale=rate, lr=config["lr"], batch_size=config["batch_size"],
                                        epochs=config["epochs"], weight_decay=config["weight_decay"],
                                        trace=config["trace"], seed=seed, evaluate=evaluate,
                                        eval_every=n_batches, checkpoint=checkpoint)
        hist = {k: history[k] for k in ("batch", "loss", "spike_mse", "hidden_rate")}
        out_test, out_train = images_of(net, pairs.x_test), images_of(net, pairs.x_train)
        stored = targets.float().mean().item()
    elif config["part"] == "ac_ann":
        ae = roy.load_ae_ann(directory, config["ae"])
        hidden = ann_hidden(ae, pairs.images[pairs.pair_train], bits=config["bits"])

        def evaluate(model):
            return {"test_mse": float(pairs_mse(pairs, synthesise_ann(model, ae, pairs.x_test), "test").mean())}

        net, history = train_audiocoder_ann(pairs.x_train, hidden, n_hidden=config["n_hidden"],
                                            optimizer=config["optimizer"], lr=config["lr"],
                                            weight_decay=config["weight_decay"], batch_size=config["batch_size"],
                                            epochs=config["epochs"], seed=seed, evaluate=evaluate)
        hist = {k: history[k] for k in ("batch", "loss", "mse")}
        out_test, out_train = synthesise_ann(net, ae, pairs.x_test), synthesise_ann(net, ae, pairs.x_train)
        stored = hidden.mean().item()
    else:
        raise ValueError(f"part must be 'ac_snn' or 'ac_ann', got {config['part']!r}")
    test, train = _stats(pairs_mse(pairs, out_test, "test")), _stats(pairs_mse(pairs, out_train, "train"))
    if artifacts is not None:
        from spikelib.lif.roy import _save_npz

        show = per_class(pairs.digits_test, 5)
        _save_npz(artifacts, None, digits=pairs.digits_test[show], synthesised=out_test[show].numpy().astype(np.float32),
                  paired=pairs.images[pairs.pair_test[show]] if pairs.pair_test is not None else np.zeros((0, 28, 28), np.uint8))
    return {"test_mse": test["mean"], "test_mse_sem": test["sem"], "train_mse": train["mean"],
            "train_mse_sem": train["sem"],
            "curve": [{"epoch": round(e["batch"] / n_batches), "test_mse": e["test_mse"]} for e in history["eval"]],
            "history": hist, "train_seconds": history["seconds"], "n_train": len(pairs.x_train),
            "n_test": len(pairs.x_test), "n_inputs": int(pairs.x_train.shape[1]), "backend": pairs.backend,
            "mean_target": stored}
