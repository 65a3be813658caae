"""Why the GIL matters, measured: light-request latency while 32 clients keep heavy ones busy.

    python -m web.loadtest [--clients 32] [--seconds 5]

Starts `serve.py` on a free 127.0.0.1 port, then for each load in turn (none; Rust's
count_primes at its cap; the guide's pure-Python sieve at its cap) runs the load clients
in a separate process (so their threads do not share this process's GIL) and times one
light request (fibonacci(40)) after another from here. bench/run.py prints the result as
its latency-under-load row. Standard library only (the server needs the `web` group).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The heavy requests of each load, at the API's caps (web/app.py's MAX_COUNT, MAX_PY_LOAD).
LOADS = {
    "none": None,
    "rust": ("/api/count_primes", {"n": 200_000_000, "threads": 1}),
    "python": ("/api/python/count_primes", {"n": 600_000}),
}
LIGHT = ("/api/fibonacci", {"n": 40})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(conn: http.client.HTTPConnection, path: str, body: dict) -> int:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def start_server(port: int) -> subprocess.Popen:
    """serve.py on 127.0.0.1:port, once it answers (30 s at most)."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "serve.py"), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/info")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            time.sleep(0.1)
        if server.poll() is not None:
            break
    server.kill()
    _, err = server.communicate()
    raise RuntimeError(f"serve.py did not answer on port {port}: {err.decode()[-2000:]}")


def run_load(port: int, kind: str, clients: int, seconds: float) -> None:
    """`clients` threads, each sending the load's heavy request after the last, for `seconds`.

    Prints one JSON line: requests done and their status codes.
    """
    load = LOADS[kind]
    assert load is not None
    path, body = load
    deadline = time.monotonic() + seconds
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            status = post(conn, path, body)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({str(k): v for k, v in statuses.items()}), flush=True)


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure(port: int, kind: str, clients: int, seconds: float) -> dict[str, object]:
    """Light-request latencies (ms) while the `kind` load runs; the heavy requests' statuses."""
    loader = None
    if LOADS[kind] is not None:
        loader = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.loadtest",
                "--load",
                kind,
                "--port",
                str(port),
                "--clients",
                str(clients),
                "--seconds",
                str(seconds + 1),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)  # every client has its first heavy request in
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        errors += post(conn, *LIGHT) != 200
        latencies.append((time.perf_counter() - start) * 1000)
    conn.close()
    heavy: dict[str, int] = {}
    if loader is not None:
        out, _ = loader.communicate(timeout=seconds + 120)
        heavy = json.loads(out.strip().splitlines()[-1])
    latencies.sort()
    return {
        "load": kind,
        "clients": clients if loader else 0,
        "light_requests": len(latencies),
        "light_errors": errors,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1],
        "heavy_statuses": heavy,
        "heavy_done": heavy.get("200", 0),
    }


def latency_under_load(clients: int = 32, seconds: float = 5.0) -> list[dict[str, object]]:
    """One result per load (none, rust, python), from one fresh server."""
    port = free_port()
    server = start_server(port)
    try:
        return [measure(port, kind, clients, seconds) for kind in LOADS]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--load", choices=[k for k, v in LOADS.items() if v], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load-generating child process
        run_load(args.port, args.load, args.clients, args.seconds)
        return
    for result in latency_under_load(args.clients, args.seconds):
        print(json.dumps(result))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
