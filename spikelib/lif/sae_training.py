"""Training of Hübotter et al.'s regularised convolutional SAE and its baselines (2021, App. A.1, A.2):
configs, one training step, validation metrics, and :func:`fit`.

A config is a mapping of :data:`DEFAULTS`' keys (:func:`resolve_config` completes it). Training (App. A.1):
Adam, learning rate 5e-4, batch 64, gradients clipped by value at 50, 10 epochs. :func:`fit` follows the
training contract of :mod:`spikelib.fitting` and checkpoints through :class:`spikelib.fitting.Checkpoint`.
The paper's named models (Table 1), sweeps and tables are :mod:`spikelib.experiments.huebotter`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from spikelib.backend import check_backend, subnormals_flushed
from spikelib.fitting import Checkpoint, EpochProgress, FitResult, fingerprint
from spikelib.lif.conv_sae import LATENT, ConvSAE, ConvVAE, SAEOutput, add_noise, build_model, encode
from spikelib.lif.sae_losses import loss_terms, reconstruction_loss
from spikelib.lif.sae_metrics import (
    active_firing_rate,
    active_neuron_ratio,
    active_per_example_ratio,
    balanced_indices,
    class_distance_ratios,
    inactive_neuron_proportion,
)

#: Everything a run needs; :func:`resolve_config` fills what a config and the settings leave out.
DEFAULTS: dict[str, Any] = {
    "model": "sae", "nz": 100, "T": 100, "noise": 0.0, "decay": 0.99, "threshold": 1.0, "bounded": True,
    "cumulative": "current",
    "l2": 0.0, "p1": 0.0, "p2": 0.0, "a1": 0.0, "a1_latent": 0.0, "beta": 1.0,
    "lr": 5e-4, "batch_size": 64, "clip": 50.0, "epochs": 10, "n_train": 60000, "n_val": 10000,
    "dtype": "float32",
}


def resolve_config(config: Mapping[str, Any] | None = None, *, presets: Mapping[str, Mapping[str, Any]] | None = None,
                   **settings) -> dict[str, Any]:
    """:data:`DEFAULTS`, then ``settings`` (e.g. a scale's), then ``config``. A name of ``presets`` (named
    models: a ``model`` kind and loss weights, e.g. Table 1's :data:`spikelib.experiments.huebotter.MODELS`)
    in ``config["model"]`` brings its settings, which explicit keys override, and becomes ``name``.

    A ``regulariser`` key may also hold a preset's name or a mapping of loss weights. Resolving a resolved
    config gives it back unchanged.
    """
    presets = presets or {}
    config = dict(config or {})
    out = dict(DEFAULTS)
    out.update({k: v for k, v in settings.items() if k in DEFAULTS})
    reg = config.pop("regulariser", None)
    name = config.get("model", out["model"])
    if name in presets:
        out.update(presets[name])
        out["name"] = name
    if isinstance(reg, str):
        if reg not in presets:
            raise ValueError(f"unknown regulariser {reg!r}; use a mapping of weights or one of {sorted(presets)}")
        out.update({k: v for k, v in presets[reg].items() if k != "model"})
    elif isinstance(reg, Mapping):
        out.update(reg)
    elif reg is not None:
        raise TypeError(f"regulariser must be a Table-1 name or a mapping of weights, got {reg!r}")
    out.update({k: v for k, v in config.items() if k != "model" or v not in presets})
    unknown = set(out) - set(DEFAULTS) - {"name"}
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    if out["model"] not in ("sae", "ae", "vae"):
        raise ValueError(f"model must be 'sae', 'ae', 'vae' or one of {sorted(presets)}, got {out['model']!r}")
    if out["model"] != "sae" and any(out[k] for k in ("p1", "p2", "a1", "a1_latent")):
        raise ValueError("potential and activity regularisers apply to the SAE only")
    out.setdefault("name", out["model"].upper())
    return out


def make_model(config: Mapping[str, Any], *, seed: int, device: str | torch.device = "cpu") -> nn.Module:
    """The model of a resolved config (:func:`resolve_config`)."""
    return build_model(config["model"], config["nz"], seed=seed, decay=config["decay"],
                       threshold=config["threshold"], bounded=config["bounded"], cumulative=config["cumulative"],
                       dtype=getattr(torch, config["dtype"])).to(device)


def run_model(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], generator: torch.Generator | None,
              *, record_latent: bool = False, backend: str = "auto"):
    """One forward pass on clean images ``x`` (B, 1, H, W): the SAE sees noisy Poisson spikes over
    ``config["T"]`` steps (on ``backend``), the baselines the noisy image (and the VAE draws its ``eps``)."""
    if isinstance(model, ConvSAE):
        # the C kernel reads uint8 spikes: the same draws without a float tensor of them (~10 ms a step)
        dtype = torch.uint8 if model.backend(backend, x.device) == "c" else None
        spikes = encode(x, config["T"], noise=config["noise"], generator=generator, dtype=dtype)
        return model(spikes, record_latent=record_latent, backend=backend)
    xn = add_noise(x, config["noise"], generator=generator)
    return model(xn, generator=generator) if isinstance(model, ConvVAE) else model(xn)


def make_optimizer(model: nn.Module, config: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam at the config's learning rate (5e-4, App. A.1), torch's other defaults."""
    return torch.optim.Adam(model.parameters(), lr=config["lr"])


def train_step(model, optimizer, x: torch.Tensor, config: Mapping[str, Any], generator, *,
               backend: str = "auto") -> dict[str, float]:
    """One Adam step on the batch ``x``; gradients clipped by value at ``config["clip"]``. Returns the
    loss terms as floats."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    terms = loss_terms(model, run_model(model, x, config, generator, backend=backend), x, config)
    terms["loss"].backward()
    if config["clip"]:
        torch.nn.utils.clip_grad_value_(model.parameters(), config["clip"])
    optimizer.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def latent_activity(out) -> torch.Tensor:
    """Latent activity per example (B, nz): SAE spike counts, AE codes, VAE samples ``z``."""
    return out.counts[LATENT].detach() if isinstance(out, SAEOutput) else out.z.detach()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0,
             labels: torch.Tensor | None = None, batch_size: int | None = None,
             backend: str = "auto") -> dict[str, Any]:
    """Validation metrics on images ``x`` (N, 1, H, W), batch by batch with a fixed encoding seed.

    ``lrec`` is the mean per-image sum of squared errors (Table 1). For the latent layer, INP, ANR, AFR and
    RAE are computed per batch (as the authors' running averages) and averaged; AFR for the SAE only.
    ``spikes_per_example`` counts all six layers' spikes, ``latent_spikes_per_example`` layer 3's. With
    ``labels``, ``distance_ratio`` holds :func:`class_distance_ratios` on 10 examples per class (App. A.5;
    fewer if a class has fewer) of the time-averaged latent activity (the first such examples of ``x``).
    """
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    bs = batch_size or config["batch_size"]
    sums: dict[str, float] = {}
    n_batches = 0
    for i in range(0, len(x), bs):
        xb = x[i:i + bs]
        out = run_model(model, xb, config, gen, backend=backend)
        z = latent_activity(out)
        vals = {"lrec": float(reconstruction_loss(out.xhat, xb)) * len(xb),
                "inp": inactive_neuron_proportion(z), "anr": active_neuron_ratio(z),
                "rae": active_per_example_ratio(z)}
        if isinstance(out, SAEOutput):
            vals["afr"] = active_firing_rate(z, out.T)
            vals["spikes_per_example"] = float(sum(c.sum() for c in out.counts))
            vals["latent_spikes_per_example"] = float(z.sum())
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v
        n_batches += 1
    n = max(len(x), 1)
    result = {k: (v / n if k in ("lrec", "spikes_per_example", "latent_spikes_per_example") else v / max(n_batches, 1))
              for k, v in sums.items()}
    if labels is not None:
        rep, y = latent_examples(model, x, labels, config, seed=seed, backend=backend)
        result["distance_ratio"] = class_distance_ratios(rep, y)
    return result


def latent_examples(model: nn.Module, x: torch.Tensor, labels, config: Mapping[str, Any], *, seed: int = 0,
                    per_class: int = 10, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """App. A.5's latent matrix: :func:`represent` of the first ``per_class`` images of each class of ``x``
    (fewer, at least 2, if a class has fewer), sorted by class; returns ``(representation, labels)``.
    :func:`evaluate` computes the distance ratios (Tables 1, 8) on it, with its seed, so Figs. 5-6 match."""
    y = np.asarray(torch.as_tensor(labels).cpu())
    k = int(min(per_class, np.bincount(y).min() if len(y) else 0))  # fewer on a small validation set
    idx = balanced_indices(y, max(k, 2))
    rep = represent(model, x[torch.as_tensor(idx, device=x.device)], config, seed=seed, backend=backend)
    return rep, y[idx]


@torch.no_grad()
def represent(model: nn.Module, x: torch.Tensor, config: Mapping[str, Any], *, seed: int = 0,
              backend: str = "auto") -> np.ndarray:
    """Latent representation (examples, nz) of images ``x`` (App. A.5): SAE firing rates (spike counts / T),
    AE codes, VAE samples ``z``; one pass with an encoding generator seeded with ``seed``."""
    model.eval()
    out = run_model(model, x, config, torch.Generator(device=x.device).manual_seed(int(seed)), backend=backend)
    rep = latent_activity(out)
    if isinstance(out, SAEOutput):
        rep = rep / out.T
    return rep.cpu().numpy()


@subnormals_flushed()
def fit(model: nn.Module, train: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None = None,
        config: Mapping[str, Any] | None = None, *, epochs: int | None = None, seed: int = 0,
        checkpoint: str | Path | None = None, backend: str = "auto", on_epoch: Callable[[dict], None] | None = None,
        checkpoint_every: int | None = None, finish: bool = True) -> FitResult:
    """Train ``model`` on images ``train`` (N, 1, H, W) in [0, 1] for ``epochs`` (default ``config["epochs"]``)
    epochs; the training contract of :mod:`spikelib.fitting`. ``config``: see :func:`resolve_config`
    (None: :data:`DEFAULTS`). Returns a :class:`~spikelib.fitting.FitResult` whose ``history`` has one
    dict per epoch.

    Batches are drawn from a shuffled order and encoded with one generator seeded with ``seed``; the SAE
    runs on ``backend``. After every epoch (and every ``checkpoint_every`` steps) the model, optimiser,
    generator state and history are written atomically to ``checkpoint``; a later call with the same path
    continues from there and gives the same result as an uninterrupted run (a checkpoint of other settings,
    data or seed is refused). Once the last epoch is done the file is rewritten with the weights and history
    only (a third of the size: no Adam moments); such a finished checkpoint makes a later call return at
    once, and cannot be trained further (an error). ``finish=False`` keeps the full checkpoint after the last
    epoch, so that a later call can train on to more epochs (reference runs train in chunks of epochs).
    ``val = (images, labels)`` adds :func:`evaluate`'s metrics (prefixed ``val_``) to every epoch's record.
    """
    config = resolve_config(config)
    if epochs is not None:
        config = {**config, "epochs": int(epochs)}
    check_backend(backend)
    x_train = train
    opt = make_optimizer(model, config)
    gen = torch.Generator(device=x_train.device).manual_seed(int(seed))
    history: list[dict] = []
    epoch_state = None  # (permutation, next step, running sums) when resuming mid-epoch
    finished = False  # the checkpoint is a finished run's: weights and history only
    # the epochs are left out: a finished run asked for more epochs gets its own error below
    ckpt = Checkpoint(checkpoint, fingerprint=None if checkpoint is None else fingerprint(
        {k: v for k, v in config.items() if k != "epochs"}, int(seed), type(model).__name__, x_train,
        *(val if val is not None else ())))
    state = ckpt.load(map_location=x_train.device)
    if state is not None:
        model.load_state_dict(state["model"])
        history = state["history"]
        finished = "optimizer" not in state
        if finished and len(history) < config["epochs"]:
            raise ValueError(f"{ckpt.path} holds a finished {len(history)}-epoch run without its optimiser state; "
                             f"it cannot be continued to {config['epochs']} epochs: remove it to train again")
        if not finished:
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"].cpu())  # generator states are CPU byte tensors
            epoch_state = state.get("epoch_state")
        del state

    def save(es=None) -> None:
        ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                   "history": history, "epoch_state": es})

    def save_finished() -> None:
        # what load_model and a rerun need: the optimiser and generator states are of no further use
        if not finished:
            ckpt.save({"model": model.state_dict(), "history": history})

    bs = config["batch_size"]
    on_epoch = EpochProgress.wrap(on_epoch, config["epochs"], initial=len(history), desc="sae fit")
    for epoch in range(len(history), config["epochs"]):
        if epoch_state is not None:
            perm, start, sums = epoch_state["perm"], epoch_state["step"], epoch_state["sums"]
            seconds, cpu_seconds = epoch_state["seconds"], epoch_state["cpu_seconds"]
            epoch_state = None
        else:
            perm = torch.randperm(len(x_train), generator=gen, device=x_train.device)
            start, sums, seconds, cpu_seconds = 0, {}, 0.0, 0.0
        n_steps = math.ceil(len(x_train) / bs)
        for step in range(start, n_steps):
            t0, c0 = time.perf_counter(), time.process_time()
            terms = train_step(model, opt, x_train[perm[step * bs:(step + 1) * bs]], config, gen, backend=backend)
            seconds += time.perf_counter() - t0
            cpu_seconds += time.process_time() - c0
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
                save({"perm": perm, "step": step + 1, "sums": sums, "seconds": seconds, "cpu_seconds": cpu_seconds})
        # wall and process CPU time of the training steps (the CPU time is robust to other jobs on the cores)
        record = {"epoch": epoch, "steps": n_steps, "seconds": seconds, "seconds_per_step": seconds / n_steps,
                  "cpu_seconds_per_step": cpu_seconds / n_steps}
        record.update({f"train_{k}": v / n_steps for k, v in sums.items()})
        if val is not None:
            record.update({f"val_{k}": v for k, v in
                           evaluate(model, val[0], config, seed=seed + 1, labels=val[1], backend=backend).items()})
        history.append(record)
        if epoch + 1 < config["epochs"] or not finish:
            save()
        else:
            save_finished()
            finished = True
        if on_epoch is not None:
            on_epoch(record)
    if finish:
        save_finished()  # a full checkpoint of a run that had already finished (written before this rule)
    return FitResult(history=history)
