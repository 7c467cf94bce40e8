"""Fixtures shared by the test modules."""

from pathlib import Path

import pytest

import spikelib  # noqa: F401  (imported first: sets OMP_WAIT_POLICY before any test imports torch)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # read-only project material; ../shared in CI too


@pytest.fixture
def shared_dir() -> Path:
    """The ``../shared`` folder beside the repository; skips the test where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not found")
    return SHARED
