"""LIF layers: a synaptic operation, then :func:`~spikelib.lif.functional.simulate` (Roy et al. 2019, §2.2;
Hübotter et al. 2021, §2.2).

Thin ``nn.Module`` wrappers: each holds one synapse module (``nn.Linear``, ``nn.Conv2d``,
``nn.ConvTranspose2d``; no bias by default, as in both papers) and the neuron's keyword arguments for
``simulate`` (e.g. ``**roy_neuron()``), nothing else. ``forward`` maps input spikes (T, B, ...) to
``(spikes, v)``. The synapse has no memory, so it runs on all T steps at once with time folded into the
batch; only the neuron's recurrence steps through time.
"""

from __future__ import annotations

import torch
from torch import nn

from spikelib.lif.functional import simulate


class LIFWrapper(nn.Module):
    """LIF neurons driven by a stateless synapse module applied to every time step.

    ``neuron`` are the keyword arguments of :func:`~spikelib.lif.functional.simulate` other than ``v0``
    (``leak`` and ``threshold`` at least). The synapse sees (T * B, ...) inputs.
    """

    def __init__(self, synapse: nn.Module, **neuron):
        super().__init__()
        if "v0" in neuron:
            raise TypeError("v0 is a per-call argument: pass it to forward")
        # one tiny run checks every neuron argument now rather than at the first forward pass
        simulate(torch.zeros(1, 1), **neuron)
        self.synapse = synapse
        self.neuron = dict(neuron)

    @property
    def weight(self) -> nn.Parameter:
        return self.synapse.weight

    def currents(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """Synaptic currents (T, B, ...) of input spikes (T, B, ...), all time steps in one call."""
        if spikes_in.ndim < 2:
            raise ValueError(f"inputs must be (T, B, ...), got shape {tuple(spikes_in.shape)}")
        T = spikes_in.shape[0]
        return self.synapse(spikes_in.flatten(0, 1)).unflatten(0, (T, -1))

    def forward(self, spikes_in: torch.Tensor, v0: torch.Tensor | float | None = None):
        """``(spikes, v)`` of the layer's neurons, each (T, B, ...)."""
        return simulate(self.currents(spikes_in), v0=v0, **self.neuron)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(v, '__name__', repr(v))}" if callable(v) else f"{k}={v!r}"
                         for k, v in self.neuron.items())


class LIFLayer(LIFWrapper):
    """Fully connected LIF layer: ``I_t = W s_t`` (no bias by default), then the LIF recurrence.

    ``LIFLayer(784, 196, **roy_neuron())`` is the encoder of Roy et al.'s MNIST autoencoder. Inputs
    (T, ..., in_features); the linear map acts on the last dimension, so any leading dimensions work.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = False, **neuron):
        super().__init__(nn.Linear(in_features, out_features, bias=bias), **neuron)

    def currents(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """``W s_t`` for every step: (T, ..., in_features) -> (T, ..., out_features), no folding needed."""
        return self.synapse(spikes_in)


class LIFConv2d(LIFWrapper):
    """Convolutional LIF layer (``nn.Conv2d``, no bias by default): inputs (T, B, C, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1, padding=0,
                 bias: bool = False, **neuron):
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                   bias=bias), **neuron)


class LIFConvTranspose2d(LIFWrapper):
    """Transposed-convolution LIF layer (``nn.ConvTranspose2d``, no bias by default): inputs (T, B, C, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, stride=1, padding=0,
                 output_padding=0, bias: bool = False, **neuron):
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride,
                                            padding=padding, output_padding=output_padding, bias=bias),
                         **neuron)
