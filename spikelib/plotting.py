"""One figure style for the whole book.

Colours are the Okabe-Ito palette (Okabe & Ito 2008), distinguishable with the common forms of colour
blindness; matplotlib's default 'tab10' is not.
"""

from __future__ import annotations

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


def show(fig, name: str, directory=None):
    """Save ``fig`` as ``<results>/<name>.png`` (see :func:`spikelib.results.save_figure`) and display
    that file.

    Displaying the saved PNG rather than relying on the inline backend means the page shows exactly the
    stored artifact, and it works under ``MPLBACKEND=Agg``, which the book pipeline sets for kernels
    (that setting switches off ipykernel's inline figures).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    from spikelib.results import save_figure

    path = save_figure(fig, name, directory)
    plt.close(fig)  # otherwise an inline backend would show it a second time
    display(Image(filename=str(path)))
    return path
