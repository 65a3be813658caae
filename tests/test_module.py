"""The module's surface: version, docstrings, signatures, help()."""

import inspect
import os
import pathlib
import pydoc
import re
import sys
import sysconfig

import pytest

import rust_demo

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A free-threaded CPython (3.14t) cannot load an abi3 module: `maturin develop` there builds a
# version-specific cp314t one instead.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

FUNCTIONS = [
    "fibonacci",
    "count_unique_words",
    "is_palindrome",
    "sum_list",
    "filter_positive",
    "word_frequencies",
    "safe_divide",
    "safe_parse_int",
    "factorial",
    "sieve_of_eratosthenes",
    "count_primes",
    "build_info",
]
CLASSES = ["MovingAverage", "Counter", "RingBuffer"]


def test_version_comes_from_cargo_toml():
    cargo = (ROOT / "Cargo.toml").read_text()
    assert rust_demo.__version__ == re.search(r'^version = "(.+)"', cargo, re.M).group(1)


@pytest.mark.skipif(FREE_THREADED, reason="free-threaded CPython loads no abi3 module")
def test_the_extension_is_the_abi3_build():
    # rust_demo.abi3.so on Linux and macOS; Windows has no ABI tag in .pyd names.
    name = pathlib.Path(rust_demo.rust_demo.__file__).name
    assert name == ("rust_demo.pyd" if os.name == "nt" else "rust_demo.abi3.so")


def test_build_info_says_how_this_module_was_built():
    info = rust_demo.build_info()
    assert set(info) == {
        "profile",
        "opt_level",
        "debug_assertions",
        "abi3",
        "free_threaded",
        "pyo3",
    }
    # The suite runs on `maturin develop --release` and on release wheels (tests/test_exercises.py
    # checks a dev build); a debug build would make demo.py and the bench mark every timing.
    assert info["profile"] == "release"
    assert info["opt_level"] == "3" and info["debug_assertions"] is False
    assert info["free_threaded"] is FREE_THREADED
    assert info["abi3"] == (None if FREE_THREADED else "3.9")
    lock = (ROOT / "Cargo.lock").read_text()
    assert f'name = "pyo3"\nversion = "{info["pyo3"]}"' in lock
    assert re.fullmatch(r"0\.30\.\d+", info["pyo3"])


def test_public_names():
    public = {name for name in dir(rust_demo) if not name.startswith("_")}
    public.discard("rust_demo")  # the compiled submodule inside maturin's package
    assert public == set(FUNCTIONS) | set(CLASSES)
    assert set(rust_demo.__all__) == set(FUNCTIONS) | set(CLASSES) | {"__version__"}


@pytest.mark.parametrize("name", FUNCTIONS + CLASSES)
def test_docstring_and_signature(name):
    obj = getattr(rust_demo, name)
    assert obj.__doc__ and len(obj.__doc__.strip()) > 20
    if name in CLASSES and sys.version_info < (3, 10):
        # PyO3 leaves the constructor signature out of a class's docstring on abi3 builds
        # running on 3.9 (the 3.9 limited API cannot carry it), so 3.9 has none to show.
        pytest.skip("class signatures need Python 3.10+ with an abi3 build")
    assert str(inspect.signature(obj)).startswith("(")


def public_methods():
    for cls_name in CLASSES:
        cls = getattr(rust_demo, cls_name)
        for name, member in vars(cls).items():
            if callable(member) and (
                not name.startswith("_") or name in {"__reduce__", "__setstate__"}
            ):
                yield cls_name, name


@pytest.mark.parametrize("cls_name, name", list(public_methods()))
def test_methods_have_docstrings_and_signatures(cls_name, name):
    method = getattr(getattr(rust_demo, cls_name), name)
    assert method.__doc__ and method.__doc__.strip()
    assert "self" in str(inspect.signature(method))


def test_help_reads_well():
    text = pydoc.render_doc(rust_demo, renderer=pydoc.plaintext)
    assert "Rust for Pythonistas" in text
    for name in FUNCTIONS + CLASSES:
        assert name in text
    assert "fibonacci(n, /)" in text
