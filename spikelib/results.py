"""Results records: every number the book shows is written here with its provenance.

A record is one JSON file ``<directory>/<name>.json``::

    {"name": ..., "scale": ..., "results": {...},
     "provenance": {"notebook", "params", "seed", "scale", "git_commit", "git_dirty", "date",
                    "versions": {"python", "torch", "numpy", "spikelib"}, "device",
                    "figures": {name: sha256 of each PNG the notebook saved}}}

The rule: never hard-code a result. A notebook computes it, writes it with :func:`write_record`, and the
record carries the scale it was computed at. The default directory is ``results/`` at the repository root
(gitignored), or ``$SPIKELIB_RESULTS`` (the book pipeline sets it for the kernels it starts).
Files are written atomically (temporary file + ``os.replace``) so that a reader or a parallel run never
sees half a record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping

from spikelib import __version__
from spikelib.scales import check_scale
from spikelib._io import atomic_path, write_text_durably

REPO_ROOT = Path(__file__).resolve().parents[1]


def results_dir(directory: str | os.PathLike | None = None) -> Path:
    """``directory``, else ``$SPIKELIB_RESULTS``, else ``<repo>/results``; created if missing."""
    path = Path(directory or os.environ.get("SPIKELIB_RESULTS") or REPO_ROOT / "results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def git_state(cwd: str | os.PathLike = REPO_ROOT) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository at ``cwd``; (None, None) without git or outside a repository."""

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        # Ignored files (results/, book/executed/) are not counted; new untracked modules are.
        dirty = bool(run("status", "--porcelain"))
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def provenance(name: str, *, params: Mapping[str, Any], scale: str, seed: int | None, device: str) -> dict:
    """The provenance block of a record (no hostname or user name: records may be published)."""
    import numpy
    import torch

    commit, dirty = git_state()
    return {
        "notebook": name,
        "params": dict(params),
        "seed": seed,
        "scale": scale,
        "git_commit": commit,
        "git_dirty": dirty,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "spikelib": __version__,
        },
        "device": device,
    }


def _jsonable(obj: Any) -> Any:
    """json.dump fallback for numpy and torch values (scalars -> numbers, arrays -> lists)."""
    if hasattr(obj, "tolist"):  # numpy scalars/arrays and torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results record: {obj!r}")


def _check_name(name: str) -> str:
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"record name must be a plain file name without directories, got {name!r}")
    return name


def write_record(
    name: str,
    results: Mapping[str, Any],
    *,
    params: Mapping[str, Any],
    scale: str,
    seed: int | None = None,
    device: str | None = None,
    directory: str | os.PathLike | None = None,
) -> Path:
    """Write ``results`` with its provenance to ``<directory>/<name>.json`` atomically; return the path.

    ``device`` defaults to ``params["device"]`` (the notebooks' parameter), else ``"cpu"``.
    """
    check_scale(scale)
    target = results_dir(directory) / f"{_check_name(name)}.json"
    device = device or str(params.get("device", "cpu"))
    record = {
        "name": name,
        "scale": scale,
        "results": dict(results),
        "provenance": provenance(name, params=params, scale=scale, seed=seed, device=device),
    }
    # the figures this process saved (a notebook is one kernel): the record's provenance covers them
    record["provenance"]["figures"] = dict(sorted(_saved_figures.items()))
    # Serialise first so an unserialisable value fails before anything touches the disk.
    write_text_durably(target, json.dumps(record, indent=2, default=_jsonable, allow_nan=True) + "\n")
    return target


def read_record(path: str | os.PathLike) -> dict:
    """One record, as written by :func:`write_record`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_records(directory: str | os.PathLike | None = None) -> dict[str, dict]:
    """All records in ``directory`` (see :func:`results_dir`), keyed by name, sorted by name."""
    return {p.stem: read_record(p) for p in sorted(results_dir(directory).glob("[!.]*.json"))}


#: Records of paper-scale runs kept in the repository (small JSON, produced where a GPU was available):
#: the book shows them beside the current build; nothing ever recomputes them.
PAPER_RUNS_DIR = REPO_ROOT / "book" / "paper_runs"


def load_paper_runs(directory: str | os.PathLike | None = None) -> dict[str, dict]:
    """The kept paper-scale records in ``directory`` (default :data:`PAPER_RUNS_DIR`), keyed by name.

    A record there that is not at scale ``paper`` is an error naming the file, never silently shown.
    """
    path = Path(directory) if directory is not None else PAPER_RUNS_DIR
    return {p.stem: _paper_scale_record(p) for p in sorted(path.glob("[!.]*.json"))} if path.is_dir() else {}


def kept_paper_run(name: str, directory: str | os.PathLike | None = None) -> dict | None:
    """The kept paper-scale record ``name`` (a page's, e.g. ``"regularised_sae"``) of ``directory`` (default
    :data:`PAPER_RUNS_DIR`), or None: one file read, where :func:`load_paper_runs` reads them all."""
    path = (Path(directory) if directory is not None else PAPER_RUNS_DIR) / f"{name}.json"
    return _paper_scale_record(path) if path.is_file() else None


def commits_label(prov: Mapping[str, Any]) -> str:
    """"commit abc1234", or "commits abc1234, def5678" for a kept record whose runs were computed (and
    resumed) at several commits (its ``commits``), shortened to 7 characters."""
    commits = prov.get("commits") or [prov.get("git_commit") or "unknown"]
    commits = list(commits)  # a dict of commit -> epochs in per-configuration records
    short = ", ".join(str(c)[:7] for c in commits)
    return f"commit{'s' if len(commits) > 1 else ''} {short}"


def _paper_scale_record(path: Path) -> dict:
    """The record at ``path``; a record that is not at scale ``paper`` is an error naming the file."""
    record = read_record(path)
    if record.get("scale") != "paper":
        raise ValueError(f"{path} is at scale {record.get('scale')!r}; only paper-scale records belong there "
                         "(remove it, or rerun its notebook with SCALE=paper)")
    return record


def keep_paper_run(record_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> Path:
    """Copy a paper-scale record into ``directory`` (default :data:`PAPER_RUNS_DIR`) to commit it.

    Refuses records of other scales and records written from uncommitted code (their provenance could
    not be reproduced); the copy is atomic.
    """
    record = read_record(record_path)
    if record.get("scale") != "paper":
        raise ValueError(f"{record_path} is at scale {record.get('scale')!r}, not 'paper': run the notebook with "
                         f"`make book SCALE=paper NOTEBOOKS=...` first")
    prov = record.get("provenance", {})
    if prov.get("git_dirty") or not prov.get("git_commit"):
        raise ValueError(f"{record_path} was written from uncommitted code (git_dirty={prov.get('git_dirty')}, "
                         f"commit={prov.get('git_commit')}); commit, rerun, then keep it")
    target = Path(directory) if directory is not None else PAPER_RUNS_DIR
    dest = target / f"{_check_name(record['name'])}.json"  # write_text_durably creates the folder
    write_text_durably(dest, json.dumps(record, indent=2) + "\n")
    return dest


#: Figures saved by this process (name -> SHA-256 of the PNG), listed in the next record it writes.
_saved_figures: dict[str, str] = {}


def save_figure(fig, name: str, directory: str | os.PathLike | None = None, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure as ``<directory>/<name>.png`` atomically, beside the records.

    The PNG carries its provenance in its text chunks (``Title``: the name, ``Software``: spikelib's
    version, ``Source``: the git commit, with ``+dirty`` for uncommitted code); the notebook's record,
    written afterwards by :func:`write_record`, lists the figure with its SHA-256, which ties the image to
    the record's parameters, seed, scale and library versions.
    """
    target = results_dir(directory) / f"{_check_name(name)}.png"
    commit, dirty = git_state()
    metadata = {"Title": name, "Software": f"spikelib {__version__}",
                "Source": f"{commit or 'unknown commit'}{'+dirty' if dirty else ''}"}
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata=metadata)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
    _saved_figures[name] = digest
    return target
