"""The browser presentation's API (web/app.py) through FastAPI's TestClient, in-process.

Skipped where the `web` dependency group is not installed (the wheel's test runs on every
CPython install only pytest and hypothesis).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

import rust_demo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web import app as web_app  # noqa: E402
from web import source  # noqa: E402
from web.store import VisitorStore  # noqa: E402


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(web_app.create_app())


@pytest.fixture
def visitor(client: TestClient) -> str:
    response = client.post("/api/visitor")
    assert response.status_code == 200
    return str(response.json()["visitor"])


def python_error(call) -> str:
    """'Type: message' of what call() raises, as Python prints it."""
    try:
        call()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    raise AssertionError("no exception")


def assert_clean(text: str) -> None:
    """No traceback and no file path in a response."""
    assert "Traceback" not in text
    assert str(ROOT) not in text and ".py" not in text


# --- the module's errors, exactly as Python shows them ------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/safe_divide", {"a": 10, "b": 0}, "ValueError: Division by zero"),
        ("/api/factorial", {"n": 21}, "ValueError: Input too large (max 20)"),
        ("/api/fibonacci", {"n": 94}, python_error(lambda: rust_demo.fibonacci(94))),
        (
            "/api/safe_parse_int",
            {"s": "abc"},
            python_error(lambda: rust_demo.safe_parse_int("abc")),
        ),
        ("/api/fibonacci", {"n": -1}, python_error(lambda: rust_demo.fibonacci(-1))),
        (
            "/api/sum_list",
            {"items": [2**63 - 1, 1]},
            python_error(lambda: rust_demo.sum_list([2**63 - 1, 1])),
        ),
        (
            "/api/count_primes",
            {"n": 10, "threads": 0},
            python_error(lambda: rust_demo.count_primes(10, threads=0)),
        ),
        (
            "/api/sieve_of_eratosthenes",
            {"n": -5},
            python_error(lambda: rust_demo.sieve_of_eratosthenes(-5)),
        ),
    ],
)
def test_module_errors_are_400_with_the_python_exception(client, path, body, expected):
    response = client.post(path, json=body)
    assert response.status_code == 400
    data = response.json()
    assert data["detail"] == expected
    kind, _, message = expected.partition(": ")
    assert (data["exception"], data["message"]) == (kind, message)
    assert_clean(response.text)


def test_fibonacci_94_is_an_overflow_error(client):
    response = client.post("/api/fibonacci", json={"n": 94})
    assert response.json()["exception"] == "OverflowError"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/fibonacci", {}),
        ("/api/fibonacci", {"n": "forty"}),
        ("/api/fibonacci", {"n": 1.5}),
        ("/api/fibonacci", {"n": 10**7}),  # over the cap
        ("/api/safe_divide", {"a": "NaN", "b": 1}),
        ("/api/safe_divide", {"a": "Infinity", "b": 1}),
        ("/api/sum_list", {"items": list(range(web_app.MAX_ITEMS + 1))}),
        ("/api/sum_list", {"items": [1, "2"]}),
        ("/api/word_frequencies", {"words": ["x" * (web_app.MAX_WORD + 1)]}),
        ("/api/count_unique_words", {"text": 5}),
        ("/api/sieve_of_eratosthenes", {"n": web_app.MAX_SIEVE + 1}),
        ("/api/count_primes", {"n": web_app.MAX_COUNT + 1}),
        ("/api/count_primes", {"n": 100, "threads": web_app.MAX_THREADS + 1}),
        ("/api/race/sieve", {"n": web_app.MAX_RACE_SIEVE + 1}),
        ("/api/python/count_primes", {"n": web_app.MAX_PY_LOAD + 1}),
        ("/api/parallelism", {"threads": web_app.MAX_THREADS + 1}),
        ("/api/moving_average/new", {"visitor": "abc", "window_size": web_app.MAX_WINDOW + 1}),
        ("/api/ring_buffer/new", {"visitor": "abc", "capacity": web_app.MAX_CAPACITY + 1}),
        ("/api/ring_buffer/push", {"visitor": "../etc/passwd", "item": 1}),
    ],
)
def test_invalid_or_over_cap_input_is_422(client, path, body):
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        # JSON has no NaN or Infinity, but Python's json module reads them (and 1e400 as inf)
        ("/api/fibonacci", b'{"n": NaN}'),
        ("/api/fibonacci", b'{"n": Infinity}'),
        ("/api/safe_divide", b'{"a": NaN, "b": 1}'),
        ("/api/safe_divide", b'{"a": 1e400, "b": 1}'),
        ("/api/sum_list", b'{"items": [1, -Infinity]}'),
        # a lone surrogate is valid JSON text but no valid str for the module
        ("/api/safe_parse_int", b'{"s": "\\ud800"}'),
        ("/api/count_unique_words", b'{"text": "a \\udc00"}'),
        ("/api/word_frequencies", b'{"words": ["\\ud800"]}'),
        ("/api/fibonacci", b'"\\ud800"'),
    ],
)
def test_what_json_cannot_carry_is_a_clean_422(client, path, raw):
    response = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text

    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} in a response")

    detail = json.loads(response.content, parse_constant=no_constant)["detail"]
    assert detail[0]["type"] and detail[0]["msg"]
    assert_clean(response.text)


def test_not_json_is_422(client):
    response = client.post(
        "/api/fibonacci", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_body_over_64_kib_is_413(client):
    body = b'{"text": "' + b"a" * (64 * 1024) + b'"}'
    response = client.post(
        "/api/count_unique_words", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "Request body larger than 65536 bytes"


def test_body_over_64_kib_without_content_length_is_413(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(70):
            yield b"a" * 1024
        yield b'"}'

    response = client.post(
        "/api/count_unique_words", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_a_body_trickled_too_slowly_is_408():
    import anyio

    async def main() -> list[dict]:
        sent: list[dict] = []
        messages = iter([{"type": "http.request", "body": b'{"n": ', "more_body": True}])

        async def receive() -> dict:
            try:
                return next(messages)
            except StopIteration:
                await anyio.sleep(60)  # the rest never comes
                raise AssertionError("not cut off") from None

        async def send(message: dict) -> None:
            sent.append(message)

        async def app(scope, receive, send) -> None:
            raise AssertionError("the app must not see the request")

        limit = web_app.BodyLimit(app, seconds=0.2)
        scope = {"type": "http", "method": "POST", "path": "/api/fibonacci", "headers": []}
        with anyio.fail_after(5):
            await limit(scope, receive, send)
        return sent

    sent = anyio.run(main)
    assert sent[0]["status"] == 408
    assert b"not received within 0.2 s" in sent[1]["body"]


def test_body_just_under_the_limit_is_read(client):
    text = "a " * 30_000
    response = client.post("/api/count_unique_words", json={"text": text[: web_app.MAX_TEXT]})
    assert response.status_code == 200
    assert response.json()["result"] == 1


# --- results, against the module and plain Python -----------------------------------------


def test_guide_examples(client):
    def result(path, body):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    assert result("/api/fibonacci", {"n": 40})["result"] == 102334155
    assert result("/api/is_palindrome", {"text": "A man a plan a canal Panama"})["repr"] == "True"
    text = "The quick brown fox jumps over the lazy dog. The lazy dog sleeps!"
    assert result("/api/count_unique_words", {"text": text})["result"] == 9
    assert result("/api/sum_list", {"items": [3, -1, 4]})["result"] == 6
    assert result("/api/filter_positive", {"items": [3, -1, 4]})["result"] == [3, 4]
    words = ["apple", "Banana", "APPLE", "banana"]
    assert result("/api/word_frequencies", {"words": words})["result"] == {"apple": 2, "banana": 2}
    assert result("/api/safe_divide", {"a": 10, "b": 4})["result"] == 2.5
    assert result("/api/safe_parse_int", {"s": " 42 "})["result"] == 42
    assert result("/api/factorial", {"n": 20})["result"] == 2432902008176640000
    sieve = result("/api/sieve_of_eratosthenes", {"n": 100})
    assert (sieve["count"], sieve["first"][:4], sieve["last"][-1]) == (25, [2, 3, 5, 7], 97)
    assert result("/api/count_primes", {"n": 10**6})["result"] == 78498
    assert result("/api/count_primes", {"n": 10**6, "threads": 1})["result"] == 78498
    assert result("/api/python/count_primes", {"n": 1000})["result"] == 168


def test_an_infinite_quotient_is_shown_as_python_shows_it(client):
    response = client.post("/api/safe_divide", json={"a": 1e308, "b": 1e-308})
    assert response.status_code == 200
    assert response.json() == {"call": "safe_divide(1e+308, 1e-308)", "repr": "inf", "result": None}


@settings(max_examples=60, deadline=None)
@given(st.integers(-(10**6), 10**6))
def test_fibonacci_matches_the_module(client, n):
    response = client.post("/api/fibonacci", json={"n": n})
    try:
        expected = rust_demo.fibonacci(n)
    except Exception as err:
        assert response.status_code == 400
        assert response.json()["detail"] == f"{type(err).__name__}: {err}"
    else:
        assert response.json()["result"] == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50))
def test_sum_list_and_filter_positive_match_python(client, items):
    response = client.post("/api/sum_list", json={"items": items})
    total = sum(items)
    if -(2**63) <= total < 2**63:
        assert response.json()["result"] == total
    else:
        assert response.json()["exception"] == "OverflowError"
    response = client.post("/api/filter_positive", json={"items": items})
    assert response.json()["result"] == [item for item in items if item > 0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=30))
def test_word_frequencies_matches_counter(client, words):
    import collections

    response = client.post("/api/word_frequencies", json={"words": words})
    assert response.json()["result"] == dict(collections.Counter(w.lower() for w in words))


# --- a visitor's objects keep their state ------------------------------------------------------


def test_moving_average_as_in_the_guide(client, visitor):
    state = client.post("/api/moving_average/new", json={"visitor": visitor, "window_size": 3})
    assert state.json()["repr"] == "MovingAverage(window_size=3, count=0, avg=0.00)"
    averages = []
    for value in (10.0, 20.0, 30.0, 40.0):
        body = {"visitor": visitor, "value": value}
        averages.append(client.post("/api/moving_average/add", json=body).json()["result"])
    assert averages == [10.0, 15.0, 20.0, 30.0]
    state = client.post("/api/moving_average/count", json={"visitor": visitor}).json()
    assert (state["result"], state["values"], state["average"]) == (3, [20.0, 30.0, 40.0], 30.0)
    state = client.post("/api/moving_average/clear", json={"visitor": visitor}).json()
    assert (state["count"], state["values"]) == (0, [])
    bad = client.post("/api/moving_average/new", json={"visitor": visitor, "window_size": 0})
    assert bad.status_code == 400
    assert bad.json()["detail"] == python_error(lambda: rust_demo.MovingAverage(0))


def test_ring_buffer_slots_eviction_and_iteration(client, visitor):
    def rb(path, **fields):
        return client.post(f"/api/ring_buffer/{path}", json={"visitor": visitor, **fields})

    assert rb("new", capacity=3).json()["items"] == []
    for item in (1, 2, 3, 4, "five"):
        state = rb("push", item=item).json()
    assert state["items"] == [3, 4, "five"]
    assert rb("getitem", index=-1).json()["repr"] == "'five'"
    assert rb("getitem", index=0).json()["result"] == 3
    assert rb("contains", item=4).json()["result"] is True
    assert rb("iter").json()["result"] == [3, 4, "five"]
    assert rb("len").json()["result"] == 3
    assert rb("is_full").json()["result"] is True
    assert rb("pop").json()["result"] == 3
    assert rb("extend", items=[6, 7, 8, 9]).json()["items"] == [7, 8, 9]
    bad = rb("getitem", index=5)
    assert (bad.status_code, bad.json()["exception"]) == (400, "IndexError")
    rb("clear")
    empty = rb("pop")
    assert empty.status_code == 400
    assert empty.json()["detail"] == python_error(rust_demo.RingBuffer(1).pop)


def test_counter_keeps_its_value(client, visitor):
    def counter(path):
        return client.post(f"/api/counter/{path}", json={"visitor": visitor}).json()

    counter("new")
    counter("increment")
    counter("increment")
    assert counter("value")["result"] == 2
    assert counter("decrement")["value"] == 1
    assert counter("reset")["repr"] == "Counter(value=0)"


def test_visitors_do_not_share_objects(client):
    one, two = (client.post("/api/visitor").json()["visitor"] for _ in range(2))
    client.post("/api/counter/increment", json={"visitor": one})
    assert client.post("/api/counter/value", json={"visitor": two}).json()["result"] == 0


def test_an_unknown_visitor_is_404(client):
    response = client.post("/api/counter/value", json={"visitor": "nobody"})
    assert response.status_code == 404
    assert "POST /api/visitor" in response.json()["detail"]


# --- the bounded store ------------------------------------------------------------------------


def test_5000_visitors_keep_the_store_bounded():
    store = VisitorStore()
    assert store.max_visitors == 1000
    first = store.create()
    for _ in range(4_999):
        visitor = store.get(store.create())
        assert visitor is not None
        # Each at the API's caps: the most a visitor can hold.
        visitor.moving_average = rust_demo.MovingAverage(web_app.MAX_WINDOW)
        visitor.moving_average.__setstate__([1.5] * web_app.MAX_WINDOW)
        visitor.ring_buffer = rust_demo.RingBuffer(web_app.MAX_CAPACITY)
        visitor.ring_buffer.extend(["x" * web_app.MAX_WORD] * web_app.MAX_CAPACITY)
    assert len(store) == 1000
    assert store.evicted == 4000
    assert store.get(first) is None  # the oldest idle visitor went first


def test_the_api_store_is_bounded_and_evicts_the_idlest():
    client = TestClient(web_app.create_app(max_visitors=20))
    first, second = (client.post("/api/visitor").json()["visitor"] for _ in range(2))
    assert client.post("/api/counter/value", json={"visitor": first}).status_code == 200
    for _ in range(49):
        client.post("/api/visitor")
    stats = client.get("/api/stats").json()
    assert stats["visitors"] == stats["max_visitors"] == 20
    assert client.post("/api/counter/value", json={"visitor": second}).status_code == 404
    assert client.post("/api/counter/value", json={"visitor": first}).status_code == 404


def test_the_visitor_idle_longest_goes_first():
    store = VisitorStore(max_visitors=3, idle_seconds=3600)
    a, b, c = store.create(), store.create(), store.create()
    assert store.get(a) is not None  # a is now the most recently seen
    d = store.create()
    assert store.get(b) is None and all(store.get(t) for t in (a, c, d))
    assert len(store) == 3


def test_idle_visitors_expire():
    store = VisitorStore(max_visitors=10, idle_seconds=0.05)
    token = store.create()
    time.sleep(0.1)
    assert store.get(token) is None
    assert len(store) == 0


# --- timings, page, source -------------------------------------------------------------------


def test_races_report_the_same_result_on_every_side(client):
    for path, body in [
        ("/api/race/fibonacci", {"n": 90}),
        ("/api/race/sum_list", {"size": 1000}),
        ("/api/race/word_frequencies", {"size": 1000}),
        ("/api/race/sieve", {"n": 10_000}),
    ]:
        data = client.post(path, json=body).json()
        assert data["same_result"] is True
        assert data["rust"]["seconds"] > 0 and all(p["seconds"] > 0 for p in data["peers"])


def test_parallelism_and_overhead(client):
    data = client.post("/api/parallelism", json={"threads": 1}).json()
    assert [p["threads"] for p in data["points"]] == [1]
    data = client.post("/api/overhead", json={"size": 100}).json()
    assert data["size"] == 100 and data["ring_buffer_extend_s"] > 0


def test_page_assets_and_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and "/assets/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "").split("<main>")[0].split("<body>")[0]
    assert client.get("/assets/app.js").headers["content-type"].startswith("text/javascript")
    assert ".highlight" in client.get("/assets/style.css").text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/qr.svg").text.startswith("<svg")
    info = client.get("/api/info").json()
    assert info["version"] == rust_demo.__version__
    assert set(info["guide"]) >= {"simple", "performance", "parallelism", "gil"}


def test_build_info_is_the_modules_own(client):
    answer = client.get("/api/build_info")
    assert answer.status_code == 200
    assert answer.json() == rust_demo.build_info()
    assert client.get("/api/info").json()["build_profile"] == rust_demo.build_info()["profile"]


def test_one_operation_per_function_and_method(client):
    paths = set(client.get("/openapi.json").json()["paths"])
    functions = {name for name in rust_demo.__all__ if name[:1].islower() and name != "__version__"}
    assert {f"/api/{name}" for name in functions} <= paths
    for cls, methods in [
        ("moving_average", ["new", "add", "average", "count", "clear"]),
        ("ring_buffer", ["new", "push", "extend", "pop", "clear", "is_full", "to_list", "iter"]),
        ("counter", ["new", "increment", "decrement", "value", "reset"]),
    ]:
        assert {f"/api/{cls}/{m}" for m in methods} <= paths


@pytest.mark.parametrize("item", source.ITEMS)
def test_every_item_is_found_in_lib_rs(client, item):
    data = client.get("/api/source", params={"item": item}).json()
    assert data["found"], data["note"]
    name = item.split(".")[-1]
    assert (
        f"fn {name}" in source.snippet(item).code or f"struct {name}" in source.snippet(item).code
    )
    assert "highlight" in data["html"]


@pytest.mark.parametrize("item", [i for i in source.ITEMS if i[:1].islower()])
def test_a_function_is_shown_with_its_docs_and_attributes(item):
    # safe_parse_int has a `//` comment between #[pyo3(signature)] and `fn`
    code = source.snippet(item).code
    assert code.startswith("///") and "#[pyfunction]" in code, code[:200]


def test_a_section_heading_above_an_item_is_not_part_of_it(monkeypatch, tmp_path):
    lib = tmp_path / "lib.rs"
    lib.write_text(
        "// --- section ---\n\n// heading\n/// Docs.\n#[pyfunction]\n// why\nfn fibonacci() {}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(source, "LIB_RS", lib)
    found = source.snippet("fibonacci")
    assert found.code == "/// Docs.\n#[pyfunction]\n// why\nfn fibonacci() {}"
    assert found.first_line == 4


def test_source_only_takes_known_items(client):
    assert client.get("/api/source", params={"item": "../Cargo.toml"}).status_code == 422
    assert client.get("/assets/../lib.rs").status_code == 404


def test_a_class_shows_its_struct_and_its_methods():
    code = source.snippet("RingBuffer").code
    assert "struct RingBuffer" in code and "#[pymethods]" in code and "fn push" in code


# --- while an exercise is started ------------------------------------------------------------


def test_a_missing_piece_names_its_exercise(client, monkeypatch, tmp_path):
    monkeypatch.delattr(rust_demo, "factorial")
    response = client.post("/api/factorial", json={"n": 5})
    assert response.status_code == 404
    assert "exercise 1" in response.json()["detail"]
    started = tmp_path / "lib.rs"
    text = (ROOT / "lib.rs").read_text(encoding="utf-8")
    started.write_text(text.replace("fn factorial(", "fn not_yet("), encoding="utf-8")
    monkeypatch.setattr(source, "LIB_RS", started)
    data = client.get("/api/source", params={"item": "factorial"}).json()
    assert not data["found"] and "exercise 1" in data["note"]
    assert client.get("/api/source", params={"item": "fibonacci"}).json()["found"]


def test_room_mode_shows_the_address_and_its_qr_code():
    room = TestClient(web_app.create_app(url="http://192.0.2.7:8000/", lan=True))
    info = room.get("/api/info").json()
    assert (info["lan"], info["url"]) == (True, "http://192.0.2.7:8000/")
    svg = room.get("/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "<path" in svg.text
