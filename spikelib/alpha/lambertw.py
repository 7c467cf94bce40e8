"""Principal branch W0 of the Lambert W function in torch (any float dtype, CPU or CUDA).

W0(z) solves ``W e^W = z`` with ``W >= -1`` for ``z >= -1/e``. The alpha neuron needs it for the spike
time, eq. (3) of Comsa et al. (2021): ``t_out = B/A - W0(-tau theta / A * e^{tau B / A}) / tau``.

Method: a branch-point series in ``p = sqrt(2 (e z + 1))`` near ``-1/e`` (where Newton-type steps are
ill-conditioned), otherwise Winitzki's approximation or the asymptotic series as a start, refined by a
fixed number of Halley steps (no data-dependent loop, so it vectorises and runs the same on CUDA).
``e z + 1`` is formed with 1/e split into two doubles so that arguments within 1e-12 of -1/e keep
their relative accuracy.
"""

from __future__ import annotations

import math

import torch

INV_E = math.exp(-1.0)
# 1/e = _INV_E_HI + _INV_E_LO exactly enough for double precision branch-point work.
_INV_E_HI = 0.36787944117144233
_INV_E_LO = -1.2428753672788363e-17

# Series of W0 around the branch point in p = sqrt(2 (e z + 1)) (Corless et al. 1996, eq. 4.22).
_BRANCH_COEFFS = (-1.0, 1.0, -1.0 / 3.0, 11.0 / 72.0, -43.0 / 540.0, 769.0 / 17280.0, -221.0 / 8505.0)


def _branch_series(p: torch.Tensor) -> torch.Tensor:
    w = torch.full_like(p, _BRANCH_COEFFS[-1])
    for c in reversed(_BRANCH_COEFFS[:-1]):
        w = w * p + c
    return w


# MIRROR(alpha-lambertw): keep in lockstep with spikelib/alpha/_train.c:lambertw0; tested by tests/test_alpha_cscan.py::test_c_lambertw0_matches_python
def lambertw0(z: torch.Tensor, *, iterations: int = 3) -> torch.Tensor:
    """W0(z) elementwise. ``z < -1/e`` gives NaN (no real solution); ``z = inf`` gives inf.

    Accuracy: about 1e-15 relative in float64 away from the branch point and ~1e-12 absolute within
    1e-12 of -1/e; float32 results are accurate to a few ulp.
    """
    if not torch.is_floating_point(z):
        z = z.to(torch.get_default_dtype())
    # distance to the branch point, e z + 1, with 1/e split to avoid cancellation
    ez1 = ((z + _INV_E_HI) + _INV_E_LO) * math.e
    p = torch.sqrt(torch.clamp(2.0 * ez1, min=0.0))
    near_branch = p < 0.5
    w_branch = _branch_series(p)

    # start elsewhere: Winitzki for moderate z, asymptotic series for large z
    zc = torch.clamp(z, min=-0.3)  # keep the formulas finite where near_branch will override
    l1p = torch.log1p(zc)
    w_mid = l1p * (1.0 - torch.log1p(l1p) / (2.0 + l1p))
    zl = torch.clamp(z, min=3.0)
    L1 = torch.log(zl)
    L2 = torch.log(L1)
    w_big = L1 - L2 + L2 / L1
    w = torch.where(near_branch, w_branch, torch.where(z > 3.0, w_big, w_mid))

    # Halley refinement; skipped very close to the branch point where the series is already exact
    # to machine precision and the Halley denominator vanishes.
    for _ in range(iterations):
        ew = torch.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        step = f / denom
        w = torch.where(p < 1e-3, w, w - torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0))
    w = torch.where(p < 1e-3, w_branch, w)
    w = torch.where(z < -_INV_E_HI - _INV_E_LO, torch.full_like(w, float("nan")), w)
    w = torch.where(torch.isposinf(z), z, w)
    return torch.where(z == 0, torch.zeros_like(w), w)
