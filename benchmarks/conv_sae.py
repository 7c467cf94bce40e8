"""Seconds per training step of the regularised convolutional SAE (Hübotter et al. 2021); one JSON line.

The authors' code needs 26-39 s per step (batch 64, T = 100) and 5.5-7.8 s at T = 25 on the 2-core machines
CI uses (shared/reference/lif-reference-implementations.md); the issue's target is at least 3x faster.
A step is: Poisson encoding, forward, SAE-dense loss (Lrec + P2 + A1 of the latent layer), backward,
gradient clipping, Adam, on the first 64 MNIST training images. The median of ``--repeats`` steps after
one warm-up step is reported, with the CPU time per step (robust when other jobs share the cores), the
load average before and after, and the peak resident memory of the process. With the C kernel each row
also splits its step (medians): ``kernel_forward_s`` and ``kernel_backward_s``, the wall time inside the
kernel's two entry points, and ``other_s``, the rest (Poisson encoding, losses, layout copies, clipping,
Adam).

    python benchmarks/conv_sae.py                      # T = 100 and T = 25, CPU kernel
    python benchmarks/conv_sae.py --backend torch      # the dense torch reference path (slow on a CPU)
    python benchmarks/conv_sae.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import spikelib  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from spikelib import data
from spikelib.about import cpu_label
from spikelib.backend import subnormals_flushed
from spikelib.experiments import huebotter as hb
from spikelib.heap import keep_freed_memory
from spikelib.lif import _sae_kernel
from spikelib.lif import conv_sae as cs
from spikelib.lif import sae_training as st

AUTHORS_S_PER_STEP = {100: (26.0, 39.0), 25: (5.5, 7.8)}  # 2 CPU cores, batch 64


class KernelClock:
    """Wall seconds spent in ``_sae_kernel.forward`` and ``backward`` while the clock is installed (the
    model calls them as module attributes, so wrapping the two names times every call)."""

    def __init__(self):
        self.seconds = {"forward": 0.0, "backward": 0.0}
        self._orig = {}

    def _timed(self, name, fn):
        def call(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[name] += time.perf_counter() - t0
        return call

    def __enter__(self):
        for name in self.seconds:
            self._orig[name] = getattr(_sae_kernel, name)
            setattr(_sae_kernel, name, self._timed(name, self._orig[name]))
        return self

    def __exit__(self, *exc):
        for name, fn in self._orig.items():
            setattr(_sae_kernel, name, fn)

    def take(self) -> tuple[float, float]:
        """(forward, backward) seconds since the last take."""
        out = (self.seconds["forward"], self.seconds["backward"])
        self.seconds = {"forward": 0.0, "backward": 0.0}
        return out


def time_steps(T: int, args, x: torch.Tensor) -> dict:
    cfg = hb.resolve_config({"model": args.model, "T": T, "batch_size": args.batch_size})
    model = st.make_model(cfg, seed=0, device=args.device)
    opt = st.make_optimizer(model, cfg)
    gen = torch.Generator(device=args.device).manual_seed(0)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    wall, cpu, fwd, bwd = [], [], [], []
    with KernelClock() as clock:
        for i in range(args.repeats + 1):
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            with subnormals_flushed():  # as sae_training.fit runs its steps
                st.train_step(model, opt, x, cfg, gen, backend=args.backend)
            sync()
            f, b = clock.take()
            if i:  # the first step builds/loads the kernel and warms the allocator
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                fwd.append(f)
                bwd.append(b)
    s = statistics.median(wall)
    row = {"s_per_step": round(s, 4), "cpu_s_per_step": round(statistics.median(cpu), 4),
           "all_s": [round(w, 3) for w in wall]}
    if any(fwd):  # the C kernel ran (not the torch path)
        row.update(kernel_forward_s=round(statistics.median(fwd), 4),
                   kernel_backward_s=round(statistics.median(bwd), 4),
                   other_s=round(statistics.median(w - f - b for w, f, b in zip(wall, fwd, bwd)), 4))
    if T in AUTHORS_S_PER_STEP and args.device == "cpu":
        lo, hi = AUTHORS_S_PER_STEP[T]
        row["speedup_vs_authors"] = [round(lo / s, 1), round(hi / s, 1)]
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--T", type=int, nargs="+", default=[100, 25])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--model", default="SAE-dense", help="a Table-1 name (spikelib.experiments.huebotter.MODELS)")
    p.add_argument("--backend", default="auto", choices=["auto", "c", "torch", "kernel"],
                   help="auto, c (the C kernel) or torch; kernel: deprecated alias of c")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args(argv)
    heap_kept = keep_freed_memory()  # as the book's kernels and the reference runs (spikelib.heap)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    xs, _ = data.load_mnist("train")
    x = cs.as_images(xs[: args.batch_size]).to(args.device)
    load_before = os.getloadavg()[0]
    rows = {f"T{T}": time_steps(T, args, x) for T in args.T}
    probe = cs.ConvSAE(10, seed=None).to(args.device)
    out = {
        "benchmark": "conv_sae_train_step",
        "model": args.model,
        "batch_size": args.batch_size,
        "backend": probe.backend(args.backend) if args.model.lower().startswith("sae") else "torch",
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": cpu_label(),
        "threads": torch.get_num_threads(),
        "heap_kept": heap_kept,
        **rows,
        "authors_s_per_step": {f"T{k}": list(v) for k, v in AUTHORS_S_PER_STEP.items()},
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.device == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
