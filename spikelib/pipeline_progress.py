"""Live progress of the notebooks `make book` runs (a part of :mod:`spikelib.pipeline`).

papermill runs with ``--log-output``, so its merged output streams the cell being executed ("Executing
Cell 5---"), its own cell bar ("Executing: 45%|...| 9/20") and every line the kernel prints, including the
progress bars of long fits and sweeps (:func:`spikelib.fitting.progress_bar`). :class:`NotebookProgress`
follows one such stream; :class:`Board` shows every running notebook's state: one line rewritten in place
on a terminal, or one line per notebook every ``interval`` seconds when the output is a log (CI).
:func:`describe_failure` says where a notebook that did not finish stopped; :func:`start_order` puts
the longest first.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

_CELL = re.compile(r"Executing Cell (\d+)-")
_BAR = re.compile(r"Executing:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")
# papermill's and Jupyter's own chatter: never shown as the notebook's latest output
_NOISE = re.compile(r"^(Input Notebook|Output Notebook|Executing notebook with kernel|Ending Cell|\[IPKernelApp\]"
                    r"|Executing Cell|Executing:|.*TqdmWarning|\s*from \.autonotebook)")

print_lock = threading.Lock()
#: the variable naming each notebook's progress file: spikelib.fitting.PROGRESS_ENV, written out here because
#: importing spikelib.fitting loads torch, which the pipeline process does not need (a test keeps them equal)
PROGRESS_ENV = "SPIKELIB_PROGRESS_FILE"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class NotebookProgress:
    """The state of one running notebook, fed with the lines of its papermill process."""

    def __init__(self, name: str, *, progress_file: Path | None = None, tail: int = 400, clock=time.monotonic):
        self.name, self._clock, self.start = name, clock, clock()
        self.cell = self.cells = None
        self.latest = ""  # the kernel's latest output line
        self.fit = ""  # the latest line of a fit's progress (spikelib.fitting.EpochProgress)
        self.progress_file, self._offset = progress_file, 0
        self.log: deque[str] = deque(maxlen=tail)  # the end of the output, for a failure message

    def poll(self) -> None:
        """Read what the notebook's fits appended to ``progress_file`` since the last call."""
        if self.progress_file is None:
            return
        try:
            with open(self.progress_file, "rb") as f:
                f.seek(self._offset)
                new = f.read()
        except OSError:  # not written yet
            return
        self._offset += len(new)
        lines = [ln.strip() for ln in new.decode("utf-8", "replace").splitlines() if ln.strip()]
        if lines:
            self.fit = lines[-1]

    def feed(self, line: str) -> None:
        self.log.append(line)
        if m := _BAR.search(line):
            self.cells = int(m[2])
        if m := _CELL.search(line):
            self.cell = int(m[1])
        text = line.strip()
        if text and not _NOISE.match(text):
            self.latest = text

    def status(self, width: int = 100) -> str:
        where = f"cell {self.cell or 0}/{self.cells or '?'}"
        text = f"{self.name}: {where}, {_clock(self._clock() - self.start)}"
        if self.fit or self.latest:
            text += f" | {self.fit or self.latest}"
        return text if len(text) <= width else text[: width - 1] + "…"


class Board:
    """The status of the running notebooks on ``stream``: in place on a terminal (refreshed every second),
    else a line per notebook every ``interval`` seconds. :meth:`say` prints a message without mangling it."""

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 30.0, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.running: dict[str, NotebookProgress] = {}
        self._shown = False  # an in-place line is on the terminal
        self._last_log = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def say(self, msg: str) -> None:
        with print_lock:
            self._erase()
            print(msg, file=self.stream, flush=True)

    def _erase(self) -> None:
        if self._shown:
            self.stream.write("\r\033[K")
            self._shown = False

    def add(self, name: str, progress_file: Path | None = None) -> NotebookProgress:
        prog = NotebookProgress(name, progress_file=progress_file)
        with print_lock:
            self.running[name] = prog
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="spikelib-progress", daemon=True)
            self._thread.start()
        return prog

    def remove(self, name: str) -> None:
        with print_lock:
            self.running.pop(name, None)
            self._erase()

    def tick(self) -> None:
        """Show the current state once (the background thread calls this every second)."""
        with print_lock:
            if not self.running:
                return
            for p in self.running.values():
                p.poll()
            if self.tty:
                width = max(40, shutil.get_terminal_size((120, 20)).columns - 1)
                per = max(30, width // len(self.running) - 3)
                line = " · ".join(p.status(per) for p in self.running.values())
                self.stream.write("\r\033[K" + line[:width])
                self.stream.flush()
                self._shown = True
            elif time.monotonic() - self._last_log >= self.interval:
                self._last_log = time.monotonic()
                for p in self.running.values():
                    print(f"[run]   {p.status(160)}", file=self.stream, flush=True)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with print_lock:
            self._erase()


def describe_failure(executed: Path) -> tuple[str, str] | None:
    """("cell N (first source line)", "Error: message") for the first cell that failed, or that was
    still running when papermill was stopped ("" as the error); None if there is none."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # a notebook killed mid-write is not worth a second traceback
        return None
    index = 0  # position in the source notebook: skip the cells papermill inserted
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        running = cell.get("metadata", {}).get("papermill", {}).get("status") == "running"
        if errors or running:
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "").strip()
            error = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else ""
            return f"cell {index} ({first!r})", error
        index += 1
    return None


#: Seconds a notebook took at quick on the 2-core machine (README's chapter table, fresh clone, 2026-12-06), the
#: start order of a build with no earlier timing: the longest start first, so that parallel jobs end close together.
EXPECTED_QUICK_S = {"regularised_sae": 1040, "spiking_autoencoders": 413, "spike_backprop": 389,
                    "alpha_mnist_training": 238}


def start_order(names: list[str], scale: str, manifest: Path) -> list[str]:
    """``names``, longest expected first: the wall time of the last run at ``scale`` in the build's
    ``manifest`` (``_build_info.json``), else :data:`EXPECTED_QUICK_S` (0 for a notebook in neither); ties
    keep their order."""
    try:
        earlier = json.loads(Path(manifest).read_text(encoding="utf-8")).get("notebooks", {})
    except (OSError, ValueError):
        earlier = {}

    def expected(name: str) -> float:
        e = earlier.get(name, {})
        if e.get("scale") == scale and e.get("status") == "ok" and e.get("wall_s"):
            return float(e["wall_s"])
        return EXPECTED_QUICK_S.get(name, 0)

    return sorted(names, key=lambda n: -expected(n))
