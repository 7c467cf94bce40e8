"""The notebooks and the book pipeline (spikelib.pipeline).

The ``book`` tests execute notebooks; each works in its own tmp copy of book/ with its own results
directory, so they can run in parallel under pytest-xdist.
"""

import hashlib
import io
import json
import re
import shutil
import tarfile
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


def _mini_book(tmp_path):
    """Empty notebooks/ and book/ folders (with a minimal toc) for pipeline tests that build nothing."""
    nbs, book = tmp_path / "notebooks", tmp_path / "book"
    nbs.mkdir()
    book.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    return nbs, book


@pytest.mark.book
def test_failures_are_reported_and_the_rest_continue(tmp_path, capsys):
    nbs, book = _mini_book(tmp_path)
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
    nbs, book = _mini_book(tmp_path)
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

    # Offline: MathJax is the local copy (wherever npm or the cache could provide it), and no page loads
    # anything from the web.
    if _cached_mathjax().is_file() and manifest["build"]["mathjax"] != "local":
        pytest.fail("MathJax fell back to the CDN although a verified copy is in the cache")
    if manifest["build"]["mathjax"] == "local":
        mathjax = html / "_static" / "mathjax"
        assert (mathjax / pipeline.MATHJAX_ENTRY).stat().st_size > 100_000
        assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) > 20
        assert not (mathjax / "latest.js").exists()  # it would ask the CDN for a newer version
    for page in [*pages, "api", "search", "genindex"]:
        text = (html / f"{page}.html").read_text(encoding="utf-8")
        assert not _remote_assets(text), f"{page} loads {_remote_assets(text)}"
        if 'class="math' in text:  # a page with maths loads the local MathJax
            local = r'<script[^>]+src="[./]*_static/mathjax/' + re.escape(pipeline.MATHJAX_ENTRY)
            assert re.search(local, text), f"{page} has maths but does not load the local MathJax"
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in ("spike_times", "AlphaNetwork", "MNIST_TABLE1", "latency", "poisson", "load_fsdd", "SCALES",
                 "write_record"):
        assert re.search(rf'id="spikelib\.[a-z.]+\.{name}"', api), f"api page: no entry for {name}"


# ---------------------------------------------------------------- offline pages: MathJax, API page


class _Assets(HTMLParser):
    """URLs the browser fetches by itself: script/img/iframe/... src, stylesheet/icon/preload href."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in {"script", "img", "iframe", "source", "audio", "video", "embed", "track", "input"}:
            self.urls.append(a.get("src") or "")
        elif tag == "link" and (a.get("rel") or "").split()[:1] != ["canonical"]:
            self.urls.append(a.get("href") or "")


def _remote_assets(html_text: str) -> list[str]:
    parser = _Assets()
    parser.feed(html_text)
    remote = [u for u in parser.urls if re.match(r"(https?:)?//", u)]
    css_urls = re.findall(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", html_text)  # inline <style>
    imports = re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", html_text)  # @import url(...) is above
    return remote + css_urls + imports


def _cached_mathjax() -> Path:
    from spikelib.data import data_dir

    name, version = pipeline.MATHJAX_NPM.split("@")
    return data_dir() / "vendor" / f"{name}-{version}.tgz"


def test_remote_asset_detector():
    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//fonts.x/css">'
            '<script src="_static/a.js"></script><a href="https://example.org">a link is fine</a>'
            '<style>@font-face { src: url("https://fonts.x/f.woff2") }</style>'
            '<style>@import "https://fonts.x/more.css";</style>')
    expected = ["https://cdn.example/x.js", "//fonts.x/css", "https://fonts.x/f.woff2", "https://fonts.x/more.css"]
    assert _remote_assets(page) == expected


def test_config_points_mathjax_at_the_local_copy():
    import yaml

    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["sphinx"]
    assert config["config"]["mathjax_path"] == f"mathjax/{pipeline.MATHJAX_ENTRY}"
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= set(config["extra_extensions"])
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert "api" in {chapter.get("file") for part in toc["parts"] for chapter in part["chapters"]}


def _fake_mathjax(path: Path) -> str:
    """A small stand-in for the npm tarball; returns its SHA-256."""
    files = {
        "package/LICENSE": b"Apache-2.0",
        f"package/es5/{pipeline.MATHJAX_ENTRY}": b"/* mathjax */",
        "package/es5/output/chtml/fonts/woff-v2/MathJax_Zero.woff": b"woff",
        "package/es5/input/tex/extensions/cancel.js": b"/* cancel */",
        "package/es5/latest.js": b"/* asks the CDN */",
        "package/es5/tex-svg.js": b"/* not used */",
        "package/ts/core.ts": b"// sources",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def test_mathjax_unpacked_from_the_verified_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "MATHJAX_SHA256", _fake_mathjax(_cached_mathjax()))
    monkeypatch.setattr(pipeline.shutil, "which", lambda _: None)  # the cache alone must do
    html = tmp_path / "html"
    assert pipeline.install_mathjax(html) == "local"
    dest = html / "_static" / "mathjax"
    got = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert got == [pipeline.MATHJAX_STAMP, "LICENSE", "input/tex/extensions/cancel.js",
                   "output/chtml/fonts/woff-v2/MathJax_Zero.woff", pipeline.MATHJAX_ENTRY]
    assert pipeline.install_mathjax(html) == "local"  # already there: kept


def test_mathjax_falls_back_to_the_cdn_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path / "cache"))
    _fake_mathjax(_cached_mathjax())  # a cached tarball with the wrong hash is discarded
    monkeypatch.setattr(pipeline.shutil, "which", lambda _: None)
    html = tmp_path / "html"
    assert pipeline.install_mathjax(html) == "cdn"
    assert "npm not found" in capsys.readouterr().out
    assert not _cached_mathjax().exists()
    loader = (html / "_static" / "mathjax" / pipeline.MATHJAX_ENTRY).read_text()
    assert pipeline.MATHJAX_CDN in loader and pipeline.MATHJAX_NPM.split("@")[1] in pipeline.MATHJAX_CDN


def test_api_page_is_generated_from_the_code():
    """Every entry on the API page comes from autodoc, so none can drift from the docstrings."""
    text = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    assert not re.search(r"\.\. py:(function|data|class)::", text), "write docstrings, not api.md entries"
    for name in ("spike_times", "MNIST_TABLE1", "poisson", "SCALES", "load_fsdd"):
        assert re.search(rf"\.\. auto(function|data|class):: [\w.]*\b{name}\b", text), name