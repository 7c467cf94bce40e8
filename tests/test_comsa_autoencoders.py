"""spikelib.experiments.comsa_autoencoders: the authors' 75 sets, the data, the sweep entry point and what
the notebook reads from the sweep."""

import json
import math

import numpy as np
import pytest
import torch

from spikelib import data, papers, sweep
from spikelib.alpha import make_optimizer, spike_times
from spikelib.alpha import autoencoder as ae
from spikelib.alpha.autoencoder import evaluate_autoencoder, fit_autoencoder
from spikelib.experiments import comsa_autoencoders as cae
from spikelib.experiments.comsa_autoencoders import autoencoder_hyperparameters, load_autoencoder_hyperparameters

inf = math.inf
CSV = "reference/comsa2021-autoencoder-hyperparameters.csv"
MNIST_DIR = data.data_dir() / "mnist"


@pytest.fixture
def csv_path():
    path = data.find_shared(CSV)  # $SPIKELIB_SHARED or ../shared
    if path is None:
        pytest.skip(f"{CSV} not in the shared folder")
    return path


def _need_mnist():
    if not all((MNIST_DIR / n).is_file() for n in data.SHA256["mnist"]):
        pytest.skip(f"MNIST not cached in {MNIST_DIR}; run `python -m spikelib data`")


# ------------------------------------------------------------------------------- hyperparameter sets


def test_75_sets_cover_the_grid(csv_path):
    sets = load_autoencoder_hyperparameters(csv_path)
    assert len(sets) == 75
    assert {(s.eta, s.latency, s.hidden) for s in sets} == {
        (e, float(l), h) for e in cae.ETAS for l in cae.LATENCIES for h in cae.HIDDEN_SIZES}
    first = sets[0]  # the file's first row, by hand
    assert (first.eta, first.latency, first.n_hidden) == (0.0, 1.0, (8,))
    assert first.batch_size == 18 and isinstance(first.batch_size, int)
    assert first.decay_constant == 0.112942 and first.fire_threshold == 1.402923
    assert first.clip_derivative == 607.575441 and first.penalty_no_spike == 65.237213
    assert (first.learning_rate, first.learning_rate_pulses) == (0.002455, 0.008874)
    assert (first.nonpulse_weight_mean_multiplier, first.pulse_weight_mean_multiplier) == (-8.899169, 6.399479)
    assert first.n_pulses == 10 and isinstance(first.n_pulses, int)
    assert all(s.update_all_datapoints and not s.shared_pulses for s in sets)
    assert {s.n_pulses for s in sets} <= set(range(5, 11)) and min(s.batch_size for s in sets) == 1


def test_default_path_is_found_in_shared(csv_path):
    assert load_autoencoder_hyperparameters() == load_autoencoder_hyperparameters(csv_path)


def test_lookup(csv_path):
    s = autoencoder_hyperparameters(0.4, 16, 8)
    assert (s.eta, s.latency, s.hidden, s.n_pulses, s.batch_size) == (0.4, 16.0, 8, 5, 17)
    assert autoencoder_hyperparameters(0.1 * 6, 4, 32) is autoencoder_hyperparameters(0.6, 4.0, 32)  # 0.6000000000000001
    assert autoencoder_hyperparameters(0.0, 1, 32, sets=csv_path) == autoencoder_hyperparameters(0.0, 1, 32)
    sets = load_autoencoder_hyperparameters(csv_path)
    found = autoencoder_hyperparameters(0.8, 2, 16, sets=sets)
    assert found is sets[4 * 15 + 1 * 5 + 1] and found.batch_size == 140  # rows: eta, then h, then l
    with pytest.raises(KeyError, match=r"eta=0\.3, latency=1, hidden=8; the sets cover eta in \[0\.0, 0\.2"):
        autoencoder_hyperparameters(0.3, 1, 8)
    with pytest.raises(KeyError, match=r"hidden in \[8, 16, 32\]"):
        autoencoder_hyperparameters(0.0, 1, 64)
    with pytest.raises(KeyError, match=r"latency in \[1\.0, 2\.0, 4\.0, 8\.0, 16\.0\]"):
        autoencoder_hyperparameters(0.0, 3, 8)


def test_missing_csv_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELIB_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{CSV} not found in the shared folder.*{tmp_path}.*SPIKELIB_SHARED"):
        load_autoencoder_hyperparameters()
    with pytest.raises(FileNotFoundError):
        load_autoencoder_hyperparameters(tmp_path / "nope.csv")


def test_malformed_csv_errors(csv_path, tmp_path):
    lines = csv_path.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0].replace(",n_pulses", ""), *lines[1:3]]))
    with pytest.raises(ValueError, match="lacks the column"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace(",10,", ",ten,", 1)]))
    with pytest.raises(ValueError, match=r"line 3: column 'n_pulses' must be an integer, got 'ten'"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text("\n".join([lines[0], lines[1], lines[2], lines[1]]))
    with pytest.raises(ValueError, match=r"line 4: .* repeats line 2"):
        load_autoencoder_hyperparameters(bad)
    bad.write_text(lines[0] + "\n")
    with pytest.raises(ValueError, match="holds no hyperparameter sets"):
        load_autoencoder_hyperparameters(bad)


# --------------------------------------------------------------------------------- parameter count


def test_parameter_count_formula_holds_for_all_75_sets(csv_path):
    for s in load_autoencoder_hyperparameters(csv_path):
        net = s.network(seed=0)
        h, p = s.hidden, s.n_pulses
        assert net.sizes == (784, h, 784)
        assert net.n_parameters() == (784 + p) * h + (h + p) * 784 + 2 * p == s.n_parameters()
        assert net.n_parameters() == ae.snn_parameter_count(784, h, 784, p)
    # §2.8 by hand: h = 32 with 10 pulses vs the ANN with biases (fewer parameters, as the paper says)
    assert ae.snn_parameter_count(784, 32, 784, 10) == 794 * 32 + 42 * 784 + 20 == 58356
    assert cae.ann_parameter_count(784, 32, 784) == 50992 < 58356


def test_network_follows_the_set(csv_path):
    s = autoencoder_hyperparameters(0.0, 1, 32, sets=csv_path)
    net = s.network(seed=1, dtype=torch.float64)
    for layer in net.layers:
        assert (layer.tau, layer.theta, layer.clip_derivative) == (s.decay_constant, s.fire_threshold, s.clip_derivative)
        assert layer.n_pulses == s.n_pulses
        torch.testing.assert_close(layer.pulse_times, torch.arange(1, 11, dtype=torch.float64) / 11)
        sigma = math.sqrt(2 / (layer.n_in + layer.n_out + layer.n_pulses))
        regular = layer.weight[:layer.n_in]
        assert abs(regular.mean().item() / sigma - s.nonpulse_weight_mean_multiplier) < 0.1
        assert abs(regular.std().item() / sigma - 1) < 0.1
    assert net.layers[0].pulse_times is not net.layers[1].pulse_times  # one pulse vector per layer
    assert make_optimizer(net, s).param_groups[1]["lr"] == s.learning_rate_pulses


def test_fig1_example_neuron():
    t = torch.tensor([cae.FIG1["t_in"]], dtype=torch.float64)
    w = torch.tensor(cae.FIG1["w"], dtype=torch.float64).unsqueeze(1)
    out = spike_times(t, w, cae.FIG1["tau"], cae.FIG1["theta"]).item()
    assert out == pytest.approx(19.39435, abs=1e-5) and round(out, 2) == papers.value(cae.FIG1_PAPER_ID)


def test_smoke_training_reduces_mnist_reconstruction_error():
    """The authors' set for eta = 0, l = 1, h = 32, one epoch of 800 images: the error must fall from ~0.95
    to well below the all-silent output's (a black image, ~0.11); it reaches ~0.066."""
    _need_mnist()
    d = cae.load_autoencoder_data("mnist", eta=0.0, n_train=800, n_val=200, n_test=0)
    hp = autoencoder_hyperparameters(0.0, 1, 32)
    net = hp.network(seed=0)
    before = evaluate_autoencoder(net, d.val.x, d.val.target, hp.latency)["mse"]
    all_silent = float(ae.brightness(d.val.target).pow(2).mean())  # o = 1 everywhere
    r = fit_autoencoder(net, d.train, d.val, hp, epochs=1, seed=0)
    after = evaluate_autoencoder(net, d.val.x, d.val.target, hp.latency)["mse"]
    assert after == r["best"]["mse"]
    assert after < 0.8 * all_silent and after < 0.5 * before, (before, after, all_silent)


# -------------------------------------------------------------------------------------------- data


@pytest.fixture
def fake_mnist(monkeypatch):
    """A 60,000 / 10,000-image stand-in for MNIST: image i has pixel 0 = i % 256, pixel 1 = 255, rest 0."""
    def load(split="train"):
        n = 60000 if split == "train" else 10000
        img = np.zeros((n, 2, 2), dtype=np.uint8)
        img[:, 0, 0] = np.arange(n) % 256
        img[:, 0, 1] = 255
        img[:, 1, 0] = 128
        return img, (np.arange(n) % 10).astype(np.int64) + (0 if split == "train" else 100)

    monkeypatch.setitem(cae._LOADERS, "mnist", load)
    return load


def test_data_splits_and_noise(fake_mnist):
    d = cae.load_autoencoder_data("mnist", eta=0.0, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert d.train.x.shape == (100, 4) and d.val.x.shape == (50, 4) and d.test.x.shape == (20, 4)
    assert torch.equal(d.train.x, d.train.target)  # eta = 0: inputs are the clean times
    assert d.train.target[:, 1].eq(1 / 256).all() and d.train.target[:, 3].isinf().all()  # bright ink / black
    assert d.test.labels.tolist() == [100 + i % 10 for i in range(20)]
    perm = np.random.default_rng(0).permutation(60000)
    assert d.train.labels.tolist() == (perm[:100] % 10).tolist()  # the shuffled 54,000 / 6,000 split
    assert d.val.labels.tolist() == (perm[54000:54050] % 10).tolist()
    noisy = cae.load_autoencoder_data("mnist", eta=0.4, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert torch.equal(noisy.train.target, d.train.target)  # targets stay clean
    assert torch.equal(noisy.train.labels, d.train.labels)  # same images for every eta
    t = torch.where(noisy.train.x.isinf(), 1.0, noisy.train.x)
    assert (t >= d.train.target.nan_to_num(posinf=1.0) - 0.4 * 5).all() and (t <= 1).all()
    assert noisy.train.x.isinf().float().mean() > 0.4  # mean-1 noise pushes pixels towards silence
    twice = cae.load_autoencoder_data("mnist", eta=0.4, n_train=100, n_val=50, n_test=20, dtype=torch.float64)
    assert torch.equal(twice.train.x, noisy.train.x)  # drawn from the seed, once


def test_representations_agree(fake_mnist):
    kw = dict(eta=0.0, n_train=30, n_val=10, n_test=10, dtype=torch.float64)
    times = cae.load_autoencoder_data("mnist", **kw).train
    inv = cae.load_autoencoder_data("mnist", representation="inverted", **kw).train
    reg = cae.load_autoencoder_data("mnist", representation="regular", **kw).train
    torch.testing.assert_close(inv.target, torch.where(times.target.isinf(), 1.0, times.target))
    torch.testing.assert_close(reg.target, 1 - inv.target)
    noisy = cae.load_autoencoder_data("mnist", representation="regular", **{**kw, "eta": 0.5}).train
    assert noisy.x.isfinite().all() and (noisy.x >= 0).all() and (noisy.x <= 1).all()
    assert abs(float((noisy.x - reg.target).mean())) < 0.1  # zero-mean noise for the usual images


def test_mean_image_error_by_hand(fake_mnist):
    # only pixel 0 varies (p = i % 256; 0 is silent, read as 1); the other three are the same in every image
    def t0(p):
        return np.where(p == 0, 1.0, 1 - p / 256)

    train_p = np.random.default_rng(0).permutation(60000)[:300] % 256  # the shuffled 54,000 split
    test_p = np.arange(40) % 256
    expected = np.mean((t0(train_p).mean() - t0(test_p)) ** 2) / 4
    assert cae.mean_image_error("mnist", n_train=300, n_test=40) == pytest.approx(expected, rel=1e-12)


def test_data_errors(fake_mnist):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; use 'mnist' or 'fmnist'"):
        cae.load_autoencoder_data("cifar")
    with pytest.raises(ValueError, match="representation must be one of"):
        cae.load_autoencoder_data("mnist", representation="rate")
    with pytest.raises(ValueError, match=r"n_val must be in \[0, 6000\]"):
        cae.load_autoencoder_data("mnist", n_val=7000)
    assert cae.dataset_name("Fashion-MNIST") == cae.dataset_name("fashion") == "fmnist"


def test_svm_accuracy_on_separable_features():
    g = np.random.default_rng(0)
    x = np.r_[g.normal(0, 0.3, (40, 2)), g.normal(3, 0.3, (40, 2))]
    y = np.r_[np.zeros(40), np.ones(40)]
    assert cae.svm_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0


# ------------------------------------------------------------------------------------------- sweep


def test_config_errors():
    with pytest.raises(ValueError, match="missing latency"):
        cae._check_config({"dataset": "mnist", "eta": 0.0, "hidden": 8})
    with pytest.raises(ValueError, match="unknown for model 'ann': latency"):
        cae._check_config({"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8, "latency": 1})
    with pytest.raises(ValueError, match="model must be 'snn' or 'ann'"):
        cae._check_config({"model": "lif", "dataset": "mnist", "eta": 0.0, "hidden": 8})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        cae._check_config({"dataset": "mnist", "eta": 0.0, "hidden": 8, "latency": 1, "epochs": 0})
    with pytest.raises(ValueError, match="encoder-decoder"):
        cae._check_config({"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8, "activation": "relu"})
    cfg = cae._check_config({"model": "ann", "dataset": "fashion", "eta": 0.0, "hidden": 8})
    assert cfg == {"model": "ann", "dataset": "fmnist", "eta": 0.0, "hidden": 8, "activation": "relu-sigmoid",
                   "inverted": False}


def test_by_expected_cost():
    configs = [{"model": "ann", "dataset": "mnist", "eta": 0.0, "hidden": 8},
               {"dataset": "mnist", "eta": 0.8, "latency": 1, "hidden": 32},  # batch 107
               {"dataset": "mnist", "eta": 0.8, "latency": 1, "hidden": 8},  # batch 1
               {"dataset": "mnist", "eta": 0.0, "latency": 16, "hidden": 32, "epochs": 16}]  # batch 27
    # in the C epoch an image costs about the same at every batch size: epochs decide, small batches break ties
    # batch 27 x 16 epochs > batch 1 x 4 epochs > batch 107 x 4 epochs > an ANN
    assert cae.by_expected_cost(configs, epochs=4) == [configs[3], configs[2], configs[1], configs[0]]
    assert cae.by_expected_cost(configs, epochs=16)[:2] == [configs[2], configs[3]]
    assert cae.by_expected_cost(configs, epochs=1)[0] is configs[3]


def test_sweep_round_trip_at_smoke_scale(tmp_path):
    _need_mnist()
    from spikelib.scales import settings

    s = settings("spiking_autoencoders", "smoke")
    configs = [{"model": "snn", "dataset": "mnist", "eta": 0.2, "latency": 1, "hidden": 16},
               {"model": "ann", "dataset": "mnist", "eta": 0.2, "hidden": 16, "activation": "gaussian-gaussian",
                "inverted": True}]
    progress = []
    records = sweep.run_sweep(cae.train_autoencoder_config, configs, tmp_path, workers=1, common={"scale": "smoke"},
                              on_progress=lambda *a: progress.append(a))
    assert len(progress) == 2 and [r["status"] for r in records] == ["ok", "ok"]
    snn, ann_ = (r["results"] for r in records)
    assert snn["epochs"] == ann_["epochs"] == s["epochs"] and snn["n_train"] == s["n_train"]
    assert snn["n_parameters"] == ae.snn_parameter_count(784, 16, 784, 9)
    assert ann_["n_parameters"] == cae.ann_parameter_count(784, 16, 784)
    assert ann_["representation"] == "inverted" and snn["representation"] == "times"
    assert 0 <= snn["svm_accuracy"] <= 1 and 0 < snn["test_mse"] < 5 and 0 < ann_["test_mse"] < 1
    json.dumps(records)  # plain JSON
    for r in records:
        path = tmp_path / r["results"]["artifacts"]
        assert path.name == f"{r['key']}.npz" and path.is_file()
        assert not (tmp_path / f"{r['key']}.ckpt").exists()  # the sweep removes checkpoints of finished configs
        model, arrays = cae.load_trained_autoencoder(path)
        assert arrays["config"]["model"] == r["config"]["model"]
        assert arrays["reconstructions"].shape == (s["n_examples"], 784)
        assert arrays["test_embeddings"].shape == (s["n_test"], 16) and arrays["test_labels"].shape == (s["n_test"],)
        x = torch.from_numpy(arrays["inputs"])
        again = ae.reconstruct(model, x, 1.0) if r["config"]["model"] == "snn" else model(x).detach()
        np.testing.assert_array_equal(again.numpy(), arrays["reconstructions"])  # the selected weights were saved
    assert not list(tmp_path.glob(".*tmp"))
    # a second call recomputes nothing and returns the same records
    again = sweep.run_sweep(cae.train_autoencoder_config, configs, tmp_path, workers=1, common={"scale": "smoke"},
                            on_progress=lambda *a: progress.append(a))
    assert len(progress) == 2 and again == records
    rows = sweep.summary(tmp_path, ["model", "eta", "hidden", "test_mse", "svm_accuracy"])
    assert [row["model"] for row in rows] == ["ann", "snn"]


# ---------------------------------------------------------------------------- reading the sweep


def _rec(key, **config):
    return {"key": key, "config": config, "results": {}}


RECORDS = [
    _rec("a", model="snn", dataset="mnist", eta=0.0, latency=1, hidden=32),
    _rec("b", model="snn", dataset="mnist", eta=0.0, latency=16, hidden=32, epochs=16),
    _rec("c", model="snn", dataset="fmnist", eta=0.2, latency=1, hidden=32),
    _rec("d", model="ann", dataset="mnist", eta=0.0, hidden=32, activation="relu-sigmoid", inverted=False),
    _rec("e", model="ann", dataset="mnist", eta=0.0, hidden=32, activation="gaussian-gaussian", inverted=True),
    _rec("f", model="ann", dataset="fmnist", eta=0.2, hidden=8),  # defaults: relu-sigmoid, not inverted
]


def test_find_config():
    find = lambda *a, **k: (r := cae.find_config(RECORDS, *a, **k)) and r["key"]  # noqa: E731
    assert find() == "a" and find(latency=16) == "b" and find("snn", "fashion", 0.2) == "c"
    assert find("snn", "mnist", 0.2) is None and find(latency=2) is None and find(hidden=8) is None
    assert find("ann") == "d" and find("ann", activation="gaussian-gaussian", inverted=True) == "e"
    assert find("ann", activation="gaussian-gaussian") is None  # not inverted: no such record
    assert find("ann", "fmnist", 0.2, 8) == "f" and find("ann", "fmnist", 0.2, 8, inverted=True) is None
    assert find("ann", eta=0.6 / 3, dataset="fmnist", hidden=8) == "f"  # 0.19999999999999998
    assert cae.find_config(RECORDS, latency=1.0) is RECORDS[0]
    with pytest.raises(ValueError, match="2 records match"):
        cae.find_config(RECORDS + [RECORDS[0]])


def test_trained_autoencoders_reads_each_file_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cae, "load_trained_autoencoder", lambda path: calls.append(path) or ("net", {"p": path}))
    loaded = cae.TrainedAutoencoders(tmp_path)
    first = loaded(RECORDS[0])
    assert first == ("net", {"p": tmp_path / "a.npz"}) and loaded(RECORDS[0]) is first
    loaded(RECORDS[1])
    assert calls == [tmp_path / "a.npz", tmp_path / "b.npz"]


def test_expected_parameter_count():
    assert cae.expected_parameter_count(RECORDS[0]["config"], 10) == (784 + 10) * 32 + (32 + 10) * 784 + 20
    assert cae.expected_parameter_count(RECORDS[5]["config"]) == 784 * 8 + 8 + 8 * 784 + 784
    with pytest.raises(ValueError, match="n_pulses"):
        cae.expected_parameter_count(RECORDS[0]["config"])


def test_distinct_class_items():
    labels = np.array([3, 3, 1, 3, 7, 1, 0, 2])
    assert cae.distinct_class_items(labels, 4) == [0, 2, 4, 6]
    assert cae.distinct_class_items(labels, 2) == [0, 2]
    assert cae.distinct_class_items([5, 5, 5, 6], 4) == [0, 3, 1, 2]  # two classes: filled with the first others
    assert cae.distinct_class_items([1], 4) == [0]


def test_central_bright_pixel():
    t = np.ones(784)
    t[0] = 0.05  # bright but in the corner
    assert cae.central_bright_pixel(t) == 0
    t[13 * 28 + 15] = 0.0  # bright, two columns from the centre row's middle
    t[14 * 28 + 14] = 0.09  # bright and nearest the centre (13.5, 13.5)
    assert cae.central_bright_pixel(t) == 14 * 28 + 14
    dim = np.full(784, 0.5)
    dim[100] = 0.2  # nothing below 0.1: the earliest pixel
    assert cae.central_bright_pixel(torch.from_numpy(dim)) == 100
    assert cae.central_bright_pixel(np.array([0.5, 0.05, 0.05, 0.5]), side=2) == 1  # a tie: the first


def test_activation_pair_matrix():
    m = cae.activation_pair_matrix({("relu", "sigmoid"): 0.1, ("tanh", "relu"): 0.3}, ("relu", "sigmoid", "tanh"))
    assert m.shape == (3, 3) and m[0, 1] == 0.1 and m[2, 0] == 0.3 and np.isnan(m).sum() == 7


def test_quick_grid_keeps_every_figure_point_once():
    """quick trains fewer configurations for longer (#18), but each of Fig. 3's curves keeps all five noise
    levels at both embedding sizes (MNIST) and at h = 32 (FMNIST), each configuration exactly once, and every
    spiking network gets at least the ANN's epochs."""
    from spikelib import scales

    s = scales.settings("spiking_autoencoders", "quick", page=False)
    snn = [c for g in s["snn_grids"] for c in sweep.grid(**g)]
    keys = [(c["dataset"], c["eta"], c["latency"], c["hidden"]) for c in snn]
    assert len(keys) == len(set(keys))
    etas = [0.0, 0.2, 0.4, 0.6, 0.8]
    for dataset, hidden in (("mnist", 8), ("mnist", 32), ("fmnist", 32)):
        assert sorted(e for d, e, l, h in keys if (d, l, h) == (dataset, 1, hidden)) == etas
    assert ("mnist", 0.0, 16, 32) in keys
    assert all(c.get("epochs", s["epochs"]) >= s["epochs"] for c in snn)
    ann = {(c["dataset"], c["eta"], c["hidden"]) for g in s["ann_grids"] for c in sweep.grid(**g)
           if not c["inverted"]}
    assert {(d, e, h) for d, e, l, h in keys if l == 1} <= ann


# ---------------------------------------------------------------------------- Fig. 3 on the page


def _fig3_records():
    def r(key, mse, **config):
        return {"key": key, "config": config, "results": {"test_mse": mse}}

    return [r("s0", 0.030, model="snn", dataset="mnist", eta=0.0, latency=1, hidden=32),
            r("s2", 0.060, model="snn", dataset="mnist", eta=0.2, latency=1, hidden=32),
            r("s16", 0.001, model="snn", dataset="mnist", eta=0.0, latency=16, hidden=32),  # not Fig. 3's l
            r("a0", 0.020, model="ann", dataset="mnist", eta=0.0, hidden=32),
            r("ai", 0.002, model="ann", dataset="mnist", eta=0.0, hidden=32, inverted=True),  # not Fig. 3's images
            r("f8", 0.080, model="ann", dataset="fmnist", eta=0.4, hidden=8)]


def test_fig3_points_and_ratios():
    from spikelib.experiments import comsa_autoencoders_report as car

    fig3 = car.fig3_points(_fig3_records())
    assert fig3 == {("mnist", "snn", 32): [(0.0, 0.030), (0.2, 0.060)], ("mnist", "ann", 32): [(0.0, 0.020)],
                    ("fmnist", "ann", 8): [(0.4, 0.080)]}
    assert list(fig3) == [("mnist", "snn", 32), ("mnist", "ann", 32), ("fmnist", "ann", 8)]
    assert car.snn_over_ann(fig3) == {("mnist", 32, 0.0): pytest.approx(1.5)}
    assert car.fig3_points([]) == {} and car.snn_over_ann({}) == {}


def test_fig3_markdown(monkeypatch):
    from spikelib.experiments import comsa_autoencoders_reference as cref
    from spikelib.experiments import comsa_autoencoders_report as car

    fig3 = car.fig3_points(_fig3_records())
    floor = {"mnist": 0.0635, "fmnist": 0.0853}
    paper = {"n_train": 54000, "n_val": 6000, "n_test": 10000, "epochs": 100}
    md = car.fig3_markdown(fig3, floor, "quick", kept=None, paper=paper)
    lines = md.splitlines()
    assert lines[2:6] == ["| MNIST | snn | 32 | 0 | 0.0300 | 0.47 | 1.50 | plot only | quick |",
                          "| MNIST | snn | 32 | 0.2 | 0.0600 | 0.94 | – | plot only | quick |",
                          "| MNIST | ann | 32 | 0 | 0.0200 | 0.31 | – | plot only | quick |",
                          "| FMNIST | ann | 8 | 0.4 | 0.0800 | 0.94 | – | plot only | quick |"]
    assert "scores 0.0853 on FMNIST, 0.0635 on MNIST" in md
    # within 10 % of the floor: the spiking network at eta = 0.2 and the FMNIST ANN
    assert "**1 of the 2 spiking autoencoders** and 1 of the 2 ANNs end within 10 %" in md
    assert ": they have learnt little beyond the average image" in md
    assert md.endswith("\n\n" + cref.NOT_KEPT)
    good = car.fig3_markdown({("mnist", "ann", 32): [(0.0, 0.02)]}, floor, "quick", kept=None, paper=paper)
    assert "ANNs end within 10 % of that floor or above it.\n\n" in good

    kept = {"results": {"fig3": [{"dataset": "mnist", "model": "snn", "hidden": 32, "eta": 0.0, "test_mse": 0.01,
                                  "test_mse_over_mean_image": 0.16, "snn_over_ann": None}],
                        "configs": {"x": {"n_train": 54000, "n_val": 6000, "n_test": 10000, "epochs": 100}},
                        "mean_image_error": {"mnist": 0.0635}},
            "provenance": {"git_commit": "abc1234def", "date": "2027-01-02T03:04", "deviations": "one seed"}}
    monkeypatch.setattr(cref, "reference_runs", lambda: [{}] * 10)
    md = car.fig3_markdown(fig3, floor, "quick", kept=kept, paper=paper)
    assert md.splitlines()[6] == ("| MNIST | snn | 32 | 0 | 0.0100 | 0.16 | – | plot only | "
                                  "paper (kept paper-protocol run, commit abc1234, 2027-01-02) |")
    assert md.endswith("How it differs from the paper: one seed.") and "(1 of its 10 configurations finished)" in md


def test_fig3_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikelib.experiments import comsa_autoencoders_report as car

    colours = {8: "C0", 16: "C1", 32: "C2"}
    assert car.fig3_figure({}, {}, [], scale="smoke", colours=colours) is None
    fig3 = car.fig3_points(_fig3_records())
    kept3 = [{"dataset": "mnist", "model": "ann", "eta": 0.0, "test_mse": 0.01}]
    fig = car.fig3_figure(fig3, {"mnist": 0.0635, "fmnist": 0.0853}, kept3, scale="quick", colours=colours)
    mnist, fmnist = fig.axes[:2]
    assert (mnist.get_title(), fmnist.get_title()) == ("MNIST", "Fashion-MNIST")
    labels = [t.get_text() for t in fmnist.get_legend().get_texts()]
    assert labels == ["snn, h = 32", "ann, h = 8", "ann, h = 32", "kept paper-protocol run: ann, h = 32",
                      "mean training image"]
    assert fig._suptitle.get_text() == "lines: scale quick; stars and crosses: kept paper-protocol run (scale paper)"
    plt.close(fig)
    fig = car.fig3_figure({}, {}, kept3, scale="smoke", colours=colours)  # the kept points alone: MNIST only
    assert len(fig.axes) == 1 and fig.axes[0].lines[0].get_marker() == "P"
    plt.close(fig)
