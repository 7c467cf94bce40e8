"""Fig. 3 of Comșa et al. (2021b) on the page (``notebooks/spiking_autoencoders.ipynb``): the test error
against noise of a sweep's spiking and ANN autoencoders, as a table with its text and as a figure, beside
the kept paper-protocol run (:mod:`spikelib.experiments.comsa_autoencoders_reference`) where there is one.

- :func:`fig3_points`, :func:`snn_over_ann` -- the sweep's Fig. 3 points and the SNN / ANN error ratios.
- :func:`fig3_markdown` -- the table (the kept run's rows after the scale's) and the text under it.
- :func:`fig3_figure` -- the plot, one panel per dataset.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from spikelib.experiments import comsa_autoencoders_reference as cref
from spikelib.experiments.comsa_autoencoders import ETAS, HIDDEN_SIZES, dataset_name, find_config

PLOT_ONLY = "plot only"

Points = dict[tuple[str, str, int], list[tuple[float, float]]]


def fig3_points(records: Iterable[Mapping[str, Any]]) -> Points:
    """``{(dataset, model, h): [(eta, test error), ...]}`` of a sweep's records: spiking networks at l = 1,
    ReLU–sigmoid ANNs on the usual images; datasets, models, h and eta in the page's order, only the
    (dataset, model, h) this sweep ran."""
    records = list(records)
    fig3 = {}
    for dataset in ("mnist", "fmnist"):
        for model in ("snn", "ann"):
            for h in HIDDEN_SIZES:
                pts = [(eta, r["results"]["test_mse"]) for eta in ETAS
                       if (r := find_config(records, model, dataset, eta, h)) is not None]
                if pts:
                    fig3[(dataset, model, h)] = pts
    return fig3


def snn_over_ann(fig3: Points) -> dict[tuple[str, int, float], float]:
    """``{(dataset, h, eta): spiking error / ANN error}`` where both ran."""
    ann3 = {(d, h, eta): mse for (d, m, h), pts in fig3.items() if m == "ann" for eta, mse in pts}
    return {(d, h, eta): mse / ann3[(d, h, eta)] for (d, m, h), pts in fig3.items() if m == "snn"
            for eta, mse in pts if (d, h, eta) in ann3}


def fig3_markdown(fig3: Points, floor: Mapping[str, float], scale: str, *, kept: Mapping[str, Any] | None,
                  paper: Mapping[str, Any]) -> str:
    """Fig. 3's table: one row per point of ``fig3`` (its error over the mean-image error ``floor[dataset]``
    and, for a spiking network, over the ANN's), then the kept run's rows (:func:`cref.kept_fig3_rows`);
    under it the mean-image errors, how many networks end within 10 % of them, and
    :func:`cref.kept_fig3_note` (``paper``: the paper scale's settings)."""
    ratio = snn_over_ann(fig3)
    rows = "\n".join(f"| {d.upper()} | {m} | {h} | {eta:g} | {mse:.4f} | {mse / floor[d]:.2f} | "
                     f"{f'{ratio[(d, h, eta)]:.2f}' if m == 'snn' and (d, h, eta) in ratio else '–'} | "
                     f"{PLOT_ONLY} | {scale} |" for (d, m, h), pts in fig3.items() for eta, mse in pts)
    if kept:
        rows += "\n" + "\n".join(cref.kept_fig3_rows(kept))
    near = {m: [mse >= 0.9 * floor[d] for (d, mm, h), pts in fig3.items() if mm == m for eta, mse in pts]
            for m in ("snn", "ann")}
    return ("| dataset | model | h | η | test error | ÷ mean image | SNN ÷ ANN | paper (Fig. 3) | scale |\n"
            "|---|---|---:|---:|---:|---:|---:|---|---|\n" + rows
            + "\n\nThe paper gives Fig. 3 only as a plot. For orientation, answering every test image with the mean "
            + "training image (`spikelib.experiments.comsa_autoencoders.mean_image_error`) scores "
            + ", ".join(f"{v:.4f} on {dataset_name(d).upper()}" for d, v in sorted(floor.items()))
            + " (dotted lines in the figure; '÷ mean image' is a network's error over it). At this scale "
            + f"**{sum(near['snn'])} of the {len(near['snn'])} spiking autoencoders** and {sum(near['ann'])} of the "
            + f"{len(near['ann'])} ANNs end within 10 % of that floor or above it"
            + (": they have learnt little beyond the average image, so their points say nothing about noise or "
               "embedding size." if sum(near["snn"]) + sum(near["ann"]) else ".")
            + cref.kept_fig3_note(kept, paper))


def _legend_order(label: str) -> tuple:
    """Spiking first, then by h; the mean-image line last."""
    return label.split(",")[0] != "snn", int(label.split("= ")[1]) if "= " in label else 99


def fig3_figure(fig3: Points, floor: Mapping[str, float], kept_points: Sequence[Mapping[str, Any]], *,
                scale: str, colours: Mapping[int, Any]):
    """Fig. 3: one panel per dataset with points (MNIST also for kept points alone), the scale's lines
    (spiking solid with circles, ANN dashed with squares, ``colours[h]``), the kept run's markers
    (:func:`cref.draw_kept_fig3_points`) and the mean-image error; a matplotlib figure, or None when there is
    nothing to plot."""
    import matplotlib.pyplot as plt

    datasets = [d for d in ("mnist", "fmnist") if any(k[0] == d for k in fig3) or (d == "mnist" and kept_points)]
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False, sharey=True)
    for ax, dataset in zip(axes[0], datasets):
        for (d, model, h), pts in fig3.items():
            if d != dataset:
                continue
            x, y = zip(*pts)
            ax.plot(x, y, marker="o" if model == "snn" else "s", ls="-" if model == "snn" else "--",
                    color=colours[h], label=f"{model}, h = {h}")
        cref.draw_kept_fig3_points(ax, kept_points, dataset, colours[32])
        if dataset in floor:
            ax.axhline(floor[dataset], color="0.4", ls=":", lw=1, label="mean training image")
        ax.set_title("MNIST" if dataset == "mnist" else "Fashion-MNIST", fontsize=11)
        ax.set_xlabel(r"noise factor $\eta$")
        ax.set_xticks(ETAS)
    axes[0, 0].set_ylabel("test reconstruction error")
    handles = {}
    for ax in axes[0]:
        handles.update({lab: hnd for hnd, lab in zip(*ax.get_legend_handles_labels())})
    order = sorted(handles, key=_legend_order)
    axes[0, -1].legend([handles[k] for k in order], order, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.suptitle(f"lines: scale {scale}" + ("; stars and crosses: kept paper-protocol run (scale paper)"
                                            if kept_points else ""), fontsize=9, x=0.02, ha="left")
    fig.tight_layout()
    return fig
