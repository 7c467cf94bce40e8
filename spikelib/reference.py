"""Reference runs: the papers' protocols computed on this machine and kept in the book (issue #19).

``python -m spikelib reference <experiment> [--budget 150m]`` trains the paper-protocol configurations of
one experiment (its module's ``reference_runs()``) one after the other, resumable at every epoch: each
configuration checkpoints into the results folder, an interrupted or budget-limited run continues where it
stopped, and a finished configuration is never recomputed. Each finished configuration's record goes to
``book/paper_runs/<experiment>/<name>.json`` and the page's combined record (its module's
``reference_record``) to ``book/paper_runs/<experiment>.json``, the record the scorecard's "kept" column
reads. Records carry their provenance: the commits that computed them (committed code only), the dates,
the machine, the wall time, scale ``paper`` and how the run differs from the paper.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from spikelib import results
from spikelib._io import write_text_durably
from spikelib.about import cpu_label
from spikelib.fitting import fingerprint

#: experiment (the page's record name) -> the experiments module that defines its reference runs
EXPERIMENTS = {"alpha_mnist_training": "spikelib.experiments.comsa_alpha",
               "regularised_sae": "spikelib.experiments.huebotter_reference",
               "spike_backprop": "spikelib.experiments.roy_reference",
               "spiking_autoencoders": "spikelib.experiments.comsa_autoencoders_reference"}


def parse_budget(text: str | None) -> float | None:
    """``"150m"``, ``"2h"``, ``"90s"`` or a number of minutes -> seconds; None: no budget."""
    if text in (None, "", "0"):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise ValueError(f"--budget {text!r}: give a duration such as 150m, 2h or 90s")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "": 60}[m.group(2)]


def machine() -> dict:
    """The machine of a run, without host or user names (records are published)."""
    import torch
    return {"cpu": cpu_label(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "system": platform.system()}


def _module_name(experiment: str) -> str:
    if experiment not in EXPERIMENTS:
        raise ValueError(f"no reference runs for {experiment!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[experiment]


#: what a run's progress bar shows of an epoch's record (and ``--status`` of the last one)
SHOWN = ("test_accuracy", "train_accuracy_running", "val_loss", "val_mse", "test_mse", "output_rate")


def _last_epoch(rec: Mapping[str, Any]) -> dict:
    """The numbers of an epoch's record (``on_epoch``'s), an evaluation's items (``rec["eval"]``) among them."""
    flat = {**rec, **rec.get("eval", {})}
    return {k: float(v) for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write_progress(path: Path, prog: dict) -> None:
    """A configuration's progress file, atomically (read back with :func:`_read`)."""
    write_text_durably(path, json.dumps(prog, indent=1) + "\n")


class Reference:
    """The reference runs of one experiment: where their records and checkpoints live, and running them."""

    def __init__(self, experiment: str, *, kept_dir: str | os.PathLike | None = None,
                 work_dir: str | os.PathLike | None = None, module: str | None = None):
        self.experiment = experiment
        self.module_name = module or _module_name(experiment)
        self.module = importlib.import_module(self.module_name)
        self.kept_dir = Path(kept_dir) if kept_dir is not None else results.PAPER_RUNS_DIR
        self.work_dir = Path(work_dir) if work_dir is not None else results.results_dir() / "reference"
        self.configs = self.module.reference_runs()

    def record_path(self, name: str) -> Path:
        return self.kept_dir / self.experiment / f"{name}.json"

    def key(self, config: Mapping[str, Any]) -> str:
        return fingerprint(self.experiment, config["settings"])

    def finished(self, config: Mapping[str, Any]) -> dict | None:
        """The kept record of ``config`` if it was computed with its current settings."""
        rec = _read(self.record_path(config["name"]))
        return rec if rec is not None and rec.get("settings_key") == self.key(config) else None

    def status(self) -> list[dict]:
        """One line per configuration: name, epochs done of epochs, kept or not."""
        out = []
        for c in self.configs:
            prog = _read(self.work_dir / f"{self.experiment}-{c['name']}.progress.json") or {}
            if prog.get("settings_key") != self.key(c):  # progress of other settings: run() restarts it
                prog = {}
            kept = self.finished(c) is not None
            out.append({"name": c["name"], "epochs_done": c["epochs"] if kept else prog.get("epochs_done", 0),
                        "epochs": c["epochs"], "kept": kept, "last_epoch": {} if kept else prog.get("last_epoch", {}),
                        "wall_s": 0.0 if kept else float(prog.get("wall_s", 0.0))})
        return out

    def check_names(self, only: list[str] | None) -> list[str] | None:
        """``only`` as a list of known configuration names (commas split, so ``a,b`` works like ``a b``);
        an unknown name raises rather than silently running nothing."""
        if not only:
            return only
        names = [n for item in only for n in item.split(",") if n]
        known = [c["name"] for c in self.configs]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"{self.experiment} has no configuration {', '.join(unknown)}; "
                             f"choose from: {', '.join(known)}")
        return names

    def run(self, *, budget_s: float | None = None, only: list[str] | None = None, chunk: int = 25,
            progress: Callable[..., Any] | None = None, executor: str | None = None) -> list[str]:
        """Run (or continue) every unfinished configuration in order until ``budget_s`` is spent; returns
        the names of the configurations finished by this call. Refuses to start from uncommitted code.

        ``executor`` (default ``$SPIKELIB_EXECUTOR``, as for sweeps): unset or ``local`` trains here, one
        configuration after the other; ``tcp://host:port`` sends every unfinished configuration to that Dask
        scheduler at once (:meth:`_run_dask`)."""
        from spikelib import sweep_executors

        address = sweep_executors.executor_address(executor)
        commit, dirty = results.git_state()
        if not commit or dirty:
            raise RuntimeError("reference runs are kept with the commit that computed them: commit your changes "
                               f"first (git_commit={commit}, dirty={dirty})")
        only = self.check_names(only)
        by_name = {c["name"]: c for c in self.configs}
        todo = [by_name[n] for n in dict.fromkeys(only)] if only else list(self.configs)  # in the order asked
        todo = [c for c in todo if not self.finished(c)]
        if address is not None:
            done_now = self._run_dask(address, todo, commit, budget_s, chunk, progress)
        else:
            deadline = None if budget_s is None else time.monotonic() + budget_s
            done_now = []
            for k, config in enumerate(todo, 1):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                record = self.train(config, commit, deadline=deadline, chunk=chunk, progress=progress,
                                    label=f"{k}/{len(todo)}")
                if record is not None:
                    self.keep(record, config)
                    done_now.append(config["name"])
        self.write_combined()
        return done_now

    def keep(self, record: Mapping[str, Any], config: Mapping[str, Any]) -> Path:
        """Write a finished configuration's record into the book (``book/paper_runs/<exp>/<name>.json``)."""
        path = self.record_path(config["name"])
        write_text_durably(path, json.dumps(record, indent=1, allow_nan=True) + "\n")
        return path

    def _run_dask(self, address: str, todo: list[dict], commit: str, budget_s: float | None, chunk: int,
                  progress: Callable[..., Any] | None) -> list[str]:
        """Every configuration of ``todo`` as one task on the Dask scheduler at ``address``
        (:func:`train_on_worker`); the driver keeps each record as its task completes.

        The budget is a wall-clock deadline shared by all tasks (a task that starts after it returns at
        once). A worker that dies mid-configuration: Dask runs the task again elsewhere, from the start
        unless it lands on the same machine and finds the checkpoint there; each record is kept once, by
        the driver. A configuration the budget cut short keeps its checkpoint on its worker's disk."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from spikelib import sweep_executors

        client = sweep_executors.connect(address)
        deadline = None if budget_s is None else time.time() + budget_s
        bar = progress(total=len(todo), desc=f"{self.experiment} on {address}", unit="config") if progress else None
        done_now, problems = [], []
        try:
            executor = client.get_executor()
            running = {executor.submit(train_on_worker, self.experiment, self.module_name, c, commit, deadline,
                                       chunk): c for c in todo}
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    config = running.pop(future)
                    try:
                        record = future.result()
                    except Exception as exc:  # KilledWorker after too many deaths, a refused commit, a bug
                        problems.append(f"{config['name']}: {type(exc).__name__}: {exc}")
                        continue
                    if record is None:
                        problems.append(f"{config['name']}: the budget ran out first (its checkpoint stays on "
                                        "its worker)")
                        continue
                    record["provenance"]["executor"] = f"dask {address}"
                    self.keep(record, config)
                    done_now.append(config["name"])
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(config["name"])
        finally:
            if bar is not None:
                bar.close()
            client.close()
        for line in problems:
            print(f"[reference] not kept: {line}")
        return done_now

    def train(self, config: Mapping[str, Any], commit: str, *, deadline: float | None = None, chunk: int = 25,
              progress: Callable[..., Any] | None = None, label: str = "1/1",
              clock: Callable[[], float] | None = None) -> dict | None:
        """Train (or continue) one configuration here until it is finished or ``deadline`` (a ``clock()``
        time, default ``time.monotonic``) passes; its record once finished, else None."""
        clock = clock or time.monotonic
        name, epochs = config["name"], config["epochs"]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # appended, not with_suffix: a name such as "snn-h32-l1-eta0.2" would lose ".2" and share eta0's files
        stem = f"{self.experiment}-{name}"
        ckpt, prog_path = self.work_dir / f"{stem}.ckpt", self.work_dir / f"{stem}.progress.json"
        prog = _read(prog_path) or {}
        if prog.get("settings_key") != self.key(config):  # other settings: the checkpoint restarts too
            prog = {"settings_key": self.key(config), "epochs_done": 0, "wall_s": 0.0, "commits": {},
                    "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        bar = progress(total=epochs, initial=prog["epochs_done"], desc=f"{self.experiment} {label} {name}",
                       unit="epoch") if progress else None
        per_epoch = None
        entry = None
        while prog["epochs_done"] < epochs:
            left = None if deadline is None else deadline - clock()
            if left is not None and (left <= 0 or (per_epoch and left < per_epoch)):
                break
            if left is None:
                step = chunk
            elif per_epoch is None:  # one epoch first, to learn its cost before a chunk the budget may not hold
                step = 1
            else:
                step = max(1, min(chunk, int(left // per_epoch)))
            before, target = prog["epochs_done"], min(epochs, prog["epochs_done"] + step)
            t0 = last = time.perf_counter()

            def on_epoch(rec: dict) -> None:
                # counted per epoch (the checkpoint is saved right after this call), so an interrupted chunk
                # loses at most the epoch in flight, and each commit is credited with the epochs it computed
                nonlocal last
                now = time.perf_counter()
                if rec["epoch"] + 1 > prog["epochs_done"]:  # not an epoch redone from an older checkpoint
                    prog["commits"][commit] = prog["commits"].get(commit, 0) + 1
                prog["epochs_done"] = max(prog["epochs_done"], rec["epoch"] + 1)
                prog["wall_s"] += now - last
                prog["last_epoch"] = _last_epoch(rec)
                last = now
                _write_progress(prog_path, prog)
                if bar is not None:
                    bar.update(prog["epochs_done"] - bar.n)
                    bar.set_postfix({k_: round(v, 4) for k_, v in prog["last_epoch"].items() if k_ in SHOWN})

            try:
                entry = self.module.reference_train(config["settings"], epochs=target, checkpoint=ckpt,
                                                    on_epoch=on_epoch)
            except BaseException:
                # interrupted (Ctrl-C, killed at a session's end): the epoch in flight keeps the steps its
                # checkpoint holds (the SAEs' every 50 steps, Roy's every 50 batches), so its time so far counts
                prog["wall_s"] += time.perf_counter() - last
                _write_progress(prog_path, prog)
                raise
            per_epoch = (time.perf_counter() - t0) / max(prog["epochs_done"] - before, 1)
            if prog["epochs_done"] < target:  # the checkpoint was ahead of the progress file: trust it
                prog["epochs_done"] = target
                _write_progress(prog_path, prog)
        if bar is not None:
            bar.close()
        if prog["epochs_done"] < epochs or entry is None:
            return None
        record = {"name": f"{self.experiment}/{name}", "scale": "paper", "settings": dict(config["settings"]),
                  "settings_key": self.key(config), "results": entry,
                  "provenance": {"commits": prog["commits"], "git_commit": commit, "git_dirty": False,
                                 "started": prog["started"],
                                 "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                                 "wall_seconds": round(prog["wall_s"], 1), "machine": machine(), "device": "cpu",
                                 "deviations": config["deviations"], "scale": "paper", "executor": "local"}}
        return record

    def write_combined(self) -> Path | None:
        """``book/paper_runs/<experiment>.json`` from every finished configuration (None if none is)."""
        entries = {c["name"]: rec for c in self.configs if (rec := self.finished(c))}
        if not entries:
            return None
        combined = self.module.reference_record({n: r["results"] for n, r in entries.items()})
        provs = [r["provenance"] for r in entries.values()]
        commits = sorted({c for p in provs for c in p["commits"]})
        record = {"name": self.experiment, "scale": "paper", "results": combined,
                  "provenance": {"notebook": self.experiment, "scale": "paper", "reference_runs": sorted(entries),
                                 "git_commit": provs[-1]["git_commit"], "git_dirty": False, "commits": commits,
                                 "date": max(p["finished"] for p in provs), "device": "cpu",
                                 "machine": provs[-1]["machine"],
                                 # runs of one experiment may come from different hosts (sessions differ)
                                 "machines": sorted({str(p["machine"].get("cpu")) for p in provs}),
                                 "wall_seconds": round(sum(p["wall_seconds"] for p in provs), 1),
                                 # the configurations' own description (the code's, as a run's settings key
                                 # still matches it; a run's record keeps the text of its day)
                                 "deviations": "; ".join(dict.fromkeys(
                                     c["deviations"] for c in self.configs if c["name"] in entries)),
                                 # what outdated() compares with the code's paper protocol
                                 "settings_keys": {n: r["settings_key"] for n, r in entries.items()}}}
        path = self.kept_dir / f"{self.experiment}.json"
        write_text_durably(path, json.dumps(record, indent=1, allow_nan=True) + "\n")
        return path


def outdated(experiment: str, settings_keys: Mapping[str, str]) -> list[str]:
    """The runs of a kept record (``settings_keys``: name -> the settings fingerprint it was computed with)
    whose settings the code's paper protocol no longer has (changed, or the configuration is gone); [] for
    an experiment without reference runs."""
    if experiment not in EXPERIMENTS:
        return []
    ref = Reference(experiment)
    current = {c["name"]: ref.key(c) for c in ref.configs}
    return [name for name, key in settings_keys.items() if current.get(name) != key]


def train_on_worker(experiment: str, module: str, config: Mapping[str, Any], commit: str,
                    deadline: float | None, chunk: int = 25) -> dict | None:
    """On a Dask worker: train one configuration in the worker's own folder (``<tmp>/spikelib-reference/
    <experiment>``, resuming a checkpoint an earlier attempt on this machine left there) until it is
    finished or the wall-clock ``deadline`` (``time.time()``) passes; its record, or None. Refuses to
    compute at another commit than the driver's, or from uncommitted code."""
    from spikelib.sweep_executors import worker_name

    theirs, dirty = results.git_state()
    if theirs != commit or dirty:
        raise RuntimeError(f"worker {worker_name()} runs commit {str(theirs)[:12]}"
                           f"{' with uncommitted changes' if dirty else ''}, the driver {commit[:12]}: start the "
                           "workers from the driver's checkout, committed")
    work = Path(tempfile.gettempdir()) / "spikelib-reference" / experiment
    ref = Reference(experiment, kept_dir=work / "kept", work_dir=work, module=module)
    record = ref.train(config, commit, deadline=deadline, chunk=chunk, clock=time.time)
    if record is not None:
        record["provenance"]["worker"] = worker_name(published=True)  # kept records are published
    return record


def cli(experiment: str, *, budget: str | None = None, only: list[str] | None = None, status: bool = False) -> int:
    ref = Reference(experiment)
    if status:
        print(status_text(ref.status()))
        return 0
    from tqdm.auto import tqdm

    finished = ref.run(budget_s=parse_budget(budget), only=only, progress=tqdm)
    print(status_text(ref.status()))
    if finished:
        print(f"finished {', '.join(finished)}: commit book/paper_runs/ with git")
    return 0


def status_text(status: list[dict]) -> str:
    """One line per configuration of :meth:`Reference.status`: epochs done, kept, or what its last epoch gave."""
    def line(s):
        last = ", ".join(f"{k} {v:.4g}" for k, v in s.get("last_epoch", {}).items() if k in SHOWN)
        text = f"{s['name']}: {s['epochs_done']}/{s['epochs']} epochs" + (" (kept)" if s["kept"] else "")
        if s["kept"] or not s["epochs_done"]:
            return text
        per_epoch = s.get("wall_s", 0.0) / s["epochs_done"]
        left = (s["epochs"] - s["epochs_done"]) * per_epoch
        return (text + (f" (after epoch {s['epochs_done']}: {last})" if last else "")
                + (f", {per_epoch / 60:.1f} min an epoch so far: about {left / 3600:.1f} h left" if per_epoch else ""))
    return "\n".join(line(s) for s in status)
