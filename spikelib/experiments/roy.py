"""Roy, Panda & Roy (2019), spike-based backpropagation: the book's experiment (``spike_backprop``).

The models are in :mod:`spikelib.lif.roy` (AE-SNN, the online rule, :func:`~spikelib.lif.roy.fit`) and
:mod:`spikelib.lif.audiocoder`; the ANN baselines train by :func:`spikelib.ann.fit_ann`. This module holds:

- the sweep: :func:`spike_backprop_configs` (its configurations from :mod:`spikelib.scales`) and
  :func:`run_spike_backprop_config`, the entry point :func:`spikelib.sweep.run_sweep` calls (stage 2,
  audio to image, is :func:`spikelib.experiments.roy_audio.run_audio_config`);
- the AE-ANN baseline (§3.1): :func:`ae_ann`, :func:`train_ae_ann`, :func:`evaluate_ae_ann`;
- the arrays each configuration leaves (:func:`artifact_path`, :func:`load_ae_snn`, :func:`load_ae_ann`);
- what the notebook shows: Table 1 (:func:`table1_rows`, :func:`table1_paper`: the paper's values via
  :mod:`spikelib.papers`), the runs of each figure (:func:`fig3_runs` ... :func:`fig8_runs`), the Fig. 7
  table and bit axis, :func:`wall_times`, :func:`settings_rows`.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from spikelib import data, papers
from spikelib._io import atomic_path
from spikelib.ann import ANNConfig, DenseAutoencoder, fit_ann
from spikelib.backend import subnormals_flushed
from spikelib.experiments import roy_audio
from spikelib.fitting import FitResult
from spikelib.lif.losses import zscored_mse
from spikelib.lif.roy import RoyConfig, TwoLayerLIF, ae_snn, as_rates, evaluate_autoencoder, fit
from spikelib.reporting import find_record, markdown_table
from spikelib.sweep import config_key

#: Table 1's rows and models as the results record names them ("ann": the AE-/AC-ANN trained by SGD).
TABLE1_ROWS = ("mnist_196", "fmnist_512", "fmnist_1024", "audio_a", "audio_b")
TABLE1_MODELS = ("snn", "ann", "ann_adam")
#: Table 1's column of the ANNs trained by each optimiser.
ANN_COLUMN = {"sgd": "ann", "adam": "ann_adam"}
#: Fig. 4's models and their Table 1 column.
FIG4_MODELS = {"AE-SNN": "snn", "AE-ANN (SGD)": "ann", "AE-ANN (Adam)": "ann_adam"}
#: The leak of every run but Fig. 3a's (§3.1: "we set the leak coefficient at 0.1").
REFERENCE_LEAK = 0.1
_SNN_KEYS = ("n_train", "n_hidden", "n_steps", "rate_scale", "lr", "batch_size", "epochs", "weight_decay", "trace")
_AUDIO_DATA_KEYS = ("backend", "n_channels", "n_frames", "decimation", "n_train", "n_test")
_AUDIO_SNN_KEYS = ("n_hidden", "n_steps", "rate_scale", "lr", "batch_size", "epochs", "weight_decay", "trace",
                   "ae_steps")
#: What a table says where the paper gives a figure only.
PLOT_ONLY = "plot only"
#: Where Fig. 7c draws the ANNs' full-precision hidden state on its bits axis (the paper draws its "16 bit"
#: ANN at 16; 18 keeps it apart from the quantised points).
FULL_BITS = 18


# ------------------------------------------------------------------------------------- the sweep


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
                "n_hidden": int(h), "leak": REFERENCE_LEAK, "mask": True, "n_eval": int(f["n_eval"]),
                "eval_every": int(f["eval_every"]),
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
    audio = {k: au[k] for k in _AUDIO_DATA_KEYS}
    snn = {"part": "ac_snn", **audio, **{k: au[k] for k in _AUDIO_SNN_KEYS}, "target_maps": "sample",
           "ae": config_key(reference), **common}
    stage2 = [{**snn, "dataset": "A", "th": int(th)} for th in au["th_values"]]
    stage2.append({**snn, "dataset": "B", "th": int(au["th_b"])})
    for dataset, bits_list in (("A", c["bits"]), ("B", [None])):
        for opt in ("sgd", "adam"):
            stage2 += [{"part": "ac_ann", **audio, "dataset": dataset, "optimizer": opt, "bits": bits,
                        **{k: c[k] for k in ("n_hidden", "lr", "weight_decay", "batch_size", "epochs")},
                        "ae": anns[opt], **common} for bits in bits_list]
    return stage1, stage2


@subnormals_flushed()
def run_spike_backprop_config(config: Mapping, *, scale: str | None = None, device: str = "cpu",
                              checkpoint: str | Path | None = None, epochs: int | None = None,
                              on_epoch=None) -> dict | None:
    """One configuration of :func:`spike_backprop_configs`: train, evaluate, return JSON-able results.

    For :func:`spikelib.sweep.run_sweep` (which passes ``checkpoint``, ``<directory>/<key>.ckpt``: an
    interrupted SNN run resumes from it). Arrays go to ``<directory>/<key>.npz`` (:func:`artifact_path`):
    the first ``n_show`` test images and their reconstructions, and the weights of the MNIST reference
    AE-SNN and AE-ANNs, which stage 2 (:func:`spikelib.experiments.roy_audio.run_audio_config`) uses as
    the frozen AE named by the key in its ``ae`` item. Results: ``test_mse`` (Table 1's metric), per-batch
    training ``history``, ``eval`` (held-out curve), seconds. ``scale`` is only recorded by the sweep.
    An AC-SNN may train in parts (a reference run): ``epochs`` below the config's stops there, checkpointed,
    and returns None; ``on_epoch(record)`` gets every finished epoch (:func:`spikelib.lif.roy.fit`).
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
        directory = checkpoint.parent
        ae = (load_ae_snn(directory, config["ae"]).to(device) if part == "ac_snn"
              else load_ae_ann(directory, config["ae"]))
        results, arrays = roy_audio.run_audio_config(config, ae, device=device, checkpoint=checkpoint,
                                                     epochs=epochs, on_epoch=on_epoch)
        if results is None:
            return None  # stopped at ``epochs``, before the config's last
        _save_npz(artifacts, None, **arrays)
        return results
    raise ValueError(f"unknown part {part!r}: one of ae_snn, ae_ann, ac_snn, ac_ann")


def _images(dataset: str, split: str):
    if dataset == "mnist":
        return data.load_mnist(split)
    if dataset == "fmnist":
        return data.load_fashion_mnist(split)
    raise ValueError(f"dataset must be 'mnist' or 'fmnist', got {dataset!r}")


def _sem(mse: torch.Tensor) -> float:
    return float(mse.std() / math.sqrt(len(mse))) if len(mse) > 1 else 0.0


def _run_ae_snn(config: Mapping, *, device: str, checkpoint, artifacts: Path) -> dict:
    x, _ = _images(config["dataset"], "train")
    xt, _ = _images(config["dataset"], "test")
    seed, T, rate = int(config["seed"]), int(config["n_steps"]), float(config["rate_scale"])
    net = ae_snn(config["n_hidden"], leak=config["leak"], seed=seed).to(device)
    val = xt[:config["n_eval"]] if config["eval_every"] and config["n_eval"] else None
    cfg = RoyConfig(n_steps=T, rate_scale=rate, lr=config["lr"], batch_size=config["batch_size"],
                    epochs=config["epochs"], trace=config["trace"], mask=config["mask"],
                    weight_decay=config["weight_decay"])
    history = fit(net, x[:config["n_train"]], val, cfg, seed=seed, eval_every=config["eval_every"] or None,
                  checkpoint=checkpoint).history
    out = {"history": {k: history[k] for k in ("batch", "loss", "mse", "spike_mse", "hidden_rate")},
           "eval": [{"batch": e["batch"], "test_mse": e["val_mse"], "test_spike_mse": e["val_spike_mse"]}
                    for e in history["eval"]],
           "train_seconds": history["seconds"], "n_batches": len(history["batch"])}
    n_test = int(config["n_test"]) or int(config["n_eval"])
    t0 = time.perf_counter()
    r = evaluate_autoencoder(net, xt[:n_test], n_steps=T, rate_scale=rate)
    out.update(test_mse=r["mean_mse"], test_spike_mse=r["mean_spike_mse"], test_mse_sem=_sem(r["mse"]),
               n_test=n_test, eval_seconds=time.perf_counter() - t0)
    n_show = int(config["n_show"])
    _save_npz(artifacts, net.cpu() if config["reference"] else None, images=xt[:n_show],
              reconstructions=r["counts"][:n_show].numpy().astype(np.uint8), leak=np.float64(config["leak"]))
    return out


def _run_ae_ann(config: Mapping, *, artifacts: Path) -> dict:
    x, _ = _images(config["dataset"], "train")
    xt, _ = _images(config["dataset"], "test")
    cfg = ANNConfig(optimizer=config["optimizer"], lr=config["lr"], batch_size=config["batch_size"],
                    epochs=config["epochs"], weight_decay=config["weight_decay"])
    model, result = train_ae_ann(x[:config["n_train"]], cfg, n_hidden=config["n_hidden"], seed=int(config["seed"]))
    history = result.history
    r = evaluate_ae_ann(model, xt[:config["n_test"]])
    n_show = int(config["n_show"])
    _save_npz(artifacts, model if config["dataset"] == "mnist" else None, images=xt[:n_show],
              reconstructions=r["counts"][:n_show].numpy().astype(np.float32))
    return {"history": {"batch": history["batch"], "mse": history["mse"], "loss": history["loss"]},
            "train_seconds": history["seconds"], "test_mse": r["mean_mse"], "test_mse_sem": _sem(r["mse"]),
            "n_test": int(config["n_test"]), "n_batches": len(history["batch"])}


# -------------------------------------------------------------------------------- the AE-ANN (§3.1)


def ae_ann(n_hidden: int = 196, *, n_in: int = 784, seed: int = 0) -> DenseAutoencoder:
    """AE-ANN of the AE-SNN's size: :class:`spikelib.ann.DenseAutoencoder` with sigmoid hidden and output
    layers (the paper names no activation; §3.2.3 quantises the hidden state, which needs a bounded range)."""
    return DenseAutoencoder(n_in, n_hidden, "sigmoid", "sigmoid", seed=seed)


def train_ae_ann(images, config: ANNConfig | Mapping | None = None, *, n_hidden: int = 196,
                 seed: int = 0) -> tuple[DenseAutoencoder, FitResult]:
    """AE-ANN baseline (§3.1): :func:`ae_ann` from ``seed`` trained by :func:`spikelib.ann.fit_ann` to
    reproduce the images (p / 255): ``(model, result)``; history ``mse`` is Table 1's z-scored MSE. The
    paper: MNIST lr 0.1, FMNIST lr 5e-3, batch 100, weight decay 1e-4, 1 epoch, "with and without Adam"."""
    x = as_rates(images)
    model = ae_ann(n_hidden, n_in=x.shape[1], seed=seed)
    return model, fit_ann(model, (x, x), None, config, seed=seed, metric=roy_audio.zscored_metric)


@torch.no_grad()
def evaluate_ae_ann(model: nn.Module, images) -> dict:
    """Per-image z-scored ``mse`` of the AE-ANN's output vs the image, its mean, the outputs ``counts``."""
    x = as_rates(images)
    out = model(x)
    mse = zscored_mse(out, x)
    return {"mse": mse, "mean_mse": float(mse.mean()), "counts": out}


# ----------------------------------------------------------------------------------------- artifacts


def artifact_path(directory: str | Path, config: Mapping | str) -> Path:
    """``<directory>/<key>.npz``: the arrays a config of the sweep leaves (weights, reconstructions)."""
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


# ------------------------------------------------------------------------------- tables and figures


def table1_cells(s: Mapping) -> dict[tuple[str, str], dict]:
    """The configuration fields (for :func:`spikelib.reporting.find_record`) of each Table-1 cell
    ``(row, model)`` at the scale whose settings are ``s``.

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
    for opt, model in ANN_COLUMN.items():
        where[("mnist_196", model)] = dict(part="ae_ann", dataset="mnist", optimizer=opt)
        for row, h in (("fmnist_512", h1), ("fmnist_1024", h2)):
            where[(row, model)] = dict(part="ae_ann", dataset="fmnist", n_hidden=h, optimizer=opt)
        for row, ds in (("audio_a", "A"), ("audio_b", "B")):
            where[(row, model)] = dict(part="ac_ann", dataset=ds, optimizer=opt, bits=None)
    return where


def table1_rows(records, s: Mapping) -> list[dict]:
    """Table 1 from the sweep records: ``{"row", "model", "mse"}`` for every row of :data:`TABLE1_ROWS`
    and model of :data:`TABLE1_MODELS` (mse: the mean z-scored test MSE; None where a record is missing;
    which record is which: :func:`table1_cells`)."""
    where = table1_cells(s)
    rows = []
    for row in TABLE1_ROWS:
        for model in TABLE1_MODELS:
            r = find_record(records, missing_ok=True, **where[(row, model)])
            rows.append({"row": row, "model": model, "mse": None if r is None else float(r["results"]["test_mse"])})
    return rows


def table1_paper(row: str, model: str) -> str:
    """Table 1's value for ``row`` and ``model`` as the paper prints it (``roy.table1.<row>.<model>``)."""
    return papers.entry(f"roy.table1.{row}.{model}")["printed"]


def compression(th: int, *, n_pixels: int = 784, pixel_bits: int = 8, n_hidden: int = 196) -> float:
    """How much the AE-SNN's hidden map compresses an image (§3.2.3): ``n_pixels * pixel_bits`` bits
    against ``n_hidden * th`` one-bit spikes (the paper: 2.1x at Th = 15 ... 32x at Th = 1)."""
    return n_pixels * pixel_bits / (n_hidden * th)


def wall_times(records) -> dict:
    """Seconds of computation per ``part`` of the sweep records (their ``wall_s``), and the total."""
    out: dict = {}
    for r in records:
        out[r["config"]["part"]] = out.get(r["config"]["part"], 0.0) + float(r["wall_s"])
    out["total"] = sum(out.values())
    return out


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


def _finder(records):
    return functools.partial(find_record, records, missing_ok=True)


def fig3_runs(records, s: Mapping) -> dict[str, list[tuple[str, Mapping | None]]]:
    """Fig. 3's MNIST AE-SNN records by panel, ``(label, record)``: (a) one per leak of ``leaks``,
    (b) the XOR mask on and off, (c) one per T of ``durations``; the reference run serves all three."""
    find = _finder(records)
    ref = find(part="ae_snn", dataset="mnist", reference=True)
    return {
        "a": [(f"α = {leak:g}", find(part="ae_snn", dataset="mnist", leak=leak, mask=True,
                                     n_steps=s["mnist"]["n_steps"])) for leak in s["leaks"]],
        "b": [("mask = XOR", ref), ("mask = none", find(part="ae_snn", dataset="mnist", mask=False))],
        "c": [(f"T = {t}", find(part="ae_snn", dataset="mnist", leak=REFERENCE_LEAK, mask=True, n_steps=t))
              for t in s["durations"]],
    }


def fig4_runs(records) -> dict[str, Mapping | None]:
    """Fig. 4's MNIST records: the reference AE-SNN and the AE-ANNs (SGD, Adam), by :data:`FIG4_MODELS`."""
    find = _finder(records)
    return {"AE-SNN": find(part="ae_snn", dataset="mnist", reference=True),
            "AE-ANN (SGD)": find(part="ae_ann", dataset="mnist", optimizer="sgd"),
            "AE-ANN (Adam)": find(part="ae_ann", dataset="mnist", optimizer="adam")}


def fig5_runs(records, s: Mapping) -> dict[tuple, Mapping | None]:
    """Fig. 5's Fashion-MNIST records by ``(hidden, model name, Table 1 column, Table 1 row)``, for the
    first two ``fmnist.hidden_sizes`` (Table 1's rows ``fmnist_512``, ``fmnist_1024``)."""
    find = _finder(records)
    out = {}
    for h, row in zip(s["fmnist"]["hidden_sizes"], ("fmnist_512", "fmnist_1024")):
        out[(h, "AE-SNN", "snn", row)] = find(part="ae_snn", dataset="fmnist", n_hidden=h)
        out[(h, "AE-ANN (SGD)", "ann", row)] = find(part="ae_ann", dataset="fmnist", n_hidden=h, optimizer="sgd")
        out[(h, "AE-ANN (Adam)", "ann_adam", row)] = find(part="ae_ann", dataset="fmnist", n_hidden=h,
                                                          optimizer="adam")
    return out


def heldout_band(record: Mapping | None, *, from_fraction: float = 0.5) -> tuple[float, float] | None:
    """The lowest and highest held-out MSE of an AE-SNN's curve (``results["eval"]``) from ``from_fraction``
    of its training batches on, or None without a curve. Roy's online rule keeps the weights moving (per-step
    Adam, moments restarted each batch), so the final test MSE is one draw from this band."""
    evals = (record or {}).get("results", {}).get("eval") or []
    n = (record or {}).get("results", {}).get("n_batches") or max((e["batch"] for e in evals), default=0)
    late = [e["test_mse"] for e in evals if e["batch"] >= from_fraction * n]
    return (min(late), max(late)) if late else None


def fig5_band_note(fig5: Mapping[tuple, Mapping | None], s: Mapping) -> str:
    """Fig. 5's sentence on the AE-SNNs' held-out bands (:func:`heldout_band`), or "" without curves."""
    bands = [(h, heldout_band(r)) for (h, name, _, _), r in fig5.items() if name == "AE-SNN"]
    bands = [(h, b) for h, b in bands if b is not None]
    if not bands:
        return ""
    f = s["fmnist"]
    return (f"Over the second half of training the AE-SNNs' held-out MSE (the first {f['n_eval']} test images, "
            f"every {f['eval_every']} batches; the markers in (a)) ranged "
            + ", ".join(f"{lo:.3f}-{hi:.3f} (h = {h})" for h, (lo, hi) in bands)
            + ": Roy's online rule updates the weights at every time step, with Adam's moments restarted each "
            "batch, so they never settle, and the test MSE is where that walk stopped.")


def fig7_runs(records, s: Mapping) -> tuple[dict, dict, dict]:
    """Fig. 7's dataset-A records: ``(fig7a, fig7b, fig7c)``. (a) the AC-SNN per Th of ``th_values``;
    (c) the AC-ANNs per optimiser and ``bits`` (None: full precision); (b) the AC-SNN at ``th_a`` and
    the full-precision AC-ANNs, by legend label."""
    find, au = _finder(records), s["audio"]
    fig7a = {th: find(part="ac_snn", dataset="A", th=th) for th in au["th_values"]}
    fig7c = {opt: {b: find(part="ac_ann", dataset="A", optimizer=opt, bits=b) for b in s["ac_ann"]["bits"]}
             for opt in ("sgd", "adam")}
    fig7b = {f"AC-SNN (Th = {au['th_a']})": fig7a[au["th_a"]], "AC-ANN (SGD)": fig7c["sgd"][None],
             "AC-ANN (Adam)": fig7c["adam"][None]}
    return fig7a, fig7b, fig7c


def fig8_runs(records, s: Mapping) -> dict[str, Mapping | None]:
    """Fig. 8's AC-SNN records on datasets A and B, both at Th = ``audio.th_b``."""
    find, th = _finder(records), s["audio"]["th_b"]
    return {"A": find(part="ac_snn", dataset="A", th=th), "B": find(part="ac_snn", dataset="B", th=th)}


def _opt_name(opt: str) -> str:
    return "SGD" if opt == "sgd" else "Adam"


def fig7_table(fig7a: Mapping, fig7c: Mapping, scale: str) -> str:
    """Fig. 7's Markdown table: every AC-SNN (7a) and AC-ANN (7c) with its bits, test MSE ± standard
    error, training MSE and the paper's value (Table 1 for the full-precision AC-ANNs, else plot only)."""
    def mse(r):
        res = r["results"]
        return f"{res['test_mse']:.3f} ± {res['test_mse_sem']:.3f}", f"{res['train_mse']:.3f}"

    rows = [("7a", f"AC-SNN, Th = {th}", th, *mse(r), PLOT_ONLY, scale) for th, r in fig7a.items()]
    for opt, by_bits in fig7c.items():
        for b, r in by_bits.items():
            paper = f"{table1_paper('audio_a', ANN_COLUMN[opt])} (Table 1)"
            rows.append(("7c", f"AC-ANN ({_opt_name(opt)}), {'full precision' if b is None else f'{b} bits'}",
                         "32 (float)" if b is None else b, *mse(r), paper if b is None else PLOT_ONLY, scale))
    return markdown_table(("panel", "model", "bits", "test MSE", "training MSE", "paper", "scale"), rows,
                          align="llrrrll")


def low_bits_note(fig7a: Mapping, fig7c: Mapping, s: Mapping) -> str | None:
    """Whether the paper's finding that the AC-SNN beats the AC-ANNs at 1-2 bits holds at this scale
    (None where neither 1 nor 2 is among both the Th values and the ANNs' bits)."""
    au = s["audio"]
    low = [b for b in (1, 2) if b in fig7a and b in s["ac_ann"]["bits"]]
    if not low:
        return None
    snn = {b: fig7a[b]["results"]["test_mse"] for b in low}
    ann = {b: min(fig7c[o][b]["results"]["test_mse"] for o in fig7c) for b in low}
    wins = [b for b in low if snn[b] < ann[b]]
    text = "At " + "; at ".join(f"{b} bit{'s' * (b > 1)} the AC-SNN scores {snn[b]:.3f}, the better AC-ANN "
                                f"{ann[b]:.3f}" for b in low)
    if wins:
        holds = "holds" if len(wins) == len(low) else f"holds only at {' and '.join(map(str, wins))} bit(s)"
        return text + f": the paper's low-precision advantage of the SNN {holds} at this scale."
    full = min(fig7c[o][None]["results"]["test_mse"] for o in fig7c)
    return (text + ": **the paper's finding that the SNN wins at 1–2 bits does not reproduce at this scale** "
            f"(rounding the AE-ANN's hidden state to {low[0]} bit costs the better AC-ANN little here: "
            f"{ann[low[0]]:.3f} against {full:.3f} at full precision; and the AC-SNNs had {au['epochs']} "
            f"epoch(s) on a {au['n_channels'] * au['n_frames']:,}-input cochleagram instead of 20 on 58,500).")


def epoch_curve(record: Mapping) -> tuple[list, list]:
    """``(epochs, test MSEs)`` of an audiocoder record's per-epoch ``curve``."""
    curve = record["results"]["curve"]
    return [e["epoch"] for e in curve], [e["test_mse"] for e in curve]


def bits_series(fig7a: Mapping, fig7c: Mapping, *, full_bits: int = FULL_BITS) -> tuple[dict, list]:
    """Fig. 7c's points: ``({"snn": (bits, mse), "sgd": ..., "adam": ...}, ticks)``; the SNN's bits are
    its Th, an ANN at full precision sits at ``full_bits``; ``ticks``: ``(x, label)``, "full" there."""
    series = {"snn": (list(fig7a), [r["results"]["test_mse"] for r in fig7a.values()])}
    for opt, by_bits in fig7c.items():
        series[opt] = ([full_bits if b is None else b for b in by_bits],
                       [r["results"]["test_mse"] for r in by_bits.values()])
    ticks = sorted(set(fig7a) | {full_bits})
    return series, [(t, "full" if t == full_bits else str(t)) for t in ticks]


def history_fields(record: Mapping, key: str = "history", fields=("batch", "mse", "spike_mse")) -> dict:
    """The ``fields`` of a record's ``results[key]`` that it has (the curves the results record keeps)."""
    return {f: record["results"][key][f] for f in fields if f in record["results"][key]}
