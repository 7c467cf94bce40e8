"""spikelib: a small, fast, tested library behind the spiking-autoencoders companion book.

Modules
-------
- :mod:`spikelib.scales`   -- the three run scales (smoke, quick, paper), defined once.
- :mod:`spikelib.data`     -- MNIST, Fashion-MNIST and FSDD with checksums and offline fallbacks.
- :mod:`spikelib.encoding` -- latency (temporal) coding, the autoencoder noise model, Poisson rate coding.
- :mod:`spikelib.alpha`    -- exact alpha-synapse temporal-coding neurons (Comsa et al. 2021).
- :mod:`spikelib.lif`      -- discrete-time LIF neurons (Roy et al. 2019, Hübotter et al. 2021).
- :mod:`spikelib.ann`      -- the conventional-network baselines.
- :mod:`spikelib.sweep`    -- resumable parallel parameter sweeps.
- :mod:`spikelib.results`, :mod:`spikelib.scorecard` -- results records and the reproduction scorecard.
"""

import os as _os

# torch's OpenMP workers spin-wait after every parallel op by default; next to the CPU scan kernel's own
# threads that oversubscribes small machines (2 cores: 1,528 vs 2,114 MNIST training examples/s). It only
# takes effect if set before torch is first imported; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
