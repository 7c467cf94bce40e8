"""Reference runs of Comșa et al. (2021b), Fig. 3 (issue #19): the page's MNIST h = 32 points at the paper's
protocol, trained on this CPU by ``python -m spikelib reference spiking_autoencoders`` (:mod:`spikelib.reference`)
and kept in ``book/paper_runs/``, and what the page shows of the kept record.

- :func:`reference_runs`, :func:`reference_train`, :func:`reference_record` -- the configurations, one
  resumable training of each, the page's combined record (the interface :mod:`spikelib.reference` calls).
- :func:`encode_examples`, :func:`decode_examples` -- the example images a record carries.
- :func:`kept_reference`, :func:`kept_fig3_rows`, :func:`kept_fig3_note`, :func:`draw_kept_fig3_points` --
  the kept run in Fig. 3's table, text and plot; :func:`kept_curves_figure`, :func:`kept_examples_mosaic`,
  :func:`kept_examples_figure` -- its learning curves and reconstructions.

The sweep, the data and the models are :mod:`spikelib.experiments.comsa_autoencoders`.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from spikelib import ann, results
from spikelib.alpha.autoencoder import (N_PIXELS, AutoencoderHyperparameters, brightness, evaluate_autoencoder,
                                        fit_autoencoder, reconstruct)
from spikelib.experiments.comsa_autoencoders import (ETAS, EXPERIMENT, N_TRAIN_POOL, N_VAL_POOL, _CONFIG_KEYS,
                                                     _check_config, _sweep_data, autoencoder_hyperparameters,
                                                     mean_image_error)
from spikelib.plotting import OKABE_ITO

#: Fig. 3's MNIST h = 32, l = 1 points at the paper's protocol: 100 epochs of Adam for the spiking network
#: (§2.5) and the same optimiser and epochs for the ANN (§2.8); the authors' 54,000 / 6,000 split of the
#: training images and the 10,000 test images (as ``scales.settings("spiking_autoencoders", "paper")``).
REFERENCE_EPOCHS = 100
REFERENCE_SIZES = {"n_train": N_TRAIN_POOL, "n_val": N_VAL_POOL, "n_test": 10000}
#: Test images whose noisy input and reconstruction a kept record carries (the first ones).
REFERENCE_EXAMPLES = 8
#: What the page says where no paper-protocol run is kept.
NOT_KEPT = ("No paper-protocol run is kept in `book/paper_runs/` yet "
            "(`python -m spikelib reference spiking_autoencoders`).")
REFERENCE_DEVIATIONS = (
    "one network per configuration (initialisation seed 0; data split and noise seed 0); float32 on a CPU, "
    "the spiking network in the C training epoch; the ANN in PyTorch with Adam (learning rate 1e-3, eps 1e-7) "
    "and batch size 32 (the paper names neither for its TensorFlow ANNs); the test error is that of the epoch "
    "with the lowest error on the 6,000 validation images (the authors' selection, as at every scale here)")
#: How a kept record stores its example images (see :func:`decode_examples`).
EXAMPLES_ENCODING = ("per image: base64 of 784 uint8 brightness values (0 black, 255 white; the spiking "
                     "network's times t as 1 - t, silent as black), row-major 28 x 28")


def reference_runs() -> list[dict]:
    """The kept paper-protocol configurations of the page (Fig. 3, MNIST, h = 32, l = 1, §§2.5-2.8), in
    order of value: the five ReLU-sigmoid ANNs first (cheap), then the spiking networks at eta = 0, 0.2,
    0.4, 0.6, 0.8 with the authors' set for each (:func:`autoencoder_hyperparameters`). Each: ``name``,
    ``settings`` (everything the run depends on, the set's values included), ``epochs``, ``deviations``.

    Wall time on one core of the 2-core machine, estimated (no whole run was timed) from per-epoch times
    beside another job: an ANN epoch (54,000 images, then the validation images) takes 1-1.6 s (quick's
    records), so ~2-3 min per ANN, ~12 min for the five. A spiking network's 54,000-image epoch took 5.8
    (eta = 0), 7.4 (0.2), 16.5 (0.4), 8.6 (0.6) and 20 s (0.8) on average over quick's 2-12 epochs, where
    the epoch cost grows as a network leaves the mean-image plateau and spikes more (the first twentieth of
    an untrained network's epoch extrapolates to 1.5-9 s); the 6,000 validation images add ~1 s per epoch.
    For 100 epochs: eta = 0 ~11 min, 0.2 ~14 min, 0.4 ~29 min, 0.6 ~16 min, 0.8 ~35 min; about 2 h for
    all ten, less on an idle core, more if later epochs cost more than the first ones did.
    """
    base = {"dataset": "mnist", "hidden": 32, **REFERENCE_SIZES, "data_seed": 0, "seed": 0,
            "epochs": REFERENCE_EPOCHS, "n_examples": REFERENCE_EXAMPLES}
    runs = [{"name": f"ann-h32-eta{eta:g}",
             "settings": {"model": "ann", "eta": eta, "activation": "relu-sigmoid", "inverted": False, **base,
                          "hyperparameters": dict(ann.AUTOENCODER_CONFIG)}} for eta in ETAS]
    runs += [{"name": f"snn-h32-l1-eta{eta:g}",
              "settings": {"model": "snn", "eta": eta, "latency": 1, **base,
                           "hyperparameters": dataclasses.asdict(autoencoder_hyperparameters(eta, 1, 32))}}
             for eta in ETAS]
    for r in runs:
        r.update(epochs=REFERENCE_EPOCHS, deviations=REFERENCE_DEVIATIONS)
    return runs


def _brightness_uint8(x: torch.Tensor, representation: str) -> np.ndarray:
    """Images as uint8 brightness: spike times (``times``/``inverted``) as ``1 - t``, the ANN's usual
    images (``regular``) as they are."""
    x = x.detach().cpu().to(torch.float64)
    b = torch.clamp(x, 0.0, 1.0) if representation == "regular" else brightness(x)
    return np.round(b.numpy() * 255).astype(np.uint8)


def encode_examples(images: np.ndarray) -> list[str]:
    """uint8 images (n, 784) -> one base64 string each (:data:`EXAMPLES_ENCODING`): a record stays small
    and its JSON one line per image."""
    return [base64.b64encode(np.ascontiguousarray(img, dtype=np.uint8).tobytes()).decode("ascii") for img in images]


def decode_examples(strings: Sequence[str]) -> np.ndarray:
    """The images of :func:`encode_examples` as brightness in [0, 1], shape (n, 28, 28)."""
    raw = [np.frombuffer(base64.b64decode(s), dtype=np.uint8) for s in strings]
    return (np.stack(raw).reshape(-1, 28, 28) / 255.0) if raw else np.empty((0, 28, 28))


def reference_train(settings: Mapping[str, Any], *, epochs: int, checkpoint: Path, on_epoch=None) -> dict | None:
    """Train (or resume, from ``checkpoint``) one :func:`reference_runs` configuration up to ``epochs``
    epochs; return its entry once ``epochs`` is the configuration's last, else None.

    As :func:`train_autoencoder_config`: noisy inputs and clean targets of the split, every epoch's error
    on the validation images, and the weights of the epoch with the lowest validation error kept
    (:func:`spikelib.alpha.autoencoder.fit_autoencoder`, :func:`spikelib.ann.fit_dense_autoencoder`); the
    entry's ``test_mse`` is those weights' error on the test images (Fig. 3's quantity), ``best_epoch``
    counted from 0. Also: its ratio to :func:`mean_image_error`, the per-epoch validation and running
    training errors, and the first ``n_examples`` test inputs and reconstructions (:func:`encode_examples`).
    """
    cfg = _check_config({k: settings[k] for k in _CONFIG_KEYS[settings["model"]] | {"latency"}
                         if k in settings and k != "epochs"})
    snn = cfg["model"] == "snn"
    representation = "times" if snn else ("inverted" if cfg["inverted"] else "regular")
    d = _sweep_data(cfg["dataset"], float(cfg["eta"]), settings["n_train"], settings["n_val"], settings["n_test"],
                    representation, settings["data_seed"])
    seed, n_ex = settings["seed"], settings["n_examples"]
    if snn:
        # the recorded set, not a fresh CSV look-up: the run is what its settings (and settings key) say
        hp = AutoencoderHyperparameters(**{**settings["hyperparameters"],
                                           "n_hidden": tuple(settings["hyperparameters"]["n_hidden"])})
        model = hp.network(N_PIXELS, seed=seed)
        fit = fit_autoencoder(model, d.train, d.val, hp, epochs=epochs, seed=seed, checkpoint=checkpoint,
                              on_epoch=on_epoch)
    else:
        enc, dec = cfg["activation"].split("-")
        model = ann.DenseAutoencoder(N_PIXELS, cfg["hidden"], enc, dec, seed=seed)
        fit = ann.fit_dense_autoencoder(model, d.train, d.val, settings["hyperparameters"], epochs=epochs,
                                        seed=seed, checkpoint=checkpoint, on_epoch=on_epoch)
    if epochs < settings["epochs"]:
        return None
    if snn:
        ev = evaluate_autoencoder(model, d.test.x, d.test.target, hp.latency)
        test_mse = ev["mse"]
        recon = reconstruct(model, d.test.x[:n_ex], hp.latency)
        extra = {"latency": hp.latency, "batch_size": hp.batch_size, "n_pulses": hp.n_pulses,
                 "silent_hidden": ev["silent_hidden"], "silent_output": ev["silent_output"]}
    else:
        test_mse = ann.reconstruction_mse(model, d.test.x, d.test.target)
        with torch.no_grad():
            recon = model(d.test.x[:n_ex])
        extra = {"activation": cfg["activation"], "batch_size": settings["hyperparameters"]["batch_size"]}
    floor = mean_image_error(cfg["dataset"], n_train=settings["n_train"], n_test=settings["n_test"],
                             seed=settings["data_seed"])
    history = fit["history"]
    return {
        "model": cfg["model"], "dataset": cfg["dataset"], "eta": float(cfg["eta"]), "hidden": cfg["hidden"],
        "test_mse": test_mse, "mean_image_error": floor, "test_mse_over_mean_image": test_mse / floor,
        "val_mse": fit["best"]["mse"], "best_epoch": fit["best"]["epoch"], "epochs": len(history),
        "selection": f"the weights of the epoch with the lowest error on the {settings['n_val']} validation "
                     "images (best_epoch, from 0); test_mse is theirs",
        # rounded: the curves are for plotting, the selection used the full values
        "val_mse_history": [round(r["val_mse"], 6) for r in history],
        "train_mse_history": [round(r["train_mse_running"], 6) for r in history],
        "seconds_per_epoch": round(float(np.mean([r["seconds"] for r in history])), 2) if history else None,
        "n_parameters": model.n_parameters(),
        "n_train": len(d.train.x), "n_val": len(d.val.x), "n_test": len(d.test.x), "representation": representation,
        "examples": {"test_indices": list(range(len(recon))), "encoding": EXAMPLES_ENCODING,
                     "inputs": encode_examples(_brightness_uint8(d.test.x[:n_ex], representation)),
                     "reconstructions": encode_examples(_brightness_uint8(recon, representation))},
        **extra,
    }


def reference_record(entries: Mapping[str, Mapping[str, Any]]) -> dict:
    """The page's record from the finished reference configurations: ``fig3``, one point per configuration
    (MNIST, h = 32; spiking at l = 1) ordered by model and eta, with the SNN / ANN ratio where both ran;
    ``mean_image_error``; ``configs``, every entry whole (learning curves, examples)."""
    if not entries:
        return {}
    ann_err = {(e["dataset"], e["hidden"], e["eta"]): e["test_mse"] for e in entries.values() if e["model"] == "ann"}
    points = []
    for name, e in sorted(entries.items(), key=lambda kv: (kv[1]["model"] != "snn", kv[1]["eta"])):
        a = ann_err.get((e["dataset"], e["hidden"], e["eta"])) if e["model"] == "snn" else None
        points.append({"name": name, **{k: e.get(k) for k in ("model", "dataset", "hidden", "latency", "eta",
                                                              "test_mse", "test_mse_over_mean_image",
                                                              "best_epoch", "epochs")},
                       "snn_over_ann": None if a is None else e["test_mse"] / a})
    return {"fig3": points, "mean_image_error": {e["dataset"]: e["mean_image_error"] for e in entries.values()},
            "configs": dict(entries)}


def kept_reference() -> dict | None:
    """The kept paper-protocol record of this page (``book/paper_runs/spiking_autoencoders.json``), or None."""
    return results.kept_paper_run(EXPERIMENT)


def kept_fig3_rows(kept: Mapping[str, Any]) -> list[str]:
    """The Fig. 3 table rows of the kept paper-protocol run, in the page's columns (scale ``paper`` with
    the commit and date)."""
    prov = kept["provenance"]
    where = f"paper (kept paper-protocol run, {results.commits_label(prov)}, {prov['date'][:10]})"
    rows = []
    for p in kept["results"]["fig3"]:
        ratio = f"{p['snn_over_ann']:.2f}" if p["snn_over_ann"] is not None else "–"
        rows.append(f"| {p['dataset'].upper()} | {p['model']} | {p['hidden']} | {p['eta']:g} | {p['test_mse']:.4f} | "
                    f"{p['test_mse_over_mean_image']:.2f} | {ratio} | plot only | {where} |")
    return rows


def kept_label(kept: Mapping[str, Any]) -> str:
    """The kept run as the page's figures name it: scale paper, with the commit and the date."""
    prov = kept["provenance"]
    return f"kept paper-protocol run (scale paper, {results.commits_label(prov)}, {prov['date'][:10]})"


def kept_fig3_note(kept: Mapping[str, Any] | None, paper: Mapping[str, Any]) -> str:
    """The paragraph under Fig. 3's table on the kept run's rows: how many configurations finished, the sizes
    its record states (its configurations share them, not the paper scale's settings), the paper's sizes
    (``paper``: ``scales.settings(..., "paper")``), its mean-image error and its deviations; without a
    kept run, :data:`NOT_KEPT`. Starts with a paragraph break."""
    if not kept:
        return "\n\n" + NOT_KEPT
    n = {k: max(e[k] for e in kept["results"]["configs"].values()) for k in ("n_train", "n_val", "n_test", "epochs")}
    return (f"\n\nRows at scale *paper (kept paper-protocol run, ...)*: the run kept in `book/paper_runs/` "
            f"({len(kept['results']['fig3'])} of its {len(reference_runs())} configurations finished), MNIST, "
            f"h = 32, l = 1, {n['n_train']:,} training images, {n['epochs']} epochs, the weights of the epoch with "
            f"the lowest error on the {n['n_val']:,} validation images, tested on {n['n_test']:,} test "
            f"images (the paper: {paper['n_train']:,} / {paper['n_val']:,} / {paper['n_test']:,}, "
            f"{paper['epochs']} epochs); its '÷ mean image' uses the mean-image error over those test images "
            f"({kept['results']['mean_image_error']['mnist']:.4f}). How it differs from the paper: "
            f"{kept['provenance']['deviations']}.")


def draw_kept_fig3_points(ax, points: Sequence[Mapping[str, Any]], dataset: str, colour) -> None:
    """The kept run's Fig. 3 ``points`` of ``dataset`` into ``ax``: markers only (stars: spiking, crosses:
    ANN), never joined to a scale's lines."""
    for model, marker in (("snn", "*"), ("ann", "P")):
        pts = [(p["eta"], p["test_mse"]) for p in points if p["dataset"] == dataset and p["model"] == model]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, marker=marker, ms=12, ls="none", color=colour, mec="black", mew=0.8, zorder=5,
                    label=f"kept paper-protocol run: {model}, h = 32")


def kept_curves_figure(kept: Mapping[str, Any]):
    """The kept run's validation error per epoch, one panel per model (spiking first), one curve per eta,
    a dot at the epoch whose weights were kept, the dotted mean-image error; a matplotlib figure."""
    import matplotlib.pyplot as plt

    points, configs = kept["results"]["fig3"], kept["results"]["configs"]
    models = [m for m in ("snn", "ann") if any(p["model"] == m for p in points)]
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.6), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        for p in points:
            if p["model"] != model:
                continue
            e, col = configs[p["name"]], OKABE_ITO[ETAS.index(p["eta"]) % len(OKABE_ITO)]
            ax.plot(range(1, len(e["val_mse_history"]) + 1), e["val_mse_history"], color=col, label=f"η = {p['eta']:g}")
            ax.plot(e["best_epoch"] + 1, e["val_mse_history"][e["best_epoch"]], "o", color=col, ms=5)
        ax.axhline(kept["results"]["mean_image_error"]["mnist"], color="0.4", ls=":", lw=1, label="mean training image")
        ax.set_title(f"{model}{', l = 1' if model == 'snn' else ', ReLU–sigmoid'}, MNIST, h = 32", fontsize=10)
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("validation reconstruction error")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.suptitle(kept_label(kept), fontsize=9, x=0.02, ha="left")
    fig.tight_layout()
    return fig


def kept_examples_mosaic(kept: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    """The kept run's example images as one mosaic and its row labels: per eta, the spiking network's noisy
    input, its reconstruction and the ANN's reconstruction (those that finished), each image framed by one
    pixel of grey 0.5 (so 30 pixels a row), shorter rows padded with grey on the right."""
    points, configs = kept["results"]["fig3"], kept["results"]["configs"]
    strips, labels = [], []
    for eta in ETAS:
        for model, what in (("snn", "inputs"), ("snn", "reconstructions"), ("ann", "reconstructions")):
            p = next((p for p in points if p["model"] == model and p["eta"] == eta), None)
            if p is not None:
                imgs = decode_examples(configs[p["name"]]["examples"][what])
                strips.append(np.concatenate([np.pad(im, 1, constant_values=0.5) for im in imgs], axis=1))
                labels.append(f"η = {eta:g}: {'input (SNN)' if what == 'inputs' else model}")
    width = max(s.shape[1] for s in strips)
    return np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=0.5) for s in strips]), labels


def kept_examples_figure(kept: Mapping[str, Any]):
    """:func:`kept_examples_mosaic` drawn in grey, its rows labelled; a matplotlib figure."""
    import matplotlib.pyplot as plt

    mosaic, labels = kept_examples_mosaic(kept)
    width = mosaic.shape[1]
    fig, ax = plt.subplots(figsize=(0.75 * width / 30 + 1.6, 0.75 * len(labels) + 0.4))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([30 * k + 15 for k in range(len(labels))], labels, fontsize=8)
    ax.set_xticks([])
    ax.grid(False)
    ax.set_title(f"first {width // 30} test images: {kept_label(kept)}", fontsize=9)
    fig.tight_layout()
    return fig
