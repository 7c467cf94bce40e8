"""A plain event-driven alpha neuron, one example and one output at a time (float64, slow).

It follows the authors' loop literally (see the reference notes and Comsa et al. 2021, §2.2) and is the
yardstick the vectorised :func:`spikelib.alpha.spike_times` is tested against:

1. sort the inputs by time; for each input in turn
2. stop if the current candidate spike time is <= this input's time (ties exclude the input);
3. otherwise add it: ``A += w e^{tau t}``, ``B += w e^{tau t} t``;
4. if ``A > 0`` and ``z = -tau theta / A e^{tau B / A} >= -1/e``, the candidate is
   ``B/A - W0(z)/tau``; a candidate earlier than this input (a "false alarm") is dropped.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import lambertw


def spike_time_event_driven(t_in, w, tau: float, theta: float) -> float:
    """Output spike time of one neuron for inputs ``t_in`` (inf = silent) and weights ``w``; inf if none."""
    t_in = np.asarray(t_in, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    order = np.argsort(t_in, kind="stable")
    A = B = 0.0
    candidate = math.inf
    for i in order:
        ti = t_in[i]
        if not math.isfinite(ti) or candidate <= ti:
            break
        A += w[i] * math.exp(tau * ti)
        B += w[i] * math.exp(tau * ti) * ti
        candidate = math.inf
        if A <= 0:
            continue
        z = -tau * theta / A * math.exp(tau * B / A)
        if z < -math.exp(-1.0):
            continue
        c = B / A - lambertw(z, 0).real / tau
        if math.isnan(c) or c < ti:
            continue
        candidate = c
    return candidate


def spike_times_event_driven(t_in, w, tau: float, theta: float) -> np.ndarray:
    """:func:`spike_time_event_driven` for a batch: ``t_in`` (N, n_in), ``w`` (n_in, n_out) -> (N, n_out)."""
    t_in = np.atleast_2d(np.asarray(t_in, dtype=np.float64))
    w = np.asarray(w, dtype=np.float64)
    out = np.empty((t_in.shape[0], w.shape[1]))
    for n in range(t_in.shape[0]):
        for j in range(w.shape[1]):
            out[n, j] = spike_time_event_driven(t_in[n], w[:, j], tau, theta)
    return out
