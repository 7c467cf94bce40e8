"""Figure captions (issue #20): spikelib.captions, spikelib.plotting.show's two display modes, and the
scale the captions state (spikelib.scales.current)."""

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from spikelib import captions, pipeline, plotting, scales

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAPER_FIGURE = re.compile(
    r"Reproduces (Comsa et al\. \(2021[ab]\)|Roy et al\. \(2019\)|Hübotter et al\. \(2021\)), (Fig\.|Table) \d")
OURS = "Our own addition"
FIELD_VALUE = "FIELD"  # stands for each {...} of an f-string name


def _code(source: str) -> str:
    """A cell's source without IPython magics and shell lines, which ast cannot parse."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _name_argument(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 2:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "name"), None)


def shown_names() -> list[tuple[str, str, str]]:
    """``(notebook, name, source)`` of every ``plotting.show(..., name)`` call in the notebooks; an f-string
    name comes with each ``{...}`` replaced by :data:`FIELD_VALUE`, any other expression as its source."""
    found = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            code = _code("".join(cell["source"]))
            for node in ast.walk(ast.parse(code)):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "show" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "plotting"):
                    continue
                arg = _name_argument(node)
                source = ast.get_source_segment(code, arg) if arg is not None else "(no name)"
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((path.stem, arg.value, source))
                elif isinstance(arg, ast.JoinedStr):
                    name = "".join(v.value if isinstance(v, ast.Constant) else FIELD_VALUE for v in arg.values)
                    found.append((path.stem, name, source))
                else:
                    found.append((path.stem, None, source))
    return found


def test_every_shown_figure_has_a_caption():
    shown = shown_names()
    assert len(shown) >= 30, f"found only {len(shown)} plotting.show calls: is the parser still right?"
    not_literal = [(nb, src) for nb, name, src in shown if name is None]
    assert not not_literal, f"plotting.show names must be string literals or f-strings: {not_literal}"
    missing = [(nb, src) for nb, name, src in shown if captions.lookup(name) is None]
    assert not missing, f"no entry in spikelib.captions.CAPTIONS for {missing}"


def test_no_caption_without_a_figure():
    shown = [name for _, name, _ in shown_names() if name is not None]
    stale = [key for key in captions.CAPTIONS
             if not any(captions._pattern(key).match(name) for name in shown)]
    assert not stale, f"caption entries no notebook shows (renamed figures?): {stale}"


def test_f_string_names_are_parsed(tmp_path, monkeypatch):
    nb = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n",
                                                     "plotting.show(fig, f\"page_fig3_{dataset}\")\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "page.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(sys.modules[__name__], "NOTEBOOKS", [tmp_path / "page.ipynb"])
    assert shown_names() == [("page", f"page_fig3_{FIELD_VALUE}", 'f"page_fig3_{dataset}"')]


@pytest.mark.parametrize("name", sorted(captions.CAPTIONS))
def test_caption_names_its_paper_figure_or_says_it_is_ours(name):
    entry = captions.CAPTIONS[name]
    assert PAPER_FIGURE.search(entry.text) or OURS in entry.text, (
        f"{name}: say which paper figure it reproduces ('Reproduces <paper>, Fig. N') or '{OURS}'")
    assert entry.text.count(captions.SCALE) == 1, f"{name}: the text needs one {captions.SCALE}"
    assert entry.alt and "\n" not in entry.alt and len(entry.alt) <= 250, f"{name}: alt text: one short line"
    assert "`" not in entry.alt and "$" not in entry.alt, f"{name}: alt text is plain text"
    assert "```" not in entry.text, f"{name}: a code fence would end the figure directive"


def test_scale_placeholder_with_and_without_a_known_scale():
    quick = captions.caption("alpha_function_fig1a", "quick")
    assert "Scale: quick (reduced data and epochs" in quick.text
    assert "Fig. 1a" in quick.text and captions.SCALE not in quick.text
    unknown = captions.caption("alpha_function_fig1a", None)
    assert "Scale:" not in unknown.text and captions.SCALE not in unknown.text and "  " not in unknown.text
    assert unknown.text.startswith("The alpha function") and unknown.alt == quick.alt
    assert captions.scale_sentence("smoke").startswith("Scale: smoke (seconds per notebook")
    assert captions.caption("no_such_figure", "quick") is None


def test_pattern_keys_match_built_names(monkeypatch):
    entry = captions.Caption(f"Errors on {{dataset}} at h = {{h}}. Reproduces X, Fig. 3. {captions.SCALE}",
                             "Plot for {dataset}.")
    monkeypatch.setattr(captions, "CAPTIONS", {"page_fig3_{dataset}_h{h}": entry})
    got = captions.caption("page_fig3_fmnist_h32", "paper")
    assert got.text.startswith("Errors on fmnist at h = 32.") and "Scale: paper" in got.text
    assert got.alt == "Plot for fmnist."
    assert captions.lookup("page_fig3_") is None and captions.lookup("other_fig3_mnist_h8") is None


# ---------------------------------------------------------------- the scale a page runs at


@pytest.fixture
def fresh_scale():
    scales.forget_current()
    yield
    scales.forget_current()


def test_current_scale_is_the_page_scale_not_a_paper_lookup(fresh_scale):
    assert scales.current() is None
    scales.settings("spike_backprop", "quick")
    scales.settings("spike_backprop", "paper", page=False)  # the paper's protocol, read for comparison
    assert scales.current() == ("spike_backprop", "quick")
    scales.settings("spike_backprop", "quick")  # library calls at the page's scale
    assert scales.current() == ("spike_backprop", "quick")
    scales.settings("spike_backprop", "paper")  # a page at paper scale: its own request, then the look-up
    scales.settings("spike_backprop", "paper", page=False)
    assert scales.current() == ("spike_backprop", "paper")
    scales.settings("alpha_function", "smoke")
    assert scales.current() == ("alpha_function", "smoke")
    scales.forget_current()
    scales.settings("alpha_function", "paper")
    assert scales.current() == ("alpha_function", "paper")


# ---------------------------------------------------------------- plotting.show


@pytest.fixture
def shown(monkeypatch, tmp_path, fresh_scale):
    """Calls plotting.show on a small figure; returns (what was displayed, what was glued)."""
    import IPython.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import myst_nb

    displayed, glued = [], []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: displayed.extend(objs))
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: glued.append((name, obj, display)))

    def run(name, *, book, scale="quick"):
        monkeypatch.setenv(plotting.BOOK_ENV, "1") if book else monkeypatch.delenv(plotting.BOOK_ENV, raising=False)
        if scale:
            scales.settings("alpha_function", scale)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        path = plotting.show(fig, name, tmp_path)
        assert path == tmp_path / f"{name}.png" and path.stat().st_size > 0
        return displayed, glued

    return run


def test_show_in_the_book_glues_the_image_and_emits_a_captioned_figure(shown):
    from IPython.display import Image, Markdown

    displayed, glued = shown("alpha_function_fig1a", book=True)
    assert len(glued) == 1 and glued[0][0] == "alpha_function_fig1a" and glued[0][2] is False
    assert isinstance(glued[0][1], Image)
    assert len(displayed) == 1 and isinstance(displayed[0], Markdown)
    text = displayed[0].data
    expected = captions.caption("alpha_function_fig1a", "quick")
    assert text.startswith("```{glue:figure} alpha_function_fig1a\n:name: fig-alpha_function_fig1a\n")
    assert f"\n:alt: {expected.alt}\n\n{expected.text}\n```" in text and text.endswith("```")
    assert "Scale: quick" in text


def test_show_elsewhere_displays_the_image_and_a_caption_line(shown):
    from IPython.display import Image, Markdown

    displayed, glued = shown("alpha_function_fig1a", book=False, scale="smoke")
    assert glued == []
    assert [type(d) for d in displayed] == [Image, Markdown]
    line = displayed[1].data
    assert line == "**Figure.** " + captions.caption("alpha_function_fig1a", "smoke").text
    assert "glue" not in line and "```" not in line and "Scale: smoke" in line


def test_show_without_a_known_scale_leaves_the_scale_out(shown):
    displayed, _ = shown("alpha_function_fig1a", book=False, scale=None)
    assert "Scale:" not in displayed[1].data and "{scale}" not in displayed[1].data


@pytest.mark.parametrize("book", [True, False])
def test_show_without_a_caption_shows_the_image_alone(shown, book):
    from IPython.display import Image

    displayed, glued = shown("uncaptioned_figure", book=book)
    assert glued == [] and [type(d) for d in displayed] == [Image]


def test_book_kernels_get_the_book_mode(tmp_path):
    assert pipeline.kernel_env(tmp_path, 1)[plotting.BOOK_ENV] == "1"
