"""The browser presentation against a real server: `python serve.py` on a free 127.0.0.1 port.

64 concurrent heavy requests, schemathesis (requests generated from /openapi.json), and a real
Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium) clicking through every
section. Each part is skipped, saying why, where its tools are missing.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web import app as web_app  # noqa: E402
from web.loadtest import free_port, start_server  # noqa: E402


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    number = free_port()
    server = start_server(number)
    yield number
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def post(port: int, path: str, body: dict, timeout: float = 120) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_64_concurrent_heavy_requests_all_answer(port):
    requests = [
        ("/api/sieve_of_eratosthenes", {"n": web_app.MAX_SIEVE}),
        ("/api/count_primes", {"n": 10**7}),
        ("/api/race/fibonacci", {"n": 90}),
        ("/api/python/count_primes", {"n": 10_000}),
    ] * 16
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send(path: str, body: dict) -> None:
        answer = post(port, path, body)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    # A light request is answered meanwhile (its speed is the bench's business).
    assert post(port, "/api/fibonacci", {"n": 10}) == (
        200,
        {"call": "fibonacci(10)", "repr": "55", "result": 55},
    )
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == 64
    assert [status for status, _ in results] == [200] * 64
    assert {body["count"] for _, body in results if "count" in body} == {148933}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/stats")
    stats = json.loads(conn.getresponse().read())
    assert (stats["heavy_running"], stats["heavy_waiting"], stats["busy_refusals"]) == (0, 0, 0)


def test_schemathesis_finds_no_5xx_and_no_schema_violation(port, tmp_path):
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.skip("skipped: schemathesis is not installed (the web-test dependency group)")
    result = subprocess.run(
        [
            schemathesis,
            "--config-file",
            str(ROOT / "tests" / "schemathesis.toml"),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "all",
            "-n",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its cache folder (.schemathesis/) goes there
    )
    summary = result.stdout[-3000:]
    print(summary)
    assert result.returncode == 0, summary
    assert "passed" in summary


def test_serve_py_says_what_is_missing(tmp_path):
    """No traceback: one line naming what to install or build."""
    for missing, hint in (("fastapi", "web` dependency"), ("rust_demo", "dev.py serve")):
        blocker = tmp_path / missing
        blocker.mkdir()
        (blocker / "__init__.py").write_text(
            f"raise ImportError('No module named {missing}', name={missing!r})\n"
        )
        result = subprocess.run(
            [sys.executable, str(ROOT / "serve.py"), "--port", "1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(
                os.environ,
                PYTHONPATH=os.pathsep.join(
                    filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
                ),
            ),
            check=False,
        )
        shutil.rmtree(blocker)
        assert result.returncode != 0
        assert hint in result.stderr and "Traceback" not in result.stderr, result.stderr


# --- a real browser --------------------------------------------------------------------------


def chromium_driver(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Headless Chromium through selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="skipped: selenium missing")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip(
            "skipped: Chromium and its driver are not installed (Debian/Ubuntu: "
            "apt-get install chromium chromium-driver; .ci/run does it on Linux as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium download a driver
    return webdriver.Chrome(options=options, service=service)


def test_every_section_works_in_chromium(port, tmp_path):
    driver = chromium_driver(tmp_path)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("RUST_DEMO_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(driver, 60)

    def section(name: str):  # type: ignore[no-untyped-def]
        element = driver.find_element(By.ID, f"sec-{name}")
        driver.execute_script("arguments[0].scrollIntoView()", element)
        return element

    def submit(element, selector: str, **values: str) -> None:  # type: ignore[no-untyped-def]
        form = element.find_element(By.CSS_SELECTOR, selector)
        for name, value in values.items():
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        form.find_element(By.CSS_SELECTOR, "button:not([type=button])").click()

    def click(element, action: str) -> None:  # type: ignore[no-untyped-def]
        element.find_element(By.CSS_SELECTOR, f"button[data-simple='{action}']").click()

    def shows(element_id: str, *texts: str) -> None:
        def found(_driver) -> bool:  # type: ignore[no-untyped-def]
            text = driver.find_element(By.ID, element_id).text
            return all(t in text for t in texts)

        wait.until(found, f"#{element_id} never showed {texts}")

    try:
        driver.get(f"http://127.0.0.1:{port}/?gil_seconds=1")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert "lib.rs, line" in driver.find_element(By.ID, "sec-simple").text

        s = section("simple")
        for form in ("fibonacci", "count_unique_words", "is_palindrome"):
            submit(s, f"form[data-call={form}]")
        shows("out-simple", "102334155", "\n9\n", "True")
        submit(s, "form[data-race=fibonacci]")
        shows("race-fibonacci", "Python loop", "same result")
        s.screenshot(str(shots / "1-simple.png"))

        s = section("collections")
        for form in ("sum_list", "filter_positive", "word_frequencies"):
            submit(s, f"form[data-call={form}]")
        shows("out-collections", "\n9\n", "[3, 4, 5, 2, 6]", "{'apple': 2, 'banana': 2}")
        submit(s, "form[data-race=sum_list]", size="10000")
        shows("race-sum_list", "builtin sum()", "same result")
        submit(s, "form[data-race=word_frequencies]", size="10000")
        shows("race-word_frequencies", "Counter", "same result")
        s.screenshot(str(shots / "2-collections.png"))

        s = section("errors")
        for form in ("safe_divide", "safe_parse_int", "factorial", "fibonacci"):
            submit(s, f"form[data-call={form}]")
        shows(
            "out-errors",
            "ValueError: Division by zero",
            "ValueError: Cannot parse 'abc'",
            "ValueError: Input too large (max 20)",
            "OverflowError: fibonacci(94)",
        )
        s.screenshot(str(shots / "3-errors.png"))

        s = section("moving-average")
        submit(s, "form[data-object='moving_average/new']", window_size="3")
        for value in ("10", "20", "30", "40"):
            submit(s, "form[data-object='moving_average/add']", value=value)
            shows("out-moving-average", f"ma.add({float(value)})")
        shows("out-moving-average", "ma.add(40.0)\n30.0")
        click(s, "moving_average/count")
        shows("out-moving-average", "ma.count()\n3")
        points = driver.find_elements(By.CSS_SELECTOR, "#ma-chart circle.value")
        assert len(points) == 4
        s.screenshot(str(shots / "4-moving-average.png"))

        s = section("ring-buffer")
        submit(s, "form[data-object='ring_buffer/new']", capacity="3")
        for item in ("1", "2", "3", "4", "5"):
            submit(s, "form[data-object='ring_buffer/push']", item=item)
            shows("out-ring-buffer", f"rb.push({item})")
        slots = [e.text.split("\n")[0] for e in driver.find_elements(By.CSS_SELECTOR, ".slot")]
        assert slots == ["3", "4", "5"]
        submit(s, "form[data-object='ring_buffer/getitem']", index="-1")
        shows("out-ring-buffer", "rb[-1]\n5")
        click(s, "ring_buffer/iter")
        shows("out-ring-buffer", "list(rb)\n[3, 4, 5]")
        click(s, "ring_buffer/pop")
        shows("out-ring-buffer", "rb.pop()\n3")
        s.screenshot(str(shots / "5-ring-buffer.png"))

        s = section("counter")
        for action in ("new", "increment", "increment", "decrement", "increment"):
            click(s, f"counter/{action}")
            shows("out-counter", f"c.{action}()" if action != "new" else "Counter()")
        click(s, "counter/value")
        shows("counter-value", "c.value() == 2")
        s.screenshot(str(shots / "6-counter.png"))

        s = section("performance")
        submit(s, "form[data-call=sieve_of_eratosthenes]")
        shows("out-performance", "25 primes")
        submit(s, "form[data-race=sieve]", n="100000")
        shows("race-sieve", "Python sieve", "same result")
        s.screenshot(str(shots / "7-performance.png"))

        s = section("parallelism")
        submit(s, "form[data-call=count_primes]", threads="1")
        shows("out-parallelism", "664579")
        submit(s, "#parallel-form", threads="1")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#parallel-chart rect.bar"))
        s.screenshot(str(shots / "8-parallelism.png"))

        s = section("overhead")
        submit(s, "#overhead-form", size="1000")
        shows("overhead-out", "deque.extend(items)", "RingBuffer.push(item) × 1000")
        s.screenshot(str(shots / "9-overhead.png"))

        s = section("gil")
        for kind in ("none", "rust", "python"):
            driver.find_element(By.ID, f"gil-{kind}").click()
            wait.until(lambda d, k=kind: d.find_elements(By.CSS_SELECTOR, f"tr.gil-{k}"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#gil-table tr")
        assert [r.get_attribute("class") for r in rows] == ["gil-none", "gil-rust", "gil-python"]
        s.screenshot(str(shots / "10-gil.png"))

        # Chromium logs each 4xx answer as a failed resource: only section 3's deliberate
        # exceptions may be among them, and there must be no JavaScript error at all.
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        errors = [e for e in severe if e["source"] != "network"]
        assert errors == [], errors
        expected = ("safe_divide", "safe_parse_int", "factorial", "fibonacci")
        failed = {e["message"].split(" - ")[0].rsplit("/", 1)[-1] for e in severe}
        assert failed <= set(expected), severe
        print(f"screenshots: {shots}")
    finally:
        driver.quit()
