"""The numbers the four papers report, read from the one file that holds them: ``paper_values.json``.

Code and notebooks never type a paper's number; they ask for it here by id::

    from spikelib import papers
    papers.value("huebotter.table1.sae.lrec")        # 38.09
    papers.entry("huebotter.table1.sae.lrec")["sd"]  # its standard deviation, source, note, ...
    papers.entries("huebotter.table7.")              # every entry whose id starts so, in file order

The file's fields are described in :mod:`spikelib.scorecard`, which sets each value beside this build's.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

#: The file the paper values are read from by default (inside the package).
PAPER_VALUES = "paper_values.json"


def load_paper_values(path: str | Path | None = None) -> dict:
    """The parsed ``paper_values.json`` (the package's own copy unless ``path`` is given), validated."""
    from spikelib.scorecard import validate  # the schema lives with the scorecard that reads it

    if path is None:
        data = _packaged()
    else:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    validate(data)
    return data


@lru_cache(maxsize=1)
def _packaged() -> dict:
    return json.loads(resources.files("spikelib").joinpath(PAPER_VALUES).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _by_id() -> dict[str, Mapping[str, Any]]:
    return {e["id"]: e for e in load_paper_values()["values"]}


def entry(id: str) -> Mapping[str, Any]:
    """The whole entry ``id`` (value, printed, sd, unit, source, note, ...); KeyError names near misses."""
    table = _by_id()
    try:
        return table[id]
    except KeyError:
        stem = id.rsplit(".", 1)[0]
        near = [k for k in table if k.startswith(stem)][:8]
        raise KeyError(f"no paper value {id!r} in {PAPER_VALUES}" + (f"; similar: {', '.join(near)}" if near else ""))


def value(id: str) -> float | None:
    """The paper's number for ``id`` (None where the paper only plots it)."""
    return entry(id)["value"]


def sd(id: str) -> float | None:
    """The paper's standard deviation for ``id``, where it reports mean ± SD."""
    return entry(id).get("sd")


def entries(prefix: str = "", *, paper: str | None = None) -> list[Mapping[str, Any]]:
    """Every entry whose id starts with ``prefix`` (and of ``paper``, if given), in file order."""
    return [e for e in load_paper_values()["values"]
            if e["id"].startswith(prefix) and (paper is None or e["paper"] == paper)]
