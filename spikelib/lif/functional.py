"""Functional core of the discrete-time leaky integrate-and-fire neuron (Roy et al. 2019; Hübotter et al. 2021).

One time step, for the input current ``I_t`` (the weighted input spikes of that step):

    v_t = (1 - leak) u_{t-1} + I_t                      integrate with leak (Roy eq. 1, Hübotter eq. 2)
    v_t <- min(max(v_t, lower_bound), upper_bound)      optional bounds
    s_t = H(v_t - theta)   (>= or >, ``fire_on``)       fire (Roy eq. 2, Hübotter eq. 3)
    u_t = v_t (1 - s_t)                                 reset to zero (Hübotter eq. 4)

``v_t`` is the potential the losses read (bounded, before reset); ``u_t`` is the state carried to the next
step, ``u_0 = v0`` (default 0). :func:`lif_step` is one step, :func:`simulate` the recurrence over T.

How the papers map onto these parameters (:func:`roy_neuron` and :func:`huebotter_neuron` return them):

- Roy et al. (2019, §2.1): ``leak = alpha = 0.1``, ``theta = 1``, ``fire_on="ge"``, surrogate
  :func:`~spikelib.lif.surrogate.sigmoid` (slope 1). The authors' code also caps the potential,
  ``V <- min(0.9 V + I, theta)``: ``upper_bound=theta`` (the paper does not mention it). The loss reads the
  capped ``v_t``, and a capped neuron always fires, so the cap only changes ``v_t`` at spiking steps.
- Hübotter et al. (2021, §2.2): eq. 2, ``u(t) = tau u'(t-1) + sum_j theta_ij phi_j(t)``, is the recurrence
  above with ``leak = 1 - tau`` (tau = 0.99); eq. 4 bounds at ``-omega``: ``lower_bound=-theta``. The
  authors' code stores ``alpha * u'`` instead of ``u'`` (``v = u_prev + I``; ``u = alpha * reset(v)``):
  the decay sits at the end of a step instead of the start, which gives the same ``v_t`` at every step
  from the same zero start, so no separate option is needed (tests/test_lif_functional.py runs both
  forms). Firing: eq. 3 writes ``u >= omega``, the code ``v > theta`` (``fire_on`` chooses). Gradients as
  in the code: the spike derivative is ``1/theta`` where it fired (:func:`~spikelib.lif.surrogate.straight_through`)
  and the decay counts as 1 in the backward pass (``straight_through_leak=True``).

Gradients. The reset multiplies by ``1 - s_t`` with ``s_t`` detached by default (``detach_reset``): the
derivative of ``u_t`` by ``v_t`` is 0 after a spike and 1 otherwise, as in both authors' code (Roy resets
the eligibility trace ``dV/dW`` to 0 on a spike) and snntorch. The bounds pass the gradient straight
through by default (``straight_through_bounds``): Roy's output error ``-e`` must reach a capped potential
(a neuron that fired where it should not have), which a clamp's zero derivative would block.
"""

from __future__ import annotations

import math

import torch

from spikelib.lif import surrogate as _surrogate


def _check_neuron(leak, threshold, fire_on, lower_bound, upper_bound) -> None:
    if not (0.0 <= leak <= 1.0):
        raise ValueError(f"leak must lie in [0, 1] (0: no leak, 1: no memory), got {leak!r}")
    if isinstance(threshold, torch.Tensor) or not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    _surrogate.check_fire_on(fire_on)
    if lower_bound is not None and not lower_bound < threshold:
        raise ValueError(f"lower_bound {lower_bound} must lie below the threshold {threshold}")
    if upper_bound is not None:
        # a cap below the threshold (or at it, for a strict test) would silence the neuron for good
        if upper_bound < threshold or (fire_on == "gt" and upper_bound == threshold):
            raise ValueError(f"upper_bound {upper_bound} would keep the potential from ever reaching the "
                             f"threshold {threshold} with fire_on={fire_on!r}")
        if lower_bound is not None and lower_bound > upper_bound:
            raise ValueError(f"lower_bound {lower_bound} exceeds upper_bound {upper_bound}")


def _straight_through(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``value`` forward, the gradient of ``x`` backward. ``x - x.detach()`` is exactly 0, so the forward
    value is bit-identical to ``value`` (``x + (value - x).detach()`` would round)."""
    return value.detach() + (x - x.detach())


# MIRROR(lif-neuron): keep in lockstep with spikelib/lif/_sae.c:lif_update; tested by tests/test_conv_sae.py::test_kernel_matches_torch_reference
def _step(u_prev, current, leak, threshold, fire_on, lower_bound, upper_bound, spike_fn,
          detach_reset, straight_through_leak, straight_through_bounds):
    decayed = (1.0 - leak) * u_prev
    if straight_through_leak:
        decayed = _straight_through(decayed, u_prev)
    v = decayed + current
    if lower_bound is not None or upper_bound is not None:
        bounded = torch.clamp(v, min=lower_bound, max=upper_bound)
        v = _straight_through(bounded, v) if straight_through_bounds else bounded
    s = spike_fn(v, threshold, fire_on)
    u = v * (1.0 - (s.detach() if detach_reset else s))
    return s, v, u


def lif_step(
    u_prev: torch.Tensor,
    current: torch.Tensor,
    *,
    leak: float,
    threshold: float,
    fire_on: str = "ge",
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    surrogate="sigmoid",
    detach_reset: bool = True,
    straight_through_leak: bool = False,
    straight_through_bounds: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LIF step from the reset state ``u_prev``: returns ``(s_t, v_t, u_t)``.

    ``v_t = clamp((1 - leak) u_prev + I_t)``, ``s_t = H(v_t - theta)``, ``u_t = v_t (1 - s_t)``; see the
    module docstring for the parameters. ``surrogate`` is a name in
    :data:`spikelib.lif.surrogate.SURROGATES` or a spike function ``f(v, threshold, fire_on)``.
    """
    _check_neuron(leak, threshold, fire_on, lower_bound, upper_bound)
    return _step(u_prev, current, leak, threshold, fire_on, lower_bound, upper_bound, _surrogate.get(surrogate),
                 detach_reset, straight_through_leak, straight_through_bounds)


def simulate(
    currents: torch.Tensor,
    *,
    leak: float,
    threshold: float,
    fire_on: str = "ge",
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    surrogate="sigmoid",
    v0: torch.Tensor | float | None = None,
    detach_reset: bool = True,
    straight_through_leak: bool = False,
    straight_through_bounds: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run LIF neurons over time: ``currents`` (T, ..., n) -> ``(spikes, v)``, both (T, ..., n).

    ``v[t] = clamp((1 - leak) u[t-1] + currents[t])`` is the potential before reset, ``spikes[t] =
    H(v[t] - theta)`` and ``u[t] = v[t] (1 - spikes[t])`` with ``u[-1] = v0`` (default 0; a number or a
    tensor broadcastable to ``currents[0]``). Both outputs carry gradients: the spikes through the surrogate,
    ``v`` directly (Roy et al.'s loss reads it). Every step is one set of element-wise operations on the
    whole (..., n) tensor; only the time recurrence is a Python loop. Parameters: see the module docstring.
    """
    _check_neuron(leak, threshold, fire_on, lower_bound, upper_bound)
    if currents.ndim < 1 or not torch.is_floating_point(currents):
        raise ValueError(f"currents must be a floating-point tensor (T, ..., n), got {currents.dtype} "
                         f"of shape {tuple(currents.shape)}")
    if currents.shape[0] == 0:
        return currents.new_zeros(currents.shape), currents.new_zeros(currents.shape)
    if not torch.isfinite(currents).all():  # a NaN would pass the threshold test silently (never spiking)
        raise ValueError("currents contain NaN or inf; check the input encoding or the weights feeding this layer")
    spike_fn = _surrogate.get(surrogate)
    u = torch.zeros_like(currents[0])
    if v0 is not None:
        u = u + torch.as_tensor(v0, dtype=currents.dtype, device=currents.device)
        if u.shape != currents.shape[1:]:
            raise ValueError(f"v0 broadcasts to {tuple(u.shape)}, currents[0] has shape {tuple(currents.shape[1:])}")
    spikes, potentials = [], []
    for current in currents.unbind(0):
        s, v, u = _step(u, current, leak, threshold, fire_on, lower_bound, upper_bound, spike_fn,
                        detach_reset, straight_through_leak, straight_through_bounds)
        spikes.append(s)
        potentials.append(v)
    return torch.stack(spikes), torch.stack(potentials)


# MIRROR(lif-cumulative): keep in lockstep with spikelib/lif/_sae.c:lif_update; tested by tests/test_conv_sae.py::test_kernel_matches_torch_reference
def cumulative_potential(
    x: torch.Tensor, *, decay: float, decay_input: bool = True, straight_through_decay: bool = False
) -> torch.Tensor:
    """Leaky running sum over time (Hübotter et al. 2021, eq. 7): (T, ...) -> U (T, ...), ``U_0 = 0``.

    - ``decay_input=True``: ``U_t = decay (U_{t-1} + x_t)``, the authors' code, which sums the input
      currents ``x = I`` of the output layer.
    - ``decay_input=False``: ``U_t = decay U_{t-1} + x_t``, eq. 7 as printed, which sums the membrane
      potential ``x = u`` (the ``v`` of :func:`simulate`).

    ``straight_through_decay=True`` counts the decay as 1 in the backward pass, as the authors' code does.
    """
    if not (0.0 <= decay <= 1.0):
        raise ValueError(f"decay must lie in [0, 1], got {decay!r}")
    if x.shape[0] == 0:
        return x.new_zeros(x.shape)
    out, acc = [], torch.zeros_like(x[0])
    for x_t in x.unbind(0):
        if decay_input:
            acc = acc + x_t
            acc = _straight_through(decay * acc, acc) if straight_through_decay else decay * acc
        else:
            acc = (_straight_through(decay * acc, acc) if straight_through_decay else decay * acc) + x_t
        out.append(acc)
    return torch.stack(out)


# MIRROR(lif-readout): keep in lockstep with spikelib/lif/_sae.c:sae_forward; tested by tests/test_conv_sae.py::test_readout_is_max_cumulative_current_over_scale_and_its_gradient
def max_readout(u_cum: torch.Tensor, scale: float, *, t_min: int = 0) -> torch.Tensor:
    """Hübotter et al.'s decoder (eq. 8): ``x_hat = max_{t >= t_min} U_t / scale``, (T, ...) -> (...).

    The authors use ``t_min = 0`` and ``scale = 0.2 T`` (the Poisson rate scale times T). The gradient
    goes to the time step of the maximum.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not 0 <= t_min < u_cum.shape[0]:
        raise ValueError(f"t_min must index one of the {u_cum.shape[0]} time steps, got {t_min}")
    return u_cum[t_min:].max(dim=0).values / scale


def roy_neuron(*, leak: float = 0.1, threshold: float = 1.0, cap: bool = True) -> dict:
    """Keyword arguments of :func:`simulate` for Roy et al. (2019): ``simulate(I, **roy_neuron())``.

    Leak 0.1, threshold 1, fire on ``v >= theta``, sigmoid surrogate with slope 1; ``cap=True`` adds the
    authors' code's ``min(., theta)`` (``upper_bound=threshold``), whose gradient passes straight through.
    """
    return dict(leak=leak, threshold=threshold, fire_on="ge", upper_bound=threshold if cap else None,
                surrogate="sigmoid", straight_through_bounds=True)


def huebotter_neuron(*, decay: float = 0.99, threshold: float = 1.0, fire_on: str = "gt") -> dict:
    """Keyword arguments of :func:`simulate` for Hübotter et al. (2021): ``simulate(I, **huebotter_neuron())``.

    ``leak = 1 - decay``, lower bound ``-theta`` (eq. 4; the authors' code sets potentials below
    ``-theta`` to ``+theta``, a bug not reproduced here), straight-through spike derivative ``1/theta``,
    the decay counted as 1 and the bound as a clamp (zero derivative below it) in the backward pass, as
    in the code. ``fire_on="gt"`` is the code's ``v > theta``; eq. 3 of the paper writes ``>=``.
    """
    return dict(leak=1.0 - decay, threshold=threshold, fire_on=fire_on, lower_bound=-threshold,
                surrogate="straight_through", straight_through_leak=True, straight_through_bounds=False)
