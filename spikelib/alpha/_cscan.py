"""The alpha-neuron C kernels (``_scan.c``, ``_train.c``): built once per machine, called via ctypes.

Why a C kernel: the vectorised torch formulation evaluates the crossing test for every prefix of every
(example, neuron) in memory; a sequential scan keeps the running sums in cache and stops each neuron at its
spike, which is several times faster on a 2-core CPU. The algorithm and the crossing test are those of the
torch path in :mod:`spikelib.alpha.functional`, which remains the reference and the CUDA path; the tests
check that both agree. Without a C compiler everything falls back to the torch path.

The shared library is cached under ``$SPIKELIB_CACHE`` (default ``~/.cache/spikelib/build``), keyed by the
source, the compiler flags and the CPU's feature flags, and written atomically. ctypes releases the GIL, so
examples are split across threads (``torch.get_num_threads()``).

The C code is ``_alpha.h`` (the argument structs) and the templates ``_scan.c`` and ``_train.c``,
instantiated for float64 and float32 by :func:`spikelib._cbuild.template_source`. Every entry point takes
one struct, mirrored here (:class:`AlphaForwardArgs`, :class:`AlphaBackwardArgs`, :class:`AlphaTrainArgs`,
:class:`AlphaLambertWArgs`) and checked against the C layout when the library loads.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from spikelib._cbuild import CKernel, declare_entry_points, dtype_suffix, template_source

_HERE = Path(__file__).parent
# -fno-trapping-math: without it GCC will not if-convert the backward's branch-free one-frame loop on AMD
# targets (its clip and non-finite guards are float compares that could raise a flag), and it stayed scalar.
# It reassociates nothing: that loop's sum is taken in order after it, so the bits are those of the scalar pass.
_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-fPIC", "-shared",
          "-std=c99"]

_i64, _ptr_t, _dbl = ctypes.c_int64, ctypes.c_void_p, ctypes.c_double


def _source() -> str:
    """_alpha.h (the argument structs), then the templates _scan.c and _train.c for double and float."""
    return template_source((_HERE / "_alpha.h",), (_HERE / "_scan.c", _HERE / "_train.c"))


# The argument structs: each mirrors the C struct of the same name in _alpha.h, field by field
# (checked when the library loads: spikelib._cbuild.check_layout). Scalars double, arrays untyped.


class AlphaForwardArgs(ctypes.Structure):
    """Mirror of ``AlphaForwardArgs`` in _alpha.h (``alpha_forward_f64/_f32``)."""

    _fields_ = [("n0", _i64), ("n1", _i64), ("K", _i64), ("J", _i64), ("t_s", _ptr_t), ("order", _ptr_t),
                ("w", _ptr_t), ("tau", _dbl), ("theta", _dbl), ("span", _dbl), ("a", _ptr_t), ("b", _ptr_t),
                ("ref", _ptr_t), ("k_star", _ptr_t), ("scratch", _ptr_t)]


class AlphaBackwardArgs(ctypes.Structure):
    """Mirror of ``AlphaBackwardArgs`` in _alpha.h (``alpha_backward_f64/_f32``)."""

    _fields_ = [("n0", _i64), ("n1", _i64), ("K", _i64), ("J", _i64), ("n_in", _i64), ("t_s", _ptr_t),
                ("order", _ptr_t), ("k_star", _ptr_t), ("w", _ptr_t), ("ref", _ptr_t), ("t_out", _ptr_t),
                ("inv_denom", _ptr_t), ("g", _ptr_t), ("tau", _dbl), ("clip", _dbl), ("grad_w", _ptr_t),
                ("grad_t", _ptr_t)]


class AlphaTrainArgs(ctypes.Structure):
    """Mirror of ``AlphaTrainArgs`` in _alpha.h (``alpha_train_epoch_f64/_f32``)."""

    _fields_ = [("L", _i64), ("sizes", _ptr_t), ("P", _i64), ("params", _ptr_t), ("m", _ptr_t), ("v", _ptr_t),
                ("w_off", _ptr_t), ("pulse_off", _ptr_t), ("n_groups", _i64), ("group_off", _ptr_t),
                ("group_len", _ptr_t), ("group_lr", _ptr_t), ("group_step", _ptr_t), ("group_clamp", _ptr_t),
                ("beta1", _dbl), ("beta2", _dbl), ("eps", _dbl), ("N", _i64), ("x", _ptr_t), ("targets", _ptr_t),
                ("labels", _ptr_t), ("order", _ptr_t), ("batch", _i64), ("n_threads", _i64), ("loss_kind", _i64),
                ("update_all", _i64), ("latency", _dbl), ("tau", _dbl), ("theta", _dbl), ("clip", _dbl),
                ("penalty", _dbl), ("span", _dbl), ("min_w1", _dbl), ("stats", _ptr_t)]


class AlphaLambertWArgs(ctypes.Structure):
    """Mirror of ``AlphaLambertWArgs`` in _alpha.h (``alpha_lambertw0_f64/_f32``)."""

    _fields_ = [("n", _i64), ("z", _ptr_t), ("w", _ptr_t)]


class AlphaSortArgs(ctypes.Structure):
    """Mirror of ``AlphaSortArgs`` in _alpha.h (``alpha_sort_order_f64/_f32``)."""

    _fields_ = [("n", _i64), ("key", _ptr_t), ("idx", _ptr_t), ("tmp", _ptr_t)]


#: (entry point, argument struct, return type) of every exported function, without the precision suffix.
ENTRY_POINTS = (("alpha_forward", AlphaForwardArgs, None), ("alpha_backward", AlphaBackwardArgs, None),
                ("alpha_train_epoch", AlphaTrainArgs, ctypes.c_int), ("alpha_lambertw0", AlphaLambertWArgs, None),
                ("alpha_sort_order", AlphaSortArgs, None))


def _declare(lib) -> None:
    declare_entry_points(lib, ENTRY_POINTS)


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
    scratch = torch.empty(workers, 4 * J, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_forward_{_suffix(t_s.dtype)}")

    def run(n0: int, n1: int, i: int) -> None:
        fn(ctypes.byref(AlphaForwardArgs(
            n0=n0, n1=n1, K=K, J=J, t_s=_ptr(t_s), order=_ptr(order), w=_ptr(w), tau=tau, theta=theta, span=span,
            a=_ptr(a), b=_ptr(b), ref=_ptr(ref), k_star=_ptr(k_star), scratch=_ptr(scratch[i]))))

    KERNEL.parallel(run, N, lambda i: (i,))
    return a, b, ref, k_star


def backward(t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out, tau: float, clip: float, n_in: int):
    """Gradients w.r.t. the weights (n_in, J) and the input times (N, n_in) for upstream ``grad_out`` (N, J)."""
    lib = library()
    N, K = t_s.shape
    J = w.shape[1]
    t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out = (
        x.contiguous() for x in (t_s, order, w, k_star, ref_k, t_out, inv_denom, grad_out))
    workers = max(1, min(torch.get_num_threads(), N))
    grad_w = torch.zeros(workers, *w.shape, dtype=w.dtype)  # one buffer per thread: no atomics
    grad_t = torch.zeros(N, n_in, dtype=t_s.dtype)
    fn = getattr(lib, f"alpha_backward_{_suffix(t_s.dtype)}")

    def run(n0: int, n1: int, i: int) -> None:
        fn(ctypes.byref(AlphaBackwardArgs(
            n0=n0, n1=n1, K=K, J=J, n_in=n_in, t_s=_ptr(t_s), order=_ptr(order), k_star=_ptr(k_star), w=_ptr(w),
            ref=_ptr(ref_k), t_out=_ptr(t_out), inv_denom=_ptr(inv_denom), g=_ptr(grad_out), tau=tau, clip=clip,
            grad_w=_ptr(grad_w[i]), grad_t=_ptr(grad_t))))

    KERNEL.parallel(run, N, lambda i: (i,))
    return grad_w.sum(dim=0), grad_t


def lambertw0(z: torch.Tensor) -> torch.Tensor:
    """W0(z) elementwise by the C kernel's ``lambertw0`` (float32 or float64, CPU): the entry point of the
    lockstep test against :func:`spikelib.alpha.lambertw.lambertw0`."""
    lib = library()
    z = z.contiguous()
    w = torch.empty_like(z)
    getattr(lib, f"alpha_lambertw0_{_suffix(z.dtype)}")(
        ctypes.byref(AlphaLambertWArgs(n=z.numel(), z=_ptr(z), w=_ptr(w))))
    return w


def sort_order(key: torch.Tensor) -> torch.Tensor:
    """The order (int64) in which the C trainer takes inputs with spike times ``key`` (1-D, finite, float32 or
    float64): ascending, ties in index order; float32 keys of 64 or more by the radix sort of _alpha.h. The
    entry point of the test against a stable argsort."""
    lib = library()
    key = key.contiguous()
    idx, tmp = torch.empty(key.numel(), dtype=torch.int64), torch.empty(key.numel(), dtype=torch.int64)
    getattr(lib, f"alpha_sort_order_{_suffix(key.dtype)}")(
        ctypes.byref(AlphaSortArgs(n=key.numel(), key=_ptr(key), idx=_ptr(idx), tmp=_ptr(tmp))))
    return idx


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
    args = AlphaTrainArgs(
        L=len(layers), sizes=_ptr(sizes), P=P, params=_ptr(flat), m=_ptr(m), v=_ptr(v), w_off=_ptr(w_off),
        pulse_off=_ptr(pulse_off), n_groups=len(groups), group_off=_ptr(g_off), group_len=_ptr(g_len),
        group_lr=_ptr(g_lr), group_step=_ptr(g_step), group_clamp=_ptr(g_clamp), beta1=float(b1), beta2=float(b2),
        eps=float(eps), N=len(order), x=_ptr(x), targets=_ptr(tgt), labels=_ptr(lab), order=_ptr(order),
        batch=int(batch_size), n_threads=torch.get_num_threads(), loss_kind=0 if labels is not None else 1,
        update_all=int(bool(update_all)), latency=float(latency), tau=layer.tau, theta=layer.theta,
        clip=layer.clip_derivative, penalty=float(penalty), span=float(span), min_w1=float(min_one_plus_w),
        stats=_ptr(stats))
    rc = getattr(lib, f"alpha_train_epoch_{suffix}")(ctypes.byref(args))
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
