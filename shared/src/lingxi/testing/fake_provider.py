"""A local OpenAI-compatible chat server that answers, stalls or fails on demand, for tests.

It is a real HTTP server (uvicorn in a background thread, on a free port of 127.0.0.1) speaking
``POST /v1/chat/completions`` (and ``/chat/completions``), so the code under test runs its own HTTP
client unchanged. Each call takes the next scripted :class:`Behaviour`, or ``default`` once the script
is used up; every request received is recorded.

    with FakeProvider() as fake:
        fake.script(Behaviour.rate_limited(retry_after="1"), Behaviour.ok("你好"))
        ...  # point a client at fake.base_url
        assert fake.requests[0].model == "qwen-plus"
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import uvicorn

Kind = Literal["ok", "status", "malformed_json", "cut_connection", "empty_choices", "not_json", "blank_lines"]

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one call. Build one with the class methods."""

    kind: Kind = "ok"
    text: str = "好的。"
    status: int = 200
    delay_s: float = 0.0
    """Wait this long before answering (a slow provider); cut short if the client goes away."""
    headers: tuple[tuple[str, str], ...] = ()
    prompt_tokens: int = 12
    completion_tokens: int = 8
    usage: bool = True
    """Include the ``usage`` block (some local servers leave it out)."""

    @classmethod
    def ok(
        cls, text: str = "好的。", *, prompt_tokens: int = 12, completion_tokens: int = 8, usage: bool = True
    ) -> Behaviour:
        return cls(
            "ok", text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, usage=usage
        )

    @classmethod
    def slow(cls, delay_s: float, text: str = "好的。") -> Behaviour:
        return cls("ok", text=text, delay_s=delay_s)

    @classmethod
    def blank_lines(cls, delay_s: float, text: str = "好的。") -> Behaviour:
        """200 at once, then a blank line every 0.1 s for ``delay_s``, then the answer: what DeepSeek sends
        while a request queues. Each read is quick; only a deadline on the whole call stops it."""
        return cls("blank_lines", text=text, delay_s=delay_s)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Behaviour:
        """HTTP 429, with a ``Retry-After`` header unless ``retry_after`` is None."""
        headers = (("retry-after", retry_after),) if retry_after is not None else ()
        return cls("status", status=429, headers=headers)

    @classmethod
    def error(cls, status: int = 500, *, retry_after: str | None = None) -> Behaviour:
        headers = (("retry-after", retry_after),) if retry_after is not None else ()
        return cls("status", status=status, headers=headers)

    @classmethod
    def malformed_json(cls) -> Behaviour:
        """200 with ``Content-Type: application/json`` and a body that is not JSON."""
        return cls("malformed_json")

    @classmethod
    def not_json(cls) -> Behaviour:
        """200 with an HTML page, as a captive portal or a misrouted proxy would send."""
        return cls("not_json")

    @classmethod
    def cut_connection(cls) -> Behaviour:
        """Headers announce a full body, half of it is sent, then the connection is closed (uvicorn logs
        the deliberate error as "Exception in ASGI application")."""
        return cls("cut_connection")

    @classmethod
    def empty_choices(cls) -> Behaviour:
        """A well-formed completion with ``choices: []``."""
        return cls("empty_choices")


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: dict[str, Any] | None
    """The JSON body, or None when it was not a JSON object."""
    behaviour: Behaviour
    at: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> str | None:
        model = (self.body or {}).get("model")
        return model if isinstance(model, str) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = (self.body or {}).get("messages")
        return messages if isinstance(messages, list) else []


class _CutConnection(Exception):
    """Raised inside the app after a partial body: uvicorn then closes the connection."""


class FakeProvider:
    """An OpenAI-compatible server on 127.0.0.1 with scripted behaviour; a context manager."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or Behaviour.ok()
        self._script: deque[Behaviour] = deque()
        self._requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- test-facing API

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the fake provider is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next calls, in order; ``default`` applies after them."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self, default: Behaviour | None = None) -> None:
        """Forget received requests and the script (for a server shared by several tests)."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self.default = default or Behaviour.ok()

    # --- lifecycle

    def start(self, timeout_s: float = 10.0) -> FakeProvider:
        # Bind first, so the port is known before the thread starts and no other process can take it.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self._app,
            interface="asgi3",  # a bound method looks like ASGI2 to the auto-detection
            lifespan="off",
            access_log=False,
            log_config=None,  # leave the test process's logging configuration alone
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="fake-provider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for slow calls still sleeping
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- the ASGI application

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    async def _app(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            return
        raw = await _read_body(receive)
        if scope["method"] != "POST" or scope["path"] not in _PATHS:
            await _send(send, 404, b'{"error":{"message":"not found"}}')
            return
        behaviour = self._next_behaviour()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._requests.append(
                ReceivedRequest(
                    path=scope["path"],
                    headers=headers,
                    body=body if isinstance(body, dict) else None,
                    behaviour=behaviour,
                )
            )
        model = str((body.get("model") if isinstance(body, dict) else None) or "fake-model")
        if behaviour.kind == "blank_lines":
            await self._trickle(receive, send, behaviour, model)
            return
        if behaviour.delay_s and not await _wait_unless_gone(receive, behaviour.delay_s):
            return  # the client gave up (its timeout): nobody to answer
        await self._answer(send, behaviour, model)

    async def _trickle(self, receive: _Receive, send: _Send, behaviour: Behaviour, model: str) -> None:
        # No content-length: the body goes out chunked, a line at a time.
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        deadline = time.monotonic() + behaviour.delay_s
        while time.monotonic() < deadline:
            await send({"type": "http.response.body", "body": b"\n", "more_body": True})
            if not await _wait_unless_gone(receive, 0.1):
                return
        payload = json.dumps(self._completion(behaviour, model), ensure_ascii=False).encode()
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, send: _Send, behaviour: Behaviour, model: str) -> None:
        extra = list(behaviour.headers)
        if behaviour.kind == "status":
            error = {"error": {"message": f"fake status {behaviour.status}", "type": "fake_error"}}
            await _send(send, behaviour.status, json.dumps(error).encode(), extra)
        elif behaviour.kind == "malformed_json":
            await _send(send, 200, b'{"id": "chatcmpl-broken", "choices": [{"message": ', extra)
        elif behaviour.kind == "not_json":
            html = b"<html><body>502 Bad Gateway</body></html>"
            await _send(send, 200, html, [*extra, ("content-type", "text/html")])
        else:
            completion = self._completion(behaviour, model)
            if behaviour.kind == "empty_choices":
                completion["choices"] = []
            payload = json.dumps(completion, ensure_ascii=False).encode()
            if behaviour.kind == "cut_connection":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": _headers(len(payload), extra),
                    }
                )
                await send(
                    {"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True}
                )
                raise _CutConnection("fake provider: connection cut mid-body on purpose")
            await _send(send, 200, payload, extra)

    def _completion(self, behaviour: Behaviour, model: str) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behaviour.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": behaviour.prompt_tokens,
                "completion_tokens": behaviour.completion_tokens,
                "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
            },
        }
        if not behaviour.usage:
            del completion["usage"]
        return completion


async def _read_body(receive: _Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _wait_unless_gone(receive: _Receive, seconds: float) -> bool:
    """Sleep ``seconds``; False as soon as the client disconnects."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), seconds)
    except TimeoutError:
        return True
    return False


def _headers(length: int, extra: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in extra}
    base = [] if "content-type" in names else [("content-type", "application/json")]
    return [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in [*base, *extra, ("content-length", str(length))]
    ]


async def _send(send: _Send, status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _headers(len(body), extra or [])})
    await send({"type": "http.response.body", "body": body})
