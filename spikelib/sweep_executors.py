"""Where a sweep's configurations run: in this process, in local worker processes, or on a Dask cluster.

Part of :mod:`spikelib.sweep`. ``$SPIKELIB_EXECUTOR`` (or ``run_sweep(executor=...)``) picks the place:
unset, empty or ``local``: this machine (``workers=1``: this process; more: that many local processes);
``tcp://host:port`` (or ``tls://``): the Dask scheduler at that address, which gives each configuration to
one of its workers (``workers`` is then the cluster's business and ignored).

Wherever a configuration runs, the worker only computes: :func:`compute` returns the record (or the
error) and the driver, the process that called ``run_sweep``, writes it. So Dask workers need not share the
driver's disk; they need the same checkout (the same commit: a record from another one is refused) and
fetch their own data and build their own C kernels (``$SPIKELIB_DATA``, ``$SPIKELIB_CACHE`` on that
machine), as any process does on first use.

On a Dask worker a configuration's ``checkpoint`` is ``<tmp>/spikelib-sweeps/<sweep>/<key>/<key>.ckpt``
(``tmp``: the worker's ``tempfile.gettempdir()``, e.g. ``$TMPDIR``). The files the function leaves beside
it (artifacts such as ``<key>.npz``) come back with the result and are written into the sweep directory
before the record; the checkpoint too with ``keep_checkpoints``. A config whose value is the key of a
finished config of the same directory (Roy's stage 2: ``"ae": <key>``) finds that config's files (not its
records or checkpoint) beside its checkpoint. If a worker dies, Dask runs its configuration again on
another worker (up to ``distributed.scheduler.allowed-failures`` deaths): the progress of the dead one is
lost, unless the rerun lands on the same machine and finds its checkpoint there.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import multiprocessing
import os
import pickle
import re
import shutil
import socket
import tempfile
import time
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, CancelledError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from spikelib.results import _jsonable, provenance
from spikelib.sweep_configs import CHECKPOINT_SUFFIX, RECORD_SUFFIX

ENV = "SPIKELIB_EXECUTOR"
LOCAL = "local"
CONNECT_TIMEOUT_S = 10.0  # an unreachable scheduler is reported after this long; a live one answers in ms
WORKSPACE = "spikelib-sweeps"  # under a Dask worker's temp dir

Outcome = dict  # {"status": "ok", "record", "wall_s"[, "files"]} or {"status": "failed", "error", ...}


@dataclass
class _Task:
    """One configuration to run, as the worker gets it."""

    key: str
    config: dict
    seed: int
    directory: Path
    sweep: str
    scale: str | None
    device: str
    common_info: dict
    pass_seed: bool
    pass_checkpoint: bool
    keep_checkpoint: bool
    attempt: int = 1
    threads: int | None = None  # torch threads on a Dask worker (local workers get theirs at start-up)
    workspace: str | None = None  # Dask: the sweep's folder under the worker's temp dir
    inputs: dict[str, bytes] = field(default_factory=dict)  # Dask: files to put beside the checkpoint

    def path(self, suffix: str) -> Path:
        return self.directory / f"{self.key}{suffix}"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def worker_name(*, published: bool = False) -> str:
    """``host:pid`` of this process, as records name the worker that computed them. ``published``: the host
    as the first 12 hex digits of its name's SHA-256 (records kept in the book name no machine), still
    telling a record's workers apart."""
    host = socket.gethostname()
    if published:
        host = "host-" + hashlib.sha256(host.encode()).hexdigest()[:12]
    return f"{host}:{os.getpid()}"


# ---------------------------------------------------------------- choosing the executor


def executor_address(value: str | None = None) -> str | None:
    """The Dask scheduler address that ``value`` (default ``$SPIKELIB_EXECUTOR``) names; None: run locally.

    ValueError, naming the variable, for anything but unset/empty/``local`` or ``tcp://host:port``
    (``tls://`` too).
    """
    label = f"{ENV}={os.environ.get(ENV, '')!r}" if value is None else f"executor={value!r} (as {ENV})"
    text = (os.environ.get(ENV, "") if value is None else value).strip()
    if text.lower() in ("", LOCAL):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None
            or parts.path or parts.query or parts.fragment or parts.username):
        raise ValueError(f"{label} is not a Dask scheduler address: expected tcp://host:port (e.g. "
                         f"tcp://10.0.0.5:8786), or unset it (or 'local') to run on this machine")
    return text


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``; a clear error within seconds if none answers."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(f"{ENV}={address} needs Dask distributed, which is not installed: "
                          f"pip install -e '.[cluster]', or unset {ENV} to run here") from exc
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except Exception as exc:  # OSError/TimeoutError when nothing answers; others from a non-Dask server
        raise ConnectionError(
            f"{ENV}={address}: no Dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s "
            f"({type(exc).__name__}: {exc}). Start one there (`dask scheduler`; README: 'Running the paper "
            f"scale on a cluster'), correct the address, or unset {ENV} to run here. Nothing was run."
        ) from exc


def check_spawnable(fn: Callable, common: Mapping, where: str) -> bytes:
    """``(fn, common)`` pickled for other processes; ValueError if they could not load it."""
    target = getattr(fn, "func", fn)  # functools.partial
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if module == "__main__" or "<" in qualname:
        raise ValueError(
            f"{where} run {qualname or fn!r} in other processes, which can only import module-level "
            "functions of a module (not a notebook's or script's __main__, not a lambda or nested function): "
            "move it into a .py module, or use workers=1"
        )
    try:
        return pickle.dumps((fn, dict(common)))
    except Exception as exc:
        raise ValueError(f"{where} need fn and common picklable: {exc}; or use workers=1") from exc


# ---------------------------------------------------------------- one configuration, wherever it runs


def compute(task: _Task, fn: Callable, common: Mapping, checkpoint: Path) -> Outcome:
    """Run ``fn`` on ``task``'s config; return its outcome, the record as plain JSON values. Writes nothing."""
    import torch

    kwargs = dict(common)
    if task.pass_seed:
        kwargs["seed"] = task.seed
    if task.pass_checkpoint:
        kwargs["checkpoint"] = checkpoint
    t0 = time.perf_counter()
    try:
        results = fn(dict(task.config), **kwargs)  # a copy: fn may not alter what is recorded
        if not isinstance(results, Mapping):
            raise TypeError(f"the sweep function must return a mapping of results, got {type(results).__name__}")
        prov = provenance(task.sweep, params=task.config, scale=task.scale, seed=task.seed, device=task.device)
        record = {
            "key": task.key, "sweep": task.sweep, "status": "ok", "scale": task.scale, "config": task.config,
            "results": dict(results), "seed": task.seed, "wall_s": time.perf_counter() - t0,
            "attempt": task.attempt, "threads": torch.get_num_threads(), "common": task.common_info,
            "provenance": {**prov, "worker": worker_name()},
        }
        # As JSON values here, so that a value JSON cannot hold fails as this config's error, and what
        # travels back to the driver is small and picklable (tensors become lists).
        record = json.loads(json.dumps(record, default=_jsonable, allow_nan=True))
    except Exception as exc:
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "wall_s": time.perf_counter() - t0, "worker": worker_name(), "exception": exc}
    return {"status": "ok", "record": record, "wall_s": record["wall_s"]}


def _failed(error: str, worker: str | None = None) -> Outcome:
    return {"status": "failed", "error": error, "traceback": "", "wall_s": math.nan, "worker": worker}


# ---------------------------------------------------------------- in this process


def run_here(queue: deque, fn: Callable, common: Mapping, threads: int | None) -> Iterator[tuple[_Task, Outcome]]:
    """Run the tasks of ``queue`` (which may grow: retries) one after the other in this process."""
    saved = None
    if threads is not None:
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        while queue:
            task = queue.popleft()
            yield task, compute(task, fn, common, task.path(CHECKPOINT_SUFFIX))
    finally:
        if saved is not None:
            torch.set_num_threads(saved)


# ---------------------------------------------------------------- local worker processes

# Set once per worker process by _init_worker: the function and common arguments arrive once, not per task.
_WORKER: dict[str, Any] = {}


def _init_worker(threads: int, payload: bytes) -> None:
    # Before torch or numpy load (fn's module may import them), so their thread pools get the share too.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    _WORKER["fn"], _WORKER["common"] = pickle.loads(payload)


def _pool_execute(task: _Task) -> Outcome:
    outcome = compute(task, _WORKER["fn"], _WORKER["common"], task.path(CHECKPOINT_SUFFIX))
    outcome.pop("exception", None)  # an exception object may not survive pickling; the text is kept
    return outcome


def run_pool(queue: deque, payload: bytes, n_workers: int, threads: int) -> Iterator[tuple[_Task, Outcome]]:
    """Run the tasks of ``queue`` in ``n_workers`` fresh processes; a worker's death fails the configs in flight."""
    # 'spawn': forking a process whose torch already started its thread pools can deadlock the child.
    context = multiprocessing.get_context("spawn")
    while queue:  # one pool per round: a worker that dies breaks its pool
        others = {p.pid for p in multiprocessing.active_children()}
        pool = ProcessPoolExecutor(max_workers=min(n_workers, len(queue)), mp_context=context,
                                   initializer=_init_worker, initargs=(threads, payload))
        ours: list = []
        running: dict = {}
        try:
            broken = False
            while (queue or running) and not broken:
                # No more in flight than workers, so a broken pool only fails configs that were running.
                while queue and len(running) < n_workers:
                    task = queue.popleft()
                    running[pool.submit(_pool_execute, task)] = task
                if not ours:
                    # The pool starts a process per submit, after waking its manager thread, which then
                    # watches only the processes it knew: the last one could die unnoticed until another
                    # config ends. One more submit wakes it again, now that all of them exist.
                    pool.submit(os.getpid)
                    ours = [p for p in multiprocessing.active_children() if p.pid not in others]
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    # A worker died: the pool fails everything in flight; which config killed it is unknown.
                    wait(running)
                    broken, finished = True, set(running)
                    in_flight = ", ".join(t.key for t in running.values())
                for future in finished:
                    task = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        outcome = _failed("a worker process died while it ran (killed, e.g. for memory, crashed "
                                          "in native code, or could not start: see its output); configs in "
                                          f"flight then: {in_flight}")
                    except Exception as exc:  # e.g. the outcome could not be pickled back
                        outcome = _failed(f"{type(exc).__name__}: {exc}")
                    yield task, outcome
        except BaseException:
            # Ctrl-C (a notebook interrupt reaches only this process) or a bug: leave no worker running.
            for process in ours:
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


# ---------------------------------------------------------------- on a Dask cluster

_LOADED: dict[str, tuple] = {}  # on a Dask worker: the sweep's (fn, common), unpickled once per sweep


def _load(digest: str, payload: bytes) -> tuple:
    if digest not in _LOADED:
        try:
            loaded = pickle.loads(payload)
        except Exception as exc:
            raise RuntimeError(f"worker {worker_name()} cannot load the sweep function ({type(exc).__name__}: "
                               f"{exc}): start the workers from the driver's checkout, with spikelib and the "
                               "function's module importable") from exc
        _LOADED.clear()
        _LOADED[digest] = loaded
    return _LOADED[digest]


def _dask_execute(task: _Task, digest: str, payload: bytes) -> Outcome:
    """On a Dask worker: run ``task`` in its own folder; return the outcome and the files it left there."""
    fn, common = _load(digest, payload)
    folder = Path(tempfile.gettempdir()) / WORKSPACE / task.workspace / task.key
    checkpoint = folder / f"{task.key}{CHECKPOINT_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():  # an earlier attempt's files, except the checkpoint to resume from
        if path != checkpoint:
            _remove(path)
    for name, data in task.inputs.items():
        (folder / name).write_bytes(data)
    saved = None
    if task.threads is not None:
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(task.threads)
    try:
        outcome = compute(task, fn, common, checkpoint)
    finally:
        if saved is not None:
            torch.set_num_threads(saved)
    outcome.pop("exception", None)  # may not unpickle on the driver; the text and traceback are kept
    if outcome["status"] == "ok":
        outcome["files"] = {
            p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name not in task.inputs
            and (task.keep_checkpoint or p != checkpoint)
        }
        shutil.rmtree(folder, ignore_errors=True)  # the driver keeps the result; a failed config keeps its checkpoint
    return outcome


_KEY_CHARS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*\Z")


def inputs_of(task: _Task) -> dict[str, bytes]:
    """The files of the finished configs that ``task``'s config names by key (records and checkpoints left
    out): what its function may read beside its checkpoint, e.g. Roy's stage-1 autoencoder ``<key>.npz``."""
    files = {}
    for ref in {v for v in task.config.values() if isinstance(v, str) and _KEY_CHARS.match(v)}:
        if not (task.directory / f"{ref}{RECORD_SUFFIX}").is_file():
            continue
        for path in task.directory.glob(f"{glob.escape(ref)}.*"):
            name, rest = path.name, path.name[len(ref) + 1:]
            if not path.is_file() or name.endswith((RECORD_SUFFIX, CHECKPOINT_SUFFIX)):
                continue
            # "x=1.5.npz" starts with "x=1." but is the file of config "x=1.5" when that one has a record
            if any(c == "." and (task.directory / f"{ref}.{rest[:i]}{RECORD_SUFFIX}").is_file()
                   for i, c in enumerate(rest)):
                continue
            files[name] = path.read_bytes()
    return files


def run_dask(client, queue: deque, directory: Path, payload: bytes, threads: int | None,
             commit: str | None) -> Iterator[tuple[_Task, Outcome]]:
    """Run the tasks of ``queue`` on the workers of ``client``'s scheduler, all submitted at once.

    A record computed at another commit than ``commit`` (this checkout's) is turned into a failure.
    """
    digest = hashlib.sha256(payload).hexdigest()
    directory = directory.resolve()
    name = re.sub(r"[^A-Za-z0-9_.+=-]+", "-", directory.name) or "sweep"
    # one folder per driver and sweep directory: two drivers' sweeps of the same name never share files
    workspace = f"{name}-{hashlib.sha256(f'{socket.gethostname()}:{directory}'.encode()).hexdigest()[:10]}"
    executor = client.get_executor()
    running: dict = {}
    try:
        while queue or running:
            while queue:
                task = queue.popleft()
                task.threads, task.workspace, task.inputs = threads, workspace, inputs_of(task)
                running[executor.submit(_dask_execute, task, digest, payload)] = task
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                task.inputs = {}
                try:
                    outcome = future.result()
                except CancelledError:
                    outcome = _failed("the Dask scheduler dropped it (it restarted, or the connection to it broke)")
                except Exception as exc:
                    hint = (" (each worker that ran it died: see the workers' logs, e.g. for memory)"
                            if type(exc).__name__ == "KilledWorker" else "")
                    outcome = _failed(f"{type(exc).__name__}: {exc}{hint}")
                if outcome["status"] == "ok":
                    theirs = outcome["record"]["provenance"].get("git_commit")
                    if commit and theirs and theirs != commit:
                        outcome = _failed(f"worker {outcome['record']['provenance']['worker']} runs commit "
                                          f"{theirs[:12]}, the driver {commit[:12]}: start the workers from the "
                                          "driver's checkout", outcome["record"]["provenance"]["worker"])
                yield task, outcome
    finally:
        for future in running:  # an interrupt: what has not started never will (closing the client drops the rest)
            future.cancel()
