"""The book pipeline behind ``make book``: execute the notebooks with papermill, then build the site.

1. Every notebook in ``notebooks/`` (or the named subset) runs with papermill into
   ``book/executed/<name>.ipynb``. Only the parameters a notebook declares in its ``parameters`` cell
   are injected (``scale``, ``device``). Notebooks run in parallel, each in its own papermill process,
   with a per-cell and an overall timeout; a failure is reported (notebook, cell, error), its partial
   executed copy is kept, and the other notebooks carry on.
2. ``book/executed/_build_info.json`` records scale, device, commit, date, and per notebook its status
   and wall time (for an "About this build" page). Entries of notebooks not run this time are kept.
3. Two pages are generated, not executed, into ``book/executed/`` after the notebooks have run and
   before Sphinx: ``scorecard.md`` (every number of the four papers beside this build's value, from
   the results records: :mod:`spikelib.scorecard`) and ``about_build.md`` (commit, date, versions,
   machine, wall time per notebook: :mod:`spikelib.about`). They are written on every run, a
   ``NOTEBOOKS=`` subset included, so they always reflect all records present; a record from another
   commit than the build's, from uncommitted code or from a notebook that failed now is flagged.
4. ``jupyter-book build book`` renders the executed copies; execution is off in ``_config.yml``, so the
   book never re-executes anything. A page in ``_toc.yml`` whose notebook has never been executed is
   built from the stored (output-free) notebook with a banner saying how to run it, so a
   ``NOTEBOOKS=`` subset on a fresh clone still gives a complete site; it is reported loudly.
5. The pages load no asset from the web. MathJax, which Sphinx would take from a CDN, is a pinned npm
   tarball (``npm pack``, SHA-256 checked, cached beside the datasets) unpacked into the build's
   ``_static/mathjax/`` before Sphinx runs; ``mathjax_path`` in ``_config.yml`` points there. Without
   npm or the registry, a small loader there fetches the same version from the CDN, with a warning.
   That step is :mod:`spikelib.pipeline_mathjax`; its names are importable from here too.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from spikelib._io import atomic_path
from spikelib.heap import GLIBC_HEAP_ENV, GLIBC_HEAP_KEEP_BYTES
from spikelib.pipeline_mathjax import (  # re-exported: spikelib.pipeline.install_mathjax etc. keep working
    MATHJAX_CDN,
    MATHJAX_ENTRY,
    MATHJAX_NPM,
    MATHJAX_PARTS,
    MATHJAX_SHA256,
    MATHJAX_STAMP,
    install_mathjax,
)
from spikelib.pipeline_progress import (PROGRESS_ENV, Board, NotebookProgress, describe_failure, print_lock,
                                       start_order)
from spikelib.scales import check_scale

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_DIR = REPO_ROOT / "book"
KERNEL = "python3"
INJECTABLE = ("scale", "device")  # what the pipeline may set; a notebook gets those it declares
# seconds per notebook (None: no limit). quick: the whole book must fit 60 min on 2 cores; its longest page,
# regularised_sae at T = 100, took 1,040 s with both cores (fresh clone, 2026-12-06); on one core (jobs=2 on 4
# cores, or beside another job) it is estimated at ~35 min from a partial run; 45 min leaves it room.
DEFAULT_TIMEOUT = {"smoke": 300, "quick": 2700, "paper": None}
KILL_GRACE_S = 15  # lets papermill record a cell timeout in the notebook before the process is killed
MANIFEST = "_build_info.json"
PLACEHOLDER_KEY = "spikelib_placeholder"
#: Pages the pipeline generates into executed/ (``executed/<name>.md``); they are not notebooks.
GENERATED_PAGES = ("scorecard", "about_build")

_live: set[subprocess.Popen] = set()  # papermill processes running now, to stop them on Ctrl-C
_stopping = threading.Event()
_board: Board | None = None  # the running notebooks' live status, while run_notebooks runs


def say(msg: str) -> None:
    if _board is not None:
        _board.say(msg)  # erases the in-place status line first
        return
    with print_lock:
        print(msg, flush=True)


@dataclass
class Run:
    """The outcome of executing one notebook."""

    name: str
    status: str  # "ok" | "failed" | "timeout"
    wall_s: float
    error: str = ""


# ---------------------------------------------------------------- selection and environment


def available_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[str]:
    """Names (without ``.ipynb``) of the notebooks in ``notebook_dir``."""
    return sorted(p.stem for p in Path(notebook_dir).glob("*.ipynb"))


def resolve_notebooks(names: list[str] | None, notebook_dir: Path = NOTEBOOK_DIR) -> list[str]:
    """``names`` (with or without ``.ipynb``) checked against the notebooks; all of them if empty."""
    available = available_notebooks(notebook_dir)
    if not names:
        return available
    wanted = [Path(n).name.removesuffix(".ipynb") for n in names]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ValueError(
            f"unknown notebook(s) {', '.join(unknown)}; available in {notebook_dir}: "
            f"{', '.join(available) or '(none)'}"
        )
    return list(dict.fromkeys(wanted))  # de-duplicated, order kept


def default_jobs(jobs: int, n_notebooks: int) -> int:
    """``jobs`` parallel notebooks, 0 meaning one per two cores; never more than there are notebooks."""
    if jobs < 0:
        raise ValueError(f"jobs must be >= 0, got {jobs}")
    jobs = jobs or max(1, (os.cpu_count() or 1) // 2)
    return max(1, min(jobs, n_notebooks))


def _interpreter_prefix(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, timeout=60
        )
        return out.stdout.strip() if out.returncode == 0 else None
    except OSError:
        return None


def _kernel_python(name: str) -> str | None:
    """The interpreter kernel ``name`` would start from a papermill running on ``sys.executable``."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
    except NoSuchKernel:
        return None
    # jupyter_client replaces a bare "python"/"python3"/"python3.X" by its own sys.executable.
    v = sys.version_info
    if argv0 in {"python", f"python{v[0]}", f"python{v[0]}.{v[1]}"}:
        return sys.executable
    return argv0


def ensure_kernel(name: str = KERNEL) -> None:
    """Make sure kernel ``name`` runs this interpreter, so the notebooks import this same spikelib.

    A ``python3`` kernelspec in ~/.local/share/jupyter or /usr/share/jupyter pointing at another Python
    is a common trap: the notebooks would run against a different (or no) spikelib. If the kernel does
    not resolve to this environment, install its kernelspec into ``sys.prefix`` and check again.
    """
    for attempt in range(2):
        python = _kernel_python(name)
        if python and (python == sys.executable or _interpreter_prefix(python) == sys.prefix):
            return
        if attempt == 0:
            say(f"[kernel] {name!r} resolves to {python or 'nothing'}; installing it into {sys.prefix}")
            subprocess.run(
                [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name],
                check=True, capture_output=True,
            )
    raise RuntimeError(
        f"Jupyter kernel {name!r} starts {python}, not this environment's Python ({sys.executable}). "
        "The first kernelspec of that name on the Jupyter path wins: see `jupyter kernelspec list` (run "
        "from this environment) and remove the other one, or unset JUPYTER_PATH."
    )


def kernel_env(results_dir: Path | None, jobs: int) -> dict[str, str]:
    """Environment for papermill and its kernels: headless plots, figures as numbered MyST figures with
    captions (:func:`spikelib.plotting.show`), the results directory, thread budget, glibc's heap."""
    from spikelib.plotting import BOOK_ENV
    from spikelib.results import results_dir as resolve_results_dir

    env = dict(os.environ, MPLBACKEND="Agg")
    env[BOOK_ENV] = "1"
    env["SPIKELIB_RESULTS"] = str(resolve_results_dir(results_dir).resolve())
    # Parallel notebooks would each start one torch thread per core; share the cores out instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    # glibc's heap (spikelib.heap.keep_freed_memory), through its variables, read as a process starts:
    # spike_backprop took 36.5 M minor faults, 64 s of system time, without; 3.0 M, 14 s with.
    for name in GLIBC_HEAP_ENV:
        env.setdefault(name, str(GLIBC_HEAP_KEEP_BYTES))
    return env


# ---------------------------------------------------------------- execution


def declared_parameters(path: Path) -> set[str]:
    """Names declared in the notebook's ``parameters`` cell (empty if it has none)."""
    import papermill

    return set(papermill.inspect_notebook(str(path)))


RERUN_TAG = "spikelib-rerun"


def rerun_markdown(name: str, *, scale: str, device: str, parameters: set[str]) -> str:
    """The "rerun this page" box the pipeline adds below the parameters of every executed page."""
    others = sorted(parameters - {"scale", "device"})
    example = f" -p {others[0]} ..." if others else ""
    names = ", ".join(f"`{p}`" for p in sorted(parameters)) or "none"
    return (
        ":::{admonition} Rerun this page\n:class: tip\n"
        f"This page ran at scale **{scale}** on **{device}**. Its parameters ({names}) are in the cell "
        "above; the scales are defined in `spikelib/scales.py`. From a checkout (README: two commands on a "
        "fresh machine):\n\n"
        f"- the whole page at another scale: `make book NOTEBOOKS={name} SCALE=paper DEVICE=cuda` "
        "(`SCALE=smoke|quick|paper`, `DEVICE=cpu|cuda`);\n"
        f"- with other parameters: `.venv/bin/papermill notebooks/{name}.ipynb out.ipynb -p scale {scale}"
        f"{example}` (any name of the parameters cell, each with `-p NAME VALUE`).\n\n"
        "Its numbers go to `results/" + name + ".json` with their provenance.\n:::"
    )


def add_rerun_note(executed: Path, name: str, *, scale: str, device: str, parameters: set[str]) -> None:
    """Insert :func:`rerun_markdown` after the (injected) parameters cell of an executed notebook."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    nb.cells = [c for c in nb.cells if RERUN_TAG not in c.get("metadata", {}).get("tags", [])]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    where = max((i for i, t in enumerate(tags) if "injected-parameters" in t or "parameters" in t), default=-1)
    cell = nbformat.v4.new_markdown_cell(rerun_markdown(name, scale=scale, device=device, parameters=parameters))
    cell.metadata["tags"] = [RERUN_TAG]
    nb.cells.insert(where + 1, cell)
    with atomic_path(executed) as tmp:
        nbformat.write(nb, str(tmp))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def execute_notebook(
    name: str,
    *,
    scale: str,
    device: str,
    timeout: int | None,
    notebook_dir: Path,
    executed_dir: Path,
    env: dict[str, str],
) -> Run:
    """Run one notebook with papermill in its own process group (so a timeout can kill its kernel)."""
    source, target = Path(notebook_dir) / f"{name}.ipynb", Path(executed_dir) / f"{name}.ipynb"
    values = {"scale": scale, "device": device}
    declared = declared_parameters(source)
    # --log-output streams the kernel's output (progress bars included) and the cell markers to us
    cmd = [sys.executable, "-m", "papermill", str(source), str(target), "-k", KERNEL,
           "--cwd", str(Path(notebook_dir).resolve()), "--progress-bar", "--log-output", "--log-level", "INFO"]
    for key in INJECTABLE:
        if key in declared:
            cmd += ["-r", key, values[key]]  # -r: raw strings, so "1" stays a string
    if timeout:
        cmd += ["--execution-timeout", str(timeout)]
    # the fits of the notebook append their progress here (spikelib.fitting.EpochProgress), not to the page
    progress_file = Path(executed_dir) / f".{name}.progress"
    progress_file.unlink(missing_ok=True)
    env = {**env, PROGRESS_ENV: str(progress_file.resolve())}
    start = time.perf_counter()
    # A session of its own, so that a timeout can kill papermill together with the kernel it started.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    _live.add(proc)
    if _stopping.is_set():  # interrupted while this one was starting
        _kill(proc)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill(proc)

    timer = threading.Timer(timeout + KILL_GRACE_S, expire) if timeout else None
    progress = _board.add(name, progress_file) if _board is not None else NotebookProgress(name)
    try:
        if timer:
            timer.start()
        for line in proc.stdout:  # text mode: a bar's carriage returns end lines too
            progress.feed(line)
        proc.wait()
    finally:
        if timer:
            timer.cancel()
        _live.discard(proc)
        if _board is not None:
            _board.remove(name)
        progress_file.unlink(missing_ok=True)
    log, killed = "".join(progress.log), expired.is_set()
    wall = time.perf_counter() - start
    if proc.returncode == 0 and not killed:
        add_rerun_note(target, name, scale=scale, device=device, parameters=declared)
        return Run(name, "ok", wall)
    failure = describe_failure(target) if target.exists() else None
    where = failure[0] if failure else "a cell"
    if killed:  # the notebook as a whole ran over
        return Run(name, "timeout", wall, f"stopped in {where}: over the {timeout} s limit")
    if "CellTimeoutError" in log:  # nbclient interrupted one cell, which shows a KeyboardInterrupt
        return Run(name, "timeout", wall, f"{where}: ran over the {timeout} s limit")
    if failure is None:  # kernel died, bad notebook JSON, ...: the end of papermill's log says why
        return Run(name, "failed", wall, "\n".join(log.strip().splitlines()[-15:]))
    return Run(name, "failed", wall, ": ".join(failure))


def run_notebooks(
    names: list[str],
    *,
    scale: str,
    device: str,
    jobs: int,
    timeout: int | None,
    notebook_dir: Path,
    executed_dir: Path,
    env: dict[str, str],
) -> list[Run]:
    """Execute ``names`` ``jobs`` at a time (threads waiting on papermill processes), printing progress."""
    executed_dir.mkdir(parents=True, exist_ok=True)
    t0, runs = time.perf_counter(), []
    limit = f"timeout {timeout} s" if timeout else "no timeout"
    say(f"[book] executing {len(names)} notebook(s) at scale={scale}, device={device}, "
        f"{jobs} at a time, {limit}")
    kwargs = dict(scale=scale, device=device, timeout=timeout, notebook_dir=notebook_dir,
                  executed_dir=executed_dir, env=env)

    def one(name: str) -> Run:
        say(f"[start] {name}")
        return execute_notebook(name, **kwargs)

    global _board
    _stopping.clear()
    _board = Board()
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, n) for n in start_order(names, scale, executed_dir / MANIFEST)]
    try:
        for fut in as_completed(futures):
            run = fut.result()
            runs.append(run)
            left, total = len(names) - len(runs), time.perf_counter() - t0
            if run.status == "ok":
                say(f"[done]  {run.name} in {run.wall_s:.1f} s; {left} left, {total:.1f} s elapsed")
            else:
                say(f"[FAIL]  {run.name} ({run.status} after {run.wall_s:.1f} s): {run.error}\n"
                    f"        partial output kept in {executed_dir / (run.name + '.ipynb')}; "
                    f"{left} left, {total:.1f} s elapsed")
    except KeyboardInterrupt:  # the kernels run in sessions of their own: Ctrl-C does not reach them
        _stopping.set()
        for fut in futures:
            fut.cancel()
        for proc in list(_live):
            _kill(proc)
        say("[book] interrupted; running notebooks stopped")
        raise
    finally:
        pool.shutdown(wait=True)
        _board.close()
        _board = None
    order = {n: i for i, n in enumerate(names)}
    return sorted(runs, key=lambda r: order[r.name])


# ---------------------------------------------------------------- manifest and book


def toc_notebooks(book_dir: Path) -> list[str]:
    """Names of the executed notebooks the table of contents refers to (``executed/<name>``), without
    the :data:`GENERATED_PAGES`."""
    import yaml

    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            f = node.get("file") or node.get("root")
            if isinstance(f, str) and f.startswith("executed/"):
                name = Path(f).name.removesuffix(".ipynb")
                if name not in GENERATED_PAGES:
                    found.append(name)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load((Path(book_dir) / "_toc.yml").read_text(encoding="utf-8")))
    return found


def write_placeholder(name: str, notebook_dir: Path, executed_dir: Path) -> None:
    """The stored notebook, unexecuted, under a banner saying how to run it (see module docstring)."""
    import nbformat

    nb = nbformat.read(Path(notebook_dir) / f"{name}.ipynb", as_version=4)
    banner = nbformat.v4.new_markdown_cell(
        ":::{warning}\nThis page has not been executed in this build, so it shows no results. Run\n"
        f"`make book NOTEBOOKS={name}` (add `SCALE=smoke|quick|paper`) to execute it.\n:::"
    )
    nb.cells.insert(0, banner)
    nb.metadata[PLACEHOLDER_KEY] = True
    executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed_dir / f"{name}.ipynb")


def prepare_toc_pages(book_dir: Path, notebook_dir: Path, executed_dir: Path) -> list[str]:
    """Write placeholders for toc pages never executed; return their names. Unknown pages are an error."""
    placeholders = []
    for name in toc_notebooks(book_dir):
        target = executed_dir / f"{name}.ipynb"
        if not (Path(notebook_dir) / f"{name}.ipynb").exists():
            if target.exists():
                continue
            raise FileNotFoundError(
                f"{book_dir / '_toc.yml'} lists executed/{name}, but there is no notebooks/{name}.ipynb"
            )
        if not target.exists() or _is_placeholder(target):
            write_placeholder(name, notebook_dir, executed_dir)
            placeholders.append(name)
    return placeholders


def _is_placeholder(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get(PLACEHOLDER_KEY))
    except (OSError, ValueError):
        return False


def update_manifest(executed_dir: Path, runs: list[Run], *, scale: str, device: str,
                    placeholders: list[str]) -> dict:
    """Merge this run into ``_build_info.json`` (notebooks not run keep their earlier entry)."""
    from spikelib.results import git_state

    path = executed_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    commit, dirty = git_state(REPO_ROOT)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    run_info = {"scale": scale, "device": device, "git_commit": commit, "git_dirty": dirty, "date": now}
    notebooks = manifest.get("notebooks", {})
    for run in runs:
        notebooks[run.name] = {**run_info, "status": run.status, "wall_s": round(run.wall_s, 2),
                               "error": run.error}
    for name in placeholders:
        notebooks[name] = {"status": "not executed", "date": now}
    manifest.update(run_info, notebooks=dict(sorted(notebooks.items())))
    _write_json(path, manifest)
    return manifest


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_generated_pages(book_dir: Path, executed_dir: Path, manifest: dict,
                          results_dir: Path | None) -> dict[str, int]:
    """Write ``executed/scorecard.md`` and ``executed/about_build.md`` (see :data:`GENERATED_PAGES`) from
    the manifest and every record in ``results_dir``; return the scorecard's count per status."""
    from spikelib import about, scorecard
    from spikelib.results import load_paper_runs, load_records

    records, kept_records = load_records(results_dir), load_paper_runs()
    pages = toc_notebooks(book_dir)
    values = scorecard.load_paper_values()
    rows = scorecard.scorecard_rows(values, records, manifest=manifest)  # flags records not of this build
    texts = {
        "scorecard": scorecard.page_markdown(rows, values["papers"], pages=pages, kept_records=kept_records,
                                             kept=scorecard.scorecard_rows(values, kept_records, kept=True),
                                             build_commit=manifest.get("git_commit")),
        "about_build": about.page_markdown(manifest, records, versions=about.library_versions(),
                                           machine=about.machine(), pages=pages, kept_records=kept_records),
    }
    executed_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        with atomic_path(executed_dir / f"{name}.md") as tmp:
            tmp.write_text(text, encoding="utf-8")
    return scorecard.summary(rows)


def build_book(book_dir: Path) -> tuple[int, list[str]]:
    """``jupyter-book build`` of ``book_dir`` into ``book_dir/_build/html``; (return code, warnings).

    The output streams through; warnings are also collected and repeated at the end, so they are not
    lost among Sphinx's progress lines.
    """
    script = Path(sys.executable).parent / "jupyter-book"
    cmd = ([str(script)] if script.exists() else
           [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"])
    cmd += ["build", str(book_dir), "--all"]  # --all: no stale pages from an earlier scale
    say(f"[book] {' '.join(cmd)}")
    env = dict(os.environ, MPLBACKEND="Agg")
    warnings: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as p:
        for line in p.stdout:
            print(line, end="", flush=True)
            if "WARNING" in line or "ERROR" in line:
                warnings.append(re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip())  # no colour codes
    return p.returncode, warnings


# ---------------------------------------------------------------- command line


def cli(
    scale: str = "quick",
    notebooks: list[str] | None = None,
    device: str = "cpu",
    jobs: int = 0,
    timeout: int = 0,
    build: bool = True,
    *,
    book_dir: Path = BOOK_DIR,
    notebook_dir: Path = NOTEBOOK_DIR,
    results_dir: Path | None = None,
) -> int:
    """``python -m spikelib book``: execute the notebooks, write the manifest, build the book.

    Returns 0 if every notebook ran and the book built, 1 otherwise, 2 for bad arguments.
    ``results_dir`` becomes the kernels' ``SPIKELIB_RESULTS`` (default: ``$SPIKELIB_RESULTS`` or
    ``results/``, see :func:`spikelib.results.results_dir`).
    """
    t0 = time.perf_counter()
    book_dir, notebook_dir = Path(book_dir), Path(notebook_dir)
    executed_dir = book_dir / "executed"
    try:
        check_scale(scale)
        names = resolve_notebooks(notebooks, notebook_dir)
        jobs = default_jobs(jobs, max(1, len(names)))
    except ValueError as err:
        say(f"error: {err}")
        return 2
    limit = timeout or DEFAULT_TIMEOUT[scale]
    try:
        ensure_kernel(KERNEL)
    except (RuntimeError, subprocess.CalledProcessError) as err:
        say(f"error: {err}")
        return 1

    try:
        runs = run_notebooks(names, scale=scale, device=device, jobs=jobs, timeout=limit,
                             notebook_dir=notebook_dir, executed_dir=executed_dir,
                             env=kernel_env(results_dir, jobs)) if names else []
    except KeyboardInterrupt:
        return 130
    try:
        placeholders = prepare_toc_pages(book_dir, notebook_dir, executed_dir)
    except FileNotFoundError as err:
        say(f"error: {err}")
        return 1
    manifest = update_manifest(executed_dir, runs, scale=scale, device=device, placeholders=placeholders)
    counts = write_generated_pages(book_dir, executed_dir, manifest, results_dir)
    say("[book] scorecard: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n))
    failed = [r for r in runs if r.status != "ok"]
    say(f"[book] notebooks: {len(runs) - len(failed)} ok, {len(failed)} failed "
        f"in {time.perf_counter() - t0:.1f} s")

    in_toc = set(toc_notebooks(book_dir))
    for name in names:
        if name not in in_toc:
            say(f"[book] warning: notebooks/{name}.ipynb is not in {book_dir / '_toc.yml'}; "
                "it is executed but not shown")
    for name in placeholders:
        say(f"[book] warning: {name} has never been executed; its page shows the notebook without "
            f"results. Run `make book NOTEBOOKS={name}`.")

    rc_build, warnings = 0, []
    if build:
        tb = time.perf_counter()
        mathjax = install_mathjax(book_dir / "_build" / "html")
        rc_build, warnings = build_book(book_dir)
        manifest["build"] = {"status": "ok" if rc_build == 0 else "failed",
                             "wall_s": round(time.perf_counter() - tb, 2), "warnings": warnings,
                             "mathjax": mathjax}
        _write_json(executed_dir / MANIFEST, manifest)
        say(f"[book] jupyter-book {'built' if rc_build == 0 else 'FAILED'} in "
            f"{time.perf_counter() - tb:.1f} s with {len(warnings)} warning(s)"
            + "".join(f"\n        {w}" for w in warnings))
        if mathjax != "local":
            say(f"[book] warning: MathJax comes from {MATHJAX_CDN}: without a network the maths shows "
                "as raw TeX (see the MathJax warning above)")
        if rc_build == 0:
            say(f"[book] open {book_dir / '_build' / 'html' / 'index.html'}")
    for run in failed:
        say(f"[book] FAILED {run.name} ({run.status}): {run.error}")
    say(f"[book] total {time.perf_counter() - t0:.1f} s")
    return 1 if failed or rc_build else 0
