"""The figures of the Hübotter et al. (2021) chapter (``notebooks/regularised_sae.ipynb``): Figs. 2A-B, 3,
4, 5 and 6 from the chapter's runs. Each function returns the matplotlib figure; the page saves and shows it
with :func:`spikelib.plotting.show`. matplotlib is imported when a figure is drawn (not needed otherwise).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from spikelib.experiments.huebotter import AXES
from spikelib.plotting import OKABE_ITO as C
from spikelib.reporting import scaled_filters, tile


def model_colours(models: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """One colour (no yellow on white) and one marker (circle: spiking, square: not) per model."""
    colours = {m: C[[0, 1, 2, 3, 4, 5, 7][i % 7]] for i, m in enumerate(models)}
    return colours, {m: ("o" if m.startswith("SAE") else "s") for m in models}


def _bare(ax) -> None:
    ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
    for sp in ax.spines.values():
        sp.set_visible(False)


def fig2a(rows: Sequence[tuple[str, Any]], labels: Sequence[Any], *, scale: str):
    """Fig. 2A: one strip per row ``(label, images (n, 28, 28))``, pixel values clipped to [0, 1], white gaps
    of 3 pixels; the first strip's columns are labelled with ``labels``."""
    import matplotlib.pyplot as plt

    gray = plt.get_cmap("gray").with_extremes(bad="white")  # NaN gaps drawn white
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 0.95 * len(rows)), squeeze=False)
    for i, (label, imgs) in enumerate(rows):
        ax = axes[i, 0]
        imgs = np.clip(np.asarray(imgs, dtype=np.float64), 0, 1)
        ax.imshow(tile(imgs, gap=3), cmap=gray, vmin=0, vmax=1, interpolation="nearest")
        _bare(ax)
        w = imgs.shape[-1] + 3
        ax.set_xticks([] if i else [j * w + imgs.shape[-1] // 2 for j in range(len(labels))],
                      [] if i else [str(k) for k in labels])
        ax.xaxis.set_ticks_position("top")
        ax.tick_params(length=0)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"Fig. 2A: inputs, Poisson encoding, reconstructions (pixel values 0–1, clipped; scale {scale})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def fig2b(models: Mapping[str, Any], *, scale: str, cols: int = 8):
    """Fig. 2B: the 16 filters of the input layer (conv 1) and of the output layer (deconv 2) of each model,
    ``cols`` per row, each scaled to its largest magnitude (:func:`spikelib.reporting.scaled_filters`)."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    fig, axes = plt.subplots(len(models), 2, figsize=(7.5, 0.95 * len(models)), squeeze=False)
    for i, (m, net) in enumerate(models.items()):
        for j, (w, title) in enumerate(((net.conv1.weight.detach()[:, 0], "input layer (conv 1)"),
                                        (net.deconv2.weight.detach()[:, 0], "output layer (deconv 2)"))):
            ax = axes[i, j]
            im = ax.imshow(tile(scaled_filters(w.cpu().numpy()), cols=cols, gap=1), cmap=cmap, vmin=-1, vmax=1)
            _bare(ax)
            if i == 0:
                ax.set_title(title, fontsize=10)
            if j == 0:
                ax.set_ylabel(m, rotation=0, ha="right", va="center", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.5, label="weight / largest |weight| of the filter")
    fig.suptitle(f"Fig. 2B: receptive fields, 16 filters of 5×5 pixels per layer (scale {scale})", fontsize=10)
    return fig


def cluster_panels(latent: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str], kind: str, title: str, *,
                   scale: str, ncol: int = 4):
    """Figs. 5 (``kind="activity"``), 6 (``kind="corr"``) and 7 (``kind="neuron_corr"``): per model, its
    latent matrix (neurons x examples), the correlation between examples, or the correlation between its
    active neurons, in clustered order, with a band of the examples' classes (Figs. 5-6). ``latent[m]``:
    ``matrix``, ``labels``, ``rows``, ``cols``, ``corr``, ``corr_order``, ``neuron_corr``,
    ``neuron_corr_order`` (as each kind needs); ``kinds[m]``: ``"vae"`` draws [-1, 1] in a diverging map."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if kind not in ("activity", "corr", "neuron_corr"):
        raise ValueError(f"kind must be 'activity', 'corr' or 'neuron_corr', got {kind!r}")
    class_cmap = ListedColormap(plt.get_cmap("tab10").colors)  # ten classes need ten colours
    n = len(latent)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.3 * nrow), squeeze=False)
    for ax, (m, d) in zip(axes.flat, latent.items()):
        if kind == "activity":
            order = d["cols"]
            vae = kinds[m] == "vae"
            im = ax.imshow(d["matrix"][np.ix_(d["rows"], d["cols"])], aspect="auto",
                           cmap="RdBu_r" if vae else "viridis", vmin=-1 if vae else 0, vmax=1, interpolation="nearest")
            ax.set_ylabel("latent neuron (clustered)", fontsize=8)
        else:
            order = d[f"{kind}_order"]
            im = ax.imshow(d[kind][np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_ylabel(f"{'active neuron' if kind == 'neuron_corr' else 'example'} (clustered)", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=7)
        if kind != "neuron_corr":  # neurons have no class
            band = ax.inset_axes([0, 1.01, 1, 0.07])
            band.imshow(np.asarray(d["labels"])[order][None, :], aspect="auto", cmap=class_cmap, vmin=-0.5,
                        vmax=9.5, interpolation="nearest")
            band.set_axis_off()
        ax.set_title(m + (f" ({len(order)} active)" if kind == "neuron_corr" else ""), fontsize=10, pad=16)
        ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
        ax.set_xlabel(f"{'active neuron' if kind == 'neuron_corr' else 'example'} (clustered)", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    if kind != "neuron_corr":
        list(axes.flat)[-1].legend(handles=[Patch(color=class_cmap(k), label=str(k)) for k in range(10)],
                                   title="class (band)", loc="center", ncol=2, fontsize=8)
    fig.tight_layout(h_pad=3.0)
    fig.suptitle(f"{title} (scale {scale})", fontsize=11, y=1.07)
    return fig


def _finish(ax, letter: str, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(letter, loc="left", fontweight="bold")
    if ax.lines:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "not at this scale", transform=ax.transAxes, ha="center")


LREC = "validation $L_\\mathrm{rec}$"
SPIKES = "spikes per example (all layers)"


def fig3(series: Mapping[str, Mapping[str, list]], rows_by_model: Mapping[str, Mapping[str, Any]],
         timings: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], *, scale: str, info: str):
    """Fig. 3: A-C validation Lrec against nz, T and the noise (one axis varied, :data:`AXES`), D spikes per
    example against Lrec over T, E Lrec after each epoch of the Table-1 runs, F-G seconds per training step
    against T (SAE) and nz (SAE, AE, VAE). ``info``: the text of the empty last panel (scale, device)."""
    import matplotlib.pyplot as plt

    models = list(settings["models"])
    colour, marker = model_colours(models)
    fig, axs = plt.subplots(2, 4, figsize=(15, 7.2))
    for ax, (axis, letter, xlabel) in zip(axs[0, :3], [("latent_sizes", "A", "latent size $n_z$"),
                                                        ("time_steps", "B", "time steps $T$"),
                                                        ("noise_levels", "C", "noise ε")]):
        key = AXES[axis]
        for m, rs in series[axis].items():
            if len(rs) > 1:
                ax.errorbar([r[key] for r in rs], [r["lrec"] for r in rs], yerr=[r["lrec_sd"] or 0 for r in rs],
                            marker=marker[m], color=colour[m], label=m, capsize=2)
        if axis == "latent_sizes":
            ax.set_xscale("log")
        _finish(ax, letter, xlabel, LREC)
    ax = axs[0, 3]
    for m, rs in series["time_steps"].items():
        pts = [(r["spikes_per_example"], r["lrec"], r["T"]) for r in rs if r.get("spikes_per_example") is not None]
        if len(pts) > 1:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colour[m], label=m)
            for x_, y_, t_ in pts:
                ax.annotate(f"T={t_}", (x_, y_), fontsize=7, xytext=(3, 3), textcoords="offset points")
    _finish(ax, "D", SPIKES, LREC)
    ax = axs[1, 0]
    for m in models:
        per = rows_by_model[m]["lrec_per_epoch"]
        ax.plot(range(1, len(per) + 1), per, marker=marker[m], color=colour[m], label=m)
    ax.set_xticks(range(1, settings["epochs"] + 1))
    _finish(ax, "E", f"epoch ({settings['n_train']:,} images each)", LREC)
    tt = sorted((t for t in timings if t["timing"] == "T"), key=lambda t: t["T"])
    axs[1, 1].plot([t["T"] for t in tt], [t["seconds_per_step"] for t in tt], marker="o", color=C[0], label="SAE")
    _finish(axs[1, 1], "F", "time steps $T$", "seconds per training step")
    ax = axs[1, 2]
    for i, kind in enumerate(("sae", "ae", "vae")):
        tk = sorted((t for t in timings if t["timing"] == "nz" and t["model"] == kind), key=lambda t: t["nz"])
        ax.plot([t["nz"] for t in tk], [t["seconds_per_step"] for t in tk], marker="os^"[i], color=C[i],
                label=f"{kind.upper()} (T = {tk[0]['T']})" if kind == "sae" and tk else kind.upper())
    ax.set_xscale("log")
    _finish(ax, "G", "latent size $n_z$", "seconds per training step")
    for ax in (axs[1, 1], axs[1, 2]):
        ax.set_ylim(bottom=0)
    axs[1, 3].set_axis_off()
    axs[1, 3].text(0, 0.5, info, fontsize=9, va="center")
    fig.suptitle("Fig. 3: bottlenecks, data efficiency and batch time", fontsize=11)
    fig.tight_layout()
    return fig


def fig4(decays: Mapping[str, Sequence[Mapping[str, Any]]], colour: Mapping[str, str], *, scale: str):
    """Fig. 4: A validation Lrec and B spikes per example against the decay τ, C the two against each other,
    for the models with more than one decay."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8))
    for m, rs in decays.items():
        if len(rs) < 2:
            continue
        tau = [r["decay"] for r in rs]
        axs[0].plot(tau, [r["lrec"] for r in rs], marker="o", color=colour[m], label=m)
        axs[1].plot(tau, [r["spikes_per_example"] for r in rs], marker="o", color=colour[m], label=m)
        axs[2].plot([r["spikes_per_example"] for r in rs], [r["lrec"] for r in rs], marker="o", color=colour[m],
                    label=m)
        for r in rs:
            axs[2].annotate(f"τ={r['decay']:g}", (r["spikes_per_example"], r["lrec"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    for ax, letter, xl, yl in ((axs[0], "A", "decay τ", LREC), (axs[1], "B", "decay τ", SPIKES),
                               (axs[2], "C", SPIKES, LREC)):
        _finish(ax, letter, xl, yl)
    fig.suptitle(f"Fig. 4: membrane decay (scale {scale})", fontsize=11)
    fig.tight_layout()
    return fig
