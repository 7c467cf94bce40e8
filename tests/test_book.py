"""The notebooks and the book pipeline (spikelib.pipeline).

The ``book`` tests execute notebooks; each works in its own tmp copy of book/ with its own results
directory, so they can run in parallel under pytest-xdist.
"""

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import papermill
import pytest

from spikelib import pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_stored_clean_with_parameters(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} has outputs: clear them"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged `parameters`"
    assert "scale" in papermill.inspect_notebook(str(path)), "the parameters cell must declare `scale`"


def test_every_notebook_is_in_the_toc():
    assert NOTEBOOKS, "no notebooks in notebooks/"
    assert set(pipeline.toc_notebooks(ROOT / "book")) == {p.stem for p in NOTEBOOKS}


def test_book_config_never_executes():
    import yaml

    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True


def test_unknown_notebook_is_a_clear_error(capsys):
    assert pipeline.resolve_notebooks(["alpha_function.ipynb"]) == ["alpha_function"]
    assert pipeline.cli(scale="smoke", notebooks=["no_such_notebook"], build=False) == 2
    out = capsys.readouterr().out
    assert "no_such_notebook" in out and "alpha_function" in out
    assert pipeline.cli(scale="huge", build=False) == 2
    assert "unknown scale" in capsys.readouterr().out


def test_kernel_runs_this_environment():
    import sys

    pipeline.ensure_kernel()
    assert pipeline._kernel_python(pipeline.KERNEL) in {sys.executable, None} or (
        pipeline._interpreter_prefix(pipeline._kernel_python(pipeline.KERNEL)) == sys.prefix
    )


def test_placeholder_for_a_page_never_executed(tmp_path):
    book, nbs = tmp_path / "book", tmp_path / "notebooks"
    book.mkdir()
    nbs.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/demo\n")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), nbs / "demo.ipynb")
    assert pipeline.prepare_toc_pages(book, nbs, book / "executed") == ["demo"]
    nb = nbformat.read(book / "executed" / "demo.ipynb", as_version=4)
    assert "make book NOTEBOOKS=demo" in nb.cells[0].source
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/gone\n")
    with pytest.raises(FileNotFoundError, match="notebooks/gone.ipynb"):
        pipeline.prepare_toc_pages(book, nbs, book / "executed")


def _notebook(path, *cells, parameters="scale = 'quick'"):
    param = nbformat.v4.new_code_cell(parameters)
    param.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[param, *map(nbformat.v4.new_code_cell, cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.book
def test_failures_are_reported_and_the_rest_continue(tmp_path, capsys):
    nbs, book = tmp_path / "notebooks", tmp_path / "book"
    nbs.mkdir()
    book.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    # Declares only `scale`: `device` must not be injected.
    _notebook(nbs / "good.ipynb", "assert scale == 'smoke' and 'device' not in globals()")
    _notebook(nbs / "bad.ipynb", "x = 1", "\n# why\nraise ValueError('boom')", "never = True")
    rc = pipeline.cli(scale="smoke", notebooks=[], jobs=2, build=False, book_dir=book, notebook_dir=nbs,
                      results_dir=tmp_path / "results")
    out = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"FAIL\]\s+bad .*cell 2 \('# why'\): ValueError: boom", out), out
    assert "[done]  good" in out
    manifest = json.loads((book / "executed" / "_build_info.json").read_text())
    assert manifest["notebooks"]["good"]["status"] == "ok"
    assert manifest["notebooks"]["bad"]["status"] == "failed"
    assert (book / "executed" / "bad.ipynb").exists()  # the partial copy is kept for inspection


@pytest.mark.book
def test_timeout(tmp_path, capsys):
    nbs, book = tmp_path / "notebooks", tmp_path / "book"
    nbs.mkdir()
    book.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    _notebook(nbs / "slow.ipynb", "import time; time.sleep(120)")
    rc = pipeline.cli(scale="smoke", timeout=3, build=False, book_dir=book, notebook_dir=nbs)
    assert rc == 1
    entry = json.loads((book / "executed" / "_build_info.json").read_text())["notebooks"]["slow"]
    assert entry["status"] == "timeout" and entry["wall_s"] < 60, entry


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.src: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.src.append(dict(attrs).get("src", ""))


@pytest.mark.book
def test_book_builds_at_smoke_scale(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "executed"))
    results = tmp_path / "results"
    rc = pipeline.cli(scale="smoke", notebooks=[], jobs=0, timeout=0, build=True, book_dir=book,
                      results_dir=results)
    assert rc == 0
    manifest = json.loads((book / "executed" / "_build_info.json").read_text())
    assert {n: e["status"] for n, e in manifest["notebooks"].items()} == {p.stem: "ok" for p in NOTEBOOKS}
    assert manifest["build"]["warnings"] == []

    # Every notebook wrote its results record, at the scale it ran at.
    for p in NOTEBOOKS:
        assert json.loads((results / f"{p.stem}.json").read_text())["scale"] == "smoke"

    html = book / "_build" / "html"
    pages = ["intro"] + [f"executed/{n}" for n in pipeline.toc_notebooks(book)]
    n_images = 0
    for page in pages:
        path = html / f"{page}.html"
        assert path.is_file(), f"{page} was not built"
        parser = _Images()
        parser.feed(path.read_text(encoding="utf-8"))
        for src in parser.src:
            if src.startswith(("data:", "http:", "https:")):
                continue
            image = (path.parent / src.split("?")[0]).resolve()
            assert image.is_file() and image.stat().st_size > 0, f"{page}: missing image {src}"
            n_images += 1
    assert n_images >= len(NOTEBOOKS)  # every notebook page shows at least its figure
