"""What the notebooks share for reporting: finding records, formatting numbers and tables, image mosaics,
and the "ours beside the paper's" line.

A notebook sets parameters, calls an experiments module, and uses these to show the result; anything a
notebook would otherwise define for itself belongs here (generic) or in its paper's module under
:mod:`spikelib.experiments` (specific to that paper).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from spikelib import papers

#: What a table shows for a value that is missing or not finite.
MISSING = "–"


# ----------------------------------------------------------------------------------------- records


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def matches(config: Mapping[str, Any], **match: Any) -> bool:
    """Whether ``config`` has every ``field=value`` of ``match`` (numbers compared to rounding; a field
    absent from ``config`` matches only ``None``)."""
    return all(_same(config.get(k), v) for k, v in match.items())


def find_records(records: Iterable[Mapping[str, Any]], **match: Any) -> list[Mapping[str, Any]]:
    """Every sweep record whose ``config`` :func:`matches` ``match``, in order."""
    return [r for r in records if matches(r["config"], **match)]


def find_record(records: Iterable[Mapping[str, Any]], *, missing_ok: bool = False,
                **match: Any) -> Mapping[str, Any] | None:
    """The one sweep record whose ``config`` :func:`matches` ``match``.

    None if there is none and ``missing_ok`` (a scale that does not run that configuration); otherwise
    KeyError for none and ValueError for several, each naming the match.
    """
    found = find_records(records, **match)
    if len(found) > 1:
        raise ValueError(f"{len(found)} records match {match}; add a field that tells them apart")
    if not found:
        if missing_ok:
            return None
        raise KeyError(f"no record matches {match}")
    return found[0]


# ------------------------------------------------------------------------------------------ numbers


def fmt(value: Any, sd: Any = None, *, digits: int = 2, missing: str = MISSING) -> str:
    """``value`` with ``digits`` decimals (and `` ± sd``); ``missing`` for None, NaN or inf."""
    if value is None or not np.isfinite(float(value)):
        return missing
    text = f"{float(value):.{digits}f}"
    if sd is not None and np.isfinite(float(sd)):
        text += f" ± {float(sd):.{digits}f}"
    return text


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, align: str | None = None) -> str:
    """A Markdown table. ``align``: one character per column, ``l`` or ``r`` (default: all left)."""
    header = list(header)
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"align has {len(align)} characters for {len(header)} columns")
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(map(str, header)) + " |", rule]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row}")
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def paper_vs_ours(id: str, ours: Any, *, scale: str, digits: int | None = None, sd: Any = None) -> str:
    """``"ours 0.0213 (quick) · paper 0.0208 (Fig. 3)"`` for the paper value ``id``.

    The scale is always named beside our number, so a quick-scale value never reads as the paper's.
    ``digits`` defaults to the paper's printed precision.
    """
    e = papers.entry(id)
    if digits is None:
        printed = e["printed"] or ""
        digits = len(printed.split(".")[1]) if "." in printed else 0
    paper = MISSING if e["value"] is None else e["printed"]
    if e.get("sd") is not None:
        paper += f" ± {e['sd']}"
    return f"ours {fmt(ours, sd, digits=digits)} ({scale}) · paper {paper} ({e['source']})"


# ------------------------------------------------------------------------------------------- images


def tile(images: Any, *, cols: int | None = None, gap: int = 0, fill: float = np.nan) -> np.ndarray:
    """Images (n, h, w) as one (rows·(h+gap)−gap, cols·(w+gap)−gap) array, row by row.

    ``cols`` defaults to all images in one row (a strip); ``gap`` pixels of ``fill`` (NaN: drawn as the
    colormap's "bad" colour, e.g. white) separate the tiles; missing tiles at the end are ``fill``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w), got shape {images.shape}")
    n, h, w = images.shape
    cols = n if cols is None else max(1, int(cols))
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), fill)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = im
    return out


def grid_mosaic(grid: Any) -> np.ndarray:
    """A (rows, cols, h, w) grid of images as one (rows·h, cols·w) image, without gaps."""
    grid = np.asarray(grid)
    if grid.ndim != 4:
        raise ValueError(f"grid must be (rows, cols, h, w), got shape {grid.shape}")
    r, c, h, w = grid.shape
    return grid.transpose(0, 2, 1, 3).reshape(r * h, c * w)


def scaled_filters(w: Any) -> np.ndarray:
    """Filters (n, h, w), each divided by its largest magnitude (so that each spans [-1, 1])."""
    w = np.asarray(w, dtype=np.float64)
    return w / np.maximum(np.abs(w).reshape(len(w), -1).max(1), 1e-12)[:, None, None]
