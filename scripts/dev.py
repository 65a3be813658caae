"""Set up, build and check rust_demo from nothing but Rust and Python 3.9+.

    python3 scripts/dev.py demo [demo.py options]   # venv, release build, python demo.py
    python3 scripts/dev.py test                     # venv, build, every check CI runs
    python3 scripts/dev.py bench [bench options]    # venv, release build, bench/run.py
    python3 scripts/dev.py serve [--lan] [--port N] [--no-browser]
                                                    # venv, release build, python serve.py

The workshop's exercises (scripts/exercises.py):

    python3 scripts/dev.py start N      # lib.rs at the guide's starting point of exercise N
    python3 scripts/dev.py check N      # build (release for 4), then check exercise N
    python3 scripts/dev.py solution N   # put the repository's solution of exercise N back

The virtual environment is .venv/ in the repository (or $RUST_DEMO_VENV), made with the
Python running this script; its dependencies come from pyproject.toml's [dependency-groups]
and are reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import exercises

ROOT = Path(__file__).resolve().parent.parent
# The test suite points RUST_DEMO_VENV elsewhere when it runs the exercises in a copy.
VENV = Path(os.environ.get("RUST_DEMO_VENV") or ROOT / ".venv")
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


def has_pip() -> bool:
    """Whether .venv has pip: `uv venv` and `uv sync` (without the dev group) make one without."""
    found = subprocess.run(
        [str(PYTHON), "-m", "pip", "--version"], capture_output=True, cwd=ROOT, env=venv_env()
    )
    return found.returncode == 0


# A console script each group installs: if it is gone (`uv sync` removes what its lock does
# not list), the group is installed again.
GROUP_SCRIPTS = {"workshop": "maturin", "ci": "mypy"}
# The attendee's group was called `dev` (see pyproject.toml for why it is not): the old name in
# a command kept from before (`dev.ensure_venv(['dev', ...])`) still means it.
OLD_GROUP_NAMES = {"dev": "workshop"}


def ensure_venv(groups: list[str]) -> None:
    """Create .venv and install the dependency groups, unless already up to date."""
    groups = [OLD_GROUP_NAMES.get(group, group) for group in groups]
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / ".rust_demo-installed"
    # The stamp lists the groups installed for this pyproject.toml: asking for fewer is free.
    installed = stamp.read_text().split() if stamp.exists() and PYTHON.exists() else []
    present = all(
        (BIN / f"{GROUP_SCRIPTS[group]}{EXE}").exists()
        for group in groups
        if group in GROUP_SCRIPTS
    )
    if installed[:1] == [digest] and present:
        if set(groups) <= set(installed[1:]):
            return
        groups = sorted(set(groups) | set(installed[1:]))
    step(f"Python environment in {VENV.name} (groups: {', '.join(groups)})")
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    elif not has_pip():
        # A venv made by uv. uv itself can put pip in; without uv, Python's own ensurepip.
        uv = shutil.which("uv")
        if uv:
            run(uv, "pip", "install", "--quiet", "--python", PYTHON, "pip>=25.1")
        else:
            run(PYTHON, "-m", "ensurepip", "--upgrade")
    # `pip install --group` (PEP 735 dependency groups) needs pip >= 25.1.
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip>=25.1")
    group_args = [arg for group in groups for arg in ("--group", group)]
    run(PYTHON, "-m", "pip", "install", "--quiet", *group_args)
    stamp.write_text(" ".join([digest, *groups]))


def build_release() -> None:
    step("Build the extension (release) into .venv")
    run(BIN / f"maturin{EXE}", "develop", "--release", env=venv_env())


def demo(args: list[str]) -> None:
    ensure_venv(["workshop"])
    build_release()
    step("python demo.py " + " ".join(args))
    run(PYTHON, "demo.py", *args, env=venv_env())


def bench(args: list[str]) -> None:
    ensure_venv(["workshop", "bench", "web"])  # web: the latency-under-load row
    build_release()
    run(PYTHON, "bench/run.py", *args, env=venv_env())


def serve(args: list[str]) -> None:
    """The browser presentation (serve.py), opened in the default browser once it answers."""
    import argparse

    # Only what this needs (whether to open a browser); serve.py checks its own options.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--no-browser", action="store_true")
    options, _ = parser.parse_known_args(args)
    args = [arg for arg in args if arg != "--no-browser"]
    ensure_venv(["workshop", "web"])
    build_release()
    step("python serve.py " + " ".join(args))
    cmd = [str(PYTHON), "serve.py", *args]
    print("$", " ".join(cmd), flush=True)
    # Its output comes through here (the browser opens at the URL it prints), line by line.
    env = dict(venv_env(), PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, errors="replace"
    ) as server:
        assert server.stdout is not None
        ended = end_with(server)
        try:
            for line in server.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                url = SERVER_URL.match(line)
                if url and not options.no_browser:
                    threading.Thread(
                        target=open_when_up, args=(server, url[1]), daemon=True
                    ).start()
            returncode = server.wait()
        finally:
            ended()
    if returncode:
        sys.exit(f"\nFAILED (exit {returncode}): {' '.join(cmd)}")


# The line serve.py prints once it listens (it binds first: a busy port fails before it).
SERVER_URL = re.compile(r"^rust_demo in the browser: (http://\S+/)")


def open_when_up(server: subprocess.Popen[str], url: str) -> None:
    """Open `url` in the default browser once `server` answers there; never once it has
    exited (another program on the port is not ours to show)."""
    import urllib.request
    import webbrowser

    while server.poll() is None:
        try:
            with urllib.request.urlopen(url + "api/info", timeout=1):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        if server.poll() is None:
            webbrowser.open(url)
        return


def end_with(child: subprocess.Popen[str]) -> Callable[[], None]:
    """Make SIGTERM, SIGHUP and SIGINT to this process end `child` too; returns what to call
    when done (it ends the child if it still runs, and puts the handlers back).

    A Ctrl-C in a terminal reaches both; `kill` (SIGTERM), a closed terminal (SIGHUP) or a
    SIGINT sent to this process alone reach only this one, and serve.py would keep the port.
    On Windows, closing the console sends its close event to every process attached to it,
    serve.py included, so the child ends without help from here."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    names = ("SIGTERM", "SIGHUP", "SIGINT") if os.name != "nt" else ()
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {sig: signal.signal(sig, stop) for sig in wanted}

    def ended() -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return ended


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
    ensure_venv(["workshop", "ci", "bench", "web", "web-test"])
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
    run(BIN / f"mypy{EXE}", "demo.py", "bench", "scripts", "tests", "web", "serve.py", env=env)
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


# Lines of pip and maturin that say nothing to someone checking an exercise.
NOISE = re.compile(
    r"^(Requirement already satisfied|\[notice\]|  Caused by: Cargo build finished|"
    r"  Caused by: Failed to build a native library|💥 maturin failed)"
)


def run_quietly(cmd: list[str], env: dict[str, str]) -> tuple[bool, str]:
    """Run a build, showing its output as it comes except NOISE; (success, the output)."""
    print("$", " ".join(cmd), flush=True)
    lines = []
    with subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as build:
        assert build.stdout is not None
        for line in build.stdout:
            lines.append(line)
            if not NOISE.match(line):
                print(line, end="", flush=True)
    return build.returncode == 0, "".join(lines)


def installed_module() -> Path | None:
    """The compiled module that `maturin develop` (or `uv sync`) installed into the venv."""
    found = [
        *VENV.glob("lib/python3*/site-packages/rust_demo/rust_demo*.so"),
        *VENV.glob("Lib/site-packages/rust_demo/rust_demo*.pyd"),
    ]
    return found[0] if len(found) == 1 else None


def cargo_build_env() -> dict[str, str] | None:
    """The environment `maturin develop` gives cargo, or None before its first build.

    Built with the same environment, cargo reuses what maturin compiled (pyo3 included), and
    the other way round: `check` and a `maturin develop` by hand never rebuild each other's
    dependencies.
    """
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    try:
        config = (VENV / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    version = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", config, re.M)
    configs = sorted(target.glob(f"maturin/pyo3-config-*-{version[1]}*.txt")) if version else []
    if len(configs) != 1 or version is None:
        return None
    env = venv_env()
    env.pop("CARGO", None)
    env.update(
        PYO3_BUILD_EXTENSION_MODULE="1",
        PYO3_CONFIG_FILE=str(configs[0]),
        PYO3_ENVIRONMENT_SIGNATURE=f"cpython-{version[1]}-{64 if sys.maxsize > 2**32 else 32}bit",
        PYO3_PYTHON=str(PYTHON),
        PYTHON_SYS_EXECUTABLE=str(PYTHON),
    )
    return env


def library_file(profile: str) -> Path:
    """Where `cargo rustc --profile <profile> --lib` leaves the extension module."""
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    name = {"nt": "rust_demo.dll"}.get(os.name) or (
        "librust_demo.dylib" if sys.platform == "darwin" else "librust_demo.so"
    )
    return target / ("debug" if profile == "dev" else profile) / name


def install_module(built: Path, installed: Path) -> None:
    """Put the freshly built module in place of the installed one, as pip does: a new file in
    the same folder, renamed over the old. A Python that imported the old one (serve.py, a REPL,
    a notebook) keeps running it until it restarts; overwriting the file in place would crash
    it on its next call. Exits with one line saying why when it cannot."""
    tmp = installed.with_name(f".{installed.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(built, tmp)
        shutil.copymode(installed, tmp)
        os.replace(tmp, installed)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        where = installed.relative_to(VENV.parent)
        if os.name == "nt" and isinstance(err, PermissionError):
            # Windows cannot replace a .pyd that a running process has loaded.
            sys.exit(
                f"\nThe build worked, but {where} is in use: close every Python that imported "
                "rust_demo (serve.py, a REPL, a notebook kernel, demo.py), then run this again."
            )
        sys.exit(
            f"\nThe build worked, but it could not be installed as {where} "
            f"({err.strerror or err}); the old module is still there, unchanged."
        )
    print(
        f"(installed as {installed.relative_to(VENV.parent)}; a serve.py or REPL already running "
        "keeps the old code: it shows the new one after a restart)"
    )


def build_for_check(profile: str) -> tuple[str | None, str]:
    """Build lib.rs into the venv: (the step that failed, or None; the build's output).

    The first time through `maturin develop`; after that with cargo alone, then the module is
    put in place of the installed one (a wheel and a pip run per edit cost seconds, and printed
    pip's lines on every check).
    """
    installed, env = installed_module(), cargo_build_env()
    if installed is None or env is None:
        release = ["--release"] if profile == "release" else []
        ok, output = run_quietly([str(BIN / f"maturin{EXE}"), "develop", *release], venv_env())
        return (None if ok else failed_step(output)), output
    color = ["--color", "always"] if sys.stdout.isatty() else []
    built, output = run_quietly(["cargo", "rustc", "--profile", profile, "--lib", *color], env)
    if not built:
        return "cargo", output
    install_module(library_file(profile), installed)
    return None, output


def failed_step(output: str) -> str:
    """Which step of `maturin develop` failed, from its output: "cargo" (lib.rs does not
    compile) or the installer's name ("pip", "uv")."""
    found = re.search(r"Caused by: (pip|uv) install[\w -]* finished with", output)
    return found[1] if found else "cargo"


def without_panics(stream: IO[str]) -> None:
    """Copy `stream` to stderr without the lines Rust's panic hook prints: the report already
    says each panic on its own line ("not written yet" for a starter's todo!())."""
    skip = False
    try:
        for line in stream:
            if PANIC_HEAD.match(line):
                skip = True  # the message follows on the next line
            elif skip or PANIC_NOTE.match(line):
                skip = False
            else:
                sys.stderr.write(line)
                sys.stderr.flush()
    except (OSError, ValueError):  # closed when check stops early (a timeout, Ctrl-C)
        pass


# thread '<unnamed>' (332) panicked at lib.rs:460:5:  /  note: run with `RUST_BACKTRACE=1` ...
# (Rust before 1.89 prints no thread id.)
PANIC_HEAD = re.compile(r"^thread '.*'(?: \(\d+\))? panicked at .*:$")
PANIC_NOTE = re.compile(r"^note: run with `RUST_BACKTRACE=1`")


def check(number: int) -> None:
    """Build lib.rs as the attendee left it, then run exercise `number`'s expectations."""
    exercise = exercises.exercise(number)
    ensure_venv(["workshop"])
    source = exercises.read_lib()[0]
    strays = exercises.stray_registrations(source, number)
    profile = "release" if exercise.release else "dev"
    step(f"Build the extension ({profile} profile) into {VENV.name}")
    failed, output = build_for_check(profile)
    if failed == "cargo":
        for hint in strays + exercises.hints(output, source):
            print(f"hint: {hint}")
        sys.exit(
            f"\nThe build failed: cargo's message above names the line of lib.rs. Fix it and run "
            f"this again, or put the solution back with: python3 scripts/dev.py solution {number}"
        )
    if failed:
        sys.exit(
            f"\nlib.rs compiled, but {failed} could not install it into {VENV.name} (its message "
            "above says why; `no such option: --group` is a pip older than 25.1: "
            f"{PYTHON} -m pip install -U pip)."
        )
    step(f"Check exercise {number}")
    verify = [str(PYTHON), str(ROOT / "scripts" / "exercises.py"), "verify", str(number)]
    # A panic prints its message and place to stderr; a backtrace would bury the report.
    env = dict(venv_env(), RUST_BACKTRACE="0", RUST_DEMO_CHECK_SECONDS=str(CHECK_SECONDS))
    with subprocess.Popen(
        verify, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as checking:
        assert checking.stderr is not None
        copier = threading.Thread(target=without_panics, args=(checking.stderr,), daemon=True)
        copier.start()
        try:
            returncode = checking.wait(timeout=CHECK_SECONDS)
        except subprocess.TimeoutExpired:
            # Rust code that holds the GIL cannot be interrupted from Python: stop the process.
            checking.kill()
            sys.exit(
                f"\n... no answer after {CHECK_SECONDS} s: the call on the last line above never "
                "returned (a loop that never ends?). Fix lib.rs and check again."
            )
        except KeyboardInterrupt:
            # Ctrl-C reached it too: give it a moment to stop what it started, then make sure.
            try:
                checking.wait(timeout=5)
            except subprocess.TimeoutExpired:
                checking.kill()
            raise
        copier.join(timeout=5)  # its last lines, before this one's
    for stray in strays:
        print(f"hint: {stray}")
    sys.exit(returncode)


COMMANDS = {"demo", "test", "bench", "serve", "start", "check", "solution"}
# Every check finishes in seconds (exercise 4's timing included); past this, it is stuck.
# The test suite shortens it to see a stuck check stopped.
CHECK_SECONDS = int(os.environ.get("RUST_DEMO_CHECK_SECONDS") or 120)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    if command in {"start", "check", "solution"} and (
        len(args) != 1 or not re.fullmatch("[0-9]+", args[0])
    ):
        sys.exit(f"usage: python3 scripts/dev.py {command} N   (N = 1, 2, 3 or 4)")
    try:
        if command == "demo":
            demo(args)
        elif command == "bench":
            bench(args)
        elif command == "serve":
            serve(args)
        elif command == "start":
            exercises.start(int(args[0]))
        elif command == "check":
            check(int(args[0]))
        elif command == "solution":
            exercises.solution(int(args[0]))
        else:
            test()
    except subprocess.CalledProcessError as err:
        sys.exit(f"\nFAILED (exit {err.returncode}): {' '.join(map(str, err.cmd))}")
    except KeyboardInterrupt:
        sys.exit("\nInterrupted.")


if __name__ == "__main__":
    main()
