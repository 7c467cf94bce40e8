"""spikelib.experiments.comsa_alpha: the paper's numbers, the published network files, the helpers of the
alpha pages (the Boolean protocol itself: tests/test_alpha_boolean.py)."""

import math

import numpy as np
import pytest
import torch

from spikelib import papers
from spikelib.alpha import BOOLEAN_TABLE1, MNIST_README, evaluate, fit, load_published_network, spike_times
from spikelib.alpha.analysis import Accuracy
from spikelib.encoding import latency
from spikelib.experiments import comsa_alpha as ca


def test_paper_numbers_come_from_paper_values():
    assert set(ca.TABLE2_ACCURACY) == set(ca.TABLE2_LOSS) == {(n, s) for n in ("slow", "fast") for s in ("test", "train")}
    for (net, split), value in ca.TABLE2_ACCURACY.items():
        assert value == papers.value(f"alpha.table2.published.{net}.{split}_accuracy")
        assert ca.TABLE2_LOSS[net, split] == papers.value(f"alpha.table2.published.{net}.{split}_loss")
    assert ca.MLP_BEST_TEST_ACCURACY == papers.value("alpha.mlp.best_test_accuracy")
    assert ca.FIG1B["t_out_paper"] == papers.value("alpha.fig1b.spike_time")
    for task in ("and", "or", "xor", "circles", "XOR"):
        assert ca.boolean_paper_accuracy(task) == 1.0  # §3.1: 100 % on every task, as a fraction
    with pytest.raises(ValueError, match="unknown task"):
        ca.boolean_paper_accuracy("nand")


def test_paper_count_and_match():
    assert ca.paper_count(97.96, 10000) == 9796
    assert ca.paper_count(99.9633, 60000) == 59978  # 59977.98: the paper rounds to 4 decimals
    assert ca.paper_count(99.885, 60000) == 59931
    assert ca.matches_paper(Accuracy(9740, 10000), 97.40)
    assert not ca.matches_paper(Accuracy(9741, 10000), 97.40)


def test_match_text_and_table2_entry():
    assert ca.match_text(Accuracy(9740, 10000), 97.40, 10000) == "yes (9740 vs 9740)"
    assert ca.match_text(Accuracy(9741, 10000), 97.40, 10000) == "**no** (9741 vs 9740)"
    assert ca.match_text(Accuracy(490, 500), 97.40, 10000) == "not comparable (500 of 10000 images)"
    full = ca.table2_entry(("fast", "test"), Accuracy(9740, 10000, 1976.8), 10000, 1.5)
    assert full == {"network": "fast", "split": "test", "correct": 9740, "n": 10000, "accuracy_percent": 97.4,
                    "mean_loss": pytest.approx(0.19768), "paper_mean_loss": ca.TABLE2_LOSS["fast", "test"],
                    "paper_percent": ca.TABLE2_ACCURACY["fast", "test"], "paper_count": 9740,
                    "matches_paper": True, "eval_seconds": 1.5}
    part = ca.table2_entry(("slow", "train"), Accuracy(499, 500, 1.0), 60000, 0.1)
    assert part["paper_count"] is None and part["matches_paper"] is None and part["accuracy_percent"] == 99.8


def test_fig1b_example_spikes_at_the_papers_time():
    ex = ca.FIG1B
    t = torch.tensor(ex["t_in"], dtype=torch.float64).unsqueeze(0)
    w = torch.tensor(ex["w"], dtype=torch.float64).unsqueeze(1)
    t_out = float(spike_times(t, w, ex["tau"], ex["theta"])[0, 0])
    assert round(t_out, 2) == ex["t_out_paper"]
    assert t_out == pytest.approx(18.63574, abs=1e-5)  # the authors' code (reference notes)
    assert math.isinf(float(spike_times(t, w, ex["tau"], 1.0)[0, 0]))


def test_published_network_path(shared_dir, monkeypatch, tmp_path):
    folder = shared_dir / "reference" / "comsa2021-mnist-networks"
    if not (folder / "slow_network").is_file():
        pytest.skip("published networks not in the shared folder")
    monkeypatch.delenv("SPIKELIB_SHARED", raising=False)
    path = ca.published_network_path("slow")
    assert path.resolve() == (folder / "slow_network").resolve()
    assert load_published_network(path).sizes == (784, 340, 10)
    with pytest.raises(ValueError, match="slow, fast"):
        ca.published_network_path("medium")
    monkeypatch.setenv("SPIKELIB_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SPIKELIB_SHARED"):
        ca.published_network_path("fast")
    monkeypatch.setenv("SPIKELIB_SHARED", str(shared_dir))
    assert ca.published_network_path("fast").name == "fast_network"


def test_seeds_text_counts_the_perfect_seeds_and_gives_the_first_seeds_test_accuracy():
    tried = [{"train_accuracy": 0.9, "test_accuracy": 0.5133}, {"train_accuracy": 1.0, "test_accuracy": 0.98},
             {"train_accuracy": 1.0, "test_accuracy": 0.99}]
    r = ca.TaskResult("xor", None, 2, 1.0, 0.99, tried, None)
    assert ca.seeds_text(r) == "2 of 3 seeds perfect on training; first seed (no restarts): test 51.3 %"
    s = r.summary()
    assert s["paper_test_accuracy"] == 1.0 and s["n_seeds_tried"] == 3 and s["n_seeds_perfect"] == 2
    assert s["success_rate_percent"] == pytest.approx(200 / 3)
    assert s["first_seed_test_accuracy_percent"] == pytest.approx(51.33)
    assert s["first_seed_train_accuracy_percent"] == pytest.approx(90.0) and s["seeds_text"] == ca.seeds_text(r)
    one = ca.TaskResult("and", None, 0, 1.0, 1.0, [{"train_accuracy": 1.0, "test_accuracy": 1.0}], None)
    assert ca.seeds_text(one) == "1 of 1 seed perfect on training; first seed (no restarts): test 100.0 %"


def test_encode_casts_after_the_float32_latency_code():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 3, 3), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    x, y = ca.encode(images, labels, 3, dtype=torch.float64)
    assert x.shape == (3, 9) and x.dtype == torch.float64 and y.dtype == torch.long
    assert torch.equal(x, latency(images[:3]).double())  # float32 code, then cast (as the page always did)
    assert y.tolist() == [0, 1, 2]


def test_run_entry_and_fast_regime_switch():
    from spikelib.tasks import boolean_task

    x, y = boolean_task("or", 20, seed=0)
    hp = BOOLEAN_TABLE1
    net = hp.network(2, 2, seed=0, dtype=torch.float64)
    run = fit(net, (x, y), (x, y), hp, epochs=2, seed=0)
    r = {"epochs": 2, "n_train": 20, "run": run, "train": evaluate(net, x, y), "test": evaluate(net, x, y),
         "wall_s": 0.5, "hp": hp}
    e = ca.run_entry(r)
    assert e["best_epoch"] == run["best"]["epoch"] and e["history"] is run["history"]
    assert e["train_accuracy_percent"] == 100 * r["train"]["accuracy"] and e["wall_seconds"] == 0.5
    assert e["hyperparameters"]["n_hidden"] == [2] and e["hyperparameters"]["batch_size"] == hp.batch_size
    assert ca.run_entry({**r, "hp": MNIST_README})["hyperparameters"]["n_hidden"] == [340]
    assert e["max_test_accuracy_percent"] is None  # no epoch recorded a test accuracy
    tested = fit(hp.network(2, 2, seed=0, dtype=torch.float64), (x, y), None, hp, epochs=2, seed=0,
                 epoch_metrics=lambda n_: {"test_accuracy": evaluate(n_, x, y)["accuracy"]})
    per_epoch = [100 * h["test_accuracy"] for h in tested["history"]]
    assert ca.run_entry({**r, "run": tested})["max_test_accuracy_percent"] == max(per_epoch)
    history = [{"epoch": 0, "fast_regime": False}, {"epoch": 1, "fast_regime": True}, {"epoch": 2, "fast_regime": True}]
    assert ca.fast_regime_switch(history) == 2
    assert ca.fast_regime_switch(history[:1]) is None


def test_draw_learning_dynamics_plots_every_series():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [{"epoch": e, "val_accuracy": 0.1 * e, "train_accuracy_running": 0.2, "mean_spike_time": [1.0 + e, 2.0],
                "first_output_spike": 1.5, "pulse_times": [[0.1, 0.2], [0.3]], "fast_regime": e == 1}
               for e in range(3)]
    fig, axes = plt.subplots(3, 1)
    ca.draw_learning_dynamics(axes, history, title="t", colors=["C0"] * 8)
    assert [len(ax.lines) for ax in axes] == [2, 3, 3]  # 2 pulses of layer 1 and 1 of layer 2
    assert axes[0].lines[0].get_ydata().tolist() == pytest.approx([0.0, 10.0, 20.0])
    assert axes[1].lines[0].get_ydata().tolist() == [1.0, 2.0, 3.0]
    assert axes[2].lines[2].get_ydata().tolist() == pytest.approx([0.3] * 3)
    assert all(len(ax.patches) == 1 for ax in axes)  # the one fast-regime epoch, shaded in every panel
    assert axes[0].get_title() == "t"
    plt.close(fig)


def test_mlp_summary_drops_history_and_best():
    assert ca.mlp_summary({"history": [1], "best": {"epoch": 0}, "seed": 3, "test_accuracy": 0.5}) == {
        "seed": 3, "test_accuracy": 0.5}
