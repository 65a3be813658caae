"""Benchmark rust_demo against the Python a workshop attendee would write and the best peer.

    python bench/run.py                      # the full table (about a minute)
    python bench/run.py --quick              # small sizes, one repeat: a smoke test
    python bench/run.py --json out.json --plot speedup.png

Every row runs in this one process: each function is called once to warm up, then timed in
seven `timeit` rounds that run rust_demo and its peers in turn, so that a slow moment of the
machine hits them alike; each one's best round counts. Ratios are peer time / rust_demo
time (higher is better for Rust). Build the extension in release mode first
(`python3 scripts/dev.py bench` does): on a debug build it stops and says so.
"""

from __future__ import annotations

import argparse
import array
import collections
import datetime
import itertools
import json
import os
import platform
import random
import signal
import subprocess
import sys
import timeit
from collections.abc import Callable, Mapping
from typing import Any

# NumPy's sieve uses no BLAS, but an idle OpenBLAS thread pool spins on the cores and
# halved the measured two-thread scaling of count_primes. One BLAS thread keeps it quiet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import rust_demo

# The plain-Python peers are demo.py's, so the demo and this table time the same code.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from demo import count_on_one_thread, py_fibonacci, py_sieve, thread_scaling

try:
    import numpy as np
except ImportError:  # the bench group in pyproject.toml installs it
    np = None  # type: ignore[assignment]

Row = dict[str, Any]  # one table row, as written to the JSON file


RUST = "rust_demo"


def best(funcs: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Seconds per call of each function: after a warm-up call, `repeat` rounds that each
    time every function in turn, so that a slow moment of the machine hits them alike; each
    function's best round is its figure."""
    timers = {}
    for name, func in funcs.items():
        func()
        timer = timeit.Timer(func)
        timers[name] = (timer, timer.autorange()[0])
    times = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, (timer, number) in timers.items():
            times[name] = min(times[name], timer.timeit(number) / number)
    return times


def steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests so far (Linux /proc/stat), or None."""
    if sys.platform != "linux":
        return None
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def page_faults_per_call(func: Callable[[], object], calls: int = 20) -> float | None:
    """Minor page faults per call: how often the OS had to map fresh memory (Unix only)."""
    if sys.platform == "win32":
        return None
    import resource

    func()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        func()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


# --- the Python side of each row -------------------------------------------------------------


def numpy_sieve(n: int) -> list[int]:
    mask = np.ones(n + 1, dtype=bool)
    mask[:2] = False
    mask[4::2] = False
    for p in range(3, int(n**0.5) + 1, 2):
        if mask[p]:
            mask[p * p :: 2 * p] = False
    return np.flatnonzero(mask).tolist()


def py_sum_loop(items: list[int]) -> int:
    total = 0
    for x in items:
        total += x
    return total


class PyMovingAverage:
    """A good pure-Python moving average: a deque and a running sum, O(1) per add."""

    def __init__(self, window_size: int):
        self.window: collections.deque[float] = collections.deque(maxlen=window_size)
        self.total = 0.0

    def add(self, value: float) -> float:
        window = self.window
        if len(window) == window.maxlen:
            self.total -= window[0]
        window.append(value)
        self.total += value
        return self.total / len(window)


def add_all(add: Callable[[Any], object], values: list[Any]) -> None:
    for value in values:
        add(value)


def push_pop_all(push: Callable, pop: Callable, items: list[int]) -> None:
    for item in items:
        push(item)
        pop()


def mixed_case_words(count: int, vocabulary: int, seed: int = 42) -> list[str]:
    """`count` words drawn from `vocabulary` distinct ones, in mixed case, as from text.split()."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(vocabulary)]
    styles = (str.lower, str.upper, str.title)
    text = " ".join(rng.choice(styles)(rng.choice(vocab)) for _ in range(count))
    return text.split()


# --- the rows --------------------------------------------------------------------------------


def row(workload: str, times: dict[str, float], target: str = "", per: int = 1) -> Row:
    """A table row from `best()`'s times (seconds per call, `per` operations per call)."""
    peers = {name: seconds / per for name, seconds in times.items() if name != RUST}
    rust = times[RUST] / per
    return {
        "workload": workload,
        "rust_s": rust,
        "peers_s": peers,
        "ratios": {name: peer / rust for name, peer in peers.items()},
        "target": target,
    }


def bench_sieve(n: int, repeat: int) -> Row:
    primes = array.array("q", rust_demo.sieve_of_eratosthenes(n))
    assert primes.tolist() == py_sieve(n)
    funcs = {RUST: lambda: rust_demo.sieve_of_eratosthenes(n), "Python sieve": lambda: py_sieve(n)}
    if np is not None:
        assert numpy_sieve(n) == primes.tolist()
        funcs["NumPy flatnonzero().tolist()"] = lambda: numpy_sieve(n)
    funcs["floor: array('q').tolist()"] = primes.tolist
    result = row(
        f"sieve_of_eratosthenes({n:,})",
        best(funcs, repeat),
        ">=30x Python, >=1.3x NumPy, floor ratio >=0.71 (within 1.4x)",
    )
    # Creating the ints maps fresh memory whenever CPython's allocator has handed its
    # emptied arenas back to the OS: a cost the floor shares, shown so that it can be seen.
    faults = page_faults_per_call(funcs[RUST])
    if faults is not None:
        result["page_faults_per_call"] = {
            "rust_demo": faults,
            "floor": page_faults_per_call(primes.tolist),
        }
    return result


def bench_fibonacci(repeat: int) -> Row:
    funcs = {RUST: lambda: rust_demo.fibonacci(90), "Python loop": lambda: py_fibonacci(90)}
    return row("fibonacci(90)", best(funcs, repeat), ">=15x Python loop")


def bench_sum(size: int, repeat: int) -> Row:
    items = list(range(size))
    funcs = {
        RUST: lambda: rust_demo.sum_list(items),
        "builtin sum()": lambda: sum(items),
        "Python for-loop": lambda: py_sum_loop(items),
    }
    return row(f"sum_list, {size:,} ints", best(funcs, repeat), ">=0.9x sum(), >=3x loop")


def bench_sum_scattered(size: int, repeat: int) -> Row:
    # Ints made one by one, as real data is: each is a separate object somewhere in memory,
    # not the neat consecutive run that list(range(n)) allocates.
    rng = random.Random(size)
    items = [rng.randint(-1000, 1000) for _ in range(size)]
    assert rust_demo.sum_list(items) == sum(items)
    funcs = {
        RUST: lambda: rust_demo.sum_list(items),
        "builtin sum()": lambda: sum(items),
        "Python for-loop": lambda: py_sum_loop(items),
    }
    return row(f"sum_list, {size:,} scattered ints (randint)", best(funcs, repeat), ">=1.5x sum()")


def bench_words(size: int, repeat: int) -> Row:
    words = mixed_case_words(size, 5_000)
    expected = collections.Counter(map(str.lower, words))
    assert rust_demo.word_frequencies(words) == expected
    funcs = {
        RUST: lambda: rust_demo.word_frequencies(words),
        "Counter(map(str.lower, words))": lambda: collections.Counter(map(str.lower, words)),
    }
    return row(
        f"word_frequencies, {size:,} words / 5,000 distinct",
        best(funcs, repeat),
        ">=1.4x Counter",
    )


def bench_moving_average(window: int, adds: int, repeat: int) -> Row:
    rng = random.Random(window)
    # random.random(): varied values keep several partials in the exact sum (a constant would
    # keep it trivially short).
    values = [rng.random() for _ in range(adds)]
    rust_average, py_average = rust_demo.MovingAverage(window), PyMovingAverage(window)
    # Fill the windows first, so that every timed add also drops the oldest value.
    for value in itertools.islice(itertools.cycle(values), window):
        rust_average.add(value)
        py_average.add(value)
    funcs = {
        RUST: lambda: add_all(rust_average.add, values),
        "Python deque + running sum": lambda: add_all(py_average.add, values),
    }
    return row(
        f"MovingAverage.add, window {window:,} (per add)", best(funcs, repeat), ">=1.8x", adds
    )


def bench_ring_buffer(ops: int, repeat: int) -> Row:
    items = list(range(ops))
    rb = rust_demo.RingBuffer(1000)
    dq: collections.deque[int] = collections.deque(maxlen=1000)
    funcs = {
        RUST: lambda: push_pop_all(rb.push, rb.pop, items),
        "deque(maxlen) append + popleft": lambda: push_pop_all(dq.append, dq.popleft, items),
    }
    return row("RingBuffer push + pop (per pair)", best(funcs, repeat), "report only", ops)


def bench_batching(size: int, repeat: int) -> Row:
    """The guide's overhead consideration: one call with a list against a call per item."""
    items = list(range(size))
    rb = rust_demo.RingBuffer(size)
    dq: collections.deque[int] = collections.deque(maxlen=size)
    rb.extend(items)  # both full: every item added evicts one
    dq.extend(items)
    assert list(rb) == list(dq)
    funcs = {
        RUST: lambda: rb.extend(items),
        "deque.extend(list)": lambda: dq.extend(items),
        f"RingBuffer.push x {size:,}": lambda: add_all(rb.push, items),
        f"deque.append x {size:,}": lambda: add_all(dq.append, items),
    }
    return row(
        f"RingBuffer.extend({size:,}-item list), full buffer",
        best(funcs, repeat),
        ">=1x deque.extend",
    )


def bench_parallel(n: int, py_n: int, repeat: int) -> Row:
    threads = 2
    # Many short rounds (~5 s for Rust): demo.thread_scaling alternates the two sides.
    one, many = thread_scaling(count_on_one_thread, n, threads, 30 * repeat)
    py_one, py_many = thread_scaling(lambda size: len(py_sieve(size)), py_n, threads, 3 * repeat)
    result = row(
        f"count_primes({n:,}) on {threads} threads vs 1 (throughput)",
        {RUST: many, "same work on 1 thread": one},
        ">=1.7x; Python threads ~1x",
    )
    result["python_threads_speedup"] = py_one / py_many
    return result


def bench_threads_in_one_call(n: int, repeat: int) -> Row:
    threads = 2
    assert rust_demo.count_primes(n, threads=threads) == rust_demo.count_primes(n, threads=1)
    funcs = {
        RUST: lambda: rust_demo.count_primes(n, threads=threads),
        "same call, threads=1": lambda: rust_demo.count_primes(n, threads=1),
    }
    return row(f"count_primes({n:,}, threads={threads}), one call", best(funcs, repeat), ">=1.8x")


CTRL_C = """
import os, signal, sys, time
import rust_demo

def stop(*_):
    global asked
    asked = time.perf_counter()
    raise KeyboardInterrupt

signal.signal(signal.SIGALRM, stop)
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    rust_demo.count_primes(10**13, threads=int(sys.argv[1]))
except KeyboardInterrupt:
    tasks = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    print(time.perf_counter() - asked, tasks)
"""


def ctrl_c_latency(threads: int) -> tuple[float, int]:
    """Seconds from a signal (SIGALRM raising KeyboardInterrupt, as Ctrl-C does) to the
    KeyboardInterrupt out of count_primes(10**13, threads=...), and the threads left."""
    out = subprocess.run(
        [sys.executable, "-c", CTRL_C, str(threads)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return float(out[0]), int(out[1])


def run_all(quick: bool) -> list[Row]:
    repeat = 1 if quick else 7
    scale = 10 if quick else 1
    rows = [
        bench_sieve(1_000_000 // scale, repeat),
        bench_sieve(10_000_000 // scale, repeat),
        bench_fibonacci(repeat),
        bench_sum(1_000_000 // scale, repeat),
        bench_sum_scattered(1_000_000 // scale, repeat),
        bench_words(200_000 // scale, repeat),
        bench_moving_average(10, 100_000 // scale, repeat),
        bench_moving_average(100_000, 100_000 // scale, repeat),
        bench_ring_buffer(100_000 // scale, repeat),
        bench_batching(1_000, repeat),
        bench_parallel(30_000_000 // scale, 1_000_000 // scale, repeat),
        bench_threads_in_one_call(10**10 // scale**3, 1 if quick else 3),
    ]
    small, large = rows[6], rows[7]
    large["window_cost_ratio"] = large["rust_s"] / small["rust_s"]
    return rows


def fmt_time(seconds: float) -> str:
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3)):
        if seconds < scale * 1000:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def print_table(rows: list[Row], info: dict[str, object]) -> None:
    stolen = info.get("cpu_stolen_by_host_s")
    print(
        f"rust_demo {info['rust_demo']} ({info['build']}) | Python {info['python']} | "
        f"{info['machine']} | "
        f"{info['date']}" + ("" if stolen is None else f" | CPU stolen by the host: {stolen} s")
    )
    print(f"{'workload':<52} {'rust_demo':>10}  {'peer':<34} {'peer time':>10} {'ratio':>8}")
    print("-" * 120)
    for r in rows:
        first = True
        for name, peer in r["peers_s"].items():
            label = r["workload"] if first else ""
            rust = fmt_time(r["rust_s"]) if first else ""
            print(
                f"{label:<52} {rust:>10}  {name:<34} {fmt_time(peer):>10} "
                f"{r['ratios'][name]:>7.2f}x"
            )
            first = False
        extras = []
        if "python_threads_speedup" in r:
            extras.append(f"pure-Python threads: {r['python_threads_speedup']:.2f}x")
        if "page_faults_per_call" in r:
            faults = r["page_faults_per_call"]
            extras.append(
                f"page faults per call: rust_demo {faults['rust_demo']:.0f}, "
                f"floor {faults['floor']:.0f}"
            )
        if "window_cost_ratio" in r:
            extras.append(f"cost per add, window 100,000 / window 10: {r['window_cost_ratio']:.2f}")
        if r["target"]:
            extras.append(f"target: {r['target']}")
        print(f"{'':<52} {'':>10}  " + "; ".join(extras))


def latency_under_load(quick: bool) -> list[dict[str, object]] | None:
    """The web page's "Why the GIL matters" (web/loadtest.py): fibonacci(40) latency through
    serve.py while 32 clients keep heavy requests running, in Rust and in pure Python."""
    import importlib.util

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        print("\nlatency under load: skipped: the web dependency group is not installed")
        return None
    from web.loadtest import latency_under_load as measure

    results = measure(clients=32, seconds=1.0 if quick else 5.0)
    print("\nLatency of a light request (fibonacci(40)) through serve.py, under load:")
    print(
        f"{'load (32 clients, heavy requests at their caps)':<52} {'requests':>9} "
        f"{'p50':>9} {'p99':>9} {'heavy done':>11}"
    )
    labels = {
        "none": "no load",
        "rust": "Rust count_primes(2*10**8, threads=1) (GIL released)",
        "python": "the guide's pure-Python sieve(600,000)",
    }
    for r in results:
        print(
            f"{labels[str(r['load'])]:<52} {r['light_requests']:>9} {r['p50_ms']:>7.1f}ms "
            f"{r['p99_ms']:>7.1f}ms {r['heavy_done']:>11}"
        )
    print(f"{'':<52} target: p99 <= 50 ms under the Rust load")
    return results


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = [], []
    for r in rows:
        for name, ratio in r["ratios"].items():
            labels.append(f"{r['workload']}\nvs {name}")
            values.append(ratio)
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(values) + 1.5))
    colors = ["#b7410e" if v >= 1 else "#3776ab" for v in values]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 1.6)  # room for the labels
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xlabel("speedup of rust_demo (peer time / rust_demo time, log scale)")
    ax.set_title("rust_demo vs Python peers (abi3-py39 release build)")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw a speedup chart (matplotlib)")
    args = parser.parse_args()
    build = rust_demo.build_info()
    if build["opt_level"] == "0" or build["debug_assertions"]:
        sys.exit(
            f"bench/run.py: this rust_demo is a debug build ({build['profile']} profile, "
            f"opt-level {build['opt_level']}), many times slower than a release one. Build "
            "release first: python3 scripts/dev.py bench (it does), or maturin develop --release"
        )
    info: dict[str, object] = {
        "rust_demo": rust_demo.__version__,
        "build": f"{build['profile']}, opt-level {build['opt_level']}, PyO3 {build['pyo3']}",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "date": datetime.date.today().isoformat(),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
    steal_before = steal_seconds()
    rows = run_all(args.quick)
    if hasattr(signal, "setitimer"):  # POSIX
        info["ctrl_c_latency_s"] = {str(t): ctrl_c_latency(t)[0] for t in (2, 32, 1024)}
    steal_after = steal_seconds()
    if steal_before is not None and steal_after is not None:
        # On a VM, time stolen by other guests makes every figure of this run less reliable.
        info["cpu_stolen_by_host_s"] = round(steal_after - steal_before, 2)
    print_table(rows, info)
    if "ctrl_c_latency_s" in info:
        latencies = info["ctrl_c_latency_s"]
        assert isinstance(latencies, dict)
        print(
            "Ctrl-C (SIGALRM raising KeyboardInterrupt) during count_primes(10**13, threads=N): "
            + ", ".join(f"N={t}: {fmt_time(s)}" for t, s in latencies.items())
            + "; target: <= 0.5 s"
        )
    latency = latency_under_load(args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": rows, "latency_under_load": latency}, f, indent=2)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
