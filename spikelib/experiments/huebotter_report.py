"""The tables and notes of the Hübotter et al. (2021) chapter (``notebooks/regularised_sae.ipynb``): each
function takes the summarised runs (:func:`spikelib.experiments.huebotter.summarise_runs`) and returns the
rows the results record keeps and/or the Markdown the page shows, ours beside the paper's numbers
(:mod:`spikelib.papers`). The page's own settings come in as ``settings`` (the scale's), ``paper`` (the
paper scale's) and ``scale``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from spikelib import papers, results
from spikelib.experiments import huebotter as hb
from spikelib.reporting import MISSING, fmt, markdown_table

#: Table 7's column names as the paper writes them.
WEIGHT_NAMES = {"a1_latent": "a1(l=3)"}
#: The paper value that marks a run that learned nothing (an all-black output): Table 4's AE at lr = 0.01.
BLANK_ID = "table4.lr=0.01.lrec"


def scale_note(scale: str, n_seeds: int) -> str:
    """``"quick, 1 seed"``: what every row of ours says about where it comes from."""
    return f"{scale}, {n_seeds} seed{'s' if n_seeds > 1 else ''}"


def steps_per_run(settings: Mapping[str, Any], *, epochs: str = "epochs", n_train: str = "n_train") -> int:
    """Training steps of one run: ``epochs * ceil(n_train / batch_size)``."""
    return int(settings[epochs]) * -(-int(settings[n_train]) // int(settings["batch_size"]))


def _cell(v: Any) -> str:
    return ", ".join(map(str, v)) if isinstance(v, list) else str(v)


def settings_table(settings: Mapping[str, Any], paper: Mapping[str, Any], *, scale: str, description: str,
                   configs: Mapping[str, list]) -> str:
    """"What this scale runs": the scale's sizes beside the paper's protocol (App. A.1-A.2), the axes'
    models and, below the paper scale, the warning that these are not the paper's end points."""
    s, n_seeds = settings, len(hb.experiment_seeds(settings))
    rows = [
        ("training images", s["n_train"], paper["n_train"]),
        ("validation images (MNIST test set)", s["n_val"], paper["n_val"]),
        ("epochs", s["epochs"], paper["epochs"]),
        ("training steps per run", steps_per_run(s), steps_per_run(paper)),
        ("batch size", s["batch_size"], paper["batch_size"]),
        ("time steps T", s["T"], paper["T"]),
        ("seeds per configuration", n_seeds, paper["seeds"]),
        ("latent sizes (Fig. 3A)", s["latent_sizes"], "10, 20, 50, 100"),
        ("time steps (Fig. 3B, D)", s["time_steps"], "10 … 100 (the text names 10 and 100)"),
        ("noise ε (Fig. 3C)", s["noise_levels"], "0 … 0.9 (the text names 0.3, 0.6, 0.9)"),
        ("decay τ (Fig. 4)", s["decays"], "0.9 … 0.99 (the text names 0.9 and 0.99)"),
    ]
    if "table6" in (s.get("searches") or []):
        t6, t6p = hb.search_settings("table6", s), hb.search_settings("table6", paper)
        rows.append(("Table 6 search runs (one per regulariser weight)",
                     f"{t6['epochs']} epoch of {t6['n_train']:,} images at T = {t6['T']} "
                     f"({t6['epochs'] * -(-t6['n_train'] // s['batch_size'])} steps)",
                     f"{t6p['epochs']} epoch of {t6p['n_train']:,} at T = {t6p['T']} "
                     f"({t6p['epochs'] * -(-t6p['n_train'] // paper['batch_size'])} steps)"))
    searches = list(s.get("searches") or [])
    names = lambda tables: ", ".join(t.replace("table", "Table ") for t in tables) or "none"  # noqa: E731
    rows.append(("parameter searches (App. A.2)", names(searches), names(paper.get("searches") or [])))
    table = markdown_table(("setting", "this scale", "paper"), [(n, _cell(v), p) for n, v, p in rows])
    left_out = [t for t in (paper.get("searches") or []) if t not in searches]
    axis_models = {**hb.AXIS_MODELS, **dict(s.get("axis_models", {}) or {})}
    axes_text = "; ".join(f"{axis.replace('_', ' ')}: {', '.join(axis_models.get(axis, ()))}" for axis in hb.AXES)
    return (table + f"\n\nScale **{scale}** ({description}). The bottleneck axes vary one setting of the defaults "
            f"at a time, for these models ({axes_text}); the default value of each axis is the Table-1 run. "
            f"{len(configs['models'])} Table-1 runs and {len(configs['axes'])} axis runs in all."
            + (f" Left out at this scale, to pay for the longer Table-1 runs: {names(left_out)}." if left_out
               and scale != "paper" else "")
            + ("" if scale == "paper" else
               " **These are not the paper's protocol**: a run here takes "
               f"{steps_per_run(s)} training steps where the paper's takes {steps_per_run(paper)}, at a shorter T, "
               "so the spiking models are far from converged and the numbers show where training stands early "
               "on, not the paper's end points."))


def table1(rows_by_model: Mapping[str, Mapping[str, Any]], models: Sequence[str], note: str) -> tuple[list, str]:
    """Table 1 (validation Lrec and the euclidean class distance ratio): the record's rows and the Markdown."""
    record, lines = [], []
    for m in models:
        r = rows_by_model[m]
        weights = ", ".join(f"{k} = {v:g}" for k, v in hb.MODELS[m].items() if k != "model") or "none"
        record.append({"model": m, "lrec": r["lrec"], "distance_ratio": r["distance_euclidean"],
                       "lrec_sd": r["lrec_sd"], "distance_ratio_sd": r["distance_euclidean_sd"], "n_seeds": r["n"]})
        pid = hb.PAPER_IDS[m]
        lines.append((m, weights, fmt(r["lrec"], r["lrec_sd"]), fmt(*hb.paper_value(f"table1.{pid}.lrec")),
                      fmt(r["distance_euclidean"], r["distance_euclidean_sd"]),
                      fmt(*hb.paper_value(f"table1.{pid}.distance_ratio")), note))
    header = ("model", "regularisation", "$L_\\mathrm{rec}$ (ours)", "$L_\\mathrm{rec}$ (paper)",
              "$s_\\mathrm{intra}/s_\\mathrm{inter}$ (ours)", "(paper)", "scale")
    return record, markdown_table(header, lines, align="llrrrrl")


def kept_table1(kept: Mapping[str, Any] | None) -> str:
    """Table 1 from the kept paper-protocol runs (``book/paper_runs/regularised_sae.json``) beside the paper,
    or a line saying none is kept yet and how to compute them."""
    if not kept or not kept.get("results", {}).get("table1"):
        return ("No paper-protocol run of this page is kept yet: `python -m spikelib reference regularised_sae` "
                "trains Table 1's models at the paper's protocol, one seed each (README: 'Reference runs').")
    prov = kept["provenance"]
    lines = [(r["model"], fmt(r["lrec"]), fmt(*hb.paper_value(f"table1.{hb.PAPER_IDS[r['model']]}.lrec")),
              fmt(r["distance_ratio"]), fmt(*hb.paper_value(f"table1.{hb.PAPER_IDS[r['model']]}.distance_ratio")),
              "paper, 1 seed") for r in kept["results"]["table1"]]
    header = ("model", "$L_\\mathrm{rec}$ (kept run)", "$L_\\mathrm{rec}$ (paper, 5 runs)",
              "$s_\\mathrm{intra}/s_\\mathrm{inter}$ (kept run)", "(paper)", "scale")
    return (f"**Kept paper-protocol runs** ({len(lines)} of the 7 models; {results.commits_label(prov)}, "
            f"{str(prov.get('date', ''))[:10]}; {prov.get('deviations', '')}):\n\n"
            + markdown_table(header, lines, align="lrrrrl"))


def _best(models: Sequence[str]) -> str:
    return min(models, key=lambda m: hb.paper_value(f"table1.{hb.PAPER_IDS[m]}.lrec")[0])


def _sae_rise(rows_by_model: Mapping[str, Mapping[str, Any]]) -> str:
    """Whether the plain SAE's validation error rose again after its lowest epoch (its neurons bursting, the
    paper's mechanism, §3.2), read from its summary row's ``lrec_per_epoch`` (Fig. 3E's curve)."""
    per = rows_by_model.get("SAE", {}).get("lrec_per_epoch") or []
    if len(per) < 2:
        return ""
    best = min(range(len(per)), key=per.__getitem__)
    if best == len(per) - 1:
        return "The plain SAE's error fell in every epoch here (Fig. 3E). "
    return (f"The plain SAE's error was lowest after epoch {best + 1} ({per[best]:.2f}) and rose to {per[-1]:.2f} "
            "by the last (Fig. 3E). The paper puts such a rise down to bursting neurons (compare the SAE's AFR "
            "with the regularised models' in the activity table below), which over its 10 epochs leave the SAE's "
            f"error at {hb.paper_printed('table1.sae.lrec')}. ")


def table1_comment(table1_rows: Sequence[Mapping[str, Any]], *, scale: str, blank_lrec: float,
                   paper_steps: int, paper_T: int, rows_by_model: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Which model has the lowest error here and in the paper, whether the regularised SAEs beat the plain
    SAE here (the paper's central claim, Table 1: 38.09 against 11.6 and 6.75), and the all-black output's
    error. ``rows_by_model`` (:func:`~spikelib.experiments.huebotter.summarise_runs` by name) adds whether
    the plain SAE's error rose after its best epoch."""
    by_lrec = sorted(table1_rows, key=lambda r: r["lrec"])
    spiking = [r for r in table1_rows if r["model"].startswith("SAE")]
    best_spiking = min(spiking, key=lambda r: r["lrec"])["model"] if spiking else MISSING
    paper_sae = [m for m in hb.MODELS if m.startswith("SAE")]
    lrec = {r["model"]: r["lrec"] for r in table1_rows}
    claim = ""
    if "SAE" in lrec and any(m in lrec for m in ("SAE-sparse", "SAE-dense")):
        parts = [f"{m} {lrec[m]:.2f} ({'below' if lrec[m] < lrec['SAE'] else 'not below'} it)"
                 for m in ("SAE-sparse", "SAE-dense") if m in lrec]
        claim = (f"The paper's claim, that the regularisers lower the plain SAE's error, against the SAE's "
                 f"{lrec['SAE']:.2f} here: " + ", ".join(parts) + ". ")
    return (f"At this scale the lowest error is {by_lrec[0]['model']}'s and the best spiking model is "
            f"{best_spiking} (the paper: {_best(list(hb.MODELS))} overall, {_best(paper_sae)} among the spiking "
            "models). " + claim
            + ("" if scale == "paper" else
               f"The paper's end points come after {paper_steps:,} steps at T = {paper_T}; the models here are "
               "far from converged, so their errors lie above the paper's. " + _sae_rise(rows_by_model or {}))
            + f"For reference, an all-black output scores $L_\\mathrm{{rec}}$ = {blank_lrec:.1f} on these validation "
            f"images (the paper's {hb.paper_printed(BLANK_ID)} on the full test set). The VAEs' ratios near 1 (no "
            "class structure in a sampled latent code) are the paper's qualitative finding to compare.")


def table8(rows_by_model: Mapping[str, Mapping[str, Any]], models: Sequence[str], note: str) -> tuple[list, str]:
    """Table 8 (the class distance ratio with five distances): ours, then the paper's in parentheses."""
    record, lines = [], []
    for m in models:
        r = rows_by_model[m]
        record.append({"model": m, **{d: r.get(f"distance_{d}") for d in hb.DISTANCES},
                       **{f"{d}_sd": r.get(f"distance_{d}_sd") for d in hb.DISTANCES}, "n_seeds": r["n"]})
        cells = [f"{fmt(r.get(f'distance_{d}'), r.get(f'distance_{d}_sd'))} "
                 f"({fmt(hb.paper_value(f'table8.{hb.PAPER_IDS[m]}.{d}')[0])})" for d in hb.DISTANCES]
        lines.append((m, *cells, note))
    return record, markdown_table(("model", *hb.DISTANCES, "scale"), lines, align="l" + "r" * len(hb.DISTANCES) + "l")


def table2(rows: Sequence[Mapping[str, Any]], latent_sizes: Sequence[int] = (10, 20, 50, 100)) -> tuple[int, str]:
    """Table 2 (parameter counts of :func:`~spikelib.experiments.huebotter.parameter_table`) beside the
    paper's: the number of counts equal to the paper's, and the Markdown."""
    n_match, lines = 0, []
    for nz in latent_sizes:
        cells = []
        for kind in ("SAE", "AE", "VAE"):
            ours = next(r["parameters"] for r in rows if r["model"] == kind and r["nz"] == nz)
            pv = papers.value(f"huebotter.table2.{kind.lower()}.nz{nz}")
            n_match += pv is not None and int(pv) == ours
            cells += [f"{ours:,}", f"{int(pv):,}" if pv is not None else MISSING]
        lines.append((nz, *cells))
    header = ("$n_z$", "SAE (ours)", "SAE (paper)", "AE (ours)", "AE (paper)", "VAE (ours)", "VAE (paper)")
    return n_match, markdown_table(header, lines, align="r" * 7)


def activity(rows_by_model: Mapping[str, Mapping[str, Any]], models: Sequence[str], note: str) -> tuple[list, str]:
    """§3.2's latent activity (INP, ANR, AFR, RAE) and the spikes per example: ours, the paper's in
    parentheses (:func:`~spikelib.experiments.huebotter.paper_activity`)."""
    record, lines = [], []
    for m in models:
        r = rows_by_model[m]
        record.append({"model": m, **{k: r.get(k) for k in ("inp", "anr", "afr", "rae", "spikes_per_example",
                                                             "latent_spikes_per_example")},
                       **{f"{k}_sd": r.get(f"{k}_sd") for k in hb.ACTIVITY}, "n_seeds": r["n"]})
        pa = hb.paper_activity(m)
        cells = [f"{fmt(r.get(k), r.get(k + '_sd'))} ({fmt(*pa[k]) if pa[k] else MISSING})" for k in hb.ACTIVITY]
        spk, lat = r.get("spikes_per_example"), r.get("latent_spikes_per_example")
        cells += [f"{spk:,.0f}" if spk is not None else MISSING, f"{lat:,.1f}" if lat is not None else MISSING]
        lines.append((m, *cells, note))
    header = ("model", "INP", "ANR", "AFR", "RAE", "spikes per example (all layers)", "latent spikes per example",
              "scale")
    return record, markdown_table(header, lines, align="lrrrrrrl")


def axes(series: Mapping[str, Mapping[str, list]], note: str) -> tuple[list, str]:
    """The bottleneck axes (Figs. 3A-D, 4): the record's rows (every point, per axis and model) and the
    Markdown of the models with more than one point on their axis."""
    record = [{"axis": axis, "model": m, hb.AXES[axis]: r[hb.AXES[axis]], "lrec": r["lrec"], "lrec_sd": r["lrec_sd"],
               "spikes_per_example": r.get("spikes_per_example"), "n": r["n"]}
              for axis, per in series.items() for m, rs in per.items() for r in rs]
    lines = [(a["axis"].replace("_", " "), a["model"], f"{a[hb.AXES[a['axis']]]:g}", fmt(a["lrec"], a["lrec_sd"]),
              MISSING if a["spikes_per_example"] is None else format(a["spikes_per_example"], ",.0f"), note)
             for a in record if len(series[a["axis"]][a["model"]]) > 1]
    header = ("axis", "model", "value", "$L_\\mathrm{rec}$", "spikes per example", "scale")
    return record, (markdown_table(header, lines, align="llrrrl")
                    + "\n\nThe paper gives Figs. 3 and 4 only as plots; its text: the AEs fail for $n_z \\leq 50$, "
                    "SAE-sparse cannot solve the task at T = 10 (SAE-dense can), no model solves it at ε = 0.9.")


def spike_error_text(correlations: Sequence[Mapping[str, Any]], *, scale: str, n_seeds: int) -> str:
    """App. A.4.1's two correlations (r = -0.83) beside ours (:func:`huebotter.spike_error_correlations`)."""
    rows = [(f"Fig. {c['figure']}", c["model"], c["axis"].replace("_", " "),
             ", ".join(f"{v:g}" for v in c["values"]) or MISSING, c["n_points"],
             MISSING if c["r"] is None else f"{c['r']:.2f}", MISSING if c["p"] is None else f"{c['p']:.1g}",
             "−0.83 (p < 1e-5)", scale_note(scale, n_seeds)) for c in correlations]
    return (markdown_table(("figure", "model", "axis", "values", "runs", "r", "p", "paper", "scale"), rows,
                           align="lllrrrrll")
            + "\n\nPearson's r between spikes per example and validation $L_\\mathrm{rec}$ over single runs (every "
            "seed a point), the other settings at their defaults; a dash where this scale has fewer than 3 runs "
            "on that axis. The paper notes that the relation of Fig. 3D looks exponential rather than linear.")


def timing(timings: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any], *, scale: str, device: str) -> str:
    """Seconds per training step (Fig. 3F-G) as a table."""
    sae_T = {t["T"]: t["seconds_per_step"] for t in timings if t["timing"] == "T"}
    nz_t = {(t["model"], t["nz"]): t["seconds_per_step"] for t in timings if t["timing"] == "nz"}
    lines = [(f"SAE, T = {T}, n_z = {defaults['nz']}", f"{v:.3f}", f"{scale}, {device}")
             for T, v in sorted(sae_T.items())]
    lines += [(f"{k.upper()}, n_z = {nz}, T = {defaults['T']}", f"{v:.3f}", f"{scale}, {device}")
              for (k, nz), v in sorted(nz_t.items())]
    return (markdown_table(("measurement", "seconds per step", "scale"), lines, align="lrl")
            + "\n\nThe paper shows these times (RTX 2080 Ti GPU) only as plots: batch time grows linearly with T and "
            "hardly with the model size, and the SAE takes much longer per batch than the baselines. Ours were "
            "measured on this machine while other work may have shared it.")


def fig4_notes(decays: Mapping[str, Sequence[Mapping[str, Any]]], *, scale: str, n_seeds: int) -> str:
    """Fig. 4's claims (App. A.4.1) beside ours: the decay of the lowest error, and fewer spikes at the larger
    decay; a line saying the axis is not varied where no model has two decays."""
    if not any(len(rs) > 1 for rs in decays.values()):
        return (f"Scale {scale} trains one decay per model, so Fig. 4 has no curve here: the decay axis is left out "
                "at this scale to pay for its Table-1 runs (`spikelib.scales`); the paper scale varies it.")
    lines = []
    for m, rs in decays.items():
        if len(rs) > 1 and m in hb.PAPER_IDS:
            try:
                paper_tau = hb.paper_value(f"fig4a.{hb.PAPER_IDS[m]}.best_decay")[0]
            except KeyError:
                continue  # the paper names the best decay of the two regularised SAEs only
            best_tau = min(rs, key=lambda r: r["lrec"])["decay"]
            fewer = rs[-1]["spikes_per_example"] < rs[0]["spikes_per_example"]
            lines.append(f"- {m}: lowest error at τ = {best_tau:g} here (paper: τ = {paper_tau:g}); "
                         f"{'fewer' if fewer else 'more'} spikes at the larger decay (paper: generally fewer). "
                         f"Scale {scale}, {n_seeds} seed{'s' if n_seeds > 1 else ''}.")
    if not lines:
        return ""
    return "\n".join(lines) + ("" if scale == "paper" else
                               "\n\nWith the short training of this scale, a faster decay (more spikes, Fig. 4B) may "
                               "simply make learning easier early on; the paper's ordering is for fully trained "
                               "models.")


#: App. A.5.3's order of the models by the average absolute correlation between latent neurons, highest first
#: (read from its Fig. 7; the paper gives no numbers; SAE-sparse and AEl2 "comparable").
FIG7_ORDER = ("SAE", "SAE-dense", "SAE-sparse", "AEl2", "VAE")


def neuron_correlation_table(latent: Mapping[str, Mapping[str, Any]], *, scale: str) -> str:
    """Fig. 7's summary: per model its active latent neurons and the mean absolute correlation between them
    (:func:`spikelib.lif.sae_metrics.mean_abs_correlation`), and their order beside the paper's."""
    from spikelib.lif.sae_metrics import mean_abs_correlation

    r = {m: mean_abs_correlation(d["neuron_corr"]) for m, d in latent.items()}
    table = markdown_table(["model", "active latent neurons", "mean \\|r\\| between them", "scale"],
                           [(m, f"{len(d['active'])} of {len(d['matrix'])}", fmt(r[m], digits=3), scale)
                            for m, d in latent.items()], align="lrrl")
    ours = sorted((m for m in r if m in FIG7_ORDER and r[m] == r[m]), key=lambda m: -r[m])  # NaN: < 2 active
    if not ours:
        return table + "\n\nNo model has two active latent neurons at this scale."
    rank = {m: i for i, m in enumerate(FIG7_ORDER)}
    rank["AEl2"] = rank["SAE-sparse"]  # "comparable": either order of the two agrees with the paper
    same = "the paper's order" if all(rank[a] <= rank[b] for a, b in zip(ours, ours[1:])) else "a different order"
    return (table + "\n\nThe paper (App. A.5.3, read from its Fig. 7; no numbers given) orders the average absolute "
            f"correlation {FIG7_ORDER[0]} > {FIG7_ORDER[1]} > {FIG7_ORDER[2]} ≈ {FIG7_ORDER[3]} > {FIG7_ORDER[4]}. "
            f"Here, at {scale}: {' > '.join(ours)} ({same}).")


def search_table(table: str, rows: Sequence[Mapping[str, Any]], settings: Mapping[str, Any],
                 paper: Mapping[str, Any], *, note: str) -> tuple[list, str]:
    """One search table (Tables 4-6) from its summarised runs ``rows``: the record's rows (model, key, value,
    our Lrec, INP and AFR of layer 3 with their SDs, the paper's where the table prints them) and the
    Markdown, ours beside the paper's. ``note``: the scale note; Table 6 adds its own run sizes
    (:func:`~spikelib.experiments.huebotter.search_settings`)."""
    own = hb.search_settings(table, settings)
    if own:
        note += f", {steps_per_run({**settings, **own})} steps at T = {own['T']}"
    record, lines = [], []
    for row in hb.search_rows(table, rows):
        r = row["run"]
        ours = {k: None if r is None else r.get(k) for k in ("lrec", "lrec_sd", "inp", "inp_sd", "afr", "afr_sd")}
        record.append({"model": row["model"], "key": row["key"], "value": row["value"],
                       "lrec": ours["lrec"], "paper_lrec": row["paper_lrec"], "lrec_sd": ours["lrec_sd"],
                       **{k: ours[k] for k in ("inp", "inp_sd", "afr", "afr_sd")},
                       **{f"paper_{q}": row[f"paper_{q}"] for q in hb.SEARCH_COLUMNS.get(table, ())},
                       "n_seeds": None if r is None else r["n"]})
        lines.append((row["model"], row["key"], f"{row['value']:g}", fmt(r["lrec"], r["lrec_sd"]) if r else MISSING,
                      fmt(row["paper_lrec"], row["paper_lrec_sd"]),
                      *(c for q in ("inp", "afr") for c in (fmt(ours[q]), fmt(row.get(f"paper_{q}"),
                                                                              row.get(f"paper_{q}_sd")))),
                      note))
    header = ("model", "varied", "value", "$L_\\mathrm{rec}$ (ours)", "(paper)", "INP (ours)", "(paper)",
              "AFR (ours)", "(paper)", "scale")
    return record, f"**{table.replace('table', 'Table ')}**\n\n" + markdown_table(header, lines, align="lllrrrrrrl")


def search_protocol_note(table: str, record: Sequence[Mapping[str, Any]], settings: Mapping[str, Any],
                         paper: Mapping[str, Any], *, scale: str, blank_lrec: float) -> str:
    """Where a search's own run sizes are not the paper's (Table 6 below paper scale): what they are, and
    how many runs stay near the all-black output's error; empty otherwise."""
    own, own_paper = hb.search_settings(table, settings), hb.search_settings(table, paper)
    if not own or own == own_paper:
        return ""
    steps = steps_per_run({**settings, **own})
    n_blank = sum(1 for r in record if r["lrec"] is not None and r["lrec"] > 0.8 * blank_lrec)
    name = table.replace("table", "Table ")
    return (f"**Not the paper's protocol for {name}.** Each run here trains {own['epochs']} epoch(s) of the first "
            f"{own['n_train']:,} training images at T = {own['T']} ({steps} steps, "
            f"{len(hb.experiment_seeds(settings))} seed(s)); the paper's trains {own_paper['epochs']} epoch of "
            f"{own_paper['n_train']:,} images at T = {own_paper['T']} ({steps_per_run({**paper, **own_paper})} "
            f"steps, {paper['seeds']} seeds). The {len(hb.search_configs(table, settings))} SAE runs are shortened "
            f"to fit this page's budget at scale {scale}: the errors show where the SAE stands after {steps} steps "
            "under each regulariser, not the paper's one-epoch values. An all-black output scores "
            f"{blank_lrec:.1f} on these validation images (the paper's {hb.paper_printed('table6.p1=0.1.lrec')}-"
            f"{hb.paper_printed(BLANK_ID)} marks a run that learned nothing); {n_blank} of the {len(record)} runs "
            "here are above 80 % of it.")


def table7(t7: Sequence[Mapping[str, Any]], note: str) -> tuple[list, str]:
    """Table 7 from :func:`~spikelib.experiments.huebotter.table7_rows`: the record's rows and the Markdown,
    with what each row is matched to (a Table-1 run, an assumed run, or why none)."""
    record, lines = [], []
    for r in t7:
        run = r["run"]
        if r["basis"] == "table1":
            weights = (", ".join(f"{WEIGHT_NAMES.get(k, k)} = {v:g}" for k, v in r["weights"].items())
                       or "no regularisation")
            what = f"Table-1 {r['table1']} ({weights})"
        elif r["basis"] == "assumed":
            what = "assumed: " + ", ".join(f"{k} = {v:g}" for k, v in r["assumed"].items())
        else:
            what = "none: " + r["why"]
        cells = []
        for k in ("lrec", "afr", "inp"):
            cells += [fmt(run.get(k), run.get(k + "_sd")) if run else MISSING, fmt(*r[k])]
        lines.append((r["block"], ", ".join(f"{v:g}" for v in r["printed"]) or "none", *cells, what,
                      note if run else MISSING))
        record.append({"block": r["block"], "printed": list(r["printed"]), "basis": r["basis"],
                       "model": r["table1"], "assumed": r["assumed"], "why": r["why"],
                       **{f"paper_{k}": r[k][0] for k in ("lrec", "afr", "inp")},
                       **{k: (run.get(k) if run else None) for k in ("lrec", "afr", "inp")},
                       **{f"{k}_sd": (run.get(f"{k}_sd") if run else None) for k in ("lrec", "afr", "inp")},
                       "n_seeds": run["n"] if run else None})
    header = ("block", "weights as printed", "$L_\\mathrm{rec}$ (ours)", "(paper)", "AFR (ours)", "(paper)",
              "INP (ours)", "(paper)", "our run", "scale")
    return record, markdown_table(header, lines, align="rlrrrrrrll")


def table7_comment(t7: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], *, scale: str) -> str:
    """What Table 7's rows are matched to, and where the paper disagrees with itself."""
    s = settings
    dense = next(r for r in t7 if r["table1"] == "SAE-dense")
    twin = next(r for r in hb.TABLE7 if not r["table1"] and r["block"] == dense["block"]
                and r["printed"] == (dense["printed"][0], 0.1))  # the row printing 0.01, 0.1
    unreg = next(r for r in hb.TABLE7 if r["table1"] == "SAE")
    ran_assumed = any(r["basis"] == "assumed" for r in t7)
    seeds = len(hb.experiment_seeds(s))
    return ((f"Ours are the Table-1 runs at scale {scale} ({s['epochs']} epoch(s) of {s['n_train']:,} images at "
             f"T = {s['T']}, {seeds} seed(s)), not 10 epochs of 60,000 at T = 100; INP and AFR are layer 3's. "
             if scale != "paper" else "INP and AFR are layer 3's. ")
            + "The SAE-dense row prints " + ", ".join(f"{v:g}" for v in dense["printed"]) + " where Table 1 gives "
            + ", ".join(f"{WEIGHT_NAMES.get(k, k)} = {v:g}" for k, v in dense["weights"].items())
            + f" for the same results; our run uses Table 1's weights (the row printing 0.01, 0.1 has "
            f"{twin['lrec'][0]:.2f}, not {dense['lrec'][0]:.2f}). The unregularised row's SD is {unreg['lrec'][1]:.2f} "
            f"here and {hb.paper_value('table1.sae.lrec')[1]:.2f} in Table 1. The caption's \"L1 regularization is "
            "excluded\" names none of the five columns, and SAE-sparse, a row of this table, uses $p_1$. "
            + (f"The first block's single-weight rows were run under our assumption ({hb.TABLE7_ASSUMPTION}); the "
               "paper does not say so." if ran_assumed else
               f"Under our assumption ({hb.TABLE7_ASSUMPTION}; the paper does not say so) the first block's four "
               f"rows run where a scale lists `table7` in `searches` (paper scale), not at scale {scale}."))


def _range(models: Sequence[str]) -> str:
    v = [hb.paper_value(f"table1.{hb.PAPER_IDS[m]}.distance_ratio")[0] for m in models]
    return f"{min(v):.2f}–{max(v):.2f}"


def reproduction_notes(table1_rows: Sequence[Mapping[str, Any]], rows_by_model: Mapping[str, Mapping[str, Any]],
                       settings: Mapping[str, Any], paper: Mapping[str, Any], *, scale: str, n_match: int,
                       blank_lrec: float, kinds: Mapping[str, str], n_axis_runs: int) -> str:
    """"What reproduces, and what does not": Table 2's counts, the class structure, the latent activity,
    the runs that output blank images, the errors, and how far the scale is from the paper's protocol.
    ``kinds``: model name -> ``"sae"``/``"ae"``/``"vae"``."""
    s, t1 = settings, {r["model"]: r for r in table1_rows}
    notes = [f"- Table 2's parameter counts: {n_match} of 12 exact (any scale)."]
    vaes, others = ("VAE", "betaVAE"), ("SAE", "SAE-sparse", "SAE-dense", "AE", "AEl2")
    vae_ratio = [t1[m]["distance_ratio"] for m in vaes if m in t1]
    other_ratio = [t1[m]["distance_ratio"] for m in others if m in t1]
    if vae_ratio and other_ratio:
        notes.append("- Class structure (Table 1's last column): VAE/βVAE ratios "
                     f"{', '.join(f'{v:.2f}' for v in vae_ratio)} "
                     f"against {min(other_ratio):.2f}–{max(other_ratio):.2f} for the SAEs and AEs (the paper: "
                     f"{_range(vaes)} against {_range(others)}).")
    sae_rows = [m for m in ("SAE", "SAE-sparse", "SAE-dense") if m in rows_by_model]
    if sae_rows:
        paper_act = ", ".join(f"{m} {hb.paper_activity(m)['inp'][0]:.2f} / {hb.paper_activity(m)['afr'][0]:.2f}"
                              for m in ("SAE", "SAE-sparse", "SAE-dense"))
        notes.append("- Latent activity of the spiking models here: " + "; ".join(
            f"{m} INP {rows_by_model[m]['inp']:.2f}, AFR {rows_by_model[m]['afr']:.2f}" for m in sae_rows)
            + f" (the paper after 10 epochs: {paper_act}).")
    dead = [m for m in s["models"] if t1[m]["lrec"] > 0.8 * blank_lrec]
    if dead:
        notes.append(f"- {', '.join(dead)} output nearly blank images at this scale: $L_\\mathrm{{rec}}$ above 80 % of "
                     f"{blank_lrec:.1f}, the error of an all-black output on these validation images (the paper's "
                     f"{hb.paper_printed(BLANK_ID)} in Tables 4-6 marks such runs). Their latent statistics describe "
                     "a network that has not learned yet, not the trained model the paper describes."
                     + (" A VAE's ratio near 1 is then no evidence for the paper's finding: its decoder ignores the "
                        "latent code, which is noise drawn around the prior. (Its output layer is a ReLU without bias: "
                        "once the first steps drive it below zero no error flows back; the paper's Table 5 gives "
                        "exactly the blank-image error for the VAE with $l_2 \\leq 10^{-4}$ after 10 epochs.)"
                        if any(kinds[m] == "vae" for m in dead) else ""))
    notes.append(f"- Reconstruction errors at scale {scale} (Table 1): " + "; ".join(
        f"{m} {t1[m]['lrec']:.1f} (paper {hb.paper_value(f'table1.{hb.PAPER_IDS[m]}.lrec')[0]})" for m in s["models"])
        + ".")
    if scale != "paper":
        notes.append(f"- Not the paper's protocol: {s['epochs']} epoch(s) of {s['n_train']:,} images at T = {s['T']} "
                     f"({len(hb.experiment_seeds(s))} seed(s)) against {paper['epochs']} epochs of "
                     f"{paper['n_train']:,} at T = {paper['T']} ({paper['seeds']} seeds). The paper's SAE numbers are end points of "
                     f"{steps_per_run(paper):,} training steps; the models here have had {steps_per_run(s)}, so their "
                     "errors and dead-neuron proportions are far above the paper's; the axes have "
                     f"{n_axis_runs} runs (the paper: every model at 3-4 values of each axis, 5 seeds).")
    return "\n".join(notes)
