"""The training contract every model family follows, and the one checkpoint/resume helper they share.

Every ``fit`` in spikelib (:func:`spikelib.alpha.fit`, :func:`spikelib.alpha.fit_autoencoder`,
:func:`spikelib.lif.sae_training.fit`, :func:`spikelib.lif.roy.fit`, :func:`spikelib.ann.fit_dense_autoencoder`,
:func:`spikelib.ann.fit_mlp_classifier`, :func:`spikelib.ann.fit_ann`) has the signature::

    fit(model, train, val=None, config=None, *, epochs=None, seed=0, checkpoint=None,
        backend="auto", on_epoch=None, **family_options) -> FitResult

- ``model``: the ``nn.Module`` to train, in place; ``train`` / ``val``: the family's data (a tensor or
  an ``(inputs, targets)`` pair); ``val=None`` trains without validation.
- ``config``: one object with the family's hyperparameters (a dataclass or a mapping); None takes the
  family's documented default.
- ``epochs``: None takes the config's (where it has one); ``seed`` seeds shuffling and encoding;
  ``checkpoint``: a path written atomically during training, resumed by a later call with the same path
  (the result equals an uninterrupted run); ``backend``: :mod:`spikelib.backend`; ``on_epoch(record)``:
  called after every epoch with that epoch's history record.

It returns a :class:`FitResult`, which also reads as the mapping the functions returned before
(``result["history"]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from spikelib._io import atomic_path

#: What a checkpoint written for other settings does: raise an error, or warn and train afresh.
ON_MISMATCH = ("error", "restart")


@dataclasses.dataclass
class FitResult(Mapping):
    """What every ``fit`` returns.

    ``history``: the training curve (one dict per epoch; Roy's online rule, which updates per batch,
    keeps its per-batch curves as a dict of lists). ``best``: the selected epoch and its score where the
    family selects one (None otherwise). ``extras``: anything else a family reports.

    As a mapping it holds ``history``, ``best`` (when set) and the ``extras``, so records written from
    ``dict(result)`` keep their earlier layout.
    """

    history: Any
    best: dict | None = None
    extras: dict = dataclasses.field(default_factory=dict)

    def _view(self) -> dict:
        view = {"history": self.history}
        if self.best is not None:
            view["best"] = self.best
        view.update(self.extras)
        return view

    def __getitem__(self, key: str) -> Any:
        return self._view()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())


def fingerprint(*parts: Any) -> str:
    """A short hash of what determines a training run (hyperparameters, data, seed, shapes), stored in its
    checkpoint so that a checkpoint written for other settings or data is never resumed. Tensors and
    arrays are hashed by content, everything else by ``repr`` (dataclasses: their fields)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            part = part.detach().cpu().contiguous().numpy()
        if hasattr(part, "tobytes") and hasattr(part, "dtype"):
            h.update(f"{part.dtype}{part.shape}".encode())
            h.update(part.tobytes())
        else:
            h.update(repr(dataclasses.asdict(part) if dataclasses.is_dataclass(part) else part).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


class Checkpoint:
    """One training run's checkpoint file: written atomically, loaded with ``weights_only=True``.

    ``fingerprint`` (see :func:`fingerprint`) is stored with every save; a file whose fingerprint differs
    is not resumed: ``on_mismatch="error"`` raises an error naming the file and the fix,
    ``"restart"`` warns and trains afresh (the file is overwritten at the next save). ``path=None``
    makes every method a no-op, so a family's ``fit`` needs no special case for "no checkpoint".
    """

    def __init__(self, path: str | Path | None, *, fingerprint: str | None = None, on_mismatch: str = "error"):
        if on_mismatch not in ON_MISMATCH:
            raise ValueError(f"on_mismatch must be one of {ON_MISMATCH}, got {on_mismatch!r}")
        self.path = Path(path) if path is not None else None
        self.fingerprint = fingerprint
        self.on_mismatch = on_mismatch

    def exists(self) -> bool:
        return self.path is not None and self.path.exists()

    def load(self, map_location: Any = None) -> dict | None:
        """The saved state, or None when there is none to resume (no path, no file, or a mismatch that
        ``on_mismatch="restart"`` lets pass)."""
        if not self.exists():
            return None
        state = torch.load(self.path, weights_only=True, map_location=map_location)
        found = state.get("fingerprint") if isinstance(state, Mapping) else None
        if self.fingerprint is not None and found != self.fingerprint:
            message = (f"{self.path} was written for other settings, data or seed (fingerprint {found} != "
                       f"{self.fingerprint})")
            if self.on_mismatch == "error":
                raise ValueError(f"{message}; delete it or choose another checkpoint path")
            warnings.warn(f"{message}; starting afresh instead of resuming it", stacklevel=2)
            return None
        return state

    def save(self, state: Mapping[str, Any]) -> None:
        """Write ``state`` (plus the fingerprint) atomically: a crash leaves the previous file intact."""
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint}, tmp)


def save_training(checkpoint: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  generator: torch.Generator, **extra: Any) -> None:
    """Save what resumes an epoch-based run exactly: weights, optimiser, shuffling generator, and ``extra``
    (history, best epoch, ...)."""
    checkpoint.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "generator": generator.get_state(), **extra})


def load_training(checkpoint: Checkpoint, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  generator: torch.Generator, *, map_location: Any = None) -> dict | None:
    """Restore :func:`save_training`'s state in place; returns the saved state (its ``extra`` entries), or
    None when there is nothing to resume."""
    state = checkpoint.load(map_location)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"].cpu())  # generator states are CPU byte tensors
    return state


def derive_seed(*parts: int) -> int:
    """An independent seed for one stream, e.g. ``(seed, epoch)`` for the batch order or ``(seed, epoch,
    batch, purpose)`` for Poisson spikes: numpy's ``SeedSequence`` of the parts, so nearby parts give
    unrelated streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state dict (the weights of a selected epoch)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- progress of long fits

#: The file the book pipeline gives each notebook for progress lines (spikelib.pipeline_progress tails it
#: onto the terminal); the notebook's own output, and so the book page, stays free of progress bars.
PROGRESS_ENV = "SPIKELIB_PROGRESS_FILE"
_SHOWN = ("test_accuracy", "val_accuracy", "val_mse", "val_lrec", "val_loss", "train_mse_running",
          "train_accuracy_running", "loss")


class EpochProgress:
    """Progress of one fit, one tqdm-style line per epoch ("desc: 35%|███▌ | 7/20 [01:02<01:55,
    8.90s/epoch, test_accuracy=0.97]"), appended to ``$SPIKELIB_PROGRESS_FILE`` when it is set, or drawn on
    stderr with ``enabled=True``; nothing otherwise. Call it with each epoch's record."""

    def __init__(self, total: int, *, initial: int = 0, desc: str = "fit", unit: str = "epoch",
                 enabled: bool | None = None):
        import os
        import time

        self.path = os.environ.get(PROGRESS_ENV) or None
        self.enabled = bool(self.path) if enabled is None else enabled
        self.total, self.n, self.initial, self.desc, self.unit = total, initial, initial, desc, unit
        self._clock = time.monotonic
        self.start = self._clock()

    def __call__(self, record: Mapping[str, Any] | None = None) -> None:
        if not self.enabled:
            return
        import sys

        from tqdm import tqdm

        self.n += 1
        shown = {k: round(float(record[k]), 4) for k in _SHOWN if isinstance((record or {}).get(k), (int, float))}
        line = tqdm.format_meter(self.n, self.total, self._clock() - self.start, prefix=self.desc, unit=self.unit,
                                 initial=self.initial, ncols=110, postfix=", ".join(f"{k}={v}" for k, v in
                                                                                  list(shown.items())[:2]) or None)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:  # opened per line: nothing to close on failure
                f.write(line + "\n")
        else:
            sys.stderr.write("\r" + line + ("\n" if self.n >= self.total else ""))
            sys.stderr.flush()

    @classmethod
    def wrap(cls, on_epoch, total: int, *, initial: int = 0, desc: str = "fit", enabled: bool | None = None):
        """``on_epoch`` (or None) followed by a progress report: what every ``fit`` passes its records to."""
        progress = cls(total, initial=initial, desc=desc, enabled=enabled)
        if not progress.enabled:
            return on_epoch

        def report(record):
            if on_epoch is not None:
                on_epoch(record)
            progress(record)

        return report
