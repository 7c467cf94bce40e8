"""spikelib.results: atomic writes, provenance, round trip."""

import json

import numpy as np
import pytest
import torch

from spikelib import results

PROVENANCE = {"notebook", "params", "seed", "scale", "git_commit", "git_dirty", "date", "versions", "device"}


def test_round_trip_and_provenance(tmp_path):
    values = {"loss": np.float64(0.25), "curve": torch.arange(3.0), "n": np.int64(7), "ok": True}
    path = results.write_record("demo", values, params={"scale": "smoke", "device": "cpu", "lr": 0.1},
                                scale="smoke", seed=3, directory=tmp_path)
    assert path == tmp_path / "demo.json"
    rec = results.read_record(path)
    assert rec["name"] == "demo" and rec["scale"] == "smoke"
    assert rec["results"] == {"loss": 0.25, "curve": [0.0, 1.0, 2.0], "n": 7, "ok": True}
    prov = rec["provenance"]
    assert PROVENANCE <= prov.keys()
    assert prov["seed"] == 3 and prov["scale"] == "smoke" and prov["device"] == "cpu"
    assert prov["params"]["lr"] == 0.1
    assert set(prov["versions"]) == {"python", "torch", "numpy", "spikelib"}
    assert prov["date"].endswith("+00:00")  # UTC
    assert "hostname" not in json.dumps(prov).lower()
    assert results.load_records(tmp_path) == {"demo": rec}


def test_default_directory_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELIB_RESULTS", str(tmp_path / "r"))
    path = results.write_record("x", {"a": 1}, params={}, scale="quick")
    assert path == tmp_path / "r" / "x.json"


def test_failure_mid_write_leaves_no_file(tmp_path, monkeypatch):
    results.write_record("keep", {"v": 1}, params={}, scale="smoke", directory=tmp_path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "fsync", crash)  # after the bytes are written, before the rename
    with pytest.raises(OSError, match="disk full"):
        results.write_record("keep", {"v": 2}, params={}, scale="smoke", directory=tmp_path)
    with pytest.raises(OSError, match="disk full"):
        results.write_record("new", {"v": 2}, params={}, scale="smoke", directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]  # no temp files, no "new"
    assert results.read_record(tmp_path / "keep.json")["results"] == {"v": 1}


def test_unserialisable_value_touches_nothing(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        results.write_record("bad", {"f": object()}, params={}, scale="smoke", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_scale_and_name(tmp_path):
    with pytest.raises(ValueError, match="unknown scale"):
        results.write_record("a", {}, params={}, scale="huge", directory=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        results.write_record("../a", {}, params={}, scale="smoke", directory=tmp_path)


def test_git_state_without_a_repository(tmp_path):
    assert results.git_state(tmp_path) == (None, None)


def test_save_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = results.save_figure(fig, "fig", directory=tmp_path)
    plt.close(fig)
    assert path == tmp_path / "fig.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    from PIL import Image

    info = Image.open(path).info  # provenance in the PNG's text chunks
    assert info["Title"] == "fig" and info["Software"].startswith("spikelib ") and info["Source"]
    # the next record lists the figure with the hash of the saved file
    rec = results.read_record(results.write_record("r", {}, params={}, scale="smoke", directory=tmp_path))
    import hashlib

    assert rec["provenance"]["figures"]["fig"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_paper_runs_are_paper_scale_and_committed(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "git_state", lambda cwd=None: ("abc123", False))
    src = tmp_path / "src"
    quick = results.write_record("demo", {"x": 1}, params={}, scale="quick", directory=src)
    with pytest.raises(ValueError, match="not 'paper'"):
        results.keep_paper_run(quick, tmp_path / "kept")
    paper = results.write_record("demo", {"x": 2}, params={}, scale="paper", directory=src)
    dest = results.keep_paper_run(paper, tmp_path / "kept")
    assert results.load_paper_runs(tmp_path / "kept")["demo"]["results"] == {"x": 2}
    assert dest.name == "demo.json" and not list((tmp_path / "kept").glob(".*"))
    assert results.load_paper_runs(tmp_path / "nothing") == {}
    monkeypatch.setattr(results, "git_state", lambda cwd=None: ("abc123", True))
    dirty = results.write_record("dirty", {"x": 3}, params={}, scale="paper", directory=src)
    with pytest.raises(ValueError, match="uncommitted"):
        results.keep_paper_run(dirty, tmp_path / "kept")
    (tmp_path / "kept" / "wrong.json").write_text(json.dumps({"name": "wrong", "scale": "quick"}))  # by hand
    with pytest.raises(ValueError, match="wrong.json is at scale 'quick'"):
        results.load_paper_runs(tmp_path / "kept")
    # one page's record alone: the same file and the same check, without reading the others
    assert results.kept_paper_run("demo", tmp_path / "kept")["results"] == {"x": 2}
    assert results.kept_paper_run("absent", tmp_path / "kept") is None
    with pytest.raises(ValueError, match="wrong.json is at scale 'quick'"):
        results.kept_paper_run("wrong", tmp_path / "kept")


def test_commits_label_names_every_commit_of_a_kept_record():
    assert results.commits_label({"git_commit": "abcdef0123"}) == "commit abcdef0"
    assert results.commits_label({"git_commit": "b" * 40, "commits": ["a" * 40, "b" * 40]}) == "commits aaaaaaa, bbbbbbb"
    assert results.commits_label({"commits": {"c" * 40: 5}}) == "commit ccccccc"  # per-configuration records
    assert results.commits_label({}) == "commit unknown"
