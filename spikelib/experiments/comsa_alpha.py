"""Comșa et al. 2021, "Temporal coding in spiking neural networks with alpha synaptic function": the
experiments above the model (:mod:`spikelib.alpha`), as the pages on this paper run them.

The paper's numbers (read from ``paper_values.json`` through :mod:`spikelib.papers`, typed nowhere else):
:data:`TABLE2_ACCURACY`, :data:`TABLE2_LOSS`, :data:`MLP_BEST_TEST_ACCURACY`, :data:`FIG1B` and
:func:`boolean_paper_accuracy`.

- The published networks (§3.2, Table 2): :func:`published_network_path`, :func:`paper_count`,
  :func:`matches_paper`, :func:`match_text`, :func:`table2_entry`.
- The Boolean tasks (§2.6.1, §3.1, Figs. 3 and 4): :func:`train_task` (seeds until one is perfect),
  :class:`TaskResult`, :func:`class_map`, :func:`seeds_text`.
- Training on MNIST (§2.6.2, §3.2, Table 2, Fig. 5): :func:`encode`, :func:`run_entry`,
  :func:`fast_regime_switch`, :func:`draw_learning_dynamics`, :func:`mlp_summary`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from spikelib import data, papers
from spikelib.alpha.analysis import Accuracy
from spikelib.alpha.losses import predict
from spikelib.alpha.modules import AlphaNetwork
from spikelib.alpha.training import BOOLEAN_TABLE1, Hyperparameters, evaluate, fit
from spikelib.encoding import latency
from spikelib.tasks import boolean_task

# ------------------------------------------------------------------------------------ the paper's numbers

#: Where the Table 2 numbers come from (written into the records).
PAPER_SOURCE = "Comsa et al. 2021, Table 2"
#: The published networks, in the order of Table 2.
NETWORK_NAMES = ("slow", "fast")
_SPLITS = ("test", "train")

#: Table 2: accuracy (%) of the published networks, keyed by (network, split).
TABLE2_ACCURACY: Mapping[tuple[str, str], float] = {
    (net, split): papers.value(f"alpha.table2.published.{net}.{split}_accuracy")
    for net in NETWORK_NAMES for split in _SPLITS}

#: Table 2: mean cross-entropy loss of the published networks, keyed by (network, split).
TABLE2_LOSS: Mapping[tuple[str, str], float] = {
    (net, split): papers.value(f"alpha.table2.published.{net}.{split}_loss")
    for net in NETWORK_NAMES for split in _SPLITS}

#: §3.2: the best test accuracy (%) of the ReLU MLP 784-340-10 baseline ("a maximal accuracy of 97.9%").
MLP_BEST_TEST_ACCURACY: float = papers.value("alpha.mlp.best_test_accuracy")

#: The example neuron of the paper's Fig. 1b (caption: tau = 1, weights w at input times t_in, and
#: t_out). The caption gives no threshold; the authors' code reproduces t_out with theta = 0.5 (with
#: theta = 1 the neuron stays silent).
FIG1B: Mapping[str, object] = {
    "t_in": (1.0, 8.0, 12.0, 15.0, 17.0, 18.0),
    "w": (0.3, -0.4, 0.5, 0.7, 0.5, 0.8),
    "tau": 1.0,
    "theta": 0.5,
    "t_out_paper": papers.value("alpha.fig1b.spike_time"),
    "source": "Comsa et al. 2021, Fig. 1b caption",
}

# our task names -> the ids of paper_values.json
_BOOLEAN_IDS = {"and": "and", "or": "or", "xor": "xor", "circles": "concentric_circles"}


def boolean_paper_accuracy(task: str) -> float:
    """The test accuracy (a fraction) the paper reports for Boolean ``task`` (§3.1: 100 % on every task)."""
    try:
        key = _BOOLEAN_IDS[task.lower()]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(_BOOLEAN_IDS)}") from None
    return papers.value(f"alpha.boolean.{key}.test_accuracy") / 100


# --------------------------------------------------------------------------------- published networks

_NETWORK_FOLDER = Path("reference") / "comsa2021-mnist-networks"


def published_network_path(name: str) -> Path:
    """The file of the authors' published ``slow`` or ``fast`` MNIST network (§3.2, Table 2).

    Looked up in ``$SPIKELIB_SHARED/reference/comsa2021-mnist-networks/``, else in a
    ``shared/reference/comsa2021-mnist-networks/`` beside the repository or the working directory (or one of
    their parents). Raises FileNotFoundError naming the places searched.
    """
    if name not in NETWORK_NAMES:
        raise ValueError(f"unknown published network {name!r}; use one of {', '.join(NETWORK_NAMES)}")
    found = data.find_shared(f"{_NETWORK_FOLDER}/{name}_network")
    if found is not None and found.is_file():
        return found
    searched = ", ".join(str(c / _NETWORK_FOLDER) for c in data.shared_candidates())
    raise FileNotFoundError(
        f"{name}_network not found in {searched}; set SPIKELIB_SHARED to the shared folder, or copy the "
        "ihmehimmeli repository's tempcoding/networks/ files there"
    )


def paper_count(percent: float, n: int) -> int:
    """The number of correct examples out of ``n`` that a paper's (rounded) percentage stands for."""
    return int(round(percent * n / 100.0))


def matches_paper(acc: Accuracy, percent: float) -> bool:
    """True when ``acc.correct`` equals the count the paper's ``percent`` implies on ``acc.n`` examples.

    Exact only when ``acc.n`` is the set the paper evaluated (the full MNIST test or training set).
    """
    return acc.correct == paper_count(percent, acc.n)


def match_text(acc: Accuracy, percent: float, n_full: int) -> str:
    """The "accuracy matches" cell of the Table 2 page: yes/no with both counts, or why it cannot be told
    (``acc`` counted on fewer than the ``n_full`` images of the full set)."""
    if acc.n != n_full:
        return f"not comparable ({acc.n} of {n_full} images)"
    return ("yes" if matches_paper(acc, percent) else "**no**") + f" ({acc.correct} vs {paper_count(percent, acc.n)})"


def table2_entry(key: tuple[str, str], acc: Accuracy, n_full: int, eval_seconds: float) -> dict:
    """The results-record entry of one Table 2 cell ``key = (network, split)``: our count and loss beside
    the paper's; ``paper_count`` and ``matches_paper`` only where the full set was classified."""
    paper = TABLE2_ACCURACY[key]
    comparable = acc.n == n_full
    return {"network": key[0], "split": key[1], "correct": acc.correct, "n": acc.n, "accuracy_percent": acc.percent,
            "mean_loss": acc.mean_loss, "paper_mean_loss": TABLE2_LOSS[key],
            "paper_percent": paper, "paper_count": paper_count(paper, acc.n) if comparable else None,
            "matches_paper": matches_paper(acc, paper) if comparable else None,
            "eval_seconds": eval_seconds}


# ------------------------------------------------------------------------------------- Boolean tasks
# Protocol of §3.1: a 2-2-2 network (2 hidden neurons) with one synchronisation pulse shared by all
# non-input neurons, the Table 1 defaults (BOOLEAN_TABLE1: batch size 1, updates only on misclassified
# examples), at most 100 epochs on 1000 training examples, tested on 150. The paper does not say how many
# networks it trained per task, nor how it chose the ones it shows ("example class boundaries"). With 2
# hidden neurons some initialisations stall in a local minimum (XOR in particular), so train_task trains
# one network per seed, in order, and stops at the first that classifies every training example
# correctly; it keeps the best network by *training* accuracy. The test set plays no part in the choice.
# The paper trains without restarts, so the record also keeps what the restarts hide: how many of the
# seeds tried were perfect on training, and the first seed's test accuracy (training without restarts).


@dataclasses.dataclass
class TaskResult:
    """One Boolean task: the chosen network and what it took to get it."""

    task: str
    net: AlphaNetwork
    seed: int  # the chosen seed
    train_accuracy: float
    test_accuracy: float
    seeds_tried: list[dict]  # per seed: seed, train/test accuracy, best epoch, seconds
    test: tuple[torch.Tensor, torch.Tensor]  # the test examples (for the figures)

    @property
    def paper_test_accuracy(self) -> float:
        """The paper's test accuracy for this task, as a fraction (:func:`boolean_paper_accuracy`)."""
        return boolean_paper_accuracy(self.task)

    @property
    def n_perfect(self) -> int:
        """How many of the seeds tried classify every training example correctly."""
        return sum(s["train_accuracy"] == 1.0 for s in self.seeds_tried)

    @property
    def first_seed_test_accuracy(self) -> float:
        """The first seed's test accuracy: what training without restarts (the paper's protocol) gave."""
        return self.seeds_tried[0]["test_accuracy"]

    def summary(self) -> dict:
        """A JSON-able summary for the results record, with the success rate of the seeds
        (``n_seeds_perfect`` of ``n_seeds_tried``), the first seed's accuracies and :func:`seeds_text`."""
        first = self.seeds_tried[0]
        return {"task": self.task, "seed": self.seed, "train_accuracy": self.train_accuracy,
                "test_accuracy": self.test_accuracy, "test_accuracy_percent": 100 * self.test_accuracy,
                "n_seeds_tried": len(self.seeds_tried), "n_seeds_perfect": self.n_perfect,
                "success_rate_percent": 100 * self.n_perfect / len(self.seeds_tried),
                "first_seed_train_accuracy_percent": 100 * first["train_accuracy"],
                "first_seed_test_accuracy_percent": 100 * first["test_accuracy"],
                "seeds_text": seeds_text(self),
                "seeds_tried": self.seeds_tried, "paper_test_accuracy": self.paper_test_accuracy}


def train_task(
    task: str,
    *,
    seeds: Sequence[int],
    epochs: int = 100,
    n_train: int = 1000,
    n_test: int = 150,
    data_seed: int = 0,
    hp: Hyperparameters = BOOLEAN_TABLE1,
    dtype: torch.dtype = torch.float64,
    backend: str = "auto",
) -> TaskResult:
    """Train 2-h-2 networks on ``task`` for the seeds in order until one is perfect on the training set (§3.1).

    The training and test examples are drawn once from ``data_seed`` (different streams) and shared by
    all seeds; a seed sets the initial weights and the order of the examples. :func:`spikelib.alpha.fit`
    keeps each run's best epoch by training accuracy (the paper has no validation set for these tasks).
    """
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed to train")
    x_train, y_train = boolean_task(task, n_train, seed=data_seed, dtype=dtype)
    x_test, y_test = boolean_task(task, n_test, seed=data_seed + 1_000_003, dtype=dtype)
    best, tried = None, []
    for seed in seeds:
        t0 = time.perf_counter()
        net = hp.network(2, 2, seed=int(seed), dtype=dtype)
        run = fit(net, (x_train, y_train), config=hp, epochs=epochs, seed=int(seed), backend=backend)
        train_acc = evaluate(net, x_train, y_train)["accuracy"]
        test_acc = evaluate(net, x_test, y_test)["accuracy"]
        tried.append({"seed": int(seed), "train_accuracy": train_acc, "test_accuracy": test_acc,
                      "best_epoch": run["best"]["epoch"], "seconds": time.perf_counter() - t0})
        if best is None or train_acc > best[1]:
            best = (net, train_acc, test_acc, int(seed))
        if train_acc == 1.0:
            break
    net, train_acc, test_acc, seed = best
    return TaskResult(task, net, seed, train_acc, test_acc, tried, (x_test, y_test))


@torch.no_grad()
def class_map(net: AlphaNetwork, n: int = 200, lo: float = 0.0, hi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The predicted class over an n x n grid of input spike times (Fig. 3); -1 where no output spikes.

    Returns (grid (n,), classes (n, n)) with ``classes[i, j]`` the class for inputs (grid[j], grid[i]).
    """
    grid = torch.linspace(lo, hi, n, dtype=net.dtype)
    t2, t1 = torch.meshgrid(grid, grid, indexing="ij")
    classes = predict(net(torch.stack([t1.reshape(-1), t2.reshape(-1)], dim=1)))
    return grid, classes.reshape(n, n)


def seeds_text(result: TaskResult) -> str:
    """What the restarts took, for the page and the scorecard: ``"1 of 2 seeds perfect on training; first
    seed (no restarts): test 51.3 %"``."""
    n = len(result.seeds_tried)
    return (f"{result.n_perfect} of {n} seed{'s' if n > 1 else ''} perfect on training; first seed (no restarts): "
            f"test {100 * result.first_seed_test_accuracy:.1f} %")


# ---------------------------------------------------------------------------------- MNIST training


def encode(images: np.ndarray, labels: np.ndarray, n: int, *, device: str | torch.device = "cpu",
           dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` MNIST ``images`` as input spike times ``t = 1 - p / 256`` (§2.3; computed in float32,
    then cast to ``dtype``) and their labels (int64), on ``device``."""
    return (latency(images[:n]).to(device=device, dtype=dtype),
            torch.tensor(labels[:n], dtype=torch.long, device=device))


def test_metrics(x_test: torch.Tensor, y_test: torch.Tensor):
    """The per-epoch metrics of the MNIST training runs, for ``fit(epoch_metrics=...)``: Fig. 5's spike
    timing (its caption: "All statistics are shown for the test set") with ``test_accuracy`` and
    ``test_loss``, from one forward pass over the test images."""
    from spikelib.alpha.analysis import spike_timing

    def metrics(net: AlphaNetwork) -> dict:
        m = spike_timing(net, x_test, labels=y_test)
        acc, loss = m.pop("accuracy"), m.pop("loss")
        return {**m, "test_accuracy": acc, "test_loss": loss}

    return metrics


def run_entry(r: Mapping[str, Any]) -> dict:
    """The results-record entry of one training run of the MNIST page: ``r`` holds ``epochs``, ``n_train``,
    ``run`` (what :func:`spikelib.alpha.fit` returned), ``train`` and ``test`` (:func:`spikelib.alpha.evaluate`),
    ``wall_s`` and ``hp`` (the :class:`~spikelib.alpha.Hyperparameters`)."""
    return {"epochs": r["epochs"], "n_train": r["n_train"], "best_epoch": r["run"]["best"]["epoch"],
            "train_accuracy_percent": 100 * r["train"]["accuracy"], "test_accuracy_percent": 100 * r["test"]["accuracy"],
            "train_loss": r["train"]["loss"], "test_loss": r["test"]["loss"], "wall_seconds": r["wall_s"],
            # chosen on the test set: how the paper words its result ("reached a maximum accuracy"), shown as such
            "max_test_accuracy_percent": max((100 * e["test_accuracy"] for e in r["run"]["history"]
                                              if "test_accuracy" in e), default=None),
            "history": r["run"]["history"], "hyperparameters": {**r["hp"].__dict__, "n_hidden": list(r["hp"].n_hidden)}}


def fast_regime_switch(history: Sequence[Mapping[str, Any]]) -> int | None:
    """The first epoch (counted from 1) whose record says ``fast_regime`` (§3.2, Fig. 5); None if none does."""
    return next((e["epoch"] + 1 for e in history if e["fast_regime"]), None)


def draw_learning_dynamics(axes: Sequence[Any], history: Sequence[Mapping[str, Any]], *, title: str,
                           colors: Sequence[str]) -> None:
    """Fig. 5 for one training run, into three matplotlib axes (top to bottom): accuracy per epoch (test,
    or validation where a run has one, and running training), the mean spike times of the hidden and output
    layers and the first output spike (:func:`spikelib.alpha.analysis.spike_timing`), and the pulse times; epochs in the fast
    regime are shaded."""
    C = colors
    ep = [e["epoch"] + 1 for e in history]
    ax = axes[0]
    held_out = "test_accuracy" if "test_accuracy" in history[0] else "val_accuracy"  # the paper's Fig. 5: test set
    ax.plot(ep, [100 * e[held_out] for e in history], "o-", color=C[0], label=held_out.split("_")[0])
    ax.plot(ep, [100 * e["train_accuracy_running"] for e in history], "s--", color=C[1], label="training (running)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(ep, [e["mean_spike_time"][0] for e in history], "o-", color=C[2], label="hidden, mean spike")
    ax.plot(ep, [e["mean_spike_time"][1] for e in history], "s-", color=C[3], label="output, mean spike")
    ax.plot(ep, [e["first_output_spike"] for e in history], "^--", color=C[5], label="output, first spike")
    ax.set_ylabel("spike time")
    ax.legend(fontsize=8)
    ax = axes[2]
    for layer, times in enumerate(zip(*[e["pulse_times"] for e in history])):
        times = torch.tensor(times)
        for k in range(times.shape[1]):
            ax.plot(ep, times[:, k], color=C[layer % len(C)], lw=1, label=f"layer {layer + 1} pulses" if k == 0 else None)
    ax.set_ylabel("pulse time")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    for e in history:
        if e["fast_regime"]:
            for a in axes:
                a.axvspan(e["epoch"] + 0.5, e["epoch"] + 1.5, color=C[7], alpha=0.08, lw=0)


def mlp_summary(result: Mapping[str, Any]) -> dict:
    """One MLP baseline run (:func:`spikelib.ann.fit_mlp_classifier`) for the results record: its flat
    summary without the per-epoch history."""
    return {k: v for k, v in result.items() if k not in ("history", "best")}


# ---------------------------------------------------------------- reference runs (paper protocol, kept)

#: The paper's final protocol for Table 2 (§2.6.2): Table 1's hyperparameters, all 60,000 training images,
#: no validation set, 1000 epochs; three networks (seeds 0-2 here), the best one reported.
REFERENCE_EPOCHS = 1000
REFERENCE_DEVIATIONS = ("one network per seed (the paper trains three and reports the best); float32 on a "
                        "CPU with the C training epoch; Fig. 5's statistics on the 10,000 test images every epoch")


def reference_runs() -> list[dict]:
    """The kept paper-protocol configurations of the MNIST training page, in order of value: ``name``,
    ``settings`` (what the run depends on), ``epochs`` and ``deviations`` from the paper."""
    return [{"name": f"table1-seed{seed}", "epochs": REFERENCE_EPOCHS, "deviations": REFERENCE_DEVIATIONS,
             "settings": {"hyperparameters": "MNIST_TABLE1", "n_train": 60000, "n_test": 10000, "seed": seed,
                          "dtype": "float32", "epochs": REFERENCE_EPOCHS}}
            for seed in range(3)]


def reference_train(settings: Mapping[str, Any], *, epochs: int, checkpoint: Path,
                    on_epoch=None) -> dict:
    """Train (or resume, from ``checkpoint``) one :func:`reference_runs` configuration up to ``epochs``
    epochs; return its :func:`run_entry` once ``epochs`` is the configuration's last, else None. Every
    epoch records the test accuracy and Fig. 5's statistics from one pass over the test images."""
    from spikelib.alpha import training

    hp = getattr(training, settings["hyperparameters"])
    dt = getattr(torch, settings["dtype"])
    train = encode(*data.load_mnist("train"), settings["n_train"], dtype=dt)
    test = encode(*data.load_mnist("test"), settings["n_test"], dtype=dt)

    t0 = time.perf_counter()
    net = hp.network(784, 10, seed=settings["seed"], dtype=dt)
    run = fit(net, train, None, hp, epochs=epochs, seed=settings["seed"], checkpoint=checkpoint,
              on_epoch=on_epoch, epoch_metrics=test_metrics(*test))
    if epochs < settings["epochs"]:
        return None
    return run_entry({"epochs": epochs, "n_train": settings["n_train"], "run": run, "hp": hp,
                      "train": evaluate(net, *train), "test": evaluate(net, *test),
                      "wall_s": time.perf_counter() - t0})


def reference_record(entries: Mapping[str, Mapping[str, Any]]) -> dict:
    """The page's results record from the finished reference configurations: ``table2_trained.table1`` is
    the best network by its maximum test accuracy over epochs (how the paper reports its best of three)."""
    table1 = [e for name, e in entries.items() if name.startswith("table1-")]
    if not table1:
        return {}
    best = max(table1, key=lambda e: e["max_test_accuracy_percent"] or 0.0)
    return {"table2_trained": {"table1": best},
            "fast_regime_from_epoch": {"Table 1": fast_regime_switch(best["history"])},
            "networks": len(table1)}


def kept_reference() -> dict | None:
    """The kept paper-protocol record of the MNIST training page (``book/paper_runs/``), or None."""
    from spikelib import results

    return results.kept_paper_run("alpha_mnist_training")


def kept_table2_row(kept: Mapping[str, Any]) -> str:
    """The Table-2 row of the kept paper-protocol run, in the page's columns."""
    r, prov = kept["results"]["table2_trained"]["table1"], kept["provenance"]
    from spikelib import results

    return (f"| Table 1, kept paper-protocol run (best of {kept['results']['networks']} network(s); "
            f"{results.commits_label(prov)}, {prov['date'][:10]}) | paper | {r['n_train']} | {r['epochs']} "
            f"(kept {r['best_epoch'] + 1}) | {r['train_accuracy_percent']:.2f} | {r['test_accuracy_percent']:.2f} "
            f"| {r['max_test_accuracy_percent']:.2f} | {r['test_loss']:.4f} |")
