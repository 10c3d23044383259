"""The process's background event loop and the endpoint clients on it: connections kept across batches, callers that
run their own loop, a new key, a fork, and clients closed when their owner goes."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import threading

import pytest

from knowrl.config.backends import EndpointConfig
from knowrl.transport.event_loop import background_loop
from knowrl.transport.openai_chat import ChatClient
from tests.support.openai_server import Script, ScriptedOpenAIServer


def _client(server: ScriptedOpenAIServer, concurrency: int = 1) -> ChatClient:
    cfg = EndpointConfig(base_url=server.base_url, model="m", api_key_env="KNOWRL_LOOP_TEST_KEY", max_retries=0)
    return ChatClient(cfg.model_copy(update={"concurrency": concurrency}))


def _convs(tag: str, n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"{tag} {i}"}] for i in range(n)]


def test_one_connection_serves_every_batch_of_a_client() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok")) as server:
        client = _client(server)
        for step in range(3):  # three GRPO steps, one call after another in each
            assert client.complete_many(_convs(f"step {step}", 4)) == ["ok"] * 4
        assert server.stats.requests == 12
        assert server.stats.connections == 1


def test_callers_that_run_their_own_loop_and_several_threads_share_it() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok")) as server:
        client = _client(server, concurrency=4)

        async def inside_a_flow() -> list[str | None]:
            return client.complete_many(_convs("flow", 3))  # sync call from a running loop (as a Prefect flow)

        assert asyncio.run(inside_a_flow()) == ["ok"] * 3
        results: dict[int, list[str | None]] = {}

        def worker(n: int) -> None:
            results[n] = _client(server).complete_many(_convs(f"thread {n}", 2))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {n: ["ok", "ok"] for n in range(3)}


def test_a_new_key_in_the_environment_is_used_by_the_next_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok")) as server:
        client = _client(server)
        monkeypatch.setenv("KNOWRL_LOOP_TEST_KEY", "first")
        client.complete_many(_convs("a", 1))
        monkeypatch.setenv("KNOWRL_LOOP_TEST_KEY", "second")
        client.complete_many(_convs("b", 1))
        assert server.stats.auth_headers == ["Bearer first", "Bearer second"]


def _child_call(base_url: str, queue: multiprocessing.Queue) -> None:
    loop = background_loop()
    cfg = EndpointConfig(base_url=base_url, model="m", api_key_env="KNOWRL_LOOP_TEST_KEY", max_retries=0)
    queue.put((loop.pid == os.getpid(), ChatClient(cfg).complete_many(_convs("child", 2))))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_loop_of_its_own() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok")) as server:
        parent = _client(server)
        assert parent.complete_many(_convs("parent", 1)) == ["ok"]  # the parent's loop runs when the child forks
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child_call, args=(server.base_url, queue))
        child.start()
        own_loop, replies = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0 and own_loop and replies == ["ok", "ok"]
        assert parent.complete_many(_convs("parent again", 1)) == ["ok"]


def test_a_client_is_closed_when_its_owner_is_collected() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok")) as server:
        client = _client(server)
        client.complete_many(_convs("x", 1))
        async_client = client._async_client[2]
        assert async_client in background_loop()._open
        del client
        gc.collect()
        assert async_client not in background_loop()._open
        background_loop().wait_closed()
        assert async_client.is_closed()
