"""Train a 784-32-784 spiking autoencoder (Comsa et al. 2021b) on MNIST for one pass; print one JSON line.

The authors' C++ takes about 70 s per 54,000-example epoch for 784-32-784 at latency 1 on the 2-core
machines CI uses (771 examples/s; shared/reference/comsa-reference-implementation.md). Default: their
hyperparameter set for eta = 0, l = 1, h = 32 (batch size 7, 10 pulses per layer).

    python benchmarks/alpha_autoencoder.py                       # one 54,000-example epoch
    python benchmarks/alpha_autoencoder.py --examples 5000 --eta 0.8
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import spikelib  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
import torch

from spikelib.about import cpu_label
from spikelib.alpha import _cscan
from spikelib.alpha import autoencoder as ae
from spikelib.alpha import functional as F
from spikelib.alpha import make_optimizer
from spikelib.alpha.training import use_c_backend
from spikelib.backend import BACKENDS
from spikelib.experiments import comsa_autoencoders as cae
from spikelib.heap import keep_freed_memory

CPP_EXAMPLES_PER_S = 54000 / 70  # authors' C++, 784-32-784, latency 1, 2 cores


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=54000, help="training examples (one pass; default a full epoch)")
    p.add_argument("--eval-examples", type=int, default=10000, help="test examples to evaluate")
    p.add_argument("--eta", type=float, default=0.0)
    p.add_argument("--latency", type=int, default=1)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fmnist"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, choices=list(BACKENDS),
                   help="auto (default): the C training epoch on CPU (spikelib/alpha/_train.c); c: it or an "
                        "error; torch: the torch loop")
    p.add_argument("--engine", default=None, choices=list(BACKENDS), help=argparse.SUPPRESS)  # old name
    args = p.parse_args(argv)
    heap_kept = keep_freed_memory()  # as the book's kernels and the reference runs (spikelib.heap)
    if args.engine is not None:
        if args.backend not in (None, args.engine):
            p.error(f"--engine {args.engine} and --backend {args.backend} disagree; pass --backend only")
        print("--engine is deprecated; use --backend", file=sys.stderr)
    backend = args.backend or args.engine or "auto"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    dtype, dev = getattr(torch, args.dtype), torch.device(args.device)
    hp = cae.autoencoder_hyperparameters(args.eta, args.latency, args.hidden)
    d = cae.load_autoencoder_data(args.dataset, eta=args.eta, n_train=args.examples, n_val=0,
                                  n_test=args.eval_examples, dtype=dtype)
    x, target = d.train.x.to(dev), d.train.target.to(dev)

    # warm-up (kernel build / compilation) is excluded from the timing and reported separately
    net = hp.network(seed=args.seed, dtype=dtype).to(dev)
    t0 = time.perf_counter()
    ae.autoencoder_train_step(net, make_optimizer(net, hp), x[:hp.batch_size], target[:hp.batch_size], hp)
    warmup_s = time.perf_counter() - t0

    net = hp.network(seed=args.seed, dtype=dtype).to(dev)
    opt = make_optimizer(net, hp)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    total = ae.train_autoencoder_epoch(net, opt, x, target, hp, order, backend=backend)
    sync()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = (ae.evaluate_autoencoder(net, d.test.x.to(dev), d.test.target.to(dev), hp.latency)
          if len(d.test.x) else None)  # --eval-examples 0: time the training only
    sync()
    eval_s = time.perf_counter() - t0

    if use_c_backend(backend, net, x):
        ran_on = "c-train-epoch"
    else:
        ran_on = "torch + cpu-scan-kernel" if dev.type == "cpu" and _cscan.available() else (
            "torch-compiled" if F._compile_enabled else "torch-eager")
    print(json.dumps({
        "benchmark": "alpha_autoencoder",
        "network": f"784-{args.hidden}-784",
        "set": {"eta": args.eta, "latency": args.latency, "hidden": args.hidden, "batch_size": hp.batch_size,
                "n_pulses": hp.n_pulses},
        "dataset": args.dataset,
        "device": args.device,
        "cpu": cpu_label(),
        "dtype": args.dtype,
        "backend": ran_on,
        "threads": torch.get_num_threads(),
        "heap_kept": heap_kept,
        "train_examples": len(x),
        "train_s": round(train_s, 3),
        "train_examples_per_s": round(len(x) / train_s, 1),
        "seconds_per_54000_epoch": round(54000 * train_s / len(x), 1),
        "speedup_vs_cpp": round(len(x) / train_s / CPP_EXAMPLES_PER_S, 2),
        "train_mse_running": round(total["loss"] / total["n"], 5),
        "eval_examples": len(d.test.x),
        "eval_examples_per_s": round(len(d.test.x) / eval_s, 1) if len(d.test.x) else None,
        "test_mse": round(ev["mse"], 5) if len(d.test.x) else None,
        "warmup_s": round(warmup_s, 3),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
