"""The "About this build" page (spikelib.about)."""

from pathlib import Path

from spikelib import about

MANIFEST = {
    "scale": "quick", "device": "cpu", "git_commit": "0123456789abcdef0123", "git_dirty": True,
    "date": "2026-11-23T12:00:00+00:00",
    "notebooks": {
        "alpha_function": {"scale": "quick", "device": "cpu", "git_commit": "0123456789abcdef0123",
                           "git_dirty": True, "date": "2026-11-23T12:00:00+00:00", "status": "ok",
                           "wall_s": 5.92, "error": ""},
        "broken": {"scale": "quick", "device": "cpu", "git_commit": "0123456789abcdef0123", "git_dirty": False,
                   "date": "2026-11-23T12:00:00+00:00", "status": "failed", "wall_s": 200.0,
                   "error": "cell 3 ('x'): ValueError: boom | pipe"},
        "old_page": {"scale": "paper", "device": "cuda", "git_commit": "fedcba9876543210", "git_dirty": False,
                     "date": "2026-11-01T08:00:00+00:00", "status": "ok", "wall_s": 3600.0, "error": ""},
        "never": {"status": "not executed", "date": "2026-11-23T12:00:00+00:00"},
    },
}
RECORDS = {
    "alpha_function": {"name": "alpha_function", "scale": "quick", "results": {},
                       "provenance": {"notebook": "alpha_function", "seed": 0, "device": "cpu",
                                      "date": "2026-11-23T12:00:05+00:00", "git_commit": "0123456789abcdef",
                                      "git_dirty": True, "versions": {"torch": "2.13.0+cpu", "numpy": "2.4.6"}}},
    "sweep_cfg_7": {"name": "sweep_cfg_7", "scale": "paper", "results": {},
                    "provenance": {"notebook": "ae_sweep", "seed": None, "device": "cuda"}},
}
MACHINE = {"os": "Linux 6.1", "architecture": "x86_64", "cpu": "Some CPU", "cores": 2, "gpus": []}


def render(**kw):
    args = dict(versions={"python": "3.11.7", "torch": "2.13.0"}, machine=MACHINE,
                pages=["alpha_function", "old_page"])
    args.update(kw)
    return about.page_markdown(MANIFEST, RECORDS, **args)


def test_build_summary_and_machine():
    text = render()
    assert text.startswith("# About this build\n")
    assert "| built | 2026-11-23 12:00 UTC |" in text
    assert "| commit | `0123456789ab` with uncommitted changes |" in text
    assert "| scale of this run | `quick` |" in text and "| device | `cpu` |" in text
    # this run: the entries with the manifest's date and a wall time (not the placeholder, not old_page)
    assert "| notebooks executed in this run | 2 of 4 pages, 3.4 min of notebook time |" in text
    assert "`make book SCALE=quick DEVICE=cpu`" in text
    assert "| CPU | Some CPU, 2 cores |" in text and "| GPU | none |" in text
    assert "| python | 3.11.7 |" in text and "| torch | 2.13.0 |" in text
    assert "| GPU | A100, 80 GiB |" in render(machine={**MACHINE, "gpus": ["A100, 80 GiB"]})


def test_pages_table():
    text = render()
    assert "| {doc}`alpha_function` | ok | quick | cpu | 5.9 s | 2026-11-23 12:00 | `01234567` (modified) |" in text
    assert "| {doc}`old_page` | ok | paper | cuda | 60.0 min | 2026-11-01 08:00 | `fedcba98` |" in text
    # not in the toc: no link (Sphinx would warn); a failure is bold with its error, pipes escaped
    assert "| `broken` | **failed**: cell 3 ('x'): ValueError: boom \\| pipe | quick |" in text
    assert "| `never` | **not executed** | — | — | — | 2026-11-23 12:00 | — |" in text
    assert "another scale (paper)" in text


def test_records_table():
    text = render()
    assert "| `alpha_function` | quick | 0 | cpu | 2026-11-23 12:00 | `01234567` (modified) | 2.13.0+cpu / 2.4.6 |" in text
    assert "| `sweep_cfg_7` (from ae_sweep) | paper | — | cuda | — | — | — / — |" in text
    assert "| (none) |" in about.page_markdown(MANIFEST, {}, versions={}, machine=MACHINE)


def test_environment_probes():
    versions = about.library_versions(["numpy", "no-such-distribution-xyz"])
    assert versions["python"].count(".") == 2 and versions["numpy"][0].isdigit()
    assert versions["no-such-distribution-xyz"] == "not installed"
    m = about.machine()
    assert set(m) == {"os", "architecture", "cpu", "cores", "gpus"} and m["cores"] >= 1
    assert isinstance(m["gpus"], list)
    # benchmarks and reference records name the CPU model, not just "x86_64": timings differ per model
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")]
    if names:
        assert about.cpu_model() == names[0] != ""
        assert m["cpu"] == about.cpu_label() and m["cpu"].startswith(names[0])


ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma

processor\t: 1
model name\t: something else
"""


def test_the_cpu_label_tells_hosts_of_one_model_name_apart():
    """Two VMs both named "AMD EPYC" (a Zen 3 without AVX-512, a Zen 4 with it) ran this project's
    benchmarks 1.5-2x apart: records and benchmarks carry the family, model and vector extension too."""
    assert about.cpu_model(ZEN3) == "AMD EPYC"
    assert about.cpu_label(ZEN3) == "AMD EPYC (family 25, model 1, AVX2)"
    zen4 = ZEN3.replace("model\t\t: 1\n", "model\t\t: 17\n").replace("avx2 fma", "avx2 fma avx512f")
    assert about.cpu_label(zen4) == "AMD EPYC (family 25, model 17, AVX-512)"
    assert about.cpu_label("model name\t: Some ARM core\nflags\t: fp asimd\n") == "Some ARM core"


def test_every_commit_behind_a_record_is_listed_with_its_records():
    records = {**RECORDS,
               "old_page": {"name": "old_page", "scale": "paper", "results": {},
                            "provenance": {"notebook": "old_page", "git_commit": "fedcba9876543210"}},
               "also_now": {"name": "also_now", "scale": "quick", "results": {},
                            "provenance": {"git_commit": "0123456789abcdef0123", "git_dirty": False}}}
    kept = {"alpha_mnist_training": {"name": "alpha_mnist_training", "scale": "paper", "results": {},
                                     "provenance": {"git_commit": "fedcba9876543210", "git_dirty": False}}}
    text = about.page_markdown({**MANIFEST, "git_commit": "0123456789abcdef"}, records, versions={},
                               machine=MACHINE, kept_records=kept)
    section = text.split("## Commits behind the records", 1)[1]
    assert "3 commit(s) computed the records" in section
    lines = [ln for ln in section.splitlines() if ln.startswith("| ") and not ln.startswith("| commit")]
    # this build's commit first; a commit is matched in full, so 0123456789abcdef0123 is another one
    assert lines[0] == "| `01234567` (this build) | `alpha_function` (uncommitted changes) |"
    assert "| `01234567` | `also_now` |" in lines
    assert "| `fedcba98` | `old_page`, `alpha_mnist_training` (kept) |" in lines
    assert lines[-1] == "| no commit recorded | `sweep_cfg_7` |"
    assert "| (none) | |" in about.page_markdown(MANIFEST, {}, versions={}, machine=MACHINE)
