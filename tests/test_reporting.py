"""spikelib.reporting: what the notebooks share for showing results."""

import math

import numpy as np
import pytest

from spikelib import reporting as R

RECS = [{"key": "a", "config": {"model": "snn", "eta": 0.2, "hidden": 32, "inverted": False}},
        {"key": "b", "config": {"model": "snn", "eta": 0.4, "hidden": 32}},
        {"key": "c", "config": {"model": "ann", "eta": 0.2, "hidden": 32, "inverted": True}}]


def test_find_record_matches_numbers_to_rounding_and_absent_fields_as_none():
    assert R.find_record(RECS, model="snn", eta=0.1 + 0.1)["key"] == "a"
    assert R.find_record(RECS, eta=0.4, inverted=None)["key"] == "b"
    assert R.find_record(RECS, model="ann", inverted=1)["key"] == "c"  # bool compared as bool
    assert R.find_record(RECS, model="snn", eta=0.8, missing_ok=True) is None
    with pytest.raises(KeyError, match="no record matches"):
        R.find_record(RECS, model="snn", eta=0.8)
    with pytest.raises(ValueError, match="2 records match"):
        R.find_record(RECS, model="snn")
    assert [r["key"] for r in R.find_records(RECS, hidden=32)] == ["a", "b", "c"]


def test_fmt_and_markdown_table():
    assert R.fmt(1.23456) == "1.23" and R.fmt(1.0, 0.25, digits=1) == "1.0 ± 0.2"
    assert R.fmt(None) == R.fmt(math.nan) == R.fmt(math.inf) == "–"
    assert R.fmt(2.0, math.nan) == "2.00"
    table = R.markdown_table(["model", "Lrec"], [["SAE", R.fmt(38.1)]], align="lr")
    assert table.splitlines() == ["| model | Lrec |", "|---|---:|", "| SAE | 38.10 |"]
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        R.markdown_table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="align"):
        R.markdown_table(["a"], [], align="lr")


def test_paper_vs_ours_names_the_scale_and_the_source():
    line = R.paper_vs_ours("alpha.table2.published.slow.test_accuracy", 97.123, scale="quick")
    assert line == "ours 97.12 (quick) · paper 97.96 (Table 2)"
    assert "ours – (smoke)" in R.paper_vs_ours("alpha.table2.published.slow.test_accuracy", None, scale="smoke")


def test_tile_and_mosaics():
    imgs = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    strip = R.tile(imgs, gap=1)
    assert strip.shape == (2, 8) and np.isnan(strip[:, 2]).all() and strip[0, 3] == imgs[1, 0, 0]
    grid = R.tile(imgs, cols=2)
    assert grid.shape == (4, 4) and np.isnan(grid[2:, 2:]).all() and grid[2, 0] == imgs[2, 0, 0]
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        R.tile(imgs[0])
    g = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    m = R.grid_mosaic(g)
    assert m.shape == (4, 6) and m[2, 4] == g[1, 2, 0, 0] and m[1, 1] == g[0, 0, 1, 1]
    f = R.scaled_filters(np.array([[[2.0, -4.0]], [[0.0, 0.0]]]))
    assert f.tolist() == [[[0.5, -1.0]], [[0.0, 0.0]]]
