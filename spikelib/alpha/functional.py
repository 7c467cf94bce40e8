"""Functional core of the alpha-synapse temporal-coding neuron (Comsa et al. 2021, §2.2-2.3).

A neuron receiving spikes at times ``t_i`` with weights ``w_i`` has the membrane potential

    V(t) = sum_{t_i < t} w_i (t - t_i) exp(-tau (t - t_i))                         (eq. 1)

and fires at the earliest time ``t_out`` with ``V(t_out) = theta`` on a rising flank (eq. 2). For the causal
set I of inputs before ``t_out``, with ``A = sum_I w_i e^{tau t_i}`` and ``B = sum_I w_i e^{tau t_i} t_i``,

    t_out = B/A - W0(-tau theta / A * exp(tau B / A)) / tau                         (eq. 3)

and the exact derivatives are (eqs. 4-5, written for general tau)

    d t_out / d w_i = e^{tau t_i} (t_i - t_out) / (A (1 + W))
    d t_out / d t_i = w_i e^{tau t_i} (tau (t_i - t_out) + 1) / (A (1 + W)).

Vectorisation. For every example the spiking inputs are sorted once; prefix sums over the sorted inputs
give A and B for every candidate causal set at once. A cheap test on the potential (no Lambert W) finds,
for every output neuron, the first prefix whose threshold crossing lies between its last input and the
next one: exactly the set the authors' event loop stops at. Only then is W0 evaluated, once per output
neuron. Nothing of size n_in x n_in is built; the largest tensors are (batch, spiking inputs, n_out).

Float32 safety. ``e^{tau t}`` overflows float32 for ``tau t > 88``. All exponentials are taken relative to
a reference time: the first input of the example, advanced in steps of ``SPAN / tau`` ("time bins") when
the inputs span more than that. Inputs from earlier bins enter with factors ``<= e^{-SPAN}``, which is
where their physical contribution has decayed to anyway.
"""

from __future__ import annotations

import math

import torch

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


def _prefix_sums(t_s: torch.Tensor, w_s: torch.Tensor, tau: float):
    """Prefix sums a_k, b_k of the sorted inputs in the frame of each input's time bin.

    ``t_s`` (N, K) sorted times (inf padded); ``w_s`` (N, K, n_out) their weights. Returns the reference
    time ``ref`` (N, K) of every prefix, and ``a``, ``b`` (N, K, n_out) with
    ``a_k = sum_{i<=k} w_i e^{tau (t_i - ref_k)}`` and ``b_k = sum_{i<=k} w_i e^{tau (t_i - ref_k)} (t_i - ref_k)``
    so that ``V_k(t) = e^{-tau (t - ref_k)} (a_k (t - ref_k) - b_k)``.
    """
    span = _SPAN.get(t_s.dtype, 30.0) / tau
    finite = torch.isfinite(t_s)
    t0 = t_s[:, :1]
    rel = torch.where(finite, t_s - t0, torch.zeros_like(t_s))
    bins = torch.floor(rel / span)
    n_bins = int(bins.max().item()) + 1 if t_s.numel() else 1
    a = b = None
    ref = t0 + bins * span
    for j in range(n_bins):  # almost always a single bin; a few for very long spike trains in float32
        ref_j = t0 + j * span
        d = torch.clamp(t_s - ref_j, max=span)  # later bins are clamped: their prefixes are not used here
        e = torch.where(finite, torch.exp(tau * d), torch.zeros_like(d))
        a_j = torch.cumsum(w_s * e.unsqueeze(-1), dim=1)
        b_j = torch.cumsum(w_s * (e * torch.where(finite, d, torch.zeros_like(d))).unsqueeze(-1), dim=1)
        if n_bins == 1:
            return ref, a_j, b_j
        sel = (bins == j).unsqueeze(-1)
        a = a_j if a is None else torch.where(sel, a_j, a)
        b = b_j if b is None else torch.where(sel, b_j, b)
    return ref, a, b


def _first_crossing(t_s, ref, a, b, tau: float, theta: float):
    """Index of the causal prefix of every (example, output), and whether the output spikes.

    The prefix k is the one the authors' loop stops at: its threshold crossing c_k (earlier root of
    V_k = theta) exists, is not earlier than input k (no false alarm) and not later than input k+1.
    Tested on the potential only: with s = t - ref_k and the peak at s_max = b/a + 1/tau,
      c_k >= t_k     <=>  t_k <= t_max  and  V_k(t_k) <= theta
      c_k <= t_k+1   <=>  V_k(t_k+1) >= theta        if t_k+1 <= t_max
                          V_k(t_max) >= theta        otherwise (the crossing exists at all).
    """
    K = t_s.shape[1]
    s_k = (t_s - ref).unsqueeze(-1)
    t_next = torch.cat([t_s[:, 1:], torch.full_like(t_s[:, :1], float("inf"))], dim=1)
    s_next = (t_next - ref).unsqueeze(-1)
    pos = a > 0
    a_tau = a / tau
    u_k = a * s_k - b  # e^{tau s_k} V_k(t_k)
    starts_below = (u_k <= a_tau) & (torch.exp(-tau * s_k) * u_k <= theta)
    # V_k at the peak, in logs: log(a/tau) - tau b/a - 1 >= log(theta); a <= 0 masked by pos
    safe_a = torch.where(pos, a, torch.ones_like(a))
    peak_ok = torch.log(safe_a / tau) - tau * (b / safe_a) - 1.0 >= math.log(theta)
    u_next = a * s_next - b
    next_before_peak = u_next <= a_tau  # False for t_next = inf (a > 0)
    next_ok = torch.exp(-tau * s_next) * torch.where(next_before_peak, u_next, torch.zeros_like(u_next)) >= theta
    valid = pos & starts_below & torch.where(next_before_peak, next_ok, peak_ok)
    valid &= torch.isfinite(t_s).unsqueeze(-1)
    spikes = valid.any(dim=1)
    k_star = torch.argmax(valid.to(torch.uint8), dim=1)  # first True; 0 where none (masked by spikes)
    del K
    return k_star, spikes


def _spike_from_prefix(a_k, b_k, ref_k, tau: float, theta: float):
    """eq. (3) in the frame of ``ref_k``: returns t_out and W0 for the chosen prefixes."""
    safe_a = torch.where(a_k > 0, a_k, torch.ones_like(a_k))
    ratio = b_k / safe_a
    # z = -tau theta / a e^{tau b/a}, formed in logs; z >= -1/e is guaranteed by the prefix test up to
    # rounding, so it is clamped onto the domain.
    log_mz = math.log(tau * theta) - torch.log(safe_a) + tau * ratio
    z = -torch.exp(torch.clamp(log_mz, max=-1.0))
    W = lambertw0(z)
    return ref_k + ratio - W / tau, W


def _forward(t_in: torch.Tensor, w: torch.Tensor, tau: float, theta: float):
    """Spike times (N, n_out) and what the exact backward needs."""
    N, n_in = t_in.shape
    n_out = w.shape[1]
    t_sorted, order = torch.sort(t_in, dim=1)
    K = int(torch.isfinite(t_sorted).sum(dim=1).max().item()) if N else 0
    if K == 0:
        out = torch.full((N, n_out), float("inf"), dtype=t_in.dtype, device=t_in.device)
        return out, None
    t_s = t_sorted[:, :K].contiguous()
    order = order[:, :K].contiguous()
    w_s = w[order]  # (N, K, n_out): weights of the spiking inputs, in time order
    ref, a, b = _prefix_sums(t_s, w_s, tau)
    k_star, spikes = _first_crossing(t_s, ref, a, b, tau, theta)
    idx = k_star.unsqueeze(1)
    a_k = a.gather(1, idx).squeeze(1)
    b_k = b.gather(1, idx).squeeze(1)
    ref_k = ref.gather(1, k_star)
    t_out, W = _spike_from_prefix(a_k, b_k, ref_k, tau, theta)
    t_out = torch.where(spikes, t_out, torch.full_like(t_out, float("inf")))
    saved = (t_s, order, k_star, spikes, a_k, W, ref_k, t_out)
    return t_out, saved


def _local_derivatives(saved, w: torch.Tensor, tau: float, clip: float):
    """d t_out / d w_i and d t_out / d t_i over the sorted spiking inputs: two (N, K, n_out) tensors."""
    t_s, order, k_star, spikes, a_k, W, ref_k, t_out = saved
    K = t_s.shape[1]
    w_s = w[order]
    causal = torch.arange(K, device=t_s.device).view(1, K, 1) <= k_star.unsqueeze(1)
    causal &= spikes.unsqueeze(1)
    # e^{tau (t_i - ref)} with each output's own reference (later inputs are masked; clamp avoids overflow)
    dt_ref = torch.clamp(t_s.unsqueeze(-1) - ref_k.unsqueeze(1), max=0.0)
    e = torch.exp(tau * torch.where(causal, dt_ref, torch.zeros_like(dt_ref)))
    min_w1 = _MIN_ONE_PLUS_W.get(t_s.dtype, 1e-6)
    denom = torch.where(spikes, a_k * torch.clamp(1.0 + W, min=min_w1), torch.ones_like(a_k))
    diff = torch.where(causal, t_s.unsqueeze(-1) - torch.where(spikes, t_out, torch.zeros_like(t_out)).unsqueeze(1), torch.zeros_like(e))
    scale = torch.where(causal, e / denom.unsqueeze(1), torch.zeros_like(e))
    d_w = scale * diff
    d_t = w_s * scale * (tau * diff + 1.0)
    if clip > 0:
        d_w = torch.clamp(d_w, -clip, clip)
        d_t = torch.clamp(d_t, -clip, clip)
    finfo = torch.finfo(d_w.dtype)
    d_w = torch.nan_to_num(d_w, nan=0.0, posinf=finfo.max, neginf=-finfo.max)
    d_t = torch.nan_to_num(d_t, nan=0.0, posinf=finfo.max, neginf=-finfo.max)
    return d_w, d_t


class _SpikeTimes(torch.autograd.Function):
    """Exact spike times with the exact derivatives of eqs. (4)-(5); local derivatives clipped at ``clip``."""

    @staticmethod
    def forward(ctx, t_in, w, tau, theta, clip):
        t_out, saved = _forward(t_in, w, tau, theta)
        ctx.tau, ctx.clip = tau, clip
        ctx.n_in = t_in.shape[1]
        ctx.empty = saved is None
        if saved is None:
            ctx.save_for_backward(w)
        else:
            ctx.save_for_backward(w, *saved)
        return t_out

    @staticmethod
    def backward(ctx, grad_out):
        w, *saved = ctx.saved_tensors
        N = grad_out.shape[0]
        if ctx.empty:
            return torch.zeros(N, ctx.n_in, dtype=w.dtype, device=w.device), torch.zeros_like(w), None, None, None
        t_s, order = saved[0], saved[1]
        spikes = saved[3]
        g = torch.where(spikes, grad_out, torch.zeros_like(grad_out)).unsqueeze(1)  # (N, 1, n_out)
        d_w, d_t = _local_derivatives(saved, w, ctx.tau, ctx.clip)
        grad_w = grad_t = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.zeros_like(w)
            grad_w.index_add_(0, order.reshape(-1), (d_w * g).reshape(-1, w.shape[1]))
        if ctx.needs_input_grad[0]:
            grad_sorted = (d_t * g).sum(dim=-1)
            grad_t = torch.zeros(N, ctx.n_in, dtype=grad_sorted.dtype, device=grad_sorted.device)
            grad_t.scatter_(1, order, grad_sorted)
        return grad_t, grad_w, None, None, None


def spike_times(
    t_in: torch.Tensor, w: torch.Tensor, tau: float, theta: float, *, clip_derivative: float = 0.0
) -> torch.Tensor:
    """Exact output spike times of a layer of alpha neurons (eqs. 1-3), differentiable (eqs. 4-5).

    Args:
        t_in: (..., n_in) input spike times; ``inf`` for inputs that never spike.
        w: (n_in, n_out) weights.
        tau: decay rate (the paper's tau); theta: firing threshold.
        clip_derivative: clip each local derivative to +-c in the backward pass (0: exact, no clipping;
            the layers pass the paper's ``clip_derivative`` here).

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
    out = _SpikeTimes.apply(flat, w.to(flat.dtype), float(tau), float(theta), float(clip_derivative))
    return out.reshape(*lead, w.shape[1])


def membrane_potential(t: torch.Tensor, t_in: torch.Tensor, w: torch.Tensor, tau: float) -> torch.Tensor:
    """V(t) of eq. (1) at times ``t`` (T,), for one example ``t_in`` (n_in,) and weights (n_in, n_out).

    Returns (T, n_out). Ignores the output spike (no reset), as in the paper's Figures 1b, 4 and 7.
    """
    dt = t.reshape(-1, 1) - t_in.reshape(1, -1)  # (T, n_in)
    causal = torch.isfinite(dt) & (dt > 0)
    dt = torch.where(causal, dt, torch.zeros_like(dt))
    kernel = torch.where(causal, dt * torch.exp(-tau * dt), torch.zeros_like(dt))
    return kernel @ w.to(kernel.dtype)


def alpha_kernel(t: torch.Tensor, w: float = 1.0, tau: float = 1.0) -> torch.Tensor:
    """The alpha function u(t) = w t e^{-tau t} for t > 0, else 0 (§2.2, Fig. 1a); peaks at t = 1/tau."""
    t = torch.as_tensor(t)
    return torch.where(t > 0, w * t * torch.exp(-tau * t), torch.zeros_like(t))
