"""The FastAPI app behind `python serve.py`: the page, and a typed JSON API under /api/.

Every operation is one module function or one class method, named after it
(`/api/fibonacci`, `/api/moving_average/add`), with request and response models: OpenAPI at
/openapi.json, docs at /docs. The module's own errors come back as 400 with the Python
exception as Python shows it (`ValueError: Division by zero`); input outside the models'
caps gets FastAPI's 422. Everything a room can reach is bounded: bodies (413 past
MAX_BODY), every size and `n` (no request takes more than ~0.2 s of CPU), the per-visitor
store (web/store.py), and the heavy endpoints, which share HEAVY_SLOTS worker threads so a
full room never makes a light request wait for a thread. Nothing is read from disk but
lib.rs (web/source.py) and the assets in web/assets/, by fixed names.
"""

from __future__ import annotations

import collections
import math
import os
import platform
import sys
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import anyio
import anyio.to_thread
import fastapi
import pydantic
import pydantic_core
from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

import rust_demo
from web import source
from web.store import MAX_VISITORS, Visitor, VisitorStore

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "assets"
if str(ROOT) not in sys.path:  # demo.py's Python peers, so page, demo and bench time the same
    sys.path.insert(0, str(ROOT))
from demo import (  # noqa: E402
    EXERCISE_OF,
    count_on_one_thread,
    py_count_primes,
    py_fibonacci,
    py_sieve,
    run_in_threads,
)
from demo import exercise_note as demo_exercise_note  # noqa: E402

T = TypeVar("T")

# --- caps: each keeps one request under ~0.2 s of CPU on a 2-core machine ----------------
MAX_BODY = 64 * 1024
BODY_SECONDS = 10.0  # a request body must arrive within this (else 408)
MAX_TEXT = 20_000  # characters, for the text functions
MAX_ITEMS = 10_000  # list lengths (a 64 KiB body holds fewer anyway)
MAX_WORD = 100  # characters per word or RingBuffer item
MAX_SIEVE = 2_000_000  # sieve_of_eratosthenes(n): ~10 ms in Rust
MAX_COUNT = 200_000_000  # count_primes(n): ~0.12 s of CPU in Rust, whatever `threads`
MAX_RACE_SIEVE = 200_000  # the sieve race runs the pure-Python sieve (~30 ms) too
MAX_PY_LOAD = 600_000  # the pure-Python load of "Why the GIL matters" (~0.1 s)
MAX_RACE_SIZE = 100_000  # sum_list / word_frequencies races
MAX_WINDOW = 1_000
MAX_CAPACITY = 64
CORES = os.cpu_count() or 1
MAX_THREADS = min(CORES, 8)
# Heavy requests run on their own worker threads, at most this many at once; the rest
# wait in the event loop (holding no thread) up to MAX_WAITING, then get 503.
HEAVY_SLOTS = max(1, CORES - 1)
MAX_WAITING = 256
TIMING_BUDGET = 0.03  # seconds of timed calls per function in a race
PARALLEL_RUST_N = 20_000_000  # one count_primes task of the parallelism section (~10 ms)
PARALLEL_PY_N = 60_000  # one pure-Python sieve task of it (~8 ms)

GUIDE = {
    "simple": "Building Your First Function",
    "collections": "Type Conversions Deep Dive",
    "errors": "Error Handling: Rust Errors → Python Exceptions",
    "moving-average": "Creating Python Classes in Rust",
    "ring-buffer": "Creating Python Classes in Rust",
    "counter": "Exercise 3: Create a Counter Class",
    "performance": "Exercise 4: Performance Experiment",
    "parallelism": "Why Rust for Python Extensions? (True parallelism)",
    "overhead": "When to Use Rust Extensions (The overhead consideration)",
    "gil": "Why Rust for Python Extensions? (True parallelism)",
}


# --- errors --------------------------------------------------------------------------------


class ErrorResponse(BaseModel):
    """Any 4xx/503 of this API but 422: `detail` is what Python would print."""

    detail: str = Field(examples=["ValueError: Division by zero"])
    exception: str | None = Field(None, description="the Python exception type, if any")
    message: str = Field("", description="the exception's message")


class ApiError(Exception):
    """An error answered as ErrorResponse with `status`."""

    def __init__(self, status: int, detail: str, exception: str | None = None, message: str = ""):
        super().__init__(detail)
        self.status, self.detail, self.exception, self.message = status, detail, exception, message


def json_safe(value: Any) -> Any:
    """`value` with what JSON cannot carry (NaN, infinities, lone surrogates) spelled out.

    A 422 echoes the rejected input, and Python's json module takes `NaN`, `Infinity` and
    "\\ud800" in a request but cannot write them in a response: left as they are, the
    answer to such an input would be a 500.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def exercise_note(name: str, err: BaseException) -> str | None:
    """What is unfinished, when `err` comes from a workshop exercise in progress: demo.py's
    words, also for an AttributeError raised while calling the exercise's own `name`."""
    if isinstance(err, AttributeError) and name in EXERCISE_OF:
        return demo_exercise_note(AttributeError(name))
    return demo_exercise_note(err)


def call(name: str, func: Callable[..., T], *args: Any) -> T:
    """func(*args), with an exception of the module turned into a 400 that names it."""
    try:
        return func(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # PanicException is a BaseException
        note = exercise_note(name, err)
        if note is not None:
            raise ApiError(404 if isinstance(err, AttributeError) else 400, note) from None
        kind = type(err).__name__
        raise ApiError(400, f"{kind}: {err}", kind, str(err)) from None


def module_attr(name: str) -> Callable[..., Any]:
    """rust_demo.<name>, or a 404 naming the exercise that provides it."""
    try:
        return getattr(rust_demo, name)  # type: ignore[no-any-return]
    except AttributeError as err:
        note = exercise_note(name, err) or f"rust_demo has no {name}"
        raise ApiError(404, note) from None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the module raised: 'Type: message'"},
    404: {"model": ErrorResponse, "description": "unknown or expired visitor; missing item"},
    408: {
        "model": ErrorResponse,
        "description": f"request body not sent within {BODY_SECONDS:g} s",
    },
    413: {"model": ErrorResponse, "description": f"request body over {MAX_BODY} bytes"},
    503: {"model": ErrorResponse, "description": "every heavy slot busy; try again"},
}


# --- the request body limit, before any parsing -----------------------------------------


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 and is never parsed.

    The body is read here (at most limit + one chunk) and handed on whole, so a missing or
    false Content-Length changes nothing. It must arrive within `seconds` (else 408): uvicorn
    has no such limit, and a body trickled a byte at a time would hold its connection, and a
    file descriptor, for as long as its sender likes.
    """

    def __init__(self, app: Any, limit: int = MAX_BODY, seconds: float = BODY_SECONDS):
        self.app, self.limit, self.seconds = app, limit, seconds

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        too_big = not declared.isdigit() or int(declared) > self.limit
        chunks: list[bytes] = []
        size = 0
        more = not too_big
        with anyio.move_on_after(self.seconds) as deadline:
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > self.limit:
                    too_big = True
                    break
        if deadline.cancelled_caught:
            response = JSONResponse(
                {
                    "detail": f"Request body not received within {self.seconds:g} s",
                    "exception": None,
                },
                status_code=408,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if too_big:
            response = JSONResponse(
                {"detail": f"Request body larger than {self.limit} bytes", "exception": None},
                status_code=413,
            )
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        await self.app(scope, replay, send)


# --- live figures for the page ------------------------------------------------------------


class Stats:
    """Request counts and the heavy queue, for the page's live line."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests = 0
        self.api_requests = 0
        self.heavy_running = 0
        self.heavy_waiting = 0
        self.busy_refusals = 0
        self.lock = threading.Lock()


# --- request and response models -----------------------------------------------------------


def json_number(value: object) -> object:
    """Reject a JSON string or boolean where a number is declared ("2" and true are not 2).

    Anything else goes on to pydantic's lax int/float, which takes 420.0 as 420, as JSON
    Schema's "integer" does.
    """
    if isinstance(value, (str, bool)):
        raise ValueError("a JSON number is required")
    return value


# After the constraints, so that they show in the schema as JSON Schema's minimum/maximum.
NUMBER = BeforeValidator(json_number)
Small = Annotated[int, Field(ge=-(10**6), le=10**6), NUMBER]
# Past the 64-bit range, so that sum_list's OverflowError can be reached.
Int64ish = Annotated[int, Field(ge=-(10**19), le=10**19), NUMBER]
Finite = Annotated[float, Field(allow_inf_nan=False), NUMBER]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Word = Annotated[str, Field(max_length=MAX_WORD)]
Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Item = Union[Annotated[int, Field(ge=-(10**15), le=10**15), NUMBER], Word]


class StrictBody(BaseModel):
    """A request body: no unknown fields."""

    model_config = ConfigDict(extra="forbid")


class NRequest(StrictBody):
    n: Small = Field(description="an int; the module raises for what it cannot take")


class TextRequest(StrictBody):
    text: Text


class ItemsRequest(StrictBody):
    items: list[Int64ish] = Field(max_length=MAX_ITEMS)


class WordsRequest(StrictBody):
    words: list[Word] = Field(max_length=MAX_ITEMS)


class DivideRequest(StrictBody):
    a: Finite
    b: Finite


class ParseRequest(StrictBody):
    s: Annotated[str, Field(max_length=MAX_WORD)]


class SieveRequest(StrictBody):
    n: Annotated[int, Field(ge=-(10**6), le=MAX_SIEVE), NUMBER]


class CountPrimesRequest(StrictBody):
    n: Annotated[int, Field(ge=-(10**6), le=MAX_COUNT), NUMBER]
    threads: Annotated[int, Field(ge=-8, le=MAX_THREADS), NUMBER] | None = None


class PyLoadRequest(StrictBody):
    n: Annotated[int, Field(ge=0, le=MAX_PY_LOAD), NUMBER]


class Result(BaseModel):
    """What the call returned, and its repr() as the Python REPL shows it."""

    call: str
    repr: str


class IntResult(Result):
    result: int


class BoolResult(Result):
    result: bool


class FloatResult(Result):
    result: float | None = Field(description="None where JSON has no such number (inf)")


class ListResult(Result):
    result: list[int]


class DictResult(Result):
    result: dict[str, int]


class SieveResult(Result):
    count: int
    first: list[int]
    last: list[int]


class VisitorRequest(StrictBody):
    visitor: Token


class VisitorResponse(BaseModel):
    visitor: str
    idle_expiry_s: int
    max_visitors: int


class WindowRequest(VisitorRequest):
    window_size: Annotated[int, Field(ge=-(10**6), le=MAX_WINDOW), NUMBER]


class ValueRequest(VisitorRequest):
    value: Finite


class CapacityRequest(VisitorRequest):
    capacity: Annotated[int, Field(ge=-(10**6), le=MAX_CAPACITY), NUMBER]


class ItemRequest(VisitorRequest):
    item: Item


class ItemListRequest(VisitorRequest):
    items: list[Item] = Field(max_length=MAX_CAPACITY * 4)


class IndexRequest(VisitorRequest):
    index: Small


class MovingAverageState(BaseModel):
    call: str
    repr: str
    result: float | int | None
    window_size: int
    values: list[float]
    average: float
    count: int


class RingBufferState(BaseModel):
    call: str
    repr: str
    result: Item | bool | list[Item] | None
    capacity: int
    items: list[Item]


class CounterState(BaseModel):
    call: str
    repr: str
    result: int | None
    value: int


class Timing(BaseModel):
    name: str
    seconds: float = Field(description="best of several runs, per call")


class RaceResult(BaseModel):
    workload: str
    rust: Timing
    peers: list[Timing]
    same_result: bool


class RaceSieveRequest(StrictBody):
    n: Annotated[int, Field(ge=2, le=MAX_RACE_SIEVE), NUMBER]


class RaceSizeRequest(StrictBody):
    size: Annotated[int, Field(ge=1, le=MAX_RACE_SIZE), NUMBER]


class RaceFibRequest(StrictBody):
    n: Annotated[int, Field(ge=0, le=93), NUMBER]


class ParallelRequest(StrictBody):
    threads: Annotated[int, Field(ge=1, le=MAX_THREADS), NUMBER]


class ParallelPoint(BaseModel):
    threads: int
    rust_sequential_s: float
    rust_threads_s: float
    python_sequential_s: float
    python_threads_s: float
    rust_one_call_s: float


class ParallelResult(BaseModel):
    rust_task: str
    python_task: str
    cores: int
    points: list[ParallelPoint]


class OverheadRequest(StrictBody):
    size: Annotated[int, Field(ge=1, le=MAX_ITEMS), NUMBER]


class OverheadResult(BaseModel):
    size: int
    ring_buffer_push_s: float
    ring_buffer_extend_s: float
    deque_append_s: float
    deque_extend_s: float


class Info(BaseModel):
    version: str
    build_profile: str
    debug_build_warning: str | None
    python: str
    fastapi: str
    pydantic: str
    pydantic_core: str
    cores: int
    heavy_slots: int
    url: str
    lan: bool
    guide: dict[str, str]
    caps: dict[str, int]


class BuildInfo(BaseModel):
    """rust_demo.build_info(): how the module serving this page was built."""

    profile: str
    opt_level: str
    debug_assertions: bool
    abi3: str | None
    free_threaded: bool
    pyo3: str


class StatsResponse(BaseModel):
    uptime_s: float
    requests: int
    api_requests: int
    visitors: int
    max_visitors: int
    heavy_running: int
    heavy_waiting: int
    busy_refusals: int


class SourceResponse(BaseModel):
    item: str
    found: bool
    file: str
    first_line: int
    html: str
    note: str


# --- helpers -----------------------------------------------------------------------------


def build_profile() -> str:
    """The profile rust_demo was built with, where the module can say (build_info())."""
    info = getattr(rust_demo, "build_info", None)
    if not callable(info):
        return "unknown"
    try:
        value = info()
    except Exception:
        return "unknown"
    if isinstance(value, dict):
        value = value.get("profile", "unknown")
    return str(value)


def best_time(func: Callable[[], object], budget: float = TIMING_BUDGET) -> float:
    """Seconds per call: the best of up to 5 rounds, within about `budget` seconds."""
    timer = timeit.Timer(func)
    first = timer.timeit(1)
    number = max(1, min(100_000, int(budget / 5 / max(first, 1e-7))))
    best = first
    spent = first
    for _ in range(5):
        if spent > budget:
            break
        took = timer.timeit(number)
        spent += took
        best = min(best, took / number)
    return best


def shorten(text: str, limit: int = 200) -> str:
    """`text`, cut to `limit` characters with an ellipsis in the middle."""
    if len(text) <= limit:
        return text
    half = limit // 2 - 2
    return f"{text[:half]} ... {text[-half:]}"


def finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def sequential_wall(func: Callable[[int], object], n: int, times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        func(n)
    return time.perf_counter() - start


def create_app(
    url: str = "http://127.0.0.1:8000", lan: bool = False, max_visitors: int = MAX_VISITORS
) -> FastAPI:
    """The app; `url` is where the audience finds it (shown on the page and as a QR code)."""
    app = FastAPI(
        title="rust_demo",
        description=(
            "rust_demo's functions and classes as typed endpoints: Rust for compute, Python "
            "for the web. The module's errors come back as 400 with the Python exception."
        ),
        version=rust_demo.__version__,
    )
    store = VisitorStore(max_visitors)
    stats = Stats()
    heavy = anyio.CapacityLimiter(HEAVY_SLOTS)
    page = (ASSETS / "index.html").read_text(encoding="utf-8")
    script = (ASSETS / "app.js").read_text(encoding="utf-8")
    style = (ASSETS / "style.css").read_text(encoding="utf-8") + "\n" + source.STYLE_CSS
    app.state.store, app.state.stats = store, stats

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        body = ErrorResponse(detail=err.detail, exception=err.exception, message=err.message)
        return JSONResponse(body.model_dump(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, with the echoed input made JSON-safe (json_safe says why).
        return JSONResponse({"detail": json_safe(jsonable_encoder(err.errors()))}, status_code=422)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        with stats.lock:
            stats.requests += 1
            stats.api_requests += request.url.path.startswith("/api/")
        return await call_next(request)

    async def run_heavy(func: Callable[..., T], *args: Any) -> T:
        """func(*args) on one of the HEAVY_SLOTS threads; waits without holding a thread."""
        with stats.lock:
            if stats.heavy_waiting >= MAX_WAITING:
                stats.busy_refusals += 1
                raise ApiError(503, "Every heavy slot is busy: try again in a moment")
            stats.heavy_waiting += 1
        started = False

        def work() -> T:
            nonlocal started
            with stats.lock:
                started = True
                stats.heavy_waiting -= 1
                stats.heavy_running += 1
            try:
                return func(*args)
            finally:
                with stats.lock:
                    stats.heavy_running -= 1

        try:
            # Its own limiter: waiting for it holds no thread, and the default thread pool
            # stays free for the light requests.
            return await anyio.to_thread.run_sync(work, limiter=heavy)
        finally:
            with stats.lock:
                if not started:  # cancelled (the client went away) before a slot was free
                    stats.heavy_waiting -= 1

    def visitor_of(token: str) -> Visitor:
        visitor = store.get(token)
        if visitor is None:
            raise ApiError(404, "Unknown or expired visitor: POST /api/visitor for a new one")
        return visitor

    # --- the page and its assets (fixed names, held in memory) ---------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/assets/app.js", include_in_schema=False)
    def app_js() -> Response:
        return Response(script, media_type="text/javascript")

    @app.get("/assets/style.css", include_in_schema=False)
    def style_css() -> Response:
        return Response(style, media_type="text/css")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/qr.svg", include_in_schema=False)
    def qr_svg() -> Response:
        import segno

        svg = segno.make(url, error="m").svg_inline(scale=5, dark="#111", light="#fff")
        return Response(svg, media_type="image/svg+xml")

    @app.get("/api/info", response_model=Info, summary="the build, the caps, the guide")
    def info() -> Info:
        profile = build_profile()
        warning = None
        if profile in ("debug", "dev"):
            warning = (
                "rust_demo is a debug build: Rust timings are several times slower than "
                "release. Rebuild with python3 scripts/dev.py serve (it builds release)."
            )
        elif profile == "unknown":
            warning = (
                "This rust_demo cannot say how it was built (no build_info()): "
                "python3 scripts/dev.py serve builds release."
            )
        return Info(
            version=rust_demo.__version__,
            build_profile=profile,
            debug_build_warning=warning,
            python=platform.python_version(),
            fastapi=fastapi.__version__,
            pydantic=pydantic.VERSION,
            pydantic_core=pydantic_core.__version__,
            cores=CORES,
            heavy_slots=HEAVY_SLOTS,
            url=url,
            lan=lan,
            guide=GUIDE,
            caps={
                "max_body": MAX_BODY,
                "max_items": MAX_ITEMS,
                "max_text": MAX_TEXT,
                "max_sieve": MAX_SIEVE,
                "max_count_primes": MAX_COUNT,
                "max_race_sieve": MAX_RACE_SIEVE,
                "max_py_load": MAX_PY_LOAD,
                "max_race_size": MAX_RACE_SIZE,
                "max_window": MAX_WINDOW,
                "max_capacity": MAX_CAPACITY,
                "max_threads": MAX_THREADS,
                "max_visitors": MAX_VISITORS,
            },
        )

    @app.get(
        "/api/build_info",
        response_model=BuildInfo,
        responses=ERRORS,
        summary="rust_demo.build_info(): how the module was built",
    )
    def build_info() -> BuildInfo:
        return BuildInfo(**call("build_info", module_attr("build_info")))

    @app.get("/api/stats", response_model=StatsResponse, summary="live request counts")
    def live_stats() -> StatsResponse:
        with stats.lock:
            return StatsResponse(
                uptime_s=round(time.monotonic() - stats.started, 1),
                requests=stats.requests,
                api_requests=stats.api_requests,
                visitors=len(store),
                max_visitors=store.max_visitors,
                heavy_running=stats.heavy_running,
                heavy_waiting=stats.heavy_waiting,
                busy_refusals=stats.busy_refusals,
            )

    @app.get("/api/source", response_model=SourceResponse, summary="an item of lib.rs, now")
    def lib_rs_source(
        item: Annotated[Literal[source.ITEMS], Query()],  # type: ignore[valid-type]
    ) -> SourceResponse:
        found = source.snippet(item)
        return SourceResponse(
            item=item,
            found=found.found,
            file="lib.rs",
            first_line=found.first_line,
            html=found.html,
            note=found.note,
        )

    # --- 1-3: functions ---------------------------------------------------------------------

    @app.post("/api/fibonacci", response_model=IntResult, responses=ERRORS)
    def fibonacci(req: NRequest) -> IntResult:
        result = call("fibonacci", rust_demo.fibonacci, req.n)
        return IntResult(call=f"fibonacci({req.n})", result=result, repr=repr(result))

    @app.post("/api/count_unique_words", response_model=IntResult, responses=ERRORS)
    def count_unique_words(req: TextRequest) -> IntResult:
        result = call("count_unique_words", rust_demo.count_unique_words, req.text)
        return IntResult(
            call=shorten(f"count_unique_words({req.text!r})"), result=result, repr=repr(result)
        )

    @app.post("/api/is_palindrome", response_model=BoolResult, responses=ERRORS)
    def is_palindrome(req: TextRequest) -> BoolResult:
        result = call("is_palindrome", rust_demo.is_palindrome, req.text)
        return BoolResult(
            call=shorten(f"is_palindrome({req.text!r})"), result=result, repr=repr(result)
        )

    @app.post("/api/sum_list", response_model=IntResult, responses=ERRORS)
    def sum_list(req: ItemsRequest) -> IntResult:
        result = call("sum_list", rust_demo.sum_list, req.items)
        return IntResult(call=shorten(f"sum_list({req.items!r})"), result=result, repr=repr(result))

    @app.post("/api/filter_positive", response_model=ListResult, responses=ERRORS)
    def filter_positive(req: ItemsRequest) -> ListResult:
        result = call("filter_positive", rust_demo.filter_positive, req.items)
        return ListResult(
            call=shorten(f"filter_positive({req.items!r})"), result=result, repr=repr(result)
        )

    @app.post("/api/word_frequencies", response_model=DictResult, responses=ERRORS)
    def word_frequencies(req: WordsRequest) -> DictResult:
        result = call("word_frequencies", rust_demo.word_frequencies, req.words)
        return DictResult(
            call=shorten(f"word_frequencies({req.words!r})"), result=result, repr=repr(result)
        )

    @app.post("/api/safe_divide", response_model=FloatResult, responses=ERRORS)
    def safe_divide(req: DivideRequest) -> FloatResult:
        result = call("safe_divide", rust_demo.safe_divide, req.a, req.b)
        return FloatResult(
            call=f"safe_divide({req.a!r}, {req.b!r})",
            result=finite_or_none(result),
            repr=repr(result),
        )

    @app.post("/api/safe_parse_int", response_model=IntResult, responses=ERRORS)
    def safe_parse_int(req: ParseRequest) -> IntResult:
        result = call("safe_parse_int", rust_demo.safe_parse_int, req.s)
        return IntResult(call=f"safe_parse_int({req.s!r})", result=result, repr=repr(result))

    @app.post("/api/factorial", response_model=IntResult, responses=ERRORS)
    def factorial(req: NRequest) -> IntResult:
        result = call("factorial", module_attr("factorial"), req.n)
        return IntResult(call=f"factorial({req.n})", result=result, repr=repr(result))

    # --- 7-8: the sieve and count_primes (heavy) --------------------------------------------

    def sieve_result(n: int) -> SieveResult:
        primes = call("sieve_of_eratosthenes", module_attr("sieve_of_eratosthenes"), n)
        shown = f"[{', '.join(map(str, primes[:5]))}{', ...' if len(primes) > 5 else ''}]"
        return SieveResult(
            call=f"sieve_of_eratosthenes({n})",
            repr=f"{shown}  # {len(primes):,} primes",
            count=len(primes),
            first=primes[:20],
            last=primes[-20:],
        )

    @app.post("/api/sieve_of_eratosthenes", response_model=SieveResult, responses=ERRORS)
    async def sieve_of_eratosthenes(req: SieveRequest) -> SieveResult:
        return await run_heavy(sieve_result, req.n)

    def count_primes_result(n: int, threads: int | None) -> IntResult:
        args = (n,) if threads is None else (n, threads)
        result = call("count_primes", rust_demo.count_primes, *args)
        text = f"count_primes({n})" if threads is None else f"count_primes({n}, threads={threads})"
        return IntResult(call=text, result=result, repr=repr(result))

    @app.post("/api/count_primes", response_model=IntResult, responses=ERRORS)
    async def count_primes(req: CountPrimesRequest) -> IntResult:
        return await run_heavy(count_primes_result, req.n, req.threads)

    @app.post(
        "/api/python/count_primes",
        response_model=IntResult,
        responses=ERRORS,
        summary="the guide's pure-Python sieve: the load of 'Why the GIL matters'",
    )
    async def python_count_primes(req: PyLoadRequest) -> IntResult:
        result = await run_heavy(py_count_primes, req.n)
        return IntResult(call=f"len(py_sieve({req.n}))", result=result, repr=repr(result))

    # --- 4-6: a visitor's objects -------------------------------------------------------------

    @app.post("/api/visitor", response_model=VisitorResponse, summary="a new visitor")
    def new_visitor() -> VisitorResponse:
        return VisitorResponse(
            visitor=store.create(),
            idle_expiry_s=int(store.idle_seconds),
            max_visitors=store.max_visitors,
        )

    def ma_state(text: str, ma: rust_demo.MovingAverage, result: Any = None) -> MovingAverageState:
        _, (window_size,), values = ma.__reduce__()
        return MovingAverageState(
            call=text,
            repr=repr(ma) if result is None else repr(result),
            result=result,
            window_size=window_size,
            values=values,
            average=ma.average(),
            count=ma.count(),
        )

    def ma_route(path: str, summary: str) -> Callable:
        return app.post(
            f"/api/moving_average/{path}",
            response_model=MovingAverageState,
            responses=ERRORS,
            summary=summary,
        )

    @ma_route("new", "ma = MovingAverage(window_size)")
    def moving_average_new(req: WindowRequest) -> MovingAverageState:
        visitor = visitor_of(req.visitor)
        visitor.moving_average = call("MovingAverage", rust_demo.MovingAverage, req.window_size)
        return ma_state(f"MovingAverage({req.window_size})", visitor.moving_average)

    @ma_route("add", "ma.add(value)")
    def moving_average_add(req: ValueRequest) -> MovingAverageState:
        ma = visitor_of(req.visitor).moving_average
        return ma_state(f"ma.add({req.value!r})", ma, call("add", ma.add, req.value))

    @ma_route("average", "ma.average()")
    def moving_average_average(req: VisitorRequest) -> MovingAverageState:
        ma = visitor_of(req.visitor).moving_average
        return ma_state("ma.average()", ma, ma.average())

    @ma_route("count", "ma.count()")
    def moving_average_count(req: VisitorRequest) -> MovingAverageState:
        ma = visitor_of(req.visitor).moving_average
        return ma_state("ma.count()", ma, ma.count())

    @ma_route("clear", "ma.clear()")
    def moving_average_clear(req: VisitorRequest) -> MovingAverageState:
        ma = visitor_of(req.visitor).moving_average
        ma.clear()
        return ma_state("ma.clear()", ma)

    def rb_state(
        text: str, rb: rust_demo.RingBuffer, result: Any = None, shown: str = ""
    ) -> RingBufferState:
        return RingBufferState(
            call=text,
            repr=shown or (repr(rb) if result is None else repr(result)),
            result=result,
            capacity=rb.capacity,
            items=rb.to_list(),
        )

    def rb_route(path: str, summary: str) -> Callable:
        return app.post(
            f"/api/ring_buffer/{path}",
            response_model=RingBufferState,
            responses=ERRORS,
            summary=summary,
        )

    @rb_route("new", "rb = RingBuffer(capacity)")
    def ring_buffer_new(req: CapacityRequest) -> RingBufferState:
        visitor = visitor_of(req.visitor)
        visitor.ring_buffer = call("RingBuffer", rust_demo.RingBuffer, req.capacity)
        return rb_state(f"RingBuffer({req.capacity})", visitor.ring_buffer)

    @rb_route("push", "rb.push(item)")
    def ring_buffer_push(req: ItemRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        call("push", rb.push, req.item)
        return rb_state(f"rb.push({req.item!r})", rb)

    @rb_route("extend", "rb.extend(items)")
    def ring_buffer_extend(req: ItemListRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        call("extend", rb.extend, req.items)
        return rb_state(shorten(f"rb.extend({req.items!r})"), rb)

    @rb_route("pop", "rb.pop(): the oldest item")
    def ring_buffer_pop(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        item = call("pop", rb.pop)
        return rb_state("rb.pop()", rb, item, repr(item))

    @rb_route("clear", "rb.clear()")
    def ring_buffer_clear(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        rb.clear()
        return rb_state("rb.clear()", rb)

    @rb_route("is_full", "rb.is_full()")
    def ring_buffer_is_full(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        return rb_state("rb.is_full()", rb, rb.is_full())

    @rb_route("to_list", "rb.to_list()")
    def ring_buffer_to_list(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        return rb_state("rb.to_list()", rb, rb.to_list())

    @rb_route("iter", "list(rb): iteration, oldest to newest")
    def ring_buffer_iter(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        items = call("__iter__", lambda: list(rb))
        return rb_state("list(rb)", rb, items)

    @rb_route("len", "len(rb)")
    def ring_buffer_len(req: VisitorRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        return rb_state("len(rb)", rb, len(rb))

    @rb_route("getitem", "rb[index]: 0 is the oldest, -1 the newest")
    def ring_buffer_getitem(req: IndexRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        item = call("__getitem__", rb.__getitem__, req.index)
        return rb_state(f"rb[{req.index}]", rb, item, repr(item))

    @rb_route("contains", "item in rb")
    def ring_buffer_contains(req: ItemRequest) -> RingBufferState:
        rb = visitor_of(req.visitor).ring_buffer
        return rb_state(f"{req.item!r} in rb", rb, req.item in rb)

    def counter_of(token: str) -> Any:
        visitor = visitor_of(token)
        if visitor.counter is None:
            visitor.counter = call("Counter", module_attr("Counter"))
        return visitor.counter

    def counter_state(text: str, counter: Any, result: int | None = None) -> CounterState:
        value = call("value", counter.value)
        shown = repr(counter) if result is None else repr(result)
        return CounterState(call=text, repr=shown, result=result, value=value)

    def counter_route(path: str, summary: str) -> Callable:
        return app.post(
            f"/api/counter/{path}", response_model=CounterState, responses=ERRORS, summary=summary
        )

    @counter_route("new", "c = Counter()")
    def counter_new(req: VisitorRequest) -> CounterState:
        visitor = visitor_of(req.visitor)
        visitor.counter = call("Counter", module_attr("Counter"))
        return counter_state("Counter()", visitor.counter)

    @counter_route("increment", "c.increment()")
    def counter_increment(req: VisitorRequest) -> CounterState:
        counter = counter_of(req.visitor)
        call("increment", lambda: counter.increment())
        return counter_state("c.increment()", counter)

    @counter_route("decrement", "c.decrement()")
    def counter_decrement(req: VisitorRequest) -> CounterState:
        counter = counter_of(req.visitor)
        call("decrement", lambda: counter.decrement())
        return counter_state("c.decrement()", counter)

    @counter_route("value", "c.value()")
    def counter_value(req: VisitorRequest) -> CounterState:
        counter = counter_of(req.visitor)
        return counter_state("c.value()", counter, call("value", counter.value))

    @counter_route("reset", "c.reset()")
    def counter_reset(req: VisitorRequest) -> CounterState:
        counter = counter_of(req.visitor)
        call("reset", lambda: counter.reset())
        return counter_state("c.reset()", counter)

    # --- timings: Rust against its Python peers, measured here (heavy) ------------------------

    def race(
        workload: str, rust: Callable[[], object], peers: dict[str, Callable[[], object]]
    ) -> RaceResult:
        expected = call(workload, rust)
        same = all(peer() == expected for peer in peers.values())
        return RaceResult(
            workload=workload,
            rust=Timing(name="rust_demo", seconds=best_time(rust)),
            peers=[Timing(name=name, seconds=best_time(peer)) for name, peer in peers.items()],
            same_result=same,
        )

    @app.post("/api/race/fibonacci", response_model=RaceResult, responses=ERRORS)
    async def race_fibonacci(req: RaceFibRequest) -> RaceResult:
        n = req.n
        return await run_heavy(
            race,
            f"fibonacci({n})",
            lambda: rust_demo.fibonacci(n),
            {"Python loop": lambda: py_fibonacci(n)},
        )

    @app.post("/api/race/sum_list", response_model=RaceResult, responses=ERRORS)
    async def race_sum_list(req: RaceSizeRequest) -> RaceResult:
        items = list(range(req.size))

        def loop() -> int:
            total = 0
            for item in items:
                total += item
            return total

        return await run_heavy(
            race,
            f"sum_list(list(range({req.size:,})))",
            lambda: rust_demo.sum_list(items),
            {"builtin sum()": lambda: sum(items), "Python for-loop": loop},
        )

    @app.post("/api/race/word_frequencies", response_model=RaceResult, responses=ERRORS)
    async def race_word_frequencies(req: RaceSizeRequest) -> RaceResult:
        vocabulary = ["apple", "Banana", "APPLE", "cherry", "banana", "Cherry", "date"]
        words = [vocabulary[i % len(vocabulary)] + str(i % 500) for i in range(req.size)]
        return await run_heavy(
            race,
            f"word_frequencies({req.size:,} words)",
            lambda: rust_demo.word_frequencies(words),
            {"Counter(map(str.lower, words))": lambda: collections.Counter(map(str.lower, words))},
        )

    @app.post("/api/race/sieve", response_model=RaceResult, responses=ERRORS)
    async def race_sieve(req: RaceSieveRequest) -> RaceResult:
        n = req.n
        sieve = module_attr("sieve_of_eratosthenes")
        return await run_heavy(
            race,
            f"sieve_of_eratosthenes({n:,})",
            lambda: sieve(n),
            {"Python sieve": lambda: py_sieve(n)},
        )

    def parallel_points(threads: int) -> ParallelResult:
        points = []
        for t in range(1, threads + 1):
            rust_one = sequential_wall(count_on_one_thread, PARALLEL_RUST_N, t)
            rust_many = run_in_threads(count_on_one_thread, PARALLEL_RUST_N, t)
            py_one = sequential_wall(py_count_primes, PARALLEL_PY_N, t)
            py_many = run_in_threads(py_count_primes, PARALLEL_PY_N, t)
            start = time.perf_counter()
            call("count_primes", rust_demo.count_primes, PARALLEL_RUST_N * t, t)
            one_call = time.perf_counter() - start
            points.append(
                ParallelPoint(
                    threads=t,
                    rust_sequential_s=rust_one,
                    rust_threads_s=rust_many,
                    python_sequential_s=py_one,
                    python_threads_s=py_many,
                    rust_one_call_s=one_call,
                )
            )
        return ParallelResult(
            rust_task=f"count_primes({PARALLEL_RUST_N:,}, threads=1)",
            python_task=f"len(py_sieve({PARALLEL_PY_N:,}))",
            cores=CORES,
            points=points,
        )

    @app.post("/api/parallelism", response_model=ParallelResult, responses=ERRORS)
    async def parallelism(req: ParallelRequest) -> ParallelResult:
        return await run_heavy(parallel_points, req.threads)

    def overhead_result(size: int) -> OverheadResult:
        items = list(range(size))
        rb = rust_demo.RingBuffer(size)
        dq: collections.deque[int] = collections.deque(maxlen=size)
        rb.extend(items)
        dq.extend(items)

        def each(add: Callable[[int], object]) -> None:
            for item in items:
                add(item)

        return OverheadResult(
            size=size,
            ring_buffer_push_s=best_time(lambda: each(rb.push)),
            ring_buffer_extend_s=best_time(lambda: rb.extend(items)),
            deque_append_s=best_time(lambda: each(dq.append)),
            deque_extend_s=best_time(lambda: dq.extend(items)),
        )

    @app.post("/api/overhead", response_model=OverheadResult, responses=ERRORS)
    async def overhead(req: OverheadRequest) -> OverheadResult:
        return await run_heavy(overhead_result, req.size)

    app.add_middleware(BodyLimit, limit=MAX_BODY)
    return app
