"""Latent-layer metrics of Hübotter et al. (2021, §3.2, App. A.2, A.5): dead and bursting neurons, class
structure, and the clustered views of Figs. 5-6.

- :func:`inactive_neuron_proportion` (INP), :func:`active_neuron_ratio` (ANR = 1 - INP),
  :func:`active_firing_rate` (AFR), :func:`active_per_example_ratio` (RAE): §3.2.
- :func:`class_distance_ratio` ``s_intra / s_inter`` (Tables 1, 8), :func:`class_distance_ratios`.
- :func:`balanced_indices`, :func:`normalised_activity`, :func:`cluster_order`,
  :func:`example_correlations` (App. A.5, Figs. 5-6).

All take plain arrays or tensors (examples, neurons): no model needed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

#: The distances of Table 8 (scipy names).
DISTANCES = ("euclidean", "seuclidean", "sqeuclidean", "cityblock", "correlation")


def _counts2d(counts) -> torch.Tensor:
    c = torch.as_tensor(counts)
    if c.ndim != 2:
        raise ValueError(f"expected (examples, neurons) activity, got shape {tuple(c.shape)}")
    return c


def inactive_neuron_proportion(counts) -> float:
    """INP: the fraction of neurons silent on every example of ``counts`` (examples, neurons).

    Works for spike counts, ReLU codes and VAE samples alike (silent: exactly 0).
    """
    c = _counts2d(counts)
    return float((c == 0).all(dim=0).to(torch.float64).mean())


def active_neuron_ratio(counts) -> float:
    """ANR = 1 - INP (§3.2)."""
    return 1.0 - inactive_neuron_proportion(counts)


def active_firing_rate(counts, T: int) -> float:
    """AFR: mean firing rate (spikes per step) of the neurons active on some example (§3.2, App. A.2).

    ``sum(counts) / (n_active T n_examples)``, as the authors' "density"; 0 when no neuron is active.
    """
    c = _counts2d(counts)
    n_active = int((c != 0).any(dim=0).sum())
    if n_active == 0:
        return 0.0
    return float(c.to(torch.float64).sum() / (n_active * T * c.shape[0]))


def active_per_example_ratio(counts) -> float:
    """RAE: average number of neurons active per example over the number active on some example (§3.2);
    0 when none is active."""
    c = _counts2d(counts)
    n_active = int((c != 0).any(dim=0).sum())
    if n_active == 0:
        return 0.0
    return float((c != 0).sum(dim=1).to(torch.float64).mean() / n_active)


def class_distance_ratio(representation, labels, metric: str = "euclidean") -> float:
    """``s_intra / s_inter`` (Table 1, Table 8): mean pairwise distance between examples of the same class
    over that between examples of different classes, for ``representation`` (examples, features).

    ``metric`` is a :func:`scipy.spatial.distance.pdist` name (:data:`DISTANCES`). For ``seuclidean``,
    features constant over the examples (dead neurons: zero variance) are dropped; pairs whose distance is
    undefined (``correlation`` with an all-constant example) are left out of both means; nan if nothing is
    left or all examples are at distance 0.
    """
    from scipy.spatial.distance import pdist

    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(labels).cpu())
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need (examples, features) and one label per example, got {x.shape} and {y.shape}")
    if metric == "seuclidean":
        x = x[:, x.var(axis=0, ddof=1) > 0]
        if x.shape[1] == 0:
            return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = pdist(x, metric=metric)
    i, j = np.triu_indices(len(x), k=1)  # pdist's pair order
    same = y[i] == y[j]
    ok = np.isfinite(d)
    if same.all() or not same.any():
        raise ValueError("need two examples of one class and examples of two classes")
    if not (same & ok).any() or not (~same & ok).any():
        return float("nan")  # e.g. correlation on an all-silent latent layer
    inter = d[~same & ok].mean()
    # identical representations have no structure to measure either
    return float(d[same & ok].mean() / inter) if inter > 0 else float("nan")


def class_distance_ratios(representation, labels, metrics: Sequence[str] = DISTANCES) -> dict[str, float]:
    """:func:`class_distance_ratio` for each of ``metrics`` (Table 8's columns by default)."""
    return {m: class_distance_ratio(representation, labels, m) for m in metrics}


def balanced_indices(labels, per_class: int = 10) -> np.ndarray:
    """The first ``per_class`` examples of each class, sorted by class (App. A.5: 100 examples, 10 per class)."""
    y = np.asarray(labels)
    out = []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)[:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {k} has only {len(idx)} examples, need {per_class}")
        out.append(idx)
    return np.concatenate(out)


def normalised_activity(representation) -> np.ndarray:
    """Latent activity scaled by its largest magnitude: [0, 1] for SAE rates and AE codes, [-1, 1] for the
    VAE (App. A.5); all zeros stay zeros."""
    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    m = np.abs(x).max() if x.size else 0.0
    return x / m if m > 0 else x


def cluster_order(matrix, *, metric: str = "euclidean", method: str = "average") -> np.ndarray:
    """Leaf order of scipy's hierarchical clustering of the rows of ``matrix`` (Figs. 5-6; seaborn's
    clustermap defaults). Use ``matrix.T`` for the columns."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    x = np.asarray(matrix, dtype=np.float64)
    if len(x) < 2:
        return np.arange(len(x))
    return leaves_list(linkage(x, method=method, metric=metric))


def example_correlations(representation) -> np.ndarray:
    """Pearson correlation between the examples (rows) of a latent representation (Fig. 6); an example
    without variation over the neurons (e.g. all silent) correlates 0 with the others and 1 with itself."""
    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.corrcoef(x) if len(x) > 1 else np.ones((len(x), len(x)))
    c = np.nan_to_num(c, nan=0.0)
    np.fill_diagonal(c, 1.0)
    return c


def neuron_correlations(representation) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation between the latent neurons (columns) of ``representation`` (examples x neurons)
    across examples (Hübotter et al., App. A.5.3, Fig. 7), with the neurons that are silent (zero) in every
    example left out, as the paper does. Returns ``(corr, active)``: the correlation matrix of the active
    neurons and their indices. An active neuron with the same value in every example (no variation)
    correlates 0 with the others and 1 with itself."""
    x = np.asarray(torch.as_tensor(representation).detach().cpu(), dtype=np.float64)
    active = np.flatnonzero(np.any(x != 0, axis=0))
    return example_correlations(x[:, active].T), active


def mean_abs_correlation(corr) -> float:
    """The mean absolute off-diagonal entry of a correlation matrix, ``mean_{i != j} |r_ij|`` (App. A.5.3's
    "average absolute correlation"); NaN below two variables."""
    c = np.asarray(corr, dtype=np.float64)
    n = len(c)
    if n < 2:
        return float("nan")
    return float((np.abs(c).sum() - np.abs(np.diag(c)).sum()) / (n * (n - 1)))
