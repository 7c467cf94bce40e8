"""The Boolean protocol of §3.1 (spikelib.experiments.comsa_alpha) and analysis.deep_dream (§2.7)."""

import pytest
import torch

from spikelib.alpha import BOOLEAN_TABLE1, AlphaNetwork, analysis, predict
from spikelib.experiments import comsa_alpha

# A faster-learning variant of the Table 1 defaults, so that a test run takes seconds.
FAST = BOOLEAN_TABLE1.replace(learning_rate=0.075, learning_rate_pulses=0.024, fire_threshold=0.7,
                              decay_constant=0.5, nonpulse_weight_mean_multiplier=2.0)


def test_train_task_stops_at_the_first_perfect_seed_and_keeps_the_best():
    r = comsa_alpha.train_task("or", seeds=range(5), epochs=6, n_train=200, n_test=100, hp=FAST)
    accs = [s["train_accuracy"] for s in r.seeds_tried]
    assert r.train_accuracy == max(accs)
    assert r.seed == r.seeds_tried[accs.index(max(accs))]["seed"]
    # it stops at the first perfect seed, and only then
    assert all(a < 1.0 for a in accs[:-1])
    assert len(accs) == 5 or accs[-1] == 1.0
    assert r.train_accuracy >= 0.95, r.seeds_tried  # OR is easy: the training worked
    x_test, y_test = r.test
    assert len(x_test) == 100
    assert r.test_accuracy == pytest.approx(float((predict(r.net(x_test)) == y_test).double().mean()))
    s = r.summary()
    assert s["n_seeds_tried"] == len(accs) and s["paper_test_accuracy"] == 1.0
    assert r.paper_test_accuracy == 1.0
    assert comsa_alpha.seeds_text(r).startswith(f"{sum(a == 1.0 for a in accs)} of {len(accs)} seed")
    assert s["first_seed_test_accuracy_percent"] == 100 * r.seeds_tried[0]["test_accuracy"]
    assert s["n_seeds_perfect"] == (accs[-1] == 1.0)  # it stops at the first perfect seed


def test_train_task_rejects_no_seeds():
    with pytest.raises(ValueError, match="seeds"):
        comsa_alpha.train_task("and", seeds=[], epochs=1)


def test_class_map_agrees_with_the_network():
    net = FAST.network(2, 2, seed=3, dtype=torch.float64)
    grid, classes = comsa_alpha.class_map(net, 7)
    assert grid.shape == (7,) and classes.shape == (7, 7)
    i, j = 2, 5  # classes[i, j] is the class of inputs (grid[j], grid[i])
    expected = predict(net(torch.stack([grid[j], grid[i]]).unsqueeze(0)))[0]
    assert classes[i, j] == expected
    assert set(classes.unique().tolist()) <= {-1, 0, 1}


def _small_net():
    net = AlphaNetwork((6, 5, 3), n_pulses=1, tau=1.0, theta=0.5, seed=4, dtype=torch.float64,
                       nonpulse_mean_multiplier=1.0, pulse_mean_multiplier=1.0)
    return net


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_deep_dream_reaches_the_target_without_changing_the_network(optimizer):
    net = _small_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    start_class = int(predict(net(torch.zeros(1, 6, dtype=torch.float64)))[0])
    target = (start_class + 1) % 3
    d = analysis.deep_dream(net, target, lr=0.5 if optimizer == "sgd" else 0.05, patience=3, max_epochs=3000,
                            optimizer=optimizer)
    assert d.converged, (d.predicted[:5], d.predicted[-5:])
    assert d.predicted[0] == start_class and d.predicted[-3:] == [target] * 3
    assert int(predict(net(d.times.unsqueeze(0)))[0]) == target
    assert (d.times >= 0).all()
    assert d.epochs == len(d.loss) - 1
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.requires_grad for p in net.parameters())


def test_deep_dream_reports_no_convergence_and_bad_targets():
    net = _small_net()
    start_class = int(predict(net(torch.zeros(1, 6, dtype=torch.float64)))[0])
    d = analysis.deep_dream(net, (start_class + 1) % 3, lr=1e-9, max_epochs=5)
    assert not d.converged and d.epochs == 5
    with pytest.raises(ValueError, match="target"):
        analysis.deep_dream(net, 3)
    with pytest.raises(ValueError, match="optimizer"):
        analysis.deep_dream(net, 0, optimizer="lbfgs")


def test_spike_timing_by_hand():
    net = _small_net()
    x = torch.rand(7, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hidden, out = net(x, all_layers=True)
    st = analysis.spike_timing(net, x, batch_size=3)  # batches must not change the result
    fin = torch.isfinite(hidden)
    assert st["mean_spike_time"][0] == pytest.approx(float(hidden[fin].mean()))
    assert st["spiking_fraction"][0] == pytest.approx(float(fin.double().mean()))
    first = out.min(dim=1).values
    assert st["first_output_spike"] == pytest.approx(float(first[torch.isfinite(first)].mean()))
    assert st["fast_regime"] == (st["first_output_spike"] < st["mean_spike_time"][0])
