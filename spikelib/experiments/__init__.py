"""One module per paper, above the models: each paper's configurations, sweep entry points, summaries,
tables and figure helpers.

- :mod:`spikelib.experiments.comsa_alpha`: Comșa et al. 2021, temporal coding with alpha synapses (the
  Boolean protocol, Table 2, the MLP baseline).
- :mod:`spikelib.experiments.comsa_autoencoders`: Comșa et al. 2021, spiking autoencoders (the authors'
  75 hyperparameter sets, data, the sweep entry point).
- :mod:`spikelib.experiments.roy` and :mod:`~spikelib.experiments.roy_audio`: Roy et al. 2019,
  spike-based backpropagation (the sweep, Table 1, figures; the audio datasets A/B and the audiocoder).
- :mod:`spikelib.experiments.huebotter`, :mod:`~spikelib.experiments.huebotter_report` and
  :mod:`~spikelib.experiments.huebotter_figures`: Hübotter et al. 2021, regularised convolutional SAEs
  (configurations, sweeps, Tables 1-8, figures).

The layers, bottom to top: the models (:mod:`spikelib.alpha`, :mod:`spikelib.lif`, :mod:`spikelib.ann`,
with :mod:`spikelib.encoding`, :mod:`spikelib.backend`, :mod:`spikelib.fitting`), then data and these
experiment modules (with :mod:`spikelib.scales`, :mod:`spikelib.sweep`, :mod:`spikelib.results`,
:mod:`spikelib.papers`, :mod:`spikelib.reporting`), then the book (:mod:`spikelib.pipeline`,
:mod:`spikelib.scorecard`, :mod:`spikelib.about`). A module imports only from its own layer or below;
``tests/test_layers.py`` checks it.
"""
