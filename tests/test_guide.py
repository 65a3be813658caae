"""The workshop guide's examples, verbatim: every Python session and the four exercises."""

import doctest
import subprocess
import sys

import pytest

import rust_demo

# Each session is copied character for character from ../shared/workshop-guide.md.
GUIDE_SESSIONS = {
    "word_frequencies": """
>>> rust_demo.word_frequencies(["apple", "Banana", "APPLE", "banana"])
{'apple': 2, 'banana': 2}
""",
    "safe_divide": """
>>> rust_demo.safe_divide(10, 3)
3.3333333333333335

>>> rust_demo.safe_divide(10, 0)
Traceback (most recent call last):
  ...
ValueError: Division by zero
""",
    "moving_average": """
>>> ma = rust_demo.MovingAverage(3)
>>> ma.add(10.0)
10.0
>>> ma.add(20.0)
15.0
>>> ma.add(30.0)
20.0
>>> ma.add(40.0)  # Window slides, drops 10.0
30.0
>>> ma
MovingAverage(window_size=3, count=3, avg=30.00)
""",
    "exercise_2_factorial": """
>>> rust_demo.factorial(21)
Traceback (most recent call last):
  ...
ValueError: Input too large (max 20)
""",
    "exercise_3_counter": """
>>> c = rust_demo.Counter()
>>> c.increment()
>>> c.increment()
>>> c.value()
2
>>> c.decrement()
>>> c.value()
1
>>> c.reset()
>>> c.value()
0
>>> c
Counter(value=0)
""",
}


@pytest.mark.parametrize("name", sorted(GUIDE_SESSIONS))
def test_guide_session(name):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(GUIDE_SESSIONS[name], {"rust_demo": rust_demo}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_guide_fibonacci_40():
    assert rust_demo.fibonacci(40) == 102334155


def test_guide_is_palindrome_lines():
    assert rust_demo.is_palindrome("A man a plan a canal Panama") is True
    assert rust_demo.is_palindrome("hello") is False


def test_exercise_1_factorial_command():
    out = subprocess.run(
        [sys.executable, "-c", "import rust_demo; print(rust_demo.factorial(10))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "3628800\n"


def python_sieve(n):
    """The pure-Python sieve an attendee writes for exercise 4."""
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


def test_exercise_4_sieve_one_million_matches_python():
    primes = rust_demo.sieve_of_eratosthenes(1_000_000)
    assert primes == python_sieve(1_000_000)
    assert len(primes) == 78498
