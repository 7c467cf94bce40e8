"""The command line of spikelib (``python -m spikelib`` or ``spikelib``).

The heavy modules are imported only by the command that needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spikelib import __version__
from spikelib.scales import DEFAULT_SCALE, SCALES

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
DEVICES = ("cpu", "cuda")

ENVIRONMENT = """environment variables:
  SPIKELIB_DATA      dataset cache (default ~/.cache/spikelib)
  SPIKELIB_SHARED    the shared folder with the authors' networks and hyperparameters (default ../shared)
  SPIKELIB_RESULTS   where records and figures are written (default results/)
  SPIKELIB_CACHE     compiled C kernels (default ~/.cache/spikelib/build)
  SPIKELIB_BACKEND   what backend="auto" means: auto | c | torch
  SPIKELIB_COMPILE   0 turns off torch.compile of the torch path
  SPIKELIB_OFFLINE   1: never download; use the cache, package registries and the shared folder
  SPIKELIB_TIMEOUT   seconds before a download source is given up (default 5)
  SPIKELIB_BOOK      1 (set by `book` for its kernels): figures shown as numbered MyST figures
  SPIKELIB_EXECUTOR  where sweep configurations run: unset or local (this machine), or a Dask
                     scheduler's tcp://host:8786 (README: Running the paper scale on a cluster)
  SPIKELIB_PROGRESS_FILE  where fits append progress lines (set by the book pipeline per notebook)"""

EXAMPLES = """examples:
  python -m spikelib data                               fetch and verify every dataset
  python -m spikelib book                               the whole book at the quick scale
  python -m spikelib book --scale smoke --no-build      every notebook in seconds, no site
  python -m spikelib book --notebooks "alpha_boolean spike_backprop" --scale paper --device cuda
  python -m spikelib scorecard --json > scorecard.json  every paper value beside this build's
  python -m spikelib keep-paper-run results/alpha_mnist_training.json"""


def notebook_names() -> list[str]:
    """The notebooks ``book --notebooks`` accepts (those in ``notebooks/``)."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))


def _reference_experiments() -> list[str]:
    from spikelib.reference import EXPERIMENTS

    return list(EXPERIMENTS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spikelib", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A reproducible companion to four papers on spiking autoencoders: fetch the data, run the "
                    "notebooks at a scale and build the book, and compare every number with the papers'.",
        epilog=f"notebooks: {', '.join(notebook_names()) or '(none found)'}\n\n{ENVIRONMENT}\n\n{EXAMPLES}")
    parser.add_argument("--version", action="version", version=f"spikelib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_data = sub.add_parser("data", help="fetch and verify the datasets (MNIST, Fashion-MNIST, FSDD)")
    p_data.add_argument("--check", action="store_true", help="only verify the cache; fetch nothing")
    p_data.add_argument("--datasets", nargs="*", default=None, help="subset of datasets (default: all)")

    p_book = sub.add_parser("book", help="execute the notebooks with papermill and build the book",
                            epilog=f"notebooks: {', '.join(notebook_names())}")
    p_book.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES,
                        help=f"smoke: seconds (tests); quick: the default, the book in under an hour on 2 cores; "
                             f"paper: the papers' protocols (default {DEFAULT_SCALE})")
    p_book.add_argument("--notebooks", default="", help="space-separated notebook names (default: all)")
    p_book.add_argument("--device", default="cpu", choices=DEVICES, help="where the notebooks compute (default cpu)")
    p_book.add_argument("--jobs", type=int, default=0, help="parallel notebooks (0: one per 2 cores)")
    p_book.add_argument("--timeout", type=int, default=0, help="per-notebook timeout in s (0: by scale)")
    p_book.add_argument("--no-build", action="store_true", help="execute notebooks only; skip jupyter-book")

    p_score = sub.add_parser("scorecard", help="every number of the four papers beside this build's value")
    p_score.add_argument("--json", action="store_true", help="a JSON list of rows instead of a table")
    p_score.add_argument("--results", default=None, help="the records' folder (default $SPIKELIB_RESULTS or results/)")

    p_ref = sub.add_parser("reference", help="run an experiment's paper-protocol configurations here and keep them",
                           description="Train the paper-protocol configurations of one experiment on this machine, "
                                       "resumable at every epoch; finished ones are kept in book/paper_runs/.")
    p_ref.add_argument("experiment", choices=sorted(_reference_experiments()), help="the page whose runs to compute")
    p_ref.add_argument("--budget", default=None, help="stop after this long (e.g. 150m, 2h; default: no limit); "
                                                      "rerun the same command to continue")
    p_ref.add_argument("--only", nargs="*", default=None, help="configuration names, run in the order given (default: all, in the page's order)")
    p_ref.add_argument("--status", action="store_true", help="print each configuration's progress; run nothing")

    p_keep = sub.add_parser("keep-paper-run", help="copy a paper-scale record into book/paper_runs/ to commit it")
    p_keep.add_argument("records", nargs="+", help="results/<name>.json files written at SCALE=paper")
    return parser


def scorecard(as_json: bool, results_dir: str | None) -> int:
    """The scorecard of the records in ``results_dir``; a record from another commit than the checkout's
    HEAD, or from uncommitted code, is flagged (``stale``)."""
    from spikelib import results
    from spikelib import scorecard as sc

    values = sc.load_paper_values()
    head, _ = results.git_state()
    rows = sc.scorecard_rows(values, results.load_records(results_dir), build_commit=head)
    kept = sc.scorecard_rows(values, results.load_paper_runs(), kept=True)
    if as_json:
        json.dump(sc.rows_json(rows, kept), sys.stdout, indent=1)
        print()
    else:
        print(sc.rows_text(rows))
        flagged = sum(r.stale is not None for r in rows)
        print("; ".join(f"{n} {status}" for status, n in sc.summary(rows).items())
              + f"; {flagged} flagged {sc.FLAG} (record from another commit than HEAD"
              + (f" {head[:8]}" if head else "") + " or from uncommitted code)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from spikelib.heap import keep_freed_memory

    keep_freed_memory()  # reference runs train here, as the book's kernels do (a MALLOC_*_ the user set wins)
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
    if args.command == "scorecard":
        return scorecard(args.json, args.results)
    if args.command == "reference":
        from spikelib import reference

        try:
            return reference.cli(args.experiment, budget=args.budget, only=args.only, status=args.status)
        except (RuntimeError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.command == "book":
        from spikelib import pipeline

        return pipeline.cli(scale=args.scale, notebooks=args.notebooks.split(), device=args.device, jobs=args.jobs,
                            timeout=args.timeout, build=not args.no_build)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
