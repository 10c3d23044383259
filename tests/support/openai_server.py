"""A scripted OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1, for tests and benchmarks.

It answers with a responder function, and can inject latency, HTTP 500/429 and hangs (client timeouts), by count or
by a schedule over request numbers, and hold requests until several are in flight together (to show a client's
concurrency without timing it). It records the number of requests and what each one got, the peak number in
flight, and the Authorization headers it saw.

Like a real endpoint (vLLM's server, a hosted API) it keeps connections alive (HTTP/1.1) and sends each answer at
once (TCP_NODELAY). `SubprocessOpenAIServer` runs it in a process of its own, as a real endpoint is: benchmarks use
that, so the server's work does not share the client's interpreter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Responder = Callable[[list[dict[str, str]]], str]


@dataclass
class Script:
    responder: Responder
    latency_s: float = 0.0
    fail_first: int = 0  # the first N requests fail with `fail_status`
    fail_status: int = 500
    hang_first: int = 0  # the next N requests hang for `hang_s` (longer than the client's timeout)
    hang_s: float | None = 2.0  # None: until the server stops, longer than any timeout however slow the machine
    together: int = 0  # hold each request until this many are in flight at once (a barrier, not a sleep)
    together_timeout_s: float = 30.0  # then the requests fail with HTTP 503: the client never sent that many at once
    always_fail: bool = False
    retry_after_s: float | None = None  # sent as Retry-After with injected failures
    # Per request number (from 1): "fail", "hang" or None (answer), e.g. a fixed share of every 20 requests.
    schedule: Callable[[int], str | None] | None = None
    # The model id replies report, as a hosted API reports a dated snapshot for an alias (None: the requested name).
    reported_model: str | None = None
    # A hosted API's request quota: past this many requests in any 60 s, HTTP 429 with Retry-After (None: no quota).
    requests_per_minute: int | None = None


@dataclass
class Stats:
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    connections: int = 0  # TCP connections accepted (a client that keeps its connection alive opens one)
    auth_headers: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # "http_<status>", "hang", "answered"
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request (rate-limit checks)
    tokens: list[int] = field(default_factory=list)  # prompt + completion tokens of each answered request
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScriptedOpenAIServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.stats = Stats()
        self.stopping = threading.Event()
        together = script.together
        self.barrier = threading.Barrier(together, timeout=script.together_timeout_s) if together else None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive; every reply carries its Content-Length
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's
            # delayed ACK (~40 ms a call on Linux).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def setup(self) -> None:
                super().setup()
                with server.stats.lock:
                    server.stats.connections += 1

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server.stats.lock:
                    server.stats.requests += 1
                    number = server.stats.requests
                    server.stats.in_flight += 1
                    server.stats.peak_in_flight = max(server.stats.peak_in_flight, server.stats.in_flight)
                    server.stats.auth_headers.append(self.headers.get("Authorization", ""))
                    server.stats.arrivals.append(time.monotonic())
                try:
                    script = server.script
                    if script.latency_s:
                        time.sleep(script.latency_s)
                    if server.barrier is not None:
                        try:
                            server.barrier.wait()
                        except threading.BrokenBarrierError:
                            self._send(503, {"error": {"message": f"fewer than {script.together} requests at once"}})
                            return
                    if script.requests_per_minute is not None:
                        with server.stats.lock:
                            now = time.monotonic()
                            recent = sum(now - t < 60.0 for t in server.stats.arrivals[:-1])
                        if recent >= script.requests_per_minute:
                            server._count("http_429")
                            self._send(429, {"error": {"message": "rate limit reached"}}, {"Retry-After": "1"})
                            return
                    scheduled = script.schedule(number) if script.schedule else None
                    if script.always_fail or number <= script.fail_first or scheduled == "fail":
                        server._count(f"http_{script.fail_status}")
                        after = script.retry_after_s
                        headers = {"Retry-After": str(after)} if after is not None else {}
                        self._send(script.fail_status, {"error": {"message": "injected failure"}}, headers)
                        return
                    if number <= script.fail_first + script.hang_first or scheduled == "hang":
                        server._count("hang")
                        if server.stopping.wait(script.hang_s):
                            return  # the server is stopping: nobody waits for this answer any more
                    else:
                        server._count("answered")
                    content = script.responder(body.get("messages", []))
                    # As a real endpoint: the model that answered and the tokens counted (here: words).
                    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                    completion_tokens = len(content.split())
                    with server.stats.lock:
                        server.stats.tokens.append(prompt_tokens + completion_tokens)
                    self._send(
                        200,
                        {
                            "id": f"chatcmpl-{number}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": script.reported_model or body.get("model", ""),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": prompt_tokens,
                                "completion_tokens": completion_tokens,
                                "total_tokens": prompt_tokens + completion_tokens,
                            },
                        },
                    )
                finally:
                    with server.stats.lock:
                        server.stats.in_flight -= 1

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        # A backlog as deep as the clients' concurrency: the default (5) refuses bursts of connections.
        ThreadingHTTPServer.request_queue_size = 256
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _count(self, outcome: str) -> None:
        with self.stats.lock:
            self.stats.outcomes[outcome] += 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # release hung requests
        if self.barrier is not None:
            self.barrier.abort()
        self.httpd.shutdown()
        self.httpd.server_close()


def last_user_text(messages: list[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")


def knowrl_responder(messages: list[dict[str, str]]) -> str:
    """Answers our three prompt kinds plausibly: grades by substring, facts by sentence, support by overlap."""
    text = last_user_text(messages)
    if "Gold target: " in text and "Predicted answer: " in text:
        gold = text.split("Gold target: ", 1)[1].split("\n", 1)[0].lower()
        predicted = text.split("Predicted answer: ", 1)[1].split("\n", 1)[0].lower()
        if "don't know" in predicted:
            return "C"
        return "A" if any(g.strip() and g.strip() in predicted for g in gold.split("|")) else "B"
    if text.startswith("Split the text below into atomic facts"):
        reasoning = text.rsplit("Text:\n", 1)[1]
        sentences = [s.strip() for s in reasoning.replace("\n", " ").split(". ") if len(s.split()) >= 3]
        return "\n".join(f"- {s.rstrip('.')}." for s in sentences) or "NON_FACTUAL: no facts"
    if "Claim:" in text:
        claim = text.split("Claim: ", 1)[1].split("\n", 1)[0].lower().split()
        premise = text.lower()
        return "SUPPORTED" if sum(w in premise for w in claim) >= 0.6 * len(claim) else "NOT_SUPPORTED"
    return "A"


class SubprocessOpenAIServer:
    """`knowrl_responder` with a fixed latency, served by another Python process on 127.0.0.1 (stopped by its PID
    at exit). Only `base_url` is available: the counters live in the other process."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> SubprocessOpenAIServer:
        command = [sys.executable, "-m", "tests.support.openai_server", "--latency-s", str(self.latency_s)]
        root = str(Path(__file__).resolve().parents[2])
        self.process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self.__exit__()
            raise RuntimeError(f"the endpoint process did not start: {' '.join(command)} printed {self.base_url!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve knowrl_responder on a free loopback port; print its URL.")
    parser.add_argument("--latency-s", type=float, default=0.0)
    args = parser.parse_args()
    with ScriptedOpenAIServer(Script(knowrl_responder, latency_s=args.latency_s)) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
