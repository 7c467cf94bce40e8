"""Parameter sweeps: a grid of configurations run in parallel, here or on a Dask cluster; resumable, one record each.

::

    from spikelib import sweep

    configs = sweep.grid(dataset=["mnist", "fashion"], eta=[0.1, 0.2], hidden=[16, 32])
    records = sweep.run_sweep(train_one, configs, "results/ae_sweep", workers=2, common={"scale": scale})
    sweep.summary_markdown("results/ae_sweep", columns=["dataset", "eta", "hidden", "test_mse"])

Each configuration has a key (:func:`config_key`, e.g. ``eta=0.2_hidden=32``) and, once finished, one
record ``<directory>/<key>.json`` (config, results, seed, wall time, status, provenance), written
atomically. Running the sweep again skips every finished configuration, so an interrupted sweep is
resumed by calling :func:`run_sweep` again: a configuration cut off mid-run left no record (at most a
temporary file, removed on the next run) and simply runs again, resuming from its checkpoint if ``fn``
keeps one. A failing configuration writes ``<key>.error.json`` (with the traceback) instead, the others
carry on, and :class:`SweepError` lists the failures at the end. One sweep at a time per directory.

Where the configs run: here, in local worker processes (``workers``), or, with
``SPIKELIB_EXECUTOR=tcp://host:8786``, on the workers of that Dask scheduler (:mod:`spikelib.sweep_executors`).
Either way this process writes every record, when its config's result arrives, and each record's
provenance names the ``executor`` (``"local"`` or ``"dask tcp://..."``) and the ``worker`` (``host:pid``).

The sweep is four modules: :mod:`spikelib.sweep_configs` (grids, keys, seeds, directories), this one
(running the configs), :mod:`spikelib.sweep_executors` (where they run) and :mod:`spikelib.sweep_summary`
(records as tables); every public name of them is importable from here.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import time
from collections import Counter, deque
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from spikelib import _io
from spikelib.results import _jsonable, git_state
from spikelib.scales import check_scale
from spikelib.sweep_configs import (
    CHECKPOINT_SUFFIX,
    ERROR_SUFFIX,
    LOCK_NAME,
    MAX_READABLE,
    RECORD_SUFFIX,
    _canonical,
    _normalize,
    config_key,
    config_seed,
    grid,
    sweep_directory,
)
from spikelib.sweep_executors import (
    ENV as EXECUTOR_ENV,
    _remove,
    _Task,
    check_spawnable,
    connect,
    executor_address,
    run_dask,
    run_here,
    run_pool,
)
from spikelib.sweep_summary import load_sweep, summary, summary_markdown

__all__ = [
    "CHECKPOINT_SUFFIX", "ERROR_SUFFIX", "EXECUTOR_ENV", "LOCK_NAME", "MAX_READABLE", "RECORD_SUFFIX", "SweepError",
    "config_key", "config_seed", "grid", "load_sweep", "run_sweep", "summary", "summary_markdown",
    "sweep_directory",
]


class SweepError(RuntimeError):
    """Some configurations failed; ``failed`` maps their keys to their ``.error.json`` files, ``records``
    holds the records of the configurations that did finish (in the order of the configs)."""

    def __init__(self, message: str, failed: dict[str, Path], records: list[dict]):
        super().__init__(message)
        self.failed = failed
        self.records = records


# ---------------------------------------------------------------- writing a configuration's outcome


def _write_json(target: Path, obj: Mapping) -> None:
    # Serialise first, so a value JSON cannot hold fails before anything touches the disk.
    _io.write_text_durably(target, json.dumps(obj, indent=2, default=_jsonable, allow_nan=True) + "\n")


def _store(task: _Task, outcome: dict, executor: str) -> None:
    """Write ``outcome``: the files a remote worker sent back, then the record; or the error record."""
    if outcome["status"] == "ok":
        record = outcome["record"]
        record["provenance"]["executor"] = executor
        for name, data in outcome.get("files", {}).items():
            # a worker's files are its config's artifacts: never a record, a hidden file or another folder
            if Path(name).name == name and not name.startswith(".") and not name.endswith(RECORD_SUFFIX):
                _io.write_bytes_durably(task.directory / name, data)
        _write_json(task.path(RECORD_SUFFIX), record)  # last: a record means its files are there
        task.path(ERROR_SUFFIX).unlink(missing_ok=True)
        if not task.keep_checkpoint:
            _remove(task.path(CHECKPOINT_SUFFIX))  # the record is the result; a finished config never reruns
        return
    _write_json(task.path(ERROR_SUFFIX), {
        "key": task.key, "sweep": task.sweep, "status": "failed", "config": task.config, "seed": task.seed,
        "attempt": task.attempt, "wall_s": outcome["wall_s"], "error": outcome["error"],
        "traceback": outcome.get("traceback", ""), "executor": executor, "worker": outcome.get("worker"),
    })


# ---------------------------------------------------------------- the sweep


def _core_budget() -> int:
    """Cores this process may use: ``$OMP_NUM_THREADS`` (the book pipeline's share) or the CPU affinity."""
    try:
        budget = int(os.environ.get("OMP_NUM_THREADS", ""))
        if budget > 0:
            return budget
    except ValueError:
        pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get(name)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold ``<directory>/.sweep.lock`` (released by the OS if the process dies, so never stale)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): run unlocked
        yield
        return
    with open(directory / LOCK_NAME, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"another sweep is running in {directory}: wait for it, or stop it, before starting this one"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _info(value: Any) -> Any:
    """How a common argument shows in a record: scalars as they are, anything else by its type."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    shape = getattr(value, "shape", None)
    return f"<{type(value).__name__}{' ' + str(tuple(shape)) if shape is not None else ''}>"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def run_sweep(
    fn: Callable[..., Mapping],
    configs: Iterable[Mapping],
    directory: str | os.PathLike,
    *,
    workers: int = 1,
    threads_per_worker: int | None = None,
    name: str | None = None,
    common: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int, str, float], None] | None = None,
    retries: int = 0,
    keep_checkpoints: bool = False,
    executor: str | None = None,
) -> list[dict]:
    """Run ``fn(config, **common)`` for every config without a record in ``directory``; return all records.

    Args:
        fn: returns a mapping of JSON-able results for one config (numpy/torch values are converted). If
            it has a ``seed`` parameter it gets :func:`config_seed` (``config["seed"]``, else derived from
            the config); if it has a ``checkpoint`` parameter it gets ``<directory>/<key>.ckpt``, a path
            to save its state to and resume from (``spikelib.alpha.fit(checkpoint=...)`` does both),
            removed once the record is written unless ``keep_checkpoints``. Files it writes beside the
            checkpoint (``<key>.npz``) end up in ``directory``, on a Dask worker too (its checkpoint is
            then in the worker's temp dir: :mod:`spikelib.sweep_executors`).
        configs: the configurations (mappings of JSON values), e.g. from :func:`grid`; no duplicates.
        directory: where the records go, one sweep per directory.
        workers: 1 runs in this process, in order (easy to debug); more run in that many fresh ('spawn')
            processes, for which ``fn`` must be a module-level function of an importable module; 0: one
            per core this process may use (``$OMP_NUM_THREADS``, which the book pipeline sets to each
            notebook's share, else the CPU affinity), so that configs whose own work cannot use several
            threads (small batches) still keep every core busy. Ignored on Dask, which runs as many configs
            at once as its workers have threads.
        threads_per_worker: torch threads of each worker; default: the cores (``$OMP_NUM_THREADS`` if
            set) divided among the workers, at least 1. With ``workers=1`` torch's setting is left alone
            unless this is given; on Dask too (where Dask's nanny sets ``OMP_NUM_THREADS=1``).
        name: the sweep's name in the records and progress lines; default: the directory's name.
        common: keyword arguments for every call (sent once to each worker). They are not part of the
            config's identity: whatever changes the results belongs in the config. Only ``scale`` is
            checked: a record computed at another scale is an error. ``scale`` and ``device`` (from the
            config, else from ``common``) go into the provenance.
        on_progress: called as ``on_progress(done, total, key, elapsed_s)`` after each finished or
            failed config (``elapsed_s``: since the sweep started); default: print one line with an ETA.
        retries: extra attempts for a config that raised, within this call.
        keep_checkpoints: keep ``<key>.ckpt`` after success.
        executor: where the configs run: ``"local"``, or a Dask scheduler's ``"tcp://host:port"``;
            default ``$SPIKELIB_EXECUTOR``, else local.

    Returns:
        The records of all ``configs``, in their order, finished ones read from disk.

    Raises:
        SweepError: after all configs ran, if any failed; it lists their keys and ``.error.json`` files
            (tracebacks) and holds the finished records. Failed configs run again on the next call.
        ValueError: before anything runs, if a record in ``directory`` under a config's key holds another
            config or scale, or if the executor is not an address.
        ConnectionError: before anything runs, if no Dask scheduler answers at the executor's address.
    """
    address = executor_address(executor)
    if workers < 0:
        raise ValueError(f"workers must be >= 1, or 0 for one per core, got {workers}")
    if workers == 0:
        workers = _core_budget()
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
    common = dict(common or {})
    reserved = {"seed", "checkpoint"} & set(common)
    if reserved:
        raise ValueError(f"common must not set {', '.join(sorted(reserved))}: the sweep passes it per config")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = name or directory.resolve().name
    configs = [_normalize(c) for c in configs]
    keys = [config_key(c) for c in configs]
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
    if duplicates:
        raise ValueError(f"configs repeat: {', '.join(duplicates)}; each config must appear once")
    pass_seed, pass_checkpoint = _accepts(fn, "seed"), _accepts(fn, "checkpoint")
    common_info = {k: _info(v) for k, v in common.items()}

    with _exclusive(directory):
        # Temporary files of writes that were cut off (a killed run); nothing else writes here now.
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        records: dict[str, dict] = {}
        todo: list[_Task] = []
        for key, config in zip(keys, configs):
            scale = config.get("scale", common.get("scale"))
            if scale is not None:
                check_scale(scale)
            task = _Task(key, config, config_seed(config), directory, name, scale,
                         str(config.get("device", common.get("device", "cpu"))), common_info,
                         pass_seed, pass_checkpoint, keep_checkpoints)
            record = _finished(task)
            if record is None:
                todo.append(task)
            else:
                records[key] = record
                task.path(ERROR_SUFFIX).unlink(missing_ok=True)  # stale: the record is newer
                if not keep_checkpoints:
                    _remove(task.path(CHECKPOINT_SUFFIX))
        failed = _run(fn, common, todo, workers, threads_per_worker, name, on_progress, retries, address,
                      total=len(configs), done=len(records), records=records)

    ordered = [records[k] for k in keys if k in records]
    if failed:
        lines = [f"  {key}: {outcome['error']}" for key, outcome in failed.items()]
        first = next(iter(failed.values())).get("exception")
        raise SweepError(
            f"{len(failed)} of {len(configs)} configs of sweep {name!r} failed (tracebacks in "
            f"{directory}/<key>{ERROR_SUFFIX}; they run again on the next call):\n" + "\n".join(lines),
            {key: directory / f"{key}{ERROR_SUFFIX}" for key in failed},
            ordered,
        ) from first
    return ordered


def _finished(task: _Task) -> dict | None:
    """The complete record of ``task``'s config, or None if it has to run; raises if the key is taken."""
    path = task.path(RECORD_SUFFIX)
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable sweep record ({exc}): delete it to recompute that config")
    if record.get("status") != "ok":
        return None
    if _canonical(record.get("config")) != _canonical(task.config):
        raise ValueError(
            f"{path} holds config {record.get('config')!r}, not {task.config!r} (same key {task.key!r}): "
            "the directory belongs to another sweep, or the record was edited. Use another directory, or "
            "delete the record to recompute it."
        )
    if record.get("scale") != task.scale:
        raise ValueError(
            f"{path} was computed at scale {record.get('scale')!r}, this sweep runs at {task.scale!r}: "
            "use one directory per scale (e.g. results/<sweep>_<scale>), or delete the old records"
        )
    return record


def _run(fn, common, todo, workers, threads, name, on_progress, retries, address, *, total, done,
         records) -> dict:
    """Run ``todo``; fill ``records``; return {key: outcome} of the configs that failed every attempt."""
    ran = 0
    failed: dict[str, dict] = {}
    if not todo:
        if on_progress is None:
            print(f"[{name}] all {total} configs already done", flush=True)
        return failed
    queue = deque(todo)
    client = None
    if address is not None:
        payload = check_spawnable(fn, common, "Dask workers")
        client = connect(address)  # before anything runs: a wrong address records nothing
        commit, dirty = git_state()
        runs = run_dask(client, queue, todo[0].directory, payload, threads, commit)
        how = f"on the Dask scheduler {address} ({len(client.nthreads())} workers now)"
        if dirty:  # the commit check cannot see uncommitted changes
            how += "; this checkout has uncommitted changes, which workers in other checkouts lack"
        executor = f"dask {address}"
    elif workers > 1:
        n_workers = min(workers, len(todo))
        threads = threads or max(1, _core_budget() // n_workers)
        runs = run_pool(queue, check_spawnable(fn, common, "workers > 1"), n_workers, threads)
        how, executor = f"{n_workers} worker processes x {threads} torch threads", "local"
    else:
        runs, how, executor = run_here(queue, fn, common, threads), "in this process", "local"
    if on_progress is None:
        print(f"[{name}] {len(todo)} of {total} configs to run ({done} already done), {how}", flush=True)
    start = time.perf_counter()
    try:
        with closing(runs):  # an interrupt stops the workers (closing runs the runner's cleanup)
            for task, outcome in runs:
                _store(task, outcome, executor)
                if outcome["status"] == "failed" and task.attempt <= retries:
                    if on_progress is None:
                        print(f"[{name}] {task.key}: attempt {task.attempt} failed ({outcome['error']}); "
                              "retrying", flush=True)
                    task.attempt += 1
                    queue.append(task)
                    continue
                done += 1
                ran += 1
                if outcome["status"] == "ok":
                    records[task.key] = outcome["record"]
                else:
                    failed[task.key] = outcome
                elapsed = time.perf_counter() - start
                if on_progress is not None:
                    on_progress(done, total, task.key, elapsed)
                else:
                    eta = elapsed / ran * (total - done)
                    status = "ok" if outcome["status"] == "ok" else f"FAILED ({outcome['error']})"
                    print(f"[{name}] {done}/{total} {task.key}: {status} in {_duration(outcome['wall_s'])}; "
                          f"elapsed {_duration(elapsed)}, ETA {_duration(eta)}", flush=True)
    finally:
        if client is not None:
            client.close()  # drops the configs not yet run; a running one ends on its worker, unrecorded
    return failed
