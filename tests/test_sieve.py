"""sieve_of_eratosthenes and count_primes: correctness, GIL release, Ctrl-C, memory."""

import _thread
import functools
import threading
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_guide import python_sieve

import rust_demo

SEGMENT = 2 * 2**15  # numbers covered by one segment of the odd-only sieve


@given(st.integers(0, 3000))
@example(0)
@example(1)
@example(2)
@example(3)
def test_small_sieves_match_python(n):
    assert rust_demo.sieve_of_eratosthenes(n) == python_sieve(n)


@pytest.mark.parametrize(
    "n",
    [SEGMENT - 2, SEGMENT - 1, SEGMENT, SEGMENT + 1, SEGMENT + 2, 2 * SEGMENT + 1, 3 * SEGMENT + 7],
)
def test_sieve_at_segment_boundaries(n):
    expected = python_sieve(n)
    assert rust_demo.sieve_of_eratosthenes(n) == expected
    assert rust_demo.count_primes(n) == len(expected)


@given(st.integers(0, 20_000))
def test_count_primes_matches_sieve(n):
    assert rust_demo.count_primes(n) == len(rust_demo.sieve_of_eratosthenes(n))


BLOCK = 64 * SEGMENT  # numbers covered by one block of a threaded count


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 6 * BLOCK), st.integers(1, 8))
@example(BLOCK - 1, 2)
@example(BLOCK, 2)
@example(BLOCK + 1, 3)
@example(5 * BLOCK + 1, 8)
def test_a_threaded_count_equals_a_one_thread_count(n, threads):
    assert rust_demo.count_primes(n, threads=threads) == rust_demo.count_primes(n, threads=1)


def test_threaded_counts_of_known_sizes():
    for threads in (1, 2, 3, 8, None):
        assert rust_demo.count_primes(10**8, threads=threads) == 5_761_455


@pytest.mark.parametrize("threads", [0, -1, 1025])
def test_count_primes_rejects_a_bad_thread_count(threads):
    with pytest.raises(ValueError, match=r"^threads must be between 1 and 1024, got "):
        rust_demo.count_primes(10, threads=threads)


def test_two_hundred_million():
    primes = rust_demo.sieve_of_eratosthenes(200_000_000)
    assert len(primes) == 11_078_937
    assert primes[-3:] == [199_999_957, 199_999_963, 199_999_991]
    assert rust_demo.count_primes(200_000_000) == 11_078_937


@pytest.mark.parametrize(
    "bad, error", [(-1, OverflowError), (2**64, OverflowError), (1.0, TypeError)]
)
def test_sieve_rejects_bad_n(bad, error):
    for func in (rust_demo.sieve_of_eratosthenes, rust_demo.count_primes):
        with pytest.raises(error):
            func(bad)


@pytest.mark.parametrize("n", [10**15, 2**64 - 1])
def test_a_result_too_big_for_memory_fails_at_once(n):
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="count_primes"):
        rust_demo.sieve_of_eratosthenes(n)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    "func, n",
    [
        (functools.partial(rust_demo.count_primes, threads=1), 10**12),
        (functools.partial(rust_demo.count_primes, threads=4), 10**12),
        (rust_demo.sieve_of_eratosthenes, 4 * 10**9),
    ],
    ids=["count_primes, 1 thread", "count_primes, 4 threads", "sieve_of_eratosthenes"],
)
def test_ctrl_c_interrupts_long_work(func, n):
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            func(n)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 1.5


@pytest.mark.parametrize(
    "func, n", [(rust_demo.count_primes, 10**9), (rust_demo.sieve_of_eratosthenes, 60_000_000)]
)
def test_other_threads_run_while_the_sieve_computes(func, n):
    ticks = 0
    done = threading.Event()

    def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.01)
    try:
        before = ticks
        start = time.perf_counter()
        func(n)
        elapsed = time.perf_counter() - start
        during = ticks - before
    finally:
        done.set()
        thread.join()
    # A thread that sleeps 1 ms per tick manages dozens of ticks in this time if, and only
    # if, the GIL is free while the sieve computes. (Before Python 3.11 a 1 ms sleep lasts
    # up to 15.6 ms on Windows: there, half the ticks that clock allows.)
    assert elapsed > 0.05
    assert during >= min(10, elapsed / 0.0156 / 2)


def test_count_primes_from_several_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(rust_demo.count_primes, [10**6] * 4)) == [78_498] * 4
