"""The CPU scan kernel (``_scan.c``): built once per machine with the system C compiler, called via ctypes.

Why a C kernel: the vectorised torch formulation evaluates the crossing test for every prefix of every
(example, neuron) in memory; a sequential scan keeps the running sums in cache and stops each neuron at its
spike, which is several times faster on a 2-core CPU. The algorithm and the crossing test are those of the
torch path in :mod:`spikelib.alpha.functional`, which remains the reference and the CUDA path; the tests
check that both agree. Without a C compiler everything falls back to the torch path.

The shared library is cached under ``$SPIKELIB_CACHE`` (default ``~/.cache/spikelib/build``), keyed by the
source, the compiler flags and the CPU's feature flags, and written atomically. ctypes releases the GIL, so
examples are split across threads (``torch.get_num_threads()``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from spikelib._cbuild import CKernel, dtype_suffix

_SOURCE = Path(__file__).with_name("_scan.c")
_TRAIN_SOURCE = Path(__file__).with_name("_train.c")
_FLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c99"]


def _source() -> str:
    """_scan.c, then the training template _train.c instantiated for double and float."""
    train = _TRAIN_SOURCE.read_text()
    parts = [_SOURCE.read_text()]
    for real, suffix, sqrt in (("double", "f64", "sqrt"), ("float", "f32", "sqrtf")):
        parts.append(f"#define REAL {real}\n#define SUF(x) x##_{suffix}\n#define SORT_IDX sort_idx_{real}\n"
                     f"#define SQRT {sqrt}\n{train}\n#undef REAL\n#undef SUF\n#undef SORT_IDX\n#undef SQRT\n")
    return "\n".join(parts)


def _declare(lib) -> None:
    i64, ptr, dbl = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        tr = getattr(lib, f"alpha_train_epoch_{suffix}")
        tr.restype = ctypes.c_int
        tr.argtypes = ([i64, ptr, i64, ptr, ptr, ptr, ptr, ptr, i64, ptr, ptr, ptr, ptr, ptr, dbl, dbl, dbl, i64, ptr,
                        ptr, ptr, ptr, i64, i64, ctypes.c_int, ctypes.c_int] + [real] * 7 + [ptr])
        fwd = getattr(lib, f"alpha_forward_{suffix}")
        fwd.restype = None
        fwd.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, real, real, real, ptr, ptr, ptr, ptr, ptr]
        bwd = getattr(lib, f"alpha_backward_{suffix}")
        bwd.restype = None
        bwd.argtypes = [i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, real, real, ptr, ptr]


#: The kernel (``SPIKELIB_CSCAN=0`` turns it off); its ``lib`` / ``failed`` hold the load state.
KERNEL = CKernel("alpha_scan", _source, _FLAGS, _declare, what="CPU scan kernel",
                 switch="SPIKELIB_CSCAN", link=("-lm", "-lpthread"))


def library():
    """The loaded kernel library, building it on first use; None (with one warning) if that fails."""
    return KERNEL.library()


def available() -> bool:
    return KERNEL.available()


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _suffix(dtype: torch.dtype) -> str:
    return dtype_suffix(dtype, "CPU scan kernel")


def forward(t_s: torch.Tensor, order: torch.Tensor, w: torch.Tensor, tau: float, theta: float, span: float):
    """First valid prefix of every (example, output): a, b, reference time (N, J) and k_star (N, J; K: silent)."""
    lib = library()
    N, K = t_s.shape
    J = w.shape[1]
    t_s, order, w = t_s.contiguous(), order.contiguous(), w.contiguous()
    a = torch.empty(N, J, dtype=t_s.dtype)
    b = torch.empty_like(a)
    ref = torch.empty_like(a)
    k_star = torch.empty(N, J, dtype=torch.int64)
    workers = max(1, min(torch.get_num_threads(), N))
    scratch = torch.empty(workers, 2 * J, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_forward_{_suffix(t_s.dtype)}")
    KERNEL.parallel(
        fn, N,
        lambda i: (K, J, _ptr(t_s), _ptr(order), _ptr(w), tau, theta, span, _ptr(a), _ptr(b), _ptr(ref),
                   _ptr(k_star), _ptr(scratch[i])),
    )
    return a, b, ref, k_star


def backward(t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out, tau: float, clip: float, n_in: int):
    """Gradients w.r.t. the weights (n_in, J) and the input times (N, n_in) for upstream ``grad_out`` (N, J)."""
    lib = library()
    N, K = t_s.shape
    J = w.shape[1]
    args = [x.contiguous() for x in (t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out)]
    workers = max(1, min(torch.get_num_threads(), N))
    grad_w = torch.zeros(workers, *w.shape, dtype=w.dtype)  # one buffer per thread: no atomics
    grad_t = torch.zeros(N, n_in, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_backward_{_suffix(t_s.dtype)}")
    KERNEL.parallel(
        fn, N,
        lambda i: (K, J, n_in, *[_ptr(x) for x in args], tau, clip, _ptr(grad_w[i]), _ptr(grad_t)),
    )
    return grad_w.sum(dim=0), grad_t


def train_epoch(net, opt, x: torch.Tensor, order: torch.Tensor, *, batch_size: int, penalty: float,
                span: float, min_one_plus_w: float, labels: torch.Tensor | None = None, targets: torch.Tensor | None = None,
                update_all: bool = False, latency: float = 0.0) -> dict:
    """One training epoch of ``net`` over ``x[order]`` in C (``_train.c``), updating the network's
    parameters and ``opt``'s (:class:`~spikelib.alpha.training.AlphaAdam`) state in place.

    With ``labels``: the classification loss (only misclassified examples contribute unless
    ``update_all``); with ``targets``: the autoencoder loss at ``latency`` (every example contributes).
    ``span`` and ``min_one_plus_w`` are the torch path's frame width and bound on 1 + W for the dtype.
    Returns the summed ``loss``, the ``correct`` count (classification) and the ``contributing`` count.
    The arithmetic is that of the torch path, in the same order up to rounding. The examples of a batch
    are split over ``torch.get_num_threads()`` threads; a run is repeatable for a given thread count.
    """
    lib = library()
    if (labels is None) == (targets is None):
        raise ValueError("give exactly one of labels (classification) or targets (autoencoder)")
    layers = list(net.layers)
    dtype = layers[0].weight.dtype
    suffix = _suffix(dtype)
    n_pulses = {layer.n_pulses for layer in layers}
    if len(n_pulses) != 1:
        raise ValueError(f"the C trainer needs the same number of pulses in every layer, got {sorted(n_pulses)}")
    P = n_pulses.pop()
    if len({(layer.tau, layer.theta, layer.clip_derivative) for layer in layers}) != 1:
        raise ValueError("the C trainer needs the same tau, theta and clip_derivative in every layer")
    params = [layer.weight for layer in layers] + list(net.pulse_parameters())
    offsets, off = {}, 0
    for p in params:
        offsets[id(p)] = off
        off += p.numel()
    groups = [(p, g) for g in opt.param_groups for p in g["params"]]
    if sorted(id(p) for p, _ in groups) != sorted(offsets):
        raise ValueError("the optimiser must hold exactly the network's weights and pulse times")
    b1, b2 = groups[0][1]["betas"]
    eps = groups[0][1]["eps"]
    if any(g["betas"] != (b1, b2) or g["eps"] != eps for _, g in groups):
        raise ValueError("the C trainer needs the same Adam betas and eps in every parameter group")
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1) for p in params]).to(dtype).contiguous()
        m, v = torch.zeros_like(flat), torch.zeros_like(flat)
        steps = []
        for p, _ in groups:
            state = opt.state[p]
            o, n = offsets[id(p)], p.numel()
            if state:
                m[o:o + n] = state["m"].reshape(-1)
                v[o:o + n] = state["v"].reshape(-1)
            steps.append(int(state.get("step", 0)))
    is_pulse = {id(p) for p in net.pulse_parameters()}
    i64 = torch.int64
    g_off = torch.tensor([offsets[id(p)] for p, _ in groups], dtype=i64)
    g_len = torch.tensor([p.numel() for p, _ in groups], dtype=i64)
    g_lr = torch.tensor([float(g["lr"]) for _, g in groups], dtype=torch.float64)
    g_step = torch.tensor(steps, dtype=i64)
    g_clamp = torch.tensor([id(p) in is_pulse for p, _ in groups], dtype=i64)
    sizes = torch.tensor(list(net.sizes), dtype=i64)
    w_off = torch.tensor([offsets[id(layer.weight)] for layer in layers], dtype=i64)
    pulse_off = torch.tensor([offsets[id(layer.pulse_times)] if P else 0 for layer in layers], dtype=i64)
    x = x.to(dtype).contiguous()
    order = order.to(i64).contiguous()
    lab = labels.to(i64).contiguous() if labels is not None else torch.zeros(1, dtype=i64)
    tgt = targets.to(dtype).contiguous() if targets is not None else torch.zeros(1, dtype=dtype)
    stats = torch.zeros(3, dtype=torch.float64)
    layer = layers[0]
    rc = getattr(lib, f"alpha_train_epoch_{suffix}")(
        len(layers), _ptr(sizes), P, _ptr(flat), _ptr(m), _ptr(v), _ptr(w_off), _ptr(pulse_off), len(groups),
        _ptr(g_off), _ptr(g_len), _ptr(g_lr), _ptr(g_step), _ptr(g_clamp), float(b1), float(b2), float(eps),
        len(order), _ptr(x), _ptr(lab), _ptr(tgt), _ptr(order), int(batch_size), torch.get_num_threads(),
        0 if labels is not None else 1,
        int(bool(update_all)), float(latency), layer.tau, layer.theta, layer.clip_derivative, float(penalty),
        float(span), float(min_one_plus_w), _ptr(stats))
    if rc != 0:
        raise MemoryError("the C trainer could not allocate its buffers")
    with torch.no_grad():
        for (p, _), k in zip(groups, g_step.tolist()):
            o, n = offsets[id(p)], p.numel()
            p.copy_(flat[o:o + n].reshape(p.shape))
            if k:
                opt.state[p].update(step=k, m=m[o:o + n].reshape(p.shape).clone(), v=v[o:o + n].reshape(p.shape).clone())
    loss, correct, contributing = stats.tolist()
    return {"loss": loss, "correct": int(correct), "contributing": int(contributing)}
