"""Hübotter, Lanillos & Tomczak (2021), "Training deep spiking auto-encoders without bursting or dying neurons
through regularization": the chapter's experiments (``notebooks/regularised_sae.ipynb``).

The models, losses, metrics and training are :mod:`spikelib.lif.conv_sae`, :mod:`spikelib.lif.sae_losses`,
:mod:`spikelib.lif.sae_metrics`, :mod:`spikelib.lif.sae_training`; this module holds what is the paper's:

- :data:`MODELS` (Table 1's named models: the loss weights), :func:`resolve_config` with those names;
- :func:`train_sae_config`, the sweep entry point (:func:`spikelib.sweep.run_sweep`), and :func:`load_model`;
- :func:`experiment_configs` (Table-1 runs and the bottleneck axes of App. A.4.1, :data:`AXES`),
  :func:`search_configs` (Tables 4-7, :data:`SEARCHES`), :func:`timing_configs` / :func:`time_config`
  (Fig. 3F-G);
- :func:`summarise_runs` (mean and SD over seeds), :func:`axis_series`, :func:`best_runs`,
  :func:`search_rows`, :func:`table7_rows`, :func:`parameter_table` (Table 2), :func:`snapshot` (Fig. 2);
- the paper's numbers, read from ``spikelib/paper_values.json`` (:mod:`spikelib.papers`): :func:`paper_value`,
  :func:`paper_activity` (§3.2), :data:`TABLE7`, :data:`SEARCHES`.

The chapter's Markdown tables are :mod:`spikelib.experiments.huebotter_report`, its figures
:mod:`spikelib.experiments.huebotter_figures`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from spikelib import data, papers
from spikelib.backend import subnormals_flushed
from spikelib.fitting import Checkpoint
from spikelib.lif import sae_training
from spikelib.lif.conv_sae import LAYERS, ConvSAE, as_images, build_model, encode, n_parameters
from spikelib.lif.sae_losses import reconstruction_loss
from spikelib.lif.sae_metrics import DISTANCES  # noqa: F401  (Table 8's distances, for the chapter)
from spikelib.lif.sae_training import fit, make_model, make_optimizer, run_model, train_step
from spikelib.scales import settings as scale_settings

#: The chapter's name in :mod:`spikelib.scales` and its results record.
CHAPTER = "regularised_sae"

#: Table 1's models: architecture kind and the non-zero loss weights. Table 1 lists l2 = 1e-5 for AEl2;
#: App. A.2 calls 1e-4 the optimum of Table 4 (the tables disagree; Table 1 is the compared model).
MODELS: dict[str, dict[str, Any]] = {
    "SAE": {"model": "sae"},
    "SAE-sparse": {"model": "sae", "p1": 0.005, "p2": 0.005, "a1": 0.01},
    "SAE-dense": {"model": "sae", "p2": 0.01, "a1_latent": 0.1},
    "AE": {"model": "ae"},
    "AEl2": {"model": "ae", "l2": 1e-5},
    "VAE": {"model": "vae", "l2": 0.01, "beta": 1.0},
    "betaVAE": {"model": "vae", "l2": 0.01, "beta": 0.1},
}

#: The ids of the models in spikelib/paper_values.json ("huebotter.table1.<id>.lrec", ...).
PAPER_IDS: dict[str, str] = {"SAE": "sae", "SAE-sparse": "sae_sparse", "SAE-dense": "sae_dense", "AE": "ae",
                             "AEl2": "ae_l2", "VAE": "vae", "betaVAE": "beta_vae"}


def resolve_config(config: Mapping[str, Any] | None = None, **settings) -> dict[str, Any]:
    """:func:`spikelib.lif.sae_training.resolve_config` with Table 1's names (:data:`MODELS`) as presets."""
    return sae_training.resolve_config(config, presets=MODELS, **settings)


# ---------------------------------------------------------------- the paper's numbers (paper_values.json)


def paper_value(id: str) -> tuple[float | None, float | None]:
    """``(value, sd)`` of the paper value ``huebotter.<id>`` (sd None where the paper gives none)."""
    e = papers.entry(f"huebotter.{id}")
    return e["value"], e.get("sd")


def paper_printed(id: str) -> str:
    """The paper value ``huebotter.<id>`` as printed."""
    return papers.entry(f"huebotter.{id}")["printed"]


#: Table 7 (App. A.2): SAE regulariser combinations after 10 epochs, 5 runs. The paper's text gives each row's
#: non-zero weights without their columns (l2, p1, p2, a1, a1(l=3)), so a row of k numbers fits any k of the
#: five. ``printed``: the weights in the row's order; ``table1``: the Table-1 model whose results the row
#: repeats (Table 1's Lrec and §3.2's AFR and ANR at the printed digits), else None; ``assumed``: the config a
#: row has under :data:`TABLE7_ASSUMPTION`, else None; ``lrec``, ``afr``, ``inp`` (layer 3): (mean, SD) of
#: the paper values ``huebotter.table7.row<NN>.<quantity>``.
TABLE7_ROWS: tuple[dict[str, Any], ...] = (
    {"block": 1, "printed": (), "table1": "SAE"},
    *({"block": 1, "printed": (v,), "assumed": {"l2": v}} for v in (0.01, 1e-3, 1e-4, 1e-5)),
    {"block": 2, "printed": (0.01,)},
    {"block": 2, "printed": (0.005, 0.005)},
    {"block": 2, "printed": (0.005, 0.005, 0.01), "table1": "SAE-sparse"},
    {"block": 2, "printed": (0.005, 0.005, 0.01)},
    {"block": 3, "printed": (0.01,)},
    {"block": 3, "printed": (0.01, 0.01)},
    {"block": 3, "printed": (0.01, 10.0)},
    {"block": 3, "printed": (0.01, 1.0)},
    {"block": 3, "printed": (0.01, 0.1)},
    {"block": 3, "printed": (0.01, 0.01), "table1": "SAE-dense"},
)


def table7_id(i: int) -> str:
    """The id stem of Table 7's row ``i`` (0-based, printed order) in paper_values.json."""
    return f"table7.row{i + 1:02d}"


TABLE7: list[dict[str, Any]] = [
    {"table1": None, "assumed": None, **row, "id": table7_id(i),
     **{q: paper_value(f"{table7_id(i)}.{q}") for q in ("lrec", "afr", "inp")}}
    for i, row in enumerate(TABLE7_ROWS)]

#: Ours, not the paper's: the four single-weight rows of Table 7's first block vary l2 alone (their values are
#: those of Table 6's l2 block, and their errors stay at the unregularised SAE's, as l2's do in Table 6).
TABLE7_ASSUMPTION = "the four single-weight rows of the first block vary l2 alone"

#: The parameter searches of App. A.2 as the paper prints them: per block, the Table-1 base model, the varied
#: key and its values in the table's order. Their Lrec (mean, SD) are the paper values of :func:`search_id`.
SEARCH_BLOCKS: dict[str, list[tuple[str, str, tuple[float, ...]]]] = {
    "table4": [("AE", "lr", (1e-6, 1e-5, 5e-4, 1e-4, 1e-3, 1e-2, 1e-1)),
               ("AE", "l2", (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1))],
    "table5": [("VAE", "l2", (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)),
               ("VAE", "beta", (0.0, 1e-3, 1e-2, 0.1, 1.0, 10.0))],
    "table6": [("SAE", "l2", (0.1, 0.01, 1e-3, 1e-4, 1e-5)),
               ("SAE", "p1", (0.1, 0.01, 1e-3, 1e-4, 1e-5)),
               ("SAE", "p2", (0.1, 0.01, 0.005, 1e-3, 1e-4, 1e-5)),
               ("SAE", "a1", (0.1, 0.01, 1e-3, 1e-4, 1e-5))],
}


#: The columns of each search table after Lrec, as printed: Table 4 has layer 3's INP, Table 5 nothing else,
#: Table 6 AFR and INP (layer 3). Each cell is the paper value :func:`search_id` with that quantity.
SEARCH_COLUMNS: dict[str, tuple[str, ...]] = {"table4": ("inp",), "table5": (), "table6": ("afr", "inp")}


def search_id(table: str, key: str, value: float, quantity: str = "lrec") -> str:
    """The id stem (after ``huebotter.``) of a search table's cell: ``table4.lr=0.0005.lrec``,
    ``table6.p2=0.01.afr``."""
    return f"{table}.{key}={float(value)!r}.{quantity}"


#: The searches: (Table-1 base model, the varied key, {value: (paper Lrec mean, SD)}) per block. Tables 4-6
#: are unambiguous in the paper. Table 6 trains :func:`search_settings` (the paper: 1 epoch of 60,000 images
#: at T = 100), Tables 4-5 the scale's ``epochs`` (10). ``"table7"``: the rows of :data:`TABLE7` that have a
#: config only under :data:`TABLE7_ASSUMPTION` (the scale's epochs, as the paper's 10); the other rows cannot
#: be told apart in the paper's text.
SEARCHES: dict[str, list[tuple[str, str, dict[float, tuple[float, float]]]]] = {
    **{table: [(base, key, {v: paper_value(search_id(table, key, v)) for v in values})
               for base, key, values in blocks] for table, blocks in SEARCH_BLOCKS.items()},
    "table7": [("SAE", "l2", {r["assumed"]["l2"]: r["lrec"] for r in TABLE7 if r["assumed"]})],
}

#: The §3.2 activity statistics of layer 3 (mean, SD over 5 runs) and where their INP comes from.
ACTIVITY = ("inp", "anr", "afr", "rae")


def paper_activity(model: str) -> dict[str, tuple[float, float] | None]:
    """The paper's latent activity of a Table-1 model: ``{"inp", "anr", "afr", "rae"}`` -> (mean, SD) or None.

    ANR, AFR and RAE are §3.2's text (``huebotter.activity.<id>.<quantity>``); INP is Table 7's row that
    repeats the model's results (the SAEs only); None where the paper gives no number."""
    out: dict[str, tuple[float, float] | None] = {}
    row = next((r for r in TABLE7 if r["table1"] == model), None)
    out["inp"] = row["inp"] if row else None
    ids = {e["id"] for e in papers.entries(f"huebotter.activity.{PAPER_IDS[model]}.")}
    for q in ACTIVITY[1:]:
        stem = f"activity.{PAPER_IDS[model]}.{q}"
        out[q] = paper_value(stem) if f"huebotter.{stem}" in ids else None
    return out


#: The bottleneck axes of App. A.4.1 (Figs. 3A-D, 4): settings key -> config key.
AXES: dict[str, str] = {"latent_sizes": "nz", "time_steps": "T", "noise_levels": "noise", "decays": "decay"}

#: Which Table-1 models each axis varies (the paper's panels: Fig. 3A, C all compared models but the
#: unregularised SAE; Fig. 3B, D and Fig. 4 the two regularised SAEs). A scale may narrow this with an
#: ``axis_models`` mapping of the same shape in its settings.
AXIS_MODELS: dict[str, tuple[str, ...]] = {
    "latent_sizes": ("SAE-sparse", "SAE-dense", "AE", "AEl2", "VAE", "betaVAE"),
    "time_steps": ("SAE-sparse", "SAE-dense"),
    "noise_levels": ("SAE-sparse", "SAE-dense", "AE", "AEl2", "VAE", "betaVAE"),
    "decays": ("SAE-sparse", "SAE-dense"),
}


# ---------------------------------------------------------------- runs


@subnormals_flushed()
def train_sae_config(config: Mapping[str, Any], *, scale: str, device: str = "cpu", seed: int = 0,
                     checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Train and validate one configuration; JSON-able results (for :func:`spikelib.sweep.run_sweep`).

    ``config``: ``model`` (``sae``/``ae``/``vae`` or a Table-1 name of :data:`MODELS`) and any of
    :data:`~spikelib.lif.sae_training.DEFAULTS` (``nz``, ``T``, ``noise``, ``decay``, loss weights
    ``l2 p1 p2 a1 a1_latent beta``, ``epochs``, ``n_train``, ``n_val``, ...); what it leaves out comes from
    ``spikelib.scales.settings("regularised_sae", scale)``, then ``DEFAULTS``. Data: the first ``n_train``
    MNIST training images, validation on the first ``n_val`` test images.

    Returns ``{"config", "n_parameters", "history", "final", "seconds_per_step", "backend", "device"}``;
    ``final`` is the last epoch's validation metrics (``lrec``, ``inp``, ``anr``, ``afr``, ``rae``,
    ``spikes_per_example``, ``distance_ratio``); ``backend`` where the SAE ran (``"c"`` or ``"torch"``).
    """
    config = dict(config)
    config.pop("search", None)  # a label of search_configs: keeps those configs apart from Table 1's
    if config.pop("seed", seed) != seed:  # spikelib.sweep passes config["seed"] as seed
        raise ValueError(f"config seed {config.get('seed')} differs from seed={seed}")
    cfg = resolve_config(config, **scale_settings(CHAPTER, scale))
    return train_resolved(cfg, seed=seed, device=device, checkpoint=checkpoint)


def train_resolved(cfg: Mapping[str, Any], *, seed: int, device: str = "cpu", checkpoint: str | Path | None = None,
                    epochs: int | None = None, on_epoch=None) -> dict[str, Any]:
    """:func:`train_sae_config` on a resolved config; ``epochs`` below ``cfg["epochs"]`` trains part of the
    run and keeps the checkpoint able to go on (a reference run's chunk)."""
    torch.manual_seed(seed)  # nothing should draw from the global stream; this only guards against it
    xs, _ = data.load_mnist("train")
    xt, yt = data.load_mnist("test")
    dtype = getattr(torch, cfg["dtype"])
    x_train = as_images(xs[:cfg["n_train"]]).to(device=device, dtype=dtype)
    x_val = as_images(xt[:cfg["n_val"]]).to(device=device, dtype=dtype)
    y_val = torch.from_numpy(np.array(yt[:cfg["n_val"]], copy=True)).to(device)
    model = make_model(cfg, seed=seed, device=device)
    out = fit(model, x_train, (x_val, y_val), cfg, epochs=epochs, seed=seed, checkpoint=checkpoint,
              checkpoint_every=50 if cfg["model"] == "sae" else None, on_epoch=on_epoch,
              finish=epochs is None or epochs >= cfg["epochs"])
    history = out["history"]
    final = {k[4:]: v for k, v in history[-1].items() if k.startswith("val_")} if history else {}
    backend = model.backend(device=torch.device(device)) if isinstance(model, ConvSAE) else "torch"
    return {"config": cfg, "n_parameters": n_parameters(model), "history": history, "final": final,
            "seconds_per_step": float(np.mean([h["seconds_per_step"] for h in history])) if history else None,
            "backend": backend, "device": str(device)}


def load_model(checkpoint: str | Path, config: Mapping[str, Any], *, scale: str, seed: int = 0,
               device: str = "cpu") -> nn.Module:
    """The model trained by :func:`train_sae_config` (or :func:`~spikelib.lif.sae_training.fit`) with this
    config, from its checkpoint (``run_sweep(..., keep_checkpoints=True)`` keeps them), for figures that need
    the weights or spikes."""
    config = {k: v for k, v in config.items() if k not in ("seed", "search")}
    cfg = resolve_config(config, **scale_settings(CHAPTER, scale))
    model = make_model(cfg, seed=seed, device=device)
    model.load_state_dict(Checkpoint(checkpoint).load(map_location=device)["model"])
    return model.eval()


def time_train_step(config: Mapping[str, Any] | None = None, *, repeats: int = 3, seed: int = 0,
                    device: str = "cpu", backend: str = "auto") -> dict[str, Any]:
    """Seconds per training step (Fig. 3F-G) on random MNIST-like images: median of ``repeats`` steps after
    one warm-up step. ``config`` as for :func:`train_sae_config` (``T``, ``batch_size``, ``nz``, ``model``)."""
    cfg = resolve_config(config)
    gen = torch.Generator().manual_seed(seed)
    dtype = getattr(torch, cfg["dtype"])
    # MNIST-like: 19% of the pixels ink (App. A.2's mean 0.13), the rest black
    x = (torch.rand(cfg["batch_size"], 1, 28, 28, generator=gen) < 0.19).to(dtype) * torch.rand(
        cfg["batch_size"], 1, 28, 28, generator=gen, dtype=dtype).clamp(0.5, 1.0)
    x = x.to(device)
    model = make_model(cfg, seed=seed, device=device)
    opt = make_optimizer(model, cfg)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times = []
    for i in range(repeats + 1):
        sync()
        t0 = time.perf_counter()
        train_step(model, opt, x, cfg, gen, backend=backend)
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    return {"seconds_per_step": float(np.median(times)), "all_seconds": times, "T": cfg["T"],
            "batch_size": cfg["batch_size"], "model": cfg["model"], "nz": cfg["nz"]}


def time_config(config: Mapping[str, Any], *, seed: int = 0, device: str = "cpu", repeats: int = 2) -> dict[str, Any]:
    """:func:`time_train_step` as a sweep function (Fig. 3F-G): ``config`` holds ``model`` and the sizes
    (``T``, ``nz``, ``batch_size``); a ``seed`` in it is ignored (the sweep's), so is ``timing``."""
    config = {k: v for k, v in config.items() if k not in ("seed", "timing")}
    return time_train_step(config, repeats=repeats, seed=seed, device=device)


def timing_configs(settings: Mapping[str, Any]) -> list[dict]:
    """Configs of the batch-time measurements of Fig. 3F-G: the SAE at every T of ``timing_steps``
    (settings, else ``time_steps``) at the scale's default nz, and SAE, AE, VAE at every latent size
    at the scale's T; batch size the scale's."""
    T0, nz0, bs = (resolve_config({}, **settings)[k] for k in ("T", "nz", "batch_size"))
    steps = list(settings.get("timing_steps", settings.get("time_steps", [T0])))
    out = [{"timing": "T", "model": "sae", "T": int(T), "nz": nz0, "batch_size": bs} for T in steps]
    out += [{"timing": "nz", "model": kind, "T": T0, "nz": int(nz), "batch_size": bs}
            for kind in ("sae", "ae", "vae") for nz in settings.get("latent_sizes", [nz0])]
    return out


def blank_image_lrec(x: torch.Tensor) -> float:
    """``Lrec`` of a model that outputs black images: the mean per-image sum of squared pixels of ``x``
    (about 89-100 on MNIST; the paper's 89.46 marks runs that learned nothing, Tables 4-6)."""
    return float(reconstruction_loss(torch.zeros_like(x), x))

# ---------------------------------------------------------------- configs


def experiment_seeds(settings: Mapping[str, Any], seed: int = 0) -> list[int]:
    """The run seeds of a scale: ``seed, seed + 1, ...`` (``settings["seeds"]`` of them, at least one)."""
    return [seed + i for i in range(max(1, int(settings.get("seeds", 1))))]


def axis_default(settings: Mapping[str, Any], axis: str) -> Any:
    """The value a config takes on ``axis`` (a key of :data:`AXES`) when it does not set it."""
    return resolve_config({}, **settings)[AXES[axis]]


def experiment_configs(settings: Mapping[str, Any], *, seed: int = 0) -> dict[str, list[dict]]:
    """The sweep configs of the chapter at a scale (``spikelib.scales.settings("regularised_sae", scale)``).

    ``"models"``: every model of ``settings["models"]`` at the defaults (Tables 1, 8; Figs. 2, 5, 6), one
    config per seed of :func:`experiment_seeds`. ``"axes"``: for each axis of :data:`AXES`, each value
    other than the default (the default is the ``"models"`` run) for the models of ``axis_models[axis]``
    (settings, else :data:`AXIS_MODELS`) that the scale runs. A config is ``{"model", "seed"}`` plus the
    one key it changes; feed it to :func:`train_sae_config` through :func:`spikelib.sweep.run_sweep`.
    """
    seeds = experiment_seeds(settings, seed)
    models = list(settings["models"])
    out = {"models": [{"model": m, "seed": s} for m in models for s in seeds], "axes": []}
    chosen = dict(AXIS_MODELS)
    chosen.update(settings.get("axis_models", {}) or {})
    for axis, key in AXES.items():
        default = axis_default(settings, axis)
        for value in settings.get(axis, []):
            if value == default:
                continue
            for m in chosen.get(axis, ()):
                if m in models:
                    out["axes"].extend({"model": m, key: value, "seed": s} for s in seeds)
    return out


#: What the other key of a search block is held at (the paper: the AE's lr searched without L2, then L2 at
#: lr 5e-4; the VAE's L2 at beta = 1, then beta at the chosen l2 = 0.01). Every config names both, so a row
#: two blocks share (AE lr = 5e-4, l2 = 0) is one config, and a table row is found by both keys.
SEARCH_FIXED: dict[str, dict[str, dict[str, float]]] = {
    "table4": {"lr": {"l2": 0.0}, "l2": {"lr": 5e-4}},
    "table5": {"l2": {"beta": 1.0}, "beta": {"l2": 0.01}},
}


def search_settings(table: str, settings: Mapping[str, Any]) -> dict[str, int]:
    """What the runs of a search set beyond the scale's defaults: for Table 6 (App. A.2: one epoch, no
    more) ``epochs``, ``n_train`` and ``T`` from the scale's ``search_epochs``, ``search_n_train`` and
    ``search_T`` (the paper's 1, 60,000, 100 at paper scale); nothing for Tables 4-5."""
    if table != "table6":
        return {}
    return {"epochs": int(settings["search_epochs"]), "n_train": int(settings["search_n_train"]),
            "T": int(settings["search_T"])}


def search_configs(table: str, settings: Mapping[str, Any], *, seed: int = 0) -> list[dict]:
    """The configs of one parameter search of :data:`SEARCHES` (``"table4"``, ``"table5"``, ``"table6"``).

    Each block varies one key of its Table-1 base model (Table 6: of the unregularised SAE, with
    :func:`search_settings`, which every config names, so that changing them never reuses a record). A
    ``"search"`` key names the table so that the configs differ from the Table-1 runs; a row two blocks
    share appears once."""
    if table not in SEARCHES:
        raise ValueError(f"unknown search {table!r}; known: {sorted(SEARCHES)}")
    fixed = SEARCH_FIXED.get(table, {})
    out, seen = [], set()
    extra = search_settings(table, settings)
    for base, key, values in SEARCHES[table]:
        for value in values:
            for s in experiment_seeds(settings, seed):
                cfg = {"model": base, "search": table, **fixed.get(key, {}), **extra, key: value, "seed": s}
                ident = tuple(sorted(cfg.items()))
                if ident not in seen:
                    seen.add(ident)
                    out.append(cfg)
    return out


def _find_run(summary: Sequence[Mapping[str, Any]], name: str, want: Mapping[str, float]) -> Mapping[str, Any] | None:
    """The first summarised run of model ``name`` whose settings equal ``want`` (floats to 1e-12), or None."""
    return next((r for r in summary if r["name"] == name
                 and all(r.get(k) is not None and math.isclose(r[k], v, rel_tol=1e-12, abs_tol=0.0)
                         for k, v in want.items())), None)


def search_rows(table: str, summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per line of the paper's search ``table``: ``model``, ``key``, ``value``, the paper's
    ``paper_lrec`` / ``paper_lrec_sd`` (and ``paper_<q>`` / ``paper_<q>_sd`` for the table's other columns,
    :data:`SEARCH_COLUMNS`) and our summarised run (``run``: the row of :func:`summarise_runs` grouped by
    the search keys, or None if it did not run), found by the varied key *and* the key the block holds fixed
    (:data:`SEARCH_FIXED`)."""
    out = []
    for base, key, values in SEARCHES[table]:
        held = SEARCH_FIXED.get(table, {}).get(key, {})
        for value, (paper, paper_sd) in values.items():
            want = {key: value, **held}
            run = _find_run(summary, base, want)
            cells = {}
            for q in SEARCH_COLUMNS.get(table, ()):
                cells[f"paper_{q}"], cells[f"paper_{q}_sd"] = paper_value(search_id(table, key, value, q))
            out.append({"model": base, "key": key, "value": value, "paper_lrec": paper, "paper_lrec_sd": paper_sd,
                        **cells, "run": run})
    return out


def table7_rows(table1: Sequence[Mapping[str, Any]], assumed: Sequence[Mapping[str, Any]] = ()) -> list[dict]:
    """One row per line of Table 7 (:data:`TABLE7`) with ``run``, our matching row of :func:`summarise_runs`,
    and ``basis``: ``"table1"`` (the Table-1 run, from ``table1``, of the model whose results the row
    repeats), ``"assumed"`` (a run of the ``"table7"`` search, from ``assumed``, under
    :data:`TABLE7_ASSUMPTION`) or None (not matched; ``why`` says what keeps it apart). ``weights``: the
    Table-1 model's weights (what our run uses), which may differ from the printed ones (SAE-dense)."""
    out = []
    for row in TABLE7:
        k = len(row["printed"])
        run, basis, why, weights = None, None, None, None
        if row["table1"]:
            run = next((r for r in table1 if r["name"] == row["table1"]), None)
            basis = "table1"
            weights = {key: v for key, v in MODELS[row["table1"]].items() if key != "model"}
        elif row["assumed"]:
            run = _find_run(assumed, "SAE", row["assumed"])
            basis = "assumed" if run else None
            why = None if run else "a single weight with no column; matched only under TABLE7_ASSUMPTION"
        else:
            why = (f"{k} weights printed without their columns: {math.comb(5, k)} ways to place them"
                   if k > 1 else "1 weight printed without its column: 5 places for it")
            why += " among l2, p1, p2, a1, a1(l=3)"
            twin = next((r["table1"] for r in TABLE7 if r["printed"] == row["printed"] and r["table1"]), None)
            if twin:
                why += f"; the {twin} row prints the same numbers with other results, so not in the same columns"
        out.append({**row, "run": run, "basis": basis, "why": why, "weights": weights})
    return out




# ---------------------------------------------------------------- summaries and figures


def _flat_metrics(final: Mapping[str, Any]) -> dict[str, float]:
    out = {k: v for k, v in final.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for metric, v in (final.get("distance_ratio") or {}).items():
        out[f"distance_{metric}"] = v
    return out


def summarise_runs(records: Sequence[Mapping[str, Any]],
                   group: Sequence[str] = ("name", "nz", "T", "noise", "decay")) -> list[dict[str, Any]]:
    """Mean and SD over seeds of every validation metric of :func:`train_sae_config` records (sweep
    records, or their ``results``), grouped by the resolved config's ``group`` keys.

    Each row: the group keys, ``n`` (runs), for every metric ``m`` of ``final`` (``lrec``, ``inp``, ``anr``,
    ``afr``, ``rae``, ``spikes_per_example``, ...; ``distance_<metric>`` for the class distance ratios)
    ``m`` (the mean, NaNs ignored) and ``m_sd`` (sample SD; None with one run), ``seconds_per_step``, and
    ``lrec_per_epoch`` (the mean validation Lrec after each epoch). Rows keep the order of first appearance.
    """
    groups: dict[tuple, list[Mapping]] = {}
    for r in records:
        res = r.get("results", r)
        key = tuple(res["config"].get(g) for g in group)
        groups.setdefault(key, []).append(res)
    rows = []
    for key, runs in groups.items():
        row: dict[str, Any] = dict(zip(group, key))
        row["n"] = len(runs)
        flats = [_flat_metrics(res.get("final", {})) for res in runs]
        for m in dict.fromkeys(k for f in flats for k in f):
            vals = np.array([f.get(m, np.nan) for f in flats], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            row[m] = float(ok.mean()) if len(ok) else float("nan")
            row[f"{m}_sd"] = float(ok.std(ddof=1)) if len(ok) > 1 else None
        steps = [res.get("seconds_per_step") for res in runs if res.get("seconds_per_step") is not None]
        row["seconds_per_step"] = float(np.mean(steps)) if steps else None
        n_epochs = min((len(res.get("history", [])) for res in runs), default=0)
        row["lrec_per_epoch"] = [float(np.mean([res["history"][e]["val_lrec"] for res in runs]))
                                 for e in range(n_epochs)]
        rows.append(row)
    return rows


def axis_series(rows: Sequence[Mapping[str, Any]], axis: str, settings: Mapping[str, Any]) -> dict[str, list[dict]]:
    """The rows of :func:`summarise_runs` that vary only ``axis`` (a key of :data:`AXES`), per model name,
    sorted by the axis value: every other axis at its default. Models with a single point are kept."""
    key = AXES[axis]
    defaults = {AXES[a]: axis_default(settings, a) for a in AXES if a != axis}
    out: dict[str, list[dict]] = {}
    for row in rows:
        if all(row.get(k) == v for k, v in defaults.items()):
            out.setdefault(row["name"], []).append(dict(row))
    return {m: sorted(v, key=lambda r: r[key]) for m, v in out.items()}


#: The two correlations between spikes per example and reconstruction error that App. A.4.1 reports, each
#: r = -0.83 (p < 1e-5) over single runs: Fig. 3D (SAE-dense, T varied) and Fig. 4C (SAE-sparse, τ varied).
SPIKE_ERROR_CORRELATIONS = ({"figure": "3D", "model": "SAE-dense", "axis": "time_steps"},
                            {"figure": "4C", "model": "SAE-sparse", "axis": "decays"})


def spike_error_correlations(records: Sequence[Mapping[str, Any]],
                             settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pearson's r (with its two-sided p) between spikes per example and validation Lrec over the single
    runs (every seed a point) of each :data:`SPIKE_ERROR_CORRELATIONS` model along its axis, the other axes at
    their defaults (App. A.4.1). ``r`` and ``p`` are None below 3 points or without variation."""
    from scipy.stats import pearsonr

    runs = [row for r in records for row in summarise_runs([r])]  # one row per run
    out = []
    for spec in SPIKE_ERROR_CORRELATIONS:
        series = axis_series(runs, spec["axis"], settings).get(spec["model"], [])
        pts = np.array([(p["spikes_per_example"], p["lrec"]) for p in series
                        if p.get("spikes_per_example") is not None and p.get("lrec") is not None], dtype=np.float64)
        pts = pts[np.isfinite(pts).all(axis=1)] if len(pts) else pts.reshape(0, 2)
        ok = len(pts) >= 3 and pts[:, 0].std() > 0 and pts[:, 1].std() > 0
        r, p = pearsonr(pts[:, 0], pts[:, 1]) if ok else (None, None)
        out.append({**spec, "r": None if r is None else float(r), "p": None if p is None else float(p),
                    "n_points": len(pts), "values": sorted({float(p[AXES[spec["axis"]]]) for p in series})})
    return out


def best_runs(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per model name, the record with the lowest validation Lrec (the paper's choice for Figs. 2, 5-7)."""
    best: dict[str, Mapping[str, Any]] = {}
    for r in records:
        res = r.get("results", r)
        name = res["config"]["name"]
        lrec = res.get("final", {}).get("lrec", float("inf"))
        if name not in best or lrec < best[name].get("results", best[name])["final"]["lrec"]:
            best[name] = r
    return best


def parameter_table(latent_sizes: Sequence[int] = (10, 20, 50, 100),
                    kinds: Sequence[str] = ("sae", "ae", "vae")) -> list[dict[str, Any]]:
    """Table 2: trainable parameters of each model kind at each latent size, counted on built models."""
    return [{"model": kind.upper(), "nz": int(nz), "parameters": n_parameters(build_model(kind, nz, seed=0))}
            for nz in latent_sizes for kind in kinds]


def validation_images(config: Mapping[str, Any]) -> tuple[torch.Tensor, np.ndarray]:
    """The validation images (N, 1, 28, 28) float and labels of a resolved config: the first ``n_val``
    MNIST test images, as :func:`train_sae_config` validates on."""
    xt, yt = data.load_mnist("test")
    n = config["n_val"]
    return as_images(xt[:n]).to(getattr(torch, config["dtype"])), np.array(yt[:n], copy=True)


@torch.no_grad()
def snapshot(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """What Fig. 2 shows for images ``x``: ``xhat`` (B, 28, 28) reconstructions, ``encoding`` (B, 28, 28)
    the Poisson input summed over time and divided by its largest count, and for the SAE ``latent`` (B, T,
    nz) the latent spikes and ``rates``: per layer (``"input"`` then :data:`LAYERS`) the firing rate of
    every neuron (spikes per step, averaged over the examples; Fig. 2D). One pass with an encoding
    generator seeded with ``seed``; baselines see the same noisy images."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    out: dict[str, Any] = {}
    if isinstance(model, ConvSAE):
        spikes = encode(x, config["T"], noise=config["noise"], generator=gen)
        res = model(spikes, record_latent=True)
        total = spikes.sum(0)[:, 0]
        out["encoding"] = (total / total.amax(dim=(1, 2), keepdim=True).clamp(min=1)).cpu().numpy()
        out["latent"] = res.latent_spikes.transpose(0, 1).cpu().numpy()
        T = spikes.shape[0]
        out["rates"] = {"input": (spikes.sum(0) / T).mean(0).flatten().cpu().numpy()}
        for name, c in zip(LAYERS, res.counts):
            out["rates"][name] = (c / T).mean(0).flatten().cpu().numpy()
    else:
        res = run_model(model, x, config, gen)
    out["xhat"] = res.xhat[:, 0].cpu().numpy()
    return out


# ---------------------------------------------------------------- kept paper-protocol runs


def kept_reference() -> dict | None:
    """The kept paper-protocol record of this page (``book/paper_runs/regularised_sae.json``), or None."""
    from spikelib import results

    return results.kept_paper_run(CHAPTER)
