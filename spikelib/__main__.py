"""Command line: ``python -m spikelib data [--check]``, ``python -m spikelib book ...`` and
``python -m spikelib keep-paper-run results/<name>.json``.

The heavy modules are imported lazily so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikelib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_data = sub.add_parser("data", help="fetch and verify the datasets (MNIST, Fashion-MNIST, FSDD)")
    p_data.add_argument("--check", action="store_true", help="only verify the cache; fetch nothing")
    p_data.add_argument(
        "--datasets", nargs="*", default=None, help="subset of datasets (default: all)"
    )

    p_book = sub.add_parser("book", help="execute the notebooks with papermill and build the book")
    p_book.add_argument("--scale", default="quick", help="smoke | quick | paper (default quick)")
    p_book.add_argument("--notebooks", default="", help="space-separated notebook names (default: all)")
    p_book.add_argument("--device", default="cpu", help="cpu | cuda")
    p_book.add_argument("--jobs", type=int, default=0, help="parallel notebooks (0: one per 2 cores)")
    p_book.add_argument("--timeout", type=int, default=0, help="per-notebook timeout in s (0: by scale)")
    p_book.add_argument("--no-build", action="store_true", help="execute notebooks only; skip jupyter-book")

    p_keep = sub.add_parser("keep-paper-run", help="copy a paper-scale record into book/paper_runs/ to commit it")
    p_keep.add_argument("records", nargs="+", help="results/<name>.json files written at SCALE=paper")

    args = parser.parse_args(argv)
    if args.command == "keep-paper-run":
        from spikelib import results

        try:
            for path in args.records:
                print(f"kept {results.keep_paper_run(path)}: commit it with git")
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if args.command == "data":
        from spikelib import data

        return data.cli(check_only=args.check, datasets=args.datasets)
    if args.command == "book":
        from spikelib import pipeline

        return pipeline.cli(
            scale=args.scale,
            notebooks=args.notebooks.split(),
            device=args.device,
            jobs=args.jobs,
            timeout=args.timeout,
            build=not args.no_build,
        )
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
