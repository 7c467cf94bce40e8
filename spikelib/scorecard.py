"""The reproduction scorecard: every number the four papers report beside this build's value.

The papers' numbers are typed once, in ``spikelib/paper_values.json``; nothing else on the scorecard is
typed by hand. Each entry of its ``values`` list has:

- ``id``: a unique name; ``paper``: a key of ``papers`` (citation, short name, text file in
  ``shared/papers/``); ``quantity``: what the number is; ``source``: table, figure or section.
- ``value``: the paper's number (``null`` where the paper only plots it and nobody has read it off the
  figure yet, or where the row shows a number of ours the paper has no counterpart for, said in its
  note); ``printed``: the number exactly as the paper prints it (its last digit sets the ``printed``
  tolerance); ``scraped_as``: the text in ``shared/papers/`` where the scrape garbled it;
  ``sd``: the paper's standard deviation where it reports mean ± SD; ``unit``.
- ``record`` and ``key``: the results record (:mod:`spikelib.results`) and the path inside its
  ``results`` that hold this build's value; ``null`` while no notebook computes the quantity.
  A key is dotted, with ``[i]`` for a list index and ``[field=value,...]`` for the one list item whose
  fields have those values, compared as text (``str(item[field])``):
  ``table2[network=slow,split=test].accuracy_percent``, ``grid[eta=0.2,h=32].mse``.
- ``n``: the number of runs behind the paper's mean ± SD, where the paper says (or the note says why it
  is assumed).
- ``tolerance``: per scale (``smoke``, ``quick``, ``paper``), either a rule or a string saying why the
  values are not comparable at that scale (``null``: no rule, so not comparable either). A rule is a
  dict; the deviation it allows is the largest of its terms: ``abs`` (absolute), ``rel`` (relative to
  the paper's value), ``sd`` (that many of the paper's SDs), ``se`` (that many standard errors of the
  difference between the paper's mean and ours, :func:`standard_error`: ``√(sd²/n + sd_ours²/n_ours)``,
  our SD and runs read beside our value in the record, :func:`spread`; a value of ours that is one run
  takes the paper's SD as its own) and ``printed: true`` (half a unit of the paper's last printed digit,
  i.e. the same number after rounding). ``{"abs": 0}`` is exact.
- ``note``: anything a reader needs to judge the comparison.
- ``context`` (optional): a key path like ``key`` to a text (or number) in the record that the row shows
  beside its result, e.g. how many seeds a protocol with restarts needed (:attr:`Row.context`).

A row's status is one of :data:`STATUSES`. Only ``met`` claims agreement, and only where the record's
scale has a rule and the value is within it.

A row is *flagged* (:attr:`Row.stale`, a reason; see :func:`staleness`) where its record may not be this
build's: computed at another commit than the build's, from uncommitted code, or left by a notebook that
did not finish in this build. A flag does not change the status; it says the value may be out of date.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from spikelib.papers import (PAPER_VALUES, RULE_KEYS, SCALE_KEYS, _parse_key, _parse_printed,  # noqa: F401
                             load_paper_values, printed_decimals, validate)

MET, NOT_MET, NOT_RUN, NOT_COMPARABLE, NO_PAPER_VALUE, MISSING = (
    "met", "not met", "not run yet", "not comparable", "no paper value", "missing from record")
#: Every status a row can have, in the order the summary lists them.
STATUSES: tuple[str, ...] = (MET, NOT_MET, NOT_COMPARABLE, NOT_RUN, NO_PAPER_VALUE, MISSING)
#: The mark of a flagged row (:attr:`Row.stale`) on the page and in the terminal.
FLAG = "⚠"
# ---------------------------------------------------------------- paper values


def standard_error(entry: Mapping, ours_sd: float | None = None, ours_n: int | None = None) -> float:
    """The standard error of the difference between the paper's mean and ours,
    ``√(sd_paper² / n_paper + sd_ours² / n_ours)``: ``sd``, ``n`` of the entry; ``ours_sd``, ``ours_n`` from
    our record (:func:`spread`). A value of ours without an SD (one run, or none recorded) takes the paper's
    SD as its own, over ``ours_n`` runs (1 where unknown)."""
    sd_p, n_p = float(entry["sd"]), int(entry["n"])
    n_o = int(ours_n) if ours_n else 1
    sd_o = float(ours_sd) if ours_sd is not None and math.isfinite(ours_sd) and n_o > 1 else sd_p
    return math.sqrt(sd_p ** 2 / n_p + sd_o ** 2 / n_o)


def allowed_deviation(entry: Mapping, rule: Mapping, ours_sd: float | None = None,
                      ours_n: int | None = None) -> float:
    """The largest deviation from the paper's value that ``rule`` accepts for ``entry``: the largest of its
    terms ``abs``, ``rel`` × ``abs(value)``, ``sd`` × the paper's SD, ``se`` × :func:`standard_error` (with our
    value's ``ours_sd`` over ``ours_n`` runs) and, for ``printed``, half a unit of the last printed digit."""
    terms = [0.0]
    if "abs" in rule:
        terms.append(float(rule["abs"]))
    if "rel" in rule:
        terms.append(float(rule["rel"]) * abs(float(entry["value"])))
    if "sd" in rule:
        terms.append(float(rule["sd"]) * float(entry["sd"]))
    if "se" in rule:
        terms.append(float(rule["se"]) * standard_error(entry, ours_sd, ours_n))
    if rule.get("printed"):
        terms.append(0.5 * 10.0 ** -printed_decimals(entry["printed"]))
    return max(terms)


def describe_rule(entry: Mapping, rule: Mapping, ours_sd: float | None = None,
                  ours_n: int | None = None) -> str:
    """The tolerance as a reader sees it: ``exact``, ``± 0.005``, ``± 0.039 (5 %, 2 SD)``,
    ``± 7.71 (5 %, 2 SE = 2·√(8.98²/5 + 6.1²/3))``..."""
    allowed = allowed_deviation(entry, rule, ours_sd, ours_n)
    if allowed == 0:
        return "exact"
    parts = [f"{100 * float(rule['rel']):g} %"] if "rel" in rule else []
    parts += [f"{float(rule['sd']):g} SD"] if "sd" in rule else []
    if "se" in rule:
        n_o = int(ours_n) if ours_n else 1
        sd_o = ours_sd if ours_sd is not None and math.isfinite(ours_sd) and n_o > 1 else float(entry["sd"])
        k = f"{float(rule['se']):g}"
        parts.append(f"{k} SE = {k}·√({float(entry['sd']):g}²/{int(entry['n'])} + {sd_o:.3g}²/{n_o})")
    parts += ["as printed"] if rule.get("printed") and parts else []
    shown = _fmt(allowed) if float(allowed).is_integer() else f"{allowed:.3g}"  # 3 digits: a bound, not a result
    return f"± {shown}" + (f" ({', '.join(parts)})" if parts else "")


def rule_text(entry: Mapping, rule: Mapping) -> str:
    """A rule in words, before any value is known: ``exact``, ``± 20 %``, ``± the larger of 5 % and
    2 SE of the difference of the means (paper n = 5, ours from the record)``..."""
    terms = [f"{float(rule['abs']):g}"] if rule.get("abs") else []
    terms += [f"{100 * float(rule['rel']):g} %"] if "rel" in rule else []
    terms += [f"{float(rule['sd']):g} SD of the paper"] if "sd" in rule else []
    terms += [f"{float(rule['se']):g} SE of the difference of the means (paper n = {entry['n']}, ours from the "
              "record)"] if "se" in rule else []
    terms += ["half the paper's last printed digit"] if rule.get("printed") else []
    if not terms:
        return "exact"
    if terms == ["half the paper's last printed digit"]:
        return "as printed (± half its last digit)"
    return "± " + (terms[0] if len(terms) == 1 else f"the larger of {', '.join(terms[:-1])} and {terms[-1]}")


def row_rule(entry: Mapping, scale: str | None) -> str:
    """The rule column of a row: the rule at ``scale`` (the record's) in words (:func:`rule_text`); where
    that scale has none, the scales that have one; else that no scale is compared."""
    tol = entry["tolerance"]
    if scale is not None and isinstance(tol.get(scale), Mapping):
        return rule_text(entry, tol[scale])
    scales: dict[str, list[str]] = {}  # rule text -> the scales that have it
    for s in SCALE_KEYS:
        if isinstance(tol.get(s), Mapping):
            scales.setdefault(rule_text(entry, tol[s]), []).append(s)
    if not scales:
        return "none (not compared at any scale)"
    return "; ".join(f"at {', '.join(where)}: {text}" for text, where in scales.items())


# ---------------------------------------------------------------- key paths

def resolve(results: Any, key: str) -> Any:
    """The value at ``key`` (see the module docstring) in a record's ``results``; KeyError if absent. None
    where the record holds null at ``key`` or on the way to it (a part its scale does not compute)."""
    node = results
    for kind, arg in _parse_key(key):
        if node is None:
            return None
        if kind == "key":
            if not isinstance(node, Mapping) or arg not in node:
                raise KeyError(f"{key}: no {arg!r}")
            node = node[arg]
        elif kind == "index":
            if not isinstance(node, list) or not -len(node) <= arg < len(node):
                raise KeyError(f"{key}: no item [{arg}]")
            node = node[arg]
        else:
            if not isinstance(node, list):
                raise KeyError(f"{key}: [{arg}] needs a list")
            hits = [item for item in node if isinstance(item, Mapping)
                    and all(k in item and str(item[k]) == v for k, v in arg.items())]
            if len(hits) != 1:
                raise KeyError(f"{key}: {len(hits)} items match {arg}")
            node = hits[0]
    return node


def spread(results: Any, key: str) -> tuple[float | None, int | None]:
    """(SD, number of runs) of the value at ``key`` where it is a mean over runs: the siblings
    ``<name>_sd`` and ``n_seeds`` (or ``n``) of its last ``<name>``; None for what the record lacks."""
    steps = _parse_key(key)
    if steps[-1][0] != "key":
        return None, None
    parent = results
    if len(steps) > 1:
        try:
            parent = resolve(results, _join_key(steps[:-1]))
        except KeyError:
            return None, None
    if not isinstance(parent, Mapping):
        return None, None
    sd, n = _number(parent.get(f"{steps[-1][1]}_sd")), _number(parent.get("n_seeds", parent.get("n")))
    return (None if sd is None or math.isnan(sd) else sd), (None if n is None else int(n))


def _join_key(steps: list[tuple[str, Any]]) -> str:
    """The inverse of ``_parse_key``."""
    out = ""
    for kind, arg in steps:
        if kind == "key":
            out += ("." if out else "") + arg
        elif kind == "index":
            out += f"[{arg}]"
        else:
            out += "[" + ",".join(f"{k}={v}" for k, v in arg.items()) + "]"
    return out


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One line of the scorecard."""

    id: str
    paper: str  # key into the papers table
    quantity: str
    source: str
    unit: str
    paper_value: float | None
    printed: str | None
    paper_sd: float | None
    build_value: float | None
    scale: str | None  # the scale of the record the build value comes from
    tolerance: str  # as a reader sees it, or why there is none
    status: str  # one of STATUSES
    record: str | None
    notebook: str | None  # the notebook that wrote the record
    note: str = ""
    detail: str = ""  # why a value is missing, or which scale is not comparable
    commit: str | None = None  # the commit that computed the build value (the record's provenance)
    stale: str | None = None  # why the record may not be this build's (:func:`staleness`); None if it is
    context: str = ""  # the record's text at the entry's ``context`` key, shown beside the result
    rule: str = ""  # the tolerance in words (:func:`row_rule`)
    paper_n: int | None = None  # the runs behind the paper's mean ± SD, where it says
    build_sd: float | None = None  # our value's SD over build_n runs, where it is a mean (:func:`spread`)
    build_n: int | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def staleness(record: Mapping, *, build_commit: str | None = None, manifest: Mapping | None = None,
              kept: bool = False) -> str | None:
    """Why ``record``'s values may not be this build's, or None.

    Reasons, joined with "; ": the record was written from uncommitted code (``git_dirty``); at another
    commit than ``build_commit`` (the manifest's ``git_commit`` if not given; no check without either);
    by a notebook whose status in ``manifest`` (``book/executed/_build_info.json``) is not ``ok`` (failed,
    timeout, not executed: the record may be left over from an earlier run). A ``kept`` paper-scale record
    (``book/paper_runs/``) stands on its own provenance: uncommitted code flags it, and so do runs whose
    settings the code's paper protocol no longer has (:func:`spikelib.reference.outdated`).
    """
    prov = record.get("provenance", {})
    commit = prov.get("git_commit")
    reasons = ["computed from uncommitted code"] if prov.get("git_dirty") else []
    if kept:
        if prov.get("settings_keys"):
            from spikelib.reference import outdated

            name = record.get("name", "")
            old = outdated(name, prov["settings_keys"])
            if old:
                reasons.append(f"the code's paper protocol changed since {', '.join(old)} ran (rerun `python -m "
                               f"spikelib reference {name}`)")
        return "; ".join(reasons) or None
    manifest = manifest or {}
    build_commit = build_commit or manifest.get("git_commit")
    if build_commit and commit != build_commit:
        reasons.append(f"computed at commit {commit[:8]}, not this build's {build_commit[:8]}" if commit
                       else "no commit recorded")
    notebook = prov.get("notebook") or record.get("name")
    status = manifest.get("notebooks", {}).get(notebook, {}).get("status")
    if status not in (None, "ok"):
        reasons.append(f"{notebook} {status} in this build, so the record may be left over from an earlier run")
    return "; ".join(reasons) or None


def evaluate(entry: Mapping, records: Mapping[str, Mapping], *,
             stale: Mapping[str, str | None] | None = None) -> Row:
    """The scorecard row of one paper value, given all records (name -> record) of the build and, per
    record name, the reason it is flagged (:func:`staleness`)."""
    base = dict(id=entry["id"], paper=entry["paper"], quantity=entry["quantity"], source=entry["source"],
                unit=entry["unit"], paper_value=entry["value"], printed=entry["printed"],
                paper_sd=entry.get("sd"), record=entry["record"], note=entry.get("note") or "",
                paper_n=entry.get("n"))
    record = records.get(entry["record"]) if entry["record"] else None
    if record is None:
        status = NO_PAPER_VALUE if entry["value"] is None else NOT_RUN
        detail = "" if entry["record"] is None else f"no record {entry['record']!r} in this build"
        return Row(**base, build_value=None, scale=None, tolerance="", status=status, notebook=None,
                   detail=detail, rule=row_rule(entry, None) if entry["value"] is not None else "")
    scale = record.get("scale")
    base["rule"] = row_rule(entry, scale) if entry["value"] is not None else ""
    notebook = record.get("provenance", {}).get("notebook") or entry["record"]
    base.update(scale=scale, notebook=notebook, commit=record.get("provenance", {}).get("git_commit"),
                stale=(stale or {}).get(entry["record"]))
    if entry.get("context"):
        try:
            base["context"] = str(resolve(record.get("results", {}), entry["context"]))
        except KeyError:
            base["context"] = f"(no {entry['context']} in the record)"
    try:
        raw = resolve(record.get("results", {}), entry["key"])
    except KeyError as err:
        return Row(**base, build_value=None, tolerance="", status=MISSING, detail=str(err).strip("'\""))
    if raw is None:  # the record holds the quantity but this scale computes nothing for it (e.g. too few runs)
        return Row(**base, build_value=None, tolerance="", status=NOT_RUN,
                   detail=f"{entry['key']} is null in the record (or a part on its way): not computed at scale "
                          f"{scale}")
    value = _number(raw)
    if value is None or math.isnan(value):
        return Row(**base, build_value=None, tolerance="", status=MISSING,
                   detail=f"{entry['key']} is {raw!r}, not a number")
    base["build_value"] = value
    base["build_sd"], base["build_n"] = spread(record.get("results", {}), entry["key"])
    if entry["value"] is None:
        return Row(**base, tolerance="", status=NO_PAPER_VALUE)
    rule = entry["tolerance"].get(scale)
    if not isinstance(rule, Mapping):
        reason = rule if isinstance(rule, str) else f"no tolerance at scale {scale}"
        return Row(**base, tolerance=reason, status=NOT_COMPARABLE, detail=reason)
    ours = base["build_sd"], base["build_n"]
    allowed = allowed_deviation(entry, rule, *ours)
    met = math.isfinite(value) and abs(value - float(entry["value"])) <= allowed * (1 + 1e-9) + 1e-12
    return Row(**base, tolerance=describe_rule(entry, rule, *ours), status=MET if met else NOT_MET)


def scorecard_rows(paper_values: Mapping, records: Mapping[str, Mapping], *, build_commit: str | None = None,
                   manifest: Mapping | None = None, kept: bool = False) -> list[Row]:
    """One row per paper value, in the order of ``paper_values.json``; each record checked once with
    :func:`staleness` (``build_commit``, ``manifest``, ``kept`` as there)."""
    stale = {name: staleness(rec, build_commit=build_commit, manifest=manifest, kept=kept)
             for name, rec in records.items()}
    return [evaluate(entry, records, stale=stale) for entry in paper_values["values"]]


def rows_json(rows: Iterable[Row], kept: Iterable[Row] = ()) -> list[dict[str, Any]]:
    """The scorecard as plain data (``python -m spikelib scorecard --json``): one dict per row of this
    build, then one per paper value that a kept paper-scale record computes, marked ``"kept": true``.
    ``"stale"``: why the row is flagged (:func:`staleness`), or null."""
    def one(row: Row, is_kept: bool) -> dict[str, Any]:
        return {"id": row.id, "paper": row.paper, "quantity": row.quantity, "source": row.source,
                "unit": row.unit, "paper_value": row.paper_value, "paper_sd": row.paper_sd,
                "paper_n": row.paper_n,
                "value": row.build_value, "value_sd": row.build_sd, "n": row.build_n, "scale": row.scale,
                "result": row.status, "rule": row.rule, "tolerance": row.tolerance,
                "kept": is_kept, "commit": row.commit, "stale": row.stale, "record": row.record,
                "detail": row.detail, "context": row.context or None}

    return [one(r, False) for r in rows] + [one(r, True) for r in kept if r.build_value is not None]


def rows_text(rows: Iterable[Row]) -> str:
    """The scorecard as a plain-text table for a terminal (id, paper, ours, scale, result, flag)."""
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.6g}"

    table = [("id", "paper", "ours", "scale", "result", "flag")]
    table += [(r.id, num(r.paper_value), num(r.build_value), r.scale or "-", r.status,
               f"{FLAG} {r.stale}" if r.stale else "") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)


def summary(rows: Iterable[Row]) -> dict[str, int]:
    """Number of rows per status (every status present, zeros included)."""
    counts = Counter(r.status for r in rows)
    return {s: counts.get(s, 0) for s in STATUSES}


# ---------------------------------------------------------------- markdown


def _fmt(x: float | None, decimals: int | None = None) -> str:
    """``decimals`` fixed digits, else integers with thousands separators and 6 significant digits."""
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    if decimals is not None:
        return f"{x:.{decimals}f}"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.6g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _build_cell(row: Row) -> str:
    """This build's value, with two digits more than the paper prints (integers as integers), ± its SD
    over n runs where it is a mean; flagged values carry :data:`FLAG`."""
    if row.build_value is None:
        return "—"
    decimals = printed_decimals(row.printed) if row.printed else None
    flag = f" {FLAG}" if row.stale else ""
    if decimals == 0 and row.build_value.is_integer():
        return _fmt(row.build_value) + flag
    digits = None if decimals is None else decimals + 2
    spread_ = f" ± {_fmt(row.build_sd, digits)}" if row.build_sd is not None else ""
    runs = f" (n = {row.build_n})" if row.build_n is not None and row.paper_n is not None else ""
    return _fmt(row.build_value, digits) + spread_ + runs + flag


def _paper_cell(row: Row) -> str:
    if row.printed is None:
        return "—"
    sd = f" ± {row.paper_sd:g}" if row.paper_sd is not None else ""
    runs = f" (n = {row.paper_n})" if row.paper_n is not None else ""
    return f"{row.printed.rstrip('%')}{sd}{runs}"


def _result_cell(row: Row) -> str:
    flag = (f" — {row.context}" if row.context else "") + (f"; {FLAG} *{row.stale}*" if row.stale else "")
    if row.status == MET:
        return f"met ({row.tolerance})" + flag
    if row.status == NOT_MET:
        return f"**not met** ({row.tolerance})" + flag
    if row.status == MISSING:
        return f"**missing from record**: {row.detail}" + flag
    return row.status + (f": {row.detail}" if row.detail else "") + flag


def _kept_cell(row: Row | None) -> str:
    """A kept paper-scale run's value and verdict, or a dash."""
    if row is None or row.build_value is None:
        return "—"
    verdict = {MET: "met", NOT_MET: "**not met**"}.get(row.status, row.status)
    return f"{_build_cell(row)} ({verdict}" + (f"; {row.stale}" if row.stale else "") + ")"


def flagged_text(rows: Iterable[Row], build_commit: str | None = None) -> str:
    """The sentence above the scorecard's tables: how many rows are flagged (:func:`staleness`), and why."""
    rows = list(rows)
    flagged = [r for r in rows if r.stale]
    with_record = sum(r.scale is not None for r in rows)
    build = f" (`{build_commit[:8]}`)" if build_commit else ""
    if not flagged:
        return (f"No row is flagged: every one of the {with_record} rows with a record comes from this build's "
                f"commit{build}, from committed code, written by a notebook that ran without error in this build.\n")
    return (f"**{FLAG} {len(flagged)} of the {with_record} rows with a record are flagged**: their record comes "
            f"from another commit than this build's{build}, from uncommitted code, or from a notebook that did "
            "not finish in this build (so it may be left over from an earlier run). Each flagged row says why; "
            "rebuild its page to refresh it.\n")


def render_markdown(rows: list[Row], papers: Mapping[str, Mapping], *, pages: Iterable[str] = (),
                    heading_level: int = 2, kept: list[Row] | None = None) -> str:
    """The scorecard as MyST markdown: a summary table, then one table per paper with its notes.

    ``pages``: the names of the executed notebooks in the book; a row whose record was written by one of
    them links to its page (``{doc}`` relative to ``executed/``, where the scorecard page lives).
    ``kept``: the rows evaluated on the paper-scale records kept in the repository
    (:func:`spikelib.results.load_paper_runs`), shown in a column of their own where any has a value.
    """
    pages = set(pages)
    kept_by_id = {r.id: r for r in kept or [] if r.build_value is not None}
    h = "#" * heading_level
    out = ["| paper | " + " | ".join(STATUSES) + " |", "|---|" + "---:|" * len(STATUSES)]
    for key, paper in papers.items():
        counts = summary(r for r in rows if r.paper == key)
        out.append(f"| {_cell(paper.get('short', key))} | " + " | ".join(str(counts[s]) for s in STATUSES)
                   + " |")
    totals = summary(rows)
    out += ["| **all** | " + " | ".join(f"**{totals[s]}**" for s in STATUSES) + " |", ""]
    for key, paper in papers.items():
        mine = [r for r in rows if r.paper == key]
        if not mine:
            continue
        notes = list(dict.fromkeys(r.note for r in mine if r.note))  # numbered once per paper
        show_kept = any(r.id in kept_by_id for r in mine)
        out += [f"{h} {paper.get('short', key)}", "", f"*{_cell(paper.get('citation', key))}*", "",
                "| quantity | source | paper | this build | scale | rule | result |"
                + (" kept paper-scale run |" if show_kept else "") + " page |",
                "|---|---|---:|---:|---|---|---|" + ("---:|" if show_kept else "") + "---|"]
        for r in mine:
            page = f"{{doc}}`{r.notebook}`" if r.notebook in pages else (r.record or "—")
            quantity = r.quantity + (f" ({r.unit})" if r.unit else "")
            quantity += f" [{notes.index(r.note) + 1}]" if r.note else ""
            cells = [quantity, r.source, _paper_cell(r), _build_cell(r), r.scale or "—", r.rule or "—",
                     _result_cell(r)]
            cells += [_kept_cell(kept_by_id.get(r.id))] if show_kept else []
            out.append("| " + " | ".join(_cell(c) for c in cells + [page]) + " |")
        out.append("")
        if notes:
            out += ["Notes:", ""] + [f"{i}. {_cell(n)}" for i, n in enumerate(notes, 1)] + [""]
    return "\n".join(out).rstrip() + "\n"


def kept_runs_markdown(kept_records: Mapping[str, Mapping]) -> str:
    """A list of the kept paper-scale records with their provenance (commit, date, device)."""
    if not kept_records:
        return ("No paper-scale runs are kept in the repository yet (`book/paper_runs/`; see the README "
                "for how to add one), so no column shows them.\n")
    lines = ["Paper-scale runs kept in the repository (`book/paper_runs/`), shown in the column *kept "
             "paper-scale run*; they were computed once, never by this build:", ""]
    for name, rec in sorted(kept_records.items()):
        prov = rec.get("provenance", {})
        commit = (prov.get("git_commit") or "unknown commit")[:10]
        flag = staleness(rec, kept=True)
        lines.append(f"- `{name}`: notebook `{prov.get('notebook', name)}`, commit `{commit}`, "
                     f"{prov.get('date', 'no date')}, device `{prov.get('device', '?')}`, seed {prov.get('seed')}"
                     + (f" {FLAG} *{flag}*" if flag else ""))
    return "\n".join(lines) + "\n"


def page_markdown(rows: list[Row], papers: Mapping[str, Mapping], *, pages: Iterable[str] = (),
                  kept_records: Mapping[str, Mapping] | None = None, kept: list[Row] | None = None,
                  build_commit: str | None = None) -> str:
    """The whole scorecard page (``book/executed/scorecard.md``), with its explanation. ``kept_records``:
    the paper-scale records kept in the repository (:func:`spikelib.results.load_paper_runs`); ``kept``:
    :func:`scorecard_rows` evaluated on them (``kept=True``); ``build_commit``: the build's commit, named in
    the sentence on flagged rows (:func:`flagged_text`)."""
    scales = Counter(r.scale for r in rows if r.scale)
    scale_text = ", ".join(f"{n} at `{s}`" for s, n in sorted(scales.items())) or "none"
    intro = f"""# Reproduction scorecard

Every number the four papers report, beside the value this build computed. The papers' values and
their sources are typed once, in `spikelib/paper_values.json`; everything else on this page is generated
by `python -m spikelib book` (`make book`) from the results records the notebooks wrote
(`spikelib.scorecard`). Values this build computed: {scale_text}.

How to read a row:

- **scale** is the scale of the run that produced the value. A value is compared with the paper only
  where a tolerance is set for that scale: exact for counts and for deterministic computations (the
  authors' published networks, the Fig. 1 examples, parameter counts) at every scale; for trained
  results only at `paper` scale, because `quick` and `smoke` train on less data for fewer epochs.
- **result**: *met* means within the tolerance in brackets, *not met* outside it; *not comparable*:
  the value exists, but no tolerance applies at its scale (the reason follows); *not run yet*: no
  notebook in this build computes it; *no paper value*: the paper only plots it; *missing from
  record*: a notebook's record lacks the value it should carry (a bug).
- **rule** states each row's tolerance in words: the rule at the row's scale, or, where that scale has
  none, the scales that have one. Rules other than *exact* and the paper's rounding are this book's
  choice, explained in the row's note (the number in square brackets). Where the paper reports a mean
  ± SD over n runs (Hübotter et al.: n = 5) and ours is a mean too, the two means are compared with the
  standard error of their difference, SE = √(SD_paper²/n_paper + SD_ours²/n_ours), not with the SD of a
  single run: *the larger of 5 % and 2 SE* accepts our mean within max(5 % of the paper's value, 2 SE) of the
  paper's. Our SD and n are the record's (shown as "± SD (n = …)"); a value of ours from a single run
  takes the paper's SD as its own (n_ours = 1). The result cell gives the number the rule allows.
- {FLAG} marks a value whose record may not be this build's: computed at another commit than the
  build's, from uncommitted code, or left by a notebook that failed or timed out in this build; the
  result cell says which. A kept paper-scale run is judged by its own provenance (its commit is older by
  design); only uncommitted code flags it.

"""
    return (intro + kept_runs_markdown(kept_records or {}) + "\n" + flagged_text(rows, build_commit) + "\n"
            + render_markdown(rows, papers, pages=pages, kept=kept))
