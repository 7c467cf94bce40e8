"""The authors' published MNIST networks (shared/reference/comsa2021-mnist-networks): loading and Table 2.

The accuracy tests reproduce the paper's Table 2 exactly: 97.96 % / 97.40 % on the test set and
99.9633 % / 99.885 % on the training set for the slow / fast network, with tau = 0.181769 and the
authors' encoding (t = 1 - p / 256, black pixels silent), in float64.
"""

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikelib import data
from spikelib.alpha import PUBLISHED_TAU, AlphaNetwork, load_published_network, predict
from spikelib.encoding import latency
from spikelib.experiments import comsa_alpha

NETWORKS = {"slow": dict(test=9796, train=59978), "fast": dict(test=9740, train=59931)}
MNIST_DIR = data.data_dir() / "mnist"



@pytest.fixture(autouse=True)
def one_thread_per_worker():
    """Under pytest-xdist each worker gets one thread: two workers with two threads each on a 2-core machine
    make torch's OpenMP threads spin against the scan kernel's threads, about 10x slower (measured:
    23.8 s instead of 2.4 s for the 10,000 test images; OMP_WAIT_POLICY=passive also avoids it)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def network_dir(shared_dir) -> Path:
    folder = shared_dir / "reference" / "comsa2021-mnist-networks"
    if not all((folder / f"{name}_network").is_file() for name in NETWORKS):
        pytest.skip(f"published networks not found in {folder}")
    return folder


def _numbers(path: Path):
    tokens = path.read_text().split()
    return tokens, np.array(tokens[4 + int(tokens[2]):], dtype=np.float64)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_load_published_network(network_dir, name):
    path = network_dir / f"{name}_network"
    net = load_published_network(path)
    assert isinstance(net, AlphaNetwork)
    assert net.sizes == (784, 340, 10)
    assert len(net.layers) == 2 and all(l.n_pulses == 10 for l in net.layers)
    assert all(l.theta == 1.16732 and l.tau == PUBLISHED_TAU == 0.181769 for l in net.layers)
    assert net.dtype == torch.float64
    tokens, values = _numbers(path)
    assert tokens[:8] == ["pulses_per_layer", "1.16732", "3", "784", "340", "10", "10", tokens[7]]
    # pulse times: layer l's row of the file (the third row, for the output layer, is unused)
    np.testing.assert_array_equal(net.layers[0].pulse_times.detach().numpy(), values[:10])
    np.testing.assert_array_equal(net.layers[1].pulse_times.detach().numpy(), values[10:20])
    assert net.layers[0].pulse_times is not net.layers[1].pulse_times
    # weights: per post-synaptic neuron, its 784 + 10 incoming weights, inputs first, then pulses
    n0 = 340 * 794
    w0 = values[30:30 + n0].reshape(340, 794).T
    w1 = values[30 + n0:].reshape(10, 350).T
    assert values.size == 30 + n0 + 10 * 350
    np.testing.assert_array_equal(net.layers[0].weight.detach().numpy(), w0)
    np.testing.assert_array_equal(net.layers[1].weight.detach().numpy(), w1)
    assert net.layers[0].weight[1, 0].item() == float(tokens[7 + 30 + 1])  # token order, spot check
    # another tau and dtype on request
    net32 = load_published_network(path, tau=0.5, dtype=torch.float32)
    assert net32.dtype == torch.float32 and net32.layers[0].tau == 0.5
    np.testing.assert_allclose(net32.layers[1].weight.detach().numpy(), w1, rtol=1e-7)


def test_truncated_file_raises(network_dir, tmp_path):
    text = (network_dir / "slow_network").read_text()
    bad = tmp_path / "truncated_network"
    bad.write_text(text[: len(text) // 2].rsplit(" ", 1)[0])
    with pytest.raises(ValueError, match="truncated"):
        load_published_network(bad)
    # one number short
    short = tmp_path / "short_network"
    short.write_text(" ".join(text.split()[:-1]))
    with pytest.raises(ValueError, match="truncated"):
        load_published_network(short)
    # one number too many
    extra = tmp_path / "extra_network"
    extra.write_text(text + " 0.5")
    with pytest.raises(ValueError):
        load_published_network(extra)


def test_wrong_header_raises(tmp_path, network_dir):
    text = (network_dir / "fast_network").read_text()
    for header in ("pulses_per_neuron", "1.16732", ""):
        bad = tmp_path / "bad"
        bad.write_text(text.replace("pulses_per_layer", header, 1))
        with pytest.raises(ValueError, match="pulses_per_layer"):
            load_published_network(bad)
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ValueError):
        load_published_network(empty)
    with pytest.raises(FileNotFoundError):
        load_published_network(tmp_path / "does_not_exist")


def test_small_network_file_round_trip(tmp_path):
    """A hand-written file in the authors' format (no shared folder needed)."""
    # 2 inputs, 3 hidden, 2 outputs, 1 pulse per layer; threshold 0.5
    pulses = [0.25, 0.75, 0.9]
    w_hidden = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]  # per hidden neuron: in0, in1, pulse
    w_out = [[-1.0, -2.0, -3.0, -4.0], [0.5, 0.25, 0.125, 0.0625]]  # per output: h0, h1, h2, pulse
    numbers = pulses + sum(w_hidden, []) + sum(w_out, [])
    path = tmp_path / "tiny_network"
    path.write_text("pulses_per_layer 0.5 3 2 3 2 1 " + " ".join(map(str, numbers)) + "\n")
    net = load_published_network(path, tau=1.0)
    assert net.sizes == (2, 3, 2) and net.layers[0].theta == 0.5
    np.testing.assert_array_equal(net.layers[0].weight.detach().numpy(), np.array(w_hidden).T)
    np.testing.assert_array_equal(net.layers[1].weight.detach().numpy(), np.array(w_out).T)
    assert net.layers[0].pulse_times.tolist() == [0.25] and net.layers[1].pulse_times.tolist() == [0.75]
    path.write_text("pulses_per_layer 0.5 3 2 3 2 1 " + " ".join(map(str, numbers[:-3])))
    with pytest.raises(ValueError, match="truncated"):
        load_published_network(path)


# ------------------------------------------------------------------------------- Table 2 (slow)


def _mnist(split):
    if not all((MNIST_DIR / n).is_file() for n in data.SHA256["mnist"]):
        pytest.skip(f"MNIST not cached in {MNIST_DIR}; run `python -m spikelib data`")
    return data.load_mnist(split)


def _correct(net, images, labels, batch=500):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            t = latency(images[i:i + batch], dtype=torch.float64)
            pred = predict(net(t))
            correct += int((pred == torch.tensor(labels[i:i + batch])).sum())
    return correct


def test_first_test_images_are_classified_well(network_dir):
    """Fast smoke check: 500 test images, both networks well above 95 %."""
    images, labels = _mnist("test")
    for name in NETWORKS:
        net = load_published_network(network_dir / f"{name}_network")
        assert _correct(net, images[:500], labels[:500]) >= 480


# Table 2 of the paper, read from paper_values.json (spikelib.papers); NETWORKS holds the counts it implies
PAPER_PERCENT = comsa_alpha.TABLE2_ACCURACY


@pytest.mark.slow
@pytest.mark.parametrize("name, split", list(PAPER_PERCENT))
def test_published_accuracy_matches_table_2(network_dir, name, split):
    images, labels = _mnist(split)
    net = load_published_network(network_dir / f"{name}_network")
    t0 = time.perf_counter()
    correct = _correct(net, images, labels)
    print(f"{name}: {correct} / {len(labels)} {split} images correct in {time.perf_counter() - t0:.1f} s")
    assert correct == NETWORKS[name][split]
    assert math.isclose(100 * correct / len(labels), PAPER_PERCENT[name, split], abs_tol=5e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow", "fast"])
def test_published_mean_test_loss_matches_table_2(network_dir, name):
    from spikelib.alpha import analysis

    images, labels = _mnist("test")
    acc = analysis.count_correct(load_published_network(network_dir / f"{name}_network"), images, labels)
    assert acc.correct == NETWORKS[name]["test"]
    assert acc.mean_loss == pytest.approx(comsa_alpha.TABLE2_LOSS[name, "test"], abs=5e-7 if name == "slow" else 5e-6)
