"""Functional core of the alpha-synapse temporal-coding neuron (Comsa et al. 2021, §2.2-2.3).

A neuron receiving spikes at times ``t_i`` with weights ``w_i`` has the membrane potential

    V(t) = sum_{t_i < t} w_i (t - t_i) exp(-tau (t - t_i))                         (eq. 1)

and fires at the earliest time ``t_out`` with ``V(t_out) = theta`` on a rising flank (eq. 2). For the causal
set I of inputs before ``t_out``, with ``A = sum_I w_i e^{tau t_i}`` and ``B = sum_I w_i e^{tau t_i} t_i``,

    t_out = B/A - W0(-tau theta / A * exp(tau B / A)) / tau                         (eq. 3)

and the exact derivatives are (eqs. 4-5, written for general tau)

    d t_out / d w_i = e^{tau t_i} (t_i - t_out) / (A (1 + W))
    d t_out / d t_i = w_i e^{tau t_i} (tau (t_i - t_out) + 1) / (A (1 + W)).

Algorithm. For every example the spiking inputs are sorted once. A cheap test on the potential (no
Lambert W) finds, for every output neuron, the first prefix of the sorted inputs whose threshold crossing
lies between its last input and the next one: exactly the set the authors' event loop stops at. Only then
is W0 evaluated, once per output neuron. Nothing of size n_in x n_in is built.

Two implementations of that algorithm, tested against each other and against the event-driven reference
(:mod:`spikelib.alpha.reference`):

- the torch path here (:func:`_forward_core`, :func:`_backward_core`): prefix sums over the sorted inputs
  give A and B for every prefix at once, as (batch, spiking inputs, n_out) tensors; ``torch.compile``d
  where a compiler is available. It is the reference and the path used on CUDA;
- on CPU, a C scan kernel (:mod:`spikelib.alpha._cscan`) that walks the sorted inputs once per example
  with running sums, several times faster on small machines. ``backend="torch"`` (or
  ``SPIKELIB_BACKEND=torch``) turns it off.

Float32 safety. ``e^{tau t}`` overflows float32 for ``tau t > 88``. All exponentials are taken relative to
a reference time: the first input of the example, advanced in steps of ``SPAN / tau`` ("time bins") when
the inputs span more than that (the C kernel moves its frame the same way, exactly). Inputs from earlier
bins enter with factors ``<= e^{-SPAN}``, which is where their physical contribution has decayed to anyway.
"""

from __future__ import annotations

import math
import os
import warnings

import torch

from spikelib.alpha import _cscan
from spikelib.backend import resolve_backend
from spikelib.alpha.kernel import alpha_kernel
from spikelib.alpha.lambertw import lambertw0

# Width of a time bin, in units of 1/tau: e^{SPAN} times the largest weight must stay far below the
# dtype's maximum (float32: 3e38 ~ e^88).
_SPAN = {torch.float16: 6.0, torch.bfloat16: 30.0, torch.float32: 30.0, torch.float64: 300.0}
# Lower bound on 1 + W in the derivatives: at a grazing threshold crossing (W -> -1) the exact derivative
# is infinite; it is kept large but finite so that no inf/NaN reaches the optimiser.
_MIN_ONE_PLUS_W = {torch.float32: 1e-6, torch.float64: 1e-12}


def _check_params(tau: float, theta: float) -> None:
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau (the decay rate) must be a positive finite number, got {tau}")
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"theta (the firing threshold) must be a positive finite number, got {theta}")


def _prefix_sums(t_s: torch.Tensor, w_s: torch.Tensor, tau: float, occupied: tuple[int, ...]):
    """Prefix sums over the sorted inputs, in the frame of each input's time bin.

    ``t_s`` (N, K) sorted times (inf padded); ``w_s`` (N, K, J) their weights to the J output neurons.
    Returns the reference time ``ref`` (N, K) of every prefix and ``a``, ``b`` (N, K, J) with
    ``a_k = sum_{i<=k} w_i e^{tau (t_i - ref_k)}``, ``b_k = sum_{i<=k} w_i e^{tau (t_i - ref_k)} (t_i - ref_k)``,
    so that ``V_k(t) = e^{-tau (t - ref_k)} (a_k (t - ref_k) - b_k)`` after input k.
    """
    span = _SPAN.get(t_s.dtype, 30.0) / tau
    finite = torch.isfinite(t_s)
    t0 = t_s[:, :1]
    bins = torch.floor(torch.where(finite, t_s - t0, 0.0) / span)
    ref = torch.where(finite, t0 + bins * span, t0)
    a = b = None
    for j in occupied:  # almost always (0,); a few bins for long spike trains in float32
        ref_j = t0 + j * span
        d = torch.where(finite, torch.clamp(t_s - ref_j, max=span), 0.0)  # later bins: unused, kept finite
        e = torch.where(finite, torch.exp(tau * d), 0.0)
        a_j = torch.cumsum(w_s * e.unsqueeze(-1), dim=1)
        b_j = torch.cumsum(w_s * (e * d).unsqueeze(-1), dim=1)
        if len(occupied) == 1:
            return ref, a_j, b_j
        sel = (bins == j).unsqueeze(-1)
        a = a_j if a is None else torch.where(sel, a_j, a)
        b = b_j if b is None else torch.where(sel, b_j, b)
    return ref, a, b


# MIRROR(alpha-spike-time): keep in lockstep with spikelib/alpha/_train.c:layer_forward; tested by tests/test_alpha_ctrain.py::test_boolean_updates_match_the_torch_loop_exactly
def _crossing_time(a_k, b_k, ref_k, spikes, tau: float, theta: float):
    """eq. (3) for the chosen prefixes, in the frame of ``ref_k``: returns (t_out, W); inf where silent.

    z = -tau theta / a e^{tau b/a} is formed in logs and clamped onto the domain z >= -1/e that the
    prefix test guarantees up to rounding.
    """
    safe_ak = torch.where(spikes, a_k, 1.0)
    ratio = torch.where(spikes, b_k / safe_ak, 0.0)
    log_mz = math.log(tau * theta) - torch.log(safe_ak) + tau * ratio
    W = lambertw0(-torch.exp(torch.clamp(log_mz, max=-1.0)))
    return torch.where(spikes, ref_k + ratio - W / tau, float("inf")), W


def _inverse_denominator(a_k, W, spikes):
    """1 / (A (1 + W)) of eqs. (4)-(5); 1 + W is bounded below so a grazing crossing stays finite."""
    min_w1 = _MIN_ONE_PLUS_W.get(a_k.dtype, 1e-6)
    return torch.where(spikes, 1.0 / (torch.where(spikes, a_k, 1.0) * torch.clamp(1.0 + W, min=min_w1)), 0.0)


# MIRROR(alpha-crossing): keep in lockstep with spikelib/alpha/_scan.c:alpha_forward; tested by tests/test_alpha_cscan.py::test_c_kernel_matches_torch_path_on_random_batches
def _forward_core(t_s, order, w, tau: float, theta: float, occupied: tuple[int, ...]):
    """Everything after sorting: prefix sums, the crossing test, eq. (3) once per output neuron.

    The causal prefix k of each (example, output) is the one the authors' loop stops at: its threshold
    crossing c_k (earlier root of V_k = theta) exists, is not earlier than input k (no false alarm) and
    not later than input k+1. It is found on the potential alone, with s = t - ref_k and the peak of V_k at
    s_max = b/a + 1/tau:
      c_k >= t_k     <=>  a > 0,  t_k <= t_max  and  V_k(t_k) <= theta
      c_k <= t_k+1   <=>  V_k(t_k+1) >= theta        if t_k+1 <= t_max
                          V_k(t_max) >= theta        otherwise (the crossing exists at all).
    """
    K = t_s.shape[1]
    w_s = w[order]  # (N, K, J): weights of the spiking inputs in time order
    ref, a, b = _prefix_sums(t_s, w_s, tau, occupied)
    finite = torch.isfinite(t_s)
    s_k = torch.where(finite, t_s - ref, 0.0)
    t_next = torch.cat([t_s[:, 1:], torch.full_like(t_s[:, :1], float("inf"))], dim=1)
    s_next = t_next - ref  # inf after the last input
    has_next = torch.isfinite(s_next).unsqueeze(-1)
    s_next = torch.where(has_next.squeeze(-1), s_next, 0.0).unsqueeze(-1)
    e_k = torch.exp(-tau * s_k).unsqueeze(-1)
    e_next = torch.exp(-tau * s_next)
    s_k = s_k.unsqueeze(-1)
    a_tau = a * (1.0 / tau)
    u_k = a * s_k - b  # e^{tau s_k} V_k(t_k)
    u_next = a * s_next - b
    safe_a = torch.where(a > 0, a, 1.0)
    peak_ok = a_tau * torch.exp(-1.0 - tau * (b / safe_a)) >= theta
    next_before_peak = has_next & (u_next <= a_tau)
    valid = (a > 0) & finite.unsqueeze(-1) & (u_k <= a_tau) & (e_k * u_k <= theta)
    valid = valid & torch.where(next_before_peak, e_next * u_next >= theta, peak_ok)
    # first valid prefix; the index is carried as a float so the reduction stays in vector lanes
    k_idx = torch.arange(K, device=t_s.device, dtype=a.dtype).view(1, K, 1)
    k_star = torch.where(valid, k_idx, float(K)).amin(dim=1).to(torch.int64)  # (N, J); K: silent
    spikes = k_star < K
    k_sel = torch.clamp(k_star, max=K - 1)
    a_k = a.gather(1, k_sel.unsqueeze(1)).squeeze(1)
    b_k = b.gather(1, k_sel.unsqueeze(1)).squeeze(1)
    ref_k = ref.gather(1, k_sel)
    t_out, W = _crossing_time(a_k, b_k, ref_k, spikes, tau, theta)
    return t_out, k_star, spikes, a_k, W, ref_k


# MIRROR(alpha-gradients): keep in lockstep with spikelib/alpha/_scan.c:alpha_backward; tested by tests/test_alpha_cscan.py::test_c_kernel_matches_torch_path_on_random_batches
def _backward_core(t_s, order, w, k_star, spikes, a_k, W, ref_k, t_out, grad_out, tau: float, clip: float):
    """Per-input gradient terms: ``grad_out * d t_out / d w_i`` (N, K, J) and ``sum_j grad_out * d t_out / d t_i`` (N, K).

    Local derivatives (eqs. 4-5) for the inputs of the causal prefix of each output; zero elsewhere.
    """
    K = t_s.shape[1]
    w_s = w[order]
    causal = (torch.arange(K, device=t_s.device).view(1, K, 1) <= k_star.unsqueeze(1)) & spikes.unsqueeze(1)
    # e^{tau (t_i - ref)} in each output's own frame; non-causal entries are masked (clamp keeps them finite)
    dt_ref = torch.where(causal, t_s.unsqueeze(-1) - ref_k.unsqueeze(1), 0.0)
    e = torch.exp(tau * torch.clamp(dt_ref, max=_SPAN.get(t_s.dtype, 30.0) / tau))
    diff = torch.where(causal, t_s.unsqueeze(-1) - torch.where(spikes, t_out, 0.0).unsqueeze(1), 0.0)
    scale = torch.where(causal, e * _inverse_denominator(a_k, W, spikes).unsqueeze(1), 0.0)
    d_w = scale * diff
    d_t = w_s * scale * (tau * diff + 1.0)
    if clip > 0:
        d_w = torch.clamp(d_w, -clip, clip)
        d_t = torch.clamp(d_t, -clip, clip)
    g = torch.where(spikes, grad_out, 0.0).unsqueeze(1)  # (N, 1, J)
    big = torch.finfo(t_s.dtype).max
    gw = torch.nan_to_num(d_w * g, nan=0.0, posinf=big, neginf=-big)
    gt = torch.nan_to_num((d_t * g).sum(dim=-1), nan=0.0, posinf=big, neginf=-big)
    return gw, gt


# The two cores are plain torch code; torch.compile (inductor) fuses their elementwise chains into one
# loop (C++/OpenMP on CPU, Triton on CUDA). The same functions run eagerly when compilation is off or
# unavailable, so CPU and CUDA share one implementation either way.
_COMPILED: dict = {}
_compile_enabled = os.environ.get("SPIKELIB_COMPILE", "1") not in ("0", "false", "no")


def set_compile(enabled: bool) -> None:
    """Turn torch.compile of the spike-time kernels on or off (default on; env ``SPIKELIB_COMPILE=0``)."""
    global _compile_enabled
    _compile_enabled = bool(enabled)


def _kernel(fn):
    if not _compile_enabled:
        return fn
    if fn not in _COMPILED:
        try:
            _COMPILED[fn] = torch.compile(fn, dynamic=True)
        except Exception as exc:  # pragma: no cover - depends on the platform's compiler
            warnings.warn(f"torch.compile unavailable ({exc}); spike times run eagerly (slower)")
            _COMPILED[fn] = fn
    return _COMPILED[fn]


def _eager_call(fn, *args):
    return fn(*args)


def _call_kernel(fn, *args):
    try:
        return _kernel(fn)(*args)
    except Exception as exc:  # a missing C++ compiler surfaces at the first call
        if _COMPILED.get(fn) is fn or not _compile_enabled:
            raise
        warnings.warn(f"compiling {fn.__name__} failed ({type(exc).__name__}: {exc}); running eagerly")
        _COMPILED[fn] = fn
        return fn(*args)


class _SpikeTimes(torch.autograd.Function):
    """Exact spike times with the exact derivatives of eqs. (4)-(5); local derivatives clipped at ``clip``."""

    @staticmethod
    def forward(ctx, t_in, w, tau, theta, clip, use_c):
        N, n_in = t_in.shape
        n_out = w.shape[1]
        ctx.tau, ctx.clip, ctx.n_in = tau, clip, n_in
        t_sorted, order = torch.sort(t_in, dim=1)
        K = int(torch.isfinite(t_sorted).sum(dim=1).max().item()) if N else 0
        if K == 0:  # no input spikes anywhere in the batch
            ctx.empty = True
            ctx.save_for_backward(w)
            return torch.full((N, n_out), float("inf"), dtype=t_in.dtype, device=t_in.device)
        ctx.empty = False
        t_s = t_sorted[:, :K].contiguous()
        order = order[:, :K].contiguous()
        ctx.cscan = use_c
        if ctx.cscan:
            a_k, b_k, ref_k, k_star = _cscan.forward(t_s, order, w, tau, theta, _SPAN[t_s.dtype])
            spikes = k_star < K
            t_out, W = _crossing_time(a_k, b_k, ref_k, spikes, tau, theta)
            ctx.save_for_backward(t_s, order, w, k_star, ref_k, t_out, _inverse_denominator(a_k, W, spikes))
            return t_out
        span = _SPAN.get(t_s.dtype, 30.0) / tau
        finite = torch.isfinite(t_s)
        bins = torch.floor(torch.where(finite, t_s - t_s[:, :1], 0.0) / span)
        occupied = (0,) if bins.max().item() == 0 else tuple(int(b) for b in torch.unique(bins).tolist())
        # The compiled kernel covers the usual single-bin case; rare multi-bin batches run eagerly so that
        # the kernel is not recompiled for every pattern of occupied bins.
        core = _call_kernel if occupied == (0,) else _eager_call
        t_out, k_star, spikes, a_k, W, ref_k = core(_forward_core, t_s, order, w, tau, theta, occupied)
        ctx.save_for_backward(t_s, order, w, k_star, spikes, a_k, W, ref_k, t_out)
        return t_out

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.empty:
            (w,) = ctx.saved_tensors
            N = grad_out.shape[0]
            return torch.zeros(N, ctx.n_in, dtype=w.dtype, device=w.device), torch.zeros_like(w), None, None, None, None
        saved = ctx.saved_tensors
        t_s, order, w = saved[0], saved[1], saved[2]
        if ctx.cscan:
            k_star, ref_k, t_out, inv_denom = saved[3:]
            g = torch.where(torch.isfinite(t_out), grad_out, 0.0)
            grad_w, grad_t = _cscan.backward(t_s, order, w, k_star, ref_k, t_out, inv_denom, g, ctx.tau, ctx.clip, ctx.n_in)
            return grad_t, grad_w, None, None, None, None
        gw, gt = _call_kernel(_backward_core, *saved, grad_out.contiguous(), ctx.tau, ctx.clip)
        # scatter back to the unsorted inputs outside the compiled kernel: index_add_ over contiguous rows
        # needs no atomics, unlike the scatter inductor would generate.
        grad_w = torch.zeros_like(w).index_add_(0, order.reshape(-1), gw.reshape(-1, w.shape[1]))
        grad_t = torch.zeros(t_s.shape[0], ctx.n_in, dtype=gt.dtype, device=gt.device).scatter_(1, order, gt)
        return grad_t, grad_w, None, None, None, None


def spike_times(
    t_in: torch.Tensor, w: torch.Tensor, tau: float, theta: float, *, clip_derivative: float = 0.0,
    backend: str = "auto",
) -> torch.Tensor:
    """Exact output spike times of a layer of alpha neurons (eqs. 1-3), differentiable (eqs. 4-5).

    Args:
        t_in: (..., n_in) input spike times; ``inf`` for inputs that never spike.
        w: (n_in, n_out) weights.
        tau: decay rate (the paper's tau).
        theta: firing threshold.
        clip_derivative: clip each local derivative to +-c in the backward pass (0: exact, no clipping;
            the layers pass the paper's ``clip_derivative`` here).
        backend: ``"auto"``, ``"c"`` (the CPU scan kernel ``_scan.c``) or ``"torch"``
            (:func:`spikelib.backend.resolve_backend`); both give the same times to rounding.

    Returns:
        (..., n_out) output spike times, ``inf`` where a neuron does not spike. Gradients are zero for
        silent outputs and for inputs that are silent or arrive after the output spike.
    """
    _check_params(tau, theta)
    if w.ndim != 2:
        raise ValueError(f"w must have shape (n_in, n_out), got {tuple(w.shape)}")
    if t_in.shape[-1] != w.shape[0]:
        raise ValueError(
            f"t_in has {t_in.shape[-1]} inputs in its last dimension but w has {w.shape[0]} rows; "
            "w must be (n_in, n_out)"
        )
    if not torch.is_floating_point(t_in):
        raise TypeError(f"t_in must be a float tensor (inf for silent inputs), got {t_in.dtype}")
    if torch.isnan(t_in).any() or torch.isneginf(t_in).any():
        raise ValueError("t_in contains NaN or -inf; use +inf for inputs that never spike")
    lead = t_in.shape[:-1]
    flat = t_in.reshape(-1, t_in.shape[-1])
    use_c = resolve_backend(backend, kernel=_cscan.KERNEL, device=flat.device, dtype=flat.dtype,
                            what="spike_times") == "c"
    out = _SpikeTimes.apply(flat, w.to(flat.dtype), float(tau), float(theta), float(clip_derivative), use_c)
    return out.reshape(*lead, w.shape[1])


def membrane_potential(t: torch.Tensor, t_in: torch.Tensor, w: torch.Tensor, tau: float) -> torch.Tensor:
    """V(t) of eq. (1) at times ``t`` (T,), for one example ``t_in`` (n_in,) and weights (n_in, n_out).

    Returns (T, n_out). Ignores the output spike (no reset), as in the paper's Figures 1b, 4 and 7.
    """
    dt = t.reshape(-1, 1) - t_in.reshape(1, -1)  # (T, n_in)
    causal = torch.isfinite(dt) & (dt > 0)
    kernel = alpha_kernel(torch.where(causal, dt, torch.zeros_like(dt)), 1.0, tau)
    return kernel @ w.to(kernel.dtype)
