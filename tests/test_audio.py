"""Cochleagrams (spikelib.audio) and the audio-to-image pieces of Roy et al. (spikelib.lif.audiocoder,
spikelib.experiments.roy_audio): Lyon's model against the lyon package, the gammatone fallback's shape
contract, normalisation, caching, datasets A and B, the validation MSE, quantisation, a tiny audiocoder run."""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from spikelib import audio
from spikelib.ann import ANNConfig
from spikelib.experiments import roy as xroy
from spikelib.experiments import roy_audio as ra
from spikelib.lif import audiocoder as ac
from spikelib.lif import roy
from spikelib.lif.losses import zscored_mse

FS = 8000


def _chirp(seconds=0.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    return (0.5 * np.sin(2 * np.pi * (300 + 2000 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


needs_lyon = pytest.mark.skipif(not audio.lyon_available(), reason="the lyon package cannot load here")


@needs_lyon
@pytest.mark.parametrize("decimation", [1, 3, 8])
def test_lyon_fast_path_equals_the_package(decimation):
    from lyon.calc import LyonCalc

    x = _chirp(0.2).astype(np.float64)
    expected = LyonCalc().lyon_passive_ear(x, FS, decimation, 8, 0.41).T
    got = audio.lyon_cochleagram(x, FS, decimation=decimation)
    assert got.shape == expected.shape == (39, x.size // decimation)
    np.testing.assert_array_equal(got, expected)


@needs_lyon
def test_step_factor_gives_39_channels():
    assert audio.lyon_step_factor(8000.0) == 0.41  # the reference notes' values
    assert audio.lyon_step_factor(12500.0) == 0.5


@pytest.mark.parametrize("backend", ["gammatone", pytest.param("lyon", marks=needs_lyon)])
def test_shape_normalisation_padding_and_truncation(backend):
    x = _chirp(0.3)  # 2400 samples: 300 frames of 8
    long = audio.cochleagram(x, FS, n_frames=500, decimation=8, backend=backend)
    assert long.shape == (39, 500) and long.dtype == np.float32
    assert long.max() == 1.0 and long.min() >= 0.0
    assert not long[:, 300:].any() and long[:, :300].any()  # zero padding after the utterance
    short = audio.cochleagram(x, FS, n_frames=100, decimation=8, backend=backend)
    assert short.shape == (39, 100) and short.max() <= 1.0
    # truncation keeps the first frames, scaled by the whole utterance's maximum
    np.testing.assert_allclose(short, long[:, :100], rtol=1e-6)
    assert not audio.cochleagram(np.zeros(800), FS, n_frames=20, backend=backend).any()  # silence stays 0


def test_gammatone_fallback_keeps_the_shape_contract(monkeypatch):
    x = _chirp(0.25)
    g = audio.cochleagram(x, FS, n_frames=60, decimation=40, n_channels=39, backend="gammatone")
    assert g.shape == (39, 60)
    if audio.lyon_available():
        assert audio.cochleagram(x, FS, n_frames=60, decimation=40, backend="lyon").shape == g.shape
    # channel 0 is the highest frequency, as in Lyon's model: a high tone excites the first channels
    t = np.arange(2400) / FS
    hi = audio.cochleagram(np.sin(2 * np.pi * 3000 * t), FS, n_frames=30, decimation=80, backend="gammatone")
    assert hi.sum(axis=1).argmax() < 10
    # "auto" falls back with a warning where lyon cannot load
    monkeypatch.setattr(audio, "lyon_available", lambda: False)
    with pytest.warns(UserWarning, match="gammatone"):
        assert audio.resolve_backend("auto") == "gammatone"
    with pytest.raises(RuntimeError, match="cannot load"):
        audio.resolve_backend("lyon")
    with pytest.raises(ValueError, match="backend"):
        audio.resolve_backend("mfcc")


@dataclass(frozen=True)
class _FakeFSDD:
    waveforms: list
    sample_rate: int
    digits: np.ndarray
    speakers: list
    indices: np.ndarray
    files: list


def _fake_fsdd():
    waves = [_chirp(0.1 + 0.02 * i, seed=i) for i in range(6)]
    return _FakeFSDD(waves, FS, np.array([0, 0, 1, 1, 2, 2]), ["a"] * 6, np.array([0, 7, 3, 9, 4, 5]),
                     [f"{d}_a_{i}.wav" for d, i in zip([0, 0, 1, 1, 2, 2], [0, 7, 3, 9, 4, 5])])


def test_cochleagrams_are_cached_atomically_and_split(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path))
    fake = _fake_fsdd()
    kw = dict(n_frames=40, decimation=20, backend="gammatone", fsdd=fake)
    first = audio.fsdd_cochleagrams("all", **kw)
    files = list((tmp_path / "cochleagrams").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and "gammatone" in files[0].name
    assert first.data.shape == (6, 39, 40) and first.flat().shape == (6, 39 * 40)

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(audio, "cochleagram", boom)
    again = audio.fsdd_cochleagrams("all", **kw)
    np.testing.assert_array_equal(again.data, first.data)  # float16 values either way
    test = audio.fsdd_cochleagrams("test", **kw)  # recordings 0-4
    assert test.files == ["0_a_0.wav", "1_a_3.wav", "2_a_4.wav"] and test.digits.tolist() == [0, 1, 2]
    assert audio.fsdd_cochleagrams("train", **kw).files == ["0_a_7.wav", "1_a_9.wav", "2_a_5.wav"]
    with pytest.raises(AssertionError, match="recomputed"):  # other settings: another cache entry
        audio.fsdd_cochleagrams("all", **{**kw, "n_frames": 41})
    assert not list((tmp_path / "cochleagrams").glob(".*"))  # no temporary file left behind


@pytest.mark.slow
def test_fsdd_cochleagrams_shape_on_the_real_data(tmp_path, monkeypatch):
    from spikelib.data import load_fsdd, shared_fsdd_dir

    if shared_fsdd_dir() is None:
        pytest.skip("no FSDD recordings here")
    monkeypatch.setenv("SPIKELIB_OFFLINE", "1")
    fsdd = load_fsdd("test")  # from the usual data cache; the cochleagrams go to a temporary one
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path))
    test = audio.fsdd_cochleagrams("all", n_frames=20, decimation=400, backend="gammatone", fsdd=fsdd)
    assert test.data.shape == (300, 39, 20) and test.digits.tolist() == fsdd.digits.tolist()
    assert np.allclose(test.data.reshape(300, -1).max(axis=1), 1.0)


# ------------------------------------------------------------------------------------ datasets A and B


def _images(n_per_class=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per_class)
    images = rng.integers(0, 256, (len(labels), 4, 4), dtype=np.uint8)
    return images, labels


def test_dataset_a_pairs_every_sample_of_a_digit_with_one_image():
    images, labels = _images()
    digits = np.array([3, 1, 3, 0, 9, 1, 2, 4, 5, 6, 7, 8])
    pairs = ra.dataset_a(digits, images, labels)
    assert (labels[pairs] == digits).all()
    assert pairs[0] == pairs[2] and pairs[1] == pairs[5]
    cls = ra.class_images(images, labels)
    assert len(set(cls.tolist())) == 10 and (labels[cls] == np.arange(10)).all()
    np.testing.assert_array_equal(cls, ra.class_images(images, labels))  # deterministic
    rand = ra.class_images(images, labels, choose="random", seed=1)
    assert (labels[rand] == np.arange(10)).all()


def test_dataset_a_typical_image_is_the_most_correlated_with_the_class_mean():
    rng = np.random.default_rng(2)
    images, labels = _images()
    a, b = rng.integers(0, 256, (2, 4, 4), dtype=np.uint8)
    images[labels == 0] = [b, a, a, b, a]  # the mean looks like a: the first a (index 1) is chosen
    images[2] = np.where(a > 128, 255, 0)
    assert ra.class_images(images, labels)[0] == 1


def test_dataset_b_gives_each_sample_its_own_image_of_its_digit():
    images, labels = _images(n_per_class=6)
    digits = np.array([0, 0, 0, 1, 1, 2, 9, 9, 9, 9])
    pairs = ra.dataset_b(digits, labels, seed=3)
    assert (labels[pairs] == digits).all() and len(set(pairs.tolist())) == len(pairs)
    np.testing.assert_array_equal(pairs, ra.dataset_b(digits, labels, seed=3))
    with pytest.raises(ValueError, match="only 6 images"):
        ra.dataset_b(np.zeros(7, int), labels)


def test_validation_mse_paired_and_minimum():
    rng = np.random.default_rng(0)
    cand = torch.tensor(rng.integers(0, 256, (5, 16)), dtype=torch.uint8)
    out = torch.tensor(rng.random((3, 16)))
    pair = ac.pairwise_zscored_mse(out, roy.as_rates(cand))
    for i in range(3):
        for j in range(5):
            assert pair[i, j].item() == pytest.approx(zscored_mse(out[i], roy.as_rates(cand)[j].double()).item())
    torch.testing.assert_close(ac.audio_to_image_mse(out, cand[:3]), pair.diagonal()[:3])
    torch.testing.assert_close(ac.audio_to_image_mse(out, candidates=cand), pair.min(dim=1).values)
    same = ac.audio_to_image_mse(out, candidates=cand, output_labels=[0, 1, 1], candidate_labels=[0, 0, 1, 1, 2],
                                 same_class=True)
    torch.testing.assert_close(same, torch.stack([pair[0, :2].min(), pair[1, 2:4].min(), pair[2, 2:4].min()]))
    with pytest.raises(ValueError, match="exactly one"):
        ac.audio_to_image_mse(out)


def test_quantise_to_2_to_the_bits_levels():
    h = torch.linspace(0, 1, 101)
    assert ac.quantise(h, 1).unique().tolist() == [0.0, 1.0]
    assert len(ac.quantise(h, 2).unique()) == 4
    assert ac.quantise(h, None) is h
    assert (ac.quantise(h, 16) - h).abs().max() < 1e-4
    with pytest.raises(ValueError):
        ac.quantise(h, 0)


def test_tiny_audiocoder_learns_end_to_end():
    """Stored maps of a frozen AE encoder as targets; the audiocoder's spikes through the AE decoder. The
    AE's weights are U(-1, 1), so that its hidden layer spikes (U(-0.1, 0.1) gives empty maps here, and an
    empty target has zero loss from the start); the loss must fall over 5 epochs (4.35 -> 2.44 per example
    here; it overshoots later at this learning rate, so the run stops at 5)."""
    images, labels = _images(n_per_class=2)
    ae = roy.ae_snn(8, n_in=16, seed=0, init=1.0)
    maps = ra.hidden_maps(ae, images, n_steps=15, th=5)
    assert maps.shape == (20, 5, 8) and maps.dtype == torch.uint8 and maps.float().mean() > 0.05
    torch.testing.assert_close(maps, ra.hidden_maps(ae, images, n_steps=15)[:, :5])
    rng = np.random.default_rng(1)
    audio_in = rng.random((20, 30)).astype(np.float32)
    net = ac.audiocoder_snn(30, 12, 8, seed=0)
    cfg = roy.RoyConfig(n_steps=10, rate_scale=0.5, lr=1e-3, batch_size=5, epochs=5, trace="reset")
    hist = roy.fit(net, (audio_in, maps), None, cfg,
                   evaluate=lambda n: {"mse": float(ac.audio_to_image_mse(
                       ac.synthesise(n, ae, audio_in, n_steps=10, rate_scale=0.5)["images"], images).mean())}).history
    assert net.sizes == (30, 12, 8) and len(hist["loss"]) == 20
    assert [e["batch"] for e in hist["eval"]] == [4, 8, 12, 16, 20]  # once per epoch
    per_epoch = np.asarray(hist["loss"]).reshape(5, 4).mean(axis=1)
    assert per_epoch[0] > 1.0 and per_epoch[-1] < 0.7 * per_epoch[0], per_epoch  # it learns
    out = ac.synthesise(net, ae, audio_in, n_steps=10, rate_scale=0.5)
    assert out["images"].shape == (20, 16) and out["spikes"].shape == (20, 10, 8)
    assert out["spikes"].sum() > 0  # the trained audiocoder spikes (the untrained one is silent)


def test_paired_maps_draw_per_sample_or_per_image():
    """§3.2.3 and the authors' code: every training sample's paired image gets its own Poisson draw, so dataset
    A's samples of one digit get different maps of one image; ``per="image"`` codes each distinct image once."""
    images, _ = _images(n_per_class=1)
    ae = roy.ae_snn(8, n_in=16, seed=0, init=1.0)
    pair = np.array([3, 1, 3, 3, 0, 1, 9])
    maps = ra.paired_maps(ae, images, pair, n_steps=15, th=10)
    assert maps.shape == (7, 10, 8) and maps.float().mean() > 0.05
    torch.testing.assert_close(maps, ra.hidden_maps(ae, images[pair], n_steps=15, th=10))
    assert not torch.equal(maps[0], maps[2])  # one image, two samples, two draws
    shared = ra.paired_maps(ae, images, pair, per="image", n_steps=15, th=10)
    assert all(torch.equal(shared[i], shared[j]) for i in range(7) for j in range(7) if pair[i] == pair[j])
    torch.testing.assert_close(shared[[4, 1, 0, 6]], ra.hidden_maps(ae, images[[0, 1, 3, 9]], n_steps=15, th=10))
    with pytest.raises(ValueError, match="per must be one of"):
        ra.paired_maps(ae, images, pair, per="class")


def test_tiny_ann_audiocoder_learns_end_to_end():
    """The AC-ANN regresses the AE-ANN's quantised hidden state: its loss must fall over 3 epochs (0.21 ->
    0.09 here)."""
    images, _ = _images(n_per_class=2)
    audio_in = np.random.default_rng(1).random((20, 30)).astype(np.float32)
    ann = xroy.ae_ann(8, n_in=16)
    hid = ra.ann_hidden(ann, images, bits=2)
    assert hid.shape == (20, 8) and len(hid.unique()) <= 4
    cfg = ANNConfig(optimizer="adam", lr=1e-2, batch_size=5, epochs=3)
    model, h2 = ra.train_audiocoder_ann(audio_in, hid, cfg, n_hidden=12)
    assert ra.synthesise_ann(model, ann, audio_in).shape == (20, 16) and len(h2.history["loss"]) == 12
    per_epoch = np.asarray(h2.history["loss"]).reshape(3, 4).mean(axis=1)
    assert per_epoch[-1] < 0.7 * per_epoch[0], per_epoch


def test_evenly_spaced_and_per_class():
    assert list(ra.evenly_spaced(10, None)) == list(range(10)) and list(ra.evenly_spaced(3, 5)) == [0, 1, 2]
    assert list(ra.evenly_spaced(9, 3)) == [0, 4, 8]
    with pytest.raises(ValueError):
        ra.evenly_spaced(5, 0)
    digits = np.array([3, 0, 3, 1, 0, 3, 0])
    assert list(ra.per_class(digits, 2)) == [1, 4, 3, 0, 2]


def test_replayed_images_decode_the_stored_maps_whole_or_thinned():
    """The ceiling of §3.2's method: the frozen decoder on the stored maps, replayed frame t mod Th."""
    images, _ = _images(n_per_class=1)
    ae = roy.ae_snn(8, n_in=16, seed=0, init=1.0)
    maps = ra.hidden_maps(ae, images, n_steps=15, th=5)
    whole = ac.replayed_images(ae, maps, n_steps=12)
    torch.testing.assert_close(whole, roy.decode_spikes(ae, roy.repeat_targets(maps, 12).transpose(0, 1)))
    assert ac.replayed_images(ae, maps, n_steps=12, keep=1.0).equal(whole)
    assert ac.replayed_images(ae, maps, n_steps=12, keep=0.0).sum() == 0  # no hidden spike, no image
    half = ac.replayed_images(ae, maps, n_steps=12, keep=0.5)
    assert 0 < half.sum() < whole.sum() and half.equal(ac.replayed_images(ae, maps, n_steps=12, keep=0.5))
    with pytest.raises(ValueError, match="keep must lie in"):
        ac.replayed_images(ae, maps, keep=1.5)


def test_diagnosis_table_reads_the_records():
    def rec(keep, ceiling, thinned, train):
        return {"results": {"mean_target": 0.2, "output_rate": 0.2 * keep, "thinned_keep": keep, "test_mse": train,
                            "ceiling_train_mse": ceiling, "thinned_train_mse": thinned, "train_mse": train}}
    text = ra.diagnosis_table({"A, Th = 15": (rec(0.5, 0.25, 0.40, 0.43), "0.254"),
                               "B, Th = 10": (rec(0.4, 0.3, 0.5, 1.2), "0.543"),
                               "old": ({"results": {"test_mse": 1.0}}, "-")}, "quick")
    lines = text.splitlines()
    assert lines[0].startswith("| AC-SNN | target rate |") and len([ln for ln in lines if ln.startswith("| A, ")]) == 1
    assert "| A, Th = 15 | 0.200 | 0.100 (50%) | 0.250 | 0.400 | 0.430 | 0.430 | 0.254 | quick |" in lines
    assert "old" not in text and "So 83% of its distance" in text  # 0.15 of the 0.18 gap is the rate
    assert "which neurons it fires" in ra.diagnosis_table({"A": (rec(0.9, 0.25, 0.26, 0.43), "p")}, "quick")
    assert "no spike" in ra.diagnosis_table({"A": (rec(0.0, 1.4, 1.0, 1.0), "p")}, "quick")
    assert "mostly the maps' noise" in ra.diagnosis_table({"A": (rec(0.57, 0.25, 0.36, 0.32), "p")}, "quick")
    assert "the frozen AE, not the audiocoder" in ra.diagnosis_table({"A": (rec(0.5, 1.4, 1.2, 1.0), "p")}, "q")
    assert "rerun the page's sweep" in ra.diagnosis_table({"old": ({"results": {}}, "-")}, "quick")
