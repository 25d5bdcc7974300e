"""Responses: whole bodies, JSON, and chunked streams (progress of pull, push and build; stats; events)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from .errors import answer_of


class Response:
    """A whole response (body) or a streamed one (stream: chunks sent as they come)."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        stream: Iterable[bytes] | None = None,
    ):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}
        self.stream = stream


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", headers=headers)


def no_content() -> Response:
    return Response(204, content_type="")


def json_stream(items: Iterable[Any]) -> Response:
    """A chunked stream of JSON messages, one per line (pull, push, build, stats).

    An item of None is passed on as a heartbeat (the server then checks that the client is still there)."""
    return Response(stream=(b"" if i is None else json.dumps(i).encode() + b"\n" for i in items))


def progress_stream(
    work: Callable[[Callable[[dict[str, Any]], None]], None], gone: threading.Event | None = None
) -> Response:
    """Run `work` in a thread and stream the progress messages it reports (pull, push, build); an error
    after streaming began arrives in-band, as Docker sends it. `gone` is set when the stream ends, the client
    having left before the work did included (a build then cancels itself)."""
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def run() -> None:
        try:
            work(messages.put)
        except Exception as e:  # reported to the client, not a crash of the agent
            answer = answer_of(e)
            message = answer[1] if answer else str(e)
            messages.put({"errorDetail": {"message": message}, "error": message})
        messages.put(None)

    def items() -> Iterator[dict[str, Any] | None]:
        threading.Thread(target=run, daemon=True).start()
        try:
            while True:
                try:
                    message = messages.get(timeout=1)
                except queue.Empty:
                    yield None  # heartbeat: notices a client that went away
                    continue
                if message is None:
                    return
                yield message
        finally:
            if gone is not None:
                gone.set()

    return json_stream(items())
