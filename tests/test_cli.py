"""The command line: help that tells a reader what to type, choices checked, the scorecard as table or JSON."""

import json

import pytest

from spikelib import __main__ as cli
from spikelib import __version__, results


def test_help_lists_notebooks_environment_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in cli.notebook_names():
        assert name in out
    assert "alpha_boolean" in cli.notebook_names()
    for text in ("SPIKELIB_BACKEND", "SPIKELIB_DATA", "SPIKELIB_RESULTS", "examples:", "scorecard --json"):
        assert text in out
    assert "``" not in out  # no raw reStructuredText


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"spikelib {__version__}"


@pytest.mark.parametrize("argv, bad", [(["book", "--scale", "huge"], "huge"), (["book", "--device", "tpu"], "tpu")])
def test_bad_choices_are_refused_naming_the_choices(capsys, argv, bad):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{bad}'" in err and ("smoke" in err or "cpu" in err)


def test_scorecard_json_and_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("abc123", False))
    record = {"table2": [{"network": "slow", "split": "test", "accuracy_percent": 97.96}]}
    results.write_record("alpha_published_networks", record, params={}, scale="quick", seed=0,
                         directory=tmp_path)
    assert cli.main(["scorecard", "--json", "--results", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = {"id", "paper", "quantity", "paper_value", "value", "scale", "result", "kept", "commit"}
    assert all(keys <= set(r) for r in rows)
    row = next(r for r in rows if r["id"] == "alpha.table2.published.slow.test_accuracy")
    assert row["value"] == 97.96 and row["scale"] == "quick" and row["result"] == "met"
    assert row["commit"] == "abc123" and row["kept"] is False
    # nothing else was computed by this build (the kept paper-scale runs of book/paper_runs/ are rows of their own)
    assert all(r["value"] is None for r in rows if r["record"] not in (None, "alpha_published_networks")
               and not r["kept"])
    assert all(r["scale"] == "paper" for r in rows if r["kept"])
    assert cli.main(["scorecard", "--results", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "alpha.table2.published.slow.test_accuracy" in table and " met" in table


def test_scorecard_flags_records_of_another_commit_than_head(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("abc123", False))
    record = {"table2": [{"network": "slow", "split": "test", "accuracy_percent": 97.96}]}
    results.write_record("alpha_published_networks", record, params={}, scale="quick", seed=0,
                         directory=tmp_path)
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("def456", True))  # HEAD moved on since
    assert cli.main(["scorecard", "--json", "--results", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = [r for r in rows if r["record"] == "alpha_published_networks"]
    assert mine and all(r["stale"] == "computed at commit abc123, not this build's def456" for r in mine)
    assert all(r["stale"] is None for r in rows if r["value"] is None and r["record"] != "alpha_published_networks")
    assert cli.main(["scorecard", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "⚠ computed at commit abc123" in out and f"; {len(mine)} flagged ⚠" in out
