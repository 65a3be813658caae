"""Prove the README's profiling recipe: a profiling build lets py-spy name Rust functions.

Run by `scripts/dev.py test` with the project's venv Python (maturin and py-spy come from
there). Linux only: py-spy needs root on macOS, and this check has never run on Windows.

1. `maturin build --profile profiling` (Cargo.toml: release, plus debug info, not stripped),
   installed into a temporary venv: the project's .venv keeps its release build.
2. A Python process of that venv calls `count_primes` with a huge n (it runs for minutes);
   `py-spy dump --native` on it must show a function defined in lib.rs or engines/.

On the stripped release build the same dump shows only addresses inside the .so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXE = ".exe" if os.name == "nt" else ""  # console scripts next to python: Scripts\maturin.exe
TARGET = ROOT / "target"  # the same target directory as check_wheel.py

# The process py-spy looks at. On Linux with Yama's ptrace_scope = 1 (Ubuntu, GitHub's
# runners) only a parent may attach to a process unless the process allows it: it does,
# for any process of the same user (PR_SET_PTRACER, PR_SET_PTRACER_ANY).
TARGET_SCRIPT = """
import ctypes, sys
ctypes.CDLL(None, use_errno=True).prctl(0x59616D61, ctypes.c_ulong(-1), 0, 0, 0)
import rust_demo
print("ready", flush=True)
rust_demo.count_primes(10**13)
"""


def run(*args: object, **kwargs) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, text=True, **kwargs)


def skip(reason: str) -> None:
    print(f"skipped: py-spy profiling check: {reason}")
    sys.exit(0)


def rust_functions() -> dict[str, set[str]]:
    """The functions defined in lib.rs and in each engine beside it, by file name."""
    sources = [ROOT / "lib.rs", *sorted((ROOT / "engines").glob("*.rs"))]
    return {path.name: set(re.findall(r"\bfn\s+(\w+)", path.read_text())) for path in sources}


def rust_frames(dump: str, functions: dict[str, set[str]]) -> list[str]:
    """The lines of a `py-spy dump --native` that name a function of lib.rs or engines/."""
    found = []
    for line in dump.splitlines():
        # A native frame: "    rust_demo::engines::sieve::pack_flags::h03e30a02e3cb2194
        # (engines/sieve.rs:973)" or, in a closure, "    rust_demo::count_primes::_$u7b$$u7b$
        # closure...::h27d8 (lib.rs:1131)": a path segment is a function of the named file.
        match = re.match(r"\s+rust_demo::(.*)\s\((?:.*[/\\])?(\w+\.rs):\d+\)$", line)
        if match and set(match.group(1).split("::")) & functions.get(match.group(2), set()):
            found.append(line.strip())
    return found


def main() -> None:
    if not sys.platform.startswith("linux"):
        skip(f"Linux only (this is {sys.platform}; py-spy needs root on macOS)")
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    if scope.exists() and scope.read_text().strip() == "3":
        skip("ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3)")
    with tempfile.TemporaryDirectory(prefix="rust_demo-profiling-") as tmp:
        work = Path(tmp)
        print("\n--> maturin build --profile profiling, installed into a temporary venv")
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
        run(
            BIN / f"maturin{EXE}",
            "build",
            "--profile",
            "profiling",
            "--out",
            work,
            check=True,
            cwd=ROOT,
            env=env,
        )
        (wheel,) = work.glob("*.whl")
        run(sys.executable, "-m", "venv", work / "venv", check=True)
        python = work / "venv" / "bin" / "python"
        run(
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            wheel,
            check=True,
        )

        print("\n--> py-spy dump --native on a process inside count_primes(10**13)")
        functions = rust_functions()
        proc = subprocess.Popen(
            [str(python), "-c", TARGET_SCRIPT], stdout=subprocess.PIPE, text=True, cwd=work
        )
        try:
            assert proc.stdout and proc.stdout.readline().strip() == "ready"
            for _attempt in range(5):
                time.sleep(0.5)  # well inside the sieve by now
                result = run(
                    BIN / f"py-spy{EXE}", "dump", "--native", "--pid", proc.pid, capture_output=True
                )
                if result.returncode != 0:
                    if re.search(r"[Pp]ermission denied|[Oo]peration not permitted", result.stderr):
                        skip(f"py-spy may not attach here: {result.stderr.strip()}")
                    sys.exit(f"py-spy dump failed:\n{result.stdout}{result.stderr}")
                frames = rust_frames(result.stdout, functions)
                if frames:
                    break
            else:
                sys.exit(f"no Rust function of ours in py-spy's native stack:\n{result.stdout}")
        finally:
            proc.kill()
            proc.wait()
        print(result.stdout.rstrip())
        print(f"ok: py-spy names Rust functions of lib.rs and engines/: {', '.join(frames)}")


if __name__ == "__main__":
    main()
