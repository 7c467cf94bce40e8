"""Offline MathJax for the book: a pinned npm tarball, SHA-256 checked, unpacked into the build output.

Part of the book pipeline (:mod:`spikelib.pipeline`, which re-exports these names): Sphinx would load
MathJax from a CDN; :func:`install_mathjax` puts the verified copy into ``_build/html/_static/mathjax/``
before Sphinx runs (``mathjax_path`` in ``book/_config.yml`` points there), or, without npm or the
registry, a small loader that fetches the same version from :data:`MATHJAX_CDN`, with a warning.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from spikelib._io import atomic_path
from spikelib.data_fetch import data_dir

MATHJAX_NPM = "mathjax@3.2.2"
# SHA-256 of the registry's mathjax-3.2.2.tgz, checked against the registry's own integrity field:
# sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_ENTRY = "tex-mml-chtml.js"  # `mathjax_path: mathjax/tex-mml-chtml.js` in _config.yml
MATHJAX_CDN = f"https://cdn.jsdelivr.net/npm/{MATHJAX_NPM}/es5/{MATHJAX_ENTRY}"
# What of package/es5/ is unpacked: the entry script, the woff fonts its CHTML output loads relative to
# itself, and what MathJax loads on demand (TeX and MathML extensions, the menu, the accessibility
# tools and their speech rules), so that nothing is ever looked up elsewhere. Not latest.js (it asks
# the CDN for the newest version) nor the other combined bundles or the SVG output.
MATHJAX_PARTS = (MATHJAX_ENTRY, "input/tex/extensions/", "input/mml/", "output/chtml/", "ui/", "a11y/",
                 "sre/")
MATHJAX_STAMP = ".spikelib-mathjax"


def _mathjax_tarball() -> Path:
    """The verified ``mathjax-<version>.tgz`` in the data cache, fetched with ``npm pack`` if needed.

    Raises RuntimeError saying why when there is no verified copy (npm missing, offline, wrong bytes).
    """
    name, version = MATHJAX_NPM.split("@")
    cached = data_dir() / "vendor" / f"{name}-{version}.tgz"

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    if cached.is_file():
        if digest(cached) == MATHJAX_SHA256:
            return cached
        cached.unlink()  # corrupt: fetch it again
    if shutil.which("npm") is None:
        raise RuntimeError("npm not found (install Node.js/npm for an offline MathJax)")
    with tempfile.TemporaryDirectory(prefix="spikelib-npm-") as tmp:
        # One quick retry: offline, npm's default retries would hold the build for over a minute.
        cmd = ["npm", "pack", MATHJAX_NPM, "--loglevel=error", "--fetch-retries=1",
               "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=5000"]
        try:
            out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`npm pack {MATHJAX_NPM}` did not finish in 300 s") from None
        tgz = next(Path(tmp).glob("*.tgz"), None)
        if out.returncode != 0 or tgz is None:
            errors = [ln.strip() for ln in out.stderr.splitlines()
                      if ln.startswith("npm error") and "complete log" not in ln]
            raise RuntimeError(f"`npm pack {MATHJAX_NPM}` failed: {'; '.join(errors[:4]) or 'no output'}")
        actual = digest(tgz)
        if actual != MATHJAX_SHA256:
            raise RuntimeError(f"{tgz.name} from npm has sha256 {actual}, expected {MATHJAX_SHA256}")
        with atomic_path(cached) as part:  # a parallel build sees no copy or the whole verified one
            shutil.copyfile(tgz, part)
    return cached


def _unpack_mathjax(tgz: Path, dest: Path) -> None:
    """The :data:`MATHJAX_PARTS` of ``package/es5/`` (and the licence) from ``tgz`` into ``dest``."""
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/es5/")
            if member.name == "package/LICENSE":
                rel = "LICENSE"
            elif rel == member.name or not any(rel == p or (p.endswith("/") and rel.startswith(p))
                                               for p in MATHJAX_PARTS):
                continue
            if not member.isfile() or ".." in Path(rel).parts:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as f:
                shutil.copyfileobj(src, f)
    if not (tmp / MATHJAX_ENTRY).is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{tgz.name} has no package/es5/{MATHJAX_ENTRY}")
    (tmp / MATHJAX_STAMP).write_text(MATHJAX_SHA256 + "\n", encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def install_mathjax(html_dir: Path) -> str:
    """Put MathJax into ``html_dir/_static/mathjax/`` for ``mathjax_path``; return where it comes from.

    "local": the verified npm copy, unpacked (skipped when the copy there is already this version).
    "cdn": npm or the registry was not available; a loader there fetches :data:`MATHJAX_CDN`
    instead, so the maths still renders when the reader is online, and a warning is printed.

    It goes into the build output, not into ``book/_static/``: jupyter-book adds every ``*.js`` under
    ``book/_static`` to every page as a ``<script>``, which would load all of MathJax's components.
    """
    dest = Path(html_dir) / "_static" / "mathjax"
    stamp = dest / MATHJAX_STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == MATHJAX_SHA256:
        return "local"
    try:
        _unpack_mathjax(_mathjax_tarball(), dest)
        return "local"
    except (OSError, RuntimeError, tarfile.TarError) as err:
        # print, not pipeline.say (whose lock would be an import cycle): this runs after the notebooks,
        # when no other thread prints.
        print(f"[book] warning: no local MathJax ({err}); the pages will load {MATHJAX_CDN} and show raw "
              "TeX without a network. Fix it and build again for a book that works offline.", flush=True)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    (dest / MATHJAX_ENTRY).write_text(
        "/* spikelib: no local MathJax at build time (see the build log); load it from the CDN. */\n"
        "(function () {\n"
        '  var s = document.createElement("script");\n'
        f'  s.src = "{MATHJAX_CDN}";\n'
        "  s.async = true;\n"
        "  document.head.appendChild(s);\n"
        "})();\n",
        encoding="utf-8",
    )
    return "cdn"
