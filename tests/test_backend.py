"""spikelib.backend: one vocabulary (auto/c/torch) and one place that resolves it."""

import pytest
import torch

from spikelib import backend as B
from spikelib.alpha import _cscan


class FakeKernel:
    """A stand-in CKernel: ``ok`` says whether it builds."""

    what = "fake kernel"
    switch = "SPIKELIB_FAKE_KERNEL"

    def __init__(self, ok=True):
        self.ok = ok
        self.failed = None if ok else "no compiler (fake)"

    def library(self):
        return object() if self.ok else None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("SPIKELIB_BACKEND", FakeKernel.switch):
        monkeypatch.delenv(var, raising=False)


def test_auto_picks_c_where_it_can_run_and_torch_elsewhere():
    k = FakeKernel()
    assert B.resolve_backend("auto", kernel=k, device="cpu", dtype=torch.float32) == "c"
    assert B.resolve_backend(None, kernel=k) == "c"
    assert B.resolve_backend("auto", kernel=k, dtype=torch.float16) == "torch"
    assert B.resolve_backend("auto", kernel=k, device="meta") == "torch"
    assert B.resolve_backend("auto", kernel=FakeKernel(ok=False)) == "torch"
    assert B.resolve_backend("auto", kernel=None) == "torch"  # a family without a C path
    assert B.resolve_backend("torch", kernel=k) == "torch"


@pytest.mark.parametrize("kw, why", [
    ({"kernel": None}, "no C implementation"),
    ({"kernel": FakeKernel(ok=False)}, "no compiler \\(fake\\).*install a C compiler"),
    ({"kernel": FakeKernel(), "dtype": torch.float16}, "float32 and float64"),
    ({"kernel": FakeKernel(), "device": "meta"}, "CPU only"),
])
def test_explicit_c_that_cannot_run_says_why_and_the_fix(kw, why):
    with pytest.raises(RuntimeError, match=f"backend='c'.*{why}.*backend='torch'"):
        B.resolve_backend("c", what="the test", **kw)


def test_environment_sets_what_auto_means_but_an_argument_wins(monkeypatch):
    k = FakeKernel()
    monkeypatch.setenv("SPIKELIB_BACKEND", "torch")
    assert B.resolve_backend("auto", kernel=k) == "torch"
    assert B.resolve_backend("c", kernel=k) == "c"
    monkeypatch.setenv("SPIKELIB_BACKEND", "c")
    assert B.resolve_backend("auto", kernel=k) == "c"
    assert B.resolve_backend("torch", kernel=k) == "torch"
    with pytest.raises(RuntimeError, match="SPIKELIB_BACKEND=c.*unset SPIKELIB_BACKEND"):
        B.resolve_backend("auto", kernel=FakeKernel(ok=False))
    monkeypatch.setenv("SPIKELIB_BACKEND", "gpu")
    with pytest.raises(ValueError, match="SPIKELIB_BACKEND='gpu' is not a backend"):
        B.resolve_backend("auto", kernel=k)


def test_old_spellings_still_work_and_warn(monkeypatch):
    k = FakeKernel()
    with pytest.warns(DeprecationWarning, match="backend='c'"):
        assert B.resolve_backend("kernel", kernel=k) == "c"
    monkeypatch.setenv(FakeKernel.switch, "0")
    with pytest.warns(DeprecationWarning, match="SPIKELIB_BACKEND=torch"):
        assert B.resolve_backend("auto", kernel=k) == "torch"
    with pytest.warns(DeprecationWarning, match="use backend="):
        assert B.from_engine("torch", "auto") == "torch"
    assert B.from_engine(None, "c") == "c"
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="disagree"):
        B.from_engine("torch", "c")


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="'auto', 'c', 'torch'.*'gpu'"):
        B.check_backend("gpu")


def test_the_real_scan_kernel_follows_the_environment(monkeypatch):
    if _cscan.KERNEL.library() is None:
        pytest.skip(f"no C compiler: {_cscan.KERNEL.failed}")
    assert _cscan.available()
    monkeypatch.setenv("SPIKELIB_BACKEND", "torch")
    assert not _cscan.available()


# ------------------------------------------------------------------------------------- subnormal floats

TINY32 = 1e-40  # a float32 subnormal (float32's smallest normal is 1.2e-38)


def test_subnormals_are_flushed_inside_and_restored_after():
    assert not B.subnormals_are_flushed()  # IEEE gradual underflow is the process default
    x = torch.tensor([1e-30], dtype=torch.float32)
    assert (x * 1e-10).item() > 0.0
    with B.subnormals_flushed():
        assert B.subnormals_are_flushed()
        assert (x * 1e-10).item() == 0.0  # the subnormal result is flushed
        assert (torch.tensor([TINY32]) * 1.0).item() == 0.0
        with B.subnormals_flushed():  # nested: the inner exit keeps the outer mode
            pass
        assert B.subnormals_are_flushed()
    assert not B.subnormals_are_flushed()
    assert (x * 1e-10).item() > 0.0


def test_subnormals_flushed_as_a_decorator_restores_on_errors_and_recursion():
    @B.subnormals_flushed()
    def depth(n):
        assert B.subnormals_are_flushed()
        if n == 0:
            raise RuntimeError("bottom")
        return depth(n - 1)

    with pytest.raises(RuntimeError, match="bottom"):
        depth(3)
    assert not B.subnormals_are_flushed()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_kernels_flush_subnormals_and_restore_the_callers_mode(dtype):
    """W0(z) = z for tiny z: a C call sees a subnormal z as 0 (FLUSH_SUBNORMALS, spikelib/_kernel.h), and
    the calling thread's mode is what it was, whichever it was."""
    if _cscan.library() is None:
        pytest.skip(f"no C kernel here: {_cscan.KERNEL.failed}")
    tiny = TINY32 if dtype == torch.float32 else 1e-310
    z = torch.tensor([tiny, 1e-3, 0.0], dtype=dtype)
    w = _cscan.lambertw0(z)
    assert w[0].item() == 0.0 and w[1].item() == pytest.approx(1e-3 - 1e-6, rel=1e-5) and w[2].item() == 0.0
    assert not B.subnormals_are_flushed()
    with B.subnormals_flushed():
        assert _cscan.lambertw0(z)[0].item() == 0.0
        assert B.subnormals_are_flushed()
    assert not B.subnormals_are_flushed()
