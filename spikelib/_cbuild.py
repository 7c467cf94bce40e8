"""C kernels built on the user's machine: compile once with the system compiler, cache, load with ctypes.

Shared by the CPU kernels (:mod:`spikelib.alpha._cscan`, :mod:`spikelib.lif._sae_kernel`). A
:class:`CKernel` compiles its source on first use into ``$SPIKELIB_CACHE`` (default
``~/.cache/spikelib/build``) under a name keyed by the source, the compiler flags and the CPU's feature
flags (``-march=native`` code must not be reused on another CPU), written atomically so that parallel
processes never load half a library. Without a compiler, with a read-only cache or on an exotic platform
it warns once and reports itself unavailable; callers then use their torch path. ctypes releases the GIL,
so :meth:`CKernel.parallel` splits a batch across ``torch.get_num_threads()`` Python threads.

Every kernel's C text comes from :func:`template_source`: the shared preamble ``_kernel.h`` (whose comment
describes the template convention), the kernel's headers, then each template ``.c`` file once per
precision of :data:`PRECISIONS`. Exported functions take a pointer to one argument struct, mirrored in
Python as a :class:`ctypes.Structure`; :func:`check_layout` compares the two.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch

from spikelib._io import atomic_path
from spikelib.backend import resolve_backend


_PREAMBLE = Path(__file__).with_name("_kernel.h")

#: The instantiations of every template: the C type REAL, the entry-point suffix SUF, and the libm
#: functions EXP and SQRT of that type.
PRECISIONS = (("double", "f64", "exp", "sqrt"), ("float", "f32", "expf", "sqrtf"))


def _with_line(path: Path) -> str:
    """The file's text after a ``#line`` directive, so that compiler messages name the real file."""
    return f'#line 1 "{path.parent.name}/{path.name}"\n{path.read_text()}\n'


def template_source(headers: tuple[Path, ...] = (), templates: tuple[Path, ...] = ()) -> str:
    """The C text of one library: ``_kernel.h``, ``headers`` verbatim, then every template once per
    precision (REAL, SUF, EXP, SQRT defined before it and undefined after it)."""
    parts = [_with_line(p) for p in (_PREAMBLE, *headers)]
    for real, suffix, exp, sqrt in PRECISIONS:
        parts.append(f"#define REAL {real}\n#define SUF(x) x##_{suffix}\n#define EXP {exp}\n#define SQRT {sqrt}\n")
        parts.extend(_with_line(p) for p in templates)
        parts.append("#undef REAL\n#undef SUF\n#undef EXP\n#undef SQRT\n")
    return "".join(parts)


_LAYOUT_MAX = 48  # LAYOUT_MAX in _kernel.h


class KernelLayout(ctypes.Structure):
    """Mirror of ``KernelLayout`` in spikelib/_kernel.h: what ``<struct>_layout()`` reports."""

    _fields_ = [("size", ctypes.c_int64), ("n", ctypes.c_int64), ("offset", ctypes.c_int64 * _LAYOUT_MAX),
                ("field_size", ctypes.c_int64 * _LAYOUT_MAX), ("name", ctypes.c_char_p * _LAYOUT_MAX)]


def c_layout(lib, struct: str) -> tuple[int, list[tuple[str, int, int]]]:
    """``(sizeof, [(field, offset, size), ...])`` of the C struct ``struct`` as the library reports it."""
    fn = getattr(lib, f"{struct}_layout")
    fn.restype, fn.argtypes = None, [ctypes.POINTER(KernelLayout)]
    out = KernelLayout()
    fn(ctypes.byref(out))
    return out.size, [(out.name[i].decode(), out.offset[i], out.field_size[i]) for i in range(out.n)]


def py_layout(cls: type[ctypes.Structure]) -> tuple[int, list[tuple[str, int, int]]]:
    """``(sizeof, [(field, offset, size), ...])`` of a ctypes mirror, comparable with :func:`c_layout`."""
    return ctypes.sizeof(cls), [(name, getattr(cls, name).offset, getattr(cls, name).size)
                                for name, *_ in cls._fields_]


def check_layout(lib, cls: type[ctypes.Structure]) -> None:
    """RuntimeError unless the C struct named like ``cls`` and its Python mirror ``cls`` have the same size
    and the same fields (name, offset, size) in the same order."""
    c, py = c_layout(lib, cls.__name__), py_layout(cls)
    if c != py:
        raise RuntimeError(f"the C struct {cls.__name__} {c} and its ctypes mirror {py} differ")


def declare_entry_points(lib, entry_points) -> None:
    """Check every argument struct's layout and give each exported function (``name_f32`` and
    ``name_f64``) its signature: ``entry_points`` holds ``(name, struct)`` (returning int) or
    ``(name, struct, restype)``."""
    for name, struct, *rest in entry_points:
        check_layout(lib, struct)
        restype = rest[0] if rest else ctypes.c_int
        for suffix in ("f32", "f64"):
            fn = getattr(lib, f"{name}_{suffix}")
            fn.restype, fn.argtypes = restype, [ctypes.POINTER(struct)]


def build_dir() -> Path:
    """Where built libraries are cached: ``$SPIKELIB_CACHE``, else ``~/.cache/spikelib/build``."""
    return Path(os.environ.get("SPIKELIB_CACHE", Path.home() / ".cache" / "spikelib" / "build"))


def cpu_key() -> str:
    """The CPU's feature flags (``-march=native`` depends on them), or its name where /proc is missing."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compiler() -> str:
    """``$CC``, else the first of cc, gcc, clang on PATH; RuntimeError if there is none."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    return cc


def dtype_suffix(dtype: torch.dtype, what: str) -> str:
    """``"f32"`` / ``"f64"``, the suffix of a kernel's entry points for ``dtype``; TypeError otherwise."""
    if dtype == torch.float32:
        return "f32"
    if dtype == torch.float64:
        return "f64"
    raise TypeError(f"the {what} supports float32 and float64, not {dtype}")


class CKernel:
    """One C library: ``source`` (C text), ``flags``, ``declare(lib)`` setting the ctypes signatures.

    ``name`` prefixes the cached file (``<name>_<key>.so``); ``what`` names it in messages; ``switch``
    is the environment variable that turns it off (``0``, ``false``, ``no``); ``link`` adds linker
    arguments; ``check()`` may raise to refuse a platform before anything is built. The attributes
    ``lib`` (the loaded library) and ``failed`` (why it is unavailable) are the state that
    :meth:`library` caches; resetting both to None makes it try again.
    """

    def __init__(self, name: str, source: Callable[[], str], flags: list[str], declare: Callable, *,
                 what: str, switch: str, link: tuple[str, ...] = (), check: Callable[[], None] | None = None):
        self.name, self.source, self.flags, self.declare = name, source, list(flags), declare
        self.what, self.switch, self.link, self.check = what, switch, tuple(link), check
        self.lib = None
        self.failed: str | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def path(self) -> Path:
        """The cached library's path for this source, these flags and this CPU."""
        key = hashlib.sha256((self.source() + " ".join(self.flags) + cpu_key()).encode()).hexdigest()[:16]
        return build_dir() / f"{self.name}_{key}.so"

    def compile(self, path: Path) -> None:
        """Compile into ``path`` atomically; RuntimeError with the compiler's message if it fails."""
        cc = compiler()
        with tempfile.TemporaryDirectory() as work, atomic_path(path) as tmp:
            src = Path(work) / f"{self.name}.c"  # the compiler picks the language from the suffix
            src.write_text(self.source())
            proc = subprocess.run([cc, *self.flags, "-o", str(tmp), str(src), *self.link],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:2000]}")

    def library(self):
        """The loaded library, built on first use; None (with one warning) if that is impossible."""
        if self.lib is not None or self.failed is not None:
            return self.lib
        with self._lock:
            if self.lib is None and self.failed is None:
                try:
                    if self.check is not None:
                        self.check()
                    path = self.path()
                    if not path.exists():
                        self.compile(path)
                    lib = ctypes.CDLL(str(path))
                    self.declare(lib)
                    self.lib = lib
                except Exception as exc:  # no compiler, read-only cache, exotic platform
                    self.failed = f"{type(exc).__name__}: {exc}"
                    warnings.warn(f"spikelib: {self.what} unavailable ({self.failed}); using the torch path")
        return self.lib

    def available(self) -> bool:
        """Whether ``backend="auto"`` picks this kernel: built or buildable, and not turned off by
        ``$SPIKELIB_BACKEND=torch`` (or the deprecated ``$<switch>=0``); see :mod:`spikelib.backend`."""
        try:
            return resolve_backend("auto", kernel=self, what=self.what) == "c"
        except RuntimeError:  # SPIKELIB_BACKEND=c where the kernel cannot be built: not available
            return False

    def parallel(self, fn, n: int, make_args) -> list:
        """``fn(n0, n1, *make_args(worker))`` over slices of ``n`` items on torch's thread count; returns
        the return values (one per worker) in order."""
        workers = max(1, min(torch.get_num_threads(), n))
        if workers == 1:
            return [fn(0, n, *make_args(0))]
        if self._pool is None or self._pool._max_workers < workers:  # noqa: SLF001 - sizing our own pool
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"spikelib-{self.name}")
        bounds = [(n * i) // workers for i in range(workers + 1)]
        futures = [self._pool.submit(fn, bounds[i], bounds[i + 1], *make_args(i)) for i in range(workers)]
        return [f.result() for f in futures]
