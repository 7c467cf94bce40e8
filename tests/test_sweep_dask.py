"""spikelib.sweep on Dask: a real scheduler and two worker processes on 127.0.0.1 (a LocalCluster).

The workers have their own data and build caches and temp dir (``worker_home``), as a cluster node has.
The sweep function is defined here at module level: the workers import it as ``test_sweep_dask`` (they are
spawned processes, which inherit pytest's sys.path). It counts its calls with marker files in ``marks``.
"""

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from spikelib import _cbuild, data_fetch, sweep, sweep_executors

distributed = pytest.importorskip(
    "distributed", reason="Dask distributed (the 'cluster' extra: pip install -e '.[cluster]') is not installed")


def job(config, *, marks, checkpoint):
    """Leaves a checkpoint and an artifact beside ``checkpoint``; reads the artifact of the config it ``uses``."""
    key = sweep.config_key(config)
    Path(marks, f"call-{key}-{os.getpid()}-{time.time_ns()}").touch()
    checkpoint = Path(checkpoint)
    checkpoint.write_text(f"state of {key}")
    (checkpoint.parent / f"{key}.txt").write_text(f"artifact of {key}")
    time.sleep(config.get("nap", 0))
    died = Path(marks, f"died-{key}")
    if config.get("die_once") and not died.exists():
        died.touch()
        os.kill(os.getpid(), signal.SIGKILL)  # mid-config, as the kernel's OOM killer would
    return {"y": 2 * config["x"], "checkpoint": str(checkpoint), "pid": os.getpid(),
            "used": (checkpoint.parent / f"{config['uses']}.txt").read_text() if "uses" in config else None,
            "data_dir": str(data_fetch.data_dir()), "build_dir": str(_cbuild.build_dir())}


def calls(marks, key):
    """The pids that ran config ``key``, in the order they started it."""
    stamps = sorted(p.name.split("-")[-2:][::-1] for p in Path(marks).glob(f"call-{key}-*"))
    return [int(pid) for _, pid in sorted((int(ns), pid) for ns, pid in stamps)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, the workers' home folder)."""
    home = tmp_path_factory.mktemp("worker_home")
    (home / "tmp").mkdir()
    env = {"SPIKELIB_DATA": str(home / "data"), "SPIKELIB_CACHE": str(home / "build"), "TMPDIR": str(home / "tmp")}
    # no dashboard; the scheduler's other HTTP routes (health, metrics) on a free loopback port, not 8787
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  env=env) as c:
        yield c.scheduler_address, home


def test_a_sweep_runs_on_the_workers_and_the_driver_records_it(cluster, tmp_path, marks, monkeypatch):
    address, home = cluster
    monkeypatch.setenv("SPIKELIB_EXECUTOR", address)
    directory, configs = tmp_path / "sweep", sweep.grid(x=[1, 2, 3])
    records = sweep.run_sweep(job, configs, directory, common={"marks": str(marks)}, name="s")
    keys = ["x=1", "x=2", "x=3"]
    assert [r["key"] for r in records] == keys and [r["results"]["y"] for r in records] == [2, 4, 6]
    for r in records:
        assert r["provenance"]["executor"] == f"dask {address}"
        host, pid = r["provenance"]["worker"].rsplit(":", 1)
        assert host == socket.gethostname() and int(pid) == r["results"]["pid"] != os.getpid()
        assert r["threads"] == 1  # Dask's nanny gives each worker OMP_NUM_THREADS=1
        # the worker checkpointed into its own temp dir, used its own caches, and cleaned up after itself
        assert Path(r["results"]["checkpoint"]).is_relative_to(home / "tmp" / "spikelib-sweeps")
        assert not Path(r["results"]["checkpoint"]).parent.exists()
        assert (r["results"]["data_dir"], r["results"]["build_dir"]) == (str(home / "data"), str(home / "build"))
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [".sweep.lock", *(f"{k}.json" for k in keys), *(f"{k}.txt" for k in keys)])  # artifacts, no checkpoints
    assert (directory / "x=2.txt").read_text() == "artifact of x=2"
    assert json.loads((directory / "x=2.json").read_text()) == records[1]

    # Resuming recomputes nothing; a stage that names a finished config gets its files, and kept
    # checkpoints come back to the driver.
    progress = []
    stage2 = [{"x": 10, "uses": "x=1"}]
    again = sweep.run_sweep(job, configs + stage2, directory, common={"marks": str(marks)}, keep_checkpoints=True,
                            on_progress=lambda *a: progress.append(a))
    assert again[:3] == records and [len(calls(marks, k)) for k in keys] == [1, 1, 1]
    assert [key for _, _, key, _ in progress] == [sweep.config_key(stage2[0])] == [again[3]["key"]]
    assert again[3]["results"]["used"] == "artifact of x=1"
    assert (directory / f"{again[3]['key']}.ckpt").read_text() == f"state of {again[3]['key']}"


def test_a_dead_worker_reruns_its_config_elsewhere_and_each_is_recorded_once(cluster, tmp_path, marks):
    address, _ = cluster
    configs = [{"x": x, "nap": 0.2, **({"die_once": True} if x == 3 else {})} for x in range(1, 7)]
    keys = [sweep.config_key(c) for c in configs]
    progress = []
    t0 = time.monotonic()
    records = sweep.run_sweep(job, configs, tmp_path / "s", common={"marks": str(marks)}, executor=address,
                              on_progress=lambda *a: progress.append(a))
    assert time.monotonic() - t0 < 20
    assert [r["key"] for r in records] == keys and all(r["status"] == "ok" for r in records)
    assert sorted(key for _, _, key, _ in progress) == sorted(keys)  # each finished once: none lost, none twice
    assert [done for done, _, _, _ in progress] == list(range(1, 7))
    assert sorted(p.name for p in (tmp_path / "s").glob("*.json")) == sorted(f"{k}.json" for k in keys)
    killed, rerun = calls(marks, keys[2])  # the first call died with its worker, the second finished
    assert records[2]["results"]["pid"] == rerun != killed
    assert [len(calls(marks, k)) for k in keys] == [1, 1, 2, 1, 1, 1]


def test_a_worker_at_another_commit_is_refused(cluster, tmp_path, marks, monkeypatch):
    address, _ = cluster
    if sweep.git_state()[0] is None:
        pytest.skip("not a git checkout: records carry no commit to compare")
    monkeypatch.setattr(sweep, "git_state", lambda: ("0" * 40, False))  # the driver's checkout moved on
    with pytest.raises(sweep.SweepError, match=r"runs commit [0-9a-f]{12}, the driver 000000000000"):
        sweep.run_sweep(job, [{"x": 1}], tmp_path, common={"marks": str(marks)}, executor=address,
                        on_progress=lambda *a: None)
    assert not (tmp_path / "x=1.json").exists() and (tmp_path / "x=1.error.json").exists()


def test_an_unreachable_scheduler_is_reported_in_seconds_and_nothing_runs(tmp_path, marks, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(sweep_executors, "CONNECT_TIMEOUT_S", 2.0)
    monkeypatch.setenv("SPIKELIB_EXECUTOR", address)
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match=f"SPIKELIB_EXECUTOR={address}: no Dask scheduler answered at "
                                              f"{address} within 2 s"):
        sweep.run_sweep(job, [{"x": 1}], tmp_path / "s", common={"marks": str(marks)})
    assert time.monotonic() - t0 < 10
    assert not calls(marks, "x=1") and sorted(p.name for p in (tmp_path / "s").iterdir()) == [".sweep.lock"]


def test_reference_runs_on_the_workers_and_a_dead_worker_reruns_its_configuration(cluster, tmp_path, marks,
                                                                                   monkeypatch):
    """`SPIKELIB_EXECUTOR=tcp://... python -m spikelib reference <exp>` (#15): each configuration is a task; the
    driver keeps each record once, also when the worker that ran one died mid-configuration."""
    import reference_fake_experiment as fake

    from spikelib import reference, results

    commit, dirty = results.git_state()
    if not commit or dirty:
        pytest.skip("reference runs (and their workers) need a committed checkout")
    address, home = cluster
    monkeypatch.setitem(reference.EXPERIMENTS, "fake", "reference_fake_experiment")
    ref = reference.Reference("fake", kept_dir=tmp_path / "kept", work_dir=tmp_path / "work")
    ref.configs = fake.reference_runs(str(marks))
    assert sorted(ref.run(executor=address)) == ["cfg0", "cfg1", "cfg2"]
    for c in ref.configs:
        rec = json.loads(ref.record_path(c["name"]).read_text())
        seed = c["settings"]["seed"]
        assert rec["results"]["values"] == [seed * 100 + e for e in range(4)]
        assert rec["provenance"]["executor"] == f"dask {address}" and rec["provenance"]["git_commit"] == commit
        host, pid = rec["provenance"]["worker"].rsplit(":", 1)
        assert int(pid) == rec["results"]["pid"] != os.getpid()
        assert socket.gethostname() not in json.dumps(rec) and host.startswith("host-")  # the book names no machine
    pids = sorted(p.name for p in marks.glob("call-1-*"))
    assert len(pids) == 2 and (marks / "died-1").exists()  # cfg1 ran twice: its first worker died in epoch 3
    assert all(len(list(marks.glob(f"call-{i}-*"))) == 1 for i in (0, 2))
    combined = json.loads((tmp_path / "kept" / "fake.json").read_text())
    assert combined["results"]["best"]["max_test_accuracy_percent"] == 52.0
    assert combined["provenance"]["reference_runs"] == ["cfg0", "cfg1", "cfg2"]
    # the workers trained in their own temp dir, not in the driver's work_dir
    assert not (tmp_path / "work").exists() and (home / "tmp" / "spikelib-reference" / "fake").is_dir()
    assert ref.run(executor=address) == []  # all kept: nothing is sent again
    assert len(list(marks.glob("call-*"))) == 4
