"""The reproduction scorecard (spikelib.scorecard) and the paper values it reads."""

import copy
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spikelib import scorecard as sc
from spikelib.scorecard import MET, MISSING, NO_PAPER_VALUE, NOT_COMPARABLE, NOT_MET, NOT_RUN

VALUES = sc.load_paper_values()
BY_ID = {e["id"]: e for e in VALUES["values"]}


def entry(**kw):
    e = {"id": "x", "paper": "p", "quantity": "q", "value": 97.4, "printed": "97.4", "unit": "%",
         "source": "Table 2", "record": "rec", "key": "acc", "tolerance": {"quick": {"abs": 0.05}}}
    e.update(kw)
    return e


def record(results, scale="quick", notebook="rec"):
    return {"name": "rec", "scale": scale, "results": results, "provenance": {"notebook": notebook}}


# ---------------------------------------------------------------- the paper values


def test_paper_values_cover_the_four_papers_and_the_issue_list():
    assert set(VALUES["papers"]) == {"comsa2021-alpha", "comsa2021-autoencoders", "roy2019", "huebotter2021"}
    counts = {p: sum(e["paper"] == p for e in VALUES["values"]) for p in VALUES["papers"]}
    assert all(counts.values()), counts
    by_source = lambda paper, source: [e for e in VALUES["values"] if e["paper"] == paper and e["source"] == source]
    assert len(by_source("comsa2021-alpha", "Table 2")) == 8  # accuracy and loss, slow and fast, train and test
    assert len(by_source("roy2019", "Table 1")) == 25  # 15 MSEs, the Epochs and T columns (settings; 3 T cells unread)
    assert [e["printed"] for e in by_source("roy2019", "§3.2.3")] == ["2.1", "3.2", "6.4", "16", "32"]  # compression
    assert len(by_source("huebotter2021", "Table 1")) == 14
    assert len(by_source("huebotter2021", "Table 2")) == 12
    assert len(by_source("huebotter2021", "Table 8")) == 35
    # Table 4: Lrec and INP of 14 rows; Table 6: Lrec, AFR and INP of 21 rows and the row "None"
    assert [len(by_source("huebotter2021", f"Table {t}")) for t in (4, 5, 6, 7)] == [28, 13, 66, 45]
    assert len(by_source("huebotter2021", "§3.2")) == 11  # ANR, AFR, RAE of the SAEs; ANR of the AEs
    assert BY_ID["huebotter.table2.sae.nz100"]["value"] == 2_586_400
    assert BY_ID["huebotter.table2.ae.nz100"]["value"] == 2_599_300
    assert BY_ID["huebotter.table2.vae.nz100"]["value"] == 3_879_400
    booleans = [e for e in VALUES["values"] if e["id"].startswith("alpha.boolean.")]
    paper = [e for e in booleans if e["id"].endswith(".test_accuracy")]
    assert len(paper) == 4 and all(e["value"] == 100 and e["context"].endswith(".seeds_text") for e in paper)
    # the first seed's accuracy (no restarts, the paper's protocol): ours only, the paper prints none
    first = [e for e in booleans if e["id"].endswith(".first_seed_test_accuracy")]
    assert len(first) == 4 and all(e["value"] is None and "no restarts" in e["quantity"] for e in first)


# Where each printed number must be found in the paper's text (shared/papers/). A "Table N" or "Fig. N"
# source is the caption and what follows it up to the next caption (a figure's panel captions come just
# before it: the 2,000 characters before its caption count too); a "§N" or "App. N" source is that section
# up to the next heading; "A and B" accepts either.
_CAPTION = r"(?m)^[ \t]*\d?{kind} {num}[:.]"
_HEADING = r"(?m)^(?:#+ )?[A-Z]?\d+(?:\.\d+)*\.?[ \t]+[A-Z][a-z]+"  # "3.2 Quantitative", "#### 3.1 Boolean"


def _regions(text, source):
    out = []
    for part in source.split(" and "):
        m = re.match(r"(Table|Fig\.) (\d+)", part)
        if m:
            kind, num = ("Table" if m.group(1) == "Table" else "Figure"), m.group(2)
            cap = re.search(_CAPTION.format(kind=kind, num=num), text)
            assert cap, f"no caption {kind} {num}"
            end = re.compile(rf"(?m)^[ \t]*\d?(Table|Figure) (?!{num}\b)\d+[:.]").search(text, cap.end())
            out.append((max(0, cap.start() - (2000 if kind == "Figure" else 0)), end.start() if end else len(text)))
            continue
        num = re.search(r"(?:§|App\. )([A-Z]?[\d.]*\d)", part).group(1)
        head = re.search(rf"(?m)^(?:#+ )?{re.escape(num)}\.?[ \t]+[A-Z]", text)
        assert head, f"no section {num}"
        end = re.compile(_HEADING).search(text, head.end())
        out.append((head.start(), end.start() if end else len(text)))
    return out


def _cell(e):
    """The printed number (as scraped), followed by "± SD" in the paper's digits where it reports one."""
    p = re.escape(e.get("scraped_as") or e["printed"])
    if e.get("sd") is not None:
        p += r"\s*±\s*" + re.escape(f"{e['sd']:.{sc.printed_decimals(e['printed'])}f}")
    return re.compile(r"(?<![\d.])" + p + r"(?!\d)")


def _plain(number):
    """A number as the papers print their settings: 1e-05 -> "0.00001", 0.0 -> "0"."""
    return f"{float(number):f}".rstrip("0").rstrip(".") or "0"


_MODELS = {"sae": r"SAE(?![ -](?:sparse|dense))", "sae_sparse": r"SAE[ -]sparse", "sae_dense": r"SAE[ -]dense",
           "ae": r"AE(?!l2)", "ae_l2": r"AEl2", "vae": r"VAE", "beta_vae": r"βVAE"}
_ROY = {"mnist_196": "784-196-784", "fmnist_512": "784-512-784", "fmnist_1024": "784-1024-784",
        "audio_a": "Audio-to-Image A", "audio_b": "Audio-to-Image B"}
_ALPHA = {"train_accuracy": "Training accuracy", "train_loss": "Training loss", "test_accuracy": "Test accuracy",
          "test_loss": "Test loss"}


def _row(e):
    """(row, label) of a table cell: the cells of one row lie on one line of the scrape, in file order, after
    the row's label (a regular expression the text before the cells must match); None for prose."""
    part = e["id"].split(".")
    table = (e["paper"], e["source"])
    if table == ("huebotter2021", "Table 1") or table == ("huebotter2021", "Table 8"):
        return part[2], rf"\s*{_MODELS[part[2]]}\b"
    if table == ("huebotter2021", "Table 2"):  # models are columns: a row is a latent size
        return part[3], rf"\s*{part[3][2:]}\s"
    if table in {("huebotter2021", f"Table {t}") for t in (4, 5, 6)}:  # huebotter.table4.lr=0.0001.lrec
        setting = e["id"].split(".", 2)[2].rsplit(".", 1)[0]
        if setting == "none":  # Table 6's first row, the SAE without regularisation
            return setting, r"\s*None\s+$"
        return setting, rf".*(?<![\d.]){re.escape(_plain(setting.split('=')[1]))}\s+$"  # the value ends the label
    if table == ("huebotter2021", "Table 7"):  # the row's weights as printed, nothing else, before its cells
        weights = re.search(r"weights printed: ([^)]*)\)", e["quantity"]).group(1)
        tokens = [] if weights == "none" else [_plain(w) for w in weights.split(", ")]
        return part[2], r"\s*" + "".join(re.escape(t) + r"\s+" for t in tokens) + "$"
    if table == ("roy2019", "Table 1"):
        return part[2], rf".*{re.escape(_ROY[part[2]])}"
    if table == ("comsa2021-alpha", "Table 2"):  # networks are columns: a row is a quantity
        return part[4], rf"\s*{_ALPHA[part[4]]}"
    return None


def test_every_printed_number_is_in_its_row_of_the_paper(shared_dir):
    """Each value is typed as the paper prints it, and found where the paper prints it: inside its source
    (table, figure caption or section; :func:`_regions`), with its "± SD" where it has one, and for the
    tables, on its row's line after the row's label, the cells of a row in order (:func:`_row`). Prose
    (§, App., figure captions) has no rows: there the section and the "value ± SD" pair are what tie a
    number to its place. The scrape wraps one row label over two lines (Table 1's SAE-dense: its weights
    run on); a label is also looked for on the line above."""
    texts = {k: (shared_dir / "papers" / p["text"]).read_text(encoding="utf-8") for k, p in VALUES["papers"].items()}
    misplaced, rows = [], {}
    for e in VALUES["values"]:
        if e["printed"] is None:
            continue
        text, cell, row = texts[e["paper"]], _cell(e), _row(e)
        regions = _regions(text, e["source"])
        if row is None:
            if not any(cell.search(text, a, b) for a, b in regions):
                misplaced.append((e["id"], "not in its source"))
            continue
        (a, b), (key, label) = regions[0], row
        at = rows.get((e["paper"], e["source"], key))
        if at is not None:  # a later cell of the row: on the same line, after the previous cell
            line_end = text.find("\n", at)
            m = cell.search(text, at, line_end if line_end >= 0 else len(text))
            if m is None:
                misplaced.append((e["id"], "not on its row's line after the previous cell"))
            else:
                rows[e["paper"], e["source"], key] = m.end()
            continue
        for m in cell.finditer(text, a, b):
            line_start = text.rfind("\n", 0, m.start()) + 1
            above = text[text.rfind("\n", 0, max(line_start - 2, 0)) + 1:line_start].strip()
            prefix = text[line_start:m.start()]
            if re.match(label, prefix) or re.match(label, above + " " + prefix):
                rows[e["paper"], e["source"], key] = m.end()
                break
        else:
            misplaced.append((e["id"], f"no line in {e['source']} with its row label {label!r}"))
    assert misplaced == [], "\n".join(map(str, misplaced))


def test_figure_only_values_are_not_invented():
    """The autoencoder paper gives Figs. 3, 7 and 11 only as plots: no number may stand for them until
    one is read off the figure (and then the entry says so)."""
    for fig in ("3", "7", "11"):
        e = BY_ID[f"ae.fig{fig}"]
        assert e["value"] is None and e["printed"] is None
    for e in VALUES["values"]:
        if e["source"].startswith("Fig.") and e["value"] is not None and "caption" not in e["source"]:
            assert e["id"].endswith("spike_time") or "read off" in (e.get("note") or ""), e["id"]


def test_paper_values_agree_with_the_library_constants():
    """Table 2, the MLP baseline and Fig. 1b reach the alpha pages only through spikelib.experiments.comsa_alpha,
    which reads them from this file (the pages' own checks use them)."""
    from spikelib.experiments import comsa_alpha

    assert len(comsa_alpha.TABLE2_ACCURACY) == len(comsa_alpha.TABLE2_LOSS) == 4
    for (net, split), value in comsa_alpha.TABLE2_ACCURACY.items():
        assert BY_ID[f"alpha.table2.published.{net}.{split}_accuracy"]["value"] == value
        assert BY_ID[f"alpha.table2.published.{net}.{split}_loss"]["value"] == comsa_alpha.TABLE2_LOSS[net, split]
    assert BY_ID["alpha.mlp.best_test_accuracy"]["value"] == comsa_alpha.MLP_BEST_TEST_ACCURACY
    assert BY_ID["alpha.fig1b.spike_time"]["value"] == comsa_alpha.FIG1B["t_out_paper"]


def test_validation_names_the_entry():
    good = {"papers": {"p": {}}, "values": [entry()]}
    sc.validate(good)
    cases = [
        ({"paper": "nope"}, "unknown paper"),
        ({"printed": "97.5"}, "does not read as"),
        ({"record": None}, "record and key"),
        ({"key": "a..b"}, "bad key path"),
        ({"tolerance": {"huge": {"abs": 1}}}, "tolerance must map scales"),
        ({"tolerance": {"quick": {"absolute": 1}}}, "use the keys"),
        ({"tolerance": {"quick": {"sd": 2}}}, "no sd"),
        ({"tolerance": {"quick": 3}}, "must be a rule"),
    ]
    for change, message in cases:
        bad = copy.deepcopy(good)
        bad["values"][0].update(change)
        with pytest.raises(ValueError, match=message):
            sc.validate(bad)
    dup = {"papers": {"p": {}}, "values": [entry(), entry()]}
    with pytest.raises(ValueError, match=r"values\[1\] \(x\): duplicate id"):
        sc.validate(dup)
    missing = {"papers": {"p": {}}, "values": [{k: v for k, v in entry().items() if k != "source"}]}
    with pytest.raises(ValueError, match="missing field 'source'"):
        sc.validate(missing)


# ---------------------------------------------------------------- key paths


def test_resolve_keys_indices_and_selectors():
    results = {"table2": [{"network": "slow", "split": "test", "acc": 97.96},
                          {"network": "fast", "split": "test", "acc": 97.4}],
               "sweep": [{"eta": 0.2, "h": 8, "mse": 0.1}, {"eta": 0.4, "h": 8, "mse": 0.2}],
               "fig1b": {"t_out": 18.6357}, "grid": [[1, 2], [3, 4]]}
    assert sc.resolve(results, "fig1b.t_out") == 18.6357
    assert sc.resolve(results, "table2[network=fast,split=test].acc") == 97.4
    assert sc.resolve(results, "table2[ network = slow ].acc") == 97.96
    assert sc.resolve(results, "sweep[eta=0.4,h=8].mse") == 0.2  # a dot inside a selector is a value
    assert sc.resolve(results, "grid[1][0]") == 3
    assert sc.resolve(results, "table2[-1].network") == "fast"
    for key, why in [("fig1b.nope", "no 'nope'"), ("table2[split=test].acc", "2 items match"),
                     ("table2[network=none].acc", "0 items match"), ("grid[5]", r"no item \[5\]"),
                     ("fig1b[0]", "no item"), ("fig1b.t_out.x", "no 'x'"), ("fig1b[a=1]", "needs a list")]:
        with pytest.raises(KeyError, match=why):
            sc.resolve(results, key)
    for bad in ["", ".a", "a.", "a..b", "a[b", "a[=1]", "a[]", "a]b"]:
        with pytest.raises(ValueError, match="bad"):
            sc.resolve(results, bad)


# ---------------------------------------------------------------- tolerances and statuses


def test_allowed_deviation_is_the_largest_term():
    e = entry(value=0.78, printed="0.78", sd=0.02)
    assert sc.allowed_deviation(e, {"abs": 0}) == 0
    assert sc.allowed_deviation(e, {"printed": True}) == pytest.approx(0.005)
    assert sc.allowed_deviation(e, {"rel": 0.05}) == pytest.approx(0.039)
    assert sc.allowed_deviation(e, {"sd": 2, "rel": 0.05}) == pytest.approx(0.04)
    assert sc.allowed_deviation(entry(value=2586400, printed="2,586,400"), {"printed": True}) == 0.5
    assert sc.printed_decimals("99.9633") == 4 and sc.printed_decimals("100%") == 0
    assert sc.describe_rule(e, {"abs": 0}) == "exact"
    assert sc.describe_rule(e, {"printed": True}) == "± 0.005"
    assert sc.describe_rule(e, {"sd": 2, "rel": 0.05}) == "± 0.04 (5 %, 2 SD)"


def test_means_of_n_runs_are_compared_with_the_standard_error():
    """A mean of 5 runs against a mean of n runs: 2 SE of the difference, √(sd²/5 + sd_ours²/n), with
    5 % as a floor; a single run of ours takes the paper's SD as its own."""
    e = entry(value=7.89, printed="7.89", sd=4.83, n=5, unit="", tolerance={"paper": {"se": 2, "rel": 0.05}})
    rule = e["tolerance"]["paper"]
    assert sc.standard_error(e, 3.0, 4) == pytest.approx(math.sqrt(4.83 ** 2 / 5 + 3.0 ** 2 / 4))
    assert sc.standard_error(e) == pytest.approx(4.83 * math.sqrt(1 / 5 + 1))  # one run of ours
    assert sc.standard_error(e, None, 5) == pytest.approx(4.83 * math.sqrt(2 / 5))  # n known, SD not
    assert sc.standard_error(e, float("nan"), 5) == sc.standard_error(e, None, 5)
    assert sc.allowed_deviation(e, rule, 4.83, 5) == pytest.approx(2 * 4.83 * math.sqrt(2 / 5))  # 6.11, not 9.66
    assert sc.allowed_deviation(e, {"sd": 2}) == pytest.approx(9.66)  # the old single-run rule, still available
    tiny = entry(value=0.97, printed="0.97", sd=0.0, n=5, tolerance={"paper": {"se": 2, "rel": 0.05}})
    assert sc.allowed_deviation(tiny, tiny["tolerance"]["paper"], 0.001, 5) == pytest.approx(0.0485)  # 5 % floor
    assert sc.describe_rule(e, rule, 3.0, 4) == "± 5.26 (5 %, 2 SE = 2·√(4.83²/5 + 3²/4))"
    assert sc.describe_rule(e, rule) == "± 10.6 (5 %, 2 SE = 2·√(4.83²/5 + 4.83²/1))"
    assert sc.rule_text(e, rule) == ("± the larger of 5 % and 2 SE of the difference of the means "
                                     "(paper n = 5, ours from the record)")
    assert sc.row_rule(e, "quick") == "at paper: " + sc.rule_text(e, rule)
    # the record's SD and runs sit beside the value: <name>_sd and n_seeds (or n)
    results = {"table1": [{"model": "AE", "lrec": 12.0, "lrec_sd": 3.0, "n_seeds": 4}],
               "top": {"x": 1.0, "n": 2, "x_sd": float("nan")}, "bare": 1.0}
    assert sc.spread(results, "table1[model=AE].lrec") == (3.0, 4)
    assert sc.spread(results, "top.x") == (None, 2) and sc.spread(results, "bare") == (None, None)
    assert sc.spread(results, "table1[0]") == (None, None) and sc.spread(results, "nope.x") == (None, None)
    row = sc.evaluate({**e, "key": "table1[model=AE].lrec"}, {"rec": record(results, scale="paper")})
    assert row.status == MET and (row.build_sd, row.build_n, row.paper_n) == (3.0, 4, 5)  # |12 - 7.89| < 5.26
    assert row.tolerance == "± 5.26 (5 %, 2 SE = 2·√(4.83²/5 + 3²/4))"
    results["table1"][0]["lrec"] = 15.0  # 7.11 from the paper: outside 2 SE, inside the old 2 SD (9.66)
    row = sc.evaluate({**e, "key": "table1[model=AE].lrec"}, {"rec": record(results, scale="paper")})
    assert row.status == NOT_MET
    text = sc.render_markdown([row], {"p": {"short": "P", "citation": "C"}})
    assert "| 7.89 ± 4.83 (n = 5) | 15.0000 ± 3.0000 (n = 4) | paper | ± the larger of 5 % and 2 SE" in text
    as_json = sc.rows_json([row])[0]
    assert (as_json["value_sd"], as_json["n"], as_json["paper_n"]) == (3.0, 4, 5) and as_json["rule"] == row.rule
    with pytest.raises(ValueError, match="uses se, but the entry has no n"):
        sc.validate({"papers": {"p": {}}, "values": [{**e, "n": None}]})
    with pytest.raises(ValueError, match="n must be a positive whole number"):
        sc.validate({"papers": {"p": {}}, "values": [{**e, "n": 0}]})


def test_hubotter_means_use_the_standard_error_with_the_papers_five_runs(shared_dir):
    """Every mean ± SD of Hübotter et al. is compared with 2 SE over n = 5 runs: §3 trains every model
    "for 10 epochs with 5 repetitions" (Tables 4-7 do not state their n; their notes say it is assumed)."""
    text = (shared_dir / "papers" / VALUES["papers"]["huebotter2021"]["text"]).read_text(encoding="utf-8")
    assert "MNIST dataset for 10 epochs with 5 repetitions" in text
    means = [e for e in VALUES["values"] if e.get("sd") is not None]
    assert all(e["paper"] == "huebotter2021" for e in means)
    compared = [e for e in means if any(isinstance(r, dict) for r in e["tolerance"].values())]
    # 104 before Table 4's INP (14) and Table 6's AFR and INP (2 x 21); the rest (Table 5, unmatched Table 7
    # rows, Table 6's row "None") are not compared at any scale
    assert len(compared) == 160
    for e in compared:
        rules = [r for r in e["tolerance"].values() if isinstance(r, dict)]
        assert e["n"] == 5 and all("se" in r and "sd" not in r for r in rules), e["id"]
        assert "2 standard errors" in e["note"], e["id"]
        if e["source"] in ("Table 4", "Table 6"):
            assert "n = 5 assumed" in e["note"], e["id"]


def test_statuses():
    e = entry()
    assert sc.evaluate(e, {"rec": record({"acc": 97.44})}).status == MET
    assert sc.evaluate(e, {"rec": record({"acc": 97.45})}).status == MET  # the boundary is inside
    row = sc.evaluate(e, {"rec": record({"acc": 97.46})})
    assert row.status == NOT_MET and row.tolerance == "± 0.05" and row.scale == "quick"
    # a scale without a rule: never met, however close
    row = sc.evaluate(entry(tolerance={"quick": {"abs": 1}, "smoke": "500 images only"}),
                      {"rec": record({"acc": 97.4}, scale="smoke")})
    assert row.status == NOT_COMPARABLE and row.detail == "500 images only"
    row = sc.evaluate(e, {"rec": record({"acc": 97.4}, scale="paper")})
    assert row.status == NOT_COMPARABLE and row.detail == "no tolerance at scale paper"
    assert sc.evaluate(e, {}).status == NOT_RUN
    assert sc.evaluate(entry(record=None, key=None), {"rec": record({"acc": 97.4})}).status == NOT_RUN
    assert sc.evaluate(entry(value=None, printed=None, record=None, key=None), {}).status == NO_PAPER_VALUE
    row = sc.evaluate(entry(value=None, printed=None), {"rec": record({"acc": 50.0})})
    assert row.status == NO_PAPER_VALUE and row.build_value == 50.0
    for bad in ({"other": 1}, {"acc": True}, {"acc": "97.4"}, {"acc": float("nan")}):
        assert sc.evaluate(e, {"rec": record(bad)}).status == MISSING, bad
    # null: the record says its scale computes nothing there (e.g. a correlation over fewer than 3 runs)
    row = sc.evaluate(e, {"rec": record({"acc": None})})
    assert row.status == NOT_RUN and row.detail == ("acc is null in the record (or a part on its way): not "
                                                    "computed at scale quick")
    # null on the way (a search a scale does not run): not run, not a record missing a value
    deep = entry(key="searches.table4[key=lr,value=0.001].lrec")
    assert sc.evaluate(deep, {"rec": record({"searches": {"table4": None}})}).status == NOT_RUN
    assert sc.evaluate(deep, {"rec": record({"searches": {}})}).status == MISSING
    assert sc.evaluate(e, {"rec": record({"acc": float("inf")})}).status == NOT_MET
    assert sc.evaluate(entry(tolerance={"quick": {"abs": 0}}), {"rec": record({"acc": 97.4})}).status == MET


@given(value=st.floats(-1e6, 1e6), build=st.floats(-1e6, 1e6), tol=st.floats(0, 1e3),
       scale=st.sampled_from(["smoke", "quick", "paper"]))
def test_met_only_within_a_tolerance_that_applies(value, build, tol, scale):
    e = entry(value=value, printed=repr(value), tolerance={"quick": {"abs": tol}, "smoke": "not meaningful"})
    row = sc.evaluate(e, {"rec": record({"acc": build}, scale=scale)})
    within = abs(build - value) <= tol * (1 + 1e-9) + 1e-12
    assert (row.status == MET) == (scale == "quick" and within)
    if scale != "quick":
        assert row.status == NOT_COMPARABLE


def test_real_values_against_the_real_record_layout():
    """The published-network rows read the keys alpha_published_networks.ipynb writes."""
    table2 = [{"network": n, "split": s, "accuracy_percent": a}
              for (n, s), a in {("slow", "train"): 59978 / 600, ("fast", "train"): 59931 / 600,
                                ("slow", "test"): 97.96, ("fast", "test"): 97.40}.items()]
    loss = {("slow", "train"): 0.00288383, ("fast", "train"): 0.0044434, ("slow", "test"): 0.17324757,
            ("fast", "test"): 0.1976798}  # what the notebook computes
    for row in table2:
        row["mean_loss"] = loss[row["network"], row["split"]]
    records = {"alpha_published_networks": record({"table2": table2, "fig1b": {"t_out": 18.635736}},
                                                    notebook="alpha_published_networks")}
    rows = {r.id: r for r in sc.scorecard_rows(VALUES, records)}
    linked = [i for i, e in BY_ID.items() if e["record"] == "alpha_published_networks"]
    assert len(linked) == 9 and all(rows[i].status == MET for i in linked), {i: rows[i] for i in linked}
    table2[1]["accuracy_percent"] = 59930 / 600  # one image fewer
    rows = {r.id: r for r in sc.scorecard_rows(VALUES, records)}
    assert rows["alpha.table2.published.fast.train_accuracy"].status == NOT_MET
    smoke = {"alpha_published_networks": {**records["alpha_published_networks"], "scale": "smoke"}}
    rows = {r.id: r for r in sc.scorecard_rows(VALUES, smoke)}
    assert rows["alpha.table2.published.slow.test_accuracy"].status == NOT_COMPARABLE
    assert rows["alpha.fig1b.spike_time"].status == MET  # an exact computation: compared at every scale


# ---------------------------------------------------------------- markdown


def test_markdown_has_one_row_per_value_and_links_only_known_pages():
    table2 = [{"network": n, "split": s, "accuracy_percent": 98.0} for n in ("slow", "fast")
              for s in ("train", "test")]
    records = {"alpha_published_networks": record({"fig1b": {"t_out": 18.6357}, "table2": table2},
                                                    scale="smoke", notebook="alpha_published_networks")}
    rows = sc.scorecard_rows(VALUES, records)
    text = sc.page_markdown(rows, VALUES["papers"], pages=["alpha_published_networks"])
    assert text.startswith("# Reproduction scorecard\n")
    body, in_table = [], False
    for ln in text.splitlines():
        in_table = ln.startswith("|") and (in_table or ln.startswith("| quantity |"))
        if in_table and not ln.startswith(("| quantity |", "|---")):
            body.append(ln)
    assert len(body) == len(VALUES["values"]) and all(ln.count(" | ") == 7 for ln in body)
    assert ("| 18.64 | 18.6357 | smoke | as printed (± half its last digit) | met (± 0.005) "
            "| {doc}`alpha_published_networks` |") in text
    assert "| 97.96 | 98.0000 | smoke | at quick, paper: ± 0.005 | not comparable: smoke classifies 500 images" in text
    assert "not comparable: smoke classifies 500 images" in text
    for paper in VALUES["papers"].values():
        assert f"## {paper['short']}" in text
    assert "{doc}" not in sc.render_markdown(rows, VALUES["papers"], pages=[])  # no page, no link
    total = re.search(r"\| \*\*all\*\* \| (.*) \|", text).group(1)
    assert sum(int(n.strip("* ")) for n in total.split("|")) == len(VALUES["values"])


def test_markdown_escapes_and_numbers_notes():
    papers = {"p": {"short": "P", "citation": "C"}}
    e1 = entry(id="a", quantity="a | b", note="shared note")
    e2 = entry(id="b", note="shared note")
    e3 = entry(id="c", note="other")
    rows = sc.scorecard_rows({"values": [e1, e2, e3]}, {"rec": record({"acc": 97.4})})
    text = sc.render_markdown(rows, papers)
    assert "a \\| b (%) [1]" in text and "| q (%) [1] |" in text and "| q (%) [2] |" in text
    assert "1. shared note\n2. other" in text
    assert "| 97.4 | 97.400 | quick | ± 0.05 | met (± 0.05) | rec |" in text


def test_context_is_shown_beside_the_result():
    """The Boolean rows show what the restarts took (the record's seeds_text) beside "met"."""
    papers = {"p": {"short": "P", "citation": "C"}}
    e = entry(tolerance={"quick": {"abs": 0}}, value=100, printed="100%", key="tasks.and.test_accuracy_percent",
              context="tasks.and.seeds_text")
    text = "1 of 2 seeds perfect on training; first seed (no restarts): test 51.3 %"
    rec = record({"tasks": {"and": {"test_accuracy_percent": 100.0, "seeds_text": text}}})
    row = sc.evaluate(e, {"rec": rec})
    assert row.status == MET and row.context == text
    assert f"| exact | met (exact) — {text} | rec |" in sc.render_markdown([row], papers)
    assert sc.rows_json([row])[0]["context"] == text
    assert sc.evaluate(entry(), {"rec": record({"acc": 97.4})}).context == ""
    assert sc.rows_json([sc.evaluate(entry(), {"rec": record({"acc": 97.4})})])[0]["context"] is None
    gone = sc.evaluate({**e, "context": "tasks.or.seeds_text"}, {"rec": rec})
    assert gone.status == MET and gone.context == "(no tasks.or.seeds_text in the record)"
    with pytest.raises(ValueError, match="context 'x' needs a record"):
        sc.validate({"papers": {"p": {}}, "values": [entry(record=None, key=None, context="x")]})
    with pytest.raises(ValueError, match="bad key path"):
        sc.validate({"papers": {"p": {}}, "values": [entry(context="a..b")]})


def test_summary_counts_every_status():
    rows = sc.scorecard_rows(VALUES, {})
    counts = sc.summary(rows)
    assert list(counts) == list(sc.STATUSES)
    assert counts[NOT_RUN] + counts[NO_PAPER_VALUE] == len(VALUES["values"])
    assert counts[MET] == 0 and not math.isnan(sum(counts.values()))


def test_kept_paper_runs_get_a_column_with_their_provenance():
    table2 = [{"network": n, "split": s, "accuracy_percent": 97.96 if n == "slow" else 90.0}
              for n in ("slow", "fast") for s in ("train", "test")]
    kept_records = {"alpha_published_networks": {
        "name": "alpha_published_networks", "scale": "paper", "results": {"table2": table2},
        "provenance": {"notebook": "alpha_published_networks", "git_commit": "0123456789abcdef",
                       "date": "2026-11-23", "device": "cuda", "seed": 0}}}
    rows = sc.scorecard_rows(VALUES, {})
    kept = sc.scorecard_rows(VALUES, kept_records)
    text = sc.page_markdown(rows, VALUES["papers"], kept_records=kept_records, kept=kept)
    assert "commit `0123456789`, 2026-11-23, device `cuda`" in text
    no_build = "not run yet: no record 'alpha_published_networks' in this build"
    rule = "at quick, paper: ± 0.005"
    assert f"| 97.96 | — | — | {rule} | {no_build} | 97.9600 (met) |" in text  # the kept run met; no build value
    assert f"| 97.4 | — | — | {rule} | {no_build} | 90.000 (**not met**) |" in text
    # only the paper with kept values gets the extra column
    assert text.count(" kept paper-scale run |") == 1
    plain = sc.page_markdown(rows, VALUES["papers"])
    assert "kept paper-scale run |" not in plain and "No paper-scale runs are kept" in plain


# ---------------------------------------------------------------- records not of this build

BUILD = "b" * 40


def provenance_record(results, *, commit=BUILD, dirty=False, notebook="rec", scale="quick"):
    return {"name": "rec", "scale": scale, "results": results,
            "provenance": {"notebook": notebook, "git_commit": commit, "git_dirty": dirty}}


def manifest(status="ok", notebook="rec", commit=BUILD):
    return {"git_commit": commit, "git_dirty": False, "notebooks": {notebook: {"status": status}}}


def test_staleness_names_every_reason():
    fresh = provenance_record({"acc": 97.4})
    assert sc.staleness(fresh, manifest=manifest()) is None
    assert sc.staleness(fresh, build_commit=BUILD) is None
    assert sc.staleness(fresh) is None  # nothing to compare with: not a git checkout, no manifest
    old = provenance_record({}, commit="a" * 40)
    assert sc.staleness(old, manifest=manifest()) == "computed at commit aaaaaaaa, not this build's bbbbbbbb"
    assert sc.staleness(old, build_commit=BUILD, manifest=manifest(commit="c" * 40)).endswith("build's bbbbbbbb")
    assert sc.staleness(provenance_record({}, commit=None), build_commit=BUILD) == "no commit recorded"
    assert sc.staleness(provenance_record({}, dirty=True), manifest=manifest()) == "computed from uncommitted code"
    for status in ("failed", "timeout", "not executed"):
        why = sc.staleness(fresh, manifest=manifest(status))
        assert why == f"rec {status} in this build, so the record may be left over from an earlier run"
    both = sc.staleness(provenance_record({}, commit="a" * 40, dirty=True), manifest=manifest("failed"))
    assert both.count("; ") == 2 and both.startswith("computed from uncommitted code")
    # a notebook the manifest does not know: judged by its commit only
    assert sc.staleness(fresh, manifest=manifest("failed", notebook="other")) is None


def test_kept_records_are_judged_by_their_own_provenance():
    old = provenance_record({}, commit="a" * 40, scale="paper")
    assert sc.staleness(old, build_commit=BUILD, manifest=manifest("failed"), kept=True) is None
    dirty = provenance_record({}, commit="a" * 40, dirty=True, scale="paper")
    assert sc.staleness(dirty, build_commit=BUILD, kept=True) == "computed from uncommitted code"
    e = entry(tolerance={"paper": {"abs": 0.05}})
    rows = sc.scorecard_rows({"values": [e]}, {"rec": old}, build_commit=BUILD, kept=True)
    assert rows[0].stale is None
    rows = sc.scorecard_rows({"values": [e]}, {"rec": {**dirty, "results": {"acc": 97.4}}}, kept=True)
    assert rows[0].status == MET and rows[0].stale == "computed from uncommitted code"
    assert sc._kept_cell(rows[0]) == "97.400 ⚠ (met; computed from uncommitted code)"
    text = sc.kept_runs_markdown({"rec": dirty})
    assert "⚠ *computed from uncommitted code*" in text


def test_flagged_rows_on_the_page_in_json_and_in_the_terminal():
    papers = {"p": {"short": "P", "citation": "C"}}
    values = {"values": [entry(id="fresh", record="new"), entry(id="old", record="old"),
                         entry(id="broken", record="broken"), entry(id="none", record="absent")]}
    records = {"new": provenance_record({"acc": 97.4}, notebook="new"),
               "old": provenance_record({"acc": 97.4}, commit="a" * 40, notebook="old"),
               "broken": provenance_record({"acc": 99.0}, notebook="broken")}
    build = {"git_commit": BUILD, "notebooks": {"new": {"status": "ok"}, "broken": {"status": "timeout"}}}
    rows = {r.id: r for r in sc.scorecard_rows(values, records, manifest=build)}
    assert rows["fresh"].stale is None and rows["none"].stale is None and rows["none"].status == NOT_RUN
    assert rows["old"].stale.startswith("computed at commit aaaaaaaa") and rows["old"].status == MET
    assert rows["broken"].stale.startswith("broken timeout in this build") and rows["broken"].status == NOT_MET
    text = sc.page_markdown(list(rows.values()), papers, build_commit=BUILD)
    assert "**⚠ 2 of the 3 rows with a record are flagged**" in text and "this build's (`bbbbbbbb`)" in text
    assert "| 97.4 | 97.400 | quick | ± 0.05 | met (± 0.05) | new |" in text  # not flagged: no mark
    assert ("| 97.4 | 97.400 ⚠ | quick | ± 0.05 | met (± 0.05); ⚠ *computed at commit aaaaaaaa, not this build's "
            "bbbbbbbb* | old |") in text
    assert "| 99.000 ⚠ | quick | ± 0.05 | **not met** (± 0.05); ⚠ *broken timeout in this build, so the" in text
    clean = sc.page_markdown([rows["fresh"]], papers, build_commit=BUILD)
    assert "No row is flagged: every one of the 1 rows with a record comes from this build's commit" in clean
    as_json = {r["id"]: r for r in sc.rows_json(rows.values())}
    assert as_json["fresh"]["stale"] is None and as_json["old"]["stale"] == rows["old"].stale
    terminal = sc.rows_text(rows.values())
    assert "⚠ computed at commit aaaaaaaa" in terminal and terminal.splitlines()[0].split()[-1] == "flag"
