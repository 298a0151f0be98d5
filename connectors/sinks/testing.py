"""A unit's receiving endpoint for tests and drills: what a real case system does with
the sink's calls, in-process (``http.server`` on a thread).

It keeps one copy per ``Idempotency-Key`` (a second POST of a key is answered 200 and
stored nowhere), can answer 503 (or ``fail_status``) to the first calls (a system
restarting, a token expired), refuse chosen events with 422 (a record the system's
validation rejects) and take its time per call (so a test can kill the sink mid-inbox).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hub.models import CaseEvent, CaseReferred
from hub.models.examples import example_events

__all__ = ["ReceivingServer", "inbox_events"]


class ReceivingServer:
    """``POST /inbox``; ``stored`` holds one document per idempotency key, in order."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 503,
                 refuse: frozenset[str] = frozenset(), delay_seconds: float = 0.0,
                 tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) to answer over HTTPS, as a unit's system does."""
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.refuse = refuse
        self.delay_seconds = delay_seconds
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key") or ""
                time.sleep(server.delay_seconds)
                with server._lock:
                    server.calls.append(key)
                    if len(server.calls) <= server.fail_first:
                        return self._answer(server.fail_status, {"error": "restarting"})
                    if key in server.refuse:
                        return self._answer(422, {"error": "当事人证件号码缺失"})
                    if key in server.stored:
                        return self._answer(200, {"receipt_number": f"R-{key[:8]}"})
                    server.stored[key] = json.loads(body)
                self._answer(201, {"receipt_number": f"R-{key[:8]}"})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/inbox"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def inbox_events(count: int, *, unit: str) -> list[CaseEvent]:
    """``count`` distinct referrals addressed to ``unit`` (the shipped example, renumbered)."""
    referral = example_events()[CaseReferred.avro_name]
    return [referral.model_copy(update={
        "event_id": f"00000000-0000-5000-8000-{number:012d}",
        "referral_number": f"示例移〔2024〕{number}号",
        "receiving_unit_code": unit,
    }) for number in range(1, count + 1)]
