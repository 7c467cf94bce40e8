"""Losses, AlphaAdam, train_step, fit (Boolean XOR, checkpoint/resume, model selection, the contract)."""

import copy
import math

import pytest
import torch

from spikelib.alpha import (
    BOOLEAN_TABLE1,
    AlphaAdam,
    AlphaNetwork,
    Hyperparameters,
    autoencoder_loss,
    classification_loss,
    evaluate,
    fit,
    make_optimizer,
    predict,
    spike_probabilities,
    train_step,
)

inf = math.inf



# ------------------------------------------------------------------------------------------ losses


def test_classification_loss_value_and_exact_gradient():
    t = torch.tensor([[0.3, 1.2, 0.8], [2.0, 0.1, 5.0], [0.5, 0.5, 0.5]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([2, 1, 0])
    loss = classification_loss(t, labels)
    p = torch.softmax(-t.detach(), dim=-1)
    y = torch.nn.functional.one_hot(labels, 3).double()
    torch.testing.assert_close(loss, -(y * torch.log(p + 1e-8)).sum(-1), rtol=1e-14, atol=0)
    upstream = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    (loss * upstream).sum().backward()
    # exactly y - p (the authors' gradient), not the derivative of the 1e-8-regularised value
    torch.testing.assert_close(t.grad, (y - p) * upstream[:, None], rtol=1e-15, atol=1e-17)
    # and that is the true derivative of -sum y log p: checked against torch's own cross entropy
    t2 = t.detach().clone().requires_grad_()
    torch.nn.functional.cross_entropy(-t2, labels, reduction="none").mul(upstream).sum().backward()
    torch.testing.assert_close(t.grad, t2.grad, rtol=1e-12, atol=1e-15)


def test_silent_outputs_get_zero_probability():
    t = torch.tensor([[0.4, inf, 1.0], [inf, inf, inf], [inf, 3.0, inf]], dtype=torch.float64, requires_grad=True)
    p = spike_probabilities(t.detach())
    assert p[0, 1] == 0 and (p[1] == 0).all() and p[2].tolist() == [0.0, 1.0, 0.0]
    torch.testing.assert_close(p[0, [0, 2]], torch.softmax(torch.tensor([-0.4, -1.0], dtype=torch.float64), 0))
    labels = torch.tensor([1, 0, 1])
    loss = classification_loss(t, labels)
    # silent target: the loss stays finite at -log(1e-8); the all-silent row too
    assert loss[0].item() == pytest.approx(-math.log(1e-8), rel=1e-6)
    assert loss[1].item() == pytest.approx(-math.log(1e-8), rel=1e-12)
    assert loss[2].item() == pytest.approx(-math.log(1 + 1e-8), abs=1e-12)
    loss.sum().backward()
    assert torch.isfinite(t.grad).all()
    y = torch.nn.functional.one_hot(labels, 3).double()
    torch.testing.assert_close(t.grad, y - p, rtol=0, atol=0)
    # in float32 too
    t32 = torch.full((2, 4), inf, requires_grad=True)
    l32 = classification_loss(t32, torch.tensor([0, 3]))
    l32.sum().backward()
    assert torch.isfinite(l32).all() and torch.isfinite(t32.grad).all()


def test_classification_loss_accepts_int32_labels_and_large_times():
    t = torch.tensor([[1000.0, 1001.0]], dtype=torch.float64)
    loss = classification_loss(t, torch.tensor([0], dtype=torch.int32))
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1)) + 1e-8), rel=1e-12)  # no overflow


def test_predict():
    t = torch.tensor([[0.5, 0.2, 0.9], [inf, 0.7, 0.1], [inf, inf, inf], [0.3, inf, inf], [0.4, 0.4, inf]])
    assert predict(t).tolist() == [1, 2, -1, 0, 0]
    assert predict(t.double()).dtype == torch.int64
    assert predict(torch.full((2, 3, 4), inf)).tolist() == [[-1] * 3] * 2


def test_autoencoder_loss():
    latency = 2.0
    t = torch.tensor([[2.3, inf, 2.9, 1.5], [inf, inf, 2.0, 3.5]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[0.2, 0.5, inf, 0.1], [inf, 0.3, inf, 0.6]], dtype=torch.float64)
    objective, reported = autoencoder_loss(t, target, latency)
    # silent target -> 1.0; silent output -> o = 1.0
    o = torch.tensor([[0.3, 1.0, 0.9, -0.5], [1.0, 1.0, 0.0, 1.5]], dtype=torch.float64)
    tg = torch.tensor([[0.2, 0.5, 1.0, 0.1], [1.0, 0.3, 1.0, 0.6]], dtype=torch.float64)
    sq = (o - tg) ** 2
    torch.testing.assert_close(objective, 0.5 * sq.sum(-1), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(reported, sq.mean(-1), rtol=1e-14, atol=1e-15)
    assert not reported.requires_grad
    objective.sum().backward()
    # dL/dt = t - latency - target for spiking outputs (no factor 2, no 1/N), 0 for silent ones, no NaN
    spiking = torch.isfinite(t.detach())
    expected = torch.where(spiking, t.detach() - latency - tg, torch.zeros_like(tg))
    torch.testing.assert_close(t.grad, expected, rtol=1e-14, atol=1e-15)
    assert torch.isfinite(t.grad).all()


# ------------------------------------------------------------------------------------------ Adam


def test_alpha_adam_is_the_authors_rule():
    """p -= lr m_hat / sqrt(v_hat + 1e-8): epsilon inside the root, bias-corrected moments."""
    grads = [torch.tensor([1e-4, -3e-5, 0.2]), torch.tensor([2e-4, 1e-5, -0.1]), torch.tensor([-5e-5, 4e-5, 0.3])]
    grads = [g.double() for g in grads]
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = AlphaAdam([p], lr=0.01)
    p_ref = p.detach().clone()
    p_torch = torch.nn.Parameter(p.detach().clone())
    opt_torch = torch.optim.Adam([p_torch], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    m = torch.zeros(3, dtype=torch.float64)
    v = torch.zeros(3, dtype=torch.float64)
    for k, g in enumerate(grads, start=1):
        p.grad = g.clone()
        p_torch.grad = g.clone()
        opt.step()
        opt_torch.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat = m / (1 - 0.9**k)
        v_hat = v / (1 - 0.999**k)
        p_ref -= 0.01 * m_hat / torch.sqrt(v_hat + 1e-8)
        torch.testing.assert_close(p.detach(), p_ref, rtol=1e-13, atol=1e-15)
    # torch's Adam puts epsilon outside the root: for gradients ~1e-4 the steps differ by tens of percent
    diff = (p.detach() - p_torch.detach()).abs()
    assert diff[0] > 1e-3 and diff[1] > 1e-3
    # for large gradients both agree closely (the third entry)
    assert diff[2] < 1e-6


def test_alpha_adam_skips_parameters_without_gradient():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    opt = AlphaAdam([a, b], lr=0.1)
    a.grad = torch.tensor([1.0, -1.0])
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and not opt.state.get(b)
    torch.testing.assert_close(a.detach(), torch.tensor([0.9, 1.1]), rtol=1e-6, atol=1e-6)


def test_make_optimizer_learning_rates():
    hp = Hyperparameters(n_hidden=(3,), n_pulses=2, learning_rate=1e-3, learning_rate_pulses=0.05)
    net = hp.network(4, 2, seed=0, dtype=torch.float64)
    opt = make_optimizer(net, hp)
    assert isinstance(opt, AlphaAdam)
    groups = {g["lr"]: g["params"] for g in opt.param_groups}
    assert set(groups) == {1e-3, 0.05}
    assert {id(p) for p in groups[1e-3]} == {id(l.weight) for l in net.layers}
    assert {id(p) for p in groups[0.05]} == {id(l.pulse_times) for l in net.layers}
    # the first Adam step moves every parameter by ~ its group's learning rate
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    for p, b in zip(net.parameters(), before):
        lr = 0.05 if p.ndim == 1 else 1e-3
        torch.testing.assert_close(b - p.detach(), torch.full_like(b, lr), rtol=1e-7, atol=0)
    # no pulses: one group
    assert len(make_optimizer(Hyperparameters(n_pulses=0).network(2, 2), Hyperparameters(n_pulses=0)).param_groups) == 1
    # shared pulses: the one tensor once
    opt_b = make_optimizer(BOOLEAN_TABLE1.network(2, 2), BOOLEAN_TABLE1)
    assert [len(g["params"]) for g in opt_b.param_groups] == [2, 1]


# ------------------------------------------------------------------------------------------ train_step


def _net_and_batch(update_all: bool, dtype=torch.float64):
    """A 3-4-3 network (1 pulse per layer) in which every neuron spikes for the four examples."""
    hp = Hyperparameters(n_hidden=(4,), n_pulses=1, learning_rate=1e-2, learning_rate_pulses=1e-2,
                         update_all_datapoints=update_all)
    net = hp.network(3, 3, seed=1, dtype=dtype)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.copy_(1.0 + torch.rand(layer.weight.shape, generator=g, dtype=dtype))
    x = torch.tensor([[0.1, 0.5, 0.9], [0.8, 0.2, 0.3], [0.4, 0.4, 0.1], [0.0, 0.9, 0.6]], dtype=dtype)
    assert all(torch.isfinite(t).all() for t in net(x, all_layers=True))
    return hp, net, x


def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def test_train_step_ignores_correct_examples_unless_update_all():
    hp, net, x = _net_and_batch(update_all=False)
    out = net(x)
    assert torch.isfinite(out).all()
    pred = predict(out)
    before = _params(net)
    # every example labelled with its prediction: nothing to learn from
    opt = make_optimizer(net, hp)
    stats = train_step(net, opt, x, pred, hp)
    assert stats["correct"] == 4 and stats["contributing"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, _params(net)))
    assert not any(opt.state[p] for p in net.parameters())
    # one wrong label: the update equals the update for that example alone
    wrong = pred.clone()
    wrong[2] = (pred[2] + 1) % 3
    stats = train_step(net, opt, x, wrong, hp)
    assert stats["correct"] == 3 and stats["contributing"] == 1
    after_batch = _params(net)
    assert not all(torch.equal(a, b) for a, b in zip(before, after_batch))
    hp2, net2, _ = _net_and_batch(update_all=False)
    opt2 = make_optimizer(net2, hp2)
    train_step(net2, opt2, x[2:3], wrong[2:3], hp2)
    for a, b in zip(after_batch, _params(net2)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # update_all_datapoints: the correct examples contribute too (mean over the whole batch)
    hp3, net3, _ = _net_and_batch(update_all=True)
    opt3 = make_optimizer(net3, hp3)
    stats = train_step(net3, opt3, x, pred, hp3)
    assert stats["contributing"] == 4
    assert not all(torch.equal(a, b) for a, b in zip(before, _params(net3)))


def test_train_step_gradient_is_mean_over_contributing_examples():
    hp, net, x = _net_and_batch(update_all=True)
    y = torch.tensor([0, 1, 2, 0])
    opt = make_optimizer(net, hp)
    train_step(net, opt, x, y, hp)
    got = [p.grad.clone() for p in net.parameters()]
    _, ref, _ = _net_and_batch(update_all=True)
    out = ref(x, all_layers=True)
    assert all(torch.isfinite(t).all() for t in out)  # no penalty involved
    classification_loss(out[-1], y).mean().backward()
    for g, p in zip(got, ref.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-12, atol=1e-15)


def _silent_neuron_net(w_in0: float):
    hp = Hyperparameters(n_hidden=(3,), n_pulses=1, penalty_no_spike=2.5, learning_rate=1e-3,
                         update_all_datapoints=True)
    net = hp.network(2, 2, seed=0, dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].weight.fill_(2.0)
        net.layers[0].weight[:, 1] = -1.0  # hidden neuron 1: inputs and pulse inhibit it
        net.layers[0].weight[0, 1] = w_in0
        net.layers[1].weight.fill_(2.0)
    return hp, net


def test_no_spike_penalty_raises_weights_of_silent_neuron():
    hp, net = _silent_neuron_net(-1.0)
    x = torch.tensor([[0.1, 0.3], [0.6, 0.2]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    hidden, out = net(x, all_layers=True)
    assert torch.isinf(hidden[:, 1]).all() and torch.isfinite(hidden[:, [0, 2]]).all()
    assert torch.isfinite(out).all()
    # the plain loss gradient, without the penalty
    _, ref = _silent_neuron_net(-1.0)
    classification_loss(ref(x), y).mean().backward()
    assert (ref.layers[0].weight.grad[:, 1] == 0).all()  # nothing flows through a silent neuron
    before = net.layers[0].weight.detach().clone()
    train_step(net, make_optimizer(net, hp), x, y, hp)
    after = net.layers[0].weight.detach()
    grad = net.layers[0].weight.grad
    # silent in both examples: gradient exactly -penalty on each incoming weight (pulse weight included)
    assert grad[:, 1].tolist() == [-2.5, -2.5, -2.5]
    assert (after[:, 1] > before[:, 1]).all()
    torch.testing.assert_close(after[:, 1] - before[:, 1], torch.full((3,), 1e-3, dtype=torch.float64),
                               rtol=1e-6, atol=0)  # Adam's first step: lr * g / sqrt(g^2 + eps)
    # the spiking neurons and the output layer get the plain gradient, no penalty
    torch.testing.assert_close(grad[:, [0, 2]], ref.layers[0].weight.grad[:, [0, 2]], rtol=1e-12, atol=0)
    torch.testing.assert_close(net.layers[1].weight.grad, ref.layers[1].weight.grad, rtol=1e-12, atol=0)


def test_no_spike_penalty_is_averaged_over_contributing_examples():
    hp, net = _silent_neuron_net(8.0)  # fires when input 0 spikes, not without it
    x = torch.tensor([[0.1, 0.3], [inf, 0.2]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    hidden = net(x, all_layers=True)[0]
    assert math.isfinite(hidden[0, 1].item()) and math.isinf(hidden[1, 1].item())
    _, ref = _silent_neuron_net(8.0)
    classification_loss(ref(x), y).mean().backward()
    train_step(net, make_optimizer(net, hp), x, y, hp)
    # silent in one of the two examples: -penalty / 2 on top of the loss gradient
    torch.testing.assert_close(net.layers[0].weight.grad[:, 1], ref.layers[0].weight.grad[:, 1] - 1.25,
                               rtol=1e-12, atol=1e-15)


def test_no_spike_penalty_only_for_contributing_examples():
    hp = Hyperparameters(n_hidden=(2,), n_pulses=1, penalty_no_spike=1.0, update_all_datapoints=False)
    net = hp.network(2, 2, seed=0, dtype=torch.float64)
    with torch.no_grad():
        for l in net.layers:
            l.weight.fill_(2.0)
        net.layers[0].weight[:, 1] = -1.0  # silent hidden neuron
        net.layers[1].weight[:, 1] = -1.0  # silent output neuron 1: the prediction is always 0
    x = torch.tensor([[0.1, 0.3], [0.6, 0.2]], dtype=torch.float64)
    assert predict(net(x)).tolist() == [0, 0]
    before = _params(net)
    train_step(net, make_optimizer(net, hp), x, torch.tensor([0, 0]), hp)  # all correct: no penalty either
    assert all(torch.equal(a, b) for a, b in zip(before, _params(net)))
    train_step(net, make_optimizer(net, hp), x, torch.tensor([0, 1]), hp)  # one wrong: silent output penalised
    torch.testing.assert_close(net.layers[1].weight.grad[:, 1], torch.full((3,), -1.0, dtype=torch.float64))


def test_pulses_stay_non_negative():
    hp = Hyperparameters(n_hidden=(5,), n_pulses=4, learning_rate=1e-2, learning_rate_pulses=0.5,
                         update_all_datapoints=True, pulse_weight_mean_multiplier=3.0)
    net = hp.network(3, 3, seed=2, dtype=torch.float64)
    opt = make_optimizer(net, hp)
    g = torch.Generator().manual_seed(0)
    hit_zero = False
    for _ in range(15):
        x = torch.rand(8, 3, generator=g, dtype=torch.float64)
        y = torch.randint(0, 3, (8,), generator=g)
        train_step(net, opt, x, y, hp)
        for p in net.pulse_parameters():
            assert (p >= 0).all(), p
            hit_zero |= bool((p == 0).any())
    assert hit_zero  # the clamp was needed at least once


# ------------------------------------------------------------------------------------------ fit


def xor_data(n: int, seed: int):
    """The paper's noisy XOR (§2.6.1): false = U(0, 0.45), true = 0.55 + U(0, 0.45); label = parity."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, 2), generator=g)
    x = bits * 0.55 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.45
    return x, bits[:, 0] ^ bits[:, 1]


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    hp = BOOLEAN_TABLE1.replace(learning_rate=1e-2, learning_rate_pulses=1e-2)
    train = xor_data(60, 1)
    val = xor_data(40, 2)
    ckpt = tmp_path / "run" / "ckpt.pt"
    first = hp.network(2, 2, seed=3, dtype=torch.float64)
    r1 = fit(first, train, val, hp, epochs=2, seed=5, checkpoint=ckpt)
    assert len(r1["history"]) == 2 and ckpt.is_file()
    assert [p.name for p in ckpt.parent.iterdir()] == ["ckpt.pt"]  # atomic write: no temporary left
    state = torch.load(ckpt, weights_only=True)
    assert {"model", "optimizer", "generator", "history", "best", "fingerprint"} <= set(state)
    assert len(state["history"]) == 2
    # resume with a new network object (initialised differently): only the third epoch runs
    epochs_run = []
    resumed = hp.network(2, 2, seed=99, dtype=torch.float64)
    r2 = fit(resumed, train, val, hp, epochs=3, seed=5, checkpoint=ckpt, on_epoch=epochs_run.append)
    assert [e["epoch"] for e in epochs_run] == [2]
    assert len(r2["history"]) == 3
    straight = hp.network(2, 2, seed=3, dtype=torch.float64)
    r3 = fit(straight, train, val, hp, epochs=3, seed=5)
    assert _strip(r2["history"]) == _strip(r3["history"])
    assert r2["best"] == r3["best"]
    for (k, a), (_, b) in zip(resumed.state_dict().items(), straight.state_dict().items()):
        assert torch.equal(a, b), k
    # a finished run resumed with the same number of epochs does nothing
    again = []
    r4 = fit(hp.network(2, 2, seed=0, dtype=torch.float64), train, val, hp, epochs=3, seed=5,
             checkpoint=ckpt, on_epoch=again.append)
    assert again == [] and _strip(r4["history"]) == _strip(r3["history"])
    # other hyperparameters, data or seed: the checkpoint is not resumed, with a warning naming it
    for kw in ({"hp": hp.replace(learning_rate=2e-2)}, {"train": xor_data(60, 7)}, {"seed": 6}):
        args = {"hp": hp, "train": train, "seed": 5, **kw}
        fresh = []
        with pytest.warns(UserWarning, match="ckpt.pt was written for other settings"):
            fit(hp.network(2, 2, seed=3, dtype=torch.float64), args["train"], val, args["hp"], epochs=1,
                seed=args["seed"], checkpoint=ckpt, on_epoch=fresh.append)
        assert [e["epoch"] for e in fresh] == [0]


def test_best_validation_epoch_is_restored():
    hp = BOOLEAN_TABLE1.replace(learning_rate=0.05, learning_rate_pulses=0.05, update_all_datapoints=True)
    train = xor_data(40, 11)
    val = xor_data(60, 12)
    net = hp.network(2, 2, seed=4, dtype=torch.float64)
    snapshots = []
    records = []

    def on_epoch(record):
        records.append(record)
        snapshots.append(copy.deepcopy(net.state_dict()))

    r = fit(net, train, val, hp, epochs=6, seed=0, on_epoch=on_epoch)
    accs = [rec["val_accuracy"] for rec in records]
    best = max(range(len(accs)), key=lambda i: (accs[i], -i))  # first epoch with the highest accuracy
    assert r["best"] == {"epoch": best, "accuracy": accs[best]}
    assert best != len(accs) - 1, accs  # otherwise this test would not tell "best" from "last"
    for k, v in net.state_dict().items():
        assert torch.equal(v, snapshots[best][k]), k
    assert evaluate(net, *val)["accuracy"] == accs[best]


# The paper's Boolean setup (§2.6.1, §3.1, Table 1 "default"): 2-2-2, one synchronisation pulse shared by
# all non-input neurons, batch size 1, Adam updates on misclassified examples only, clip_derivative 100,
# penalty_no_spike 1. With Table 1's learning rates (1e-3) and zero-mean Glorot weights the network
# starts silent and learns XOR slowly (no seed reached 90 % within 100 epochs of 200 examples in our
# runs), so this test raises the learning rates and starts the input weights at mean 2 sigma, all within
# Table 1's search ranges; 5 of 8 seeds then reach >= 90 % within 6 epochs.
XOR_FAST = BOOLEAN_TABLE1.replace(
    learning_rate=0.075, learning_rate_pulses=0.024, fire_threshold=0.7, decay_constant=0.5,
    nonpulse_weight_mean_multiplier=2.0,
)


def test_fit_learns_noisy_xor():
    hp = XOR_FAST
    assert (hp.n_hidden, hp.n_pulses, hp.shared_pulses, hp.batch_size, hp.update_all_datapoints) == ((2,), 1, True, 1, False)
    x_test, y_test = xor_data(1000, 7)
    tried = []
    for seed in range(4):  # deterministic; the first seed that learns ends the test
        x, y = xor_data(200, 100 + seed)
        assert 0.4 < y.double().mean() < 0.6
        net = hp.network(2, 2, seed=seed, dtype=torch.float64)
        start = evaluate(net, x, y)["accuracy"]
        r = fit(net, (x, y), (x, y), hp, epochs=4, seed=seed)
        train_acc = evaluate(net, x, y)["accuracy"]
        test_acc = evaluate(net, x_test, y_test)["accuracy"]
        tried.append((seed, start, r["best"]["epoch"], train_acc, test_acc))
        assert train_acc == r["best"]["accuracy"]  # the selected weights are the ones evaluated
        if train_acc >= 0.9:
            assert test_acc >= 0.85, tried  # it learned XOR, not the 200 examples
            assert start < 0.8, tried  # ... and did not start there
            assert net.pulse_parameters()[0].item() >= 0
            return
    pytest.fail(f"no seed reached 90 % training accuracy on XOR: (seed, start, best epoch, train, test) {tried}")


def _plain_epoch(net, opt, x, y, hp, order):
    """The batch-by-batch loop that train_epoch's look-ahead must reproduce exactly."""
    total = {"loss": 0.0, "correct": 0, "contributing": 0}
    for i in range(0, len(x), hp.batch_size):
        s = train_step(net, opt, x[order[i:i + hp.batch_size]], y[order[i:i + hp.batch_size]], hp)
        for k in total:
            total[k] += s[k]
    return total


@pytest.mark.parametrize("batch_size", [1, 3])
def test_train_epoch_lookahead_equals_plain_loop(batch_size):
    from spikelib.alpha import train_epoch
    from spikelib.tasks import boolean_task

    x, y = boolean_task("xor", 301, seed=3, dtype=torch.float64)  # 301: a short last batch for batch 3
    hp = XOR_FAST.replace(batch_size=batch_size)
    nets = [hp.network(2, 2, seed=1, dtype=torch.float64) for _ in range(2)]
    opts = [make_optimizer(n, hp) for n in nets]
    for epoch in range(4):  # accuracy rises over the epochs, so both look-ahead regimes are exercised
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        fast = train_epoch(nets[0], opts[0], x, y, hp, order, backend="torch")  # the torch look-ahead
        plain = _plain_epoch(nets[1], opts[1], x, y, hp, order)
        assert fast["correct"] == plain["correct"] and fast["contributing"] == plain["contributing"]
        assert fast["loss"] == pytest.approx(plain["loss"], rel=1e-12)
        for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
            assert torch.equal(a, b)
    assert 0 < plain["contributing"] < len(x)  # the comparison covered skipped and updating batches


def test_fit_epoch_metrics_enter_the_history():
    from spikelib.tasks import boolean_task

    x, y = boolean_task("or", 50, seed=0, dtype=torch.float64)
    net = XOR_FAST.network(2, 2, seed=0, dtype=torch.float64)
    seen = []

    def metrics(n):
        seen.append(n)
        return {"pulse": float(n.pulse_parameters()[0][0])}

    r = fit(net, (x, y), config=XOR_FAST, epochs=2, seed=0, epoch_metrics=metrics)
    assert seen == [net, net]
    assert [h["pulse"] for h in r["history"]] == [h["pulse_times"][0][0] for h in r["history"]]


def test_fit_follows_the_training_contract():
    """fit(net, train, val=None, config=None, *, epochs, seed, ...) -> FitResult; the old call shape warns."""
    from spikelib.alpha import MNIST_README
    from spikelib.fitting import FitResult

    x, y = xor_data(30, 3)
    hp = XOR_FAST
    r = fit(hp.network(2, 2, seed=1, dtype=torch.float64), (x, y), config=hp, epochs=2, seed=4)
    assert isinstance(r, FitResult) and r.best == r["best"] and set(r) == {"history", "best"}
    assert [h["epoch"] for h in r.history] == [0, 1] and "val_accuracy" not in r.history[0]
    # the old positional hyperparameters: a DeprecationWarning and the same run
    old_net = hp.network(2, 2, seed=1, dtype=torch.float64)
    with pytest.warns(DeprecationWarning, match="config="):
        old = fit(old_net, (x, y), hp, epochs=2, seed=4)
    assert _strip(old["history"]) == _strip(r["history"]) and old["best"] == r["best"]
    with pytest.raises(ValueError, match="epochs="):
        fit(hp.network(2, 2, seed=1, dtype=torch.float64), (x, y), config=hp)
    # config=None is the authors' README set: its learning rates reach the optimiser
    seen = {}
    import spikelib.alpha.training as training

    original = training.make_optimizer
    try:
        training.make_optimizer = lambda net, h: seen.setdefault("hp", h) and original(net, h)
        fit(hp.network(2, 2, seed=1, dtype=torch.float64), (x, y), epochs=1, backend="torch")
    finally:
        training.make_optimizer = original
    assert seen["hp"] is MNIST_README
