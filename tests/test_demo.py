"""demo.py, run the way the presenter runs it: as a subprocess."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, str(ROOT / "demo.py")]
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


def usable_cores():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def test_every_thread_speedup_below_the_core_count_is_explained(quick_run):
    lines = quick_run.splitlines()
    cores = usable_cores()
    for i, line in enumerate(lines):
        ratio = re.search(r"(?:->|→) (\d+\.\d+)(?:×|x)", line)
        if ratio and ("Rust:" in line or "count_primes(" in line):
            if float(ratio[1]) < 0.9 * cores:
                assert lines[i + 1].startswith(("  (below", "  (one core")), line


def import_demo():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import demo

    return demo


def test_shortfall_wording():
    demo = import_demo()
    assert demo.shortfall(1.95, 2) is None
    assert "one core" in (demo.shortfall(1.0, 1) or "")
    note = demo.shortfall(1.1, 2) or ""
    assert note.startswith("  (below 2") and "free cores" in note


@pytest.mark.parametrize("section", ["²", "①"])
def test_a_section_number_that_is_not_ascii_digits_is_a_clear_error(section):
    # AltGr+2 on German and French keyboards types "²": isdigit() is True, int() refuses it.
    result = run_demo("--section", section)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in err
    assert err.strip() == f"demo.py: no single section matches {section!r}; see --list"


@pytest.mark.skipif(os.name == "nt", reason="closes stdin with the POSIX shell's <&-")
def test_pause_with_stdin_closed_does_not_pause():
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *DEMO, "--section", "3", "--section", "6", "--pause"],
        capture_output=True,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
        timeout=120,
    )
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert "Traceback" not in err and "lost sys.stdin" not in err
    assert "Example 3: Error Handling" in out and "Example 6: Counter Class" in out
    assert "[Enter]" not in out


def test_pause_at_the_end_of_stdin_stops_pausing():
    result = subprocess.run(
        [*DEMO, "--pause", "--section", "3", "--section", "4", "--section", "6"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
        timeout=120,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert out.count("Example ") == 3
    assert out.count("[Enter] next section") == 1  # asked once, then no more pauses


@pytest.mark.skipif(
    not (shutil.which("taskset") and hasattr(os, "sched_getaffinity")),
    reason="needs taskset and sched_getaffinity (Linux)",
)
def test_under_taskset_one_core_the_parallelism_section_counts_one():
    cpu = min(os.sched_getaffinity(0))
    result = subprocess.run(
        ["taskset", "-c", str(cpu), *DEMO, "--section", "parallelism", "--quick"],
        capture_output=True,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
        timeout=120,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "(1 core this process may use)" in out
    assert "on 1 core " in out
    assert "2 cores" not in out and "other programs" not in out
    assert "(one core: the threads take turns" in out


def test_usable_cores_is_the_affinity_mask():
    demo = import_demo()
    assert demo.usable_cores() == usable_cores()


def test_sieve_caption_follows_its_figures():
    demo = import_demo()
    # This repository's sieve (1.78 ms) against the guide's (5.29 ms), with the same 1.2 ms
    # list of ints: only the first is mostly the list.
    fast = "\n".join(demo.sieve_caption(10**6, 78_498, 1.78e-3, 1.2e-3, 0.3e-3))
    slow = "\n".join(demo.sieve_caption(10**6, 78_498, 5.29e-3, 1.2e-3, 0.3e-3))
    assert "Most of the Rust time, about 67%, is building the Python list of 78,498 ints" in fast
    assert "list(range(78498)) alone takes 1.2 ms" in fast
    assert "most" not in slow.lower()
    assert "only about 23% of the Rust time" in slow and "the rest is the sieve itself" in slow
    assert "count_primes(1,000,000, threads=1) counts them without a list in 300 µs" in slow


def test_an_attendees_slow_sieve_gets_a_caption_from_its_own_figures(monkeypatch, capsys):
    demo = import_demo()
    real = demo.rust_demo.sieve_of_eratosthenes

    def slowed(n):
        # 0.1 s at n = 10**6, where the list of its 78,498 ints takes a few ms: by
        # construction, the sieve's own work dominates.
        time.sleep(n * 1e-7)
        return real(n)

    monkeypatch.setattr(demo.rust_demo, "sieve_of_eratosthenes", slowed)
    demo.performance(quick=False)
    out = capsys.readouterr().out
    assert "Python sieve(1,000,000):" in out
    assert "most of" not in out.lower()
    share = re.search(r"takes only about (\d+)% of the Rust time", out)
    assert share and int(share[1]) < 50, out
    assert "the rest is the sieve itself" in out


def test_speedup_words():
    demo = import_demo()
    times = demo.TIMES
    assert demo.speedup(1.1, debug=True) == "Rust is about as fast as Python on a debug build"
    assert demo.speedup(0.9, debug=False) == "Rust is about as fast as Python"
    assert demo.speedup(40.4, debug=False) == f"Rust is 40{times} faster"
    assert demo.speedup(3.26, debug=False) == f"Rust is 3.3{times} faster"
    assert demo.speedup(9.97, debug=False) == f"Rust is 10{times} faster"
    assert (
        demo.speedup(0.25, debug=True) == f"Rust is 4.0{times} slower than Python on a debug build"
    )
    for ratio in (0.8, 1.0, 1.24, 1.49):
        assert f" 1{times} " not in demo.speedup(ratio, debug=False)


def test_ring_caption_says_where_deque_wins_and_why():
    demo = import_demo()
    times = demo.TIMES
    # Per item: push 120 ns against append 15 ns; extend about even with deque.extend.
    even = "\n".join(demo.ring_caption(120e-9, 15e-9, 5.5e-9, 5.6e-9, debug=False))
    assert f"RingBuffer.push 120 ns, deque.append 15 ns: deque wins, 8.0{times} faster" in even
    assert "RingBuffer.extend 5.5 ns, deque.extend 5.6 ns: about the same" in even
    assert "Mutex" in even and "abi3" in even
    assert "deque keeps the lead" not in even
    behind = "\n".join(demo.ring_caption(120e-9, 15e-9, 10e-9, 7e-9, debug=False))
    assert f"deque.extend 7 ns: deque wins, 1.4{times} faster" in behind
    assert "deque keeps the lead" in behind
    ahead = "\n".join(demo.ring_caption(10e-9, 15e-9, 5e-9, 10e-9, debug=False))
    assert f"RingBuffer wins, 1.5{times} faster" in ahead and "Mutex" not in ahead
    assert "unoptimised" not in even
    debug = "\n".join(demo.ring_caption(120e-9, 15e-9, 5.5e-9, 5.6e-9, debug=True))
    assert "On a debug build the Rust side is unoptimised too" in debug


def test_the_ring_buffer_section_prints_both_per_item_figures(quick_run):
    section = quick_run.split("Example 5: RingBuffer Class")[1].split("Example 6:")[0]
    unit = r"[\d.]+ (?:ns|µs)"
    assert re.search(rf"RingBuffer\.push {unit}, deque\.append {unit}: ", section), section
    assert re.search(rf"RingBuffer\.extend {unit}, deque\.extend {unit}: ", section), section


def test_the_debug_banner_names_uv_runs_rebuild_and_the_command_that_keeps_release():
    demo = import_demo()
    banner = demo.debug_banner({"profile": "dev", "opt_level": "0"})
    python = r".venv\Scripts\python" if os.name == "nt" else ".venv/bin/python"
    assert banner.startswith(f"{demo.WARN} DEBUG BUILD (dev profile, opt-level 0)")
    assert "uv run rebuilds the dev profile" in banner
    assert f"run {python} demo.py" in banner.replace("\n   ", " ")
    assert "uv run --no-sync python demo.py" in banner
    assert "after maturin develop --release" in banner


def test_uv_run_has_the_no_sync_option_the_banner_names():
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (the ci group has it)")
    help_text = subprocess.run([uv, "run", "--help"], capture_output=True, text=True, timeout=60)
    assert "--no-sync" in help_text.stdout
