"""One module per paper, above the models: each paper's configurations, sweep entry points, summaries,
tables and figure helpers.

- :mod:`spikelib.experiments.comsa_alpha`: Comșa et al. 2021, temporal coding with alpha synapses.
- :mod:`spikelib.experiments.comsa_autoencoders`: Comșa et al. 2021, spiking autoencoders.
- :mod:`spikelib.experiments.roy`: Roy et al. 2019, spike-based backpropagation.
- :mod:`spikelib.experiments.huebotter`: Hübotter et al. 2021, regularised convolutional SAEs.

The layers, bottom to top: the models (:mod:`spikelib.alpha`, :mod:`spikelib.lif`, :mod:`spikelib.ann`,
with :mod:`spikelib.encoding`, :mod:`spikelib.backend`, :mod:`spikelib.fitting`), then data and these
experiment modules (with :mod:`spikelib.scales`, :mod:`spikelib.sweep`, :mod:`spikelib.results`,
:mod:`spikelib.papers`, :mod:`spikelib.reporting`), then the book (:mod:`spikelib.pipeline`,
:mod:`spikelib.scorecard`, :mod:`spikelib.about`). A module imports only from its own layer or below;
``tests/test_layers.py`` checks it.
"""
