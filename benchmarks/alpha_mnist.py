"""Train and evaluate the 784-340-10 alpha network on MNIST; print one JSON line.

The authors' C++ trains 157 examples/s on the 2-core machines CI uses (343 s per 54,000-example epoch;
shared/reference/comsa-reference-implementation.md). The issue's target there is >= 1,570 examples/s.

    python benchmarks/alpha_mnist.py --device cpu            # one 54,000-example epoch
    python benchmarks/alpha_mnist.py --backend torch         # the torch training loop instead of C
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import spikelib  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from spikelib import data, encoding
from spikelib.about import cpu_label
from spikelib.alpha import MNIST_README, evaluate, make_optimizer, train_epoch, train_step
from spikelib.alpha.training import use_c_backend
from spikelib.backend import BACKENDS, from_engine
from spikelib.alpha import _cscan
from spikelib.alpha import functional as F
from spikelib.heap import keep_freed_memory

CPP_TRAIN_EXAMPLES_PER_S = 54000 / 343  # authors' C++ on a 2-core machine, README settings


def backend_label(device: str, c_epoch: bool) -> str:
    """What ran the epoch, for the JSON line's ``backend`` field."""
    if c_epoch:
        return "c-train-epoch"
    if device == "cpu" and _cscan.available():
        return "torch + cpu-scan-kernel"
    return "torch-compiled" if F._compile_enabled else "torch-eager"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=54000, help="training examples (one pass; default a full epoch)")
    p.add_argument("--eval-examples", type=int, default=10000, help="test examples to evaluate")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--batch-size", type=int, default=MNIST_README.batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="auto", choices=list(BACKENDS),
                   help="auto/c: the C training epoch on CPU (spikelib/alpha/_train.c); torch: the torch loop")
    p.add_argument("--engine", choices=list(BACKENDS), help=argparse.SUPPRESS)  # deprecated alias of --backend
    args = p.parse_args(argv)
    heap_kept = keep_freed_memory()  # as the book's kernels and the reference runs (spikelib.heap)
    try:
        args.backend = from_engine(args.engine, args.backend)
    except ValueError as e:
        p.error(f"--engine and --backend disagree: {e}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    dtype = getattr(torch, args.dtype)
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)

    xs, ys = data.load_mnist("train")
    xt, yt = data.load_mnist("test")
    x = encoding.latency(xs[: args.examples], dtype=dtype).to(dev)
    y = torch.from_numpy(ys[: args.examples].copy()).to(dev)
    x_test = encoding.latency(xt[: args.eval_examples], dtype=dtype).to(dev)
    y_test = torch.from_numpy(yt[: args.eval_examples].copy()).to(dev)

    hp = MNIST_README.replace(batch_size=args.batch_size)
    net = hp.network(784, 10, seed=args.seed, dtype=dtype).to(dev)
    opt = make_optimizer(net, hp)
    # warm-up (kernel build / compilation) is excluded from the timing and reported separately
    t0 = time.perf_counter()
    train_step(net, opt, x[: hp.batch_size], y[: hp.batch_size], hp)
    warmup_s = time.perf_counter() - t0
    net = hp.network(784, 10, seed=args.seed, dtype=dtype).to(dev)
    opt = make_optimizer(net, hp)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed)).to(dev)
    sync()
    t0 = time.perf_counter()
    train_epoch(net, opt, x, y, hp, perm, backend=args.backend)
    sync()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = evaluate(net, x_test, y_test, batch_size=256) if len(x_test) else None  # 0: time the training only
    sync()
    eval_s = time.perf_counter() - t0

    train_rate = len(x) / train_s
    print(json.dumps({
        "benchmark": "alpha_mnist",
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if dev.type == "cuda" else cpu_label(),
        "threads": torch.get_num_threads(),
        "heap_kept": heap_kept,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "backend": backend_label(args.device, use_c_backend(args.backend, net, x)),
        "dtype": args.dtype,
        "batch_size": hp.batch_size,
        "train_examples": len(x),
        "train_examples_per_s": round(train_rate, 1),
        "seconds_per_54k_epoch": round(54000 / train_rate, 1),
        "speedup_vs_authors_cpp": round(train_rate / CPP_TRAIN_EXAMPLES_PER_S, 2),
        "eval_examples": len(x_test),
        "eval_examples_per_s": round(len(x_test) / eval_s, 1) if ev else None,
        "test_accuracy_after_one_pass": round(ev["accuracy"], 4) if ev else None,
        "warmup_s": round(warmup_s, 2),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
