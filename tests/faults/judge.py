"""A flaky OpenAI-compatible judge for the fault suite: of every 20 requests, 3 fail with HTTP 500 and 3 hang past
the client's timeout (15% each, by request number: no window of 20 calls ever sees more), the rest are answered by
`tests.support.openai_server.knowrl_responder`. And the address of a dead judge: a port that refuses connections."""

from __future__ import annotations

import socket

from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder

FAIL_EVERY_20 = frozenset({3, 10, 17})
HANG_EVERY_20 = frozenset({6, 13, 19})


def every_20(number: int) -> str | None:
    """3 failures and 3 hangs in every 20 requests, by request number: no window of 20 calls sees more."""
    if number % 20 in FAIL_EVERY_20:
        return "fail"
    return "hang" if number % 20 in HANG_EVERY_20 else None


def flaky_judge(hang_s: float) -> ScriptedOpenAIServer:
    """The flaky judge: `knowrl_responder`'s answers, with HTTP 500s and hangs of `hang_s` on `every_20`'s schedule
    (what each request got is in `.stats.outcomes`)."""
    return ScriptedOpenAIServer(Script(knowrl_responder, fail_status=500, hang_s=hang_s, schedule=every_20))


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
