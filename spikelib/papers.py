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
import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

#: The file the paper values are read from by default (inside the package).
PAPER_VALUES = "paper_values.json"
SCALE_KEYS = ("smoke", "quick", "paper")
RULE_KEYS = {"abs", "rel", "sd", "se", "printed"}



def load_paper_values(path: str | Path | None = None) -> dict:
    """The parsed ``paper_values.json`` (the package's own copy unless ``path`` is given), validated."""
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
    return [e for e in _by_id().values()  # validated once, in file order
            if e["id"].startswith(prefix) and (paper is None or e["paper"] == paper)]


# ------------------------------------------------------------------ the file's schema


def validate(data: Mapping) -> None:
    """Raise ValueError naming the entry and field for anything malformed in a paper-values document."""
    papers, seen = data.get("papers", {}), set()
    for i, e in enumerate(data.get("values", [])):
        where = f"values[{i}] ({e.get('id', '?')})"
        for field in ("id", "paper", "quantity", "value", "printed", "unit", "source", "record", "key",
                      "tolerance"):
            if field not in e:
                raise ValueError(f"{where}: missing field {field!r}")
        if e["id"] in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(e["id"])
        if e["paper"] not in papers:
            raise ValueError(f"{where}: unknown paper {e['paper']!r} (known: {', '.join(papers)})")
        if (e["value"] is None) != (e["printed"] is None):
            raise ValueError(f"{where}: value and printed must both be set or both be null")
        if e["value"] is not None and not math.isclose(_parse_printed(e["printed"]), e["value"]):
            raise ValueError(f"{where}: printed {e['printed']!r} does not read as value {e['value']!r}")
        if (e["record"] is None) != (e["key"] is None):
            raise ValueError(f"{where}: record and key must both be set or both be null")
        if e["key"] is not None:
            _parse_key(e["key"])  # raises on bad syntax
        if e.get("context") is not None:
            if e["record"] is None:
                raise ValueError(f"{where}: context {e['context']!r} needs a record")
            _parse_key(e["context"])
        if e.get("n") is not None and (not isinstance(e["n"], int) or isinstance(e["n"], bool) or e["n"] < 1):
            raise ValueError(f"{where}: n must be a positive whole number of runs, got {e['n']!r}")
        tol = e["tolerance"]
        if not isinstance(tol, Mapping) or set(tol) - set(SCALE_KEYS):
            raise ValueError(f"{where}: tolerance must map scales ({', '.join(SCALE_KEYS)}) to rules")
        for scale, rule in tol.items():
            if isinstance(rule, Mapping):
                if not rule or set(rule) - RULE_KEYS:
                    raise ValueError(f"{where}: tolerance at {scale}: use the keys {sorted(RULE_KEYS)}")
                if ("sd" in rule or "se" in rule) and e.get("sd") is None:
                    raise ValueError(f"{where}: tolerance at {scale} uses sd, but the entry has no sd")
                if "se" in rule and e.get("n") is None:
                    raise ValueError(f"{where}: tolerance at {scale} uses se, but the entry has no n "
                                     "(the paper's runs)")
            elif rule is not None and not isinstance(rule, str):
                raise ValueError(f"{where}: tolerance at {scale} must be a rule, a reason (string) or null")


def _parse_printed(printed: str) -> float:
    return float(printed.replace(",", "").replace("%", "").strip())


def printed_decimals(printed: str) -> int:
    """Digits after the decimal point in a number as printed (``"97.4"`` -> 1, ``"2,586,400"`` -> 0)."""
    number = printed.replace(",", "").replace("%", "").strip()
    return len(number.split(".")[1]) if "." in number else 0


_TOKEN = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)|(\.)")


def _parse_key(key: str) -> list[tuple[str, Any]]:
    """``a.b[2][x=1,y=z].c`` -> [("key", "a"), ("key", "b"), ("index", 2), ("select", {...}), ...]."""
    steps: list[tuple[str, Any]] = []
    pos, expect_name = 0, True
    while pos < len(key):
        m = _TOKEN.match(key, pos)
        if not m:
            raise ValueError(f"bad key path {key!r} at {pos}")
        bracket, name, dot = m.groups()
        if dot:
            if expect_name:
                raise ValueError(f"bad key path {key!r}: empty name at {pos}")
            expect_name = True
        elif name is not None:
            if not expect_name:
                raise ValueError(f"bad key path {key!r}: missing '.' before {name!r}")
            steps.append(("key", name))
            expect_name = False
        else:
            if bracket.strip().lstrip("-").isdigit():
                steps.append(("index", int(bracket)))
            else:
                pairs = [p.split("=", 1) for p in bracket.split(",")]
                if not bracket or any(len(p) != 2 or not p[0].strip() for p in pairs):
                    raise ValueError(f"bad selector [{bracket}] in key path {key!r}")
                steps.append(("select", {k.strip(): v.strip() for k, v in pairs}))
            expect_name = False
        pos = m.end()
    if not steps or expect_name and key.endswith("."):
        raise ValueError(f"bad key path {key!r}")
    return steps
