"""Exact alpha-synapse temporal-coding neurons (Comsa et al. 2021): functional core, layers, training.

- :func:`spike_times` -- exact output spike times, differentiable with the exact derivatives.
- :func:`membrane_potential`, :func:`alpha_kernel`, :func:`lambertw0` -- the pieces behind it.
- :class:`AlphaLayer`, :class:`AlphaNetwork` -- modules holding weights and trainable pulse times.
- :func:`classification_loss`, :func:`autoencoder_loss`, :func:`predict` -- losses with the authors' gradients.
- :class:`Hyperparameters`, :func:`fit`, :func:`train_step`, :func:`evaluate` -- training as in the paper.
- :func:`load_published_network` -- the authors' published MNIST networks.
- :class:`AutoencoderHyperparameters`, :func:`fit_autoencoder`, ... -- the spiking autoencoders (Comsa et al.
  2021b), in :mod:`spikelib.alpha.autoencoder` (the authors' sets and the sweep:
  :mod:`spikelib.experiments.comsa_autoencoders`).
"""

from spikelib.alpha.functional import membrane_potential, set_compile, spike_times
from spikelib.alpha.kernel import alpha_kernel, alpha_peak
from spikelib.alpha.lambertw import lambertw0
from spikelib.alpha.losses import autoencoder_loss, classification_loss, predict, spike_probabilities
from spikelib.alpha.modules import AlphaLayer, AlphaNetwork, initial_pulse_times
from spikelib.alpha.published import PUBLISHED_TAU, load_published_network
from spikelib.alpha.autoencoder import (
    AutoencoderHyperparameters,
    autoencoder_train_step,
    evaluate_autoencoder,
    fit_autoencoder,
)
from spikelib.alpha.training import (
    BOOLEAN_TABLE1,
    MNIST_README,
    MNIST_TABLE1,
    AlphaAdam,
    Hyperparameters,
    evaluate,
    fit,
    make_optimizer,
    train_epoch,
    train_step,
)

__all__ = [
    "spike_times", "membrane_potential", "alpha_kernel", "alpha_peak", "lambertw0", "set_compile",
    "AlphaLayer", "AlphaNetwork", "initial_pulse_times",
    "classification_loss", "autoencoder_loss", "predict", "spike_probabilities",
    "Hyperparameters", "BOOLEAN_TABLE1", "MNIST_TABLE1", "MNIST_README", "AlphaAdam", "make_optimizer",
    "train_step", "train_epoch", "evaluate", "fit",
    "load_published_network", "PUBLISHED_TAU",
    "AutoencoderHyperparameters", "autoencoder_train_step", "fit_autoencoder", "evaluate_autoencoder",
]
