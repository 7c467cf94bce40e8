"""spikelib.sweep: grid and keys, resumable runs, failures, worker processes, executors, summary tables.

The sweep functions are defined here at module level: spawned workers import them as ``test_sweep``
(pytest puts tests/ on sys.path, and spawned processes inherit the parent's sys.path). They count their
calls with marker files in ``marks`` and misbehave on request, while a trigger file exists there.
"""

import fcntl
import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spikelib import sweep
from spikelib._io import atomic_path as real_atomic_path


def toy(config, *, marks, seed, scale=None):
    key = sweep.config_key(config)
    Path(marks, f"call-{key}-{os.getpid()}-{time.time_ns()}").touch()
    if Path(marks, f"fail-{key}").exists():
        raise ValueError(f"asked to fail {key}")
    once = Path(marks, f"fail-once-{key}")
    if once.exists():
        once.unlink()
        raise RuntimeError("transient failure")
    nap = Path(marks, f"nap-{key}")
    if nap.exists():
        nap.unlink()
        time.sleep(90)  # far longer than the tests' limits below, which allow for slow worker start-up
    kill = Path(marks, f"kill-once-{key}")
    if kill.exists():
        deadline = time.monotonic() + 60
        while calls(marks, kill.read_text()) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the config named in the file runs in the other worker
        kill.unlink()
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return {"y": config["x"] / 3, "nested": {"a": config["x"]}, "curve": [1, 2], "seed_used": seed,
            "threads": __import__("torch").get_num_threads()}


def plain(config):
    """No seed or checkpoint parameter: the sweep must not pass them."""
    return {"y": config["x"] / 3, "nested": {"a": config["x"]}, "curve": [0.5]}


def stepping(config, *, marks, checkpoint):
    """A long run that checkpoints after every step and is interrupted once at ``crash_at``."""
    ckpt = Path(checkpoint)
    step = start = int(ckpt.read_text()) if ckpt.exists() else 0
    while step < config["steps"]:
        step += 1
        Path(marks, f"step-{step}-{time.time_ns()}").touch()
        with real_atomic_path(ckpt) as tmp:
            tmp.write_text(str(step))
        if step == config["crash_at"] and Path(marks, "crash").exists():
            Path(marks, "crash").unlink()
            raise KeyError("interrupted")
    return {"resumed_from": start, "steps": step}


def calls(marks, key):
    return len(list(Path(marks).glob(f"call-{key}-*")))


@pytest.fixture(autouse=True)
def local(monkeypatch):
    """These tests run the sweeps on this machine, whatever the environment says (Dask: test_sweep_dask.py)."""
    monkeypatch.delenv("SPIKELIB_EXECUTOR", raising=False)


def quiet(done, total, key, elapsed_s):
    pass


# ------------------------------------------------------------------------ grid and keys


def test_grid_order_and_errors():
    assert sweep.grid(eta=[0.1, 0.2], hidden=range(2), dataset=("mnist",)) == [
        {"eta": 0.1, "hidden": 0, "dataset": "mnist"},
        {"eta": 0.1, "hidden": 1, "dataset": "mnist"},
        {"eta": 0.2, "hidden": 0, "dataset": "mnist"},
        {"eta": 0.2, "hidden": 1, "dataset": "mnist"},
    ]
    with pytest.raises(TypeError, match=r"eta=\[0.1\]"):
        sweep.grid(eta=0.1)
    with pytest.raises(TypeError, match="list of values"):
        sweep.grid(dataset="mnist")  # not the axis ["m", "n", ...]
    with pytest.raises(ValueError, match="'hidden' has no values"):
        sweep.grid(eta=[1], hidden=[])


def test_config_key_readable_stable_and_order_free():
    config = {"latency": 4, "eta": 0.2, "hidden": 32}
    assert sweep.config_key(config) == "eta=0.2_hidden=32_latency=4"
    assert sweep.config_key(dict(reversed(list(config.items())))) == "eta=0.2_hidden=32_latency=4"
    assert sweep.config_key({"eta": np.float64(0.2), "hidden": np.int64(32), "latency": 4}) == sweep.config_key(config)
    # Values that cannot show literally get the hash of the config (pinned: keys name existing records).
    assert sweep.config_key({"dataset": "fashion_mnist", "eta": 0.1}) == "dataset=fashion_mnist_eta=0.1_h9925497d"
    assert len({sweep.config_key({"a": v}) for v in (1, 1.0, "1", True, None, "None", [1], "a")}) == 8
    long = sweep.config_key({f"parameter_{i}": i / 7 for i in range(20)})
    assert len(long) <= sweep.MAX_READABLE + 10 and re.search(r"_h[0-9a-f]{8}$", long)
    assert sweep.config_key({}) == "empty"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
configs = st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5)


@settings(max_examples=150, deadline=None)
@given(configs, configs)
def test_config_key_is_safe_and_tells_configs_apart(a, b):
    key = sweep.config_key(a)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*", key) and len(key) <= sweep.MAX_READABLE + 10
    assert not key.endswith(".error")
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (sweep.config_key(b) == key) == same


def test_seed_from_config_or_derived():
    assert sweep.config_seed({"x": 1, "seed": 7}) == 7
    seed = sweep.config_seed({"x": 1, "y": "a"})
    assert seed == sweep.config_seed({"y": "a", "x": 1}) != sweep.config_seed({"x": 2, "y": "a"})
    assert 0 <= seed < 2**31


# ------------------------------------------------------------------------ running, resuming


def test_sweep_directory_changes_with_the_shared_settings_only(tmp_path, monkeypatch):
    from spikelib import scales

    exp = {"quick": {"n_train": 100, "grids": [{"a": [1]}]}}
    monkeypatch.setitem(scales.EXPERIMENTS, "toy_experiment", exp)
    first = sweep.sweep_directory("toy_experiment", "quick", ignore=["grids"], root=tmp_path)
    assert first.parent == tmp_path and first.name.startswith("toy_experiment_quick_")
    exp["quick"]["grids"] = [{"a": [1, 2]}]  # a bigger grid keeps the finished records
    assert sweep.sweep_directory("toy_experiment", "quick", ignore=["grids"], root=tmp_path) == first
    exp["quick"]["n_train"] = 200  # other data: a fresh directory, nothing stale is reused
    assert sweep.sweep_directory("toy_experiment", "quick", ignore=["grids"], root=tmp_path) != first


def test_records_and_no_recomputation(tmp_path, marks, capsys):
    directory = tmp_path / "sweep"
    configs = sweep.grid(x=[1, 2, 3])
    records = sweep.run_sweep(toy, configs, directory, common={"marks": str(marks), "scale": "smoke"})
    keys = ["x=1", "x=2", "x=3"]
    assert [r["key"] for r in records] == keys
    assert sorted(p.name for p in directory.iterdir()) == [".sweep.lock", *(f"{k}.json" for k in keys)]
    rec = json.loads((directory / "x=2.json").read_text())
    assert rec == records[1]
    assert rec["status"] == "ok" and rec["config"] == {"x": 2} and rec["scale"] == "smoke"
    assert rec["results"]["y"] == pytest.approx(2 / 3) and rec["results"]["seed_used"] == sweep.config_seed({"x": 2})
    assert rec["seed"] == sweep.config_seed({"x": 2}) and rec["wall_s"] >= 0 and rec["attempt"] == 1
    assert rec["sweep"] == "sweep" and rec["common"] == {"marks": str(marks), "scale": "smoke"}
    assert rec["provenance"]["params"] == {"x": 2} and rec["provenance"]["scale"] == "smoke"
    out = capsys.readouterr().out
    assert "[sweep] 3 of 3 configs to run" in out and re.search(r"\[sweep\] 3/3 x=3: ok in .*ETA 0\.0s", out)

    # Again, with one more config: only that one runs; the finished ones are read back unchanged.
    progress = []
    again = sweep.run_sweep(toy, sweep.grid(x=[1, 2, 3, 4]), directory, common={"marks": str(marks), "scale": "smoke"},
                            on_progress=lambda *a: progress.append(a))
    assert again[:3] == records and again[3]["key"] == "x=4"
    assert [calls(marks, k) for k in [*keys, "x=4"]] == [1, 1, 1, 1]
    assert [(done, total, key) for done, total, key, _ in progress] == [(4, 4, "x=4")]


def test_key_collision_and_scale_change_are_errors(tmp_path, marks):
    common = {"marks": str(marks), "scale": "smoke"}
    sweep.run_sweep(toy, [{"x": 1}], tmp_path, common=common, on_progress=quiet)
    path = tmp_path / "x=1.json"
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "config": {"x": 1, "other": True}}))
    with pytest.raises(ValueError, match=r"holds config .*'other'.*same key 'x=1'"):
        sweep.run_sweep(toy, [{"x": 1}, {"x": 2}], tmp_path, common=common, on_progress=quiet)
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="computed at scale 'smoke', this sweep runs at 'quick'"):
        sweep.run_sweep(toy, [{"x": 1}], tmp_path, common={**common, "scale": "quick"}, on_progress=quiet)
    assert calls(marks, "x=1") == 1 and calls(marks, "x=2") == 0  # checked before anything ran
    with pytest.raises(ValueError, match="configs repeat: x=2"):
        sweep.run_sweep(toy, [{"x": 2}, {"x": np.int64(2)}], tmp_path, common=common)


def test_interrupted_write_leaves_a_temp_file_that_is_removed(tmp_path, marks):
    (tmp_path / ".x=1.json.abc123.tmp").write_text('{"config": {"x": 1}, "stat')  # cut off mid-write
    (tmp_path / "x=1.ckpt").write_text("stale")
    sweep.run_sweep(toy, [{"x": 1}], tmp_path, common={"marks": str(marks)}, on_progress=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sweep.lock", "marks", "x=1.json"]
    assert calls(marks, "x=1") == 1


def test_checkpoint_resumes_an_interrupted_config(tmp_path, marks):
    (marks / "crash").touch()
    config = {"steps": 5, "crash_at": 3}
    key = sweep.config_key(config)
    with pytest.raises(sweep.SweepError) as info:
        sweep.run_sweep(stepping, [config], tmp_path / "s", common={"marks": str(marks)}, on_progress=quiet)
    assert list(info.value.failed) == [key]
    assert (tmp_path / "s" / f"{key}.ckpt").read_text() == "3" and not (tmp_path / "s" / f"{key}.json").exists()
    (rec,) = sweep.run_sweep(stepping, [config], tmp_path / "s", common={"marks": str(marks)}, on_progress=quiet)
    assert rec["results"] == {"resumed_from": 3, "steps": 5}
    assert len(list(marks.glob("step-*"))) == 5  # no step ran twice
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [".sweep.lock", f"{key}.json"]


def test_failures_are_recorded_reported_and_rerun(tmp_path, marks, capsys):
    (marks / "fail-x=2").touch()
    common = {"marks": str(marks)}
    with pytest.raises(sweep.SweepError) as info:
        sweep.run_sweep(toy, sweep.grid(x=[1, 2, 3]), tmp_path, common=common)
    err = info.value
    assert err.failed == {"x=2": tmp_path / "x=2.error.json"}
    assert "1 of 3 configs" in str(err) and "x=2: ValueError: asked to fail x=2" in str(err)
    assert isinstance(err.__cause__, ValueError)  # in-process: the original exception, for debugging
    assert [r["key"] for r in err.records] == ["x=1", "x=3"]
    error = json.loads((tmp_path / "x=2.error.json").read_text())
    assert error["status"] == "failed" and error["config"] == {"x": 2}
    assert "Traceback" in error["traceback"] and "asked to fail" in error["traceback"]
    assert not (tmp_path / "x=2.json").exists()
    assert "2/3 x=2: FAILED (ValueError: asked to fail x=2)" in capsys.readouterr().out
    assert [r["key"] for r in sweep.load_sweep(tmp_path)] == ["x=1", "x=3"]

    (marks / "fail-x=2").unlink()
    records = sweep.run_sweep(toy, sweep.grid(x=[1, 2, 3]), tmp_path, common=common, on_progress=quiet)
    assert [r["key"] for r in records] == ["x=1", "x=2", "x=3"]
    assert [calls(marks, k) for k in ("x=1", "x=2", "x=3")] == [1, 2, 1]
    assert not (tmp_path / "x=2.error.json").exists()


def test_retries(tmp_path, marks):
    (marks / "fail-once-x=1").touch()
    (rec,) = sweep.run_sweep(toy, [{"x": 1}], tmp_path, common={"marks": str(marks)}, retries=1, on_progress=quiet)
    assert rec["attempt"] == 2 and calls(marks, "x=1") == 2


def test_writes_are_atomic(tmp_path, marks, monkeypatch):
    targets = []

    def recording(target):
        targets.append(Path(target).name)
        return real_atomic_path(target)

    import spikelib._io

    monkeypatch.setattr(spikelib._io, "atomic_path", recording)  # every record goes through it
    (marks / "fail-x=2").touch()
    with pytest.raises(sweep.SweepError):
        sweep.run_sweep(toy, sweep.grid(x=[1, 2]), tmp_path, common={"marks": str(marks)}, on_progress=quiet)
    assert targets == ["x=1.json", "x=2.error.json"]
    # Results that JSON cannot hold fail before anything is written.
    with pytest.raises(sweep.SweepError, match="cannot store object"):
        sweep.run_sweep(lambda c: {"v": object()}, [{"x": 3}], tmp_path, on_progress=quiet)
    assert not (tmp_path / "x=3.json").exists() and not list(tmp_path.glob(".*.tmp"))


def test_only_one_sweep_per_directory(tmp_path, marks):
    with open(tmp_path / sweep.LOCK_NAME, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="another sweep is running"):
            sweep.run_sweep(toy, [{"x": 1}], tmp_path, common={"marks": str(marks)}, on_progress=quiet)
    assert calls(marks, "x=1") == 0


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="not a notebook's or script's __main__"):
        sweep.run_sweep(lambda c: {}, [{"x": 1}], tmp_path, workers=2)
    with pytest.raises(ValueError, match="must not set seed"):
        sweep.run_sweep(plain, [{"x": 1}], tmp_path, common={"seed": 1})
    with pytest.raises(ValueError, match="workers must be >= 1, or 0"):
        sweep.run_sweep(plain, [{"x": 1}], tmp_path, workers=-1)


@pytest.mark.parametrize("value", ["tcp//10.0.0.5:8786", "tcp://10.0.0.5", "http://10.0.0.5:8786", "tcp://:8786",
                                   "tcp://10.0.0.5:port", "10.0.0.5:8786", "tcp://10.0.0.5:8786/x", "dask"])
def test_a_malformed_executor_is_refused_before_anything_runs(tmp_path, marks, monkeypatch, value):
    monkeypatch.setenv("SPIKELIB_EXECUTOR", value)
    with pytest.raises(ValueError, match=rf"SPIKELIB_EXECUTOR={re.escape(repr(value))} is not a Dask scheduler "
                                         r"address: expected tcp://host:port"):
        sweep.run_sweep(toy, [{"x": 1}], tmp_path / "s", common={"marks": str(marks)})
    assert not (tmp_path / "s").exists() and calls(marks, "x=1") == 0
    with pytest.raises(ValueError, match=r"executor='tcp:/h:1' \(as SPIKELIB_EXECUTOR\) is not"):
        sweep.run_sweep(toy, [{"x": 1}], tmp_path / "s", executor="tcp:/h:1")


def test_local_executor_and_a_missing_dask(tmp_path, marks, monkeypatch):
    monkeypatch.setenv("SPIKELIB_EXECUTOR", " local ")
    (rec,) = sweep.run_sweep(toy, [{"x": 1}], tmp_path, common={"marks": str(marks)}, on_progress=quiet)
    assert rec["provenance"]["executor"] == "local"
    host, pid = rec["provenance"]["worker"].rsplit(":", 1)
    assert host and int(pid) == os.getpid()
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"SPIKELIB_EXECUTOR=tcp://127.0.0.1:8786 needs Dask distributed.*"
                                          r"pip install -e '.\[cluster\]'"):
        sweep.run_sweep(toy, [{"x": 2}], tmp_path, common={"marks": str(marks)}, executor="tcp://127.0.0.1:8786")
    assert calls(marks, "x=2") == 0 and not (tmp_path / "x=2.error.json").exists()


def test_zero_workers_means_one_per_core(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # two cores: worker processes, which a lambda cannot run in
    with pytest.raises(ValueError, match="not a notebook's or script's __main__"):
        sweep.run_sweep(lambda c: {}, [{"x": 1}], tmp_path / "a", workers=0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one core: in this process
    (rec,) = sweep.run_sweep(lambda c: {"y": c["x"]}, [{"x": 1}], tmp_path / "b", workers=0)
    assert rec["results"] == {"y": 1}


# ------------------------------------------------------------------------ worker processes


def _comparable(record):
    return {k: record[k] for k in ("key", "config", "results", "seed", "status", "scale")}


def test_two_workers_give_the_same_records_as_one(tmp_path, marks):
    configs = sweep.grid(x=[1, 2, 3, 4])
    common = {"marks": str(marks), "scale": "smoke"}
    parallel = sweep.run_sweep(toy, configs, tmp_path / "a", workers=2, threads_per_worker=1, common=common,
                               on_progress=quiet)
    serial = sweep.run_sweep(toy, configs, tmp_path / "b", workers=1, threads_per_worker=1, common=common,
                             on_progress=quiet)
    assert [_comparable(r) for r in parallel] == [_comparable(r) for r in serial]
    assert all(r["threads"] == 1 and r["results"]["threads"] == 1 for r in parallel)
    assert {r["provenance"]["executor"] for r in parallel} == {"local"}
    assert f"{socket.gethostname()}:{os.getpid()}" not in {r["provenance"]["worker"] for r in parallel}
    pids = {int(p.name.split("-")[2]) for p in marks.glob("call-*")}
    assert len(pids) >= 2 and os.getpid() in pids  # the parallel calls ran in other processes


def test_a_killed_worker_fails_its_configs_and_the_rest_carry_on(tmp_path, marks):
    # x=1 kills its worker while x=2 runs (sleeping) in the other one: the pool breaks under both.
    (marks / "kill-once-x=1").write_text("x=2")
    (marks / "nap-x=2").touch()
    configs = sweep.grid(x=[1, 2, 3, 4])
    common = {"marks": str(marks)}
    t0 = time.monotonic()
    with pytest.raises(sweep.SweepError) as info:
        sweep.run_sweep(toy, configs, tmp_path, workers=2, common=common, on_progress=quiet)
    assert time.monotonic() - t0 < 60  # x=2's worker was stopped, not waited for
    assert set(info.value.failed) == {"x=1", "x=2"}
    assert [r["key"] for r in info.value.records] == ["x=3", "x=4"]  # run by a fresh pool
    for key in ("x=1", "x=2"):
        error = json.loads((tmp_path / f"{key}.error.json").read_text())["error"]
        assert "a worker process died" in error and "x=1, x=2" in error
        assert not (tmp_path / f"{key}.json").exists()
    records = sweep.run_sweep(toy, configs, tmp_path, common=common, on_progress=quiet)
    assert [r["results"]["y"] for r in records] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3])
    assert [calls(marks, f"x={x}") for x in (1, 2, 3, 4)] == [2, 2, 1, 1]
    assert not list(tmp_path.glob("*.error.json"))


def test_an_interrupt_stops_the_workers(tmp_path, marks):
    (marks / "nap-x=2").touch()

    def interrupt(done, total, key, elapsed_s):
        # x=1 can finish before the second worker process has even started x=2; interrupt only once x=2
        # is running, which is the case under test (a worker killed mid-config)
        deadline = time.monotonic() + 30
        while not list(marks.glob("call-x=2-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise KeyboardInterrupt  # as Ctrl-C, or a notebook's interrupt, arriving in the parent

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(toy, sweep.grid(x=[1, 2]), tmp_path, workers=2, common={"marks": str(marks)},
                        on_progress=interrupt)
    assert time.monotonic() - t0 < 60
    (napper,) = [int(p.name.split("-")[2]) for p in marks.glob("call-x=2-*")]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{napper}").exists() and Path(f"/proc/{napper}/stat").read_text().split()[2] not in "ZX":
        assert time.monotonic() < deadline, "the worker running x=2 is still alive"
        time.sleep(0.05)
    assert not (tmp_path / "x=2.json").exists()
    sweep.run_sweep(toy, [{"x": 3}], tmp_path, common={"marks": str(marks)}, on_progress=quiet)  # lock released


# ------------------------------------------------------------------------ summary


def test_summary_and_markdown(tmp_path):
    records = sweep.run_sweep(plain, sweep.grid(x=[2, 1, 10], tag=["a"]), tmp_path, on_progress=quiet)
    rows = sweep.summary(tmp_path)
    assert list(rows[0]) == ["x", "tag", "y", "nested.a", "wall_s"]  # config, scalar results, wall time
    assert [r["x"] for r in rows] == [1, 2, 10]  # sorted by value, not by key ("x=10" < "x=2")
    assert rows[0]["y"] == pytest.approx(1 / 3) and rows[0]["nested.a"] == 1
    assert [r["x"] for r in sweep.summary(records, ["x"])] == [2, 1, 10]  # records keep their order
    assert sweep.summary_markdown(tmp_path, ["tag", "x", "y", "nested.a", "key"], digits=3) == (
        "| tag | x | y | nested.a | key |\n"
        "|---|---:|---:|---:|---|\n"
        "| a | 1 | 0.333 | 1 | tag=a_x=1 |\n"
        "| a | 2 | 0.667 | 2 | tag=a_x=2 |\n"
        "| a | 10 | 3.33 | 10 | tag=a_x=10 |\n"
    )
    with pytest.raises(KeyError, match="no column 'mse'.*available: .*nested.a"):
        sweep.summary(tmp_path, ["x", "mse"])
    (tmp_path / "x=5.error.json").write_text(json.dumps({"status": "failed", "config": {"x": 5}}))
    assert len(sweep.summary(tmp_path)) == 3  # error records are not results
