"""Reading the authors' published MNIST networks (google/ihmehimmeli, ``tempcoding/networks/``, Apache-2.0).

File format (text, whitespace separated): the word ``pulses_per_layer``; the firing threshold; the number
of layers L including the input layer; the L layer sizes; the number of pulses per layer; L x n_pulses
pulse times (the pulses of layer l feed layer l + 1; the last row is unused); then, layer by layer and for
each post-synaptic neuron, its (n_in + n_pulses) incoming weights, inputs first, then pulses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spikelib.alpha.modules import AlphaNetwork

PUBLISHED_TAU = 0.181769  # decay rate the networks were evaluated with (paper, Table 1)


def load_published_network(path: str | Path, tau: float = PUBLISHED_TAU, *, dtype=torch.float64) -> AlphaNetwork:
    """Load a network file of the authors into an :class:`AlphaNetwork` (float64 by default, as they use)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no network file at {path}; the published networks are in shared/reference/comsa2021-mnist-networks/ "
            "or the ihmehimmeli repository's tempcoding/networks/ folder"
        )
    tokens = path.read_text().split()
    if not tokens or tokens[0] != "pulses_per_layer":
        raise ValueError(f"{path} is not an ihmehimmeli network file (expected it to start with 'pulses_per_layer')")
    theta = float(tokens[1])
    n_layers = int(tokens[2])
    sizes = [int(s) for s in tokens[3:3 + n_layers]]
    n_pulses = int(tokens[3 + n_layers])
    values = np.array(tokens[4 + n_layers:], dtype=np.float64)
    n_pulse_values = n_layers * n_pulses
    n_weights = sum((n_in + n_pulses) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    if values.size != n_pulse_values + n_weights:
        raise ValueError(
            f"{path}: expected {n_pulse_values} pulse times and {n_weights} weights for layers {sizes} with "
            f"{n_pulses} pulses, found {values.size} numbers; the file is truncated or of another format"
        )
    pulses = values[:n_pulse_values].reshape(n_layers, n_pulses)
    net = AlphaNetwork(sizes, n_pulses=n_pulses, tau=tau, theta=theta, seed=None, dtype=dtype)
    offset = n_pulse_values
    with torch.no_grad():
        for l, layer in enumerate(net.layers):
            n_in, n_out = sizes[l], sizes[l + 1]
            block = values[offset:offset + (n_in + n_pulses) * n_out].reshape(n_out, n_in + n_pulses)
            offset += block.size
            layer.weight.copy_(torch.from_numpy(block.T.copy()))
            if n_pulses:
                layer.pulse_times.copy_(torch.from_numpy(pulses[l]))
    return net
