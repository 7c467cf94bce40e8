"""This machine's limits for the speed targets: float32 matrix-product rate and memory bandwidth; one JSON line.

The README states each benchmark's figure beside a limit of the machine: the float32 matrix product
(``torch.mm`` of two n x n matrices, 2 n^3 FLOP) and the STREAM bandwidth (a copy counts its bytes read and
written, a triad ``a = b + s c`` three arrays). The guide's 2-core Zen 4 host gave 194 GFLOP/s on 2 threads
and ~35 GB/s; the Zen 3 host without AVX-512 144 GFLOP/s. Run it on an idle machine: the best of
``--repeats`` runs is reported, so another job on the cores lowers the figures.

    python benchmarks/host_limits.py                  # 2,048^3 products, 256 MB arrays
    python benchmarks/host_limits.py --threads 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import time

import spikelib  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from spikelib.about import cpu_label


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first-touch page faults, thread start
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_gflops(n: int, repeats: int) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    out = torch.empty(n, n)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b, out=out), repeats) / 1e9


def stream_gbs(mb: int, repeats: int) -> dict[str, float]:
    n = mb * 2**20 // 4
    a, b, c = torch.zeros(n), torch.rand(n), torch.rand(n)
    copy = 2 * 4 * n / best_seconds(lambda: a.copy_(b), repeats) / 1e9
    triad = 3 * 4 * n / best_seconds(lambda: torch.add(b, c, alpha=3.0, out=a), repeats) / 1e9
    return {"copy": round(copy, 1), "triad": round(triad, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    p.add_argument("--n", type=int, default=2048, help="matrix size of the product")
    p.add_argument("--mb", type=int, default=256, help="size of each STREAM array (well above the L3)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    before = torch.get_num_threads()
    rows = {}
    try:
        for t in dict.fromkeys(args.threads):
            torch.set_num_threads(t)
            rows[str(t)] = {"matmul_gflops": round(matmul_gflops(args.n, args.repeats), 1),
                            "stream_gbs": stream_gbs(args.mb, args.repeats)}
    finally:
        torch.set_num_threads(before)
    print(json.dumps({"benchmark": "host_limits", "cpu": cpu_label(), "cores": os.cpu_count(),
                      "n": args.n, "array_mb": args.mb, "threads": rows,
                      "load_avg_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
