"""Time Roy's online rule on the audiocoder (AC-SNN, §3.2.3) and print one JSON line.

The paper's network is 58500-2048-196 with batch 50, T = 60, 20 epochs over TI-46's 3,500 training
recordings (§3.2.1), ``trace="input"`` (:data:`spikelib.lif.audiocoder.AUDIOCODER_CONFIG`). Per time step
the gradient ``delta^T P`` (12 GFLOP) and the Adam update of the 480 MB W1 (reading and writing W1 and
its two moments: 2.9 GB) are dense, whatever the spikes are; the encoder's forward product is a sum of the
rows of the input-major W1^T of the active inputs (about 1 % of 58,500 per example here, 2 % at most with
the paper's rate; ``--dense-forward``: the 12 GFLOP dense product). So the steps are timed on random
Poisson inputs (rate 0.02 x U(0, 1) per step) and targets. The encoder's gradient and AdamW run in one C
pass where its kernel is built (``spikelib/lif/_roy.c``; ``encoder_update`` in the JSON says which ran);
``SPIKELIB_BACKEND=torch`` times the torch tiles instead (``torch.mm`` per tile, then the fused AdamW).

    python benchmarks/roy_audiocoder.py --size paper             # 10 steps per batch, 3 timed batches
    python benchmarks/roy_audiocoder.py --size quick --reference # also the code path before the buffers

``seconds_per_time_step``: min and median over ``--repeats`` batches of ``--steps`` steps (each batch
includes its Adam restart and the search of its input spikes, which a real 60-step batch spreads over
more steps); ``cpu_seconds_per_time_step``: the process's CPU time per step (all threads), the work done
whatever the other jobs on the machine take from the wall clock. ``flop_limit_s``: the matrix products
of one step (forward, gradients and ``delta2 W2``, 2 FLOP per multiply-add; the sparse forward as one
multiply-add per input spike and hidden unit; ``dense_flop_limit_s`` with the dense forward) at
``--gflops`` (194 GFLOP/s: sgemm on the 2-core CI machine). ``adam_traffic_limit_s``: AdamW's 2.9 GB at
``--stream-gbs`` (35 GB/s). ``paper_run_hours``: examples x epochs x T / batch steps (3,500 x 20 x 60 / 50
= 84,000) at the min seconds per step, training only. ``--reference`` also times the code before this
benchmark (fresh gradient per step, fresh ``torch.optim.AdamW`` per batch, W1 row-major), in a separate
process run first (in one process the allocator's state left by either path changes the other's page
faults), and says whether the weights after one batch from the same start are the same bytes (SHA-256 of
both weight matrices) and their largest difference relative to the largest weight: with
``--dense-forward`` the same bytes; with the sparse forward, whose float32 sums are added in another
order, W1 within ~1e-6 (quick size, one 10-step batch) and W2 the same. ``--row-major``: W1 stored
(n_hidden, n_in) as before ``input_major`` (RoyAdam then copies each updated tile into W1).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import spikelib  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from spikelib.about import cpu_label
from spikelib.backend import subnormals_flushed
from spikelib.heap import keep_freed_memory
from spikelib.lif import roy
from spikelib.lif.audiocoder import AUDIO_RATE, AUDIOCODER_CONFIG, audiocoder_snn
from spikelib.lif.losses import roy_error

SIZES = {"paper": (58500, 2048, 196), "quick": (5850, 1024, 196)}
PAPER_TRAIN_EXAMPLES = 3500  # TI-46 digits: 3,500 training recordings (§3.2.1)
SGEMM_GFLOPS = 194.0  # float32 matrix product on the 2-core CI machine, 2 threads
STREAM_GBS = 35.0  # STREAM bandwidth of the 2-core CI machine


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def reference_batch(net, spikes, target, *, lr: float, weight_decay: float) -> None:
    """The online rule as it was before the buffers and tiles (``trace="input"``): a fresh trace and a
    fresh gradient every step, a fresh ``torch.optim.AdamW(fused=True)`` (fresh moments) per batch."""
    w1, w2 = net.encoder.weight, net.decoder.weight
    opt = torch.optim.AdamW([w1, w2], lr=lr, eps=roy.ADAM_EPS, weight_decay=weight_decay, fused=True)
    T, B = spikes.shape[:2]
    lam, theta = 1.0 - net.leak, net.threshold
    with torch.no_grad():
        u1, u2 = w1.new_zeros(B, w1.shape[0]), w1.new_zeros(B, w2.shape[0])
        p1, p2 = w1.new_zeros(B, w1.shape[1]), w1.new_zeros(B, w2.shape[1])
        for t in range(T):
            x = spikes[t]
            v1 = (lam * u1 + x @ w1.T).clamp(max=theta)
            s1 = (v1 >= theta).to(v1.dtype)
            v2 = (lam * u2 + s1 @ w2.T).clamp(max=theta)
            s2 = (v2 >= theta).to(v2.dtype)
            p1, p2 = lam * p1 + x, lam * p2 + s1
            delta2 = -roy_error(v2, s2, target[t], theta, mask=True) / B
            delta1 = (delta2 @ w2) * roy._sigmoid_prime(v1 - theta)
            w1.grad, w2.grad = delta1.T @ p1, delta2.T @ p2
            opt.step()
            w1.grad = w2.grad = None
            u1, u2 = v1 * (1.0 - s1), v2 * (1.0 - s2)


def weights_digest(net) -> str:
    h = hashlib.sha256()
    for w in (net.encoder.weight, net.decoder.weight):
        h.update(w.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="paper", choices=list(SIZES))
    p.add_argument("--steps", type=int, default=10, help="time steps per timed batch (the paper: 60)")
    p.add_argument("--repeats", type=int, default=3, help="timed batches (after one warm-up batch)")
    p.add_argument("--batch-size", type=int, default=AUDIOCODER_CONFIG.batch_size)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--gflops", type=float, default=SGEMM_GFLOPS, help="matrix-product rate of the FLOP limit")
    p.add_argument("--stream-gbs", type=float, default=STREAM_GBS, help="memory bandwidth of the traffic limit")
    p.add_argument("--reference", action="store_true", help="also time the code path before the buffers")
    p.add_argument("--dense-forward", action="store_true",
                   help="the encoder's forward as the dense product x W1^T (sparse_input=False)")
    p.add_argument("--row-major", action="store_true",
                   help="W1 stored (n_hidden, n_in) row-major as before input_major (tiles copied into W1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-subnormals", action="store_true",
                   help="IEEE gradual underflow instead of flushing subnormals to zero as spikelib's fit does")
    p.add_argument("--only-reference", help=argparse.SUPPRESS)  # the child of --reference: where to save its weights
    args = p.parse_args(argv)
    heap_kept = keep_freed_memory()  # as the book's kernels and the reference runs (spikelib.heap)
    ref = None
    if args.reference:
        ref_weights = tempfile.NamedTemporaryFile(suffix=".pt", delete=False).name
        cmd = [sys.executable, os.path.abspath(__file__), "--only-reference", ref_weights] + [
            a for a in (argv if argv is not None else sys.argv[1:]) if a != "--reference"]
        ref = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        ref["weights"] = torch.load(ref_weights)
        os.unlink(ref_weights)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    n_in, n_hidden, n_out = SIZES[args.size]
    B, T, cfg = args.batch_size, args.steps, AUDIOCODER_CONFIG
    gen = torch.Generator().manual_seed(args.seed)
    # Poisson input at the audio rate from random cochleagram rates; random target spike maps
    spikes = (torch.rand(T, B, n_in, generator=gen) < AUDIO_RATE * torch.rand(B, n_in, generator=gen)).to(dtype)
    target = (torch.rand(T, B, n_out, generator=gen) < 0.2).to(dtype)
    # the reference: the code before, whose W1 was row-major
    input_major = not (args.row_major or args.only_reference)
    net = audiocoder_snn(n_in, n_hidden, n_out, seed=args.seed, dtype=dtype, input_major=input_major)
    sparse_input = False if args.dense_forward else None
    if args.only_reference:
        times, digest = [], None
        for _ in range(args.repeats + 1):
            t0 = time.perf_counter()
            reference_batch(net, spikes, target, lr=cfg.lr, weight_decay=cfg.weight_decay)
            times.append((time.perf_counter() - t0) / T)
            if digest is None:
                digest = weights_digest(net)
                torch.save([w.detach().clone() for w in (net.encoder.weight, net.decoder.weight)],
                           args.only_reference)
        print(json.dumps({"times": times[1:], "digest": digest, "peak_rss_mb": peak_rss_mb()}))
        return 0
    adam = roy.RoyAdam([net.encoder.weight, net.decoder.weight], lr=cfg.lr, weight_decay=cfg.weight_decay)

    cpu = []  # process CPU seconds per step of each batch (all threads): the work, whatever the contention

    def batch() -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.nullcontext() if args.keep_subnormals else subnormals_flushed():  # as roy.fit runs
            roy.online_batch(net, spikes, target, lr=cfg.lr, trace=cfg.trace, weight_decay=cfg.weight_decay,
                             adam=adam, sparse_input=sparse_input)
        cpu.append((time.process_time() - c0) / T)
        return (time.perf_counter() - t0) / T

    first_batch = batch()  # warm-up: the buffers' first touch; also the batch compared with --reference
    digest = weights_digest(net) if ref else None
    if ref:  # the largest difference from the reference's weights, relative to the largest weight
        diffs = [float((w - r).abs().max() / r.abs().max())
                 for w, r in zip((net.encoder.weight.detach(), net.decoder.weight.detach()), ref["weights"])]
    times = [batch() for _ in range(args.repeats)]
    rss = peak_rss_mb()

    dense_flops = 2 * B * (2 * n_in * n_hidden + 3 * n_hidden * n_out)  # x W1^T, delta1^T P1; s1 W2^T, delta2^T P2, delta2 W2
    sparse = roy.InputCurrent(spikes, net.encoder.weight, sparse_input).sparse
    # the sparse forward adds a row of W1^T per input spike (counted as a multiply-add, 2 FLOP)
    flops = dense_flops - (2 * B * n_in * n_hidden - 2 * float(spikes.count_nonzero()) / T * n_hidden) * sparse
    limit = flops / (args.gflops * 1e9)
    # AdamW reads and writes W1 and its two moments once per step (the gradient tile stays in cache)
    adam_bytes = 6 * n_in * n_hidden * spikes.element_size()
    steps_per_run = math.ceil(PAPER_TRAIN_EXAMPLES / cfg.batch_size) * cfg.n_steps * cfg.epochs
    out = {
        "benchmark": "roy_audiocoder",
        "size": args.size,
        "sizes": [n_in, n_hidden, n_out],
        "batch_size": B,
        "steps_per_batch": T,
        "repeats": args.repeats,
        "device": "cpu",
        "device_name": cpu_label(),
        "threads": torch.get_num_threads(),
        "heap_kept": heap_kept,
        "w1_input_major": net.encoder.weight.T.is_contiguous(),
        "encoder_update": "c" if adam.slots and adam.c_update(adam.slots[0]) else "torch tiles",
        "sparse_forward": sparse,
        "subnormals_flushed": not args.keep_subnormals,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "dtype": args.dtype,
        "seconds_per_time_step": round(min(times), 4),
        "seconds_per_time_step_median": round(statistics.median(times), 4),
        "seconds_per_time_step_all": [round(s, 4) for s in times],
        "warmup_seconds_per_time_step": round(first_batch, 4),
        "cpu_seconds_per_time_step": round(min(cpu[1:]), 4),
        "cpu_seconds_per_time_step_median": round(statistics.median(cpu[1:]), 4),
        "matmul_gflop_per_step": round(flops / 1e9, 3),
        "flop_limit_s": round(limit, 4),
        "dense_flop_limit_s": round(dense_flops / (args.gflops * 1e9), 4),
        "flop_limit_gflops": args.gflops,
        "ratio_to_flop_limit": round(min(times) / limit, 2),
        "adam_traffic_gb_per_step": round(adam_bytes / 1e9, 2),
        "adam_traffic_limit_s": round(adam_bytes / (args.stream_gbs * 1e9), 4),
        "peak_rss_mb": round(rss),
        "paper_run_steps": steps_per_run,
        "paper_run_hours": round(steps_per_run * min(times) / 3600, 2),
        "paper_run_assumption": (f"{PAPER_TRAIN_EXAMPLES} TI-46 training recordings x {cfg.epochs} epochs x "
                                 f"T={cfg.n_steps} / batch {cfg.batch_size}, training steps only, at this "
                                 f"size's seconds_per_time_step"),
    }
    if ref:
        ref_times = ref["times"]
        out.update({
            "reference_seconds_per_time_step": round(min(ref_times), 4),
            "reference_seconds_per_time_step_median": round(statistics.median(ref_times), 4),
            "speedup_vs_reference": round(min(ref_times) / min(times), 2),
            "reference_weights_identical": ref["digest"] == digest,
            "reference_max_rel_diff_w1_w2": [float(f"{d:.3g}") for d in diffs],
            "reference_peak_rss_mb": round(ref["peak_rss_mb"]),
        })
    out.update({"torch": torch.__version__, "python": sys.version.split()[0]})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
