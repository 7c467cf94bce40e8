"""spikelib: a small, fast, tested library behind the spiking-autoencoders companion book.

Modules
-------
- :mod:`spikelib.scales`   -- the three run scales (smoke, quick, paper), defined once.
- :mod:`spikelib.data`     -- MNIST, Fashion-MNIST and FSDD with checksums and offline fallbacks.
- :mod:`spikelib.encoding` -- latency (temporal) coding, the autoencoder noise model, Poisson rate coding.
- :mod:`spikelib.alpha`    -- exact alpha-synapse temporal-coding neurons (Comsa et al. 2021).
"""

__version__ = "0.1.0"
