"""The three run scales, defined in one place.

Every experiment (notebook, benchmark, sweep) takes ``scale``:

- ``smoke``: seconds per notebook; used by the tests to exercise every code path.
- ``quick``: the default; the whole book builds in at most 60 minutes on 2 CPU cores without a GPU.
- ``paper``: the paper's own protocol (a GPU is expected).

An experiment's budget at each scale is one entry in :data:`EXPERIMENTS`; notebooks read it with
:func:`settings` rather than hard-coding sizes, so the page always states where its numbers came from.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

#: The scale names, fastest first, the paper's protocol last.
SCALES: tuple[str, ...] = ("smoke", "quick", "paper")
DEFAULT_SCALE = "quick"

SCALE_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "smoke": "seconds per notebook, for the tests; numbers are not meaningful",
        "quick": "reduced data and epochs; the whole book in under an hour on 2 CPU cores",
        "paper": "the paper's own protocol; a GPU is expected",
    }
)

# experiment -> scale -> settings. Keep every size that differs between scales here.
EXPERIMENTS: dict[str, dict[str, dict[str, Any]]] = {
    "alpha_function": {
        "smoke": {"n_points": 200},
        "quick": {"n_points": 1000},
        "paper": {"n_points": 1000},
    },
    # Boolean tasks (§3.1): n_train / n_test examples, at most `epochs` epochs per network, networks for
    # the seeds 0, 1, ... until one is perfect on the training set (at most `max_seeds`); n_grid: the
    # class-map resolution of Fig. 3. Cost on 2 CPU cores: about 0.3 s per epoch while most examples are
    # wrong (each one is an update), a few ms once training is perfect; quick: 1-3 min per task.
    "alpha_boolean": {
        "smoke": {"n_train": 100, "n_test": 50, "epochs": 2, "max_seeds": 1, "n_grid": 40},
        "quick": {"n_train": 1000, "n_test": 150, "epochs": 30, "max_seeds": 1, "n_grid": 200},
        "paper": {"n_train": 1000, "n_test": 150, "epochs": 100, "max_seeds": 10, "n_grid": 300},
    },
    # Our own 784-340-10 training (Table 2b, Fig. 5), the ReLU MLP baseline and deep dream (Fig. 8). The
    # training images are the first n_train of the authors' 54,000 (data.train_val_split, seed 0), selected
    # on the first n_val of the 6,000 validation images; `epochs` with the README and with the Table 1
    # hyperparameters (Table 1 uses batch size 5: slower per example, so fewer at quick); n_timing: images
    # for the spike timing of Fig. 5. Cost at quick on 2 CPU cores: ~5 min in all.
    "alpha_mnist_training": {
        "smoke": {"n_train": 300, "n_val": 100, "n_test": 200, "epochs_readme": 1, "n_train_table1": 100,
                  "epochs_table1": 1, "mlp_epochs": 1, "mlp_runs": 1, "mlp_batch_sizes": [32],
                  "n_timing": 100, "dream_max_epochs": 5, "mlp_n_train": 300},
        "quick": {"n_train": 10800, "n_val": 6000, "n_test": 10000, "epochs_readme": 5, "n_train_table1": 5400,
                  "epochs_table1": 2, "mlp_epochs": 2, "mlp_runs": 1, "mlp_batch_sizes": [5, 32, 128],
                  "n_timing": 1000, "dream_max_epochs": 300, "mlp_n_train": 54000},
        "paper": {"n_train": 54000, "n_val": 6000, "n_test": 10000, "epochs_readme": 1000, "n_train_table1": 54000,
                  "epochs_table1": 1000, "mlp_epochs": 100, "mlp_runs": 3, "mlp_batch_sizes": [5, 32, 128],
                  "n_timing": 6000, "dream_max_epochs": 10000, "mlp_n_train": 54000},
    },
    # the first n_test / n_train images of the MNIST test / training sets are classified (the full sets:
    # 10000 / 60000); n_grid: time samples of the membrane-potential plots
    "alpha_published_networks": {
        "smoke": {"n_test": 500, "n_train": 500, "n_grid": 400},
        "quick": {"n_test": 10000, "n_train": 60000, "n_grid": 2000},
        "paper": {"n_test": 10000, "n_train": 60000, "n_grid": 2000},
    },
}


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise a ValueError saying what is allowed."""
    if scale not in SCALES:
        raise ValueError(
            f"unknown scale {scale!r}: use one of {', '.join(SCALES)} "
            f"(e.g. `make book SCALE=quick` or papermill `-p scale quick`)"
        )
    return scale


def settings(experiment: str, scale: str = DEFAULT_SCALE) -> Mapping[str, Any]:
    """The read-only settings of ``experiment`` at ``scale`` (see :data:`EXPERIMENTS`)."""
    check_scale(scale)
    if experiment not in EXPERIMENTS:
        raise KeyError(
            f"no scale settings for experiment {experiment!r}; known: {', '.join(sorted(EXPERIMENTS))}. "
            "Add an entry to spikelib.scales.EXPERIMENTS."
        )
    return MappingProxyType(dict(EXPERIMENTS[experiment][scale]))
