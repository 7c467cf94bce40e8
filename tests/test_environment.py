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
