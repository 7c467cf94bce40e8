"""Sweep summaries: the finished records of a sweep as rows of config values and scalar results.

Part of :mod:`spikelib.sweep`, which re-exports every public name here. :func:`load_sweep` reads a
sweep directory, :func:`summary` flattens its records into rows, :func:`summary_markdown` renders them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from spikelib.sweep_configs import ERROR_SUFFIX, RECORD_SUFFIX


def load_sweep(directory: str | os.PathLike) -> list[dict]:
    """The finished records in ``directory`` (error records and other files are left out), by key."""
    out = []
    for path in sorted(Path(directory).glob(f"[!.]*{RECORD_SUFFIX}")):
        if path.name.endswith(ERROR_SUFFIX):
            continue
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        if isinstance(record, dict) and record.get("status") == "ok" and "config" in record:
            out.append(record)
    return out


def _flatten(results: Mapping, prefix: str = "") -> dict:
    """Scalar results, nested mappings as dotted names (``test.mse``); lists (curves) are left out."""
    out = {}
    for k, v in results.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif v is None or isinstance(v, (str, int, float, bool)):
            out[f"{prefix}{k}"] = v
    return out


def _order(value: Any) -> tuple:
    # Sort numbers numerically and put None and other types after them, without comparing across types.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True))


def summary(
    source: str | os.PathLike | Iterable[Mapping], columns: Sequence[str] | None = None
) -> list[dict]:
    """One row per finished config: its config values, its scalar results, ``wall_s``.

    ``source`` is a sweep directory (rows sorted by config values) or records, e.g. from
    :func:`spikelib.sweep.run_sweep` (their order kept). ``columns`` picks and orders the columns; a name
    is looked up in the config, then in the results (nested ones as ``test.mse``), then in the record
    (``key``, ``seed``, ``wall_s``). Default: all config columns, all scalar results, ``wall_s``. A row
    lacking a column has None there.
    """
    from_directory = isinstance(source, (str, os.PathLike))
    records = load_sweep(source) if from_directory else list(source)
    flat = [(r["config"], _flatten(r.get("results", {})), r) for r in records]
    config_columns = list(dict.fromkeys(k for config, _, _ in flat for k in config))
    if columns is None:
        result_columns = [k for k in dict.fromkeys(k for _, res, _ in flat for k in res) if k not in config_columns]
        columns = [*config_columns, *result_columns, "wall_s"]
    else:
        columns = list(columns)
        known = set(config_columns) | {k for _, res, r in flat for k in (*res, *r)}
        unknown = [c for c in columns if c not in known]
        if unknown and records:
            raise KeyError(
                f"no column {', '.join(map(repr, unknown))} in the records; available: "
                f"{', '.join(sorted(known))}"
            )

    def cell(config: Mapping, res: Mapping, record: Mapping, column: str) -> Any:
        for source_ in (config, res, record):
            if column in source_:
                return source_[column]
        return None

    rows = [{c: cell(config, res, r, c) for c in columns} for config, res, r in flat]
    if from_directory:
        rows = [row for _, row in sorted(
            zip(flat, rows), key=lambda pair: tuple(_order(pair[0][0].get(c)) for c in config_columns))]
    return rows


def summary_markdown(
    source: str | os.PathLike | Iterable[Mapping], columns: Sequence[str] | None = None, *, digits: int = 4
) -> str:
    """:func:`summary` as a Markdown table (floats to ``digits`` significant digits, numbers right-aligned).

    In a notebook: ``IPython.display.Markdown(summary_markdown(directory, columns))``.
    """
    rows = summary(source, columns)
    if columns is None:
        columns = list(rows[0]) if rows else []
    columns = list(columns)

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return str(value).replace("|", "\\|")

    numeric = {
        c for c in columns
        if any(isinstance(r[c], (int, float)) and not isinstance(r[c], bool) for r in rows)
        and all(r[c] is None or (isinstance(r[c], (int, float)) and not isinstance(r[c], bool)) for r in rows)
    }
    lines = [
        "| " + " | ".join(c.replace("|", "\\|") for c in columns) + " |",
        "|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|",
        *("| " + " | ".join(text(row[c]) for c in columns) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"
