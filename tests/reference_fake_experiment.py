"""A fake experiment for the reference runs on Dask (tests/test_sweep_dask.py): the workers import it by name.

Its 'training' appends one number per epoch to the checkpoint and leaves a marker file per call in the
settings' ``marks`` folder; a configuration with ``die_once`` kills its worker in its third epoch, once.
"""

import json
import os
import signal
import time
from pathlib import Path


def reference_runs(marks="/nonexistent"):
    return [{"name": f"cfg{i}", "epochs": 4, "deviations": "a test",
             "settings": {"seed": i, "marks": marks, "die_once": i == 1}} for i in range(3)]


def reference_train(settings, *, epochs, checkpoint, on_epoch=None):
    marks, seed = Path(settings["marks"]), settings["seed"]
    (marks / f"call-{seed}-{os.getpid()}-{time.time_ns()}").touch()
    done = json.loads(checkpoint.read_text()) if checkpoint.exists() else []
    for e in range(len(done), epochs):
        if settings["die_once"] and e == 2 and not (marks / f"died-{seed}").exists():
            (marks / f"died-{seed}").touch()
            os.kill(os.getpid(), signal.SIGKILL)  # mid-configuration, as the kernel's OOM killer would
        done.append(seed * 100 + e)
        if on_epoch:
            on_epoch({"epoch": e, "test_accuracy": 0.5})
        checkpoint.write_text(json.dumps(done))
    return {"values": done, "pid": os.getpid(), "max_test_accuracy_percent": 50.0 + seed} if epochs == 4 else None


def reference_record(entries):
    return {"best": max(entries.values(), key=lambda e: e["max_test_accuracy_percent"])}
