"""One event loop per process, in a daemon thread, that every endpoint client runs its calls on.

Why not `asyncio.run` per batch: a GRPO step makes its judge and extraction batches from two threads, and two
short-lived loops would each build a new HTTP client (TLS context, connection pool) every step and contend for
the GIL. On one long-lived loop the clients keep their connections alive across steps, and both batches share one
scheduler. The loop is also safe to use from code that already runs a loop (a Prefect flow): callers only block
on a future.

After a fork (a data-loader worker) the child gets a loop of its own: the parent's thread does not exist there.
A client is `adopt`ed with its owner: it is closed on the loop when the owner is garbage-collected, or at
interpreter exit, whichever comes first; then the loop stops.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("knowrl.transport")
T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._open: set[Any] = set()  # clients with an async close(), not closed yet
        self._closing: set[concurrent.futures.Future[None]] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, name="knowrl-endpoint-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (its exception is raised here)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BackgroundLoop.run was called from the loop's own thread: await the coroutine")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. Ctrl-C in the caller: stop the calls too (a no-op when it already ended)
            raise

    def adopt(self, owner: object, client: Any) -> None:
        """Close `client` (anything with an async `close()`) on this loop once `owner` is gone, or at exit."""
        self._open.add(client)
        weakref.finalize(owner, self.release, client)

    def release(self, client: Any) -> None:
        """Close `client` on the loop now, without waiting for it."""
        if client not in self._open:
            return
        self._open.discard(client)
        if self.pid == os.getpid() and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(_close(client), self.loop)
            self._closing.add(future)
            future.add_done_callback(self._closing.discard)

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait for the closes `release` started."""
        concurrent.futures.wait(list(self._closing), timeout=timeout)

    def shutdown(self) -> None:
        if self.pid != os.getpid() or not self.loop.is_running():
            return  # a forked child's copy: its thread and connections are the parent's

        async def close_all() -> None:
            for client in list(self._open):
                await _close(client)
            self._open.clear()

        try:
            self.wait_closed()
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


async def _close(client: Any) -> None:
    try:
        await client.close()
    except Exception as exc:  # closing is best effort (the peer may be gone): report it, never raise at exit
        log.warning("closing an endpoint client failed: %s", type(exc).__name__)


_current: BackgroundLoop | None = None
_lock = threading.Lock()


def background_loop() -> BackgroundLoop:
    """This process's loop, started on first use."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = BackgroundLoop()
            atexit.register(_current.shutdown)
        return _current
