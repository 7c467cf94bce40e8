"""Comsa et al. (2021b), "Spiking autoencoders with temporal coding": the experiments above the model.

The model and its training are :mod:`spikelib.alpha.autoencoder`; this module wires them to the paper's
setup and to the book's sweep:

- :func:`load_autoencoder_hyperparameters`, :func:`autoencoder_hyperparameters` -- the authors' 75 sets
  (eta x l x h over :data:`ETAS`, :data:`LATENCIES`, :data:`HIDDEN_SIZES`; §2.7), read from the shared
  folder's ``reference/`` CSV, as :class:`~spikelib.alpha.autoencoder.AutoencoderHyperparameters`.
- :func:`load_autoencoder_data` -- noisy inputs, clean targets and labels of MNIST / FMNIST splits, for
  the spiking network (``"times"``) or the ANN baselines (``"regular"``, ``"inverted"`` images; §2.6, §2.8);
  :func:`mean_image_error` -- the error of answering with the mean image (the figures' floor).
- :func:`ann_parameter_count` (§2.8), :func:`svm_accuracy` (Fig. 7).
- :func:`train_autoencoder_config` -- one configuration of a :func:`spikelib.sweep.run_sweep` sweep
  (spiking or ANN); :func:`by_expected_cost` orders a sweep; :func:`load_trained_autoencoder` and
  :class:`TrainedAutoencoders` read its saved arrays; :func:`find_config` picks a configuration's record.
- Fig. 3's MNIST h = 32 points at the paper's protocol (``python -m spikelib reference spiking_autoencoders``)
  are :mod:`spikelib.experiments.comsa_autoencoders_reference`.
- :data:`FIG1` -- the example neuron of Fig. 1 (its spike time: ``papers.value("ae.fig1.spike_time")``);
  :func:`distinct_class_items`, :func:`central_bright_pixel`, :func:`expected_parameter_count`,
  :func:`activation_pair_matrix` -- what the notebook's figures select and tabulate.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from spikelib import ann
from spikelib import data as _data
from spikelib._io import atomic_path
from spikelib.alpha.autoencoder import (N_PIXELS, AutoencoderHyperparameters, _as_reconstruction, embed,
                                        embedding_features, evaluate_autoencoder, fit_autoencoder, reconstruct,
                                        snn_parameter_count)
from spikelib.backend import subnormals_flushed
from spikelib.encoding import add_time_noise, latency as latency_code
from spikelib.reporting import find_record
from spikelib.scales import settings

#: Where the authors' 75 hyperparameter sets live, relative to the shared folder.
HYPERPARAMETERS_CSV = "reference/comsa2021-autoencoder-hyperparameters.csv"
#: The grid the sets cover (§2.7).
ETAS = (0.0, 0.2, 0.4, 0.6, 0.8)
LATENCIES = (1, 2, 4, 8, 16)
HIDDEN_SIZES = (8, 16, 32)
#: The authors' split of the 60,000 training images (reference notes): shuffled, then train / validation.
N_TRAIN_POOL, N_VAL_POOL = 54000, 6000
#: t-SNE of the embeddings (Fig. 5, §3): PCA initialisation, perplexity 20.
TSNE_PERPLEXITY = 20.0

#: The example neuron of Fig. 1 (its caption: tau = 1, theta = 0.5); the paper's spike time is the paper
#: value ``ae.fig1.spike_time`` (:mod:`spikelib.papers`).
FIG1: Mapping[str, object] = {
    "t_in": (1.0, 4.0, 5.0, 8.0, 12.0, 17.0, 19.0),
    "w": (0.5, 0.3, 0.4, -0.2, -0.3, 1.2, 0.9),
    "tau": 1.0,
    "theta": 0.5,
}
#: The paper value of Fig. 1's output spike time.
FIG1_PAPER_ID = "ae.fig1.spike_time"

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


@functools.lru_cache(maxsize=1)
def _sweep_data(dataset: str, eta: float, n_train: int, n_val: int, n_test: int, representation: str,
                seed: int) -> AutoencoderData:
    """:func:`load_autoencoder_data` for :func:`train_autoencoder_config`, the last call's result kept: a
    sweep worker that trains several configurations on the same data in a row (an ANN grid's activation
    pairs, its hidden sizes) encodes the 54,000 images once (~3 s of noise and encoding each time). The
    tensors are shared between those configurations: nothing that trains or evaluates writes to them."""
    return load_autoencoder_data(dataset, eta=eta, n_train=n_train, n_val=n_val, n_test=n_test,
                                 representation=representation, seed=seed)


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
    about ``1 + 0.5 / batch_size`` units times its epochs (``epochs``, or the config's own): in the C
    training epoch (the default on CPU) the cost per image hardly depends on the batch size (measured on
    one core, 784-h-784, h = 8-32: batches 7-107 within ~15 %, batches 1-3 ~1.3-1.5x slower per image;
    in the torch loop batch 1 was ~15x slower than batch 107). ANNs (seconds each) come last."""
    def key(config):
        cfg = _check_config(config)
        if cfg["model"] == "ann":
            return 0.0
        bs = autoencoder_hyperparameters(cfg["eta"], cfg["latency"], cfg["hidden"]).batch_size
        return -cfg.get("epochs", epochs) * (1.0 + 0.5 / bs)

    return sorted(configs, key=key)


def _state_arrays(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {f"state/{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a temporary name
            np.savez_compressed(f, **arrays)


@subnormals_flushed()
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
    cfg = _check_config(config)
    s = settings(EXPERIMENT, scale)
    t_start = time.perf_counter()
    dev = torch.device(device)
    representation = "times" if cfg["model"] == "snn" else ("inverted" if cfg["inverted"] else "regular")
    d = _sweep_data(cfg["dataset"], float(cfg["eta"]), s["n_train"], s["n_val"], s["n_test"], representation,
                    s["data_seed"])
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
        enc, dec = cfg["activation"].split("-")
        model = ann.DenseAutoencoder(N_PIXELS, cfg["hidden"], enc, dec)
    model.load_state_dict(state)
    arrays["config"] = cfg
    return model, arrays


# ------------------------------------------------------------------------------- reading the sweep


def find_config(records: Iterable[Mapping[str, Any]], model: str = "snn", dataset: str = "mnist",
                eta: float = 0.0, hidden: int = 32, latency: float = 1, activation: str = "relu-sigmoid",
                inverted: bool = False) -> Mapping[str, Any] | None:
    """The sweep record of one configuration, or None if this scale does not run it.

    A spiking network is matched on (dataset, eta, hidden, latency), an ANN on (dataset, eta, hidden,
    activation, inverted); configs are compared after filling in their defaults (an ANN config without
    ``inverted`` is not inverted; ``"fashion"`` is ``"fmnist"``). Several matches raise ValueError
    (:func:`spikelib.reporting.find_record`).
    """
    match = {"model": model, "dataset": dataset_name(dataset), "eta": eta, "hidden": hidden}
    match.update({"latency": latency} if model == "snn" else {"activation": activation, "inverted": bool(inverted)})
    records = list(records)
    normal = [{"config": _check_config(r["config"]), "index": i} for i, r in enumerate(records)]
    found = find_record(normal, missing_ok=True, **match)
    return None if found is None else records[found["index"]]


class TrainedAutoencoders:
    """The finished configurations of the sweep in ``directory``: ``loaded(record)`` is
    :func:`load_trained_autoencoder` of ``<directory>/<key>.npz`` (model, arrays), read once per key."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._cache: dict[str, tuple[torch.nn.Module, dict]] = {}

    def __call__(self, record: Mapping[str, Any]) -> tuple[torch.nn.Module, dict]:
        key = record["key"]
        if key not in self._cache:
            self._cache[key] = load_trained_autoencoder(self.directory / f"{key}.npz")
        return self._cache[key]


def expected_parameter_count(config: Mapping[str, Any], n_pulses: int | None = None) -> int:
    """§2.8's parameter count of a sweep configuration: :func:`snn_parameter_count` with ``n_pulses``
    pulses per layer for a spiking network, :func:`ann_parameter_count` for an ANN."""
    cfg = _check_config(config)
    if cfg["model"] == "snn":
        if n_pulses is None:
            raise ValueError("a spiking network's count needs n_pulses")
        return snn_parameter_count(N_PIXELS, cfg["hidden"], N_PIXELS, n_pulses)
    return ann_parameter_count(N_PIXELS, cfg["hidden"], N_PIXELS)


def distinct_class_items(labels: Sequence[int], n: int) -> list[int]:
    """Indices of the first item of each class in ``labels``, in order, until ``n`` (Fig. 6's corners);
    where fewer classes occur, the first remaining items fill up to ``n``."""
    idx, seen = [], set()
    for i, lab in enumerate(labels):
        if int(lab) not in seen:
            idx.append(i)
            seen.add(int(lab))
        if len(idx) == n:
            break
    return idx + [i for i in range(len(labels)) if i not in idx][: n - len(idx)]


def central_bright_pixel(target: torch.Tensor | np.ndarray, side: int = 28, bright: float = 0.1) -> int:
    """Fig. 9's output neuron: of the pixels whose target time is below ``bright`` (bright pixels, an
    early target spike), the one nearest the centre of the ``side`` x ``side`` image; the earliest pixel
    if none is that bright."""
    t = np.asarray(target)
    rr, cc = np.divmod(np.arange(side * side), side)
    centre = (side - 1) / 2
    dist = (rr - centre) ** 2 + (cc - centre) ** 2
    mask = t < bright
    return int(np.argmin(np.where(mask, dist, np.inf))) if mask.any() else int(np.argmin(t))


def activation_pair_matrix(pairs: Mapping[tuple[str, str], float], activations: Sequence[str]) -> np.ndarray:
    """``pairs[(encoder, decoder)]`` as a (len(activations), len(activations)) matrix, rows the encoder
    activation and columns the decoder's; NaN for a pair not trained (Fig. 11)."""
    m = np.full((len(activations), len(activations)), np.nan)
    for (e, d), value in pairs.items():
        m[list(activations).index(e), list(activations).index(d)] = value
    return m
