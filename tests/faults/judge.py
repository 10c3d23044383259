"""A flaky OpenAI-compatible judge for the fault suite: of every 20 requests, 3 fail with HTTP 500 and 3 hang past
the client's timeout (15% each, by request number: no window of 20 calls ever sees more), the rest are answered by
`tests.support.openai_server.knowrl_responder`. And the address of a dead judge: a port that refuses connections."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.openai_server import knowrl_responder

FAIL_EVERY_20 = frozenset({3, 10, 17})
HANG_EVERY_20 = frozenset({6, 13, 19})


class FlakyJudge:
    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with judge.lock:
                    number = sum(judge.outcomes.values()) + 1
                    kind = (
                        "http_500"
                        if number % 20 in FAIL_EVERY_20
                        else "hang"
                        if number % 20 in HANG_EVERY_20
                        else "answered"
                    )
                    judge.outcomes[kind] += 1
                if kind == "http_500":
                    self._send(500, {"error": {"message": "injected failure"}})
                    return
                if kind == "hang" and judge.stopping.wait(judge.hang_s):
                    return  # the server is stopping: nobody waits for this answer any more
                content = knowrl_responder(body.get("messages", []))
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FlakyJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def refused_url() -> str:
    """An endpoint on a loopback port nobody listens on: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def endpoint_override(stage_key: str, base_url: str, timeout_s: float) -> str:
    """`--set` value that points one backend of GRPO (judge or extractor) at `base_url`, without retries so every
    failure is counted (the openai client's own retries would hide most of them)."""
    endpoint = (
        f"{{base_url: '{base_url}', model: judge, api_key_env: KNOWRL_FAULT_NO_KEY, timeout_s: {timeout_s}, "
        "max_retries: 0, concurrency: 4}"
    )
    return f"grpo.{stage_key}={{backend: openai, endpoint: {endpoint}}}"
