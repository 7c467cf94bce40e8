"""The C training epoch (spikelib/alpha/_train.c) against the torch training loop it replaces on CPU."""

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikelib.alpha import _cscan, autoencoder, training
from spikelib.alpha.modules import AlphaNetwork
from spikelib.alpha.training import BOOLEAN_TABLE1, Hyperparameters, fit, make_optimizer, train_epoch
from spikelib.tasks import boolean_task

pytestmark = pytest.mark.skipif(not _cscan.available(), reason="no C compiler: the C trainer is unavailable")


def _max_diff(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def _lockstep(net, hp, x, y, order, batches_per_call=1):
    """Train copies of ``net`` with the torch and the C engine on the same batches; yield both after each."""
    nets = {e: copy.deepcopy(net) for e in ("torch", "c")}
    opts = {e: make_optimizer(n, hp) for e, n in nets.items()}
    step = hp.batch_size * batches_per_call
    for i in range(0, len(order), step):
        idx = order[i:i + step]
        stats = {e: train_epoch(nets[e], opts[e], x, y, hp, idx, backend=e) for e in nets}
        yield nets, opts, stats


def test_boolean_updates_match_the_torch_loop_exactly():
    """Batch size 1, only misclassified examples, one shared pulse (§3.1): 600 updates agree to rounding."""
    hp = BOOLEAN_TABLE1
    x, y = boolean_task("xor", 600, seed=0, dtype=torch.float64)
    net = hp.network(2, 2, seed=1, dtype=torch.float64)
    order = torch.randperm(600, generator=torch.Generator().manual_seed(0))
    for nets, opts, stats in _lockstep(net, hp, x, y, order):
        assert stats["c"]["correct"] == stats["torch"]["correct"]
        assert stats["c"]["contributing"] == stats["torch"]["contributing"]
        assert stats["c"]["loss"] == pytest.approx(stats["torch"]["loss"], rel=1e-12)
        assert _max_diff(nets["torch"], nets["c"]) < 1e-12
    for p, q in zip(nets["torch"].parameters(), nets["c"].parameters()):
        assert opts["c"].state[q]["step"] == opts["torch"].state[p]["step"] > 0
        assert torch.allclose(opts["c"].state[q]["v"], opts["torch"].state[p]["v"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("update_all", [False, True])
def test_mini_batches_with_pulses_per_layer_match(update_all):
    """A deeper network, 2 pulses per layer (not shared), batches of 4; with and without update_all."""
    hp = Hyperparameters(n_hidden=(5, 4), n_pulses=2, batch_size=4, clip_derivative=5.0, decay_constant=0.8,
                         fire_threshold=0.6, learning_rate=1e-2, learning_rate_pulses=5e-2,
                         nonpulse_weight_mean_multiplier=1.0, pulse_weight_mean_multiplier=1.0,
                         penalty_no_spike=2.0, update_all_datapoints=update_all)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(64, 6, generator=gen, dtype=torch.float64) * 2
    x[torch.rand(64, 6, generator=gen) < 0.2] = float("inf")  # silent inputs
    y = torch.randint(0, 3, (64,), generator=gen)
    net = hp.network(6, 3, seed=2, dtype=torch.float64)
    order = torch.randperm(64, generator=gen)
    total = {"torch": 0, "c": 0}
    for nets, _, stats in _lockstep(net, hp, x, y, order, batches_per_call=2):
        for e in total:
            total[e] += stats[e]["contributing"]
        assert stats["c"]["correct"] == stats["torch"]["correct"]
        assert _max_diff(nets["torch"], nets["c"]) < 1e-10
    assert total["c"] == total["torch"] > 0
    if update_all:
        assert total["c"] == 64


def test_autoencoder_epoch_matches_the_torch_loop():
    """The autoencoder loss (Comsa et al. 2021b, §2.5): silent targets as 1.0, latency, batch 3."""
    hp = autoencoder.AutoencoderHyperparameters(n_hidden=(3,), n_pulses=1, batch_size=3, decay_constant=1.0,
                                                fire_threshold=0.5, learning_rate=1e-2, learning_rate_pulses=1e-2,
                                                nonpulse_weight_mean_multiplier=1.0, pulse_weight_mean_multiplier=1.0,
                                                latency=1.0, update_all_datapoints=True)
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(30, 8, generator=gen, dtype=torch.float64)
    x[x > 0.8] = float("inf")
    net = hp.network(8, seed=0, dtype=torch.float64)
    nets = {e: copy.deepcopy(net) for e in ("torch", "c")}
    opts = {e: make_optimizer(n, hp) for e, n in nets.items()}
    order = torch.randperm(30, generator=gen)
    out = {e: autoencoder.train_autoencoder_epoch(nets[e], opts[e], x, x, hp, order, backend=e) for e in nets}
    assert out["c"]["n"] == out["torch"]["n"] == 30
    assert out["c"]["loss"] == pytest.approx(out["torch"]["loss"], rel=1e-12)
    assert _max_diff(nets["torch"], nets["c"]) < 1e-12


def test_float32_agrees_with_float64_closely():
    """float32 runs in C too (its transcendental functions in double): close to the float64 run."""
    hp = BOOLEAN_TABLE1
    x, y = boolean_task("or", 100, seed=0, dtype=torch.float64)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    nets = {}
    for dt in (torch.float32, torch.float64):
        nets[dt] = hp.network(2, 2, seed=0, dtype=dt)
        train_epoch(nets[dt], make_optimizer(nets[dt], hp), x.to(dt), y, hp, order, backend="c")
    for p, q in zip(nets[torch.float32].parameters(), nets[torch.float64].parameters()):
        assert p.dtype == torch.float32
        assert torch.allclose(p.double(), q, atol=1e-4)


def test_fit_defaults_to_the_c_backend_on_cpu_and_gives_its_result():
    hp = BOOLEAN_TABLE1
    x, y = boolean_task("and", 200, seed=1, dtype=torch.float64)
    runs = {}
    for backend in ("auto", "c"):
        net = hp.network(2, 2, seed=0, dtype=torch.float64)
        runs[backend] = (net, fit(net, (x, y), config=hp, epochs=3, seed=0, backend=backend))
    assert _max_diff(runs["auto"][0], runs["c"][0]) == 0.0
    assert runs["auto"][1]["history"][-1]["train_loss_running"] == runs["c"][1]["history"][-1]["train_loss_running"]
    # engine= is the deprecated alias of backend=
    net = hp.network(2, 2, seed=0, dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="engine= is deprecated"):
        old = fit(net, (x, y), config=hp, epochs=3, seed=0, engine="c")
    assert _max_diff(net, runs["c"][0]) == 0.0 and old["history"][-1]["train_loss_running"] == \
        runs["c"][1]["history"][-1]["train_loss_running"]


def test_the_boolean_tasks_reach_the_papers_100_percent():
    """§3.1: 2-2-2 networks with the Table 1 defaults solve every task; the C trainer makes the paper's
    100 epochs cheap enough to test (the first seeds that are perfect on training, a few seconds)."""
    from spikelib.experiments import comsa_alpha

    for task in ("xor", "circles"):
        r = comsa_alpha.train_task(task, seeds=range(20), epochs=100)
        assert r.train_accuracy == 1.0 and r.test_accuracy == 1.0, r.seeds_tried


def test_backend_errors_name_the_fix(monkeypatch):
    hp = BOOLEAN_TABLE1
    net = hp.network(2, 2, dtype=torch.float64)
    x, y = boolean_task("or", 4, seed=0, dtype=torch.float64)
    opt = make_optimizer(net, hp)
    with pytest.raises(ValueError, match="backend must be one of"):
        train_epoch(net, opt, x, y, hp, torch.arange(4), backend="gpu")
    with pytest.warns(DeprecationWarning, match="engine="), pytest.raises(ValueError, match="backend must be one of"):
        train_epoch(net, opt, x, y, hp, torch.arange(4), engine="gpu")
    monkeypatch.setattr(_cscan.KERNEL, "library", lambda: None)  # as if it could not be built
    with pytest.raises(RuntimeError, match="backend='torch'"):
        train_epoch(net, opt, x, y, hp, torch.arange(4), backend="c")
    assert training.use_c_backend("auto", net, x) is False  # auto falls back to torch
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="float32 and float64"):
        training.use_c_backend("c", AlphaNetwork((2, 2), dtype=torch.float16), x)


def test_the_optimiser_must_hold_the_networks_parameters():
    hp = BOOLEAN_TABLE1
    net, other = hp.network(2, 2, dtype=torch.float64), hp.network(2, 2, dtype=torch.float64)
    x, y = boolean_task("or", 4, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="exactly the network's"):
        train_epoch(net, make_optimizer(other, hp), x, y, hp, torch.arange(4), backend="c")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.01, 1.0, 30.0]),
       theta=st.floats(0.05, 2.0), tau=st.floats(0.1, 3.0), clip=st.sampled_from([0.0, 1.0, 100.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_no_nan_or_inf_reaches_the_parameters(seed, scale, theta, tau, clip, dtype):
    """Tiny, huge and grazing weights, clipping on and off, both dtypes: every parameter stays finite."""
    gen = torch.Generator().manual_seed(seed)
    hp = Hyperparameters(n_hidden=(4,), n_pulses=1, batch_size=2, clip_derivative=clip, decay_constant=tau,
                         fire_threshold=theta, learning_rate=0.1, learning_rate_pulses=0.1,
                         update_all_datapoints=True)
    net = hp.network(3, 2, seed=seed, dtype=dtype)
    with torch.no_grad():
        for p in net.weight_parameters():
            p.mul_(scale)
    x = (torch.rand(16, 3, generator=gen, dtype=torch.float64) * 3).to(dtype)
    y = torch.randint(0, 2, (16,), generator=gen)
    opt = make_optimizer(net, hp)
    for _ in range(3):
        s = train_epoch(net, opt, x, y, hp, torch.randperm(16, generator=gen), backend="c")
        assert s["loss"] == s["loss"]  # not NaN
    for p in net.parameters():
        assert torch.isfinite(p).all()


def test_threads_split_a_batch_repeatably():
    """A batch's examples are shared between threads: the same thread count gives the same bits, another
    count the same result up to the order of summation."""
    hp = Hyperparameters(n_hidden=(6,), n_pulses=2, batch_size=16, fire_threshold=0.6, learning_rate=1e-2,
                         nonpulse_weight_mean_multiplier=1.0, pulse_weight_mean_multiplier=1.0,
                         update_all_datapoints=True)
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(96, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (96,), generator=gen)
    order = torch.randperm(96, generator=gen)
    before = torch.get_num_threads()
    nets = {}
    try:
        for name, threads in (("one", 1), ("two", 2), ("two_again", 2)):
            torch.set_num_threads(threads)
            nets[name] = hp.network(5, 3, seed=0, dtype=torch.float64)
            train_epoch(nets[name], make_optimizer(nets[name], hp), x, y, hp, order, backend="c")
    finally:
        torch.set_num_threads(before)
    assert _max_diff(nets["two"], nets["two_again"]) == 0.0
    assert _max_diff(nets["one"], nets["two"]) < 1e-9
    assert _max_diff(nets["one"], hp.network(5, 3, seed=0, dtype=torch.float64)) > 1e-3  # it trained


@pytest.mark.skipif(__import__("platform").machine().lower() not in ("x86_64", "amd64"),
                    reason="-mno-avx is an x86 flag")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_vector_width_changes_no_bit(monkeypatch, dtype):
    """The backward's one-frame pass is vectorised over the outputs (8 float32 lanes with AVX2, 16 with
    AVX-512); its grad_t terms are summed in output order after it, so a build limited to SSE (4 lanes)
    trains the same bits. 40 hidden and 24 outputs, so that every width has whole vectors and a tail."""
    from spikelib import _cbuild

    sse = _cbuild.CKernel("alpha_scan_sse", _cscan._source, [*_cscan._FLAGS, "-mno-avx"], _cscan._declare,
                          what="SSE-only CPU scan kernel", switch="SPIKELIB_CSCAN", link=("-lm", "-lpthread"))
    if sse.library() is None:
        pytest.skip(f"no SSE-only build: {sse.failed}")
    hp = autoencoder.AutoencoderHyperparameters(n_hidden=(40,), n_pulses=1, batch_size=3, decay_constant=1.0,
                                                fire_threshold=0.5, learning_rate=1e-2, learning_rate_pulses=1e-2,
                                                nonpulse_weight_mean_multiplier=1.0, pulse_weight_mean_multiplier=1.0,
                                                latency=1.0, update_all_datapoints=True)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(60, 24, generator=gen, dtype=dtype)
    x[x > 0.8] = float("inf")
    order = torch.randperm(60, generator=gen)
    nets = {}
    for name in ("native", "sse"):
        if name == "sse":
            monkeypatch.setattr(_cscan, "KERNEL", sse)
        nets[name] = hp.network(24, seed=0, dtype=dtype)
        autoencoder.train_autoencoder_epoch(nets[name], make_optimizer(nets[name], hp), x, x, hp, order, backend="c")
    assert _max_diff(nets["native"], nets["sse"]) == 0.0
    assert _max_diff(nets["native"], hp.network(24, seed=0, dtype=dtype)) > 1e-4  # it trained
