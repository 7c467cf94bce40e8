"""Sweep configurations: grids of configs, their keys and seeds, and where a sweep keeps its records.

Part of :mod:`spikelib.sweep`, which re-exports every public name here. A config's key
(:func:`config_key`) names its record ``<directory>/<key>.json`` (:data:`RECORD_SUFFIX`), its error record
``<key>.error.json`` and its checkpoint ``<key>.ckpt``; :func:`config_seed` is the seed it runs with.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from spikelib.results import _jsonable, results_dir
from spikelib.scales import settings

RECORD_SUFFIX = ".json"
ERROR_SUFFIX = ".error.json"
CHECKPOINT_SUFFIX = ".ckpt"
LOCK_NAME = ".sweep.lock"
MAX_READABLE = 100  # characters of a key before it is cut and hashed: <key>.error.json and temp names fit 255

# A key shows a value literally only if no other value could show the same: names are identifiers,
# strings start with a letter, carry no "_" (the separator) or "." and are not numbers or keywords.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN_STR = re.compile(r"[A-Za-z][A-Za-z0-9+-]*\Z")
_KEYWORDS = {"true", "false", "none", "null", "nan", "inf", "infinity"}


# ---------------------------------------------------------------- configurations and keys


def grid(**axes: Sequence) -> list[dict]:
    """The cartesian product of ``axes`` as a list of configs, the last axis varying fastest.

    ``grid(eta=[0.1, 0.2], hidden=[16, 32])`` gives ``[{"eta": 0.1, "hidden": 16}, {"eta": 0.1,
    "hidden": 32}, ...]``. Every axis is a list, tuple or range (a fixed value is a one-element list);
    grids can be concatenated for designs that are not a full product.
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(
                f"grid axis {name!r} must be a list of values, got {values!r}; "
                f"write {name}=[{values!r}] for a fixed value"
            )
    columns = {name: list(values) for name, values in axes.items()}
    empty = [name for name, values in columns.items() if not values]
    if empty:
        raise ValueError(f"grid axis {', '.join(map(repr, empty))} has no values: the grid would be empty")
    return [dict(zip(columns, combo)) for combo in itertools.product(*columns.values())]


def _normalize(config: Mapping) -> dict:
    """``config`` as plain JSON values (numpy scalars -> numbers, tuples -> lists): what is stored."""
    if not isinstance(config, Mapping):
        raise TypeError(f"a config must be a mapping of parameter names to values, got {config!r}")
    try:
        return json.loads(json.dumps(dict(config), default=_jsonable, allow_nan=True))
    except TypeError as exc:
        raise TypeError(f"config {config!r} must hold JSON values (numbers, strings, lists, dicts): {exc}") from None


def _canonical(config: Mapping) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _render(value: Any) -> tuple[str, bool]:
    """(how ``value`` shows in a key, whether it shows literally: no other value shows the same)."""
    if value is None or isinstance(value, bool):
        return str(value), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return repr(value), True  # 1.0 stays distinct from 1
    if isinstance(value, str) and _PLAIN_STR.match(value) and value.lower() not in _KEYWORDS:
        return value, True
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return (re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-.")[:24] or "x"), False


def config_key(config: Mapping) -> str:
    """A stable, readable, filesystem-safe key for ``config``, independent of the order of its items.

    Items are sorted by name: ``{"latency": 4, "eta": 0.2}`` -> ``eta=0.2_latency=4``. Where a value
    cannot show literally (strings with ``_`` or ``.``, lists, ...) or the key would exceed
    :data:`MAX_READABLE` characters, a hash of the whole config is appended (``..._h1a2b3c4d``), so
    different configs never share a key. Keys name the records: changing this function orphans them.
    """
    config = _normalize(config)
    if not config:
        return "empty"
    parts, literal = [], True
    for name in sorted(config):
        value, exact = _render(config[name])
        if not _NAME.match(name):
            name, exact = re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-") or "x", False
        parts.append(f"{name}={value}")
        literal = literal and exact
    key = "_".join(parts)
    if literal and len(key) <= MAX_READABLE:
        return key
    digest = hashlib.sha256(_canonical(config).encode()).hexdigest()[:8]
    return f"{key[:MAX_READABLE].rstrip('_=-')}_h{digest}"


def config_seed(config: Mapping) -> int:
    """``config["seed"]`` if it has one, else a seed in [0, 2**31) derived from the config's content.

    Derived from the canonical JSON of the config rather than from its key, so that the seed (and the
    results) do not change if the key format ever does.
    """
    config = _normalize(config)
    if "seed" in config:
        return config["seed"]
    return int(hashlib.sha256(_canonical(config).encode()).hexdigest()[:8], 16) % 2**31


def sweep_directory(experiment: str, scale: str, *, ignore: Sequence[str] = (),
                    root: str | os.PathLike | None = None) -> Path:
    """``<results>/<experiment>_<scale>_<fingerprint>``: where a notebook's sweep keeps its records.

    The fingerprint hashes the experiment's settings at ``scale`` (:func:`spikelib.scales.settings`)
    except the keys in ``ignore`` (e.g. the grids themselves: adding a configuration to a grid must not
    invalidate the finished ones). Settings that every configuration shares (image counts, epochs) are
    not part of a config's key, so without this a record computed before someone edited the scale's
    settings would be reused as if it were current. ``root`` defaults to :func:`spikelib.results.results_dir`.
    """
    shared = {k: v for k, v in settings(experiment, scale).items() if k not in set(ignore)}
    digest = hashlib.sha256(json.dumps(shared, sort_keys=True, default=_jsonable).encode()).hexdigest()[:8]
    return results_dir(root) / f"{experiment}_{scale}_{digest}"
