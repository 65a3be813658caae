"""The workshop demo: rust_demo's functions and classes, side by side with plain Python.

    python demo.py                 # every section
    python demo.py --list          # the sections
    python demo.py --section 4 --section parallel --pause
    python demo.py --quick         # skip the slow timings

Each timing is the best of 5 repeats of a loop of calls that takes ~10 ms (3 repeats with
--quick). On a debug build (`maturin develop` without --release) a banner says so and every
timing line is marked: Rust is many times slower there. Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import re
import sys
import threading
import time
import timeit
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple


def _not_installed() -> str:
    """What to do when this Python has no rust_demo: use the repository's .venv, or build."""
    venv = Path(__file__).resolve().parent / ".venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # Compared unresolved: the venv's python is a link to the very interpreter it came from.
    running = os.path.normcase(os.path.abspath(sys.executable))
    in_venv = running.startswith(os.path.normcase(str(venv)) + os.sep)
    if python.exists() and not in_venv and Path(sys.prefix).resolve() != venv.resolve():
        try:
            command = f"{os.path.relpath(python)} {os.path.relpath(__file__)}"
        except ValueError:  # Windows: another drive
            command = f"{python} {__file__}"
        return (
            f"demo.py: {sys.executable} has no rust_demo; the repository's .venv has it: "
            f"{command.replace('python.exe', 'python')}  (or activate .venv first)"
        )
    return (
        "demo.py: the rust_demo extension is not installed in this Python. "
        "Build it with: python3 scripts/dev.py demo  (or: maturin develop --release)"
    )


try:
    import rust_demo
except ImportError as err:
    if "PyInit_rust_demo" in str(err):
        sys.exit(
            f"demo.py: {err}.\nThe #[pymodule] function in lib.rs must be called rust_demo, "
            "the module's name; rename it back and rebuild."
        )
    sys.exit(_not_installed())


def _can_print(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# Emoji and "µ" where the terminal can show them, plain text where it cannot (a Windows
# console, PYTHONIOENCODING=ascii, output piped under a C locale).
FANCY = _can_print("🦀🐍📌µ×⚠")
CRAB, SNAKE, PIN = ("🦀", "🐍", "📌") if FANCY else ("[Rust]", "[Python]", "*")
MICRO, TIMES, WARN = ("µ", "×", "⚠") if FANCY else ("u", "x", "!!")

# A debug build (the dev profile of `maturin develop`, opt-level 0) runs Rust many times slower
# than the release build: say so once, and mark each timing line.
BUILD = rust_demo.build_info() if hasattr(rust_demo, "build_info") else None
DEBUG_BUILD = BUILD is not None and (BUILD["opt_level"] == "0" or BUILD["debug_assertions"])
MARK = "  [debug build]" if DEBUG_BUILD else ""

SAMPLE_TEXT = "The quick brown fox jumps over the lazy dog. The lazy dog sleeps!"


def fmt_time(seconds: float) -> str:
    """A duration in the unit that fits: ns, µs, ms or s."""
    for unit, scale in (("ns", 1e-9), (MICRO + "s", 1e-6), ("ms", 1e-3)):
        if seconds < scale * 1000:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def speedup(ratio: float, debug: bool = DEBUG_BUILD) -> str:
    """Python's time over Rust's, in words: "Rust is 40× faster", and where the two are within
    25% of each other "Rust is about as fast as Python" (a "1× faster" says nothing). On a
    debug build the words say so: its Rust is unoptimised, so the ratio is not Rust's."""
    if 0.8 <= ratio < 1.25:
        words = "Rust is about as fast as Python"
    elif ratio >= 1:
        words = f"Rust is {ratio:.{0 if ratio >= 9.95 else 1}f}{TIMES} faster"  # no "10.0"
    else:
        words = f"Rust is {1 / ratio:.1f}{TIMES} slower than Python"
    return words + (" on a debug build" if debug else "")


def usable_cores() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one (taskset, a
    container's cpuset), as count_primes's threads see it; os.cpu_count() counts the machine's."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0)) or 1
    process_cpu_count = getattr(os, "process_cpu_count", None)  # 3.13+
    if process_cpu_count is not None:
        return process_cpu_count() or 1
    return os.cpu_count() or 1


def plural(count: int, word: str) -> str:
    """The count and the word, plural unless the count is 1: "1 core", "2 cores"."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def best_time(func: Callable[[], object], quick: bool = False) -> float:
    """Seconds per call: the best of 5 repeats (3 with --quick) of a loop of ~10 ms.

    Short repeats keep the presentation moving (timeit's autorange loops for 0.2 s and more
    per figure); the best of several still drops the ones another program interrupted.
    """
    timer = timeit.Timer(func)
    number = 1
    while True:  # 1, 2, 5, 10, 20, 50... calls, until a loop takes 10 ms
        for factor in (1, 2, 5):
            if timer.timeit(number * factor) >= 0.01:
                number *= factor
                repeats = 3 if quick else 5
                return min(timer.repeat(repeat=repeats, number=number)) / number
        number *= 10


# While a workshop exercise is started (python3 scripts/dev.py start N), what it asks for is
# missing from rust_demo, or panics at a todo!(): the demo says so instead of stopping.
EXERCISE_OF = {"factorial": 1, "Counter": 3, "sieve_of_eratosthenes": 4}


def exercise_note(err: BaseException) -> str | None:
    """What to show for an error that comes from an unfinished exercise, else None."""
    if isinstance(err, AttributeError):
        for name, number in EXERCISE_OF.items():
            # "module 'rust_demo' has no attribute 'Counter'", or, for a Counter with a
            # method still missing, "'builtins.Counter' object has no attribute 'reset'"
            if re.search(rf"\b{name}\b", str(err)):
                return (
                    f"rust_demo.{name} is not there yet: you write it in exercise {number} "
                    f"(python3 scripts/dev.py check {number}; 'solution {number}' puts ours back)"
                )
    if type(err).__name__ == "PanicException":  # pyo3_runtime's, a BaseException
        return (
            f"PanicException: {err} -- Rust panicked, at a todo!() or an overflow in lib.rs: "
            "python3 scripts/dev.py check N says which part of the exercise is unfinished"
        )
    return None


def show_error(expression: str, call: Callable[[], object]) -> None:
    try:
        result = call()
    except BaseException as err:  # the point is to show what a Pythonista would see
        note = exercise_note(err)
        if note is None and not isinstance(err, Exception):
            raise  # Ctrl-C and friends
        print(f"{expression} -> {note or f'{type(err).__name__}: {err}'}")
    else:
        print(f"{expression} = {result!r} (no error?)")


# --- plain-Python peers ------------------------------------------------------------------


def py_fibonacci(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def py_sieve(n: int) -> list[int]:
    """The guide's exercise-4 sieve, in Python."""
    if n < 2:
        return []
    is_prime = [True] * (n + 1)
    is_prime[0] = is_prime[1] = False
    p = 2
    while p * p <= n:
        if is_prime[p]:
            for i in range(p * p, n + 1, p):
                is_prime[i] = False
        p += 1
    return [i for i in range(2, n + 1) if is_prime[i]]


def py_count_primes(n: int) -> int:
    return len(py_sieve(n))


# --- the sections ------------------------------------------------------------------------


def simple_functions(quick: bool) -> None:
    rust = best_time(lambda: rust_demo.fibonacci(40), quick)
    python = best_time(lambda: py_fibonacci(40), quick)
    print(f"fibonacci(40) = {rust_demo.fibonacci(40)} (took {fmt_time(rust)}){MARK}")
    print(f"Python fibonacci(40) = {py_fibonacci(40)} (took {fmt_time(python)})")
    print(f"  -> {speedup(python / rust)}, call overhead included{MARK}")
    print()
    print(f"Text: {SAMPLE_TEXT!r}")
    print(f"Unique words in text: {rust_demo.count_unique_words(SAMPLE_TEXT)}")
    for text in ("A man a plan a canal Panama", "hello"):
        print(f"is_palindrome({text!r}): {rust_demo.is_palindrome(text)}")


def collections_section(quick: bool) -> None:
    numbers = [3, -1, 4, -1, 5, -9, 2, 6]
    print(f"sum_list({numbers}) = {rust_demo.sum_list(numbers)}")
    print(f"filter_positive({numbers}) = {rust_demo.filter_positive(numbers)}")
    words = ["apple", "Banana", "APPLE", "banana"]
    print(f"word_frequencies({words}) = {rust_demo.word_frequencies(words)}")
    big = list(range(1_000_000))
    rust = best_time(lambda: rust_demo.sum_list(big), quick)
    builtin = best_time(lambda: sum(big), quick)
    # The caption is about the release build; a debug build's sum_list is several times slower.
    caption = "a release build matches it" if DEBUG_BUILD else "Rust matches it"
    print(
        f"sum of 1,000,000 ints: rust_demo.sum_list {fmt_time(rust)}, builtin sum() "
        f"{fmt_time(builtin)} (C already; {caption}, it cannot beat it by much){MARK}"
    )


def error_handling(quick: bool) -> None:
    show_error("safe_divide(10, 0)", lambda: rust_demo.safe_divide(10, 0))
    show_error('safe_parse_int("abc")', lambda: rust_demo.safe_parse_int("abc"))
    show_error("factorial(21)", lambda: rust_demo.factorial(21))
    show_error("fibonacci(94)", lambda: rust_demo.fibonacci(94))
    print("Each is an ordinary Python exception: catch it with try/except as usual.")


def moving_average(quick: bool) -> None:
    ma = rust_demo.MovingAverage(3)
    print(f"Created: {ma!r}")
    for value in (10.0, 20.0, 30.0, 40.0):
        avg = ma.add(value)
        print(f"Added {value}, moving average: {avg:.2f}, count: {ma.count()}")
    print(f"Final: {ma!r}")


def ring_buffer(quick: bool) -> None:
    rb = rust_demo.RingBuffer(3)
    print(f"Created: {rb!r}")
    for item in (1, 2, 3, 4, 5):
        rb.push(item)
        print(f"push({item}) -> {rb!r}")
    print(f"Oldest rb[0] = {rb[0]}, newest rb[-1] = {rb[-1]}, len(rb) = {len(rb)}")
    print(f"pop() -> {rb.pop()}, now {rb.to_list()}")
    print()
    t = ring_timings(quick)
    print(f"Per item, into a full buffer of {t.size:,} (section 9 times the same loops):")
    per_item = (t.push / t.size, t.append / t.size, t.extend / t.size, t.deque_extend / t.size)
    for line in ring_caption(*per_item):
        print(line)


class RingTimings(NamedTuple):
    """Seconds for `size` items into a full buffer: a call per item, or one extend()."""

    push: float
    append: float
    extend: float
    deque_extend: float
    size: int = 1_000


@functools.cache
def ring_timings(quick: bool) -> RingTimings:
    """RingBuffer against deque(maxlen=...), both full: timed once for sections 5 and 9."""
    size = RingTimings._field_defaults["size"]
    items = list(range(size))
    rb = rust_demo.RingBuffer(size)
    dq: collections.deque[int] = collections.deque(maxlen=size)
    rb.extend(items)
    dq.extend(items)

    def one_call_each(add: Callable[[int], object]) -> None:
        for item in items:
            add(item)

    return RingTimings(
        push=best_time(functools.partial(one_call_each, rb.push), quick),
        append=best_time(functools.partial(one_call_each, dq.append), quick),
        extend=best_time(functools.partial(rb.extend, items), quick),
        deque_extend=best_time(functools.partial(dq.extend, items), quick),
        size=size,
    )


def compare(ours: float, theirs: float) -> str:
    """RingBuffer's time against deque's, in words."""
    if 0.8 <= ours / theirs < 1.25:
        return "about the same"
    if ours > theirs:
        return f"deque wins, {ours / theirs:.1f}{TIMES} faster"
    return f"RingBuffer wins, {theirs / ours:.1f}{TIMES} faster"


def ring_caption(
    push: float, append: float, extend: float, deque_extend: float, debug: bool = DEBUG_BUILD
) -> list[str]:
    """Lines that say, from these per-item times, where deque wins and why."""
    lines = [
        f"  RingBuffer.push {fmt_time(push)}, deque.append {fmt_time(append)}: "
        f"{compare(push, append)}{MARK}",
        f"  RingBuffer.extend {fmt_time(extend)}, deque.extend {fmt_time(deque_extend)}: "
        f"{compare(extend, deque_extend)}{MARK}",
    ]
    if push >= 1.25 * append:
        lines.append(
            "deque.append is a C method inside the interpreter: no lock, no boundary to cross."
            "\nRingBuffer.push crosses into the extension through the stable ABI (abi3: an"
            " argument tuple,\nout-of-line reference counts) and locks a Mutex (safe under"
            " threads), on every call."
        )
    if extend >= 1.25 * deque_extend:
        lines.append(
            "One extend() pays the crossing and the lock once, but each item still costs abi3's"
            "\nout-of-line calls where deque's C uses inline macros: deque keeps the lead."
        )
    elif push >= 1.25 * append:
        lines.append("One extend() pays that crossing and that lock once for the whole list.")
    if debug and (push >= 1.25 * append or extend >= 1.25 * deque_extend):
        lines.append(
            "On a debug build the Rust side is unoptimised too: a release build has the real gap."
        )
    return lines


def counter(quick: bool) -> None:
    c = rust_demo.Counter()
    c.increment()
    c.increment()
    print(">>> c = rust_demo.Counter()")
    print(">>> c.increment()")
    print(">>> c.increment()")
    print(f">>> c.value()\n{c.value()}")
    c.decrement()
    print(f">>> c.decrement()\n>>> c.value()\n{c.value()}")
    c.reset()
    print(f">>> c.reset()\n>>> c.value()\n{c.value()}")
    print(f">>> c\n{c!r}")


def performance(quick: bool) -> None:
    n = 1_000_000
    rust_primes = rust_demo.sieve_of_eratosthenes(n)
    if rust_primes != py_sieve(n):
        print(
            f"rust_demo.sieve_of_eratosthenes({n:,}) differs from the Python sieve: an exercise "
            "in progress? python3 scripts/dev.py check 4 shows where"
        )
        return
    print(f"Both find {len(rust_primes):,} primes up to N = {n:,}.")
    rust = best_time(lambda: rust_demo.sieve_of_eratosthenes(n), quick)
    print(f"Rust sieve_of_eratosthenes({n:,}): {fmt_time(rust)}{MARK}")
    if quick:
        print("Python sieve: skipped with --quick")
    else:
        python = best_time(lambda: py_sieve(n))
        print(f"Python sieve({n:,}):            {fmt_time(python)}")
        print(f"  -> {speedup(python / rust)}{MARK}")
    count = len(rust_primes)
    # What creating the list costs, measured: as many new ints into a list, in C.
    building = best_time(lambda: list(range(count)), quick)
    sieving = best_time(lambda: rust_demo.count_primes(n, threads=1), quick)
    for line in sieve_caption(n, count, rust, building, sieving):
        print(line)


def sieve_caption(n: int, count: int, rust: float, building: float, sieving: float) -> list[str]:
    """Where sieve_of_eratosthenes(n)'s `rust` seconds go, from the figures measured beside it:
    `building`, a list of `count` new ints made in C (list(range(count))), the part no
    list-returning sieve avoids; `sieving`, count_primes(n, threads=1), a sieve without a list."""
    share = min(building / rust, 1.0)
    build = f"(list(range({count})) alone takes {fmt_time(building)})"
    counted = f"  count_primes({n:,}, threads=1) counts them without a list in {fmt_time(sieving)}"
    if share >= 0.5:
        return [
            f"  Most of the Rust time, about {share:.0%}, is building the Python list of {count:,}"
            " ints",
            f"  {build}, which no sieve that returns a list avoids;",
            counted + MARK,
        ]
    return [
        f"  Building a Python list of {count:,} ints takes only about {share:.0%} of the Rust time",
        f"  {build}: the rest is the sieve itself;",
        counted + MARK,
    ]


def run_in_threads(func: Callable[[int], object], n: int, threads: int) -> float:
    """Wall time for `threads` threads each calling func(n) once."""
    workers = [threading.Thread(target=func, args=(n,)) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def thread_scaling(
    func: Callable[[int], object], n: int, tasks: int, rounds: int
) -> tuple[float, float]:
    """Best wall times for `tasks` calls of func(n): one after another, and on `tasks` threads.

    The two are timed in alternating rounds, after one untimed threaded run that wakes the
    other cores: on a shared machine (a VM) a core is now and then slower for up to a
    second, and alternating lets both sides see the same conditions.
    """
    run_in_threads(func, n, tasks)
    one = many = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(tasks):
            func(n)
        one = min(one, time.perf_counter() - start)
        many = min(many, run_in_threads(func, n, tasks))
    return one, many


def count_on_one_thread(n: int) -> int:
    return rust_demo.count_primes(n, threads=1)


def shortfall(ratio: float, cores: int) -> str | None:
    """Why a speedup from threads is below the number of cores, or None if it is not."""
    if cores < 2:
        return "  (one core: the threads take turns, they cannot run at once)"
    if ratio >= 0.9 * cores:
        return None
    load = ""
    if hasattr(os, "getloadavg"):
        load = f" (load average now {os.getloadavg()[0]:.1f} on {cores} cores)"
    return (
        f"  (below {cores}{TIMES}: threads run at once only on free cores, and other programs or"
        f" a VM's host take\n   some{load}; starting threads costs a little too."
        " Run it again: --section 8)"
    )


def task_size(limit: int) -> int:
    """An n for which count_primes(n, threads=1) takes about 10 ms here, at most `limit`:
    long enough that starting a thread is noise, short enough to keep the section brisk on a
    debug build too (tens of times slower). A round number: 1, 2, 3 or 5 times a power of 10."""
    timer = timeit.Timer(lambda: rust_demo.count_primes(1_000_000, threads=1))
    per_million = min(timer.repeat(repeat=3, number=1))
    wanted = 1_000_000 * 0.010 / max(per_million, 1e-9)
    sizes = [m * 10**k for k in range(5, 9) for m in (1, 2, 3, 5)]
    return min(max([size for size in sizes if size <= wanted], default=sizes[0]), limit)


def parallelism(quick: bool) -> None:
    cores = usable_cores()
    tasks = max(cores, 2)
    n = task_size(10_000_000 if quick else 30_000_000)
    rounds = 3 if quick else 7

    print("Pattern 1: Python threads, each calling a function that releases the GIL.")
    print(f"{tasks} tasks of count_primes({n:,}, threads=1), one after another and on {tasks}")
    print(f"threads ({plural(cores, 'core')} this process may use):")
    one, many = thread_scaling(count_on_one_thread, n, tasks, rounds)
    print(
        f"  Rust:   1 thread {fmt_time(one)}, {tasks} threads {fmt_time(many)}"
        f" -> {one / many:.2f}{TIMES}{MARK}"
    )
    note = shortfall(one / many, cores)
    if note:
        print(note)
    if quick:
        print("  Python: skipped with --quick")
    else:
        size = 200_000
        one, many = thread_scaling(py_count_primes, size, tasks, 3)
        print(
            f"  Python: 1 thread {fmt_time(one)}, {tasks} threads {fmt_time(many)} -> "
            f"{one / many:.2f}{TIMES}  (pure-Python sieve up to {size:,}; one thread at a time)"
        )
    print("count_primes releases the GIL (py.detach) while it sieves and needs no Python")
    print("objects, so the threads run on all cores at once. Python threads take turns on")
    print("the GIL. (sieve_of_eratosthenes scales less: building its list needs the GIL.)")

    big = tasks * n
    print("\nPattern 2: one call that splits its own work over the cores (as polars does).")
    rust_demo.count_primes(big)  # wake the other cores
    alone = spread = float("inf")
    for _ in range(2):  # alternate the two, as thread_scaling does
        alone = min(alone, best_time(lambda: rust_demo.count_primes(big, threads=1), quick))
        spread = min(spread, best_time(lambda: rust_demo.count_primes(big), quick))
    print(
        f"  count_primes({big:,}, threads=1) {fmt_time(alone)}, count_primes({big:,}) "
        f"on {plural(cores, 'core')} {fmt_time(spread)} -> {alone / spread:.2f}{TIMES}{MARK}"
    )
    note = shortfall(alone / spread, cores)
    if note:
        print(note)
    print("  The caller sees one ordinary function; the threads live inside the call.")


def overhead(quick: bool) -> None:
    timings = ring_timings(quick)
    size = timings.size
    print(f"{size:,} items into a full buffer of {size:,}: a call per item, or one call:")
    for name, add, one_by_one, at_once in (
        ("RingBuffer", "push", timings.push, timings.extend),
        ("deque", "append", timings.append, timings.deque_extend),
    ):
        print(
            f"  {name + ':':<11} {size:,} x {add}() {fmt_time(one_by_one)}, one extend() "
            f"{fmt_time(at_once)} -> {one_by_one / at_once:.0f}{TIMES}"
            + (MARK if name == "RingBuffer" else "")
        )
    per_call = max(timings.push - timings.extend, 0.0) / size
    print(f"A call per item cost {fmt_time(per_call)} more than one extend() (loop and call){MARK}")
    print(f"Pass a list of {size:,} items rather than calling a function {size:,} times.")


SECTIONS: list[tuple[str, str, Callable[[bool], None]]] = [
    ("simple", "Simple Functions", simple_functions),
    ("collections", "Collections", collections_section),
    ("errors", "Error Handling", error_handling),
    ("moving-average", "MovingAverage Class", moving_average),
    ("ring-buffer", "RingBuffer Class", ring_buffer),
    ("counter", "Counter Class", counter),
    ("performance", "Performance Experiment: Sieve of Eratosthenes", performance),
    ("parallelism", "True Parallelism", parallelism),
    ("overhead", "The Overhead Consideration", overhead),
]


def pick_sections(wanted: list[str]) -> list[int]:
    """Section indexes from numbers (1-9) or names (any unambiguous prefix)."""
    chosen = []
    for item in wanted:
        key = item.strip().lower()
        # ASCII digits only: "²" and "①" are isdigit() too, and int() refuses them.
        if key.isascii() and key.isdigit() and 1 <= int(key) <= len(SECTIONS):
            chosen.append(int(key) - 1)
            continue
        matches = [
            i
            for i, (slug, title, _) in enumerate(SECTIONS)
            if slug.startswith(key) or title.lower().startswith(key)
        ]
        if len(matches) != 1:
            raise SystemExit(f"demo.py: no single section matches {item!r}; see --list")
        chosen.append(matches[0])
    return chosen


def debug_banner(build: Mapping[str, object]) -> str:
    """What a debug build means here, and how to time the release one (`uv run` would rebuild
    the dev profile over it: it builds this project whenever the installed module is not
    the one it built, or a file of [tool.uv] cache-keys changed)."""
    python = ".venv\\Scripts\\python" if os.name == "nt" else ".venv/bin/python"
    return (
        f"{WARN} DEBUG BUILD ({build['profile']} profile, opt-level {build['opt_level']}): Rust"
        " runs many times slower than in a release build; timings are marked.\n"
        "   uv run rebuilds the dev profile after any change (lib.rs, engines/, Cargo.toml, or a\n"
        f"   build it did not make); to time the release build run {python} demo.py\n"
        "   (or uv run --no-sync python demo.py) after maturin develop --release"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The rust_demo workshop demo.")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument(
        "--section",
        action="append",
        metavar="N|NAME",
        help="run only this section (number or name); repeatable",
    )
    parser.add_argument("--quick", action="store_true", help="skip the slow timings")
    parser.add_argument(
        "--pause", action="store_true", help="wait for Enter between sections (for presenting)"
    )
    args = parser.parse_args(argv)

    if args.list:
        for number, (slug, title, _) in enumerate(SECTIONS, 1):
            print(f"{number}. {title}  (--section {number} or --section {slug})")
        return

    chosen = pick_sections(args.section) if args.section else range(len(SECTIONS))
    print("=" * 60)
    print(f"{CRAB} Rust-Python Integration Demo {SNAKE}")
    print("=" * 60)
    if DEBUG_BUILD and BUILD is not None:
        print(debug_banner(BUILD))
    # A closed stdin (`<&-`, a service) is None here and input() would raise: no pause.
    pause = args.pause and sys.stdin is not None
    for count, index in enumerate(chosen):
        if pause and count:
            try:
                input("\n[Enter] next section ")
            except (EOFError, OSError):  # at its end, or unreadable: no more pauses
                print()
                pause = False
        _, title, run = SECTIONS[index]
        print(f"\n{PIN} Example {index + 1}: {title}")
        print("-" * 40)
        try:
            run(args.quick)
        except BaseException as err:
            note = exercise_note(err)
            if note is None:
                raise
            print(note)
    print()


if __name__ == "__main__":
    main()
