"""Functions: every one against a plain-Python reference, and every error the guide names."""

from __future__ import annotations

import collections
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import rust_demo

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
i64s = st.integers(I64_MIN, I64_MAX)


def python_fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


# --- fibonacci -------------------------------------------------------------------------


@given(st.integers(0, 93))
def test_fibonacci_matches_python(n):
    assert rust_demo.fibonacci(n) == python_fibonacci(n)


def test_fibonacci_largest_and_first_overflow():
    assert rust_demo.fibonacci(93) == 12200160415121876738
    with pytest.raises(OverflowError, match="93"):
        rust_demo.fibonacci(94)
    with pytest.raises(OverflowError, match="93"):
        rust_demo.fibonacci(2**64 - 1)


@pytest.mark.parametrize(
    "bad, error",
    [
        (-1, OverflowError),
        (2**64, OverflowError),
        (1.5, TypeError),
        ("3", TypeError),
        (None, TypeError),
    ],
)
def test_fibonacci_rejects_bad_input(bad, error):
    with pytest.raises(error):
        rust_demo.fibonacci(bad)


# --- count_unique_words / is_palindrome -------------------------------------------------


def python_unique_words(text):
    return len({w.strip(string.punctuation) for w in text.lower().split()} - {""})


words_text = st.text(
    alphabet=st.sampled_from([*"abcABC .,!?'-\t\n\x1c\u3000ßẞΣσςİi", "\ud800"]),
    max_size=60,
)


@given(words_text)
@example("Hello, hello world! The the")
@example("ΟΔΟΣ οδος ΟΔΟΣ.")
def test_count_unique_words_matches_python(text):
    assert rust_demo.count_unique_words(text) == python_unique_words(text)


@given(st.text())
def test_count_unique_words_any_text(text):
    assert rust_demo.count_unique_words(text) == python_unique_words(text)


def python_is_palindrome(text):
    letters = [c for c in text.lower() if c.isalnum()]
    letters = ["σ" if c == "ς" else c for c in letters]
    return letters == letters[::-1]


# Any text: is_palindrome asks the running Python what a letter or digit is. Half of the
# examples are ASCII, where it decides in Rust.
palindrome_text = st.one_of(
    st.text(max_size=20), st.text(st.characters(max_codepoint=0x7F), max_size=20)
)


@given(palindrome_text)
@example("")
@example("Was it a car or a cat I saw?")
@example("ΣΑΣ")
def test_is_palindrome_matches_python(text):
    assert rust_demo.is_palindrome(text) == python_is_palindrome(text)


@given(palindrome_text)
def test_text_plus_its_reverse_is_a_palindrome(text):
    assert rust_demo.is_palindrome(text + text[::-1])


@pytest.mark.parametrize("func", [rust_demo.count_unique_words, rust_demo.is_palindrome])
def test_text_functions_reject_non_str(func):
    with pytest.raises(TypeError):
        func(b"bytes")


# --- sum_list / filter_positive ---------------------------------------------------------


@given(st.lists(i64s))
def test_sum_list_matches_sum(items):
    total = sum(items)
    if I64_MIN <= total <= I64_MAX:
        assert rust_demo.sum_list(items) == total
        assert rust_demo.sum_list(tuple(items)) == total
        assert rust_demo.sum_list(iter(items)) == total
    else:
        with pytest.raises(OverflowError):
            rust_demo.sum_list(items)


def test_sum_list_only_the_total_must_fit():
    assert rust_demo.sum_list([I64_MAX, 1, -1]) == I64_MAX
    assert rust_demo.sum_list([I64_MIN, -1, 1]) == I64_MIN
    assert rust_demo.sum_list([]) == 0
    assert rust_demo.sum_list([True, True, 3]) == 5


@pytest.mark.parametrize("func", [rust_demo.sum_list, rust_demo.filter_positive])
@pytest.mark.parametrize(
    "items, error",
    [
        ([1, 2**63], OverflowError),
        ([1, -(2**63) - 1], OverflowError),
        ((1, 2**70), OverflowError),
        ([1, 2.5], TypeError),
        ([1, "2"], TypeError),
        ([None], TypeError),
        (5, TypeError),
    ],
)
def test_int_list_functions_reject_bad_items(func, items, error):
    with pytest.raises(error):
        func(items)


@given(st.lists(i64s))
def test_filter_positive_matches_python(items):
    expected = [x for x in items if x > 0]
    assert rust_demo.filter_positive(items) == expected
    assert rust_demo.filter_positive(tuple(items)) == expected


class Shrinking:
    """An int-like object (like numpy.int64) whose conversion empties the list being summed."""

    def __init__(self, value, victim):
        self.value, self.victim = value, victim

    def __index__(self):
        self.victim.clear()
        return self.value


def test_sum_list_survives_a_list_emptied_during_conversion():
    items = [1, 2]
    items += [Shrinking(3, items), 4, 5]
    assert rust_demo.sum_list(items) == 6
    assert items == []


# --- word_frequencies -------------------------------------------------------------------

vocabulary = st.sampled_from(
    [
        "apple",
        "Apple",
        "APPLE",
        "Banana",
        "ß",
        "SS",
        "ẞ",
        "ΣΑΣ",
        "σας",
        "İ",
        "i",
        "I",
        "ǅ",
        "ﬁ",
        "Ω",
        "x\ud800",
        "",
    ]
)


@given(st.lists(st.one_of(vocabulary, st.text(max_size=8))))
def test_word_frequencies_matches_counter(words):
    expected = collections.Counter(w.lower() for w in words)
    result = rust_demo.word_frequencies(words)
    assert result == expected
    assert list(result) == list(expected)  # first-seen order, like Counter
    assert rust_demo.word_frequencies(tuple(words)) == expected
    assert rust_demo.word_frequencies(iter(words)) == expected


class Shouty(str):
    def lower(self):
        return "shout"


def test_word_frequencies_honours_str_subclasses():
    assert rust_demo.word_frequencies([Shouty("A"), "a"]) == {"shout": 1, "a": 1}


@pytest.mark.parametrize("bad", [["a", 1], [b"a"], [None], 3])
def test_word_frequencies_rejects_non_str(bad):
    with pytest.raises(TypeError):
        rust_demo.word_frequencies(bad)


def test_word_frequencies_rejects_a_bare_string_item_type():
    with pytest.raises(TypeError, match=r"str items, got <class 'int'>"):
        rust_demo.word_frequencies(["a", 1])


# --- safe_divide / safe_parse_int / factorial -------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.floats(), st.floats().filter(lambda b: b != 0))
def test_safe_divide_matches_python(a, b):
    expected = a / b
    result = rust_demo.safe_divide(a, b)
    assert result == expected or (result != result and expected != expected)


@pytest.mark.parametrize("zero", [0, 0.0, -0.0, False])
def test_safe_divide_by_zero(zero):
    with pytest.raises(ValueError, match=r"^Division by zero$"):
        rust_demo.safe_divide(1, zero)


def python_parse_int(s):
    t = s.strip(" \t\n\r\x0b\x0c")
    body = t[1:] if t[:1] in ("+", "-") else t
    if not body or not all(c in "0123456789" for c in body):
        return None
    value = int(t)
    return value if I64_MIN <= value <= I64_MAX else None


@given(
    st.one_of(
        st.text(alphabet=" \t\n+-0123456789_x", max_size=25),
        i64s.map(str),
        st.integers(-(2**70), 2**70).map(lambda i: f"  {i}\n"),
    )
)
def test_safe_parse_int_matches_reference(s):
    expected = python_parse_int(s)
    if expected is None:
        with pytest.raises(ValueError, match=r"^Cannot parse '"):
            rust_demo.safe_parse_int(s)
    else:
        assert rust_demo.safe_parse_int(s) == expected


@pytest.mark.parametrize(
    "s, reason",
    [
        ("abc", "invalid digit found in string"),
        ("", "cannot parse integer from empty string"),
        ("99999999999999999999", "number too large to fit in target type"),
        ("-99999999999999999999", "number too small to fit in target type"),
    ],
)
def test_safe_parse_int_messages(s, reason):
    with pytest.raises(ValueError) as info:
        rust_demo.safe_parse_int(s)
    assert str(info.value) == f"Cannot parse '{s}': {reason}"


@given(st.integers(0, 20))
def test_factorial_matches_python(n):
    import math

    assert rust_demo.factorial(n) == math.factorial(n)


@pytest.mark.parametrize("n", [21, 100, 2**64 - 1])
def test_factorial_too_large(n):
    with pytest.raises(ValueError, match=r"^Input too large \(max 20\)$"):
        rust_demo.factorial(n)


def test_factorial_negative():
    with pytest.raises(OverflowError):
        rust_demo.factorial(-1)


# --- subclasses and hooks that change the container mid-call ----------------------------
#
# The reference is always the plain Python loop over a fresh, identical container: exact
# lists may take a fast path, but every answer must be the one `for x in container` gives.


class IntSubclass(int):
    pass


class ListSubclass(list):
    pass


class ReversedList(list):
    def __iter__(self):
        return reversed(self)


class PaddedTuple(tuple):
    def __iter__(self):
        yield from tuple.__iter__(self)
        yield 1


class Mutating:
    """An int-like whose conversion changes the list it sits in (once)."""

    def __init__(self, value, action, target):
        self.value, self.action, self.target, self.done = value, action, target, False

    def __index__(self):
        if not self.done and self.target is not None:
            self.done = True
            if self.action == "append":
                self.target.append(7)
            elif self.action == "pop" and self.target:
                self.target.pop()
            elif self.action == "clear":
                self.target.clear()
            elif self.action == "insert":
                self.target.insert(0, 5)
        return self.value


CONTAINERS = ["list", "tuple", "ListSubclass", "ReversedList", "PaddedTuple", "iterator"]
int_items = st.lists(
    st.tuples(
        st.sampled_from(["int", "IntSubclass", "append", "pop", "clear", "insert"]),
        st.integers(-(2**40), 2**40),
    ),
    max_size=12,
)


# The kinds whose items live in a list that hooks can change mid-call.
MUTABLE_KINDS = ("list", "ListSubclass", "ReversedList", "iterator")


def empty_backing(kind):
    """The list (or list subclass) that a container of `kind` is built on."""
    return {"ListSubclass": ListSubclass, "ReversedList": ReversedList}.get(kind, list)()


def container_of(kind, backing):
    """The container of `kind` over the items of `backing`."""
    if kind == "tuple":
        return tuple(backing)
    if kind == "PaddedTuple":
        return PaddedTuple(backing)
    if kind == "iterator":
        return iter(backing)
    return backing


def build_int_container(kind, specs):
    """A fresh container of `kind`; Mutating items act on the list that holds them."""
    backing = empty_backing(kind)
    mutable = kind in MUTABLE_KINDS
    for item_kind, value in specs:
        if item_kind == "int":
            backing.append(value)
        elif item_kind == "IntSubclass":
            backing.append(IntSubclass(value))
        else:
            backing.append(Mutating(value, item_kind, backing if mutable else None))
    return container_of(kind, backing)


@given(st.sampled_from(CONTAINERS), int_items)
@example("ListSubclass", [("int", 1), ("int", 2)])
@example("list", [("int", 1), ("append", 2), ("int", 3)])
@example("list", [("clear", 1), ("int", 2)])
def test_int_functions_follow_the_python_loop(kind, specs):
    import operator

    expected_total, expected_positive = 0, []
    for item in build_int_container(kind, specs):
        value = operator.index(item)
        expected_total += value
        if value > 0:
            expected_positive.append(value)
    assert rust_demo.sum_list(build_int_container(kind, specs)) == expected_total
    assert rust_demo.filter_positive(build_int_container(kind, specs)) == expected_positive


def test_sum_list_honours_an_overridden_iter():
    class Overridden(list):
        def __iter__(self):
            yield 100
            yield 200

    assert rust_demo.sum_list(Overridden([1, 2])) == sum(Overridden([1, 2])) == 300
    assert rust_demo.filter_positive(Overridden([1, 2])) == [100, 200]


class Lowering(str):
    """A str whose lower() changes the list being counted (once), or answers oddly."""

    target: list | None = None
    action = ""

    def lower(self):
        if self.target is not None and self.action:
            target, self.target = self.target, None
            if self.action == "append":
                target.append("Appended")
            elif self.action == "pop" and target:
                target.pop()
            elif self.action == "clear":
                target.clear()
        return "lowered:" + str.lower(self)


word_items = st.lists(
    st.tuples(
        st.sampled_from(["str", "subclass", "append", "pop", "clear"]),
        st.sampled_from(["a", "A", "ß", "Σ", "b"]),
    ),
    max_size=10,
)


def build_word_container(kind, specs):
    backing = empty_backing(kind)
    mutable = kind in MUTABLE_KINDS
    for item_kind, word in specs:
        if item_kind == "str":
            backing.append(word)
        else:
            lowering = Lowering(word)
            if item_kind != "subclass" and mutable:
                lowering.target, lowering.action = backing, item_kind
            backing.append(lowering)
    return container_of(kind, backing)


@given(st.sampled_from(CONTAINERS), word_items)
@example("list", [("append", "a"), ("str", "b")])
def test_word_frequencies_follows_counter(kind, specs):
    if kind == "PaddedTuple":
        # The padded item is an int, which word_frequencies must reject.
        with pytest.raises(TypeError):
            rust_demo.word_frequencies(build_word_container(kind, specs))
        return
    expected = collections.Counter(w.lower() for w in build_word_container(kind, specs))
    result = rust_demo.word_frequencies(build_word_container(kind, specs))
    assert result == expected
    assert list(result) == list(expected)
