"""Fixtures shared by the test modules."""

import os
from pathlib import Path

import pytest

# torch.compile of the spike-time kernels costs ~20 s per process: the suite (and the notebooks it runs)
# use the kernels eagerly; test_alpha_functional.py::test_compiled_matches_eager turns it on.
os.environ.setdefault("SPIKELIB_COMPILE", "0")

import spikelib  # noqa: E402,F401  (imported first: sets OMP_WAIT_POLICY before any test imports torch)

ROOT = Path(__file__).resolve().parents[1]
# read-only project material: $SPIKELIB_SHARED as the library reads it, else ../shared (CI too)
SHARED = Path(os.environ.get("SPIKELIB_SHARED") or ROOT.parent / "shared")


@pytest.fixture
def shared_dir() -> Path:
    """The ``../shared`` folder beside the repository; skips the test where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not found")
    return SHARED


@pytest.fixture
def marks(tmp_path):
    """An empty folder for the marker files the sweep tests' functions leave (test_sweep, test_sweep_dask)."""
    path = tmp_path / "marks"
    path.mkdir()
    return path
