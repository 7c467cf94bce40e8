"""environment.yml and pyproject.toml pin the same packages at the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements) -> dict[str, str]:
    pins = {}
    for req in requirements:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", req)
        assert m, f"not an exact pin (name==version): {req!r}"
        pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]  # PEP 503 normalised names
    return pins


def test_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = _pins(project["dependencies"] + [r for reqs in project["optional-dependencies"].values()
                                                for r in reqs])

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_reqs, conda = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_reqs += dep["pip"]
        else:
            conda.append(dep)
    # Allowed extras: the interpreter, pip itself, and the project installed in development mode.
    assert all(re.fullmatch(r"(python|pip)([=<>].*)?", d) for d in conda), conda
    pip_reqs = [r for r in pip_reqs if r.strip() not in {"-e .", "-e ./"}]
    assert _pins(pip_reqs) == expected


def test_python_versions_agree():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)", requires)[1]
    pinned = re.fullmatch(r"python\s*=+\s*(\d+\.\d+)(\.\*)?", python)[1]
    assert tuple(map(int, pinned.split("."))) >= tuple(map(int, minimum.split(".")))


def _constraints() -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln]
    pins = _pins(reqs)
    assert len(pins) == len(reqs), "a package is pinned twice in constraints.txt"
    return pins


def test_constraints_lock_the_whole_environment_in_step_with_pyproject():
    """constraints.txt (the lock `make` installs with) pins every package of pyproject.toml, extras
    included, at the same version, and not the project itself."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _pins(project["dependencies"] + [r for reqs in project["optional-dependencies"].values()
                                                for r in reqs])
    locked = _constraints()
    assert {name: locked.get(name) for name in declared} == declared
    assert "spikelib" not in locked
    assert len(locked) > len(declared)  # the transitive dependencies too
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile


def test_the_library_needs_only_its_own_dependencies():
    """`import spikelib` and its model, experiment and book modules import nothing from the book or test
    extras at module level (papermill, jupyter-book, pytest, ... are imported where they are used)."""
    import subprocess
    import sys

    code = ("import sys, spikelib, spikelib.alpha, spikelib.lif, spikelib.experiments, spikelib.results, "
            "spikelib.scorecard, spikelib.reference, spikelib.pipeline, spikelib.plotting, spikelib.sweep\n"
            "bad = sorted(m for m in ('papermill', 'jupyter_book', 'pytest', 'hypothesis', 'snntorch', "
            "'distributed') if m in sys.modules)\nprint(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
