"""demo.py, run the way the presenter runs it: as a subprocess."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TITLES = [
    "Simple Functions",
    "Collections",
    "Error Handling",
    "MovingAverage Class",
    "RingBuffer Class",
    "Counter Class",
    "Performance Experiment: Sieve of Eratosthenes",
    "True Parallelism",
    "The Overhead Consideration",
]

# Lines the workshop guide shows, character for character.
GUIDE_LINES = [
    "=" * 60,
    "🦀 Rust-Python Integration Demo 🐍",
    "-" * 40,
    "is_palindrome('A man a plan a canal Panama'): True",
    "is_palindrome('hello'): False",
    "Created: MovingAverage(window_size=3, count=0, avg=0.00)",
    "Added 10.0, moving average: 10.00, count: 1",
    "Added 20.0, moving average: 15.00, count: 2",
    "Added 30.0, moving average: 20.00, count: 3",
    "Added 40.0, moving average: 30.00, count: 3",
    ">>> c = rust_demo.Counter()\n>>> c.increment()\n>>> c.increment()\n>>> c.value()\n2\n"
    ">>> c.decrement()\n>>> c.value()\n1\n>>> c.reset()\n>>> c.value()\n0\n>>> c\n"
    "Counter(value=0)",
]


def run_demo(*args, encoding="utf-8", extra_env=None, python_args=()):
    env = dict(os.environ, PYTHONIOENCODING=encoding, **(extra_env or {}))
    return subprocess.run(
        [sys.executable, *python_args, str(ROOT / "demo.py"), *args],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def quick_run():
    result = run_demo("--quick")
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_every_section_in_order(quick_run):
    headers = [f"📌 Example {i}: {title}" for i, title in enumerate(TITLES, 1)]
    positions = [quick_run.index(header) for header in headers]
    assert positions == sorted(positions)


@pytest.mark.parametrize("line", GUIDE_LINES)
def test_guide_lines_verbatim(quick_run, line):
    assert line in quick_run


def test_fibonacci_lines_and_honest_units(quick_run):
    lines = quick_run.splitlines()
    rust = next(line for line in lines if line.startswith("fibonacci(40) = 102334155 (took "))
    python = next(line for line in lines if line.startswith("Python fibonacci(40) = 102334155"))
    for line in (rust, python):
        assert line.endswith(("ns)", "µs)", "ms)"))
        assert "0.000" not in line


def test_errors_show_python_exceptions(quick_run):
    assert "safe_divide(10, 0) -> ValueError: Division by zero" in quick_run
    assert "factorial(21) -> ValueError: Input too large (max 20)" in quick_run
    assert "fibonacci(94) -> OverflowError:" in quick_run
    assert "Cannot parse 'abc'" in quick_run


def test_full_default_run_with_the_slow_timings():
    result = run_demo()
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Python sieve(1,000,000):" in out
    assert "Python: 1 thread" in out
    assert "skipped" not in out


def test_list():
    out = run_demo("--list").stdout.decode()
    for number, title in enumerate(TITLES, 1):
        assert f"{number}. {title}" in out


@pytest.mark.parametrize("selector", [["--section", "4"], ["--section", "moving"]])
def test_one_section(selector):
    out = run_demo(*selector).stdout.decode()
    assert "Example 4: MovingAverage Class" in out
    assert out.count("Example ") == 1


def test_repeated_sections_and_pause_without_a_terminal():
    result = run_demo("--section", "3", "--section", "counter", "--pause", "--quick")
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "Example 3: Error Handling" in out and "Example 6: Counter Class" in out
    assert out.count("Example ") == 2


def test_unknown_section_is_a_clear_error():
    result = run_demo("--section", "nope")
    assert result.returncode != 0
    assert "no single section matches 'nope'" in result.stderr.decode()


def test_ascii_only_terminal():
    result = run_demo("--quick", encoding="ascii")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode("ascii")
    assert "[Rust] Rust-Python Integration Demo [Python]" in out
    assert "* Example 8: True Parallelism" in out


def test_missing_module_gives_a_one_line_hint():
    # -S skips site-packages, where rust_demo is installed; -I ignores PYTHONPATH.
    result = run_demo(python_args=("-S", "-I"))
    err = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in err
    assert "python3 scripts/dev.py demo" in err
    assert len(err.strip().splitlines()) == 1


def test_outside_the_venv_it_names_the_venvs_python(tmp_path):
    # A Python without rust_demo (-S -I: no site-packages), beside a repository's .venv.
    shutil.copy(ROOT / "demo.py", tmp_path / "demo.py")
    bin_dir = tmp_path / ".venv" / ("Scripts" if os.name == "nt" else "bin")
    bin_dir.mkdir(parents=True)
    (bin_dir / ("python.exe" if os.name == "nt" else "python")).touch()
    result = subprocess.run(
        [sys.executable, "-S", "-I", "demo.py"], cwd=tmp_path, capture_output=True, text=True
    )
    venv_python = r".venv\Scripts\python" if os.name == "nt" else ".venv/bin/python"
    assert result.returncode != 0
    assert f"the repository's .venv has it: {venv_python} demo.py" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_release_build_shows_no_debug_banner(quick_run):
    assert "DEBUG BUILD" not in quick_run and "[debug build]" not in quick_run


def test_every_thread_speedup_below_the_core_count_is_explained(quick_run):
    lines = quick_run.splitlines()
    cores = os.cpu_count() or 1
    for i, line in enumerate(lines):
        ratio = re.search(r"(?:->|→) (\d+\.\d+)(?:×|x)", line)
        if ratio and ("Rust:" in line or "count_primes(" in line):
            if float(ratio[1]) < 0.9 * cores:
                assert lines[i + 1].startswith(("  (below", "  (one core")), line


def test_shortfall_wording():
    sys.path.insert(0, str(ROOT))
    import demo

    assert demo.shortfall(1.95, 2) is None
    assert "one core" in (demo.shortfall(1.0, 1) or "")
    note = demo.shortfall(1.1, 2) or ""
    assert note.startswith("  (below 2") and "free cores" in note
