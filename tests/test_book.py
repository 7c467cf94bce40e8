"""The notebooks and the book pipeline (spikelib.pipeline).

The ``book`` tests execute notebooks; each works in its own tmp copy of book/ with its own results
directory, so they can run in parallel under pytest-xdist. The real book is built once per test run at
smoke scale (the ``smoke_book`` fixture, shared by the xdist workers and by test_book_browser.py).
"""

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import papermill
import pytest

from spikelib import pipeline, pipeline_mathjax, pipeline_progress

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


def test_longest_notebook_starts_first(tmp_path):
    names = ["alpha_boolean", "regularised_sae", "spike_backprop", "zz_new"]
    manifest = tmp_path / pipeline.MANIFEST
    # no earlier build: the measured quick times, unknown notebooks last in their given order
    assert pipeline_progress.start_order(names, "quick", manifest) == ["regularised_sae", "spike_backprop",
                                                                      "alpha_boolean", "zz_new"]
    manifest.write_text(json.dumps({"notebooks": {
        "zz_new": {"scale": "quick", "status": "ok", "wall_s": 5000.0},
        "alpha_boolean": {"scale": "smoke", "status": "ok", "wall_s": 9000.0},  # another scale: not used
        "spike_backprop": {"scale": "quick", "status": "failed", "wall_s": 9000.0}}}))  # failed: not used
    assert pipeline_progress.start_order(names, "quick", manifest) == ["zz_new", "regularised_sae", "spike_backprop",
                                                                      "alpha_boolean"]
    manifest.write_text("{broken")
    assert pipeline_progress.start_order(names, "quick", manifest)[0] == "regularised_sae"


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


@dataclass(frozen=True)
class SmokeBook:
    """The real book (a copy of book/, all notebooks) built by the pipeline at smoke scale."""

    book: Path
    results: Path
    rc: int
    output: str  # everything the pipeline printed

    @property
    def html(self) -> Path:
        return self.book / "_build" / "html"

    @property
    def manifest(self) -> dict:
        return json.loads((self.book / "executed" / pipeline.MANIFEST).read_text())

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def _build_smoke_book(root: Path) -> SmokeBook:
    book, results, outcome = root / "book", root / "results", root / "outcome.json"
    if not outcome.exists():
        shutil.rmtree(root, ignore_errors=True)  # an earlier attempt that crashed
        root.mkdir(parents=True)
        shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "executed"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = pipeline.cli(scale="smoke", notebooks=[], jobs=0, timeout=0, build=True, book_dir=book,
                              results_dir=results)
        outcome.write_text(json.dumps({"rc": rc, "output": out.getvalue()}))
    done = json.loads(outcome.read_text())
    return SmokeBook(book, results, done["rc"], done["output"])


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SmokeBook:
    """The book built once per test run: under xdist the first worker to ask builds it in the run's
    shared temporary directory while the others wait on a lock, then all read the same build."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    with open(shared / "smoke-book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_smoke_book(shared / "smoke-book")


@pytest.mark.book
def test_book_builds_at_smoke_scale(smoke_book):
    book, results = smoke_book.book, smoke_book.results
    assert smoke_book.rc == 0, smoke_book.tail()
    manifest = smoke_book.manifest
    assert {n: e["status"] for n, e in manifest["notebooks"].items()} == {p.stem: "ok" for p in NOTEBOOKS}
    assert manifest["build"]["warnings"] == []

    # Every notebook wrote its results record, at the scale it ran at.
    for p in NOTEBOOKS:
        assert json.loads((results / f"{p.stem}.json").read_text())["scale"] == "smoke"

    html = smoke_book.html
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
    for page in [*pages, "api", "search", "genindex", *(f"executed/{g}" for g in pipeline.GENERATED_PAGES)]:
        text = (html / f"{page}.html").read_text(encoding="utf-8")
        assert not _remote_assets(text), f"{page} loads {_remote_assets(text)}"
        if 'class="math' in text:  # a page with maths loads the local MathJax
            local = r'<script[^>]+src="[./]*_static/mathjax/' + re.escape(pipeline.MATHJAX_ENTRY)
            assert re.search(local, text), f"{page} has maths but does not load the local MathJax"
    api = (html / "api.html").read_text(encoding="utf-8")
    for name in ("spike_times", "AlphaNetwork", "MNIST_TABLE1", "latency", "poisson", "load_fsdd", "SCALES",
                 "write_record"):
        assert re.search(rf'id="spikelib\.[a-z.]+\.{name}"', api), f"api page: no entry for {name}"


@pytest.mark.book
def test_generated_pages_in_the_smoke_build(smoke_book):
    """The scorecard and the about page are built from this build's records and manifest."""
    from spikelib import scorecard
    from spikelib.results import load_paper_runs, load_records

    assert smoke_book.rc == 0, smoke_book.tail()
    for name in pipeline.GENERATED_PAGES:
        assert (smoke_book.html / "executed" / f"{name}.html").is_file(), name
    values, records = scorecard.load_paper_values(), load_records(smoke_book.results)
    # Smoke runs every notebook: each record a paper value names must exist and carry the value.
    absent = sorted({e["record"] for e in values["values"] if e["record"] and e["record"] not in records})
    assert not absent, f"paper_values.json names records no notebook wrote: {absent}"
    rows = scorecard.scorecard_rows(values, records, manifest=smoke_book.manifest)
    assert [(r.id, r.detail) for r in rows if r.status == scorecard.MISSING] == []
    # At smoke only scale-independent claims (exact computations, counts) are compared: all must hold.
    assert [(r.id, r.build_value) for r in rows if r.status == scorecard.NOT_MET] == []
    assert any(r.status == scorecard.MET for r in rows)
    text = (smoke_book.book / "executed" / "scorecard.md").read_text(encoding="utf-8")
    kept_records = load_paper_runs()
    kept = scorecard.scorecard_rows(values, kept_records, kept=True)
    assert text == scorecard.page_markdown(rows, values["papers"], pages=pipeline.toc_notebooks(smoke_book.book),
                                           kept_records=kept_records, kept=kept,
                                           build_commit=smoke_book.manifest["git_commit"])
    # every record was written by this build's notebooks at its commit: none is flagged unless the code is dirty
    assert all(r.stale is None for r in rows) or smoke_book.manifest["git_dirty"], [r.stale for r in rows if r.stale]
    about = (smoke_book.book / "executed" / "about_build.md").read_text(encoding="utf-8")
    manifest = smoke_book.manifest
    if manifest["git_commit"]:
        assert manifest["git_commit"][:12] in about
    for p in NOTEBOOKS:
        assert re.search(rf"\| {{doc}}`{p.stem}` \| ok \| smoke \| cpu \| [0-9.]+ s \|", about), p.stem
    assert "| `smoke` |" in about and "| torch |" in about


def test_toc_notebooks_leaves_out_generated_pages(tmp_path):
    nbs, book = _mini_book(tmp_path)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: executed/demo\n"
                                   + "".join(f"  - file: executed/{g}\n" for g in pipeline.GENERATED_PAGES))
    assert pipeline.toc_notebooks(book) == ["demo"]


def test_generated_pages_written_from_records_and_manifest(tmp_path):
    nbs, book = _mini_book(tmp_path)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "  - file: executed/alpha_published_networks\n")
    results = tmp_path / "results"
    results.mkdir()
    table2 = [{"network": "slow", "split": "test", "accuracy_percent": 97.96},
              {"network": "fast", "split": "test", "accuracy_percent": 97.41}]  # one image off: not met
    record = {"name": "alpha_published_networks", "scale": "quick", "results": {"table2": table2},
              "provenance": {"notebook": "alpha_published_networks", "seed": 0, "git_commit": "abc123",
                             "versions": {"torch": "2.13.0", "numpy": "2.4.6"}, "device": "cpu"}}
    (results / "alpha_published_networks.json").write_text(json.dumps(record))
    manifest = pipeline.update_manifest(book / "executed", [pipeline.Run("alpha_published_networks", "ok", 4.2)],
                                        scale="quick", device="cpu", placeholders=[])
    counts = pipeline.write_generated_pages(book, book / "executed", manifest, results)
    assert counts["met"] == 1 and counts["not met"] == 1
    # not in this fake record: two train rows, four mean losses and Fig. 1b
    assert counts["missing from record"] == 7
    card = (book / "executed" / "scorecard.md").read_text(encoding="utf-8")
    assert "{doc}`alpha_published_networks`" in card and "**not met** (± 0.005)" in card
    about = (book / "executed" / "about_build.md").read_text(encoding="utf-8")
    assert "| {doc}`alpha_published_networks` | ok | quick | cpu | 4.2 s |" in about
    assert "`alpha_published_networks` | quick | 0 | cpu |" in about


def test_generated_pages_flag_records_that_are_not_this_builds(tmp_path, monkeypatch):
    """Records from another commit, from uncommitted code or from a notebook that failed in this build are
    flagged on the scorecard, and the about page lists every commit behind a record; kept paper-scale runs
    are judged by their own provenance."""
    from spikelib import results as res
    from spikelib import scorecard

    build, old = "b" * 40, "a" * 40
    monkeypatch.setattr(res, "git_state", lambda *a, **k: (build, False))
    nbs, book = _mini_book(tmp_path)
    out = tmp_path / "results"
    out.mkdir()

    def write(name, commit, dirty=False, scale="quick", folder=out):
        rec = {"name": name, "scale": scale, "results": {},
               "provenance": {"notebook": name, "git_commit": commit, "git_dirty": dirty, "date": "2026-12-01"}}
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(rec))

    write("alpha_published_networks", build)  # this build's: not flagged
    write("alpha_boolean", build)  # its notebook failed now: the record is the previous run's
    write("spike_backprop", old)  # not run in this build (a NOTEBOOKS= subset)
    write("regularised_sae", build, dirty=True)
    kept_dir = tmp_path / "paper_runs"
    write("alpha_mnist_training", old, scale="paper", folder=kept_dir)
    write("spiking_autoencoders", old, dirty=True, scale="paper", folder=kept_dir)
    real_kept = res.load_paper_runs
    monkeypatch.setattr(res, "load_paper_runs", lambda directory=None: real_kept(kept_dir))
    runs = [pipeline.Run("alpha_published_networks", "ok", 1.0), pipeline.Run("alpha_boolean", "failed", 1.0),
            pipeline.Run("regularised_sae", "ok", 1.0)]
    manifest = pipeline.update_manifest(book / "executed", runs, scale="quick", device="cpu", placeholders=[])
    pipeline.write_generated_pages(book, book / "executed", manifest, out)
    card = (book / "executed" / "scorecard.md").read_text(encoding="utf-8")
    values = scorecard.load_paper_values()["values"]
    n = {name: sum(e["record"] == name for e in values) for name in
         ("alpha_published_networks", "alpha_boolean", "spike_backprop", "regularised_sae")}
    flagged = n["alpha_boolean"] + n["spike_backprop"] + n["regularised_sae"]
    assert f"**⚠ {flagged} of the {sum(n.values())} rows with a record are flagged**" in card
    assert card.count("⚠ *alpha_boolean failed in this build, so the record may be left over") == n["alpha_boolean"]
    assert card.count("⚠ *computed at commit aaaaaaaa, not this build's bbbbbbbb*") == n["spike_backprop"]
    assert card.count("⚠ *computed from uncommitted code*") == n["regularised_sae"] + 1  # + the kept list
    assert "`spiking_autoencoders`: notebook" in card and "`alpha_mnist_training`: notebook" in card
    kept_lines = [ln for ln in card.splitlines() if ln.startswith("- `")]
    assert [("⚠" in ln) for ln in kept_lines] == [False, True]  # an old commit alone never flags a kept run
    about = (book / "executed" / "about_build.md").read_text(encoding="utf-8")
    commits = about.split("## Commits behind the records", 1)[1]
    assert "| `bbbbbbbb` (this build) | `alpha_boolean`, `alpha_published_networks`, `regularised_sae` " \
           "(uncommitted changes) |" in commits
    assert "| `aaaaaaaa` | `spike_backprop`, `alpha_mnist_training` (kept), `spiking_autoencoders` (kept) " \
           "(uncommitted changes) |" in commits


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
    monkeypatch.setattr(pipeline_mathjax, "MATHJAX_SHA256", _fake_mathjax(_cached_mathjax()))
    monkeypatch.setattr(pipeline_mathjax.shutil, "which", lambda _: None)  # the cache alone must do
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
    monkeypatch.setattr(pipeline_mathjax.shutil, "which", lambda _: None)
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

def test_rerun_note_follows_the_parameters_once(tmp_path):
    cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("scale = 'quick'\nseed = 0"),
             nbformat.v4.new_code_cell("scale = 'smoke'"), nbformat.v4.new_code_cell("print(1)")]
    cells[1].metadata["tags"] = ["parameters"]
    cells[2].metadata["tags"] = ["injected-parameters"]
    path = tmp_path / "demo.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    for _ in range(2):  # a second run replaces the note rather than adding one
        pipeline.add_rerun_note(path, "demo", scale="smoke", device="cpu", parameters={"scale", "seed"})
    nb = nbformat.read(path, as_version=4)
    assert [c.metadata.get("tags", []) for c in nb.cells][3] == [pipeline.RERUN_TAG]
    assert len(nb.cells) == 5
    note = nb.cells[3].source
    assert "make book NOTEBOOKS=demo" in note and "papermill notebooks/demo.ipynb out.ipynb -p scale smoke -p seed" in note
    assert "scale **smoke** on **cpu**" in note


def test_every_page_cites_its_paper_and_the_references_hold_looked_up_identifiers():
    """book/references.bib: every entry has a DOI or an arXiv identifier; every notebook's first cell and
    the introduction cite entries that exist; CITATION.cff lists the same DOIs."""
    import re

    import nbformat
    import yaml

    root = Path(__file__).resolve().parents[1]
    bib = (root / "book" / "references.bib").read_text(encoding="utf-8")
    entries = dict(re.findall(r"@\w+\{(\w+),(.*?)\n\}", bib, flags=re.S))
    assert len(entries) == 4
    for key, body in entries.items():
        assert re.search(r"\bdoi\s*=\s*\{10\.\d{4,5}/\S+\}", body) or re.search(r"eprint\s*=\s*\{\d{4}\.\d{5}\}", body), key
    cited = set()
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        keys = re.findall(r"\{cite:p\}`([\w,]+)`", nbformat.read(path, 4).cells[0].source)
        assert keys, f"{path.name}: its first cell cites no paper"
        cited.update(k for ks in keys for k in ks.split(","))
    intro = set(re.findall(r"\{cite:p\}`(\w+)`", (root / "book" / "intro.md").read_text(encoding="utf-8")))
    assert cited <= set(entries) and intro == set(entries)
    cff = yaml.safe_load((root / "CITATION.cff").read_text(encoding="utf-8"))
    bib_dois = set(re.findall(r"doi\s*=\s*\{([^}]+)\}", bib))
    assert {r["doi"] for r in cff["references"] if "doi" in r} == bib_dois
    config = yaml.safe_load((root / "book" / "_config.yml").read_text(encoding="utf-8"))
    assert config["bibtex_bibfiles"] == ["references.bib"]
    assert "{bibliography}" in (root / "book" / "references.md").read_text(encoding="utf-8")


def test_kernel_env_keeps_freed_memory_in_glibcs_heap_unless_set(tmp_path, monkeypatch):
    """The notebook kernels (and the sweep workers they start) get glibc's heap settings, which stop a
    per-step allocation from faulting its pages in again; a value the user set is kept."""
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    env = pipeline.kernel_env(tmp_path, 1)
    assert env["MALLOC_MMAP_THRESHOLD_"] == env["MALLOC_TRIM_THRESHOLD_"] == str(pipeline.GLIBC_HEAP_KEEP_BYTES)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    env = pipeline.kernel_env(tmp_path, 1)
    assert env["MALLOC_TRIM_THRESHOLD_"] == "131072"
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(pipeline.GLIBC_HEAP_KEEP_BYTES)
