"""glibc's heap: let a process keep the memory it frees instead of mapping it afresh every training step.

:func:`keep_freed_memory` sets it from inside a process (spikelib's command line and benchmarks call it);
``make book`` sets the same for its notebook kernels through glibc's environment variables
(:data:`GLIBC_HEAP_ENV`, spikelib.pipeline.kernel_env), which a process reads as it starts. Free of torch,
so that the book pipeline can use it.
"""

from __future__ import annotations

import ctypes
import os

#: Freed memory glibc keeps in a process's heap (:func:`keep_freed_memory`, and ``make book``'s kernels).
GLIBC_HEAP_KEEP_BYTES = 1 << 30
#: The environment variables through which a user sets glibc's thresholds; where one is set, it wins.
GLIBC_HEAP_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (glibc's malloc.h)


def on_glibc() -> bool:
    """Whether this process runs on GNU libc (whose ``mallopt`` :func:`keep_freed_memory` calls)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or not a GNU libc
        return False


def keep_freed_memory(nbytes: int = GLIBC_HEAP_KEEP_BYTES) -> bool:
    """Let glibc serve allocations of up to ``nbytes`` from this process's heap and keep what is freed
    there (``mallopt`` M_MMAP_THRESHOLD and M_TRIM_THRESHOLD), instead of mapping large blocks afresh and
    unmapping them on free. Returns whether it applied: not off glibc, nor where the user set either
    ``MALLOC_*_`` variable of :data:`GLIBC_HEAP_ENV`.

    Why: a training step allocates tensors of tens to hundreds of MB (the SAE's per-step buffers, an
    audiocoder's 480 MB gradients); mapped afresh, each is zeroed by the kernel page by page on first
    touch. The quick audiocoder spent 19 % of an epoch in page faults, and ``spike_backprop``'s whole page
    took 36.5 million minor faults (3.0 million with the heap kept). The cost: up to ``nbytes`` of freed
    memory stays with the process."""
    if not on_glibc():
        return False
    if any(os.environ.get(name) for name in GLIBC_HEAP_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    n = int(min(nbytes, 2 ** 31 - 1))
    return bool(mallopt(_M_MMAP_THRESHOLD, n)) and bool(mallopt(_M_TRIM_THRESHOLD, n))
