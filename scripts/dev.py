"""Set up, build and check rust_demo from nothing but Rust and Python 3.9+.

    python3 scripts/dev.py demo [demo.py options]   # venv, release build, python demo.py
    python3 scripts/dev.py test                     # venv, build, every check CI runs
    python3 scripts/dev.py bench [bench options]    # venv, release build, bench/run.py

The virtual environment is .venv/ in the repository, made with the Python running this
script; its dependencies come from pyproject.toml's [dependency-groups] and are reinstalled
only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
EXE = ".exe" if os.name == "nt" else ""  # console scripts in .venv: Scripts\ruff.exe
# cargo test and clippy get their own target directory: sharing maturin's would recompile
# pyo3 every time we switch, because maturin builds it with different settings.
RUST_TESTS_TARGET = ROOT / "target" / "rust-tests"


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(*args: object, **kwargs) -> None:
    cmd = [str(a) for a in args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=kwargs.pop("cwd", ROOT), **kwargs)


def venv_env() -> dict[str, str]:
    """The environment of a shell with .venv activated."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["PYO3_PYTHON"] = str(PYTHON)  # cargo test links against the venv's Python
    env.pop("PYTHONHOME", None)
    return env


def ensure_venv(groups: list[str]) -> None:
    """Create .venv and install the dependency groups, unless already up to date."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted += " " + ",".join(groups)
    stamp = VENV / ".rust_demo-installed"
    if stamp.exists() and stamp.read_text() == wanted and PYTHON.exists():
        return
    step(f"Python environment in .venv (groups: {', '.join(groups)})")
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    # `pip install --group` (PEP 735 dependency groups) needs pip >= 25.1.
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    group_args = [arg for group in groups for arg in ("--group", group)]
    run(PYTHON, "-m", "pip", "install", "--quiet", *group_args)
    stamp.write_text(wanted)


def build_release() -> None:
    step("Build the extension (release) into .venv")
    run(BIN / f"maturin{EXE}", "develop", "--release", env=venv_env())


def demo(args: list[str]) -> None:
    ensure_venv(["dev"])
    build_release()
    step("python demo.py " + " ".join(args))
    run(PYTHON, "demo.py", *args, env=venv_env())


def bench(args: list[str]) -> None:
    ensure_venv(["dev", "bench"])
    build_release()
    run(PYTHON, "bench/run.py", *args, env=venv_env())


def stubtest(env: dict[str, str]) -> None:
    """Check rust_demo.pyi against the compiled module itself, with no allowlist."""
    import_path = subprocess.run(
        [str(PYTHON), "-c", "import rust_demo.rust_demo as m; print(m.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(import_path, tmp)
        shutil.copy(ROOT / "rust_demo.pyi", tmp)
        stub_env = dict(env, PYTHONPATH=tmp, MYPYPATH=tmp)
        run(PYTHON, "-m", "mypy.stubtest", "rust_demo", env=stub_env, cwd=tmp)


def test() -> None:
    started = time.perf_counter()
    ensure_venv(["dev", "bench"])
    env = venv_env()
    step("Lints: cargo fmt, cargo clippy, ruff, mypy")
    run("cargo", "fmt", "--check")
    run(
        "cargo",
        "clippy",
        "--all-targets",
        "--target-dir",
        RUST_TESTS_TARGET,
        "--",
        "-D",
        "warnings",
        env=env,
    )
    run(BIN / f"ruff{EXE}", "check", ".", env=env)
    # The Python side type-checks against rust_demo.pyi itself (found next to demo.py).
    run(BIN / f"mypy{EXE}", "demo.py", "bench", "scripts", "tests", env=env)
    step("GitHub workflows, offline: JSON schema and zizmor (strictest persona, no findings)")
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflow files in .github/workflows/"
    run(
        BIN / f"check-jsonschema{EXE}",
        "--builtin-schema",
        "vendor.github-workflows",
        *workflows,
        env=env,
    )
    run(BIN / f"zizmor{EXE}", "--offline", "--persona=pedantic", *workflows, env=env)
    step("Rust unit tests (no Python module needed)")
    run("cargo", "test", "--target-dir", RUST_TESTS_TARGET, env=env)
    build_release()
    step("Stub: mypy.stubtest rust_demo.pyi against the compiled module")
    stubtest(env)
    step("Python tests")
    run(PYTHON, "-m", "pytest", "-q", "tests", env=env)
    step("Install flows: one abi3 wheel on every CPython, sdist, uv and maturin develop")
    run(PYTHON, "scripts/check_wheel.py", env=env)
    step("Profiling build: py-spy names the Rust functions of lib.rs (Linux)")
    run(PYTHON, "scripts/check_profiling.py", env=env)
    print(f"\nAll checks passed in {time.perf_counter() - started:.0f} s.")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "bench"}:
        sys.exit(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    try:
        if command == "demo":
            demo(args)
        elif command == "bench":
            bench(args)
        else:
            test()
    except subprocess.CalledProcessError as err:
        sys.exit(f"\nFAILED (exit {err.returncode}): {' '.join(map(str, err.cmd))}")


if __name__ == "__main__":
    main()
