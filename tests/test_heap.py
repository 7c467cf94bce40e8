"""spikelib.heap: a process keeps the memory it frees in glibc's heap."""

import os
import subprocess
import sys

import pytest

from spikelib import heap

ON_GLIBC = heap.on_glibc()

# Allocate 96 MB twice (above glibc's largest automatic mmap threshold, 32 MB) and count the page faults of
# the second allocation: mapped afresh, every 4 KiB page faults as it is zeroed; from a kept heap, none.
_REALLOCATE = """
import resource, sys
from spikelib.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
b = bytearray(96 << 20); del b
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = bytearray(96 << 20); del b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in heap.GLIBC_HEAP_ENV}
    out = subprocess.run([sys.executable, "-c", _REALLOCATE, mode], env=env, check=True, capture_output=True,
                         text=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's mallopt")
def test_kept_heap_serves_a_large_block_again_without_page_faults():
    assert _faults("default") > 10_000  # 24,576 pages of 4 KiB
    assert _faults("keep") < 1_000


def test_a_variable_the_user_set_wins(monkeypatch):
    for name in heap.GLIBC_HEAP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert heap.keep_freed_memory() is False


def test_nothing_happens_off_glibc(monkeypatch):
    for name in heap.GLIBC_HEAP_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(heap, "on_glibc", lambda: False)
    assert heap.keep_freed_memory() is False


def test_glibc_is_recognised_where_python_was_linked_with_it():
    import platform

    assert heap.on_glibc() == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
