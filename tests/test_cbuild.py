"""The C-kernel conventions of spikelib/_cbuild.py: one template mechanism for both precisions, one argument
struct per exported function, and Python mirrors of the structs that match the C layout."""

import ctypes
import re
from pathlib import Path

import pytest

from spikelib import _cbuild
from spikelib._cbuild import c_layout, check_layout, py_layout, template_source
from spikelib.alpha import _cscan
from spikelib.lif import _roy_kernel, _sae_kernel

ROOT = Path(__file__).resolve().parents[1]
KERNELS = {"alpha": _cscan, "lif_sae": _sae_kernel, "lif_roy": _roy_kernel}
STRUCTS = [(kind, entry[1]) for kind, mod in KERNELS.items() for entry in mod.ENTRY_POINTS]


def _lib(kind):
    mod = KERNELS[kind]
    if mod.library() is None:
        pytest.skip(f"{mod.KERNEL.what} unavailable: {mod.KERNEL.failed}")
    return mod.library()


@pytest.mark.parametrize("kind,struct", STRUCTS, ids=lambda x: getattr(x, "__name__", x))
def test_python_mirrors_match_the_c_structs(kind, struct):
    """sizeof and every field's name, offset and size, in order, as the C library reports them."""
    size, fields = c_layout(_lib(kind), struct.__name__)
    assert size == ctypes.sizeof(struct) > 0
    assert fields == [(name, getattr(struct, name).offset, ctypes.sizeof(t)) for name, t in struct._fields_]
    assert len(fields) == len(struct._fields_) >= 3


def test_a_drifted_mirror_is_refused():
    lib = _lib("alpha")
    fields = list(_cscan.AlphaForwardArgs._fields_)
    swapped = type("AlphaForwardArgs", (ctypes.Structure,), {"_fields_": [fields[1], fields[0], *fields[2:]]})
    short = type("AlphaForwardArgs", (ctypes.Structure,), {"_fields_": fields[:-1]})
    retyped = type("AlphaForwardArgs", (ctypes.Structure,),
                   {"_fields_": [(n, ctypes.c_float if n == "tau" else t) for n, t in fields]})
    for bad in (swapped, short, retyped):
        assert c_layout(lib, "AlphaForwardArgs") != py_layout(bad)
        with pytest.raises(RuntimeError, match="AlphaForwardArgs.*differ"):
            check_layout(lib, bad)
    check_layout(lib, _cscan.AlphaForwardArgs)  # the real mirror passes


def test_template_source_instantiates_every_template_for_both_precisions(tmp_path):
    h, c = tmp_path / "k.h", tmp_path / "k.c"
    h.write_text("typedef int shared_t;\n")
    c.write_text("REAL SUF(twice)(REAL x) { return SQRT(x) + EXP(x); }\n")
    src = template_source((h,), (c,))
    assert src.count("typedef int shared_t;") == 1 and src.count("SUF(twice)") == 2
    assert src.index("_kernel.h") < src.index("typedef int shared_t") < src.index("#define REAL double")
    for real, suffix, exp, sqrt in _cbuild.PRECISIONS:
        assert f"#define REAL {real}\n#define SUF(x) x##_{suffix}\n#define EXP {exp}\n#define SQRT {sqrt}" in src
    assert src.count('#line 1 "') == 4 and src.count("#undef REAL") == 2


def test_kernel_sources_are_the_real_files():
    """The kernels compile exactly the .c/.h files of the package (what pyproject ships), nothing else."""
    alpha, sae = _cscan._source(), _sae_kernel._source()
    for name in ("alpha/_alpha.h", "alpha/_scan.c", "alpha/_train.c"):
        assert f'#line 1 "{name}"' in alpha
    for name in ("lif/_sae.h", "lif/_sae.c", "lif/_sae_backward.c"):
        assert f'#line 1 "{name}"' in sae
    for name in ("_sae.c", "_sae_backward.c"):
        assert (ROOT / "spikelib/lif" / name).read_text() in sae
    roy = _roy_kernel._source()
    assert '#line 1 "lif/_roy.h"' in roy and (ROOT / "spikelib/lif/_roy.c").read_text() in roy
    shipped = (ROOT / "pyproject.toml").read_text()
    for pattern in ('"*.h"', '"alpha/*.c"', '"alpha/*.h"', '"lif/*.c"', '"lif/*.h"'):
        assert pattern in shipped


EXPORTED = re.compile(r"^(?:int|void) (?:SUF\((\w+)\)|(\w+))\(([^)]*)\)", re.M)


@pytest.mark.parametrize("path", ["spikelib/alpha/_alpha.h", "spikelib/alpha/_scan.c", "spikelib/alpha/_train.c",
                                  "spikelib/lif/_sae.h", "spikelib/lif/_sae.c", "spikelib/lif/_sae_backward.c",
                                  "spikelib/lif/_roy.h", "spikelib/lif/_roy.c"])
def test_every_exported_function_takes_one_struct(path):
    """Non-static functions take a pointer to their argument struct (or to KernelLayout for *_layout)."""
    found = EXPORTED.findall((ROOT / path).read_text())
    assert found
    for templated, plain, params in found:
        name = templated or plain
        if name.endswith("_layout"):
            assert params == "KernelLayout *o", (name, params)
        else:
            assert re.fullmatch(r"const \w+Args \*args", params), (name, params)
