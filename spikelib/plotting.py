"""One figure style for the whole book.

Colours are the Okabe-Ito palette (Okabe & Ito 2008), distinguishable with the common forms of colour
blindness; matplotlib's default 'tab10' is not.
"""

from __future__ import annotations

import os

OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow (weak on white: last)
    "#000000",  # black
)


def setup_style() -> None:
    """Apply the book's matplotlib style (colour cycle, sizes, spines) to all later figures."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "axes.prop_cycle": cycler(color=OKABE_ITO),
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
        }
    )


#: Set to "1" by the book pipeline (spikelib.pipeline.kernel_env) for the kernels it starts: :func:`show` then
#: emits each figure as a numbered MyST figure for Jupyter Book.
BOOK_ENV = "SPIKELIB_BOOK"


def in_book() -> bool:
    """Whether this process is a kernel of the book pipeline (:data:`BOOK_ENV` is "1")."""
    return os.environ.get(BOOK_ENV) == "1"


def figure_directive(name: str, caption: str, alt: str) -> str:
    """The MyST ``glue:figure`` of the image glued as ``name``: numbered ("Fig. N") by Sphinx, labelled
    ``fig-<name>`` for cross-references, with ``caption`` below it and ``alt`` on the image."""
    return f"```{{glue:figure}} {name}\n:name: fig-{name}\n:alt: {alt}\n\n{caption}\n```"


def show(fig, name: str, directory=None):
    """Save ``fig`` as ``<results>/<name>.png`` (see :func:`spikelib.results.save_figure`) and display
    that file with its caption (:mod:`spikelib.captions`) stating the scale the page runs at
    (:func:`spikelib.scales.current`).

    In the book pipeline (:func:`in_book`) the image is glued (myst_nb) and displayed through a MyST
    ``glue:figure`` (:func:`figure_directive`), which Jupyter Book renders as a numbered figure with a
    ``<figcaption>`` and the entry's alt text (the book sets ``nb_render_markdown_format: myst``). Anywhere
    else (a reader's Jupyter) the image is displayed followed by a line ``**Figure.** caption``. A name
    without a caption entry shows the image alone (tests/test_captions.py fails on it).

    Displaying the saved PNG rather than relying on the inline backend means the page shows exactly the
    stored artifact, and it works under ``MPLBACKEND=Agg``, which the book pipeline sets for kernels
    (that setting switches off ipykernel's inline figures).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image, Markdown, display

    from spikelib import captions, scales
    from spikelib.results import save_figure

    path = save_figure(fig, name, directory)
    plt.close(fig)  # otherwise an inline backend would show it a second time
    page = scales.current()
    entry = captions.caption(name, page[1] if page else None)
    if entry is None:
        display(Image(filename=str(path)))
    elif in_book():
        from myst_nb import glue

        glue(name, Image(filename=str(path)), display=False)
        display(Markdown(figure_directive(name, entry.text, entry.alt)))
    else:
        display(Image(filename=str(path)))
        display(Markdown(f"**Figure.** {entry.text}"))
    return path
