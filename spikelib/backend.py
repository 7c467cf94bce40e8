"""Where a computation runs: one vocabulary for every model family.

``backend`` is ``"auto"``, ``"c"`` or ``"torch"`` wherever spikelib lets you choose an implementation
(:func:`spikelib.alpha.spike_times`, every ``fit``, :class:`spikelib.lif.conv_sae.ConvSAE`):

- ``"c"``: the CPU C kernels (``spikelib/alpha/_scan.c``, ``_train.c``, ``spikelib/lif/_sae.c``,
  ``_sae_backward.c``), built once per machine with the system compiler. CPU float32/float64 only; an error
  where they cannot run.
- ``"torch"``: the torch reference path (the only one on CUDA, and the one the C kernels are tested
  against in lockstep).
- ``"auto"``: ``$SPIKELIB_BACKEND`` if it is set, else ``"c"`` where it can run and ``"torch"`` elsewhere.

:func:`resolve_backend` is the one place that decides. The environment variable ``SPIKELIB_BACKEND``
overrides ``"auto"`` only: an explicit argument always wins. The switches of earlier versions
(``SPIKELIB_CSCAN=0``, ``SPIKELIB_SAE_KERNEL=0``, ``engine=``, ``backend="kernel"``) still work and warn.

On the CPU, spikelib trains with subnormal floats flushed to zero (:class:`subnormals_flushed`; the
C kernels set the same mode for each call): on Intel CPUs they cost a microcode assist each. How a
process keeps freed memory instead of faulting it in again: :mod:`spikelib.heap`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import torch

#: The accepted values of every ``backend`` argument.
BACKENDS: tuple[str, ...] = ("auto", "c", "torch")
#: The environment variable that sets what ``"auto"`` means.
ENV = "SPIKELIB_BACKEND"
#: Old spellings, accepted with a DeprecationWarning.
_ALIASES = {"kernel": "c"}
#: Old per-kernel switches (``0``/``false``/``no`` meant "torch"), accepted with a DeprecationWarning.
LEGACY_SWITCHES = ("SPIKELIB_CSCAN", "SPIKELIB_SAE_KERNEL")
_OFF = ("0", "false", "no")


def check_backend(backend: str | None, *, name: str = "backend") -> str:
    """``backend`` as one of :data:`BACKENDS` (None is ``"auto"``); aliases warn, anything else raises."""
    if backend is None:
        return "auto"
    if backend in _ALIASES:
        new = _ALIASES[backend]
        warnings.warn(f"{name}={backend!r} is deprecated; use {name}={new!r}", DeprecationWarning, stacklevel=3)
        return new
    if backend not in BACKENDS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    return backend


def from_engine(engine: str | None, backend: str | None) -> str | None:
    """Map the old ``engine=`` keyword of the alpha ``fit`` functions onto ``backend`` (with a warning)."""
    if engine is None:
        return backend
    warnings.warn("engine= is deprecated; use backend= (same values: 'auto', 'c', 'torch')", DeprecationWarning,
                  stacklevel=3)
    if backend not in (None, "auto") and backend != engine:
        raise ValueError(f"engine={engine!r} and backend={backend!r} disagree; pass backend= only")
    return engine


def environment_backend(switch: str | None = None) -> str:
    """What ``"auto"`` means now: ``$SPIKELIB_BACKEND`` (checked), else ``"torch"`` where the kernel's old
    ``switch`` variable turns it off (with a DeprecationWarning), else ``"auto"``."""
    value = os.environ.get(ENV, "").strip().lower()
    if value:
        if value not in BACKENDS:
            raise ValueError(f"${ENV}={value!r} is not a backend; set it to one of {', '.join(BACKENDS)} or unset it")
        return value
    if switch and os.environ.get(switch, "1").strip().lower() in _OFF:
        warnings.warn(f"${switch}=0 is deprecated; set {ENV}=torch instead", DeprecationWarning, stacklevel=3)
        return "torch"
    return "auto"


def resolve_backend(backend: str | None = "auto", *, kernel: Any = None, device: Any = None,
                    dtype: torch.dtype | None = None, what: str = "this computation") -> str:
    """``"c"`` or ``"torch"``: where ``what`` runs for the requested ``backend``.

    ``kernel`` is the :class:`spikelib._cbuild.CKernel` that the C path needs (None: no C path exists, so
    ``"auto"`` means torch and ``"c"`` is an error); ``device`` and ``dtype`` those of the data. The C
    path needs a CPU and float32/float64. ``"auto"`` follows :func:`environment_backend`; an explicit
    ``"c"`` that cannot run raises an error that says why and how to fix it.
    """
    requested = check_backend(backend)
    env = False
    if requested == "auto":
        requested = environment_backend(getattr(kernel, "switch", None))
        env = requested != "auto"
    if requested == "torch":
        return "torch"
    why = _c_unusable(kernel, device, dtype)
    if requested == "auto":
        return "torch" if why else "c"
    if why:
        origin = f"${ENV}=c" if env else "backend='c'"
        fix = f"unset {ENV} or set it to auto/torch" if env else "use backend='torch' or 'auto'"
        raise RuntimeError(f"{origin}, but the C path cannot run {what}: {why}; {fix}")
    return "c"


def _c_unusable(kernel: Any, device: Any, dtype: torch.dtype | None) -> str | None:
    """Why the C path cannot run here (None: it can)."""
    if kernel is None:
        return "it has no C implementation"
    if device is not None and torch.device(device).type != "cpu":
        return f"it runs on the CPU only, the data is on {torch.device(device)}"
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        return f"it supports float32 and float64, not {dtype}"
    if kernel.library() is None:
        return f"the {kernel.what} could not be built ({kernel.failed}); install a C compiler"
    return None


# ------------------------------------------------------------------------------------- subnormal floats

_DBL_MIN = 2.2250738585072014e-308  # the smallest normal double: half of it is subnormal, or 0 when flushed


def subnormals_are_flushed() -> bool:
    """Whether this thread flushes subnormal floats to zero now (x86 MXCSR FTZ, as Python's own float
    arithmetic sees it)."""
    return _DBL_MIN * 0.5 == 0.0


class subnormals_flushed(contextlib.ContextDecorator):
    """Flush subnormal floats (|x| < 1.2e-38 in float32) to zero in this thread's torch CPU operations for
    the duration, then restore the thread's previous mode; usable as a decorator. spikelib's ``fit``
    functions and experiment runners run under it, and the C kernels do the same for their own calls
    (``spikelib/_kernel.h``: FLUSH_SUBNORMALS), so both paths round alike.

    Why: on Intel CPUs each operation that meets a subnormal takes a microcode assist of ~100+ cycles, and
    training makes them by the million (sigma'(V - theta) of a hyperpolarised neuron, Adam moments of
    silent weights). An epoch of the quick audiocoder of Roy et al. took 12.6 instead of 44.9 s on one
    thread of an Intel Xeon (10.5 instead of 26.2 s on two), its test MSE equal to the last digit. The mode
    is per thread: torch's worker threads keep the mode they started with, so with several torch threads
    part of a product may still meet subnormals there (slower, and rounded as IEEE says)."""

    def _recreate_cm(self):
        return type(self)()  # a fresh instance per decorated call: the saved mode is per entry

    def __enter__(self):
        self._saved = subnormals_are_flushed()
        if not self._saved:
            torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc) -> bool:
        if not self._saved:
            torch.set_flush_denormal(False)
        return False
