"""spikelib.reference: resumable, budgeted paper-protocol runs kept in book/paper_runs (issue #19)."""

from __future__ import annotations

import dataclasses
import json
import sys
import types

import numpy as np
import pytest

from spikelib import reference, results, scales


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
    # a budget too small for anything after the first chunk (under a budget one epoch, to learn its cost):
    # the first call stops inside cfg0
    clock = iter([0.0, 0.0, 0.0] + [1000.0] * 20)  # deadline, first config, first chunk; then time is up
    monkeypatch.setattr(reference.time, "monotonic", lambda: next(clock))
    assert ref.run(budget_s=60, chunk=2) == []
    assert [s["epochs_done"] for s in ref.status()] == [1, 0]
    # what the last epoch gave, for --status between sessions
    assert ref.status()[0]["last_epoch"] == {"epoch": 0.0, "test_accuracy": 0.5}
    lines = reference.status_text(ref.status()).splitlines()
    assert lines[0].startswith("cfg0: 1/5 epochs (after epoch 1: test_accuracy 0.5), ") and " h left" in lines[0]
    assert lines[1] == "cfg1: 0/5 epochs"
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
    assert combined["provenance"]["machines"] == [rec["provenance"]["machine"]["cpu"]]
    # the combined record describes the configurations as the code does now, once, not as of a run's day
    assert combined["provenance"]["deviations"] == "a test"
    monkeypatch.setattr(ref, "configs", [{**c, "deviations": "now two rules"} for c in ref.configs])
    combined = json.loads(ref.write_combined().read_text())
    assert combined["provenance"]["deviations"] == "now two rules"
    assert results.load_paper_runs(ref.kept_dir)["fake"]["scale"] == "paper"
    assert ref.run() == [] and len(calls) == 10  # finished: nothing recomputed


def test_only_takes_commas_and_an_unknown_name_runs_nothing(fake):
    ref, calls = fake
    with pytest.raises(ValueError, match="no configuration cfg9.*choose from: cfg0, cfg1"):
        ref.run(only=["cfg0,cfg9"])
    assert calls == []
    assert ref.run(only=["cfg1,"]) == ["cfg1"] and {s for s, _ in calls} == {1}


def test_only_runs_in_the_order_given(fake):
    ref, calls = fake
    assert ref.run(only=["cfg1", "cfg0", "cfg1"]) == ["cfg1", "cfg0"]
    assert [seed for seed, _ in calls] == [1] * 5 + [0] * 5


def test_an_interrupted_chunk_is_counted_per_epoch(fake):
    ref, calls = fake
    CRASH_AT.add(3)
    with pytest.raises(KeyboardInterrupt):
        ref.run(chunk=25)
    assert [s["epochs_done"] for s in ref.status()] == [3, 0]
    assert ref.run() == ["cfg0", "cfg1"]
    assert calls == [(0, e) for e in range(5)] + [(1, e) for e in range(5)]
    assert json.loads(ref.record_path("cfg0").read_text())["provenance"]["commits"] == {"abc123": 5}


def test_an_interrupted_epoch_keeps_its_wall_time(fake, monkeypatch):
    # a run stopped by Ctrl-C in the middle of an epoch resumes from that epoch's last checkpoint, so the
    # time spent on it counts; the clock ticks 10 s per reading
    ref, calls = fake
    clock = iter(range(0, 10000, 10))
    monkeypatch.setattr(reference.time, "perf_counter", lambda: float(next(clock)))
    CRASH_AT.add(3)
    with pytest.raises(KeyboardInterrupt):
        ref.run(chunk=25)
    prog = json.loads((ref.work_dir / "fake-cfg0.progress.json").read_text())
    # chunk start at 0, epochs 0-2 reported at 10, 20, 30, interrupted at 40
    assert prog["epochs_done"] == 3 and prog["wall_s"] == 40.0


def test_an_epoch_redone_from_an_older_checkpoint_is_credited_once(fake):
    # Roy's fit checkpoints every 50 batches, not at every epoch's end: an interrupted run may resume from
    # before the last epoch it reported, redo that epoch and report it again
    ref, calls = fake
    CRASH_AT.add(3)
    with pytest.raises(KeyboardInterrupt):
        ref.run(chunk=25)
    ckpt = ref.work_dir / "fake-cfg0.ckpt"
    ckpt.write_text(json.dumps(json.loads(ckpt.read_text())[:2]))  # epoch 2 never reached the checkpoint
    assert ref.run() == ["cfg0", "cfg1"]
    assert calls[:6] == [(0, 0), (0, 1), (0, 2), (0, 2), (0, 3), (0, 4)]
    assert json.loads(ref.record_path("cfg0").read_text())["provenance"]["commits"] == {"abc123": 5}


def test_names_with_dots_keep_their_own_checkpoints(fake):
    ref, calls = fake
    for c, name in zip(ref.configs, ("eta0.2", "eta0.4")):
        c["name"] = name
    assert ref.run() == ["eta0.2", "eta0.4"]
    assert calls == [(0, e) for e in range(5)] + [(1, e) for e in range(5)]  # neither resumed the other's file
    assert [s["epochs_done"] for s in ref.status()] == [5, 5]
    assert sorted(p.name for p in ref.work_dir.iterdir()) == [
        "fake-eta0.2.ckpt", "fake-eta0.2.progress.json", "fake-eta0.4.ckpt", "fake-eta0.4.progress.json"]


def test_changed_settings_are_not_finished(fake):
    ref, calls = fake
    ref.run()
    ref.configs[0]["settings"]["lr"] = 0.2
    assert [s["kept"] for s in ref.status()] == [False, True]
    assert [s["epochs_done"] for s in ref.status()] == [0, 5]  # the old progress file is not counted


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
        try:
            ref = reference.Reference(name)
        except FileNotFoundError as err:  # the autoencoder runs read the authors' sets from the shared folder
            pytest.skip(str(err))
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
    """Roy's Table-1 cells at the paper's protocol; a tiny AE-ANN cell trained through reference_train gives
    the page's row shape."""
    from spikelib import data
    from spikelib.experiments import roy_reference as roy
    from spikelib.sweep import config_key

    runs = roy.reference_runs()
    assert [r["name"] for r in runs] == [f"{row}-{m}" for row in ("mnist_196", "fmnist_512", "fmnist_1024")
                                         for m in ("ann", "ann_adam", "snn", "snn_code_trace")] + [
        "audio_a-snn", "audio_b-snn"]
    snn = {r["name"]: r["settings"] for r in runs}
    assert snn["mnist_196-snn"]["n_train"] == 60000 and snn["mnist_196-snn"]["trace"] == "reset"
    assert snn["fmnist_1024-snn"]["n_hidden"] == 1024 and snn["fmnist_512-ann"]["optimizer"] == "sgd"
    assert snn["mnist_196-snn_code_trace"] == {**snn["mnist_196-snn"], "trace": "input"}
    # the audiocoders at §3.2.3's protocol, on the frozen AE of the code's trace that each run names by key
    a, b = snn["audio_a-snn"], snn["audio_b-snn"]
    assert (a["dataset"], a["th"], b["dataset"], b["th"]) == ("A", 15, "B", 10)
    assert (a["n_hidden"], a["n_channels"] * a["n_frames"], a["n_steps"], a["lr"], a["epochs"]) == (
        2048, 58500, 60, 5e-5, 20)
    assert a["ae_settings"] == snn["mnist_196-snn_code_trace"] and a["ae"] == config_key(a["ae_settings"])
    assert {r["name"]: r["epochs"] for r in runs}["audio_b-snn"] == 20
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
    assert f"| mnist_196 | ANN (SGD) | {entry['test_mse']:.3f} ± " in roy.kept_table1(kept)
    assert "python -m spikelib reference spike_backprop" in roy.kept_table1(None)
    # an SNN run keeps its held-out curve: the table gives its lowest point and its end
    snn = {"test_mse": 0.3, "test_mse_sem": 0.01,
           "eval": [{"batch": 50, "test_mse": 0.25}, {"batch": 100, "test_mse": 0.2}, {"batch": 150, "test_mse": 0.31}]}
    rec = roy.reference_record({"fmnist_512-snn": snn})
    assert rec["table1"][0]["heldout"] == {"min": 0.2, "batch": 100, "last": 0.31}
    text = roy.kept_table1({"results": rec, "provenance": kept["provenance"]})
    assert "| 0.200 at batch 100, 0.310 at the end |" in text


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


# ------------------------------------------------------------- Comsa et al. 2021b, Fig. 3 (spiking autoencoders)


def _tiny_autoencoder_runs(cref):
    """Two of the page's reference configurations cut to a few images and 2 epochs (the same code path)."""
    runs = [r for r in cref.reference_runs() if r["name"] in ("snn-h32-l1-eta0", "ann-h32-eta0")]
    for r in runs:
        r["epochs"] = r["settings"]["epochs"] = 2
        r["settings"].update(n_train=48, n_val=16, n_test=24, n_examples=3)
    return runs


@pytest.fixture
def cae_tiny(monkeypatch):
    from spikelib import data
    from spikelib.experiments import comsa_autoencoders as cae
    from spikelib.experiments import comsa_autoencoders_reference as cref

    if data.find_shared(cae.HYPERPARAMETERS_CSV) is None:
        pytest.skip(f"{cae.HYPERPARAMETERS_CSV} not in the shared folder")
    if not all((data.data_dir() / "mnist" / n).is_file() for n in data.SHA256["mnist"]):
        pytest.skip("MNIST not cached; run `python -m spikelib data`")
    runs = _tiny_autoencoder_runs(cref)
    monkeypatch.setattr(cref, "reference_runs", lambda: [dict(r, settings=dict(r["settings"])) for r in runs])
    return cref, runs


def _without_times(entry):
    """An entry without its wall-clock fields (the only ones two identical runs may differ in)."""
    return {k: v for k, v in entry.items() if k != "seconds_per_epoch"}


@pytest.mark.parametrize("model", ["snn", "ann"])
def test_autoencoder_reference_resumes_to_the_uninterrupted_run(cae_tiny, tmp_path, model):
    cref, runs = cae_tiny
    settings = next(r["settings"] for r in runs if r["settings"]["model"] == model)
    seen = []
    # one epoch, then resumed to the configuration's last from the checkpoint
    assert cref.reference_train(settings, epochs=1, checkpoint=tmp_path / "a.ckpt", on_epoch=seen.append) is None
    resumed = cref.reference_train(settings, epochs=2, checkpoint=tmp_path / "a.ckpt", on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [0, 1]  # the second call trained epoch 1 only
    whole = cref.reference_train(settings, epochs=2, checkpoint=tmp_path / "b.ckpt")
    # bitwise: the same float values, JSON-equal (one thread, the same batches, Adam state restored)
    assert json.dumps(_without_times(resumed), sort_keys=True) == json.dumps(_without_times(whole), sort_keys=True)
    assert resumed["epochs"] == 2 and len(resumed["val_mse_history"]) == 2 and 0 <= resumed["best_epoch"] <= 1
    assert resumed["test_mse_over_mean_image"] == pytest.approx(resumed["test_mse"] / resumed["mean_image_error"])
    images = cref.decode_examples(resumed["examples"]["reconstructions"])
    assert images.shape == (3, 28, 28) and 0.0 <= images.min() <= images.max() <= 1.0
    inputs = cref.decode_examples(resumed["examples"]["inputs"])
    assert inputs.shape == (3, 28, 28) and inputs.max() > 0.5  # digits: bright strokes


def test_autoencoder_reference_run_keeps_records(cae_tiny, tmp_path, monkeypatch):
    cref, runs = cae_tiny
    monkeypatch.setattr(results, "git_state", lambda *a, **k: ("abc1234def", False))
    ref = reference.Reference("spiking_autoencoders", kept_dir=tmp_path / "kept", work_dir=tmp_path / "work")
    assert [c["name"] for c in ref.configs] == ["ann-h32-eta0", "snn-h32-l1-eta0"]
    assert ref.run(chunk=1) == ["ann-h32-eta0", "snn-h32-l1-eta0"]
    for name in ("ann-h32-eta0", "snn-h32-l1-eta0"):
        path = ref.record_path(name)
        rec = json.loads(path.read_text())
        assert rec["scale"] == "paper" and rec["provenance"]["commits"] == {"abc1234def": 2}
        assert path.stat().st_size < 100_000
    combined = results.load_paper_runs(ref.kept_dir)["spiking_autoencoders"]
    snn, ann_ = combined["results"]["fig3"]
    assert (snn["model"], ann_["model"]) == ("snn", "ann") and snn["eta"] == 0.0 == ann_["eta"]
    assert snn["snn_over_ann"] == pytest.approx(snn["test_mse"] / ann_["test_mse"]) and ann_["snn_over_ann"] is None
    rows = cref.kept_fig3_rows(combined)
    assert len(rows) == 2 and all("paper (kept paper-protocol run, commit abc1234" in r for r in rows)
    assert ref.run() == []  # kept: nothing recomputed


def test_autoencoder_reference_runs_are_the_paper_protocol():
    from spikelib import data
    from spikelib.experiments import comsa_autoencoders as cae
    from spikelib.experiments import comsa_autoencoders_reference as cref

    if data.find_shared(cae.HYPERPARAMETERS_CSV) is None:
        pytest.skip(f"{cae.HYPERPARAMETERS_CSV} not in the shared folder")
    runs = cref.reference_runs()
    paper = reference.Reference("spiking_autoencoders").configs
    assert runs == paper and len(runs) == 10
    assert [r["settings"]["model"] for r in runs] == ["ann"] * 5 + ["snn"] * 5
    assert [r["settings"]["eta"] for r in runs[5:]] == list(cae.ETAS)  # eta = 0 first
    s = scales.settings("spiking_autoencoders", "paper", page=False)
    for r in runs:
        st = r["settings"]
        assert r["epochs"] == st["epochs"] == s["epochs"] == 100
        assert (st["n_train"], st["n_val"], st["n_test"]) == (s["n_train"], s["n_val"], s["n_test"]) == (54000, 6000, 10000)
        assert st["hidden"] == 32 and st["dataset"] == "mnist"
        if st["model"] == "snn":
            assert st["latency"] == 1
            assert st["hyperparameters"] == dataclasses.asdict(cae.autoencoder_hyperparameters(st["eta"], 1, 32))
        else:
            assert st["activation"] == "relu-sigmoid" and not st["inverted"]


def _kept_autoencoder_record(n_examples=3):
    """A kept record as ``reference`` writes it, of three made-up finished configurations: the ANN and the
    spiking network at eta = 0, the spiking network alone at eta = 0.2 (sizes differ: the note takes the largest)."""
    from spikelib.experiments import comsa_autoencoders_reference as cref

    rng = np.random.default_rng(0)

    def entry(model, eta, n_train, examples_seed):
        imgs = np.random.default_rng(examples_seed).integers(0, 256, (2, n_examples, 784)).astype(np.uint8)
        return {"model": model, "dataset": "mnist", "eta": eta, "hidden": 32, "latency": 1 if model == "snn" else None,
                "test_mse": float(rng.uniform(0.02, 0.05)), "mean_image_error": 0.0635,
                "test_mse_over_mean_image": 0.5, "best_epoch": 1, "epochs": 4,
                "val_mse_history": [0.06, 0.03, 0.04, 0.05], "n_train": n_train, "n_val": 6000, "n_test": 10000,
                "examples": {"inputs": cref.encode_examples(imgs[0]), "reconstructions": cref.encode_examples(imgs[1])}}

    entries = {"ann-h32-eta0": entry("ann", 0.0, 54000, 1), "snn-h32-l1-eta0": entry("snn", 0.0, 54000, 2),
               "snn-h32-l1-eta0.2": entry("snn", 0.2, 50000, 3)}
    return {"results": cref.reference_record(entries),
            "provenance": {"git_commit": "abc1234def", "date": "2027-01-02T03:04:05", "deviations": "one seed"}}


def test_examples_round_trip():
    from spikelib.experiments import comsa_autoencoders_reference as cref

    imgs = np.arange(2 * 784).reshape(2, 784) % 256
    assert np.array_equal(cref.decode_examples(cref.encode_examples(imgs)), imgs.reshape(2, 28, 28) / 255.0)
    assert cref.decode_examples([]).shape == (0, 28, 28)


def test_kept_fig3_note(monkeypatch):
    from spikelib.experiments import comsa_autoencoders_reference as cref

    monkeypatch.setattr(cref, "reference_runs", lambda: [{}] * 10)
    paper = {"n_train": 54000, "n_val": 6000, "n_test": 10000, "epochs": 100}
    note = cref.kept_fig3_note(_kept_autoencoder_record(), paper)
    assert note.startswith("\n\nRows at scale *paper (kept paper-protocol run, ...)*")
    assert "(3 of its 10 configurations finished)" in note
    assert "54,000 training images, 4 epochs" in note and "6,000 validation images, tested on 10,000" in note
    assert "(the paper: 54,000 / 6,000 / 10,000, 100 epochs)" in note and "(0.0635)" in note
    assert note.endswith("How it differs from the paper: one seed.")
    assert cref.kept_fig3_note(None, paper) == "\n\n" + cref.NOT_KEPT


def test_kept_examples_mosaic():
    from spikelib.experiments import comsa_autoencoders_reference as cref

    kept = _kept_autoencoder_record(n_examples=3)
    mosaic, labels = cref.kept_examples_mosaic(kept)
    assert labels == ["η = 0: input (SNN)", "η = 0: snn", "η = 0: ann", "η = 0.2: input (SNN)", "η = 0.2: snn"]
    assert mosaic.shape == (5 * 30, 3 * 30)
    cfg = kept["results"]["configs"]
    ann_recon = cref.decode_examples(cfg["ann-h32-eta0"]["examples"]["reconstructions"])
    assert np.array_equal(mosaic[61:89, 31:59], ann_recon[1])  # row 3, image 2, inside its one-pixel frame
    assert np.all(mosaic[60, :] == 0.5) and np.all(mosaic[:, 30] == 0.5)


def test_kept_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikelib.experiments import comsa_autoencoders_reference as cref

    kept = _kept_autoencoder_record()
    fig = cref.kept_curves_figure(kept)
    snn, ann_ = fig.axes[:2]
    assert "snn" in snn.get_title() and "ann" in ann_.get_title()
    assert len(snn.lines) == 2 * 2 + 1 and len(ann_.lines) == 2 + 1  # a curve and a best-epoch dot per eta, the floor
    dot = snn.lines[1]
    assert list(dot.get_xdata()) == [2] and list(dot.get_ydata()) == [0.03]  # best epoch 1, counted from 1
    assert fig._suptitle.get_text() == "kept paper-protocol run (scale paper, commit abc1234, 2027-01-02)"
    plt.close(fig)
    fig = cref.kept_examples_figure(kept)
    assert fig.axes[0].get_title().startswith("first 3 test images: kept paper-protocol run")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "η = 0.2: snn"
    plt.close(fig)
    fig, ax = plt.subplots()
    cref.draw_kept_fig3_points(ax, kept["results"]["fig3"], "mnist", "red")
    assert [(ln.get_marker(), ln.get_linestyle(), list(ln.get_xdata())) for ln in ax.lines] == [
        ("*", "None", [0.0, 0.2]), ("P", "None", [0.0])]
    cref.draw_kept_fig3_points(ax, kept["results"]["fig3"], "fmnist", "red")
    assert len(ax.lines) == 2  # no FMNIST points kept
    plt.close(fig)


def test_spike_backprop_audiocoder_reference_resumes(tmp_path):
    """An AC-SNN reference run trains its frozen AE once, stops after the epochs asked (None), resumes to the
    same weights as one call, and its row carries the rate diagnosis and the per-epoch test curve."""
    from spikelib import data
    from spikelib.experiments import roy, roy_audio, roy_reference
    from spikelib.sweep import config_key

    try:
        data.load_mnist("test")
        stage1, stage2 = roy.spike_backprop_configs(scales.settings("spike_backprop", "smoke", page=False))
        ae = {**stage1[0], "n_train": 200, "trace": "input"}
        cfg = {**next(c for c in stage2 if c["part"] == "ac_snn" and c["dataset"] == "A"), "epochs": 2,
               "n_train": 20, "n_test": 10, "ae": config_key(ae), "ae_settings": ae}
        roy_audio.audio_pairs(cfg)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"MNIST or FSDD not available: {exc}")
    seen = []
    parts, whole = tmp_path / "parts", tmp_path / "whole"
    parts.mkdir(), whole.mkdir()
    assert roy_reference.reference_train(cfg, epochs=1, checkpoint=parts / "a.ckpt", on_epoch=seen.append) is None
    assert roy.artifact_path(parts, cfg["ae"]).exists() and [r["epoch"] for r in seen] == [0]
    resumed = roy_reference.reference_train(cfg, epochs=2, checkpoint=parts / "a.ckpt", on_epoch=seen.append)
    once = roy_reference.reference_train(cfg, epochs=2, checkpoint=whole / "a.ckpt")
    assert [r["epoch"] for r in seen] == [0, 1]
    # every epoch reports its evaluation, the last of a part too (fit evaluates before on_epoch)
    assert [r["eval"]["batch"] for r in seen] == [1, 2] and seen[1]["eval"]["test_mse"] == once["curve"][1]["test_mse"]
    assert resumed["test_mse"] == once["test_mse"] and resumed["curve"] == once["curve"]
    assert [c["epoch"] for c in once["curve"]] == [1, 2] and all(0 <= c["output_rate"] <= 1 for c in once["curve"])
    row = roy_reference.reference_record({"audio_a-snn": once})["table1"][0]
    assert (row["row"], row["model"], row["mse"]) == ("audio_a", "snn", once["test_mse"])
    best = min(once["curve"], key=lambda c: c["test_mse"])
    assert row["heldout"]["epoch"] == best["epoch"] and row["output_rate"] == once["output_rate"]
    text = roy_reference.kept_table1({"results": {"table1": [row]}, "provenance": {"git_commit": "abc1234ff"}})
    assert f"against its targets' {once['mean_target']:.3f}" in text and "| 0.254 |" in text
    assert f"at epoch {best['epoch']}, " in text
