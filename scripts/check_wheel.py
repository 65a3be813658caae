"""Check every way the workshop builds and installs rust_demo. Run by `scripts/dev.py test`.

1. `maturin build --release`: one wheel tagged cp39-abi3, clean under abi3audit, with the
   stub, py.typed, license and metadata inside.
2. That same wheel file, installed into a fresh venv of every CPython >= 3.9 found on this
   machine, passes the test suite in each (fails if fewer than two are found).
3. `maturin sdist`, then `pip install` of the .tar.gz, imports.
4. In a temporary copy of the repository: `uv sync` + `uv run`, and `maturin develop`,
   each see an edit to lib.rs without any manual rebuild step.

Run it with the project's venv Python (it uses maturin, abi3audit and uv from there).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = ROOT / "target"  # one cargo target directory for every build below
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


def build_wheel(out: Path) -> Path:
    step("maturin build --release")
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    run(BIN / "maturin", "build", "--release", "--out", out, cwd=ROOT, env=env)
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def check_wheel(wheel: Path) -> None:
    step(f"Wheel: {wheel.name}")
    assert re.fullmatch(rf"rust_demo-{re.escape(VERSION)}-cp39-abi3-[\w.]+\.whl", wheel.name), (
        f"{wheel.name} is not tagged cp39-abi3"
    )
    run(BIN / "abi3audit", "--strict", "--verbose", wheel)
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
    found: dict[str, Path] = {}
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import sys, platform; print(platform.python_implementation(),"
                    " *sys.version_info[:2], int(hasattr(sys, '_is_gil_enabled')"
                    " and not sys._is_gil_enabled()))",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        impl, major, minor, free_threaded = out[0], int(out[1]), int(out[2]), out[3] == "1"
        # An abi3 wheel does not cover free-threaded builds.
        if impl == "CPython" and (major, minor) >= (3, 9) and not free_threaded:
            found.setdefault(f"{major}.{minor}", Path(candidate))
    return dict(sorted(found.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


def test_wheel_everywhere(wheel: Path, work: Path) -> list[str]:
    pythons = find_pythons()
    step(f"The one wheel on every CPython >= 3.9 found: {', '.join(pythons)}")
    assert len(pythons) >= 2, f"only found {pythons}: need at least two CPython versions"
    tests = work / "tests"
    tests.mkdir()
    for name in PORTABLE_TESTS:
        shutil.copy(ROOT / "tests" / name, tests)
    shutil.copy(ROOT / "Cargo.toml", work)  # test_module reads the version from it
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
    run(BIN / "maturin", "sdist", "--out", work / "sdist", cwd=ROOT)
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
    return dest


def edit_and_rerun(
    repo: Path, rebuild: list[object] | None, python_cmd: list[object], env: dict[str, str]
) -> float:
    """Edit a function in lib.rs, then rebuild (if the flow needs a command) and rerun.

    Returns the seconds from the edit to the new code's answer."""
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
    lib.write_text(source)
    return elapsed


def check_dev_flows(work: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYO3_PYTHON")}
    env["CARGO_TARGET_DIR"] = str(TARGET / "dev-flows")
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    assert uv, "uv is missing: it comes with the dev dependency group"
    timings = {}

    step("uv sync + uv run in a copy of the repository: an edit to lib.rs is picked up")
    repo = copy_repo(work / "uv-copy")
    uv_env = dict(env, UV_PROJECT_ENVIRONMENT=str(repo / ".venv"), UV_PYTHON=sys.executable)
    run(uv, "sync", "--no-dev", cwd=repo, env=uv_env)
    timings["uv run"] = edit_and_rerun(repo, None, [uv, "run", "--no-dev", "python"], uv_env)

    step("maturin develop in a copy of the repository: rebuild after an edit to lib.rs")
    repo = copy_repo(work / "maturin-copy")
    run(sys.executable, "-m", "venv", repo / ".venv")
    # maturin develop also installs the project's dev dependency group, which takes
    # `pip install --group` (pip >= 25.1): the README's flow upgrades pip first, as here.
    run(venv_python(repo / ".venv"), "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    dev_env = dict(env, VIRTUAL_ENV=str(repo / ".venv"))
    maturin = [BIN / "maturin", "develop"]
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
        test_wheel_everywhere(wheel, work)
        check_sdist(work)
        check_dev_flows(work)
    print("\nAll install and build flows work.")


if __name__ == "__main__":
    main()
