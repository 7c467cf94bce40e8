"""Regularised convolutional SAE (Hübotter et al. 2021): architecture, C kernel vs torch reference, losses,
metrics, training and resume (spikelib.lif.conv_sae, sae_losses, sae_metrics, sae_training). The chapter's
experiments are tests/test_huebotter.py."""

import json
import math
import platform

import numpy as np
import pytest
import torch

from spikelib import _cbuild
from spikelib.experiments import huebotter as hb
from spikelib.lif import _sae_kernel
from spikelib.lif import conv_sae as cs
from spikelib.lif import sae_losses as sl
from spikelib.lif import sae_metrics as sm
from spikelib.lif import sae_training as st

needs_kernel = pytest.mark.skipif(not _sae_kernel.available(), reason="no C compiler for the SAE kernel")


# ---------------------------------------------------------------- architecture


TABLE2 = {  # latent size: (SAE, AE, VAE)
    10: (282_400, 295_210, 423_220),
    20: (538_400, 551_220, 807_240),
    50: (1_306_400, 1_319_250, 1_959_300),
    100: (2_586_400, 2_599_300, 3_879_400),
}


@pytest.mark.parametrize("nz", sorted(TABLE2))
def test_parameter_counts_match_table2(nz):
    sae, ae, vae = TABLE2[nz]
    assert cs.n_parameters(cs.ConvSAE(nz, seed=None)) == sae
    assert cs.n_parameters(cs.ConvAE(nz, seed=None)) == ae
    assert cs.n_parameters(cs.ConvVAE(nz, seed=None)) == vae


def test_sae_has_no_bias_and_baselines_bias_only_fully_connected():
    assert all("bias" not in name for name, _ in cs.ConvSAE(10, seed=None).named_parameters())
    biased = {name.split(".")[0] for name, _ in cs.ConvAE(10, seed=None).named_parameters() if "bias" in name}
    assert biased == {"fc1", "fc2"}


def test_layer_shapes_and_output_shapes():
    assert cs.layer_shapes(7) == [(16, 24, 24), (32, 20, 20), (7,), (12800,), (16, 24, 24), (1, 28, 28)]
    m = cs.ConvSAE(7, seed=0)
    x = torch.rand(3, 1, 28, 28)
    for backend in ("torch", "c") if _sae_kernel.available() else ("torch",):
        out = m(cs.encode(x, 4, generator=torch.Generator().manual_seed(0)), backend=backend, record_latent=True)
        assert out.xhat.shape == (3, 1, 28, 28)
        assert [tuple(c.shape[1:]) for c in out.counts] == cs.layer_shapes(7)
        assert [tuple(u.shape[1:]) for u in out.u_final] == cs.layer_shapes(7)
        assert out.latent_spikes.shape == (4, 3, 7)
        assert torch.equal(out.latent_spikes.sum(0), out.counts[cs.LATENT])
    ae, vae = cs.ConvAE(7), cs.ConvVAE(7)
    assert ae(x).xhat.shape == (3, 1, 28, 28) and ae(x).z.shape == (3, 7)
    v = vae(x, generator=torch.Generator().manual_seed(0))
    assert v.mu.shape == v.logvar.shape == v.z.shape == (3, 7) and v.xhat.shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="spikes must be"):
        m(torch.zeros(4, 3, 28, 28))


def test_init_follows_the_authors_scales():
    m = cs.ConvSAE(100, seed=3)
    assert m.conv2.weight.std().item() == pytest.approx(math.sqrt(2 / (25 * 16)), rel=0.02)
    assert m.fc1.weight.std().item() == pytest.approx(2 * math.sqrt(2 / 12800), rel=0.02)  # the code's 2x
    assert m.deconv1.weight.std().item() == pytest.approx(math.sqrt(2 / (25 * 32)), rel=0.02)
    assert torch.equal(cs.ConvSAE(100, seed=3).fc2.weight, m.fc2.weight)


def test_vae_decoder_input_layer_gets_glorot_init():
    """The stated deviation of ConvVAE: fc2 (z -> 12,800) is drawn with Glorot's std, every other layer, and
    the AE's fc2, with eq. 13's He std; vae_fc2="he" gives eq. 13's draw (the same normal draws, rescaled)."""
    vae, ae = cs.ConvVAE(100, seed=3), cs.ConvAE(100, seed=3)
    assert vae.fc2.weight.std().item() == pytest.approx(math.sqrt(2 / (100 + 12800)), rel=0.02)
    assert ae.fc2.weight.std().item() == pytest.approx(math.sqrt(2 / 100), rel=0.02)
    assert vae.fc1.weight.std().item() == pytest.approx(math.sqrt(2 / 12800), rel=0.02)
    he = cs.init_weights_(cs.ConvVAE(100, seed=None), seed=3, vae_fc2="he")
    ratio = math.sqrt(100 / (100 + 12800))
    assert torch.allclose(vae.fc2.weight, he.fc2.weight * ratio, rtol=1e-5, atol=1e-7)
    for name in ("conv1", "conv2", "fc1", "deconv1", "deconv2"):
        assert torch.equal(getattr(vae, name).weight, getattr(he, name).weight)
    assert torch.equal(vae.fc2.bias, he.fc2.bias)
    # the first reconstructions of random images are no brighter than under the AE's He chain, far below He's
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.5
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        assert vae(x, generator=g).xhat.pow(2).mean() < 0.25 * he(x, generator=g).xhat.pow(2).mean()
    with pytest.raises(ValueError, match="vae_fc2"):
        cs.init_weights_(cs.ConvVAE(5, seed=None), vae_fc2="lecun")


# ---------------------------------------------------------------- kernel == torch reference


def _run(model, spikes, x, backend, *, regularised="every layer"):
    """Forward, a loss, backward. ``regularised``: "every layer" (potential and activity of every layer),
    "potential" (every layer's potential, the latent activity: SAE-dense's terms) or "latent" (the latent
    layer's only): the kernel has a backward path for each kind of layer these leave."""
    model.zero_grad()
    out = model(spikes, backend=backend, record_latent=True)
    regularised, counted = {"every layer": (out.u_final, out.counts), "potential": (out.u_final, []),
                            "latent": ([out.u_final[cs.LATENT]], [])}[regularised]
    loss = (sl.reconstruction_loss(out.xhat, x) + 0.3 * sl.potential_l2(regularised, out.T)
            + 0.2 * sl.potential_l1(regularised, out.T) + 0.5 * sl.activity_l1(counted, out.T)
            + 0.7 * sl.activity_l1([out.counts[cs.LATENT]], out.T))
    loss.backward()
    return out, [p.grad.clone() for p in model.parameters()]


@needs_kernel
@pytest.mark.parametrize("bounded,fire_on,cumulative,regularised", [
    (True, "gt", "current", "every layer"), (False, "ge", "current", "every layer"),
    (True, "gt", "potential", "every layer"), (True, "gt", "current", "potential"),
    (True, "gt", "current", "latent")])
def test_kernel_matches_torch_reference(bounded, fire_on, cumulative, regularised):
    """Full-size layers: fc2 (12 -> 12,800) spans 50 blocks of FC_COLS neurons, fc1 (12,800 -> 12) several
    bands of weight rows, so the kernel's blocked fully connected path is compared too."""
    torch.manual_seed(0)
    m = cs.ConvSAE(12, bounded=bounded, fire_on=fire_on, cumulative=cumulative, seed=1).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    spikes = cs.encode(x, 10, generator=torch.Generator().manual_seed(2))
    a, ga = _run(m, spikes, x, "c", regularised=regularised)
    b, gb = _run(m, spikes, x, "torch", regularised=regularised)
    assert torch.equal(a.latent_spikes, b.latent_spikes)
    for ca, cb in zip(a.counts, b.counts):
        assert torch.equal(ca, cb)
    assert all(c.sum() > 0 for c in a.counts)  # every layer fires: the comparison means something
    torch.testing.assert_close(a.xhat, b.xhat, rtol=1e-12, atol=1e-12)
    for ua, ub in zip(a.u_final, b.u_final):
        torch.testing.assert_close(ua, ub, rtol=1e-12, atol=1e-10)
    for x_, y_ in zip(ga, gb):
        assert y_.abs().max() > 0
        torch.testing.assert_close(x_, y_, rtol=1e-9, atol=1e-9)


@needs_kernel
@pytest.mark.parametrize("tall", [False, True], ids=["wide", "tall and wide"])
@pytest.mark.parametrize("direct", ["every layer", "read-out only"])
def test_wide_fully_connected_layers_match_torch_in_blocks(direct, tall):
    """300 inputs -> 60 neurons firing ~half the time -> 601 neurons (3 blocks of FC_COLS, the last with a
    scalar tail) -> 20: the kernel's blocked path for a wide fully connected layer with a busy input,
    against the torch reference neuron (forward, and weight gradients through the blocked layer's input
    spikes; with gradients on the read-out only, the hidden layers take the path for layers without
    direct gradients). ``tall``: 2,200 busy neurons before the 60, so that the 2,200 x 60 layer's float64
    weights (1.06 MB) pass FC_TALL_BYTES and both its passes go in bands of weight rows too."""
    from spikelib.lif import cumulative_potential, huebotter_neuron, max_readout, simulate

    gen = torch.Generator().manual_seed(0)
    B, T, decay, scale = 3, 12, 0.95, 2.0
    sizes, means = (300, 60, 601, 20), (0.05, 0.0, 0.0)
    if tall:
        sizes, means = (300, 2200, *sizes[1:]), (0.02, *means)
    neuron = huebotter_neuron(decay=decay)
    ws = [(torch.randn(n, m, generator=gen, dtype=torch.float64) * 0.1 + mean).requires_grad_()
          for m, n, mean in zip(sizes, sizes[1:], means)]
    x = (torch.rand(B, T, 300, generator=gen) < 0.05).to(torch.uint8)
    geom = [(m, 1, 1, n, 1, 1, 1, 0) for m, n in zip(sizes, sizes[1:])]
    kernels = [w.detach().T.contiguous() for w in ws]
    xhat, argmax, counts, ufinal, flags, _ = _sae_kernel.forward(
        x, kernels, geom, alpha=1 - neuron["leak"], theta=1.0, fire_gt=True, lower=-1.0, decay=decay, scale=scale)
    hidden = sum(sizes[1:-3])  # the neurons before the 60
    assert (counts[:, hidden:hidden + 60].sum(1) / T >= 8).all()  # FC_DENSE: the 601 neurons go in blocks
    if tall:
        assert (counts[:, :2200].sum(1) / T >= 8).all()  # and the 2,200 x 60 layer in bands
    g_xhat = torch.randn(B, 20, generator=gen, dtype=torch.float64)
    g_counts, g_ufinal = (torch.randn(B, sum(sizes[1:]), generator=gen, dtype=torch.float64) for _ in range(2))
    if direct == "read-out only":
        g_counts, g_ufinal = torch.zeros_like(g_counts), torch.zeros_like(g_ufinal)
    gk = _sae_kernel.backward(x, kernels, geom, flags, argmax, theta=1.0, scale=scale, g_xhat=g_xhat,
                              g_counts=g_counts, g_ufinal=g_ufinal)
    s, cs_, us = x.transpose(0, 1).to(torch.float64), [], []
    for w in ws:
        current = s @ w.T
        s, _ = simulate(current, **neuron)
        u_cum = cumulative_potential(current, decay=decay, decay_input=True, straight_through_decay=True)
        cs_.append(s.sum(0))
        us.append(u_cum[-1])
    ref = max_readout(u_cum, scale)
    assert all(c.sum() > 0 for c in cs_)
    assert torch.equal(counts, torch.cat(cs_, 1).detach())
    torch.testing.assert_close(xhat, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ufinal, torch.cat(us, 1).detach(), rtol=1e-12, atol=1e-10)
    ((ref * g_xhat).sum() + (torch.cat(cs_, 1) * g_counts).sum() + (torch.cat(us, 1) * g_ufinal).sum()).backward()
    for k, w in zip(gk, ws):
        assert w.grad.abs().max() > 0
        torch.testing.assert_close(k, w.grad.T, rtol=1e-9, atol=1e-9)


@needs_kernel
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="-mno-avx512f is an x86 flag")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("without", [("-mno-avx512f",), ("-mno-avx512f", "-mno-avx2")])
def test_kernel_without_avx512_gives_the_same_bits(monkeypatch, dtype, without):
    """The spike lists have an AVX-512 path, an AVX2 one and a portable one, and the 64-byte groups are one
    vector or two (NCH); every build gives the same spikes and sums as the native one."""
    portable = _cbuild.CKernel("lif_sae_portable", _sae_kernel._source, [*_sae_kernel._FLAGS, *without],
                               _sae_kernel._declare, what="portable LIF SAE kernel", switch="SPIKELIB_SAE_KERNEL")
    if portable.library() is None:
        pytest.skip(f"no portable build: {portable.failed}")
    m = cs.ConvSAE(10, seed=4).to(dtype)
    x = torch.rand(3, 1, 28, 28, dtype=dtype)
    spikes = cs.encode(x, 8, generator=torch.Generator().manual_seed(0))
    a, ga = _run(m, spikes, x, "c")
    monkeypatch.setattr(_sae_kernel, "KERNEL", portable)
    b, gb = _run(m, spikes, x, "c")
    for u, v in zip([a.xhat, *a.counts, *a.u_final, *ga], [b.xhat, *b.counts, *b.u_final, *gb]):
        assert torch.equal(u, v)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spikes_of_a_channel_together_give_the_same_bits(monkeypatch, dtype):
    """The backward takes a convolutional layer's spikes of one channel with equal patch bounds four or two
    at a time; a build that takes them one at a time gives the same bits. T = 30 and a busy network, so
    that every group size and both clipped and whole patches occur."""
    single = _cbuild.CKernel("lif_sae_single", _sae_kernel._source,
                             [*_sae_kernel._FLAGS, "-DSAE_ONE_SPIKE_AT_A_TIME"], _sae_kernel._declare,
                             what="one-spike-at-a-time LIF SAE kernel", switch="SPIKELIB_SAE_KERNEL")
    if single.library() is None:
        pytest.skip(f"no such build: {single.failed}")
    m = cs.ConvSAE(10, seed=4).to(dtype)
    with torch.no_grad():
        m.conv2.weight.mul_(2.0)
    x = torch.rand(4, 1, 28, 28, dtype=dtype)
    spikes = cs.encode(x, 30, generator=torch.Generator().manual_seed(0))
    a, ga = _run(m, spikes, x, "c")
    assert all(c.sum() > 0 for c in a.counts)
    monkeypatch.setattr(_sae_kernel, "KERNEL", single)
    b, gb = _run(m, spikes, x, "c")
    for u, v in zip(ga, gb):
        assert torch.equal(u, v)


@needs_kernel
def test_kernel_float32_close_to_reference():
    m = cs.ConvSAE(10, seed=4)
    x = torch.rand(2, 1, 28, 28)
    spikes = cs.encode(x, 6, generator=torch.Generator().manual_seed(0))
    a, ga = _run(m, spikes, x, "c")
    b, gb = _run(m, spikes, x, "torch")
    torch.testing.assert_close(a.xhat, b.xhat, rtol=1e-5, atol=1e-5)
    for x_, y_ in zip(ga, gb):
        torch.testing.assert_close(x_, y_, rtol=1e-4, atol=1e-3 * float(y_.abs().max()))


@needs_kernel
def test_flag_buffers_are_reused_only_once_their_graph_is_freed():
    m = cs.ConvSAE(8, seed=1).double()
    spikes = cs.encode(torch.rand(2, 1, 28, 28, dtype=torch.float64), 5, generator=torch.Generator().manual_seed(0))
    first = m(spikes, backend="c")
    held = first.all_counts.grad_fn.lease.buf.data_ptr()
    second = m(spikes, backend="c")  # the first graph still holds its buffer: a fresh one
    assert second.all_counts.grad_fn.lease.buf.data_ptr() != held
    grads = []
    for _ in range(2):  # retain_graph: the second backward reads the same flags
        m.zero_grad()
        first.xhat.sum().backward(retain_graph=True)
        grads.append(m.conv1.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    del first, second
    assert m(spikes, backend="c").all_counts.grad_fn.lease.buf.data_ptr() == held  # freed graphs give theirs back
    lease = _sae_kernel.FlagLease(10)
    ptr = lease.buf.data_ptr()
    del lease
    assert _sae_kernel.FlagLease(10).buf.data_ptr() == ptr  # given back, then taken again


@needs_kernel
@pytest.mark.parametrize("room", ["all", "some", "none"])
def test_kept_spike_lists_give_the_same_gradients(room):
    """The backward reads the forward's spike lists (SpikeLists) instead of listing the flags again: the same
    bits whether every image's lists fit, some did (the rest are listed again) or none; through the
    convolutional layers and a wide fully connected layer in blocks (a busy 60-neuron layer -> 601)."""
    gen = torch.Generator().manual_seed(3)
    B, T = 4, 9
    # conv 3x3 -> a 10x10 "convolution" onto 60 neurons -> fc 601 (3 blocks) -> fc onto a 6x6x4 grid -> deconv 3x3
    geom = [(1, 12, 12, 4, 10, 10, 3, 2), (4, 10, 10, 60, 1, 1, 10, 9), (60, 1, 1, 601, 1, 1, 1, 0),
            (601, 1, 1, 144, 1, 1, 1, 0), (4, 6, 6, 1, 8, 8, 3, 0)]
    shapes = [(1, 3, 3, 4), (4, 10, 10, 60), (60, 601), (601, 144), (4, 3, 3, 1)]
    kernels = [torch.randn(*shape, generator=gen, dtype=torch.float64) * sd + mean
               for shape, sd, mean in zip(shapes, (0.3, 0.1, 0.1, 0.1, 0.5), (0.25, 0.0, 0.0, 0.0, 0.1))]
    x = (torch.rand(B, T, 144, generator=gen) < 0.4).to(torch.uint8)
    x[0] &= (torch.rand(T, 144, generator=gen) < 0.4).to(torch.uint8)  # image 0 quieter: fewer lists to keep
    kw = dict(alpha=0.95, theta=1.0, fire_gt=True, lower=-1.0, decay=0.95, scale=2.0)
    big = _sae_kernel.SpikeLists(B, T, geom, cap=T * sum(c * h * w for c, h, w, *_ in geom) + 1000)
    xhat, argmax, counts, ufinal, flags, _ = _sae_kernel.forward(x, kernels, geom, spike_lists=big, **kw)
    assert big.kept().all()
    off = [0, *torch.tensor([g[3] * g[4] * g[5] for g in geom]).cumsum(0).tolist()]
    busy = counts[:, off[1]:off[2]].sum(1) / T >= 8  # FC_DENSE: the 601 neurons go in blocks, but image 0's
    assert busy.tolist() == [False, True, True, True]
    assert all((counts[:, a:b].sum(1) > 0).all() for a, b in zip(off, off[1:]))
    need = big.start[:, -1, -1]  # entries each image's lists took; the kernel wants 601 + 16 free per step
    assert need[0] + 700 < need[1:].min() - 16
    cap = {"all": None, "some": int(need[0]) + 700, "none": 0}[room]
    lists = _sae_kernel.SpikeLists(B, T, geom, cap=cap) if cap is not None else big
    again = _sae_kernel.forward(x, kernels, geom, spike_lists=lists, **kw)
    for a, b in zip((xhat, argmax, counts, ufinal, flags), again):
        assert torch.equal(a, b)
    kept = lists.kept()
    assert kept.tolist() == {"all": [True] * 4, "some": [True, False, False, False], "none": [False] * 4}[room]
    grads = {"g_xhat": torch.randn(B, 64, generator=gen, dtype=torch.float64),
             "g_counts": torch.randn(B, off[-1], generator=gen, dtype=torch.float64),
             "g_ufinal": torch.randn(B, off[-1], generator=gen, dtype=torch.float64)}
    ref = _sae_kernel.backward(x, kernels, geom, flags, argmax, theta=1.0, scale=2.0, **grads)
    got = _sae_kernel.backward(x, kernels, geom, flags, argmax, theta=1.0, scale=2.0, spike_lists=lists, **grads)
    assert all(r.abs().max() > 0 for r in ref)
    for r, g in zip(ref, got):
        assert torch.equal(r, g)


def test_spike_lists_room_adapts_and_shape_is_checked(monkeypatch):
    geom = [(1, 4, 4, 2, 2, 2, 3, 0)]
    monkeypatch.setattr(_sae_kernel.SpikeLists, "_need", {})
    first = _sae_kernel.SpikeLists(2, 5, geom)
    assert first.cap == int(1.25 * (5 * 16 // 8)) + 16 + 16  # T x inputs / 8 the first time, + one step's room
    first.start[:, 0, 0] = 0
    first.start[:, -1, -1] = torch.tensor([7, 30])
    first.note_use()
    assert _sae_kernel.SpikeLists(2, 5, geom).cap == int(1.25 * 30) + 32  # the fullest image, 1.25x
    second = _sae_kernel.SpikeLists(2, 5, geom)
    second.start[:, 0, 0] = torch.tensor([0, -1])  # one did not fit: twice the room
    second.start[:, -1, -1] = 7
    second.note_use()
    assert _sae_kernel.SpikeLists(2, 5, geom).cap == int(1.25 * 2 * second.cap) + 32
    x = torch.zeros(3, 5, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="SpikeLists"):
        _sae_kernel.forward(x, [torch.zeros(1, 3, 3, 2, dtype=torch.float64)], geom, alpha=0.9, theta=1.0,
                            fire_gt=True, lower=None, decay=0.9, scale=1.0, spike_lists=second)
    with pytest.raises(ValueError, match="SpikeLists"):  # the backward reads them by the same shape
        _sae_kernel.backward(x, [torch.zeros(1, 3, 3, 2, dtype=torch.float64)], geom,
                             torch.zeros(3, 5, 32, dtype=torch.uint8), torch.zeros(3, 32, dtype=torch.int32),
                             theta=1.0, scale=1.0, spike_lists=second)


@needs_kernel
def test_the_sae_backward_reads_the_kept_lists(monkeypatch):
    """ConvSAE's autograd keeps the forward's lists for the backward; with no room for them (every image
    listed again) the gradients are the same bits."""
    monkeypatch.setattr(_sae_kernel.SpikeLists, "_need", {})  # forget this test's batches afterwards
    m = cs.ConvSAE(10, seed=4)
    x = torch.rand(3, 1, 28, 28)
    spikes = cs.encode(x, 8, generator=torch.Generator().manual_seed(0))
    a, ga = _run(m, spikes, x, "c")
    assert a.all_counts.grad_fn.lists.kept().all()
    room = _sae_kernel.SpikeLists
    monkeypatch.setattr(_sae_kernel, "SpikeLists", lambda *args: room(*args, cap=0))
    b, gb = _run(m, spikes, x, "c")
    assert not b.all_counts.grad_fn.lists.kept().any()
    for u, v in zip(ga, gb):
        assert torch.equal(u, v)


# ---------------------------------------------------------------- neuron, bound and read-out by hand


def _one_layer(weights, input_spikes, *, lower=-1.0, decay=0.99, scale=1.0):
    """A single fully connected LIF layer through the kernel: weights (n_in,), input spikes (T, n_in)."""
    k = torch.tensor(weights, dtype=torch.float64).view(-1, 1)
    x = torch.tensor(input_spikes, dtype=torch.uint8).unsqueeze(0)  # (B=1, T, n_in)
    geom = [(k.shape[0], 1, 1, 1, 1, 1, 1, 0)]
    out = _sae_kernel.forward(x, [k], geom, alpha=decay, theta=1.0, fire_gt=True, lower=lower, decay=decay,
                              scale=scale)
    return x, k, geom, out


@needs_kernel
def test_lower_bound_clamps_at_minus_theta():
    # t0: I = -5 -> clamped at -1 (flag 2); then +0.6 per step: -0.39, 0.2139, 0.8118, 1.4037 > 1: spike at t4
    spikes = [[1, 0]] + [[0, 1]] * 5
    _, _, _, (xhat, argmax, counts, ufinal, flags, _) = _one_layer([-5.0, 0.6], spikes)
    assert flags[0, :, 0].tolist() == [2, 0, 0, 0, 1, 0]
    assert counts.item() == 1
    # without the bound the potential stays far below: no spike in 6 steps
    _, _, _, (_, _, counts_free, _, flags_free, _) = _one_layer([-5.0, 0.6], spikes, lower=None)
    assert counts_free.item() == 0 and flags_free.max().item() == 0
    # the paper's bound, not the code's "+theta" replacement: the same clamp in the torch reference
    from spikelib.lif import huebotter_neuron, simulate

    current = torch.tensor([-5.0, 0.6, 0.6, 0.6, 0.6, 0.6], dtype=torch.float64).view(6, 1)
    s, v = simulate(current, **huebotter_neuron())
    assert v[0].item() == -1.0 and s[:, 0].tolist() == [0, 0, 0, 0, 1, 0]


@needs_kernel
def test_readout_is_max_cumulative_current_over_scale_and_its_gradient():
    w, d, s = [0.5, -0.3], 0.9, 2.0
    spikes = [[1, 0], [1, 0], [0, 1], [0, 1], [0, 0]]
    x, k, geom, (xhat, argmax, _, ufinal, flags, _) = _one_layer(w, spikes, decay=d, scale=s)
    u, us = 0.0, []
    for a, b in spikes:
        u = d * (u + w[0] * a + w[1] * b)
        us.append(u)
    t_star = int(np.argmax(us))
    assert argmax.item() == t_star == 1
    assert xhat.item() == pytest.approx(max(us) / s, rel=1e-12)
    assert ufinal.item() == pytest.approx(us[-1], rel=1e-12)
    # straight-through decay: d xhat / d I_t = 1/s for t <= t*, so d xhat / d w_i = (spikes of i up to t*) / s
    (gk,) = _sae_kernel.backward(x, [k], geom, flags, argmax, theta=1.0, scale=s, g_xhat=torch.ones(1, 1))
    expected = torch.tensor(spikes[: t_star + 1], dtype=torch.float64).sum(0) / s
    torch.testing.assert_close(gk.view(-1), expected)


# ---------------------------------------------------------------- losses on hand-made tensors


def test_regularisers_and_losses_by_hand():
    T = 4
    counts = [torch.tensor([[2.0, 0.0], [4.0, 1.0]]), torch.tensor([[3.0], [1.0]])]
    u = [torch.tensor([[4.0, -8.0], [0.0, 2.0]]), torch.tensor([[-4.0], [4.0]])]
    B = 2
    assert sl.activity_l1(counts, T).item() == pytest.approx((7 / 4 + 4 / 4) / B)
    assert sl.activity_l1([counts[1]], T).item() == pytest.approx(1.0 / B)
    assert sl.potential_l1(u, T).item() == pytest.approx((1 + 2 + 0 + 0.5 + 1 + 1) / B)
    assert sl.potential_l2(u, T).item() == pytest.approx((1 + 4 + 0 + 0.25 + 1 + 1) / B)
    xhat, x = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert sl.reconstruction_loss(xhat, x).item() == pytest.approx((1 + 4 + 1 + 1) / 2)
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0]]))
        lin.bias.fill_(3.0)
    assert sl.weight_l2(lin).item() == pytest.approx(1 + 4 + 9)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    assert sl.kl_divergence(mu, logvar).item() == pytest.approx(0.5 * 1 + 0.5 * (4 - 1 - math.log(4)))


def test_loss_terms_weights_the_terms():
    m = cs.ConvSAE(5, seed=0)
    x = torch.rand(2, 1, 28, 28)
    out = m(cs.encode(x, 5, generator=torch.Generator().manual_seed(1)))
    w = {"l2": 0.1, "p1": 0.2, "p2": 0.3, "a1": 0.4, "a1_latent": 0.5}
    terms = sl.loss_terms(m, out, x, w)
    assert terms["p2"].item() == pytest.approx(sl.potential_l2(out.u_final, 5).item(), rel=1e-5)
    assert terms["a1"].item() == pytest.approx(sl.activity_l1(out.counts, 5).item(), rel=1e-5)
    expected = terms["lrec"] + sum(w[k] * terms[k] for k in w)
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_noise_and_poisson_encoding():
    x = torch.full((2, 1, 28, 28), 0.5)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    xi = torch.rand(x.shape, generator=g2)
    torch.testing.assert_close(cs.add_noise(x, 0.3, generator=g1), 0.7 * x + 0.3 * xi)
    s = cs.encode(torch.ones(1, 1, 28, 28), 400, generator=torch.Generator().manual_seed(0))
    assert s.shape == (400, 1, 1, 28, 28)
    assert s.mean().item() == pytest.approx(0.2, abs=0.01)  # rate 0.2 x
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cs.encode(torch.full((1, 1, 28, 28), 2.0), 3)


# ---------------------------------------------------------------- metrics on hand-made spike counts


def test_latent_metrics_by_hand():
    # 3 examples x 4 neurons; neuron 3 never fires; T = 10
    c = torch.tensor([[2.0, 0.0, 1.0, 0.0], [0.0, 0.0, 3.0, 0.0], [4.0, 5.0, 0.0, 0.0]])
    assert sm.inactive_neuron_proportion(c) == 0.25
    assert sm.active_neuron_ratio(c) == 0.75
    assert sm.active_firing_rate(c, 10) == pytest.approx(15 / (3 * 10 * 3))
    assert sm.active_per_example_ratio(c) == pytest.approx(((2 + 1 + 2) / 3) / 3)
    vae = torch.tensor([[-1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])  # VAE samples: active means non-zero
    assert sm.inactive_neuron_proportion(vae) == 0.5 and sm.active_per_example_ratio(vae) == 1.0
    dead = torch.zeros(2, 3)
    assert sm.inactive_neuron_proportion(dead) == 1.0
    assert sm.active_firing_rate(dead, 5) == 0.0 and sm.active_per_example_ratio(dead) == 0.0


def test_class_distance_ratio_by_hand():
    rep = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 2.0]])
    y = np.array([0, 0, 1, 1])
    intra = (1 + 2) / 2
    inter = (3 + math.hypot(3, 2) + math.hypot(3, 1) + math.hypot(3, 1)) / 4
    assert sm.class_distance_ratio(rep, y) == pytest.approx(intra / inter)
    assert sm.class_distance_ratio(rep, y, "cityblock") == pytest.approx(((1 + 2) / 2) / ((3 + 5 + 4 + 4) / 4))
    assert sm.class_distance_ratio(rep, y, "sqeuclidean") == pytest.approx(((1 + 4) / 2) / ((9 + 13 + 10 + 10) / 4))
    # standardised: each feature divided by its sample variance (4/3... computed here), constant ones dropped
    rep_c = np.hstack([rep, np.ones((4, 1))])
    v = rep.var(axis=0, ddof=1)

    def sd(a, b):
        return math.sqrt((((a - b) ** 2) / v).sum())

    expected = ((sd(rep[0], rep[1]) + sd(rep[2], rep[3])) / 2) / (
        (sd(rep[0], rep[2]) + sd(rep[0], rep[3]) + sd(rep[1], rep[2]) + sd(rep[1], rep[3])) / 4)
    assert sm.class_distance_ratio(rep_c, y, "seuclidean") == pytest.approx(expected)
    ratios = sm.class_distance_ratios(rep + 1.0, y)
    assert set(ratios) == set(sm.DISTANCES) and all(np.isfinite(list(ratios.values())))
    # correlation distance 1 - r: intra (0 + 2) / 2, inter (2 + 0 + 2 + 0) / 4
    rows = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    assert sm.class_distance_ratio(rows, y, "correlation") == pytest.approx(1.0)
    assert math.isnan(sm.class_distance_ratio(np.zeros((4, 3)), y))  # all silent: no structure


def test_balanced_indices_and_cluster_order():
    y = np.array([1, 0, 1, 0, 2, 2, 1])
    assert sm.balanced_indices(y, 2).tolist() == [1, 3, 0, 2, 4, 5]
    with pytest.raises(ValueError, match="only 1"):
        sm.balanced_indices(np.array([0, 0, 1]), 2)
    order = sm.cluster_order(np.array([[0.0], [10.0], [0.1], [10.2]]))
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert abs(order.tolist().index(0) - order.tolist().index(2)) == 1
    np.testing.assert_allclose(sm.normalised_activity(np.array([[0.0, -2.0], [1.0, 4.0]])), [[0, -0.5], [0.25, 1]])


# ---------------------------------------------------------------- configs and training


def test_resolve_config_table1_names_and_errors():
    c = hb.resolve_config({"model": "SAE-dense", "T": 7}, T=25, epochs=3, seeds=5)
    assert (c["model"], c["p2"], c["a1_latent"], c["T"], c["epochs"], c["name"]) == ("sae", 0.01, 0.1, 7, 3, "SAE-dense")
    assert hb.resolve_config({"model": "sae", "regulariser": "SAE-sparse"})["p1"] == 0.005
    assert hb.resolve_config({"model": "betaVAE"})["beta"] == 0.1
    with pytest.raises(ValueError, match="unknown config keys"):
        hb.resolve_config({"tau": 0.9})
    with pytest.raises(ValueError, match="SAE only"):
        hb.resolve_config({"model": "ae", "p2": 0.1})


TINY = {"T": 4, "batch_size": 16, "epochs": 2, "p2": 0.01, "a1_latent": 0.1, "nz": 8}


def _tiny_data(n=32):
    g = torch.Generator().manual_seed(5)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float() * torch.rand(n, 1, 28, 28, generator=g)


@pytest.mark.parametrize("kind", ["sae", "ae", "vae"])
def test_training_steps_reduce_loss_without_nan(kind):
    cfg = st.resolve_config({**TINY, "model": kind, "T": 6, "l2": 1e-5,
                             **({} if kind == "sae" else {"p2": 0.0, "a1_latent": 0.0})})
    model = st.make_model(cfg, seed=0)
    opt = st.make_optimizer(model, cfg)
    x = _tiny_data(16)

    def loss_on_fixed_input():
        with torch.no_grad():
            out = st.run_model(model, x, cfg, torch.Generator().manual_seed(9))
            return float(sl.loss_terms(model, out, x, cfg)["loss"])

    before = loss_on_fixed_input()
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        terms = st.train_step(model, opt, x, cfg, gen)
        assert all(math.isfinite(v) for v in terms.values())
    after = loss_on_fixed_input()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert after < before


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _strip(history):
    return [{k: v for k, v in h.items() if "seconds" not in k} for h in history]


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    cfg = st.resolve_config(TINY)
    x = _tiny_data(48)
    full_model = st.make_model(cfg, seed=0)
    full = st.fit(full_model, x, config=cfg, seed=3)

    # first run: a crash at the start of the second epoch (3 steps each; the end-of-epoch checkpoint), then
    # a crash in the middle of the second (after a mid-epoch checkpoint)
    ckpt = tmp_path / "run.ckpt"
    real_step = st.train_step

    def crash_at(n):
        calls = []

        def crashing_step(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real_step(*args, **kwargs)
        return crashing_step

    for crash, every in ((4, None), (3, 1)):
        monkeypatch.setattr(st, "train_step", crash_at(crash))
        with pytest.raises(KeyboardInterrupt):
            st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=3, checkpoint=ckpt, checkpoint_every=every)
        assert "optimizer" in torch.load(ckpt, weights_only=True)  # mid-run: everything to resume exactly
    monkeypatch.setattr(st, "train_step", real_step)
    resumed_model = st.make_model(cfg, seed=11)  # other weights: all state must come from the checkpoint
    resumed = st.fit(resumed_model, x, config=cfg, seed=3, checkpoint=ckpt, checkpoint_every=1)
    assert _strip(resumed["history"]) == _strip(full["history"])
    for (k, a), b in zip(_state(full_model).items(), _state(resumed_model).values()):
        assert torch.equal(a, b), k
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_finished_checkpoint_keeps_weights_and_history_only(tmp_path, monkeypatch):
    cfg = st.resolve_config(TINY)
    x = _tiny_data(32)
    ckpt = tmp_path / "run.ckpt"
    sizes = []
    model = st.make_model(cfg, seed=0)
    out = st.fit(model, x, config=cfg, seed=3, checkpoint=ckpt, checkpoint_every=1,
                 on_epoch=lambda rec: sizes.append(ckpt.stat().st_size))
    state = torch.load(ckpt, weights_only=True)
    assert set(state) == {"model", "history", "fingerprint"} and state["history"] == out["history"]
    assert sizes[-1] < 0.5 * sizes[0]  # after epoch 1: with Adam's two moments; after the last: without
    # a finished checkpoint means done: a rerun trains nothing and returns the stored history and weights
    monkeypatch.setattr(st, "train_step", lambda *a, **k: pytest.fail("a finished run trained again"))
    again = st.make_model(cfg, seed=11)
    assert st.fit(again, x, config=cfg, seed=3, checkpoint=ckpt)["history"] == out["history"]
    for (k, a), b in zip(_state(model).items(), _state(again).values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="cannot be continued to 3 epochs"):
        st.fit(st.make_model(cfg, seed=0), x, config=cfg, epochs=3, seed=3, checkpoint=ckpt)
    # a full checkpoint of a finished run (written before this rule) is compacted by the rerun
    full = {**state, "optimizer": torch.optim.Adam(model.parameters()).state_dict(),
            "generator": torch.Generator().get_state(), "epoch_state": None}
    torch.save(full, ckpt)
    assert st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=3, checkpoint=ckpt)["history"] == out["history"]
    assert set(torch.load(ckpt, weights_only=True)) == {"model", "history", "fingerprint"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_validation_metrics_and_json_results():
    cfg = st.resolve_config({**TINY, "epochs": 1})
    x = _tiny_data(40)
    y = torch.arange(40) % 4
    model = st.make_model(cfg, seed=0)
    hist = st.fit(model, x[:32], (x, y), cfg, seed=0)["history"]
    h = hist[0]
    for key in ("val_lrec", "val_inp", "val_anr", "val_afr", "val_rae", "val_spikes_per_example"):
        assert math.isfinite(h[key]), key
    assert h["val_inp"] + h["val_anr"] == pytest.approx(1.0)
    assert set(h["val_distance_ratio"]) == set(sm.DISTANCES)
    json.dumps(hist)


def test_backend_vocabulary():
    m = cs.ConvSAE(7, seed=0)
    assert m.backend("torch") == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        m.backend("gpu")
    if _sae_kernel.available():
        assert m.backend("c") == m.backend("auto") == "c"
        with pytest.warns(DeprecationWarning, match="'kernel' is deprecated"):
            assert m.backend("kernel") == "c"
    assert cs.ConvSAE(7, seed=0).to(torch.float16).backend("auto") == "torch"  # the C path: float32/64 only
    with pytest.raises(RuntimeError, match="float32 and float64"):
        cs.ConvSAE(7, seed=0).to(torch.float16).backend("c")


@pytest.mark.skipif(not _sae_kernel.available(), reason="no C compiler for the SAE kernel")
def test_fit_backends_agree_and_checkpoints_of_other_settings_are_refused(tmp_path):
    cfg = st.resolve_config({**TINY, "epochs": 1})
    x = _tiny_data(32)
    runs = {b: st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=3, backend=b)["history"] for b in ("c", "torch")}
    assert runs["c"][0]["train_loss"] == pytest.approx(runs["torch"][0]["train_loss"], rel=1e-4)
    ckpt = tmp_path / "run.ckpt"
    st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=3, checkpoint=ckpt)
    with pytest.raises(ValueError, match="written for other settings"):
        st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=4, checkpoint=ckpt)
    with pytest.raises(ValueError, match="written for other settings"):
        st.fit(st.make_model(cfg, seed=0), x[:16], config=cfg, seed=3, checkpoint=ckpt)
    assert isinstance(st.fit(st.make_model(cfg, seed=0), x, config=cfg, seed=3, checkpoint=ckpt), st.FitResult)
