"""Discrete-time leaky integrate-and-fire networks (Roy et al. 2019; Hübotter et al. 2021): functional core,
layers, losses.

- :func:`simulate`, :func:`lif_step` -- the LIF recurrence (leak, bounds, fire, reset to zero).
- :func:`roy_neuron`, :func:`huebotter_neuron` -- each paper's neuron as keyword arguments of ``simulate``.
- :func:`cumulative_potential`, :func:`max_readout` -- Hübotter et al.'s potential read-out.
- :mod:`spikelib.lif.surrogate` -- spike functions: :func:`~spikelib.lif.surrogate.sigmoid`,
  :func:`~spikelib.lif.surrogate.fast_sigmoid`, :func:`~spikelib.lif.surrogate.straight_through`.
- :class:`LIFLayer`, :class:`LIFConv2d`, :class:`LIFConvTranspose2d` -- modules holding the weights.
- :func:`roy_loss`, :func:`roy_error`, :func:`zscored_mse` -- Roy et al.'s loss and Table 1 metric.
- :mod:`spikelib.lif.roy` -- Roy et al.'s two-layer LIF network, its online rule and BPTT, ``fit``
  (:class:`~spikelib.lif.roy.RoyConfig`), its Adam in :mod:`spikelib.lif.roy_adam`; the ANN baselines are in
  :mod:`spikelib.ann`.
- :mod:`spikelib.lif.audiocoder` -- Roy et al.'s AC-SNN and audio-to-image synthesis through a frozen
  decoder (the datasets A/B and the sweep: :mod:`spikelib.experiments.roy_audio`).

Input spikes come from :func:`spikelib.encoding.poisson`.

- :mod:`spikelib.lif.conv_sae` -- Hübotter et al.'s regularised convolutional SAE and its AE/VAE baselines (a
  CPU kernel makes the SAE fast: :mod:`spikelib.lif._sae_kernel`); :mod:`spikelib.lif.sae_losses`,
  :mod:`spikelib.lif.sae_metrics` (latent metrics), :mod:`spikelib.lif.sae_training` (training, ``fit``).
"""

from spikelib.lif import surrogate
from spikelib.lif.functional import (
    cumulative_potential,
    huebotter_neuron,
    lif_step,
    max_readout,
    roy_neuron,
    simulate,
)
from spikelib.lif.losses import roy_error, roy_loss, zscored_mse
from spikelib.lif.modules import LIFConv2d, LIFConvTranspose2d, LIFLayer, LIFWrapper
from spikelib.lif import audiocoder, roy  # noqa: E402  (after the modules they build on)
from spikelib.lif import conv_sae  # noqa: E402  (after the modules it builds on)
from spikelib.lif import sae_losses, sae_metrics, sae_training  # noqa: E402  (after conv_sae)

__all__ = [
    "simulate", "lif_step", "roy_neuron", "huebotter_neuron", "cumulative_potential", "max_readout",
    "surrogate", "LIFLayer", "LIFConv2d", "LIFConvTranspose2d", "LIFWrapper",
    "roy_loss", "roy_error", "zscored_mse",
    "roy", "audiocoder",
    "conv_sae", "sae_losses", "sae_metrics", "sae_training",
]
