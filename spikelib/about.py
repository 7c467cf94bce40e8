"""The "About this build" page: commit, date, library versions, machine, scale and wall time per notebook.

:func:`page_markdown` is pure: it renders the build manifest (``book/executed/_build_info.json``,
written by :mod:`spikelib.pipeline`), the results records (:mod:`spikelib.results`) and the environment
(:func:`library_versions`, :func:`machine`) as MyST markdown. The pipeline writes the page to
``book/executed/about_build.md`` before Sphinx runs, so it is never typed by hand.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Iterable, Mapping

#: Distributions whose versions the page lists (the ones that shape the numbers or the pages).
LIBRARIES: tuple[str, ...] = ("spikelib", "torch", "numpy", "scipy", "scikit-learn", "matplotlib",
                              "papermill", "nbclient", "ipykernel", "jupyter-book", "sphinx", "myst-nb",
                              "sphinx-book-theme")


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """``{distribution: version}`` of the running environment, "not installed" where absent."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpuinfo(text: str | None = None) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (or of ``text``); empty where there is none."""
    if text is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                text = f.read()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block ends
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _model_name(info: dict[str, str]) -> str:
    return info.get("model name") or platform.processor() or "unknown"


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    return _model_name(_cpuinfo(cpuinfo))


def cpu_label(cpuinfo: str | None = None) -> str:
    """:func:`cpu_model` with the CPU family, model and widest x86 vector extension where ``/proc/cpuinfo``
    has them, e.g. ``AMD EPYC (family 25, model 1, AVX2)``. Benchmarks and records carry it: timings are only
    comparable on the same CPU, and one model name can hide different ones (this project's 2-core "AMD
    EPYC" VMs were a Zen 4 with AVX-512 and a Zen 3 without, the kernels 1.5-2x apart)."""
    info = _cpuinfo(cpuinfo)  # read once
    flags = set(info.get("flags", "").split())
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE" if "sse2" in flags else ""
    details = []
    if "cpu family" in info and "model" in info:
        details.append(f"family {info['cpu family']}, model {info['model']}")
    if isa:
        details.append(isa)
    name = _model_name(info)
    return f"{name} ({', '.join(details)})" if details else name


def _gpus() -> list[str]:
    """Names of the NVIDIA GPUs ``nvidia-smi`` sees (empty without one); torch is not imported."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()] if out.returncode == 0 else []


def machine() -> dict[str, object]:
    """What the build ran on: OS, architecture, CPU model and cores, GPUs (no host or user names)."""
    return {"os": f"{platform.system()} {platform.release()}", "architecture": platform.machine(),
            "cpu": cpu_label(), "cores": os.cpu_count() or 0, "gpus": _gpus()}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _commit(commit: str | None, dirty: bool | None, *, short: bool = False) -> str:
    if not commit:
        return "—" if short else "unknown (not a git checkout)"
    if short:
        return f"`{commit[:8]}`" + (" (modified)" if dirty else "")
    return f"`{commit[:12]}`" + (" with uncommitted changes" if dirty else "")


def _date(iso: str | None) -> str:
    """``2026-11-23T12:24:55+00:00`` -> ``2026-11-23 12:24`` (UTC, as the pipeline writes it)."""
    if not iso:
        return "—"
    return iso.replace("T", " ")[:16]


def _seconds(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def commits_markdown(manifest: Mapping, records: Mapping[str, Mapping],
                     kept_records: Mapping[str, Mapping] | None = None) -> list[str]:
    """Every commit that computed a record the scorecard reads, with the records from each: this build's
    commit first, then the others by their newest record; kept paper-scale records are marked *kept*."""
    by_commit: dict[str | None, list[str]] = {}
    newest: dict[str | None, str] = {}
    labelled = [(n, r, "") for n, r in records.items()]
    labelled += [(n, r, " (kept)") for n, r in (kept_records or {}).items()]
    for name, rec, suffix in labelled:
        p = rec.get("provenance", {})
        c = p.get("git_commit")
        dirty = " (uncommitted changes)" if p.get("git_dirty") else ""
        by_commit.setdefault(c, []).append(f"`{name}`{suffix}{dirty}")
        newest[c] = max(newest.get(c, ""), p.get("date") or "")
    build = manifest.get("git_commit")
    order = sorted(by_commit, key=lambda c: newest[c], reverse=True)  # newest first (ISO dates sort as text)
    order.sort(key=lambda c: (c != build, c is None))  # stable: this build's, the others, none
    out = ["## Commits behind the records", "",
           f"{sum(c is not None for c in by_commit)} commit(s) computed the records the scorecard reads. A record "
           "from another commit than this build's is flagged on the scorecard, except a kept paper-scale run "
           "(`book/paper_runs/`), whose commit is its own provenance.", "", "| commit | records |", "|---|---|"]
    for c in order:
        label = (_commit(c, None, short=True) + (" (this build)" if c == build else "")) if c else "no commit recorded"
        out.append(f"| {label} | {_cell(', '.join(by_commit[c]))} |")
    if not by_commit:
        out.append("| (none) | |")
    return out


def page_markdown(manifest: Mapping, records: Mapping[str, Mapping], *, versions: Mapping[str, str],
                  machine: Mapping[str, object], pages: Iterable[str] = (),
                  kept_records: Mapping[str, Mapping] | None = None) -> str:
    """The page. ``pages``: the executed notebooks in the book's table of contents (linked with {doc});
    ``kept_records``: the kept paper-scale records, listed under their commits (:func:`commits_markdown`)."""
    pages = list(pages)
    notebooks: Mapping[str, Mapping] = manifest.get("notebooks", {})
    scale, device = manifest.get("scale", "unknown"), manifest.get("device", "unknown")
    this_run = {n: e for n, e in notebooks.items() if e.get("date") == manifest.get("date")
                and "wall_s" in e}
    total = sum(e["wall_s"] for e in this_run.values())
    out = [
        "# About this build",
        "",
        "Generated by `python -m spikelib book` (`make book`) from `book/executed/_build_info.json` and the",
        "results records of the notebooks; nothing on this page is typed by hand.",
        "",
        "| | |",
        "|---|---|",
        f"| built | {_date(manifest.get('date'))} UTC |",
        f"| commit | {_commit(manifest.get('git_commit'), manifest.get('git_dirty'))} |",
        f"| scale of this run | `{_cell(scale)}` |",
        f"| device | `{_cell(device)}` |",
        f"| notebooks executed in this run | {len(this_run)} of {len(notebooks)} pages, "
        f"{_seconds(total)} of notebook time |",
        "",
        "To rebuild it: check out the commit, then "
        f"`make book SCALE={scale} DEVICE={device}` (see the introduction for one page at a time).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| operating system | {_cell(machine.get('os', 'unknown'))} ({_cell(machine.get('architecture', ''))}) |",
        f"| CPU | {_cell(machine.get('cpu', 'unknown'))}, {machine.get('cores', '?')} cores |",
        f"| GPU | {_cell(', '.join(machine.get('gpus') or []) or 'none')} |",
        "",
        "## Library versions",
        "",
        "| package | version |",
        "|---|---|",
        *[f"| {_cell(name)} | {_cell(v)} |" for name, v in versions.items()],
        "",
        "## Pages",
        "",
        "Each page's last execution; pages not named in a `make book NOTEBOOKS=...` run keep their earlier "
        "one.",
        "",
        "| page | status | scale | device | wall time | executed (UTC) | commit |",
        "|---|---|---|---|---:|---|---|",
    ]
    for name, e in notebooks.items():
        link = f"{{doc}}`{name}`" if name in pages else f"`{name}`"
        status = e.get("status", "unknown")
        if status != "ok":
            status = f"**{status}**" + (f": {e['error']}" if e.get("error") else "")
        out.append("| " + " | ".join(_cell(c) for c in (
            link, status, e.get("scale", "—"), e.get("device", "—"), _seconds(e.get("wall_s")),
            _date(e.get("date")), _commit(e.get("git_commit"), e.get("git_dirty"), short=True))) + " |")
    other = sorted({e.get("scale") for e in notebooks.values() if e.get("scale")} - {scale})
    if other:
        out += ["", f"```{{note}}\nSome pages were last executed at another scale ({', '.join(other)}) than "
                    f"this run ({scale}); each page and each scorecard row states its own.\n```"]
    out += [
        "",
        "## Results records",
        "",
        "The records the scorecard reads, with their provenance (`spikelib.results`).",
        "",
        "| record | scale | seed | device | written (UTC) | commit | torch / numpy |",
        "|---|---|---:|---|---|---|---|",
    ]
    for name, rec in records.items():
        p = rec.get("provenance", {})
        v = p.get("versions", {})
        label = f"`{name}`" + (f" (from {p['notebook']})" if p.get("notebook", name) != name else "")
        out.append("| " + " | ".join(_cell(c) for c in (
            label, rec.get("scale", "—"), "—" if p.get("seed") is None else p["seed"], p.get("device", "—"),
            _date(p.get("date")), _commit(p.get("git_commit"), p.get("git_dirty"), short=True),
            f"{v.get('torch', '—')} / {v.get('numpy', '—')}")) + " |")
    if not records:
        out.append("| (none) | | | | | | |")
    out += ["", *commits_markdown(manifest, records, kept_records)]
    return "\n".join(out) + "\n"
