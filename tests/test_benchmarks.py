"""The speed benchmarks (benchmarks/*.py) run at tiny sizes and print their one JSON line.

They are timed by hand, never here (timed tests are flaky); this only checks that each script still runs
against the current package and reports the figure the README quotes, so that a refactor cannot break
them unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = [
    # script, arguments, a key path to a positive number in its JSON line
    ("alpha_mnist.py", ["--examples", "64", "--eval-examples", "0"], ("train_examples_per_s",)),
    ("alpha_mnist.py", ["--examples", "64", "--eval-examples", "20"], ("test_accuracy_after_one_pass",)),
    ("alpha_autoencoder.py", ["--examples", "70", "--eval-examples", "0"], ("train_examples_per_s",)),
    ("conv_sae.py", ["--T", "5", "--repeats", "1", "--batch-size", "4"], ("T5", "s_per_step")),
    ("roy_audiocoder.py", ["--size", "quick", "--steps", "2", "--repeats", "1"], ("seconds_per_time_step",)),
    ("host_limits.py", ["--n", "128", "--mb", "4", "--repeats", "1", "--threads", "1"],
     ("threads", "1", "matmul_gflops")),
]


@pytest.mark.parametrize("script, args, key", CASES, ids=[f"{c[0][:-3]}-{'-'.join(c[2])}" for c in CASES])
def test_benchmark_prints_one_json_line(script, args, key):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    record = json.loads(lines[-1])
    assert record["benchmark"]
    value = record
    for k in key:
        value = value[k]
    assert isinstance(value, (int, float)) and value >= 0, (key, value)
