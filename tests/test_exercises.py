"""The workshop path: each of the guide's four exercises, followed in a copy of the repository.

For each exercise: `start N`, `check N` fails and says why, the guide's code goes in where the
guide says (exercise 3's starter has empty bodies, so that one is ours), `check N` passes,
`solution N`, `check N` passes again and lib.rs is back to what it was. demo.py keeps running
while the exercise is started. One cold build; the copies share a cargo target directory and
a virtual environment under target/, so later builds are incremental.

Also the way in (the guide's `pip install maturin` and `uv sync` routes in a fresh venv), what
`check` does to a Python that imported the module, writes that fail on a full disk, and
`scripts/dev.py serve` ending its server. Every process a test starts runs in a process group
of its own, killed whole when the test is done with it (`run`, `end_group`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT.parent / "shared" / "workshop-guide.md"

# Character for character from the guide ("Workshop Exercises").
REGISTER_FACTORIAL = "m.add_function(wrap_pyfunction!(factorial, m)?)?;"
REGISTER_COUNTER = "m.add_class::<Counter>()?;"
EXERCISE_1_HINT = "(1..=n).product()"
EXERCISE_2 = """\
#[pyfunction]
fn factorial(n: u64) -> PyResult<u64> {
    if n > 20 {
        return Err(PyValueError::new_err("Input too large (max 20)"));
    }
    Ok((1..=n).product())
}
"""
EXERCISE_4 = """\
#[pyfunction]
fn sieve_of_eratosthenes(n: usize) -> Vec<usize> {
    if n < 2 {
        return vec![];
    }
    let mut is_prime = vec![true; n + 1];
    is_prime[0] = false;
    is_prime[1] = false;

    let mut p = 2;
    while p * p <= n {
        if is_prime[p] {
            for i in (p * p..=n).step_by(p) {
                is_prime[i] = false;
            }
        }
        p += 1;
    }

    (2..=n).filter(|&i| is_prime[i]).collect()
}
"""
REGISTER_SIEVE = "m.add_function(wrap_pyfunction!(sieve_of_eratosthenes, m)?)?;"
# Exercise 3's guide code is a starter with empty bodies: this is an attendee's answer.
EXERCISE_3_ANSWER = """\
#[pyclass]
struct Counter {
    count: i64,
}

#[pymethods]
impl Counter {
    #[new]
    fn new() -> Self {
        Counter { count: 0 }
    }

    fn increment(&mut self) {
        self.count += 1;
    }

    fn decrement(&mut self) {
        self.count -= 1;
    }

    fn value(&self) -> i64 {
        self.count
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    fn __repr__(&self) -> String {
        format!("Counter(value={})", self.count)
    }
}
"""


def run(
    cmd: list[str],
    *,
    timeout: float = 900,
    check: bool = False,
    capture_output: bool = False,
    text: bool = False,
    encoding: str | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run, with the command in a process group of its own that is killed whole
    when it outlasts `timeout` or the test fails while it runs: a build's cargo and rustc, or
    the guide's command started by `check`, never outlive the test."""
    pipe = subprocess.PIPE if capture_output else None
    with subprocess.Popen(
        cmd,
        stdout=pipe,
        stderr=pipe,
        text=text or encoding is not None,
        encoding=encoding,
        start_new_session=os.name != "nt",
        **kwargs,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            end_group(process)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    if check:
        result.check_returncode()
    return result


def end_group(process: subprocess.Popen[Any]) -> None:
    """Kill `process` and everything left in its process group (POSIX), then reap it."""
    if os.name != "nt":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone: nothing of it is left
    else:
        process.kill()
    process.wait()


def with_exercise_1_hint(starter: str) -> str:
    """The exercise-1 starter with its body written as the guide's hint says."""
    body = re.sub(r"\{\n.*\n\}", "{\n    " + EXERCISE_1_HINT + "\n}", starter, flags=re.S)
    assert body != starter
    return body


# number: (what `check` says before, the code to paste (from the starter), registration line,
#          what the demo says while the exercise is started, the demo section to run)
CASES = {
    1: (
        "rust_demo.factorial exists: missing",
        with_exercise_1_hint,
        REGISTER_FACTORIAL,
        "exercise 1",
        "errors",
    ),
    2: (
        "factorial(21) raises ValueError('Input too large (max 20)'): got PanicException(",
        lambda starter: EXERCISE_2,
        None,
        "panicked",
        "errors",
    ),
    3: (
        "rust_demo.Counter exists: missing",
        lambda starter: EXERCISE_3_ANSWER,
        REGISTER_COUNTER,
        "exercise 3",
        "counter",
    ),
    4: (
        "rust_demo.sieve_of_eratosthenes exists: missing",
        lambda starter: EXERCISE_4,
        REGISTER_SIEVE,
        "exercise 4",
        "performance",
    ),
}


@pytest.mark.skipif(not GUIDE.exists(), reason="the workshop guide is not beside this clone")
def test_the_snippets_here_are_the_guides_own():
    guide = GUIDE.read_text(encoding="utf-8")
    for snippet in (EXERCISE_1_HINT, EXERCISE_2, EXERCISE_4, REGISTER_FACTORIAL):
        assert snippet in guide
    assert f"`{REGISTER_COUNTER}`" in guide
    # The guide registers exercise 4's function the way it showed for exercise 1.
    assert REGISTER_SIEVE == REGISTER_FACTORIAL.replace("factorial", "sieve_of_eratosthenes")


@pytest.fixture(scope="module")
def shared_build_dirs() -> dict[str, str]:
    target = ROOT / "target"
    return {
        "CARGO_TARGET_DIR": str(target / "exercises"),
        "RUST_DEMO_VENV": str(target / "exercise-venv"),
    }


def copy_of_repository(dest: Path, git: bool = True) -> Path:
    """The repository's files as they are now; with `git`, committed, as in a fresh clone."""
    files = (
        run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            # Copied now, not with the original times: the copies share a cargo target
            # directory, where a lib.rs older than the last build (of another copy) would
            # count as built.
            shutil.copy(ROOT / name, dest / name)
    if git:
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
            run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", *command],
                cwd=dest,
                check=True,
            )
    return dest


def dev(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        [sys.executable, "scripts/dev.py", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=900,
    )


def cargo_warnings(result: subprocess.CompletedProcess[str]) -> set[str]:
    found = re.findall(r"^warning: (.*)$", result.stdout + result.stderr, re.M)
    return {w for w in found if not w.startswith("`rust_demo` (lib) generated")}


def region_body(source: str, number: int) -> str:
    match = re.search(
        rf"^// -+ Exercise {number} begin: \w+ -+\n(.*?)^// -+ Exercise {number} end",
        source,
        re.S | re.M,
    )
    assert match, f"no Exercise {number} markers in lib.rs"
    return match.group(1)


def paste(lib: Path, number: int, code: str, registration: str | None) -> None:
    """Write `code` between the markers and the registration line at the top of the module."""
    source = lib.read_text(encoding="utf-8")
    source = source.replace(region_body(source, number), code, 1)
    if registration:
        head = "fn rust_demo(m: &Bound<'_, PyModule>) -> PyResult<()> {\n"
        assert head in source
        source = source.replace(head, head + "    " + registration + "\n", 1)
    lib.write_text(source, encoding="utf-8")


@pytest.mark.parametrize("number", sorted(CASES))
def test_exercise_cycle(number, tmp_path, shared_build_dirs):
    failing, answer, registration, demo_says, section = CASES[number]
    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    solved = lib.read_text(encoding="utf-8")

    started = dev(repo, env, "start", str(number))
    assert started.returncode == 0, started.stdout + started.stderr
    source = lib.read_text(encoding="utf-8")
    starter = region_body(source, number)
    assert "todo!(" in starter or number in (2, 4)
    if registration:
        assert registration not in source
    again = dev(repo, env, "start", str(number))
    assert "already started" in again.stdout
    assert lib.read_text(encoding="utf-8") == source, "a second start changed lib.rs"

    before = dev(repo, env, "check", str(number))
    assert before.returncode != 0, before.stdout + before.stderr
    assert failing in before.stdout, before.stdout + before.stderr
    assert f"Exercise {number} is not done yet" in before.stdout
    # Taking the solution out leaves nothing unused behind: no warning but the starter's own.
    assert cargo_warnings(before) <= {"function `factorial` is never used"}

    # demo.py still runs, and says what the missing or unfinished piece is.
    python = Path(env["RUST_DEMO_VENV"]) / ("Scripts" if os.name == "nt" else "bin") / "python"
    demo = run(
        [str(python), "demo.py", "--quick", "--section", section],
        cwd=repo,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert demo_says in demo.stdout, demo.stdout

    paste(lib, number, answer(starter), registration)
    done = dev(repo, env, "check", str(number))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Exercise {number} is done." in done.stdout
    assert not cargo_warnings(done)
    assert ": got" not in done.stdout and "missing" not in done.stdout
    assert "Requirement already satisfied" not in done.stdout + done.stderr
    if number == 4:
        faster = r"Rust is (\d+(\.\d)?[x×] faster|about as fast as Python)"
        assert re.search(faster, done.stdout), done.stdout
        assert "count_primes(1,000,000, threads=1) counts them" in done.stdout
        assert "N = 1,000,000, release build (opt-level 3), best of 5:" in done.stdout
    if number == 1:  # a dev build: build_info says so, and so does demo.py on every timing
        info = run(
            [str(python), "-c", "import rust_demo; print(rust_demo.build_info())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "'profile': 'dev', 'opt_level': '0', 'debug_assertions': True" in info
        demo = run(
            [str(python), "demo.py", "--quick", "--section", "simple"],
            cwd=repo,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=300,
        )
        bench = run(
            [str(python), "bench/run.py", "--quick"], cwd=repo, capture_output=True, text=True
        )
        assert bench.returncode != 0 and "is a debug build (dev profile, opt-level 0)" in (
            bench.stderr
        )
        assert "python3 scripts/dev.py bench" in bench.stderr
        assert "DEBUG BUILD (dev profile, opt-level 0)" in demo.stdout
        assert "maturin develop --release" in demo.stdout
        timings = [line for line in demo.stdout.splitlines() if "took" in line or "faster" in line]
        assert timings and all(
            line.endswith("[debug build]")
            for line in timings
            if "Rust" in line or line.startswith("fibonacci")
        )

    back = dev(repo, env, "solution", str(number))
    assert back.returncode == 0, back.stdout + back.stderr
    assert "is saved in" in back.stdout  # the attendee's own code is kept
    assert lib.read_text(encoding="utf-8") == solved
    solved_check = dev(repo, env, "check", str(number))
    assert solved_check.returncode == 0, solved_check.stdout + solved_check.stderr
    assert f"Exercise {number} is done." in solved_check.stdout


def test_check_shows_cargos_own_message_for_a_compile_error(tmp_path, shared_build_dirs):
    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    assert dev(repo, env, "start", "1").returncode == 0
    paste(repo / "lib.rs", 1, "#[pyfunction]\nfn factorial(n: u64) -> u64 {\n    n *\n}\n", None)
    result = dev(repo, env, "check", "1")
    assert result.returncode != 0
    assert "error: expected expression" in result.stdout + result.stderr
    assert "The build failed" in result.stderr


@pytest.mark.parametrize("git", [True, False], ids=["clone", "copy without git"])
def test_start_and_solution_in_any_order_end_where_they_began(tmp_path, git):
    repo = copy_of_repository(tmp_path / "rust_demo", git=git)
    lib = repo / "lib.rs"
    solved = lib.read_text(encoding="utf-8")
    env = dict(os.environ)
    for number in (1, 2, 3, 4):  # solution before any start changes nothing
        assert dev(repo, env, "solution", str(number)).returncode == 0
        assert lib.read_text(encoding="utf-8") == solved
    for command in ("start 3", "start 1", "solution 3", "start 2", "start 4", "start 1"):
        result = dev(repo, env, *command.split())
        assert result.returncode == 0, command + result.stdout + result.stderr
    for number in (4, 1, 3):
        assert dev(repo, env, "solution", str(number)).returncode == 0
    assert lib.read_bytes() == solved.encode()


def test_solution_is_the_repositorys_whatever_was_committed(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    solved = lib.read_text(encoding="utf-8")
    env = dict(os.environ)
    # A hand edit, committed; then exercise 1 started and done as the guide says, committed.
    lib.write_text(solved.replace("Ok((1..=n).product())", "Ok((1..n).product())"), "utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam"]
    run([*git, "my edit"], cwd=repo, check=True)
    assert dev(repo, env, "start", "1").returncode == 0
    starter = region_body(lib.read_text(encoding="utf-8"), 1)
    paste(lib, 1, with_exercise_1_hint(starter), REGISTER_FACTORIAL)
    run([*git, "my exercise 1"], cwd=repo, check=True)
    shutil.rmtree(repo / ".exercises", ignore_errors=True)
    result = dev(repo, env, "solution", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from scripts/solutions.rs" in result.stdout
    assert lib.read_text(encoding="utf-8") == solved


def test_solutions_file_is_lib_rs_own(tmp_path):
    """scripts/solutions.rs holds what lib.rs has: after a change to a solution in lib.rs, run
    `python3 scripts/exercises.py freeze`."""
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    frozen = repo / "scripts" / "solutions.rs"
    before = frozen.read_text(encoding="utf-8")
    run([sys.executable, "scripts/exercises.py", "freeze"], cwd=repo, check=True)
    assert frozen.read_text(encoding="utf-8") == before, (
        "scripts/solutions.rs differs from lib.rs: run python3 scripts/exercises.py freeze"
    )


def test_start_names_the_module_function_and_its_line(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    for number in (1, 3, 4):
        result = dev(repo, dict(os.environ), "start", str(number))
        source = (repo / "lib.rs").read_text(encoding="utf-8")
        line = source[: source.index("\nfn rust_demo(")].count("\n") + 2
        assert f"inside `fn rust_demo`, the module function (lib.rs line {line})" in result.stdout
        assert "`fn rust_demo` (the #[pymodule] function at the end of lib.rs)" in source
        assert "bottom of this file" not in source


def test_registration_lines_however_written_end_up_once(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    solved = lib.read_text(encoding="utf-8")
    env = dict(os.environ)
    assert dev(repo, env, "start", "1").returncode == 0
    head = "fn rust_demo(m: &Bound<'_, PyModule>) -> PyResult<()> {\n"
    variants = (
        "    m.add_function(wrap_pyfunction!(factorial, m)?)?; // exercise 1\n"
        "    m.add_function(pyo3::wrap_pyfunction!(factorial, m)?)?;\n"
        "    m.add_function(\n        wrap_pyfunction!(factorial, m)?,\n    )?;\n"
    )
    source = lib.read_text(encoding="utf-8").replace(head, head + variants, 1)
    # A marker line with trailing blanks is still a marker line.
    source = source.replace("Exercise 1 end: factorial -----", "Exercise 1 end: factorial -----  ")
    lib.write_text(source, encoding="utf-8")
    result = dev(repo, env, "solution", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lib.read_text(encoding="utf-8") == solved


def test_crlf_line_ends_are_kept(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    crlf = lib.read_bytes().replace(b"\n", b"\r\n")
    lib.write_bytes(crlf)
    env = dict(os.environ)
    assert dev(repo, env, "start", "4").returncode == 0
    assert b"\r\n" in lib.read_bytes() and b"\n" not in lib.read_bytes().replace(b"\r\n", b"")
    assert dev(repo, env, "solution", "4").returncode == 0
    assert lib.read_bytes() == crlf


def test_solution_warns_about_a_copy_outside_the_markers(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    env = dict(os.environ)
    assert dev(repo, env, "start", "4").returncode == 0
    source = lib.read_text(encoding="utf-8")
    pasted = re.sub(r"^#\[pymodule", EXERCISE_4 + "\n#[pymodule", source, count=1, flags=re.M)
    assert pasted != source
    lib.write_text(pasted, "utf-8")
    result = dev(repo, env, "solution", "4")
    assert result.returncode == 0
    assert re.search(r"also defines sieve_of_eratosthenes at line \d+", result.stdout)


ENDLESS_FACTORIAL = """\
#[pyfunction]
fn factorial(n: u64) -> u64 {
    let mut r = 1u64;
    let i = 1u64;
    while i <= n {
        r = r.wrapping_mul(i);
    }
    r
}
"""


def leftover_guide_commands() -> list[str]:
    """The guide's command still running from this checkout's exercise venv (another checkout's
    test run on the same machine is none of ours)."""
    ps = run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    venv = str(ROOT / "target" / "exercise-venv")
    return [
        line
        for line in ps.splitlines()
        if "print(rust_demo.factorial(10))" in line and line.startswith(venv)
    ]


# Right for every n but 0, where it counts down through all of u64: a loop that never ends.
ENDLESS_AT_ZERO = """\
#[pyfunction]
fn factorial(n: u64) -> u64 {
    let mut r = 1u64;
    let mut i = n;
    while i != 1 {
        r = r.wrapping_mul(i);
        i = i.wrapping_sub(1);
    }
    r
}
"""


@pytest.mark.skipif(os.name == "nt", reason="ps is POSIX")
@pytest.mark.parametrize(
    "code, last_line, error",
    [
        (
            ENDLESS_FACTORIAL,
            "prints 3628800: still running after 6 s: a loop that never ends?",
            "",
        ),
        (ENDLESS_AT_ZERO, "factorial(0) == 1:", "... no answer after 24 s: the call on the last"),
    ],
    ids=["in the guide's command", "in a check"],
)
def test_check_stops_an_endless_loop_and_says_where(
    tmp_path, shared_build_dirs, code, last_line, error
):
    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs, RUST_DEMO_CHECK_SECONDS="24")
    env.pop("VIRTUAL_ENV", None)
    assert dev(repo, env, "start", "1").returncode == 0
    paste(repo / "lib.rs", 1, code, REGISTER_FACTORIAL)
    result = dev(repo, env, "check", "1")
    assert result.returncode != 0
    lines = result.stdout.strip().splitlines()
    assert last_line in lines[-1] or last_line in lines[-3], result.stdout
    assert error in result.stderr
    assert not leftover_guide_commands()


@pytest.mark.skipif(os.name == "nt", reason="process groups and SIGINT are POSIX")
def test_ctrl_c_during_check_stops_everything_it_started(tmp_path, shared_build_dirs):
    import time

    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    assert dev(repo, env, "start", "1").returncode == 0
    paste(repo / "lib.rs", 1, ENDLESS_FACTORIAL, REGISTER_FACTORIAL)
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w", encoding="utf-8") as errors:
        checking = subprocess.Popen(  # files, not pipes: nobody reads them while it runs
            [sys.executable, "scripts/dev.py", "check", "1"],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )  # with SIGINT's default action, even from a background job (tests/conftest.py)
    try:
        deadline = time.monotonic() + 120
        while not leftover_guide_commands() and time.monotonic() < deadline:
            time.sleep(0.2)  # the build, then the guide's command, stuck in its loop
        if not leftover_guide_commands():
            pytest.fail("the guide's command never started")
        os.killpg(checking.pid, signal.SIGINT)  # Ctrl-C
        assert checking.wait(timeout=30) != 0
        err = err_file.read_text(encoding="utf-8")
        assert "Interrupted." in err and "Traceback" not in err
        time.sleep(0.5)
        assert not leftover_guide_commands()
    finally:
        end_group(checking)


def test_check_explains_a_module_name_that_does_not_match(tmp_path, shared_build_dirs):
    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    source = lib.read_text(encoding="utf-8")
    lib.write_text(source.replace("\nfn rust_demo(m: ", "\nfn rustdemo(m: ", 1), encoding="utf-8")
    result = dev(repo, env, "check", "1")
    assert result.returncode != 0
    assert "(PyInit_rust_demo)" in result.stdout
    assert "The #[pymodule] function's name must be the module's name" in result.stdout


@pytest.mark.parametrize("where", ["above the module function", "after its last brace"])
def test_check_finds_a_registration_line_outside_the_module_function(
    tmp_path, shared_build_dirs, where
):
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    assert dev(repo, env, "start", "1").returncode == 0
    paste(lib, 1, with_exercise_1_hint(region_body(lib.read_text("utf-8"), 1)), None)
    source = lib.read_text(encoding="utf-8")
    at = source.index("\n#[pymodule") + 1 if where.startswith("above") else len(source)
    lib.write_text(source[:at] + REGISTER_FACTORIAL + "\n" + source[at:], "utf-8")
    line = source[:at].count("\n") + 1
    result = dev(repo, env, "check", "1")
    assert result.returncode != 0
    assert "The build failed" in result.stderr
    module_line = lib.read_text("utf-8").index("\nfn rust_demo(")
    module_line = lib.read_text("utf-8")[:module_line].count("\n") + 2
    assert (
        f"hint: lib.rs line {line} has `{REGISTER_FACTORIAL}` outside the module function: "
        f"move it inside `fn rust_demo` (line {module_line}), above its `Ok(())`."
    ) in result.stdout, result.stdout[-2000:]


FACTORIAL_REGION = re.compile(
    r"(// -+ Exercise 2 begin: factorial -+\n).*?(// -+ Exercise 2 end)", re.S
)


def _factorial(code: str):
    return lambda source: FACTORIAL_REGION.sub(lambda m: m[1] + code + m[2], source, count=1)


# A beginner's mistake, cargo's own words for it, and the hint `check` adds after them.
def _registration_after_ok(semicolon: str):
    """The factorial's registration line moved below the module function's `Ok(())`."""

    def edit(source: str) -> str:
        at = source.index("\nfn rust_demo(")
        module = source[at:].replace("    " + REGISTER_FACTORIAL + "\n", "", 1)
        module = module.replace(
            "    Ok(())\n}", f"    Ok(()){semicolon}\n    {REGISTER_FACTORIAL}\n}}", 1
        )
        return source[:at] + module

    return edit


MISTAKES = {
    "forgot Ok(...)": (
        _factorial(EXERCISE_2.replace("    Ok((1..=n).product())", "    (1..=n).product()")),
        "cannot be made by multiplying all elements",
        "its value goes inside Ok(...)",
    ),
    "no #[pyfunction]": (
        _factorial("fn factorial(n: u64) -> u64 {\n    (1..=n).product()\n}\n"),
        "wrapped_pyfunction",
        "needs `#[pyfunction]` on the line above its `fn`",
    ),
    "Ok/Err with a plain return type": (
        _factorial(EXERCISE_2.replace("-> PyResult<u64>", "-> u64")),
        "expected `u64`, found `Result<",
        "`-> PyResult<u64>` instead of `-> u64`",
    ),
    "wrong return type": (
        _factorial("#[pyfunction]\nfn factorial(n: u64) -> String {\n    (1..=n).product()\n}\n"),
        "a value of type `String` cannot be made",
        "the return type `String` is not what the body computes",
    ),
    "class registered with add_function": (
        lambda source: source.replace(
            REGISTER_COUNTER, "m.add_function(wrap_pyfunction!(Counter, m)?)?;", 1
        ),
        "found `&AddClassToModule<Counter>`",
        "register it with `m.add_class::<Counter>()?;`",
    ),
    "no #[pyclass]": (
        lambda source: re.sub(r"#\[pyclass\([^)]*\)\]\nstruct Counter", "struct Counter", source),
        "`Counter: PyClass` is not satisfied",
        "put `#[pyclass]` on the line above `struct Counter`",
    ),
    "the guide's exercise 1 starter, as printed (a body of comments)": (
        _factorial(
            "#[pyfunction]\nfn factorial(n: u64) -> u64 {\n    // Your implementation here\n"
            "    // Hint: (1..=n).product() works, or use a loop\n}\n"
        ),
        "expected `u64`, found `()`",
        "a function declared `-> u64` has no value yet: its last line is the value it returns",
    ),
    "no #[pymethods]": (
        lambda source: source.replace("#[pymethods]\nimpl Counter {", "impl Counter {", 1),
        "cannot find attribute `new` in this scope",
        "put `#[pymethods]` on the line above `impl Counter`",
    ),
    "fn Factorial with the guide's registration line": (
        _factorial(EXERCISE_2.replace("fn factorial", "fn Factorial")),
        "`factorial`",
        "lib.rs defines `Factorial` and the code names `factorial`: Rust names are "
        "case-sensitive, so spell both as the guide does, `factorial`",
    ),
    "a registration line after Ok(())": (
        _registration_after_ok(""),
        "expected `;`",
        "after the module function's `Ok(())` (line ",
    ),
    "then rustc's advice followed: `Ok(());`": (
        _registration_after_ok(";"),
        "mismatched types",
        "move it above that line. `Ok(())` is the function's value, so it comes last, with no "
        "`;` after it.",
    ),
    "the guide's code pasted twice": (
        lambda source: source.replace("\n#[pymodule", "\n" + EXERCISE_4 + "\n#[pymodule", 1),
        "is defined multiple times",
        "lib.rs defines sieve_of_eratosthenes twice",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_check_adds_a_hint_after_cargos_message(tmp_path, shared_build_dirs, mistake):
    edit, cargo_says, hint = MISTAKES[mistake]
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    source = lib.read_text(encoding="utf-8")
    assert edit(source) != source
    lib.write_text(edit(source), encoding="utf-8")
    result = dev(repo, env, "check", "2")
    out = result.stdout
    assert result.returncode != 0
    assert "The build failed" in result.stderr
    hinted = [line for line in out.splitlines() if line.startswith("hint: ") and hint in line]
    assert cargo_says in out and hinted, out[-3000:]
    assert out.index(cargo_says) < out.index(hinted[0])  # after cargo's own message
    # One hint: a second one is about something else (rustc's advice followed gave one about
    # factorial and exercise 2 for a line of the module function).
    hints = [line for line in out.splitlines() if line.startswith("hint: ")]
    assert len(hints) == 1, hints
    # Nothing from pip, and no line of maturin's internals (its cargo command line).
    assert "Requirement already satisfied" not in out
    assert max(map(len, out.splitlines())) < 300


@pytest.mark.parametrize("maker", ["venv --without-pip", "uv venv"])
def test_dev_py_works_in_a_venv_without_pip(tmp_path, maker):
    """`uv venv` and `uv sync` make venvs without pip; dev.py puts it in (uv or ensurepip)."""
    venv = tmp_path / "venv"
    if maker == "uv venv":
        uv = shutil.which("uv")
        if uv is None:
            pytest.skip("uv is not on PATH (the ci group installs it)")
        run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    else:
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    no_pip = run([str(python), "-m", "pip", "--version"], capture_output=True)
    assert no_pip.returncode != 0
    env = dict(os.environ, RUST_DEMO_VENV=str(venv))
    env.pop("VIRTUAL_ENV", None)
    if maker != "uv venv":  # without uv, even on PATH: Python's own ensurepip
        env["PATH"] = os.pathsep.join(
            p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "uv").exists()
        )
    code = "import sys; sys.path.insert(0, 'scripts'); import dev; dev.ensure_venv(['workshop'])"
    result = run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ensurepip" in result.stdout or maker == "uv venv"
    for module in ("pip", "maturin", "pytest"):
        found = run([str(python), "-m", module, "--version"], capture_output=True)
        assert found.returncode == 0, module


# A Python that imported rust_demo and answers one line per line read, as serve.py or a REPL
# left open during the exercises keeps calling the module.
CALLER = """\
import sys
import rust_demo
print("ready", rust_demo.factorial.__doc__.splitlines()[0], flush=True)
for _ in sys.stdin:
    print(rust_demo.factorial(10), rust_demo.fibonacci(40), flush=True)
"""


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot replace a loaded .pyd (check says so)")
def test_check_leaves_a_running_python_on_the_old_module(tmp_path, shared_build_dirs):
    repo = copy_of_repository(tmp_path / "rust_demo")
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    first = dev(repo, env, "check", "1")  # installs the module (maturin develop the first time)
    assert first.returncode == 0, first.stdout + first.stderr
    python = Path(env["RUST_DEMO_VENV"]) / "bin" / "python"
    caller = subprocess.Popen(
        [str(python), "-c", CALLER],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert caller.stdin is not None and caller.stdout is not None
        old_doc = caller.stdout.readline().split(" ", 1)[1].strip()
        caller.stdin.write("\n")
        caller.stdin.flush()
        assert caller.stdout.readline() == "3628800 102334155\n"
        # A one-line edit that changes the compiled module (its docstring is in it).
        lib = repo / "lib.rs"
        source = lib.read_text(encoding="utf-8")
        edited = source.replace("/// Compute n! for", "/// Computes n! for", 1)
        assert edited != source
        lib.write_text(edited, encoding="utf-8")
        rebuilt = dev(repo, env, "check", "1")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "shows the new one after a restart" in rebuilt.stdout, rebuilt.stdout
        for _ in range(3):  # still alive, still on the code it imported
            caller.stdin.write("\n")
            caller.stdin.flush()
            assert caller.stdout.readline() == "3628800 102334155\n"
        assert caller.poll() is None
        new_doc = run(
            [str(python), "-c", "import rust_demo; print(rust_demo.factorial.__doc__)"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert new_doc.startswith("Computes n! for") and old_doc.startswith("Compute n! for")
    finally:
        end_group(caller)
        assert caller.stdin is not None and caller.stdout is not None
        caller.stdin.close()
        caller.stdout.close()


def limited_to_16_kib() -> None:
    """In a child before it starts: no file it writes may grow past 16 KiB (a full disk)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


@pytest.mark.skipif(os.name == "nt", reason="resource.setrlimit is POSIX")
@pytest.mark.parametrize("command", ["start", "solution"])
def test_a_failed_write_leaves_lib_rs_whole_and_says_why(tmp_path, command):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    if command == "solution":  # an exercise started, and edited: `solution` saves the edit
        assert dev(repo, dict(os.environ), "start", "1").returncode == 0
        lib.write_text(lib.read_text(encoding="utf-8").replace("todo!()", "1"), encoding="utf-8")
    before = lib.read_bytes()
    assert len(before) > 16 * 1024
    result = run(
        [sys.executable, "scripts/dev.py", command, "1"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited_to_16_kib,
    )
    assert result.returncode != 0
    assert lib.read_bytes() == before
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "could not write lib.rs (File too large): it is unchanged. A full disk or a file-size "
        "limit does this; free some space and run it again."
    ]
    assert not [p.name for p in repo.iterdir() if p.name.endswith(".tmp")]


def test_each_lines_own_end_and_a_bom_are_kept(tmp_path):
    repo = copy_of_repository(tmp_path / "rust_demo")
    lib = repo / "lib.rs"
    lines = lib.read_bytes().split(b"\n")
    lines[3] += b"\r"  # one CRLF line (an editor on Windows) in an LF file
    after = next(i for i, line in enumerate(lines) if b"Exercise 4 end" in line) + 2
    lines[after] += b"\r"  # and one after every exercise
    mixed = b"\xef\xbb\xbf" + b"\n".join(lines)
    lib.write_bytes(mixed)
    env = dict(os.environ)
    for number in (1, 4):
        assert dev(repo, env, "start", str(number)).returncode == 0
        now = lib.read_bytes()
        assert now.startswith(b"\xef\xbb\xbf") and now.count(b"\r\n") == 2
    for number in (1, 4):
        assert dev(repo, env, "solution", str(number)).returncode == 0
    assert lib.read_bytes() == mixed


# What `check 2` says about a build that works but does not give Python rust_demo.factorial.
NOT_FOUND_IN_PYTHON = {
    "named Factorial in both places": (
        lambda source: _factorial(EXERCISE_2.replace("fn factorial", "fn Factorial"))(
            source
        ).replace(REGISTER_FACTORIAL, REGISTER_FACTORIAL.replace("factorial", "Factorial"), 1),
        "rust_demo.factorial exists: missing: rust_demo has `Factorial`, and Python names are "
        "case-sensitive: call it `factorial` in lib.rs",
    ),
    "written but not registered": (
        lambda source: source.replace("    " + REGISTER_FACTORIAL + "\n", "", 1),
        "rust_demo.factorial exists: missing: lib.rs defines factorial (line ",
    ),
}


@pytest.mark.parametrize("mistake", sorted(NOT_FOUND_IN_PYTHON))
def test_check_names_what_python_found_instead(tmp_path, shared_build_dirs, mistake):
    edit, says = NOT_FOUND_IN_PYTHON[mistake]
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    source = lib.read_text(encoding="utf-8")
    assert edit(source) != source
    lib.write_text(edit(source), encoding="utf-8")
    result = dev(repo, env, "check", "2")
    assert result.returncode != 0
    assert says in result.stdout, result.stdout[-3000:]
    if mistake == "written but not registered":
        assert "function `factorial` is never used" in result.stdout + result.stderr
        assert "but does not register it" in result.stdout
        assert "add `m.add_function(wrap_pyfunction!(factorial, m)?)?;` inside `fn rust_demo`" in (
            result.stdout
        )


def test_a_registered_starter_says_not_written_yet_without_rusts_panic_lines(
    tmp_path, shared_build_dirs
):
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    env = dict(os.environ, **shared_build_dirs)
    env.pop("VIRTUAL_ENV", None)
    lib = repo / "lib.rs"
    assert dev(repo, env, "start", "1").returncode == 0
    paste(lib, 1, region_body(lib.read_text("utf-8"), 1), REGISTER_FACTORIAL)  # todo!() kept
    result = dev(repo, env, "check", "1")
    assert result.returncode != 0
    assert "factorial(5) == 120: not written yet (the starter's todo!() for factorial(5))" in (
        result.stdout
    ), result.stdout
    assert "prints 3628800: not written yet (the starter's todo!() for factorial(10))" in (
        result.stdout
    )
    assert "panicked at" not in result.stdout + result.stderr
    assert "RUST_BACKTRACE" not in result.stdout + result.stderr
    assert "PanicException" not in result.stdout


def base_python() -> str:
    """The Python this venv was made from: a fresh `python -m venv` gets its bundled pip."""
    return getattr(sys, "_base_executable", sys.executable)


@pytest.mark.parametrize("route", ["pip install maturin", "uv sync"])
def test_the_guides_routes_work_in_a_fresh_venv(tmp_path, route):
    """The guide's two ways in, as printed, then `maturin develop` and `python demo.py`. A
    fresh venv's pip (23.x, 24.x) has no `--group`: maturin develop once ran `pip install
    --group dev`, and failed there."""
    repo = copy_of_repository(tmp_path / "rust_demo", git=False)
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target" / "fresh-venv"))
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "RUST_DEMO_VENV"):
        env.pop(name, None)
    venv = repo / ".venv"
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    if route == "uv sync":
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv is None:
            pytest.skip("uv is not installed (the ci group has it)")
        synced = run(
            [uv, "sync", "--python", base_python()],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert synced.returncode == 0, synced.stdout + synced.stderr
    else:
        run([base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
        pip = run(
            [str(bin_dir / "python"), "-m", "pip", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        print("bundled:", pip)
        installed = run(
            [str(bin_dir / "pip"), "install", "maturin"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
    # Activated, as the guide has it, and without uv on PATH: maturin installs through pip.
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join(
        [str(bin_dir)] + [p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "uv").exists()]
    )
    built = run(
        [str(bin_dir / "maturin"), "develop"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "--group" not in built.stdout + built.stderr
    demo = run(
        [str(bin_dir / "python"), "demo.py", "--quick", "--section", "simple"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "fibonacci(40) = 102334155" in demo.stdout


# --- scripts/dev.py serve: the presenter's server ends with it -----------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals (a closed console ends serve.py too)")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_serve_ends_its_server_when_it_is_ended(signame: str) -> None:
    import queue
    import threading
    import time
    import urllib.request

    pytest.importorskip("uvicorn")  # the web group, which serve installs into .venv
    port = free_port()
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "RUST_DEMO_VENV"):
        env.pop(name, None)
    serving = subprocess.Popen(
        [sys.executable, "scripts/dev.py", "serve", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the signal goes to dev.py alone, as `kill PID` sends it
    )
    lines: queue.Queue[str] = queue.Queue()
    output = serving.stdout
    assert output is not None

    def read() -> None:
        for line in output:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        seen: list[str] = []
        while not any("rust_demo in the browser: " in line for line in seen):
            seen.append(lines.get(timeout=600))  # venv, release build, then serve.py's URL
            assert serving.poll() is None or not lines.empty(), "".join(seen)
        deadline = time.monotonic() + 120
        while True:  # up once it answers (the URL line comes as it starts listening)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=5):
                    break
            except OSError:
                assert serving.poll() is None, "".join(seen)
                assert time.monotonic() < deadline, "serve.py printed its URL, never answered"
                time.sleep(0.1)
        assert "Requirement already satisfied" not in "".join(seen)  # pip speaks on failure only
        os.kill(serving.pid, getattr(signal, signame))
        serving.wait(timeout=60)
        assert not listening(port), f"serve.py still answers on {port} after {signame}"
    finally:
        end_group(serving)
        reader.join(timeout=10)
        output.close()


def test_check_names_the_step_that_failed():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import dev as dev_py
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    old_pip = (
        "🛠 Installed rust_demo-0.1.0\nno such option: --group\n💥 maturin failed\n"
        '  Caused by: pip install --group finished with "exit status: 2"\n'
    )
    assert dev_py.failed_step(old_pip) == "pip"
    assert dev_py.failed_step("error[E0308]: mismatched types\n💥 maturin failed\n") == "cargo"
