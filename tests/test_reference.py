"""spikelib.reference: resumable, budgeted paper-protocol runs kept in book/paper_runs (issue #19)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from spikelib import reference, results


CRASH_AT: set = set()  # epochs at which the fake training is interrupted (once each)


def _fake_module(calls: list, crash_at: set):
    """An experiment whose 'training' appends one number per epoch to a checkpoint file."""
    mod = types.ModuleType("fake_reference_experiment")

    def reference_runs():
        return [{"name": f"cfg{i}", "epochs": 5, "deviations": "a test", "settings": {"seed": i, "lr": 0.1}}
                for i in range(2)]

    def reference_train(settings, *, epochs, checkpoint, on_epoch=None):
        done = json.loads(checkpoint.read_text()) if checkpoint.exists() else []
        for e in range(len(done), epochs):
            if e in crash_at:
                crash_at.discard(e)
                raise KeyboardInterrupt  # interrupted in the middle of a chunk
            calls.append((settings["seed"], e))
            done.append(settings["seed"] * 100 + e)
            if on_epoch:
                on_epoch({"epoch": e, "test_accuracy": 0.5})
            checkpoint.write_text(json.dumps(done))  # like fit: saved after each epoch's report
        return {"values": done, "max_test_accuracy_percent": 50.0 + settings["seed"]} if epochs == 5 else None

    def reference_record(entries):
        return {"best": max(entries.values(), key=lambda e: e["max_test_accuracy_percent"])}

    mod.reference_runs, mod.reference_train, mod.reference_record = reference_runs, reference_train, reference_record
    return mod


@pytest.fixture
def fake(monkeypatch, tmp_path):
    calls: list = []
    CRASH_AT.clear()
    monkeypatch.setitem(sys.modules, "fake_reference_experiment", _fake_module(calls, CRASH_AT))
    monkeypatch.setitem(reference.EXPERIMENTS, "fake", "fake_reference_experiment")
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("abc123", False))
    ref = reference.Reference("fake", kept_dir=tmp_path / "kept", work_dir=tmp_path / "work")
    return ref, calls


def test_runs_resume_and_never_recompute(fake, monkeypatch):
    ref, calls = fake
    # a budget too small for anything after the first chunk: the first call stops inside cfg0
    clock = iter([0.0, 0.0, 0.0] + [1000.0] * 20)  # deadline, first config, first chunk; then time is up
    monkeypatch.setattr(reference.time, "monotonic", lambda: next(clock))
    assert ref.run(budget_s=60, chunk=2) == []
    assert [s["epochs_done"] for s in ref.status()] == [2, 0]
    assert not (ref.kept_dir / "fake.json").exists()
    monkeypatch.setattr(reference.time, "monotonic", lambda: 0.0)
    assert ref.run(chunk=2) == ["cfg0", "cfg1"]
    # every epoch of every configuration trained exactly once across the two calls
    assert calls == [(0, e) for e in range(5)] + [(1, e) for e in range(5)]
    rec = json.loads(ref.record_path("cfg0").read_text())
    assert rec["scale"] == "paper" and rec["results"]["values"] == [0, 1, 2, 3, 4]
    assert rec["provenance"]["commits"] == {"abc123": 5} and rec["provenance"]["deviations"] == "a test"
    combined = json.loads((ref.kept_dir / "fake.json").read_text())
    assert combined["name"] == "fake" and combined["results"]["best"]["max_test_accuracy_percent"] == 51.0
    assert combined["provenance"]["reference_runs"] == ["cfg0", "cfg1"]
    assert results.load_paper_runs(ref.kept_dir)["fake"]["scale"] == "paper"
    assert ref.run() == [] and len(calls) == 10  # finished: nothing recomputed


def test_an_interrupted_chunk_is_counted_per_epoch(fake):
    ref, calls = fake
    CRASH_AT.add(3)
    with pytest.raises(KeyboardInterrupt):
        ref.run(chunk=25)
    assert [s["epochs_done"] for s in ref.status()] == [3, 0]
    assert ref.run() == ["cfg0", "cfg1"]
    assert calls == [(0, e) for e in range(5)] + [(1, e) for e in range(5)]
    assert json.loads(ref.record_path("cfg0").read_text())["provenance"]["commits"] == {"abc123": 5}


def test_changed_settings_are_not_finished(fake):
    ref, calls = fake
    ref.run()
    ref.configs[0]["settings"]["lr"] = 0.2
    assert [s["kept"] for s in ref.status()] == [False, True]


def test_refuses_uncommitted_code(fake, monkeypatch):
    ref, calls = fake
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("abc123", True))
    with pytest.raises(RuntimeError, match="commit your changes"):
        ref.run()
    assert calls == []


@pytest.mark.parametrize("text, seconds", [("150m", 9000), ("2h", 7200), ("90s", 90), ("30", 1800), (None, None)])
def test_parse_budget(text, seconds):
    assert reference.parse_budget(text) == seconds


def test_bad_budget_and_unknown_experiment_name_the_fix():
    with pytest.raises(ValueError, match="150m"):
        reference.parse_budget("soon")
    with pytest.raises(ValueError, match="alpha_mnist_training"):
        reference.Reference("nope")


def test_every_experiment_defines_its_runs():
    for name in reference.EXPERIMENTS:
        ref = reference.Reference(name)
        assert ref.configs and all({"name", "epochs", "deviations", "settings"} <= set(c) for c in ref.configs)


def test_records_name_their_executor_and_a_bad_executor_runs_nothing(fake, monkeypatch):
    ref, calls = fake
    monkeypatch.setenv("SPIKELIB_EXECUTOR", "host:8786")  # no scheme: not a scheduler address
    with pytest.raises(ValueError, match="SPIKELIB_EXECUTOR='host:8786' is not a Dask scheduler address"):
        ref.run()
    assert calls == []
    monkeypatch.setenv("SPIKELIB_EXECUTOR", "local")
    assert ref.run(only=["cfg1"]) == ["cfg1"]
    assert json.loads(ref.record_path("cfg1").read_text())["provenance"]["executor"] == "local"


def test_regularised_sae_reference_runs_resume_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """Hübotter's Table-1 runs at a tiny size: 1 epoch, then on to 2 from the checkpoint, equals 2 epochs in
    one go (bit for bit: the same steps on the same generator state); the combined record has the page's
    Table-1 rows for the scorecard."""
    from spikelib import data
    from spikelib.experiments import huebotter_reference as hb

    try:
        data.load_mnist("test")
    except Exception as exc:  # noqa: BLE001  (no MNIST here: make data)
        pytest.skip(f"MNIST not available: {exc}")
    runs = hb.reference_runs()
    assert [r["name"] for r in runs][:2] == ["table1-AE-seed0", "table1-AEl2-seed0"]
    assert all(r["settings"]["T"] == 100 and r["settings"]["n_train"] == 60000 and r["epochs"] == 10 for r in runs)
    for model in ("SAE-dense", "AE"):
        tiny = {"model": model, "seed": 0, "dtype": "float32", "T": 4, "batch_size": 16, "n_train": 48, "n_val": 100,
                "epochs": 2}
        seen = []
        assert hb.reference_train(tiny, epochs=1, checkpoint=tmp_path / f"{model}.ckpt",
                                  on_epoch=lambda r: seen.append(r["epoch"])) is None
        resumed = hb.reference_train(tiny, epochs=2, checkpoint=tmp_path / f"{model}.ckpt",
                                     on_epoch=lambda r: seen.append(r["epoch"]))
        whole = hb.reference_train(tiny, epochs=2, checkpoint=tmp_path / f"{model}-whole.ckpt")
        assert seen == [0, 1]
        strip = lambda h: json.dumps([{k: v for k, v in e.items() if "seconds" not in k} for e in h])  # noqa: E731 (NaN == NaN as text)
        assert strip(resumed["history"]) == strip(whole["history"]) and len(whole["history"]) == 2
        if model == "AE":
            rec = hb.reference_record({"table1-SAE-dense-seed0": dense, "table1-AE-seed0": resumed})
        else:
            dense = resumed
    assert rec["models"] == ["AE", "SAE-dense"] and [r["model"] for r in rec["table1"]] == ["AE", "SAE-dense"]
    assert rec["table1"][1]["lrec"] == pytest.approx(dense["final"]["lrec"]) and rec["table1"][1]["n_seeds"] == 1


def test_spike_backprop_reference_cells(tmp_path):
    """Roy's Table-1 MNIST and FMNIST cells at the paper's protocol; a tiny AE-ANN cell trained through
    reference_train gives the page's row shape."""
    from spikelib import data
    from spikelib.experiments import roy

    runs = roy.reference_runs()
    assert [r["name"] for r in runs] == [f"{row}-{m}" for row in ("mnist_196", "fmnist_512", "fmnist_1024")
                                         for m in ("ann", "ann_adam", "snn")]
    snn = {r["name"]: r["settings"] for r in runs}
    assert snn["mnist_196-snn"]["n_train"] == 60000 and snn["mnist_196-snn"]["trace"] == "reset"
    assert snn["fmnist_1024-snn"]["n_hidden"] == 1024 and snn["fmnist_512-ann"]["optimizer"] == "sgd"
    try:
        data.load_mnist("test")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"MNIST not available: {exc}")
    tiny = {"part": "ae_ann", "dataset": "mnist", "n_hidden": 16, "optimizer": "sgd", "lr": 0.1, "n_train": 200,
            "batch_size": 100, "epochs": 1, "weight_decay": 1e-4, "n_test": 100, "seed": 0, "n_show": 2}
    seen = []
    entry = roy.reference_train(tiny, epochs=1, checkpoint=tmp_path / "c.ckpt", on_epoch=seen.append)
    assert seen == [{"epoch": 0, "test_mse": entry["test_mse"]}] and entry["n_test"] == 100
    rec = roy.reference_record({"mnist_196-ann": entry})
    assert rec == {"table1": [{"row": "mnist_196", "model": "ann", "mse": entry["test_mse"],
                               "mse_sem": entry["test_mse_sem"]}]}
    kept = {"results": rec, "provenance": {"git_commit": "abc1234ff", "date": "2026-12-06", "deviations": "x"}}
    assert f"| mnist_196 | ann | {entry['test_mse']:.3f} ± " in roy.kept_table1(kept)
    assert "python -m spikelib reference spike_backprop" in roy.kept_table1(None)


def test_a_kept_record_of_changed_settings_is_flagged_stale(fake):
    from spikelib import scorecard

    ref, calls = fake
    ref.run()
    combined = json.loads((ref.kept_dir / "fake.json").read_text())
    assert combined["provenance"]["settings_keys"] == {c["name"]: ref.key(c) for c in ref.configs}
    assert scorecard.staleness(combined, kept=True) is None
    # the code's paper protocol moves on: Reference("fake") now builds cfg1 with another learning rate
    runs = sys.modules["fake_reference_experiment"].reference_runs
    sys.modules["fake_reference_experiment"].reference_runs = lambda: [
        {**c, "settings": {**c["settings"], "lr": 0.2}} if c["name"] == "cfg1" else c for c in runs()]
    assert reference.outdated("fake", combined["provenance"]["settings_keys"]) == ["cfg1"]
    assert "paper protocol changed since cfg1 ran" in scorecard.staleness(combined, kept=True)
    assert reference.outdated("no-such-experiment", {"x": "y"}) == []
