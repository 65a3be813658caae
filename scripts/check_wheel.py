"""Check every way the workshop builds and installs rust_demo. Run by `scripts/dev.py test`.

1. The wheel to ship: on Linux `maturin build --release --zig --compatibility manylinux2014`,
   tagged manylinux_2_17 (= manylinux2014), which `auditwheel show` confirms and whose
   extension needs no glibc symbol newer than GLIBC_2.17 (read from the ELF file itself);
   elsewhere a plain `maturin build --release`. Either way one wheel tagged cp39-abi3, clean
   under abi3audit, with the stub, py.typed, license and metadata inside.
2. That same wheel file, installed into a fresh venv of every CPython >= 3.9 found on this
   machine, passes the test suite in each (fails if fewer than two are found, except on
   GitHub Actions, where each job of the matrix brings one CPython).
3. Linux: `maturin build -i python3.14t --zig` compiles the free-threaded build (no 3.14t
   interpreter needed), so the `Py_GIL_DISABLED` code in lib.rs cannot rot unnoticed.
4. `maturin sdist`, then `pip install` of the .tar.gz, imports.
5. In a temporary copy of the repository: `uv sync` + `uv run`, and `maturin develop`,
   each see an edit to lib.rs without any manual rebuild step (uv, which rebuilds only when
   a cache key changes, also one to an engine in engines/).

Run it with the project's venv Python (it uses maturin, abi3audit and uv from there).
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXE = ".exe" if os.name == "nt" else ""  # console scripts next to python: Scripts\maturin.exe
TARGET = ROOT / "target"  # one cargo target directory for every build below
LINUX = sys.platform.startswith("linux")
# The oldest glibc the shipped wheel supports: manylinux2014 (CentOS 7) = glibc 2.17.
GLIBC_MAX = (2, 17)
VERSION_LINE = re.search(r'^version = "(.+)"', (ROOT / "Cargo.toml").read_text(), re.M)
assert VERSION_LINE, "Cargo.toml has no version line"
VERSION = VERSION_LINE.group(1)
# The test modules that need nothing but rust_demo, pytest and hypothesis.
PORTABLE_TESTS = [
    "test_guide.py",
    "test_functions.py",
    "test_classes.py",
    "test_sieve.py",
    "test_module.py",
]
REPO_FILES = [
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "lib.rs",
    "build.rs",
    "rust_demo.pyi",
    "README.md",
    "LICENSE",
]


def step(title: str) -> None:
    print(f"\n--> {title}", flush=True)


def run(*args: object, capture: bool = False, **kwargs) -> str:
    cmd = [str(a) for a in args]
    print("$", " ".join(cmd), flush=True)
    result = subprocess.run(
        cmd, check=True, text=True, stdout=subprocess.PIPE if capture else None, **kwargs
    )
    return result.stdout or ""


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def zig_env() -> dict[str, str]:
    """maturin's --zig runs `python3 -m ziglang` (the PyPI package in the ci group), looking
    `python3` up on PATH: put this venv first and name its Python outright."""
    return dict(
        os.environ,
        CARGO_TARGET_DIR=str(TARGET),
        PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""),
        CARGO_ZIGBUILD_PYTHON_PATH=sys.executable,
    )


def build_wheel(out: Path) -> Path:
    if LINUX:
        step("maturin build --release --zig --compatibility manylinux2014 (the wheel to ship)")
        args = ["--zig", "--compatibility", "manylinux2014"]
    else:
        step(f"maturin build --release (manylinux applies to Linux only; this is {sys.platform})")
        args = []
    run(BIN / f"maturin{EXE}", "build", "--release", *args, "--out", out, cwd=ROOT, env=zig_env())
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def glibc_versions_needed(elf: bytes) -> dict[str, tuple[int, int]]:
    """{symbol: (major, minor)} for every dynamic symbol of a 64-bit little-endian ELF file
    that asks for a GLIBC_x.y version (what `objdump -T` shows), read with the standard
    library only: .dynsym's symbol names, .gnu.version's index per symbol, and the
    .gnu.version_r entries that name those indices."""
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1, "not a 64-bit LE ELF file"
    shoff, shentsize, shnum = (
        struct.unpack_from("<Q", elf, 0x28)[0],
        *struct.unpack_from("<HH", elf, 0x3A),
    )
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    by_type = {sh[1]: sh for sh in sections}  # sh_type -> header (one of each kind here)
    sht_dynsym, sht_verneed, sht_versym = 11, 0x6FFFFFFE, 0x6FFFFFFF
    missing = [t for t in (sht_dynsym, sht_verneed, sht_versym) if t not in by_type]
    assert not missing, f"ELF file lacks section types {missing}: is it dynamically linked?"

    def cstr(strtab: tuple, offset: int) -> str:
        start = strtab[4] + offset
        return elf[start : elf.index(b"\0", start)].decode()

    verneed = by_type[sht_verneed]
    verneed_strtab = sections[verneed[6]]
    names: dict[int, str] = {}  # version index -> "GLIBC_2.17"
    entry = verneed[4]
    for _ in range(verneed[7]):  # sh_info: number of Verneed entries
        _, count, _, aux, next_entry = struct.unpack_from("<HHIII", elf, entry)
        vernaux = entry + aux
        for _ in range(count):
            _, _, other, name, next_aux = struct.unpack_from("<IHHII", elf, vernaux)
            names[other] = cstr(verneed_strtab, name)
            vernaux += next_aux
        entry += next_entry
    dynsym, versym = by_type[sht_dynsym], by_type[sht_versym]
    dynsym_strtab = sections[dynsym[6]]
    needed: dict[str, tuple[int, int]] = {}
    for i in range(dynsym[5] // 24):  # sh_size / sizeof(Elf64_Sym)
        st_name = struct.unpack_from("<I", elf, dynsym[4] + 24 * i)[0]
        (index,) = struct.unpack_from("<H", elf, versym[4] + 2 * i)
        # GLIBC_2.17 or GLIBC_2.3.4 (GLIBC_PRIVATE would never load elsewhere: it fails below).
        version = names.get(index & 0x7FFF, "")
        if version.startswith("GLIBC_"):
            number = re.match(r"GLIBC_(\d+)\.(\d+)", version)
            assert number, f"{cstr(dynsym_strtab, st_name)} needs {version}"
            symbol, wanted = cstr(dynsym_strtab, st_name), (int(number[1]), int(number[2]))
            needed[symbol] = max(needed.get(symbol, wanted), wanted)
    assert needed, "no GLIBC-versioned symbol found: the ELF reader is broken"
    return needed


def check_manylinux(wheel: Path) -> None:
    """The portable wheel: tag, auditwheel's verdict and the glibc symbols agree on 2.17."""
    step(f"manylinux2014: tag, auditwheel show, glibc symbols of {wheel.name}")
    platforms = set(wheel.name[: -len(".whl")].split("-")[-1].split("."))
    arch = platform.machine()
    assert platforms == {f"manylinux_2_17_{arch}", f"manylinux2014_{arch}"}, (
        f"{wheel.name} is not tagged manylinux_2_17 / manylinux2014 only"
    )
    shown = run(BIN / f"auditwheel{EXE}", "show", wheel, capture=True)
    print(shown.strip())
    verdict = re.search(r'consistent with the following platform tag:\s*"(\w+)"', shown)
    assert verdict and verdict.group(1).startswith("manylinux_2_17_"), (
        f"auditwheel does not call {wheel.name} manylinux_2_17"
    )
    with zipfile.ZipFile(wheel) as zf:
        (so_name,) = [n for n in zf.namelist() if n.endswith(".so")]
        needed = glibc_versions_needed(zf.read(so_name))
    newest = max(needed.values())
    too_new = sorted(f"{sym}@GLIBC_{v[0]}.{v[1]}" for sym, v in needed.items() if v > GLIBC_MAX)
    assert not too_new, f"{so_name} needs a glibc newer than 2.17: {', '.join(too_new)}"
    at_newest = sorted(sym for sym, v in needed.items() if v == newest)
    print(
        f"ok: {len(needed)} glibc symbols, the newest GLIBC_{newest[0]}.{newest[1]} "
        f"({', '.join(at_newest)}); nothing newer than 2.17"
    )


def build_free_threaded(work: Path) -> None:
    """Compile the cp314t build: the only one where lib.rs's `Py_GIL_DISABLED` code runs."""
    if not LINUX:
        print(f"skipped: the 3.14t compile check cross-builds with zig on Linux ({sys.platform})")
        return
    step("maturin build -i python3.14t --zig: the free-threaded build compiles")
    out = work / "free-threaded"
    # No interpreter needed: maturin knows 3.14t's sysconfig for Linux targets. The dev
    # profile is enough to compile-check and builds faster than release's LTO.
    run(
        BIN / f"maturin{EXE}",
        "build",
        "-i",
        "python3.14t",
        "--zig",
        "--out",
        out,
        cwd=ROOT,
        env=zig_env(),
    )
    (wheel,) = out.glob("*.whl")
    assert re.search(r"-cp314-cp314t-", wheel.name), f"{wheel.name} is not a cp314t wheel"
    print(f"ok: {wheel.name}")
    # PyO3's build script sets `Py_GIL_DISABLED` for PyO3 alone: lib.rs sees it only if its
    # own build script passes PyO3's cfgs on (build.rs: pyo3_build_config::use_pyo3_cfgs()).
    # Without that, lib.rs's `#[cfg(Py_GIL_DISABLED)]` code would never compile anywhere.
    if "Py_GIL_DISABLED" in (ROOT / "lib.rs").read_text():
        assert (ROOT / "build.rs").exists(), "lib.rs has Py_GIL_DISABLED code but no build.rs"
        outputs = glob.glob(str(TARGET / "*" / "debug" / "build" / "rust_demo-*" / "output"))
        assert any("rustc-cfg=Py_GIL_DISABLED" in Path(o).read_text() for o in outputs), (
            "lib.rs has Py_GIL_DISABLED code, but its build script did not set that cfg for "
            "the 3.14t build (build.rs should call pyo3_build_config::use_pyo3_cfgs())"
        )
        print("ok: lib.rs was compiled with cfg(Py_GIL_DISABLED)")


def check_wheel(wheel: Path) -> None:
    step(f"Wheel: {wheel.name}")
    assert re.fullmatch(rf"rust_demo-{re.escape(VERSION)}-cp39-abi3-[\w.]+\.whl", wheel.name), (
        f"{wheel.name} is not tagged cp39-abi3"
    )
    run(BIN / f"abi3audit{EXE}", "--strict", "--verbose", wheel)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        extension = [n for n in names if re.fullmatch(r"rust_demo/rust_demo\.(abi3\.so|pyd)", n)]
        assert extension, names
        for required in ("rust_demo/__init__.pyi", "rust_demo/py.typed"):
            assert required in names, f"{required} missing from {names}"
        assert any(n.endswith("licenses/LICENSE") for n in names), names
        metadata = zf.read(f"rust_demo-{VERSION}.dist-info/METADATA").decode()
        size = zf.getinfo(extension[0]).file_size
        assert zf.read("rust_demo/__init__.pyi") == (ROOT / "rust_demo.pyi").read_bytes()
    for line in (
        "Name: rust_demo",
        f"Version: {VERSION}",
        "Requires-Python: >=3.9",
        "Classifier: Programming Language :: Rust",
        "Summary: Companion code",
    ):
        assert any(m.startswith(line) for m in metadata.splitlines()), f"METADATA lacks {line!r}"
    print(
        f"ok: {wheel.name}, {wheel.stat().st_size / 1024:.0f} KiB wheel, "
        f"{extension[0]} {size / 1024:.0f} KiB (stripped)"
    )


def find_pythons() -> dict[str, Path]:
    """Every CPython >= 3.9 on this machine, one per minor version."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(9, 20)]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3"))
    candidates += [sys.executable, shutil.which("python3")]
    if os.name == "nt" and shutil.which("py"):  # the Windows launcher knows every install
        listing = subprocess.run(["py", "-0p"], capture_output=True, text=True).stdout
        candidates += re.findall(r"([A-Za-z]:\\.*?python\.exe)\s*$", listing, re.M)
    found: dict[str, Path] = {}
    probe = (
        "import importlib.util, sys, sysconfig, platform;"
        " print(platform.python_implementation(), *sys.version_info[:2],"
        " int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))),"
        " int(importlib.util.find_spec('ensurepip') is not None))"
    )
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", probe], capture_output=True, text=True, timeout=30, check=True
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        impl, major, minor = out[0], int(out[1]), int(out[2])
        free_threaded, has_ensurepip = out[3] == "1", out[4] == "1"
        # An abi3 wheel does not cover free-threaded builds.
        if impl != "CPython" or (major, minor) < (3, 9) or free_threaded:
            continue
        if not has_ensurepip:  # Debian and Ubuntu split venv support off (python3.X-venv)
            print(f"skipped {candidate}: cannot create a venv (no ensurepip module)")
            continue
        found.setdefault(f"{major}.{minor}", Path(candidate))
    return dict(sorted(found.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


def test_wheel_everywhere(wheel: Path, work: Path) -> list[str]:
    pythons = find_pythons()
    step(f"The one wheel on every CPython >= 3.9 found: {', '.join(pythons)}")
    # On a workshop laptop or this repository's CI machine, one wheel for every version is
    # the point, so two versions at least. A GitHub Actions job has the one CPython its
    # matrix entry set up (the matrix covers 3.9 and 3.14), plus whatever the image has.
    minimum = 1 if os.environ.get("GITHUB_ACTIONS") == "true" else 2
    assert len(pythons) >= minimum, (
        f"only found {pythons}: need at least {minimum} CPython versions"
    )
    tests = work / "tests"
    tests.mkdir()
    for name in PORTABLE_TESTS:
        shutil.copy(ROOT / "tests" / name, tests)
    # test_module reads the version from Cargo.toml and build_info()'s PyO3 from Cargo.lock.
    shutil.copy(ROOT / "Cargo.toml", work)
    shutil.copy(ROOT / "Cargo.lock", work)
    passed = []
    for version, python in pythons.items():
        venv = work / f"venv-{version}"
        run(python, "-m", "venv", venv)
        py = venv_python(venv)
        run(
            py,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            wheel,
            "pytest",
            "hypothesis",
        )
        # Run from the copy: nothing but the installed wheel can provide rust_demo.
        run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=work)
        passed.append(version)
    print(f"ok: {wheel.name} passed the tests on CPython {', '.join(passed)}")
    return passed


def check_sdist(work: Path) -> None:
    step("maturin sdist, then pip install of the .tar.gz")
    run(BIN / f"maturin{EXE}", "sdist", "--out", work / "sdist", cwd=ROOT)
    (sdist,) = (work / "sdist").glob("*.tar.gz")
    venv = work / "venv-sdist"
    run(sys.executable, "-m", "venv", venv)
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET / "sdist"))
    run(
        venv_python(venv),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        sdist,
        env=env,
    )
    out = run(
        venv_python(venv),
        "-c",
        "import rust_demo; print(rust_demo.fibonacci(10))",
        capture=True,
        cwd=work,
    )
    assert out.strip() == "55", out
    print(f"ok: {sdist.name} builds, installs and imports")


def copy_repo(dest: Path) -> Path:
    dest.mkdir()
    for name in REPO_FILES:
        shutil.copy(ROOT / name, dest)
    (dest / "engines").mkdir()
    for engine in (ROOT / "engines").glob("*.rs"):
        shutil.copy(engine, dest / "engines")
    return dest


def edit_and_rerun(
    repo: Path,
    rebuild: list[object] | None,
    python_cmd: list[object],
    env: dict[str, str],
    edit_engine: bool = False,
) -> float:
    """Edit a function in lib.rs, then rebuild (if the flow needs a command) and rerun; with
    `edit_engine`, then edit its engine in engines/ alone and check that that is picked up too.

    Returns the seconds from the edit of lib.rs to the new code's answer."""
    check = "import rust_demo; print(rust_demo.fibonacci(10))"
    out = run(*python_cmd, "-c", check, capture=True, cwd=repo, env=env)
    assert out.strip() == "55", out
    lib = repo / "lib.rs"
    source = lib.read_text()
    edited = source.replace(
        "fn fibonacci(n: u64) -> PyResult<u64> {",
        "fn fibonacci(n: u64) -> PyResult<u64> {\n    let n = n + 1;",
        1,
    )
    assert edited != source
    start = time.perf_counter()
    lib.write_text(edited)
    if rebuild:
        run(*rebuild, cwd=repo, env=env)
    out = run(*python_cmd, "-c", check, capture=True, cwd=repo, env=env)
    elapsed = time.perf_counter() - start
    assert out.strip() == "89", f"stale build: the edit to lib.rs was not picked up ({out!r})"
    if edit_engine:
        # Only the engine changes now (lib.rs stays edited), so only its cache key can
        # trigger the rebuild: F(11) + 1.
        engine = repo / "engines" / "fibonacci.rs"
        engine_source = engine.read_text()
        engine_edited = engine_source.replace(
            "Some(if n % 2 == 0 { a } else { b })", "Some(if n % 2 == 0 { a } else { b } + 1)", 1
        )
        assert engine_edited != engine_source
        engine.write_text(engine_edited)
        if rebuild:
            run(*rebuild, cwd=repo, env=env)
        out = run(*python_cmd, "-c", check, capture=True, cwd=repo, env=env)
        assert out.strip() == "90", (
            f"stale build: the edit to engines/fibonacci.rs was not picked up ({out!r})"
        )
        engine.write_text(engine_source)
    lib.write_text(source)
    return elapsed


def check_dev_flows(work: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYO3_PYTHON")}
    env["CARGO_TARGET_DIR"] = str(TARGET / "dev-flows")
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    assert uv, "uv is missing: it comes with the ci dependency group"
    timings = {}

    step("uv sync + uv run in a copy of the repository: edits to lib.rs and engines/ are picked up")
    repo = copy_repo(work / "uv-copy")
    uv_env = dict(env, UV_PROJECT_ENVIRONMENT=str(repo / ".venv"), UV_PYTHON=sys.executable)
    run(uv, "sync", "--no-dev", cwd=repo, env=uv_env)
    timings["uv run"] = edit_and_rerun(
        repo, None, [uv, "run", "--no-dev", "python"], uv_env, edit_engine=True
    )

    step("maturin develop in a copy of the repository: rebuild after an edit to lib.rs")
    repo = copy_repo(work / "maturin-copy")
    run(sys.executable, "-m", "venv", repo / ".venv")
    # maturin develop also installs the project's dev dependency group, which takes
    # `pip install --group` (pip >= 25.1): the README's flow upgrades pip first, as here.
    run(venv_python(repo / ".venv"), "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    dev_env = dict(env, VIRTUAL_ENV=str(repo / ".venv"))
    maturin = [BIN / f"maturin{EXE}", "develop"]
    run(*maturin, cwd=repo, env=dev_env)
    timings["maturin develop"] = edit_and_rerun(
        repo, maturin, [venv_python(repo / ".venv")], dev_env
    )
    for flow, seconds in timings.items():
        print(f"ok: {flow}: edit lib.rs -> rebuilt and rerun in {seconds:.1f} s")
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rust_demo-check-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        check_wheel(wheel)
        if LINUX:
            check_manylinux(wheel)
        test_wheel_everywhere(wheel, work)
        build_free_threaded(work)
        check_sdist(work)
        check_dev_flows(work)
    print("\nAll install and build flows work.")


if __name__ == "__main__":
    main()
