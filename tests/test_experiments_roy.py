"""The book's Roy et al. experiment (spikelib.experiments.roy, roy_audio): the sweep's configurations, Table 1,
the figures' runs and tables, the AE-ANN baseline, and the whole sweep on tiny synthetic data."""

import numpy as np
import pytest

from spikelib import audio, data, papers, scales, sweep
from spikelib.ann import ANNConfig
from spikelib.experiments import roy, roy_audio
from spikelib.sweep import config_key
from test_lif_roy import _bars  # the same tiny bar images


def test_ann_baselines_learn():
    train, test = _bars(400, 3), _bars(100, 4)
    for optimizer, lr in (("sgd", 0.5), ("adam", 1e-2)):
        model, result = roy.train_ae_ann(train, ANNConfig(optimizer=optimizer, lr=lr, batch_size=20, epochs=3),
                                         n_hidden=16)
        hist = result.history
        assert len(hist["mse"]) == 60
        assert roy.evaluate_ae_ann(model, test)["mean_mse"] < 0.8 * hist["mse"][0]
        # the history's mse is Table 1's z-scored metric, not the squared error
        assert hist["mse"][0] != pytest.approx(hist["loss"][0] / 64)


# ------------------------------------------------------------------ the chapter's sweep (spike_backprop)


def _smoke():
    return scales.settings("spike_backprop", "smoke")


def test_spike_backprop_configs_cover_the_figures_once():
    s = _smoke()
    stage1, stage2 = roy.spike_backprop_configs(s, seed=3)
    keys1 = [config_key(c) for c in stage1]
    assert len(set(keys1)) == len(keys1) and len({config_key(c) for c in stage2}) == len(stage2)
    assert all(c["seed"] == 3 for c in stage1 + stage2)
    snn = [c for c in stage1 if c["part"] == "ae_snn" and c["dataset"] == "mnist"]
    assert sum(c["reference"] for c in snn) == 1
    # one run per leak, mask off, one per duration: the reference serves all three panels once
    assert len(snn) == len(s["leaks"]) + 1 + len(s["durations"]) - 1
    assert {c["n_steps"] for c in snn} == set(s["durations"])
    assert len([c for c in stage1 if c["part"] == "ae_ann"]) == 2 * (1 + len(s["fmnist"]["hidden_sizes"]))
    ac_snn = [c for c in stage2 if c["part"] == "ac_snn"]
    assert sorted(c["th"] for c in ac_snn if c["dataset"] == "A") == sorted(s["audio"]["th_values"])
    assert [c["th"] for c in ac_snn if c["dataset"] == "B"] == [s["audio"]["th_b"]]
    # stage 2 reads the artifacts of stage 1 by key
    assert all(c["ae"] in keys1 for c in stage2)
    assert {stage1[keys1.index(c["ae"])]["part"] for c in stage2 if c["part"] == "ac_ann"} == {"ae_ann"}


def test_table1_rows_find_record_and_wall_times():
    s = _smoke()
    stage1, stage2 = roy.spike_backprop_configs(s)
    recs = [{"key": str(i), "config": c, "results": {"test_mse": float(i)}, "wall_s": 2.0}
            for i, c in enumerate(stage1 + stage2)]
    rows = roy.table1_rows(recs, s)
    assert [(r["row"], r["model"]) for r in rows] == [(r, m) for r in roy.TABLE1_ROWS for m in roy.TABLE1_MODELS]
    got = {(r["row"], r["model"]): r["mse"] for r in rows}
    cfg = lambda r: (stage1 + stage2)[int(r)]  # noqa: E731
    assert cfg(got["mnist_196", "snn"])["reference"] is True
    assert cfg(got["audio_a", "snn"])["th"] == s["audio"]["th_a"]
    assert cfg(got["audio_b", "snn"])["dataset"] == "B"
    assert cfg(got["fmnist_1024", "ann_adam"])["n_hidden"] == s["fmnist"]["hidden_sizes"][1]
    assert cfg(got["audio_a", "ann"])["bits"] is None and cfg(got["audio_a", "ann"])["optimizer"] == "sgd"
    assert roy.table1_rows(recs[:1], s)[1]["mse"] is None  # missing records: None, not an error
    with pytest.raises(ValueError, match="records match"):
        roy.find_record(recs, part="ac_snn")
    with pytest.raises(KeyError):
        roy.find_record(recs, part="nothing")
    times = roy.wall_times(recs)
    assert times["total"] == 2.0 * len(recs) and set(times) == {"ae_snn", "ae_ann", "ac_snn", "ac_ann", "total"}


def test_settings_rows_flatten_beside_the_reference():
    rows = roy.settings_rows({"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2]}, {"a": {"b": 5}, "e": [1, 2]})
    assert rows == [("a.b", 1, 5), ("a.c.d", 2, None), ("e", [1, 2], [1, 2])]


def test_the_whole_sweep_runs_on_tiny_data_and_reruns_for_free(tmp_path, monkeypatch):
    """Both stages through spikelib.sweep.run_sweep on synthetic images and cochleagrams; the second call
    reads the records (no recomputation)."""

    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 12)
    images = (rng.random((120, 28, 28)) * 255 * (rng.random((120, 28, 28)) < 0.3)).astype(np.uint8)
    monkeypatch.setattr(data, "load_mnist", lambda split="train": (images, labels))
    monkeypatch.setattr(data, "load_fashion_mnist", lambda split="train": (images[::-1].copy(), labels))

    def cochleagrams(split, **kw):
        n = 30 if split == "train" else 20
        return audio.Cochleagrams(data=rng.random((n, 3, 4)).astype(np.float32), digits=np.arange(n) % 10,
                                  speakers=["x"] * n, indices=np.arange(n), files=[f"{i}.wav" for i in range(n)],
                                  backend="test", settings={"sample_rate": 8000})

    monkeypatch.setattr(audio, "fsdd_cochleagrams", cochleagrams)
    roy_audio._audio_pairs.cache_clear()
    s = {"mnist": {"n_train": 20, "n_test": 10, "n_hidden": 8, "n_steps": 3, "rate_scale": 0.3, "lr": 1e-3,
                   "batch_size": 10, "epochs": 1, "weight_decay": 1e-4, "trace": "input"},
         "leaks": [0.0, 0.1], "durations": [2, 3], "eval_every": 1, "n_eval": 5,
         "fmnist": {"n_train": 10, "n_test": 5, "hidden_sizes": [4, 6], "n_steps": 3, "rate_scale": 0.5,
                    "lr": 1e-3, "batch_size": 10, "epochs": 1, "weight_decay": 1e-4, "trace": "input",
                    "eval_every": 1, "n_eval": 5},
         "ann": {"n_train_mnist": 20, "n_train_fmnist": 10, "batch_size": 10, "epochs": 1, "weight_decay": 1e-4,
                 "lr": {"mnist": {"sgd": 0.1, "adam": 5e-3}, "fmnist": {"sgd": 5e-3, "adam": 5e-3}}},
         "audio": {"backend": "test", "n_channels": 3, "n_frames": 4, "decimation": 8, "n_train": None,
                   "n_test": 10, "n_hidden": 6, "n_steps": 4, "rate_scale": 0.5, "lr": 1e-3, "batch_size": 10,
                   "epochs": 2, "weight_decay": 1e-4, "trace": "input", "th_values": [3, 1], "th_a": 3,
                   "th_b": 1, "ae_steps": 3},
         "ac_ann": {"n_hidden": 6, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 10, "epochs": 2, "bits": [1, None]},
         "n_show": 3}
    stage1, stage2 = roy.spike_backprop_configs(s)
    common = {"scale": "smoke", "device": "cpu"}
    quiet = lambda *a: None  # noqa: E731
    calls, synthesise = [], roy_audio.synthesise
    monkeypatch.setattr(roy_audio, "synthesise", lambda *a, **k: calls.append(1) or synthesise(*a, **k))
    recs = (sweep.run_sweep(roy.run_spike_backprop_config, stage1, tmp_path, common=common, on_progress=quiet)
            + sweep.run_sweep(roy.run_spike_backprop_config, stage2, tmp_path, common=common, on_progress=quiet))
    # per AC-SNN: the test set after each of its 2 epochs (the last reused for its results), the training set
    assert len(calls) == 3 * len([c for c in stage2 if c["part"] == "ac_snn"])
    rows = roy.table1_rows(recs, s)
    assert all(r["mse"] is not None and 0 <= r["mse"] <= 4 for r in rows)
    ref = roy.find_record(recs, part="ae_snn", reference=True)
    assert ref["results"]["n_test"] == 10 and len(ref["results"]["history"]["spike_mse"]) == 2
    assert [e["batch"] for e in ref["results"]["eval"]] == [1, 2]
    arr = roy.load_artifacts(roy.artifact_path(tmp_path, ref["key"]))
    assert arr["images"].shape == (3, 28, 28) and arr["reconstructions"].shape == (3, 784)
    assert roy.load_ae_snn(tmp_path, ref["key"]).sizes == (784, 8, 784)
    a3 = roy.find_record(recs, part="ac_snn", dataset="A", th=3)
    assert [e["epoch"] for e in a3["results"]["curve"]] == [1, 2] and a3["results"]["n_test"] == 10
    r3 = a3["results"]  # the audio diagnosis: rates and the decoder's ceilings on the stored maps
    assert 0 <= r3["output_rate"] <= 1 and 0 <= r3["thinned_keep"] <= 1 and 0 <= r3["ceiling_train_mse"] <= 4
    assert r3["thinned_keep"] == pytest.approx(min(1.0, r3["output_rate"] / r3["mean_target"]))
    b = roy.load_artifacts(roy.artifact_path(tmp_path, roy.find_record(recs, part="ac_snn", dataset="B")["key"]))
    assert b["synthesised"].shape == (10, 784) and list(b["digits"]) == list(range(10))
    assert not list(tmp_path.glob("*.ckpt"))
    again = sweep.run_sweep(roy.run_spike_backprop_config, stage1 + stage2, tmp_path, common=common, on_progress=quiet)
    assert [r["wall_s"] for r in again] == [r["wall_s"] for r in recs]  # read back, not recomputed
    roy_audio._audio_pairs.cache_clear()


# ------------------------------------------------------------------------------ the notebook's helpers


def _fake_records(s):
    """One record per configuration of the sweep, with distinguishable numbers."""
    stage1, stage2 = roy.spike_backprop_configs(s)
    recs = []
    for i, c in enumerate(stage1 + stage2):
        results = {"test_mse": 0.1 * i, "test_mse_sem": 0.01, "train_mse": 0.05 * i,
                   "curve": [{"epoch": 1, "test_mse": 0.1 * i + 0.5}, {"epoch": 2, "test_mse": 0.1 * i}],
                   "history": {"batch": [0, 1], "mse": [1.0, 0.5], "loss": [3.0, 2.0]}}
        recs.append({"key": str(i), "config": c, "results": results, "wall_s": 1.0})
    return recs


def test_table1_paper_and_compression_read_the_paper_values():
    assert roy.table1_paper("mnist_196", "snn") == papers.entry("roy.table1.mnist_196.snn")["printed"] == "0.357"
    for th in (15, 10, 5, 2, 1):
        e = papers.entry(f"roy.compression.th{th}")
        assert f"{roy.compression(th):.{len(e['printed'].split('.')[1]) if '.' in e['printed'] else 0}f}" == e["printed"]
    assert roy.compression(1) == 32.0


def test_figure_runs_pick_the_right_records():
    s = _smoke()
    recs = _fake_records(s)
    fig3 = roy.fig3_runs(recs, s)
    assert [label for label, _ in fig3["a"]] == [f"α = {leak:g}" for leak in s["leaks"]]
    assert all(r["config"]["n_steps"] == s["mnist"]["n_steps"] and r["config"]["mask"] for _, r in fig3["a"])
    assert [r["config"]["leak"] for _, r in fig3["a"]] == [float(x) for x in s["leaks"]]
    assert fig3["b"][0][1]["config"]["reference"] and fig3["b"][1][1]["config"]["mask"] is False
    assert [r["config"]["n_steps"] for _, r in fig3["c"]] == s["durations"]
    fig4 = roy.fig4_runs(recs)
    assert list(fig4) == list(roy.FIG4_MODELS) and fig4["AE-SNN"]["config"]["reference"]
    assert fig4["AE-ANN (Adam)"]["config"]["optimizer"] == "adam"
    fig5 = roy.fig5_runs(recs, s)
    assert len(fig5) == 6 and all(r["config"]["dataset"] == "fmnist" and r["config"]["n_hidden"] == h
                                  for (h, _, _, _), r in fig5.items())
    fig7a, fig7b, fig7c = roy.fig7_runs(recs, s)
    assert list(fig7a) == s["audio"]["th_values"] and all(r["config"]["dataset"] == "A" for r in fig7a.values())
    assert list(fig7c["sgd"]) == s["ac_ann"]["bits"] and fig7c["adam"][None]["config"]["optimizer"] == "adam"
    assert list(fig7b.values())[0] is fig7a[s["audio"]["th_a"]]
    fig8 = roy.fig8_runs(recs, s)
    assert {d: r["config"]["th"] for d, r in fig8.items()} == {"A": s["audio"]["th_b"], "B": s["audio"]["th_b"]}
    assert roy.epoch_curve(fig8["B"]) == ([1, 2], [fig8["B"]["results"]["test_mse"] + 0.5,
                                                   fig8["B"]["results"]["test_mse"]])
    assert roy.history_fields(fig4["AE-SNN"]) == {"batch": [0, 1], "mse": [1.0, 0.5]}
    assert roy.history_fields(fig4["AE-SNN"], fields=("loss", "nothing")) == {"loss": [3.0, 2.0]}


def test_fig7_table_low_bits_note_and_bits_axis():
    s = _smoke()
    recs = _fake_records(s)
    fig7a, _, fig7c = roy.fig7_runs(recs, s)
    table = roy.fig7_table(fig7a, fig7c, "smoke").splitlines()
    assert table[0] == "| panel | model | bits | test MSE | training MSE | paper | scale |"
    assert len(table) == 2 + len(fig7a) + 2 * len(s["ac_ann"]["bits"])
    assert table[2].startswith("| 7a | AC-SNN, Th = 15 | 15 | ") and table[2].endswith("| plot only | smoke |")
    full_sgd = [row for row in table if "AC-ANN (SGD), full precision" in row][0]
    assert f"| {roy.table1_paper('audio_a', 'ann')} (Table 1) |" in full_sgd and "| 32 (float) |" in full_sgd
    # in the fake records the ANNs come after the SNNs, so they score higher: the SNN wins at 1 and 2 bits
    note = roy.low_bits_note(fig7a, fig7c, s)
    assert note.startswith("At 1 bit the AC-SNN scores") and note.endswith("holds at this scale.")
    assert "; at 2 bits the AC-SNN scores" in note
    worse = {th: {**r, "results": {**r["results"], "test_mse": 9.0}} for th, r in fig7a.items()}
    assert "does not reproduce" in roy.low_bits_note(worse, fig7c, s)
    assert roy.low_bits_note({15: fig7a[15]}, fig7c, s) is None
    series, ticks = roy.bits_series(fig7a, fig7c)
    assert list(series) == ["snn", "sgd", "adam"] and series["snn"][0] == s["audio"]["th_values"]
    assert series["sgd"][0][-1] == roy.FULL_BITS and series["adam"][1] == [r["results"]["test_mse"]
                                                                           for r in fig7c["adam"].values()]
    assert ticks[-1] == (roy.FULL_BITS, "full") and ticks[0] == (1, "1")


def test_heldout_band_reads_the_late_half_of_the_curve():
    rec = {"results": {"n_batches": 100, "eval": [{"batch": b, "test_mse": m} for b, m in
                                                  ((10, 0.9), (40, 0.3), (50, 0.25), (70, 0.2), (100, 0.27))]}}
    assert roy.heldout_band(rec) == (0.2, 0.27)
    assert roy.heldout_band(rec, from_fraction=0.3) == (0.2, 0.3)
    assert roy.heldout_band({"results": {"eval": []}}) is None and roy.heldout_band(None) is None


def test_fmnist_snns_carry_their_scale_held_out_curve():
    for scale in ("smoke", "quick", "paper"):
        s = scales.settings("spike_backprop", scale, page=False)
        fm = [c for c in roy.spike_backprop_configs(s)[0] if c["part"] == "ae_snn" and c["dataset"] == "fmnist"]
        assert fm and all(c["eval_every"] == s["fmnist"]["eval_every"] > 0 and c["n_eval"] == s["fmnist"]["n_eval"]
                          for c in fm)


def test_fig5_band_note_names_each_snn_band():
    s = _smoke()
    fig5 = roy.fig5_runs(_fake_records(s), s)
    assert roy.fig5_band_note(fig5, s) == ""  # the fake records have no held-out curves
    h = s["fmnist"]["hidden_sizes"][1]
    key = (h, "AE-SNN", "snn", "fmnist_1024")
    fig5[key] = {**fig5[key], "results": {"n_batches": 4, "eval": [{"batch": 2, "test_mse": 0.3},
                                                                   {"batch": 4, "test_mse": 0.2}]}}
    note = roy.fig5_band_note(fig5, s)
    assert f"0.200-0.300 (h = {h})" in note and f"(h = {s['fmnist']['hidden_sizes'][0]})" not in note
