"""bench/run.py smoke test: it runs and writes its outputs. No timing thresholds here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs_and_writes_json_and_plot(tmp_path):
    # `scripts/dev.py test` installs both (pyproject's bench group); a bare venv, like the
    # free-threaded CI job's, has neither.
    pytest.importorskip("numpy", reason="bench/run.py needs the bench dependency group")
    pytest.importorskip("matplotlib", reason="bench/run.py needs the bench dependency group")
    out_json, out_png = tmp_path / "bench.json", tmp_path / "speedup.png"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for workload in (
        "sieve_of_eratosthenes",
        "fibonacci(90)",
        "sum_list",
        "word_frequencies",
        "MovingAverage.add",
        "RingBuffer push + pop",
        "RingBuffer.extend",
        "scattered ints",
        "count_primes",
        "threads=2), one call",
    ):
        assert workload in result.stdout
    data = json.loads(out_json.read_text())
    assert len(data["rows"]) == 12
    try:  # the latency-under-load row needs the web dependency group
        import fastapi  # noqa: F401
    except ImportError:
        assert data["latency_under_load"] is None
    else:
        assert "Latency of a light request" in result.stdout
        latency = data["latency_under_load"]
        assert [r["load"] for r in latency] == ["none", "rust", "python"]
        assert all(r["light_errors"] == 0 and r["light_requests"] > 0 for r in latency)
    assert all(r["rust_s"] > 0 and r["ratios"] for r in data["rows"])
    assert out_png.read_bytes().startswith(b"\x89PNG")
