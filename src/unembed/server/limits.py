"""Load limits: a cap on request bodies (ASGI middleware) and on concurrent decoding."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse

RETRY_AFTER_S = 1
DRAIN_FACTOR = 4   # bodies up to this many times the limit are read and dropped before the 413


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, by Content-Length or, for chunked bodies,
    by counting, before the app reads them."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await self.refuse(scope, receive, send, 400, "Content-Length is not a number")
            if int(declared) > self.max_bytes:
                if int(declared) <= DRAIN_FACTOR * self.max_bytes:
                    await self.drain(receive)  # so that a client still sending can read the answer
                return await self.refuse(scope, receive, send, 413, self.too_large())
            return await self.app(scope, receive, send)
        messages, total = [], 0
        while True:  # chunked: buffer up to the limit, then hand the messages on
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                if message.get("more_body"):
                    await self.drain(receive)
                return await self.refuse(scope, receive, send, 413, self.too_large())
            if not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()
        return await self.app(scope, replay, send)

    async def drain(self, receive):
        """Read and drop the rest of a refused body, up to DRAIN_FACTOR times the limit."""
        left = DRAIN_FACTOR * self.max_bytes
        while left > 0:
            message = await receive()
            left -= len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                return

    def too_large(self) -> str:
        return f"request body over {self.max_bytes} bytes; send fewer or shorter items per request"

    @staticmethod
    async def refuse(scope, receive, send, status: int, message: str):
        await JSONResponse({"error": message}, status_code=status)(scope, receive, send)


class Gate:
    """At most `n` requests decode at once; the next is refused with 503 and Retry-After
    rather than queued, so a client knows at once and memory stays bounded."""

    def __init__(self, n: int):
        if n < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {n}")
        self._free = threading.BoundedSemaphore(n)
        # The model runs only on these n threads: each thread that allocates tensors grows
        # the C allocator's per-thread pools, so a fixed set keeps memory bounded under load.
        self.workers = ThreadPoolExecutor(max_workers=n, thread_name_prefix="unembed-decode")

    def run(self, fn, *args):
        """fn(*args) on a decoding thread, holding a slot (503 if none is free)."""
        with self.slot():
            return self.workers.submit(fn, *args).result()

    def hold(self) -> Callable[[], None]:
        """Take a slot; returns the function that gives it back (calling it twice is safe)."""
        if not self._free.acquire(blocking=False):
            raise HTTPException(503, "the server is busy decoding other requests; retry shortly",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        lock, done = threading.Lock(), [False]

        def release():
            with lock:
                if not done[0]:
                    done[0] = True
                    self._free.release()
        return release

    @contextmanager
    def slot(self):
        release = self.hold()
        try:
            yield
        finally:
            release()
