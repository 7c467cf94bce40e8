"""The caption and alt text of every figure in the book (issue #20), by the name it is shown under.

A notebook shows a figure with ``spikelib.plotting.show(fig, name)``; ``show`` looks the name up here (:func:`caption`)
and displays the figure with a numbered caption (in the book) or with a caption line (in a reader's Jupyter).

An entry's ``text`` says what the figure shows, which paper figure it reproduces (or that it is our own
addition), and what a reader must know to read it. It is MyST Markdown (math in ``$...$``) and holds
:data:`SCALE` where the sentence naming the scale goes: :func:`scale_sentence` of the scale the page runs at
(:func:`spikelib.scales.current`), or nothing where that is unknown. ``alt`` is a short description of the
image for screen readers, plain text on one line.

A name that a notebook builds with an f-string (``f"page_fig3_{dataset}"``) is covered by a key with the
same ``{field}``s (``"page_fig3_{dataset}"``): each field matches one piece of the name without ``/`` and is
substituted into the text and the alt (``{dataset}``). tests/test_captions.py checks that every name the
notebooks show has an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from spikelib.scales import SCALE_DESCRIPTIONS

#: The placeholder in a caption's text for the sentence that names the scale.
SCALE = "{scale}"

A = "Comsa et al. (2021a)"  # Temporal coding with alpha synaptic function
B = "Comsa et al. (2021b)"  # Spiking autoencoders with temporal coding
R = "Roy et al. (2019)"  # Spike-based backpropagation, from audio to image
H = "Hübotter et al. (2021)"  # Regularised deep spiking autoencoders
NOT_SCALED = "The figure is exact: the scale sets only the number of time samples drawn."


@dataclass(frozen=True)
class Caption:
    """A figure's caption (MyST, with :data:`SCALE`) and its alt text (plain, one line)."""

    text: str
    alt: str


def _c(text: str, alt: str) -> Caption:
    return Caption(" ".join(text.split()), " ".join(alt.split()))


CAPTIONS: Mapping[str, Caption] = MappingProxyType({
    # ------------------------------------------------------------ alpha_function
    "alpha_function_fig1a": _c(
        r"""The alpha function $u(t) = w\,t\,e^{-\tau t}$ for $(w, \tau)$ = (1, 1), (0.5, 1), (1, 2) and (1, 0.5);
        the dots and dotted lines mark each curve's closed-form peak $(1/\tau,\ w/(\tau e))$. The weight scales the
        curve in amplitude, the decay constant in amplitude and time. Reproduces """ + A + f""", Fig. 1a.
        {SCALE} {NOT_SCALED}""",
        "Line plot of four alpha-function curves over time, each rising to a marked peak and decaying; "
        "larger decay constants give earlier, lower peaks."),
    # ------------------------------------------------------------ alpha_published_networks
    "alpha_published_networks_fig1b": _c(
        r"""Membrane potential $V(t)$ of one alpha neuron (eq. 1, $\tau = 1$, drawn without reset) for the
        paper's example: inputs with weights 0.3, −0.4, 0.5, 0.7, 0.5, 0.8 at $t$ = 1, 8, 12, 15, 17, 18
        (dotted lines: excitatory green, inhibitory red, the weight above each). The star is the exact output
        spike time for the threshold $\theta = 0.5$ (dashed), which is ours: the paper's caption gives no threshold,
        only $t_{out} = 18.64$. Reproduces """ + A + f""", Fig. 1b. {SCALE} {NOT_SCALED}""",
        "Line plot of a membrane potential that steps up or down at six input times and crosses a dashed "
        "threshold just after the last input, where a star marks the output spike."),
    "alpha_published_networks_fig2": _c(
        r"""Left: one MNIST test image (the page's `digit_index`), pixel values $p$ from 0 to 255. Right: its
        latency code, the spike time $t = 1 - p/256$ of each of the 784 input neurons (pixels in row-major
        order); black pixels do not spike and are left out. Reproduces """ + A + f""", Fig. 2.
        {SCALE} The figure is the same at every scale.""",
        "A handwritten digit beside a scatter plot of spike time against input-neuron index, with spikes "
        "only where the digit has ink."),
    "alpha_published_networks_fig6": _c(
        r"""Spikes in every layer (input, hidden, output; rows) of the authors' published slow-regime and
        fast-regime networks (columns) classifying the digit of the previous figure: dots are neuron spikes,
        triangles the learned pulses that enter the next layer. Output neurons are labelled with their
        digit; the first to spike (circled) is the prediction. Reproduces """ + A + f""", Fig. 6.
        {SCALE} The figure is the same at every scale.""",
        "Six raster plots in three rows and two columns: spike time against neuron for the input, hidden "
        "and output layers of the slow and the fast network, with pulse markers and the winning output "
        "neuron circled."),
    "alpha_published_networks_fig7": _c(
        r"""Membrane potentials of two output neurons of the published slow-regime (left) and fast-regime
        (right) networks for the same digit: the target neuron (true label, solid) and the non-target neuron
        that spikes first among the others (dashed), with the threshold (dotted) and stars at the spikes.
        Each panel has its own axes, as in the paper, since the two regimes differ in speed and in depth of
        inhibition; the bottom row zooms in on the target's spike. Reproduces """ + A + f""", Fig. 7.
        {SCALE} The figure is exact: the scale sets only the number of time samples drawn.""",
        "Four line plots of two output neurons' membrane potentials over time, two per network, with the "
        "threshold and the spikes marked."),
    # ------------------------------------------------------------ alpha_boolean
    "alpha_boolean_fig3": _c(
        r"""The class that each trained 2–2–2 network (two hidden neurons and one synchronisation pulse)
        assigns to every pair of input spike times in $[0, 1]^2$, for the AND, OR, XOR and circles tasks:
        light blue class 0, light orange class 1, white where no output neuron spikes; the test examples on
        top (circles class 0, triangles class 1); each title gives the test accuracy. Reproduces """ + A +
        f""", Fig. 3. {SCALE} Every scale trains with the paper's protocol (at most 100 epochs, 1000 training
        and 150 test examples); the scale sets only the resolution of the class map.""",
        "Four square class maps, one per Boolean task, each split into two coloured regions by the "
        "network's decision boundary with the test points scattered on top."),
    "alpha_boolean_fig4": _c(
        r"""Membrane potentials (eq. 1, drawn without reset) of the two hidden neurons (`1_0`, `1_1`, solid)
        and the two output neurons (`2_0`, `2_1`, dashed) of the trained XOR network for inputs at
        $t = 0.4$ and $t = 0.6$ (dotted lines), with stars at the spikes, the learned pulse time (dash-dotted)
        and the threshold $\theta$. Reproduces """ + A + f""", Fig. 4. {SCALE}""",
        "Line plot of four membrane potentials over time after two input spikes, the neurons that spike "
        "marked with stars where they reach the horizontal threshold line."),
    # ------------------------------------------------------------ alpha_mnist_training
    "alpha_mnist_training_fig5": _c(
        r"""Learning dynamics of the 784–340–10 spiking network on MNIST, per epoch, on the test images (top
        to bottom): the test and running training accuracy; the mean spike time of the hidden and the output
        layer and the mean time of the first output spike; the pulse times. Epochs in the fast regime (the
        first output spike before the mean hidden spike) are shaded. One column per hyperparameter set
        trained at this page's scale and, where the book keeps one, a column for the paper-protocol run
        (1000 epochs with Table 1's values, computed by `python -m spikelib reference alpha_mnist_training`):
        that column is the one to compare with the paper, where the switch to the fast regime comes at epoch
        384. Reproduces """ + A + f""", Fig. 5. {SCALE}""",
        "Grid of line plots with three rows per column: accuracy, spike times and pulse times against "
        "epoch, with shaded bands over the epochs in the fast regime."),
    "alpha_mnist_training_fig8": _c(
        r"""Deep dream: input spike-time maps (28 × 28, light = early, like bright ink) adjusted by gradient
        descent until the authors' published slow-regime network produces the target class (the paper's 0, 1, 3 and 7)
        10 epochs in a row, starting from all 784 inputs spiking at $t = 0$, spike times kept non-negative.
        Top row: the paper's plain gradient descent (learning rate 0.1); bottom row: Adam (learning rate 0.01),
        not the paper's optimiser, added because the plain steps hardly move the image within the epochs the
        scale allows. Each title gives the epochs taken or that the class was not reached. Reproduces """ + A +
        f""", Fig. 8. {SCALE}""",
        "Two rows of four grey 28-by-28 images, one per target class, showing the input spike times found "
        "by plain gradient descent and by Adam."),
    # ------------------------------------------------------------ spiking_autoencoders
    "spiking_autoencoders_fig1": _c(
        r"""Membrane potential of one alpha neuron ($\tau = 1$, $\theta = 0.5$, drawn without reset) receiving
        inputs at $t$ = 1, 4, 5, 8, 12, 17, 19 with weights 0.5, 0.3, 0.4, −0.2, −0.3, 1.2, 0.9 (dotted lines,
        the weight above each); the star is the exact output spike time, beside the paper's $t_{out}$ = 19.39.
        Reproduces """ + B + f""", Fig. 1. {SCALE} The figure is exact and the same at every scale.""",
        "Line plot of a membrane potential rising and falling with seven inputs and crossing the dashed "
        "threshold after the last one, where a star marks the spike."),
    "spiking_autoencoders_fig3": _c(
        r"""Test reconstruction error against the noise factor $\eta$ for spiking autoencoders ($l = 1$; circles,
        solid) and ANN autoencoders (ReLU–sigmoid; squares, dashed) with embedding sizes $h$ = 8, 16, 32, on
        MNIST and Fashion-MNIST, for the configurations this scale trains. The dotted line is the error of
        answering every image with the mean training image: networks near it have learnt little more than the
        average image. Where the book keeps a paper-protocol run (`book/paper_runs/`), its MNIST points at
        $h = 32$ stand apart as unjoined markers (stars: spiking, crosses: ANN), labelled kept paper-protocol run:
        100 epochs on 54,000 images, tested on 10,000; the lines are this page's scale. Reproduces """ + B
        + f""", Fig. 3. {SCALE}""",
        "Line plots of test error against noise level for spiking and non-spiking autoencoders of three "
        "embedding sizes, one panel per dataset, a dotted mean-image line and, where kept, star and cross "
        "markers for the paper-protocol run."),
    "spiking_autoencoders_kept_curves": _c(
        r"""Validation reconstruction error per epoch of the kept paper-protocol run (`book/paper_runs/`):
        MNIST, $h = 32$, spiking autoencoders at $l = 1$ (left) and ReLU–sigmoid ANNs (right), one curve per
        noise factor $\eta$, 54,000 training and 6,000 validation images, 100 epochs; the dot marks the epoch
        whose weights are kept and tested, the dotted line the mean-image error on the test images. Our own
        addition, not a figure of the paper: """ + B + f""" show only the final errors (Fig. 3). The values
        are the kept run's (scale paper, its commit and date above the plot), whatever the page's scale. The
        page: {SCALE}""",
        "Line plots of validation error against epoch, one curve per noise level, for spiking and "
        "non-spiking autoencoders, with a dot at each curve's best epoch."),
    "spiking_autoencoders_kept_examples": _c(
        r"""The first MNIST test images of the kept paper-protocol run (`book/paper_runs/`, $h = 32$): for each
        noise factor $\eta$, the noisy image the spiking autoencoder receives, its reconstruction ($l = 1$), and
        the ReLU–sigmoid ANN's reconstruction (of the same digits with the ANN's zero-mean noise), as brightness
        (silent = black). Our own addition, not a figure of the paper (its Fig. 4 shows one digit): """ + B
        + f""". The values are the kept run's (scale paper), whatever the page's scale. The page: {SCALE}""",
        "Mosaic of small digit images, rows alternating noisy inputs and reconstructions by spiking and "
        "non-spiking autoencoders at increasing noise levels."),
    "spiking_autoencoders_fig4": _c(
        r"""One MNIST test digit, clean (top left), as the spiking autoencoder ($h = 32$, $l = 1$) receives it
        with the noise of each $\eta$ (top row), and its reconstruction (bottom row, the network's test error
        below), drawn as brightness $1 - t$ (silent = black). Reproduces """ + B + f""", Fig. 4. {SCALE}""",
        "Two rows of small digit images: the noisy inputs at increasing noise levels above the "
        "autoencoder's reconstructions."),
    "spiking_autoencoders_fig5": _c(
        r"""t-SNE maps of the hidden-layer spike times of MNIST test images, coloured by digit, for each
        embedding size $h$ (rows) and noise factor $\eta$ (columns) of the spiking autoencoders ($l = 1$) this
        scale trains; perplexity 20 as in the paper (less where there are fewer points), PCA initialisation.
        Axis units are arbitrary. Reproduces """ + B + f""", Fig. 5. {SCALE}""",
        "Grid of scatter plots of two-dimensional t-SNE embeddings, points coloured by digit class, one "
        "per embedding size and noise level."),
    "spiking_autoencoders_fig6": _c(
        r"""Bilinear interpolation between four test items of different classes (the corners), in embedding
        space (hidden spike times run through the decoder; left) and in pixel space (right), for the spiking
        autoencoder with $h = 32$, $l = 1$, $\eta = 0$ on MNIST (top) and Fashion-MNIST (bottom). Reproduces """
        + B + f""", Fig. 6. {SCALE}""",
        "Square mosaics of small images blending four corner items into one another, decoded from "
        "embeddings on the left and blended pixel by pixel on the right."),
    "spiking_autoencoders_fig7": _c(
        r"""Test accuracy of an RBF-kernel SVM trained on the embeddings of the spiking ($l = 1$, left) and ANN
        (right) autoencoders against the noise factor $\eta$, for $h$ = 8, 16, 32, on MNIST; the dotted crosses
        are the same SVM on the raw noisy pixels. Reproduces """ + B + f""", Fig. 7. {SCALE}""",
        "Line plots of classification accuracy against noise level for three embedding sizes and the raw "
        "pixels, one panel for spiking and one for non-spiking autoencoders."),
    "spiking_autoencoders_fig8": _c(
        r"""Distributions (density, log scale) of the spike times of the inputs, the hidden (embedding) neurons
        and the outputs over the test images, for the MNIST spiking autoencoders with $h = 32$, $\eta = 0$ and
        target latency $l = 1$ (top) and $l = 16$ (bottom); vertical lines are the individual pulses into the
        hidden (dashed) and the output (dotted) layer. Reproduces """ + B + f""", Fig. 8. {SCALE}""",
        "Two histograms of spike times, one per target latency, for the input, hidden and output layers, "
        "with vertical lines at the pulse times."),
    "spiking_autoencoders_fig9": _c(
        r"""Membrane potential (drawn without reset) of one output neuron, a bright pixel near the image centre,
        while the spiking autoencoders with $h = 32$, $\eta = 0$ and $l = 1$ (left) and $l = 16$ (right) reconstruct
        a test image: the dotted line is the target spike time, the star the output spike, the dashed line the
        threshold. Reproduces """ + B + f""", Fig. 9. {SCALE}""",
        "Two line plots of an output neuron's membrane potential over time, one per target latency, with "
        "the target time, the threshold and the output spike marked."),
    "spiking_autoencoders_fig10": _c(
        r"""Distributions of the weights from regular neurons and from pulses, in the encoder and the decoder
        (one panel each), of the MNIST spiking autoencoders with $h = 32$, $\eta = 0$ and $l$ = 1 and 16.
        Reproduces """ + B + f""", Fig. 10. {SCALE}""",
        "Four histograms of weights, regular and pulse weights of the encoder and the decoder, one outline "
        "per target latency, with a vertical line at zero."),
    "spiking_autoencoders_fig11": _c(
        r"""Left: test reconstruction error on the inverted-brightness MNIST images against the noise factor
        $\eta$, for the spiking autoencoder ($h = 32$, $l = 1$) and ANN autoencoders ($h = 32$) with ReLU–sigmoid and
        Gaussian–Gaussian activations. Right, where this scale trains them: the test error at $\eta = 0$ of ANNs
        with every encoder–decoder pair of ReLU, sigmoid, ELU, tanh and Gaussian activations, which the paper
        explores in its text. Reproduces """ + B + f""", Fig. 11. {SCALE}""",
        "Line plot of test error against noise level for the spiking autoencoder and two kinds of ANN on "
        "inverted images, beside a five-by-five heat map of ANN errors by encoder and decoder activation."),
    # ------------------------------------------------------------ spike_backprop
    "spike_backprop_fig3": _c(
        r"""Spike-MSE (z-scored) of each training batch of the 784–196–784 AE-SNN on MNIST, changing one
        setting of the reference run at a time: (a) the leak coefficient $\alpha$, (b) the mask function on or
        off, (c) the duration $T$ of the input spike train. The paper trains on 60,000 images (600 batches of
        100). Reproduces """ + R + f""", Fig. 3. {SCALE}""",
        "Three line plots of the batch error against training batch, for different leak values, with and "
        "without the mask, and for different spike-train durations."),
    "spike_backprop_fig4": _c(
        r"""(a) MSE (z-scored) of each training batch of the reference AE-SNN (784–196–784, $\alpha = 0.1$, mask)
        and of AE-ANNs of the same size trained with SGD and with Adam, on MNIST; (b) MNIST test images (top)
        and the AE-SNN's output spike counts (bottom). Reproduces """ + R + f""", Fig. 4. {SCALE}""",
        "Line plot of batch error against training batch for the spiking autoencoder and two ANNs, beside "
        "five test digits and their reconstructions."),
    "spike_backprop_fig5": _c(
        r"""(a) MSE (z-scored) of each training batch of the AE-SNNs with the scale's two hidden sizes (the
        paper: 784–512–784 and 784–1024–784) and of AE-ANNs of the same sizes trained with SGD and with Adam,
        on Fashion-MNIST, with the AE-SNNs' MSE on held-out test images (circles) during training, which
        Roy's online rule never lets settle; (b) test images (top) and the larger AE-SNN's output spike counts
        (bottom). Reproduces """ + R + f""", Fig. 5. {SCALE}""",
        "Line plot of batch error against training batch for spiking and non-spiking autoencoders of two "
        "sizes, with circles for the spiking ones' held-out error, beside five Fashion-MNIST test images and "
        "their reconstructions."),
    "spike_backprop_cochleagrams": _c(
        r"""Cochleagrams (39 channels, channel 0 the highest frequency, each divided by its maximum) of one FSDD
        test recording per spoken digit, as the audiocoder receives them; the title names the model that made
        them (Lyon's passive ear model, or a gammatone filterbank where that cannot load) and the frames.
        Our own addition, not a figure of the paper: """ + R + f""" describe their 39 × 1500 cochleagrams of
        TI-46 (for which FSDD stands in here) but show none. {SCALE}""",
        "Ten heat maps, one per spoken digit, of filter-channel response over time."),
    "spike_backprop_fig7": _c(
        r"""The audiocoder on dataset A (each FSDD recording paired with one MNIST image of its digit), test MSE
        (z-scored) of the whole audio-to-image model: (a) after each epoch of the AC-SNN for each duration Th of
        the stored hidden spike map; (b) the AC-SNN with Th = 15 against AC-ANNs trained with SGD and with Adam
        on full-precision hidden states; (c) at the end of training against the bits of the stored hidden
        state (Th for the SNN, quantisation bits for the ANNs). FSDD stands in for the paper's TI-46.
        Reproduces """ + R + f""", Fig. 7. {SCALE}""",
        "Three line plots of test error: against epoch for several hidden-map durations, against epoch "
        "for the spiking and two non-spiking audiocoders, and against the number of bits stored."),
    "spike_backprop_fig8a": _c(
        r"""Test MSE (z-scored) after each epoch of the AC-SNN with Th = 10 on dataset A (one MNIST image per
        digit) and dataset B (its own image for every training recording), FSDD standing in for TI-46. B's test
        MSE is the lowest over all its training images, A's is against the digit's one image, so the two are
        not on the same footing. Reproduces """ + R + f""", Fig. 8a. {SCALE}""",
        "Line plot of test error against epoch for datasets A and B."),
    "spike_backprop_fig8b": _c(
        r"""Images synthesised from FSDD test recordings, five per spoken digit (columns 0 to 9), by the
        audio-to-image model trained on dataset A (top) and dataset B (bottom), each image scaled to its own
        range. Reproduces """ + R + f""", Fig. 8b. {SCALE}""",
        "Two grids of small synthesised digit images, five rows by ten spoken digits, for datasets A and B."),
    # ------------------------------------------------------------ regularised_sae
    "regularised_sae_fig2a": _c(
        r"""The first validation image of each class (top row), its Poisson encoding (spike count over the $T$
        steps, scaled to the largest count) and each model's reconstruction (one row per model), from the run
        of each model with the lowest validation error. Reproduces """ + H + f""", Fig. 2A. {SCALE}""",
        "Rows of ten small digit images: the inputs, their spike-count encoding and the reconstructions "
        "of each model."),
    "regularised_sae_fig2b": _c(
        r"""The 16 filters of the input layer (conv 1, left) and of the output layer (deconv 2, right) of each
        model (rows), each scaled to its largest magnitude (red positive, blue negative). Reproduces """ + H +
        f""", Fig. 2B. {SCALE}""",
        "Two columns of small red-and-blue filter tiles, one row per model."),
    "regularised_sae_fig2c": _c(
        r"""Latent spikes (layer 3) of each spiking model (rows) for the ten images of Fig. 2A one after the
        other, $T$ steps each (black: spike; the red lines separate the images, labelled by digit below).
        Reproduces """ + H + f""", Fig. 2C. {SCALE}""",
        "Spike rasters of latent neurons over time, one per spiking model, divided into ten blocks, one "
        "per input image."),
    "regularised_sae_fig2d": _c(
        r"""Per layer, the distribution over neurons of the firing rate (spikes per step, averaged over the ten
        images of Fig. 2A) of each spiking model, on a log scale, with the Poisson input in green (first panel).
        Reproduces """ + H + f""", Fig. 2D. {SCALE}""",
        "A row of histograms of firing rate, one per layer, with one outline per spiking model."),
    "regularised_sae_fig3": _c(
        r"""A–C validation reconstruction loss $L_\mathrm{rec}$ against the latent size $n_z$, the time steps $T$
        and the input noise ε, one setting changed from the defaults at a time; D spikes per example against
        $L_\mathrm{rec}$ for the spiking runs of B; E validation $L_\mathrm{rec}$ after each epoch of the Table-1
        runs; F–G seconds per training step (batch of 64) against $T$ (SAE) and $n_z$ (SAE, AE, VAE), measured on
        the machine that built this page; the last panel states the run sizes. A panel reading "not at this
        scale" is an axis the page's scale leaves out to pay for its Table-1 runs (the quick scale varies no
        noise; `spikelib.scales`). The paper: 10 epochs of 60,000 images, 5 seeds. Reproduces """ + H + f""",
        Fig. 3. {SCALE}""",
        "Seven small line and scatter plots of reconstruction loss, spike counts and step time against "
        "latent size, time steps, noise and epoch, one line per model, and a text panel."),
    "regularised_sae_fig4": _c(
        r"""A validation $L_\mathrm{rec}$ and B spikes per example against the membrane decay τ, and C the two
        against each other, for the spiking models this scale varies. Reproduces """ + H + f""", Fig. 4.
        {SCALE}""",
        "Three line plots: reconstruction loss and spike count against the decay, and loss against spike "
        "count, one line per spiking model."),
    "regularised_sae_fig5": _c(
        r"""Each model's normalised latent activity for 10 validation examples per class (neurons × examples),
        rows and columns ordered by hierarchical clustering (average linkage, euclidean distance); the band above
        gives each example's class. Reproduces """ + H + f""", Fig. 5 (App. A.5). {SCALE}""",
        "One heat map per model of latent activity, neurons by examples, with a coloured class band above "
        "each."),
    "regularised_sae_fig6": _c(
        r"""The correlation between the examples' latent activity for each model, ordered by hierarchical
        clustering, with the examples' classes in the band. Reproduces """ + H + f""", Fig. 6 (App. A.5.2).
        {SCALE}""",
        "One square correlation heat map per model, examples by examples, with a coloured class band."),
    "regularised_sae_fig7": _c(
        r"""The correlation between each model's active latent neurons (neurons silent in every example left
        out) across the same examples, ordered by hierarchical clustering; the title gives the number of active
        neurons. Reproduces """ + H + f""", Fig. 7 (App. A.5.3). {SCALE}""",
        "One square correlation heat map per model, active latent neurons by active latent neurons."),
})


def scale_sentence(scale: str | None) -> str:
    """The sentence that replaces :data:`SCALE`: the scale and what it means ("" where it is unknown)."""
    if scale is None:
        return ""
    return f"Scale: {scale} ({SCALE_DESCRIPTIONS[scale]})." if scale in SCALE_DESCRIPTIONS else f"Scale: {scale}."


def _pattern(key: str) -> re.Pattern:
    """A key's regular expression: ``{field}`` matches one piece of a name without ``/``."""
    parts = re.split(r"\{(\w+)\}", key)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+?)" for i, p in enumerate(parts)) + r"\Z")


def lookup(name: str) -> tuple[Caption, dict[str, str]] | None:
    """The entry for ``name`` and the values of its key's fields (an exact key first); None if none."""
    if name in CAPTIONS and "{" not in name:
        return CAPTIONS[name], {}
    for key, entry in CAPTIONS.items():
        if "{" in key and (m := _pattern(key).match(name)):
            return entry, m.groupdict()
    return None


def _fill(text: str, values: Mapping[str, str]) -> str:
    for field, value in values.items():
        text = text.replace("{" + field + "}", value)
    return " ".join(text.split())


def caption(name: str, scale: str | None = None) -> Caption | None:
    """The caption of the figure shown as ``name``, with the scale sentence filled in (none where ``scale``
    is None) and any fields of a pattern key; None if ``name`` has no entry."""
    found = lookup(name)
    if found is None:
        return None
    entry, values = found
    text = _fill(entry.text, {**values, "scale": scale_sentence(scale)})
    return Caption(text, _fill(entry.alt, values))
