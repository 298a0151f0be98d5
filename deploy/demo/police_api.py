"""The demo county's police case systems as an HTTP API (a real server, standard library).

Serves ``exports/police/<unit code>/feedback.json`` of a generated demo county as
``GET /police/<unit code>/feedback?page=N&size=M&since=<updated_at>`` with a bearer token,
wrapped as ``{"data": {"items": [...], "page": N}}`` — the shape the ``police-feedback``
preset and the http connector kind expect. ``liangfa up`` runs it next to the connectors.

    python -m deploy.demo.police_api DEMO_DIR --port 8610 --token demo-police-token
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["DEMO_POLICE_TOKEN", "load_feedback", "make_server"]

DEMO_POLICE_TOKEN = "demo-police-token"  # noqa: S105 - a demo credential, printed in docs


def load_feedback(demo_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Feedback records per police unit code, ordered by ``updated_at``."""
    feeds: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((demo_dir / "exports" / "police").glob("*/feedback.json")):
        records = json.loads(path.read_text(encoding="utf-8"))
        feeds[path.parent.name] = sorted(records, key=lambda r: str(r.get("updated_at", "")))
    return feeds


def make_server(demo_dir: Path, port: int, token: str = DEMO_POLICE_TOKEN) -> ThreadingHTTPServer:
    """An HTTP server over the demo's feedback files (not started)."""
    feeds = load_feedback(demo_dir)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/health":
                self._send(200, {"status": "ok", "units": len(feeds)})
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                self._send(401, {"error": "unauthorised"})
                return
            parts = url.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "police" or parts[2] != "feedback":
                self._send(404, {"error": "not found"})
                return
            records = feeds.get(parts[1])
            if records is None:
                self._send(404, {"error": f"unknown police unit {parts[1]}"})
                return
            query = parse_qs(url.query)
            page = max(1, int(query.get("page", ["1"])[0]))
            size = min(1000, max(1, int(query.get("size", ["100"])[0])))
            since = query.get("since", [""])[0]
            chosen = [r for r in records if not since or str(r.get("updated_at", "")) > since]
            self._send(
                200, {"data": {"items": chosen[(page - 1) * size : page * size], "page": page}}
            )

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("demo_dir", type=Path)
    parser.add_argument("--port", type=int, default=8610)
    parser.add_argument("--token", default=DEMO_POLICE_TOKEN)
    args = parser.parse_args()
    server = make_server(args.demo_dir, args.port, args.token)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
