"""Audio to image (Roy et al. 2019, §3.2, Figs. 6-8, Table 1): the multimodal datasets and stage 2 of the
book's sweep (:func:`run_audio_config`, called by :func:`spikelib.experiments.roy.run_spike_backprop_config`).

1. A trained MNIST AE-SNN is frozen. Each training sample's paired image is Poisson-coded (T = 15) and run
   through its encoder; the hidden spike map (196 x 15) is stored as that sample's target
   (:func:`paired_maps`): a Poisson draw of its own for every sample, in dataset A too, where the samples
   of a digit share one image (as the authors' code builds its targets).
   ``Th`` <= 15 keeps the first Th frames (Th in {15, 10, 5, 2, 1}, Fig. 7a).
2. The audiocoder (AC-SNN, :func:`spikelib.lif.audiocoder.audiocoder_snn`) takes the rate-coded flattened
   cochleagram and is trained with Roy's rule (:func:`spikelib.lif.roy.fit`) to reproduce the stored map.
3. Its output spikes drive the frozen AE decoder (:func:`spikelib.lif.audiocoder.synthesise`), scored by
   the z-scored MSE against the paired image (:func:`pairs_mse`).

Datasets (§3.2.1, the paper's names; the authors' README and code swap A and B):

- A, "one image per class": ten MNIST images, one per digit; every audio sample is paired with its
  class's image (:func:`dataset_a`). The paper picks them by hand; here the image most correlated with
  its class mean (``choose="typical"``) or a seeded random one.
- B, "one image per audio sample": each training audio sample gets its own randomly chosen MNIST image of
  its digit (:func:`dataset_b`).

Validation MSE: A, against the class's image. B, training set: against the paired image; test set: the
lowest MSE over the training images of the dataset (the paper: "compared with all the training images";
the authors' code takes only the same class's: ``same_class=True`` of
:func:`spikelib.lif.audiocoder.audio_to_image_mse`).

The ANN audiocoder (AC-ANN, §3.2.3): an n_in-2048-196 :class:`spikelib.ann.SigmoidMLP` trained by SGD or
Adam (:func:`spikelib.ann.fit_ann`) on the AE-ANN's hidden vectors quantised to ``2^bits`` levels
(:func:`spikelib.lif.audiocoder.quantise`); the AE-ANN's decoder makes the image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

from spikelib import audio, data
from spikelib.reporting import markdown_table
from spikelib.ann import ANNConfig, SigmoidMLP, fit_ann
from spikelib.fitting import derive_seed
from spikelib.fitting import FitResult
from spikelib.lif.audiocoder import (audio_to_image_mse, audiocoder_snn, labels_of, quantise, replayed_images,
                                     synthesise)
from spikelib.lif.losses import zscored_mse
from spikelib.lif.roy import RoyConfig, TwoLayerLIF, as_rates, fit, run_snn

# ------------------------------------------------------------------------------------------ datasets


def class_images(images, labels, *, choose: str = "typical", seed: int = 0) -> np.ndarray:
    """Index of one image per digit 0-9 (dataset A). ``"typical"``: the image with the highest
    correlation with its class mean (deterministic; a stand-in for the paper's manual pick);
    ``"random"``: a seeded random one."""
    labels = labels_of(labels)
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
    return class_images(images, image_labels, choose=choose, seed=seed)[labels_of(audio_digits)]


def dataset_b(audio_digits, image_labels, *, seed: int = 0) -> np.ndarray:
    """Dataset B: each audio sample paired with its own random image of the same digit (no image twice)."""
    digits, labels = labels_of(audio_digits), labels_of(image_labels)
    rng = np.random.default_rng(seed)
    out = np.empty(len(digits), dtype=np.int64)
    for d in np.unique(digits):
        who = np.flatnonzero(digits == d)
        pool = np.flatnonzero(labels == d)
        if len(pool) < len(who):
            raise ValueError(f"digit {d}: {len(who)} audio samples but only {len(pool)} images")
        out[who] = rng.choice(pool, size=len(who), replace=False)
    return out


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


#: How the stored target maps are drawn (:func:`paired_maps`): one Poisson draw per training sample (§3.2.3, the
#: authors' code) or one per distinct paired image.
TARGET_MAPS = ("sample", "image")


def paired_maps(ae: TwoLayerLIF, images, pair_index, *, per: str = "sample", n_steps: int = 15,
                rate_scale: float = 0.3, seed: int = 2, th: int | None = None) -> torch.Tensor:
    """The stored target maps of §3.2.3, (N, Th, n_hidden), for the paired image indices ``pair_index`` (N,),
    run through the frozen encoder (:func:`hidden_maps`).

    ``per="sample"``: every sample's copy of its image gets a Poisson draw of its own ("the images that were
    paired with the training audio samples are converted to Poisson spike trains"; the authors' code codes
    one column per audio sample), so dataset A's samples of a digit get maps of one image that differ in
    their noise. ``per="image"``: each distinct image is coded once and its samples share its map. At the
    quick scale dataset A's test MSE after 6 epochs is 0.345 per sample against 0.444 per image (one map
    of noise to copy exactly, which no rate-coded input can time)."""
    if per not in TARGET_MAPS:
        raise ValueError(f"per must be one of {TARGET_MAPS}, got {per!r}")
    index = labels_of(pair_index).reshape(-1)
    if per == "sample":
        return hidden_maps(ae, np.asarray(images)[index], n_steps=n_steps, rate_scale=rate_scale, seed=seed, th=th)
    uniq, inverse = np.unique(index, return_inverse=True)
    maps = hidden_maps(ae, np.asarray(images)[uniq], n_steps=n_steps, rate_scale=rate_scale, seed=seed, th=th)
    return maps[torch.from_numpy(inverse.reshape(-1))]


def evenly_spaced(n_total: int, k: int | None) -> np.ndarray:
    """``k`` indices spread evenly over ``range(n_total)`` (all of them for ``k=None`` or ``k >= n_total``)."""
    if k is None or k >= n_total:
        return np.arange(n_total)
    if k < 1:
        raise ValueError(f"need k >= 1 (or None for all), got {k}")
    return np.linspace(0, n_total - 1, k).round().astype(np.int64)


def per_class(digits, k: int) -> np.ndarray:
    """Indices of the first ``k`` samples of each digit 0-9 present, digit by digit (Fig. 8b: 5 per class)."""
    digits = labels_of(digits)
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


def summary(mse: torch.Tensor) -> Mapping[str, float]:
    """Mean and standard error of per-sample MSEs."""
    m = torch.as_tensor(mse, dtype=torch.float64)
    return {"mean": float(m.mean()), "sem": float(m.std() / math.sqrt(len(m))) if len(m) > 1 else 0.0}


# ------------------------------------------------------------------------------------------ ANN side


def zscored_metric(out: torch.Tensor, target: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """:func:`spikelib.ann.fit_ann`'s ``metric``: Table 1's z-scored MSE of each output against its target."""
    return zscored_mse(out, target)


@torch.no_grad()
def ann_hidden(ae_ann: nn.Module, images, *, bits: int | None = None) -> torch.Tensor:
    """The AE-ANN's hidden vectors (N, n_hidden) of ``images``, quantised to ``bits`` (None: full precision)."""
    return quantise(ae_ann.encode(as_rates(images)), bits)


def train_audiocoder_ann(inputs, hidden: torch.Tensor, config: ANNConfig, *, n_hidden: int = 2048, seed: int = 0,
                         evaluate=None, eval_every: int | None = None) -> tuple[nn.Module, FitResult]:
    """An AC-ANN (:class:`spikelib.ann.SigmoidMLP`) trained by :func:`spikelib.ann.fit_ann` on cochleagram
    rates to output ``hidden`` (N, 196), the quantised AE-ANN states: ``(model, result)``. The paper: lr
    1e-4, weight decay 1e-4, batch 100, 20 epochs, SGD or Adam. ``evaluate(model)``: once per epoch by
    default. History ``mse``: the z-scored MSE against the hidden state."""
    x = as_rates(inputs)
    model = SigmoidMLP(x.shape[1], n_hidden, hidden.shape[1], seed=seed)
    result = fit_ann(model, (x, hidden.to(torch.float32)), None, config, seed=seed, metric=zscored_metric,
                     evaluate=evaluate, eval_every=eval_every)
    return model, result


@torch.no_grad()
def synthesise_ann(ac_ann: nn.Module, ae_ann: nn.Module, inputs) -> torch.Tensor:
    """ANN audio to image: the AC-ANN's output through the AE-ANN's decoder, (N, 784)."""
    return ae_ann.decode(ac_ann(as_rates(inputs)))


# ------------------------------------------------------------------- the book's experiment, stage 2


def run_audio_config(config: Mapping, ae: nn.Module, *, device: str = "cpu", checkpoint=None,
                     epochs: int | None = None, on_epoch=None) -> tuple[dict | None, dict]:
    """Stage 2 of :func:`spikelib.experiments.roy.spike_backprop_configs`: an AC-SNN (``part="ac_snn"``) or
    AC-ANN (``"ac_ann"``) on dataset A or B with the frozen AE ``ae`` (the AE-SNN or AE-ANN of the config's
    ``ae`` key). Returns ``(results, arrays)``.

    AC-SNN: the AE encoder's hidden maps of the paired images (:func:`paired_maps`, T = ``ae_steps``, first
    ``th`` frames) are the targets; test MSE after every epoch (``curve``). AC-ANN: the AE-ANN's hidden vectors quantised to
    ``bits``. Results: ``test_mse`` (Table 1) and its standard error, ``train_mse``, ``curve``,
    ``history`` (per batch). ``arrays``: synthesised images of 5 test samples per digit (Fig. 8b).
    An AC-SNN trained to ``epochs`` short of the config's (a resumable part of a reference run, with
    ``checkpoint``) returns ``(None, {})``; ``on_epoch`` as :func:`spikelib.lif.roy.fit`'s.
    """
    seed = int(config["seed"])
    pairs = audio_pairs(config, seed=seed)
    n_batches = math.ceil(len(pairs.x_train) / config["batch_size"])
    if config["part"] == "ac_snn":
        T, rate = int(config["n_steps"]), float(config["rate_scale"])
        targets = paired_maps(ae, pairs.images, pairs.pair_train, per=config["target_maps"],
                              n_steps=config["ae_steps"], seed=derive_seed(seed, 2), th=config["th"])

        def images_of(net, x):
            return synthesise(net, ae, x, n_steps=T, rate_scale=rate)["images"]

        last = {}  # the test set's synthesis at the latest evaluation (fit's last one is at the end)

        def evaluate(net):
            last["syn"] = syn = synthesise(net, ae, pairs.x_test, n_steps=T, rate_scale=rate)
            return {"test_mse": float(pairs_mse(pairs, syn["images"], "test").mean()),
                    "output_rate": float(syn["spikes"].float().mean())}

        x = as_rates(pairs.x_train)
        net = audiocoder_snn(x.shape[1], config["n_hidden"], targets.shape[2], seed=seed)
        cfg = RoyConfig(n_steps=T, rate_scale=rate, lr=config["lr"], batch_size=config["batch_size"],
                        epochs=config["epochs"], weight_decay=config["weight_decay"], trace=config["trace"])
        history = fit(net, (x, targets), None, cfg, seed=seed, evaluate=evaluate, eval_every=n_batches,
                      checkpoint=checkpoint, epochs=epochs, on_epoch=on_epoch).history
        if epochs is not None and epochs < cfg.epochs:
            return None, {}
        hist = {k: history[k] for k in ("batch", "loss", "spike_mse", "hidden_rate")}
        # fit evaluated after its last batch (same seed, same weights) unless it had nothing left to train
        done = history["eval"] and history["eval"][-1]["batch"] == cfg.epochs * n_batches and "syn" in last
        test_syn = last["syn"] if done else synthesise(net, ae, pairs.x_test, n_steps=T, rate_scale=rate)
        out_test, out_train = test_syn["images"], images_of(net, pairs.x_train)
        stored = targets.float().mean().item()
        diagnosis = _ceilings(pairs, ae, targets, T, float(test_syn["spikes"].float().mean()), stored)
    elif config["part"] == "ac_ann":
        hidden = ann_hidden(ae, pairs.images[pairs.pair_train], bits=config["bits"])

        def evaluate(model):
            return {"test_mse": float(pairs_mse(pairs, synthesise_ann(model, ae, pairs.x_test), "test").mean())}

        cfg = ANNConfig(optimizer=config["optimizer"], lr=config["lr"], weight_decay=config["weight_decay"],
                        batch_size=config["batch_size"], epochs=config["epochs"])
        net, result = train_audiocoder_ann(pairs.x_train, hidden, cfg, n_hidden=config["n_hidden"], seed=seed,
                                           evaluate=evaluate)
        history = result.history
        hist = {k: history[k] for k in ("batch", "loss", "mse")}
        out_test, out_train = synthesise_ann(net, ae, pairs.x_test), synthesise_ann(net, ae, pairs.x_train)
        stored = hidden.mean().item()
        diagnosis = {}
    else:
        raise ValueError(f"part must be 'ac_snn' or 'ac_ann', got {config['part']!r}")
    test, train = summary(pairs_mse(pairs, out_test, "test")), summary(pairs_mse(pairs, out_train, "train"))
    show = per_class(pairs.digits_test, 5)
    arrays = dict(digits=pairs.digits_test[show], synthesised=out_test[show].numpy().astype(np.float32),
                  paired=pairs.images[pairs.pair_test[show]] if pairs.pair_test is not None
                  else np.zeros((0, 28, 28), np.uint8))
    results = {"test_mse": test["mean"], "test_mse_sem": test["sem"], "train_mse": train["mean"],
               "train_mse_sem": train["sem"],
               "curve": [{"epoch": round(e["batch"] / n_batches), "test_mse": e["test_mse"],
                          **({"output_rate": e["output_rate"]} if "output_rate" in e else {})} for e in history["eval"]],
               "history": hist, "train_seconds": history["seconds"], "n_train": len(pairs.x_train),
               "n_test": len(pairs.x_test), "n_inputs": int(pairs.x_train.shape[1]), "backend": pairs.backend,
               "mean_target": stored, **diagnosis}
    return results, arrays


def _ceilings(pairs: AudioPairs, ae: nn.Module, targets: torch.Tensor, n_steps: int, output_rate: float,
              target_rate: float) -> dict:
    """Where an AC-SNN's error comes from (the book's audio diagnosis): its output spike rate on the test
    set against its targets', and the training-set MSE of the frozen decoder fed the stored target maps
    whole (an audiocoder that emitted them exactly) and thinned to the AC-SNN's rate
    (:func:`replayed_images`)."""
    keep = min(1.0, output_rate / target_rate) if target_rate > 0 else 1.0
    whole = replayed_images(ae, targets, n_steps=n_steps)
    thinned = replayed_images(ae, targets, n_steps=n_steps, keep=keep)
    return {"output_rate": output_rate, "ceiling_train_mse": float(pairs_mse(pairs, whole, "train").mean()),
            "thinned_train_mse": float(pairs_mse(pairs, thinned, "train").mean()), "thinned_keep": keep}


def diagnosis_table(runs: Mapping[str, tuple[Mapping, str]], scale: str) -> str:
    """The book's audio diagnosis: for each AC-SNN record (``label -> (record, paper value)``) its output
    rate against its targets', its test MSE, and the frozen decoder's training-set MSE on the stored maps
    whole and thinned to the AC-SNN's rate (:func:`_ceilings`); then one sentence read from the first row."""
    rows, first = [], None
    for label, (rec, paper) in runs.items():
        r = rec["results"]
        if "ceiling_train_mse" not in r:
            continue  # a record from before the diagnosis was recorded
        first = first or (label, r, paper)
        rows.append((label, f"{r['mean_target']:.3f}", f"{r['output_rate']:.3f} ({r['thinned_keep']:.0%})",
                     f"{r['ceiling_train_mse']:.3f}", f"{r['thinned_train_mse']:.3f}", f"{r['train_mse']:.3f}",
                     f"{r['test_mse']:.3f}", paper, scale))
    if not rows:
        return "No audiocoder record of this scale carries the diagnosis yet: rerun the page's sweep."
    label, r, paper = first
    table = markdown_table(("AC-SNN", "target rate", "its output rate", "decoder on the stored maps (train)",
                            "... thinned to its rate (train)", "AC-SNN (train)", "AC-SNN (test)", "paper",
                            "scale"), rows, align="lrrrrrrrl")
    return (table + f"\n\nRates are spikes per neuron and step. For {label} the audiocoder fires at "
            f"{r['thinned_keep']:.0%} of its targets' rate; the frozen decoder turns the stored target maps "
            f"themselves into images scoring {r['ceiling_train_mse']:.3f} (an audiocoder that emitted its targets "
            f"exactly), and the same maps with spikes dropped at random down to the audiocoder's rate into "
            f"{r['thinned_train_mse']:.3f}, "
            f"against its own {r['train_mse']:.3f} on the training recordings (paper, test: {paper}). "
            + _diagnosis_verdict(r))


def _diagnosis_verdict(r: Mapping) -> str:
    gap, rate_part = r["train_mse"] - r["ceiling_train_mse"], r["thinned_train_mse"] - r["ceiling_train_mse"]
    if r["output_rate"] == 0:
        return "It emits no spike at this scale."
    if gap <= 0:
        return ("The decoder does no better on the stored maps than on the audiocoder's spikes: the frozen AE, "
                "not the audiocoder, limits this scale.")
    if r["train_mse"] < r["thinned_train_mse"]:
        return ("It scores better than the stored maps thinned at random to its rate: the target spikes it "
                "misses are mostly the maps' noise (each recording's map is a Poisson draw of its own, and no "
                "input predicts a spike beyond its neuron's rate), not the digit.")
    if rate_part >= 0.5 * gap:
        return (f"So {min(rate_part / gap, 1):.0%} of its distance from its exact targets is the spikes it does "
                "not fire, not the neurons it chooses.")
    return "So most of its error is not the missing spikes but which neurons it fires."
