"""Present rust_demo in the browser: a page with every section of demo.py, and a typed API.

    python serve.py                 # http://127.0.0.1:8000 (this computer only)
    python serve.py --lan           # every interface: the room opens it (URL + QR code)
    python serve.py --port 8080

`python3 scripts/dev.py serve` builds release, installs the `web` dependency group and runs
this. The page, the API and what keeps them safe to open to a room: docs/browser.md.
"""

from __future__ import annotations

import argparse
import socket
import sys


def lan_address() -> str:
    """This machine's address on the local network (no packet is sent), or 127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 1))  # a UDP connect only picks a route
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Present rust_demo in the browser.")
    parser.add_argument(
        "--lan", action="store_true", help="listen on every interface (the room's phones)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be within 1-65535")
    try:
        import rust_demo  # noqa: F401
    except ImportError:
        sys.exit(
            "serve.py: the rust_demo extension is not installed in this Python. "
            "Run: python3 scripts/dev.py serve  (or: maturin develop --release)"
        )
    try:
        import uvicorn

        from web.app import create_app
    except ImportError as err:
        sys.exit(
            f"serve.py: {err.name or err} is missing: the page needs the `web` dependency "
            "group. Run: python3 scripts/dev.py serve  (or: pip install --group web)"
        )
    host = "0.0.0.0" if args.lan else "127.0.0.1"
    url = f"http://{lan_address() if args.lan else '127.0.0.1'}:{args.port}/"
    app = create_app(url=url, lan=args.lan)
    print(f"rust_demo in the browser: {url}  (API docs: {url}docs; Ctrl-C stops)", flush=True)
    if args.lan:
        import segno

        segno.make(url, error="m").terminal(compact=True)
        print("Anyone on this network can open it: every input is capped (docs/browser.md).")
    uvicorn.run(app, host=host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
