"""spikelib.papers: the papers' numbers by id, from paper_values.json only."""

import json

import pytest

from spikelib import papers


def test_value_entry_and_prefix_lookups():
    e = papers.entry("alpha.table2.published.slow.test_accuracy")
    assert papers.value(e["id"]) == e["value"] == 97.96 and e["paper"] == "comsa2021-alpha"
    alpha = papers.entries("alpha.", paper="comsa2021-alpha")
    assert alpha and all(x["id"].startswith("alpha.") for x in alpha)
    assert papers.entries(paper="roy2019") and not papers.entries("no.such.prefix.")


def test_unknown_id_names_near_misses():
    with pytest.raises(KeyError, match="no paper value 'alpha.table2.published.slow.nonsense'.*similar: alpha.table2"):
        papers.value("alpha.table2.published.slow.nonsense")


def test_a_file_path_is_validated(tmp_path):
    data = papers.load_paper_values()
    bad = dict(data, values=[dict(data["values"][0], printed="1.5")])
    path = tmp_path / "pv.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="does not read as value"):
        papers.load_paper_values(path)
