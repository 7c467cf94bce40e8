"""Reference runs of Hübotter et al.'s Table 1 (``python -m spikelib reference regularised_sae``, issue #19):
the seven models at the paper's protocol on this CPU, one seed each, for :mod:`spikelib.reference`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from spikelib.experiments import huebotter_report as hr
from spikelib.experiments.huebotter import CHAPTER, train_resolved, resolve_config, scale_settings, summarise_runs

#: The order in which the kept paper-protocol runs are computed: the four ANNs first (minutes each), then
#: the spiking models, SAE-dense (the paper's best) first (about 1-2 h each on this 2-core CPU at T = 100).
REFERENCE_ORDER = ("AE", "AEl2", "VAE", "betaVAE", "SAE-dense", "SAE", "SAE-sparse")
REFERENCE_DEVIATIONS = ("one seed per model (the paper: 5 runs, mean ± SD); validation on the first n_val test "
                        "images, as every scale of this page; float32 on a CPU, the SAE in this book's C kernel")


def reference_runs() -> list[dict]:
    """The kept paper-protocol runs of this page (Table 1, App. A.3: 10 epochs of 60,000 images, batch 64,
    T = 100, each model with its Table-1 weights): ``name``, ``settings``, ``epochs``, ``deviations``."""
    paper = scale_settings(CHAPTER, "paper", page=False)
    keys = ("T", "batch_size", "n_train", "n_val", "epochs")
    return [{"name": f"table1-{m}-seed0", "epochs": paper["epochs"], "deviations": REFERENCE_DEVIATIONS,
             "settings": {"model": m, "seed": 0, "dtype": "float32", **{k: paper[k] for k in keys}}}
            for m in REFERENCE_ORDER]


def reference_train(settings: Mapping[str, Any], *, epochs: int, checkpoint: Path, on_epoch=None) -> dict | None:
    """Train (or resume from ``checkpoint``) one :func:`reference_runs` model up to ``epochs`` epochs; its
    :func:`train_sae_config`-style result once ``epochs`` is the run's last, else None."""
    cfg = resolve_config({"model": settings["model"], **{k: settings[k] for k in
                                                          ("T", "batch_size", "n_train", "n_val", "epochs", "dtype")}},
                         **scale_settings(CHAPTER, "paper", page=False))
    out = train_resolved(cfg, seed=settings["seed"], checkpoint=checkpoint, epochs=epochs, on_epoch=on_epoch)
    return out if epochs >= settings["epochs"] else None


def reference_record(entries: Mapping[str, Mapping[str, Any]]) -> dict:
    """The page's record from the finished reference runs: ``table1``, ``table8`` and ``activity`` rows in
    the page's own shapes (one seed each), so that the scorecard's kept column reads the same keys."""
    rows = {r["name"]: r for r in summarise_runs(list(entries.values()))}
    models = [m for m in REFERENCE_ORDER if m in rows]
    if not models:
        return {}
    note = "paper protocol, 1 seed"
    return {"table1": hr.table1(rows, models, note)[0], "table8": hr.table8(rows, models, note)[0],
            "activity": hr.activity(rows, models, note)[0], "models": models}
