"""MovingAverage, Counter and RingBuffer against plain-Python models."""

import collections
import copy
import gc
import pickle
import statistics
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import rust_demo

# Up to 1e300 with windows of at most 1000 values, sums stay inside the float range.
values = st.floats(min_value=-1e300, max_value=1e300)


# --- MovingAverage ----------------------------------------------------------------------


@given(st.integers(1, 20), st.lists(values, max_size=60))
def test_moving_average_equals_fmean_of_window(window_size, stream):
    ma = rust_demo.MovingAverage(window_size)
    window = collections.deque(maxlen=window_size)
    for value in stream:
        window.append(value)
        assert ma.add(value) == statistics.fmean(window)
        assert ma.average() == statistics.fmean(window)
        assert ma.count() == len(window)


def test_a_huge_value_leaving_the_window_leaves_no_trace():
    ma = rust_demo.MovingAverage(3)
    ma.add(1e300)
    ma.add(1.0)
    ma.add(2.0)
    assert ma.add(3.0) == 2.0  # 1e300 left; the naive running sum would give 0.0 here
    assert ma.add(0.1) == statistics.fmean([2.0, 3.0, 0.1])


def test_moving_average_empty_and_clear():
    ma = rust_demo.MovingAverage(2)
    assert ma.average() == 0.0
    assert ma.count() == 0
    ma.add(5)
    ma.clear()
    assert (ma.average(), ma.count()) == (0.0, 0)
    assert repr(ma) == "MovingAverage(window_size=2, count=0, avg=0.00)"


@pytest.mark.parametrize("size", [0, -1, -(2**63)])
def test_moving_average_window_must_be_positive(size):
    with pytest.raises(ValueError, match=r"^Window size must be positive$"):
        rust_demo.MovingAverage(size)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_moving_average_rejects_non_finite_and_keeps_state(bad):
    ma = rust_demo.MovingAverage(3)
    ma.add(1.0)
    ma.add(2.0)
    with pytest.raises(ValueError, match="finite"):
        ma.add(bad)
    assert (ma.count(), ma.average()) == (2, 1.5)


def test_moving_average_sum_overflow_is_an_error_not_inf():
    ma = rust_demo.MovingAverage(2)
    ma.add(1.5e308)
    with pytest.raises(OverflowError):
        ma.add(1.5e308)
    assert (ma.count(), ma.average()) == (1, 1.5e308)


def test_moving_average_rejects_non_numbers():
    with pytest.raises(TypeError):
        rust_demo.MovingAverage(3).add("1")


def test_moving_average_window_size_is_read_only():
    ma = rust_demo.MovingAverage(4)
    assert ma.window_size == 4
    with pytest.raises(AttributeError):
        ma.window_size = 5


def test_moving_average_huge_window_does_not_allocate_up_front():
    ma = rust_demo.MovingAverage(2**62)
    assert ma.add(1.0) == 1.0


# --- Counter ----------------------------------------------------------------------------


@given(st.lists(st.sampled_from(["increment", "decrement", "reset"])))
def test_counter_matches_an_int(ops):
    counter, expected = rust_demo.Counter(), 0
    for op in ops:
        assert getattr(counter, op)() is None
        expected = 0 if op == "reset" else expected + (1 if op == "increment" else -1)
        assert counter.value() == expected
    assert repr(counter) == f"Counter(value={expected})"


def test_counter_overflow_raises_and_keeps_value():
    counter = pickle.loads(pickle.dumps(rust_demo.Counter()))
    counter.__setstate__(2**63 - 1)
    with pytest.raises(OverflowError):
        counter.increment()
    assert counter.value() == 2**63 - 1
    counter.__setstate__(-(2**63))
    with pytest.raises(OverflowError):
        counter.decrement()
    assert counter.value() == -(2**63)


# --- RingBuffer -------------------------------------------------------------------------


class RingBufferMachine(RuleBasedStateMachine):
    """Drive a RingBuffer and a deque(maxlen) with the same operations."""

    def __init__(self):
        super().__init__()
        self.capacity = 3
        self.rb = rust_demo.RingBuffer(self.capacity)
        self.model = collections.deque(maxlen=self.capacity)

    @rule(item=st.integers() | st.text(max_size=3) | st.none())
    def push(self, item):
        assert self.rb.push(item) is None
        self.model.append(item)

    @rule(
        items=st.lists(st.integers() | st.none(), max_size=8),
        kind=st.sampled_from(["list", "tuple", "iterator", "itself"]),
    )
    def extend(self, items, kind):
        if kind == "itself":
            assert self.rb.extend(self.rb) is None
            self.model.extend(self.model)
        else:
            make = {"list": list, "tuple": tuple, "iterator": iter}[kind]
            assert self.rb.extend(make(items)) is None
            self.model.extend(make(items))

    @rule()
    def pop(self):
        if self.model:
            assert self.rb.pop() == self.model.popleft()
        else:
            with pytest.raises(IndexError):
                self.rb.pop()

    @rule(index=st.integers(-5, 5))
    def getitem(self, index):
        if -len(self.model) <= index < len(self.model):
            assert self.rb[index] == self.model[index]
        else:
            with pytest.raises(IndexError):
                self.rb[index]

    @rule(item=st.integers(0, 3))
    def contains(self, item):
        assert (item in self.rb) == (item in self.model)

    @rule()
    def clear(self):
        self.rb.clear()
        self.model.clear()

    @invariant()
    def same_contents(self):
        assert len(self.rb) == len(self.model)
        assert bool(self.rb) == bool(self.model)
        assert list(self.rb) == list(self.model)
        assert self.rb.to_list() == list(self.model)
        assert self.rb.is_full() == (len(self.model) == self.capacity)
        assert repr(self.rb) == f"RingBuffer(capacity=3, items={list(self.model)!r})"


TestRingBufferAgainstDeque = RingBufferMachine.TestCase


@given(st.integers(1, 6), st.lists(st.integers(), max_size=20))
def test_ring_buffer_keeps_the_newest_items(capacity, items):
    rb = rust_demo.RingBuffer(capacity)
    for item in items:
        rb.push(item)
    assert list(rb) == list(collections.deque(items, maxlen=capacity))


def test_ring_buffer_guide_like_session():
    rb = rust_demo.RingBuffer(3)
    for i in range(1, 5):
        rb.push(i)
    assert repr(rb) == "RingBuffer(capacity=3, items=[2, 3, 4])"
    assert rb[0] == 2 and rb[-1] == 4
    assert rb.capacity == 3
    rb.push("x")
    assert repr(rb) == "RingBuffer(capacity=3, items=[3, 4, 'x'])"


@pytest.mark.parametrize("capacity", [0, -1])
def test_ring_buffer_capacity_must_be_positive(capacity):
    with pytest.raises(ValueError, match=r"^Capacity must be positive$"):
        rust_demo.RingBuffer(capacity)


def test_ring_buffer_index_errors_and_types():
    rb = rust_demo.RingBuffer(2)
    with pytest.raises(IndexError):
        rb[0]
    with pytest.raises(IndexError):
        rb[-1]
    rb.push(1)
    with pytest.raises(TypeError):
        rb["0"]
    with pytest.raises(AttributeError):
        rb.capacity = 5


def test_ring_buffer_contains_uses_identity_then_equality():
    nan = float("nan")
    rb = rust_demo.RingBuffer(2)
    rb.push(nan)
    rb.push(1)
    assert nan in rb
    assert 1.0 in rb
    assert float("nan") not in rb


@pytest.mark.parametrize("mutate", ["push", "pop", "clear"])
def test_ring_buffer_mutated_during_iteration(mutate):
    rb = rust_demo.RingBuffer(3)
    for i in range(3):
        rb.push(i)
    it = iter(rb)
    assert next(it) == 0
    getattr(rb, mutate)(*([9] if mutate == "push" else []))
    with pytest.raises(RuntimeError, match="mutated during iteration"):
        next(it)


def test_ring_buffer_self_reference_repr_and_gc():
    rb = rust_demo.RingBuffer(2)
    rb.push(rb)
    assert repr(rb) == "RingBuffer(capacity=2, items=[RingBuffer(...)])"
    ref = weakref.ref(rb)
    del rb
    gc.collect()
    assert ref() is None


def test_ring_buffer_cycle_through_another_object_is_collected():
    class Node:
        pass

    node = Node()
    node.buffer = rust_demo.RingBuffer(1)
    node.buffer.push(node)
    it = iter(node.buffer)  # an iterator keeps its buffer alive: also part of the cycle
    node.iterator = it
    ref = weakref.ref(node)
    del node, it
    gc.collect()
    assert ref() is None


def test_ring_buffer_leaks_no_reference():
    import sys

    item = object()
    before = sys.getrefcount(item)
    rb = rust_demo.RingBuffer(2)
    for _ in range(5):
        rb.push(item)
    _ = rb[0], rb.to_list(), list(rb), item in rb, repr(rb), copy.copy(rb)
    rb.pop()
    del _
    rb.clear()
    assert sys.getrefcount(item) == before


def test_ring_buffer_item_del_may_use_the_buffer():
    rb = rust_demo.RingBuffer(1)

    class Reentrant:
        def __del__(self):
            rb.push("from __del__")  # runs while push() evicts this item: must not deadlock

    rb.push(Reentrant())
    rb.push("next")
    assert list(rb) == ["from __del__"]


@pytest.mark.parametrize("capacity", [1, 4095, 4096, 4097, 10_000])
@pytest.mark.parametrize("make", [list, tuple, iter, lambda items: (x for x in items)])
def test_extend_matches_deque_across_batches(capacity, make):
    items = [f"item {i}" for i in range(9_000)]
    rb, model = rust_demo.RingBuffer(capacity), collections.deque(maxlen=capacity)
    rb.push("before")
    model.append("before")
    rb.extend(make(items))
    model.extend(make(items))
    assert list(rb) == list(model)


def test_extend_uses_a_subclass_iter_like_deque():
    class Reversed(list):
        def __iter__(self):
            return iter(list(super().__iter__())[::-1])

    rb, model = rust_demo.RingBuffer(5), collections.deque(maxlen=5)
    rb.extend(Reversed([1, 2, 3]))
    model.extend(Reversed([1, 2, 3]))
    assert list(rb) == list(model) == [3, 2, 1]


def test_extend_errors_are_deques():
    rb, model = rust_demo.RingBuffer(3), collections.deque(maxlen=3)
    for target in (rb, model):
        with pytest.raises(TypeError, match="'int' object is not iterable"):
            target.extend(5)  # type: ignore[arg-type]

    def failing():
        yield 1
        yield 2
        raise ValueError("stop")

    for target in (rb, model):
        with pytest.raises(ValueError, match="stop"):
            target.extend(failing())
    assert list(rb) == list(model) == [1, 2]


def test_extend_sees_the_list_grow_while_it_runs():
    # The buffer's only reference to an object with a __del__ is evicted in the first batch;
    # its __del__ appends to the list being read, and the rest of the call sees the new item,
    # as deque.extend does.
    def run(target):
        items: list[object] = list(range(5_000))

        class AppendsOnDel:
            def __del__(self):
                items.append("appended by __del__")

        add = target.append if isinstance(target, collections.deque) else target.push
        add(AppendsOnDel())
        target.extend(items)
        return list(target)

    expected = [4_999, "appended by __del__"]
    assert run(rust_demo.RingBuffer(2)) == run(collections.deque(maxlen=2)) == expected


# What the __del__ of an evicted item does, on the buffer or on the list being read.
DEL_HOOKS = {
    "clears the buffer": lambda target, add, source: target.clear(),
    "adds to the buffer": lambda target, add, source: add("added by __del__"),
    "extends the buffer": lambda target, add, source: target.extend(["e1", "e2"]),
    "replaces a list item": lambda target, add, source: source.__setitem__(1, "Z"),
    "clears the list": lambda target, add, source: source.clear(),
    "reads the buffer": lambda target, add, source: source.append(tuple(target)),
}


@pytest.mark.parametrize("hook", DEL_HOOKS.values(), ids=DEL_HOOKS.keys())
def test_extend_runs_an_evicted_items_del_right_after_its_eviction(hook):
    # The buffer holds the only reference to X, so X is freed when "a" evicts it: its
    # __del__ runs right then, before "b" is read, as with deque.extend.
    def run(target, add):
        source = ["a", "b", "c", "d"]

        class X:
            def __del__(self):
                hook(target, add, source)

        add(X())
        add("Y")
        target.extend(source)
        return list(target), source

    rb = rust_demo.RingBuffer(2)
    model: collections.deque[object] = collections.deque(maxlen=2)
    assert run(rb, rb.push) == run(model, model.append)


def test_extend_leaks_no_reference():
    import sys

    item = object()
    before = sys.getrefcount(item)
    rb = rust_demo.RingBuffer(3)
    rb.extend([item] * 10_000)
    rb.extend((item,) * 10)
    rb.extend(iter([item] * 10))
    rb.extend(rb)
    rb.clear()
    assert sys.getrefcount(item) == before


# --- all classes: module, pickle, copy, threads -----------------------------------------


def filled_instances():
    ma = rust_demo.MovingAverage(3)
    for x in (1e300, 1.0, 2.0, 3.5):
        ma.add(x)
    counter = rust_demo.Counter()
    for _ in range(5):
        counter.increment()
    rb = rust_demo.RingBuffer(3)
    for item in (1, "two", [3], (4,)):
        rb.push(item)
    return ma, counter, rb


def state(obj):
    if isinstance(obj, rust_demo.MovingAverage):
        return (obj.window_size, obj.count(), obj.average(), repr(obj))
    if isinstance(obj, rust_demo.Counter):
        return obj.value()
    return (obj.capacity, list(obj))


@pytest.mark.parametrize("cls", [rust_demo.MovingAverage, rust_demo.Counter, rust_demo.RingBuffer])
def test_classes_live_in_rust_demo(cls):
    assert cls.__module__ == "rust_demo"


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize(
    "clone",
    [
        pytest.param(lambda o: pickle.loads(pickle.dumps(o)), id="pickle"),
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_round_trips_keep_full_state(clone, index):
    original = filled_instances()[index]
    twin = clone(original)
    assert type(twin) is type(original)
    assert twin is not original
    assert state(twin) == state(original)


def test_copies_are_independent():
    ma, counter, rb = filled_instances()
    ma2, counter2, rb2 = copy.copy(ma), copy.copy(counter), copy.copy(rb)
    ma2.add(100.0)
    counter2.increment()
    rb2.push("new")
    assert state(ma) != state(ma2)
    assert state(counter) != state(counter2)
    assert state(rb) != state(rb2)
    assert rb2[0] is rb[1]  # copy is shallow
    deep = copy.deepcopy(rb)
    assert deep[1] == rb[1] and deep[1] is not rb[1]  # deepcopy is deep


def test_self_containing_ring_buffer_pickles_and_deep_copies():
    rb = rust_demo.RingBuffer(2)
    rb.push(rb)
    for twin in (pickle.loads(pickle.dumps(rb)), copy.deepcopy(rb)):
        assert twin[0] is twin


class Slow:
    """An item whose repr and == hand the GIL to other threads mid-call."""

    def __repr__(self):
        threading.Event().wait(0.0001)
        return "Slow()"

    def __eq__(self, other):
        threading.Event().wait(0.0001)
        return self is other

    __hash__ = object.__hash__


def test_one_instance_hammered_by_a_thread_pool():
    ma, counter, rb = rust_demo.MovingAverage(10), rust_demo.Counter(), rust_demo.RingBuffer(50)

    def work(i):
        for j in range(200):
            ma.add(float(j))
            counter.increment()
            rb.push(Slow() if j % 10 == 0 else j)
            repr(rb)
            _ = Slow() in rb
            for _item in rb.to_list():
                pass
            try:
                rb.pop()
            except IndexError:
                pass
            repr(ma)
        return i

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    assert counter.value() == 8 * 200
    assert ma.count() == 10
    assert 0 <= len(rb) <= 50


def test_iterating_while_another_thread_pushes():
    rb = rust_demo.RingBuffer(100)
    stop = threading.Event()

    def pusher():
        while not stop.is_set():
            rb.push(1)

    thread = threading.Thread(target=pusher)
    thread.start()
    try:
        for _ in range(200):
            try:
                for _item in rb:
                    pass
            except RuntimeError as err:
                assert "mutated during iteration" in str(err)
    finally:
        stop.set()
        thread.join()


# --- every reachable state survives copy and pickle -------------------------------------

BIG = sys.float_info.max
# Values that overflow a naive replay of the window, mixed with ordinary and tiny ones.
edge_values = st.sampled_from(
    [1e308, -1e308, BIG, -BIG, BIG / 2, 5.0, 0.1, -3.5, 5e-324, -5e-324, 1e300]
) | st.floats(allow_nan=False, allow_infinity=False)
CLONERS = [
    copy.copy,
    copy.deepcopy,
    *[lambda o, p=p: pickle.loads(pickle.dumps(o, protocol=p)) for p in range(6)],
]


def outcome(call, *args):
    try:
        return call(*args)
    except (OverflowError, ValueError) as err:
        return type(err)


@given(
    st.integers(1, 5),
    st.lists(edge_values, max_size=25),
    st.sampled_from(CLONERS),
    st.lists(edge_values, max_size=4),
)
def test_every_moving_average_state_round_trips(size, stream, clone, more):
    ma = rust_demo.MovingAverage(size)
    for value in stream:
        outcome(ma.add, value)  # refused values leave the state as it was
    twin = clone(ma)
    assert (twin.count(), twin.average(), repr(twin)) == (ma.count(), ma.average(), repr(ma))
    for value in more:
        assert outcome(twin.add, value) == outcome(ma.add, value)


class Nested:
    """An object holding a RingBuffer: pickling and copying must follow it."""

    def __init__(self, buffer):
        self.buffer = buffer

    def __eq__(self, other):
        return isinstance(other, Nested) and list(self.buffer) == list(other.buffer)


@given(
    st.integers(1, 4),
    st.lists(st.integers() | st.text(max_size=3) | st.none() | st.just("nested"), max_size=8),
    st.sampled_from(CLONERS),
)
def test_every_ring_buffer_state_round_trips(capacity, items, clone):
    rb = rust_demo.RingBuffer(capacity)
    for item in items:
        if item == "nested":
            inner = rust_demo.RingBuffer(2)
            inner.push(rb)  # a cycle back to the outer buffer
            rb.push(Nested(inner))
        else:
            rb.push(item)
    twin = clone(rb)
    assert twin.capacity == rb.capacity and len(twin) == len(rb)
    for mine, theirs in zip(rb, twin):
        if isinstance(mine, Nested):
            assert theirs.buffer[0] is (rb if clone is copy.copy else twin)
        else:
            assert mine == theirs
